//! Finding, ordering, opening and recognising the report's inputs.
//!
//! - With no INPUT the report reads `/var/log/tracer/tracer.log*`.
//! - Rotated files are read oldest first: `x.N` ... `x.2`, `x.1`, then `x`
//!   (whatever order they were named in), so time runs forward and an audit
//!   event split across a rotation is whole again.
//! - gzip is recognised by its magic bytes, not its name.
//! - The format (tracer JSON lines, or raw audit / `ausearch -r` text) is
//!   recognised by the first meaningful line of each input.
//! - Consecutive inputs of one format are joined into one stream by
//!   [`Concat`], which remembers where each file starts so a bad line can be
//!   reported as `file:line`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Where tracer writes its log, and so where the report looks by default.
pub const DEFAULT_DIR: &str = "/var/log/tracer";
/// The base name of tracer's log within [`DEFAULT_DIR`].
pub const DEFAULT_BASE: &str = "tracer.log";

/// How many bytes are looked at to recognise a format.
const PEEK: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    Path(PathBuf),
}

impl InputSpec {
    /// The rotation family (directory and base name: `/var/log/audit`,
    /// `audit.log` for `audit.log.3.gz`) and the rotation number; stdin has
    /// no family.
    pub fn family(&self) -> (Option<(PathBuf, String)>, u64) {
        match self {
            InputSpec::Stdin => (None, 0),
            InputSpec::Path(p) => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_default();
                let (base, n) = rotation(&name);
                let dir = p.parent().map(Path::to_owned).unwrap_or_default();
                (Some((dir, base.to_owned())), n)
            }
        }
    }

    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::Path(arg.to_owned())
        }
    }
    pub fn name(&self) -> String {
        match self {
            Self::Stdin => "<stdin>".into(),
            Self::Path(p) => p.display().to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// tracer's JSON-lines log.
    TracerJson,
    /// Raw audit text: audit.log or `ausearch -r` output.
    Audit,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::TracerJson => "tracer_json",
            Format::Audit => "audit",
        }
    }
}

/// What the first meaningful bytes of an input say about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    Empty,
    Known(Format),
    Unknown,
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("can't open {path}: {error}")]
    Open { path: String, error: io::Error },
    #[error("can't read {path}: {error}")]
    Read { path: String, error: io::Error },
    #[error("{path} is a directory, not a log file")]
    IsDir { path: String },
    #[error("{path}: neither a tracer log (JSON lines) nor an audit log (type=... lines)")]
    UnknownFormat { path: String },
    #[error("no tracer logs found as {dir}/{base}*; name the files to read")]
    NoDefault { dir: String, base: String },
}

/// tracer's logs in `dir`: `tracer.log` and its rotations, oldest first.
pub fn default_inputs(dir: &Path) -> Result<Vec<InputSpec>, InputError> {
    let none = || InputError::NoDefault {
        dir: dir.display().to_string(),
        base: DEFAULT_BASE.into(),
    };
    let entries = std::fs::read_dir(dir).map_err(|_| none())?;
    let mut found: Vec<InputSpec> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == DEFAULT_BASE || rotation(&name).0 == DEFAULT_BASE && rotation(&name).1 > 0
        })
        .map(|e| InputSpec::Path(e.path()))
        .collect();
    if found.is_empty() {
        return Err(none());
    }
    found.sort_by_key(InputSpec::name);
    Ok(rotation_order(found))
}

/// Splits `x.log.3.gz` into (`x.log`, 3); a name with no rotation number
/// gets 0, and so sorts after its numbered rotations.
pub fn rotation(name: &str) -> (&str, u64) {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((base, n)) = stem.rsplit_once('.') {
        if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = n.parse() {
                return (base, n);
            }
        }
    }
    (name, 0)
}

/// Reorders inputs so each rotation family (same directory and base name)
/// reads oldest first, at the place where the family first appears.
pub fn rotation_order(inputs: Vec<InputSpec>) -> Vec<InputSpec> {
    let keys: Vec<_> = inputs.iter().map(InputSpec::family).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let family_pos = |i: usize| -> usize {
        match &keys[i].0 {
            None => i,
            Some(f) => keys
                .iter()
                .position(|k| k.0.as_ref() == Some(f))
                .unwrap_or(i),
        }
    };
    // Within a family: higher numbers (older) first, the base (0) last.
    order.sort_by_key(|&i| (family_pos(i), keys[i].1 == 0, std::cmp::Reverse(keys[i].1)));
    let mut slots: Vec<Option<InputSpec>> = inputs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}

