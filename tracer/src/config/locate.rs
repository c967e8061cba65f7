//! Finding lines and dotted keys in the configuration text, so that an error
//! says `tracer.toml:12: key `log.max_size`: ...` rather than a byte offset.

/// The 1-based line of byte `offset` and the dotted key whose value (or name)
/// is there: the nearest `key =` at or above it, under the nearest `[table]`.
pub(super) fn key_at(text: &str, offset: usize) -> (usize, String) {
    let offset = offset.min(text.len());
    let line = text[..offset].bytes().filter(|&b| b == b'\n').count() + 1;
    let lines: Vec<&str> = text.lines().collect();
    let mut key = None;
    let mut table = None;
    for l in lines[..line.min(lines.len())].iter().rev() {
        let t = l.trim();
        if let Some(h) = header(t) {
            table = Some(h);
            break;
        }
        if key.is_none() {
            key = key_of(t);
        }
    }
    let dotted = match (table, key) {
        (Some(t), Some(k)) => format!("{t}.{k}"),
        (Some(t), None) => t,
        (None, Some(k)) => k,
        (None, None) => String::new(),
    };
    (line, dotted)
}

/// The 1-based line where dotted `key` (`table.name`) is set; `None` when it
/// is not (a default), or cannot be found (e.g. written as an inline table).
pub(super) fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
    let mut current = String::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim();
        if let Some(h) = header(t) {
            current = h;
            continue;
        }
        match key_of(t) {
            Some(k) if current == table && k == name => return Some(i + 1),
            Some(k) if current.is_empty() && k == key => return Some(i + 1),
            _ => {}
        }
    }
    None
}

fn header(t: &str) -> Option<String> {
    let inner = t.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim().trim_matches('[').trim().to_string())
}

fn key_of(t: &str) -> Option<String> {
    if t.starts_with('#') {
        return None;
    }
    let (k, _) = t.split_once('=')?;
    let k = k.trim().trim_matches('"');
    let ok = !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then(|| k.to_string())
}