/// Recognises a format from the first bytes of an input: the first line
/// that starts like a tracer record (`{`) or an audit record (`type=`,
/// `node=`) decides; blank lines and ausearch's `----` separators are
/// skipped. An input whose complete lines in `head` are all something else is
/// [`Detected::Unknown`]; but when `head` ends inside one giant first line
/// (longer than [`source::MAX_LINE`](super::source::MAX_LINE): `open` reads
/// past shorter ones), there is nothing to judge by, and the input is read as
/// tracer's format, so that the line is reported as a bad line rather than
/// the file refused.
pub fn detect(head: &[u8]) -> Detected {
    let mut complete_junk = 0;
    let mut partial_junk = false;
    let segments = head.split(|&b| b == b'\n').take(64).collect::<Vec<_>>();
    let last = segments.len().saturating_sub(1);
    for (i, line) in segments.into_iter().enumerate() {
        let line = line.trim_ascii_start();
        if line.is_empty() || line.starts_with(b"----") || line.starts_with(b"<no matches>") {
            continue;
        }
        if line.starts_with(b"{") {
            return Detected::Known(Format::TracerJson);
        }
        if line.starts_with(b"type=") || line.starts_with(b"node=") {
            return Detected::Known(Format::Audit);
        }
        if i == last {
            partial_junk = true;
        } else {
            complete_junk += 1;
        }
    }
    match (complete_junk, partial_junk) {
        (0, false) => Detected::Empty,
        (0, true) if head.len() >= PEEK => Detected::Known(Format::TracerJson),
        _ => Detected::Unknown,
    }
}

/// Counts bytes as they are read from disk (before decompression), for the
/// progress bar.
pub type ByteCounter = Rc<Cell<u64>>;

struct Counting<R> {
    inner: R,
    count: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}

/// One opened input, positioned at its start, its format recognised.
pub struct Opened {
    pub name: String,
    pub detected: Detected,
    pub gzip: bool,
    pub reader: Box<dyn Read>,
}

/// Opens `spec`, undoes gzip, recognises the format. `size` gets the bytes
/// on disk, when known.
pub fn open(spec: &InputSpec, counter: &ByteCounter, size: &mut u64) -> Result<Opened, InputError> {
    let name = spec.name();
    let raw: Box<dyn Read> = match spec {
        InputSpec::Stdin => Box::new(io::stdin()),
        InputSpec::Path(p) => {
            let open_err = |error| InputError::Open {
                path: name.clone(),
                error,
            };
            let f = File::open(p).map_err(open_err)?;
            let meta = f.metadata().map_err(open_err)?;
            if meta.is_dir() {
                return Err(InputError::IsDir { path: name });
            }
            *size += meta.len();
            Box::new(f)
        }
    };
    let read_err = |error| InputError::Read {
        path: name.clone(),
        error,
    };
    let counted = Counting {
        inner: raw,
        count: counter.clone(),
    };
    let (magic, rest) = peek(counted, 2, 2, |_| false).map_err(read_err)?;
    let gzip = magic.starts_with(&[0x1f, 0x8b]);
    let plain: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            Cursor::new(magic).chain(rest),
        ))
    } else {
        Box::new(Cursor::new(magic).chain(rest))
    };
    // A giant first line (junk, or a crafted log) must not decide the
    // format by itself: read past it, up to the longest line a reader takes.
    let (head, rest) = peek(plain, PEEK, super::source::MAX_LINE, |h| {
        matches!(detect(h), Detected::Known(_))
    })
    .map_err(read_err)?;
    let detected = detect(&head);
    Ok(Opened {
        name,
        detected,
        gzip,
        reader: Box::new(Cursor::new(head).chain(rest)),
    })
}

/// Reads up to `limit` bytes, stopping early once `enough` says so; while
/// no newline has been seen (one giant first line), up to `first_line`
/// bytes, then `limit` more.
fn peek<R: Read>(
    mut r: R,
    limit: usize,
    first_line: usize,
    enough: impl Fn(&[u8]) -> bool,
) -> io::Result<(Vec<u8>, R)> {
    let mut head = Vec::with_capacity(limit);
    let mut chunk = vec![0u8; limit.clamp(1, 64 << 10)];
    let mut newline: Option<usize> = None;
    loop {
        let want = match newline {
            None => first_line.max(limit),
            Some(i) => limit.max(i + 1 + limit).min(first_line.max(limit)),
        };
        if head.len() >= want {
            break;
        }
        let n = (want - head.len()).min(chunk.len());
        match r.read(&mut chunk[..n]) {
            Ok(0) => break,
            Ok(k) => {
                if newline.is_none() {
                    newline = memchr::memchr(b'\n', &chunk[..k]).map(|i| head.len() + i);
                }
                head.extend_from_slice(&chunk[..k]);
                if newline.is_some() && enough(&head) {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((head, r))
}

/// Where each file of a joined stream starts, in lines.
#[derive(Debug, Default)]
pub struct LineMap {
    /// (file name, global number of its first line).
    starts: Vec<(String, u64)>,
    /// Newlines read so far.
    lines: u64,
    /// Last lines of files that did not end with a newline (cut short).
    cut: Vec<u64>,
}

impl LineMap {
    /// Maps a 1-based line of the joined stream to (file, line in file).
    pub fn locate(&self, line: u64) -> (&str, u64) {
        let i = self
            .starts
            .partition_point(|s| s.1 <= line)
            .saturating_sub(1);
        match self.starts.get(i) {
            Some((name, first)) => (name, line - first + 1),
            None => ("<input>", line),
        }
    }
    /// Whether `line` is the unterminated last line of a file.
    pub fn is_cut(&self, line: u64) -> bool {
        self.cut.contains(&line)
    }
    /// Lines in each file, in order.
    pub fn per_file(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for (i, (name, first)) in self.starts.iter().enumerate() {
            let next = self.starts.get(i + 1).map_or(self.lines + 1, |n| n.1);
            out.push((name.clone(), next.saturating_sub(*first)));
        }
        out
    }
}

/// Several inputs read as one stream; a newline is added between two files
/// when the first does not end with one, so a cut line stays a bad line of
/// its own file instead of gluing onto the next.
pub struct Concat {
    parts: VecDeque<(String, Box<dyn Read>)>,
    current: Option<Box<dyn Read>>,
    last: u8,
    map: Rc<RefCell<LineMap>>,
}

impl Concat {
    pub fn new(parts: Vec<(String, Box<dyn Read>)>) -> Self {
        Self {
            parts: parts.into(),
            current: None,
            last: b'\n',
            map: Rc::default(),
        }
    }
    pub fn line_map(&self) -> Rc<RefCell<LineMap>> {
        self.map.clone()
    }
}

impl Read for Concat {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let Some(cur) = self.current.as_mut() else {
                let Some((name, r)) = self.parts.pop_front() else {
                    return Ok(0);
                };
                let mut map = self.map.borrow_mut();
                let first = map.lines + 1;
                map.starts.push((name, first));
                self.current = Some(r);
                continue;
            };
            let n = cur.read(buf)?;
            if n == 0 {
                self.current = None;
                if self.last != b'\n' {
                    self.last = b'\n';
                    buf[0] = b'\n';
                    let mut map = self.map.borrow_mut();
                    map.lines += 1;
                    let cut = map.lines;
                    map.cut.push(cut);
                    return Ok(1);
                }
                continue;
            }
            self.last = buf[n - 1];
            self.map.borrow_mut().lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            return Ok(n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(names: &[&str]) -> Vec<InputSpec> {
        names.iter().map(|n| InputSpec::Path(n.into())).collect()
    }

    #[test]
    fn rotation_numbers() {
        assert_eq!(rotation("audit.log"), ("audit.log", 0));
        assert_eq!(rotation("audit.log.1"), ("audit.log", 1));
        assert_eq!(rotation("tracer.log.12.gz"), ("tracer.log", 12));
        assert_eq!(rotation("x.gz"), ("x.gz", 0));
    }

    #[test]
    fn rotations_read_oldest_first() {
        let got = rotation_order(paths(&[
            "a/audit.log",
            "other",
            "a/audit.log.1",
            "a/audit.log.10",
            "a/audit.log.2.gz",
        ]));
        assert_eq!(
            got,
            paths(&[
                "a/audit.log.10",
                "a/audit.log.2.gz",
                "a/audit.log.1",
                "a/audit.log",
                "other"
            ])
        );
        let got = rotation_order(paths(&["b/t.log", "a/t.log.1"]));
        assert_eq!(got, paths(&["b/t.log", "a/t.log.1"]));
    }

    #[test]
    fn detects_formats() {
        assert_eq!(
            detect(b"{\"type\":\"exec\"}\n"),
            Detected::Known(Format::TracerJson)
        );
        assert_eq!(
            detect(b"\n----\ntype=SYSCALL msg=audit(1:2): x\n"),
            Detected::Known(Format::Audit)
        );
        assert_eq!(
            detect(b"node=h type=EXECVE msg=\n"),
            Detected::Known(Format::Audit)
        );
        assert_eq!(detect(b"  \n\n"), Detected::Empty);
        assert_eq!(detect(b"hello\n"), Detected::Unknown);
        assert_eq!(detect(b"hello"), Detected::Unknown);
        assert_eq!(
            detect(&vec![b'x'; PEEK]),
            Detected::Known(Format::TracerJson)
        );
    }

    #[test]
    fn concat_maps_lines_to_files() {
        let parts: Vec<(String, Box<dyn Read>)> = vec![
            ("one".into(), Box::new(&b"a\nb"[..])),
            ("two".into(), Box::new(&b"c\nd\n"[..])),
        ];
        let mut c = Concat::new(parts);
        let map = c.line_map();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "a\nb\nc\nd\n");
        let map = map.borrow();
        assert_eq!(map.locate(2), ("one", 2));
        assert_eq!(map.locate(3), ("two", 1));
        assert!(map.is_cut(2) && !map.is_cut(4));
        assert_eq!(map.per_file(), vec![("one".into(), 2), ("two".into(), 2)]);
    }
}
