//! JSON output for `--format json` and `--summary --format json`:
//! serde_json's pretty layout (two spaces a level) with terminal-safe
//! escaping ([`SafeFormatter`]), and [`Pretty`], a hand-written writer of
//! that same layout for the report's hot path.
//!
//! Why a writer by hand: going through serde for each of a report's
//! hundreds of thousands of command rows (twenty fields each) cost a third
//! of `--format json` (issue 14): a serializer call and a formatter call
//! per key, colon and value, and a byte-by-byte escape scan of every
//! string. [`Pretty`] writes keys as preformatted bytes and strings of
//! printable ASCII without `"` or `\` in one copy; anything else (other
//! strings, nested values) it hands to serde_json with a [`SafeFormatter`]
//! at the same depth, so its bytes are serde's by construction. Tests hold
//! the two byte-equal.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

use super::quote::is_printable;

/// Serializes `value` pretty-printed through [`SafeFormatter`], plus a newline.
pub fn write_doc<T: Serialize>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Batch::new(out);
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeFormatter::default());
    value.serialize(&mut ser).map_err(io::Error::from)?;
    buf.write_all(b"\n")?;
    buf.drain()
}

/// Bytes gathered before a write to the real output. Larger than the
/// report's `BufWriter` (64 KiB), which then passes each batch straight
/// through instead of copying it once more (1.4 % of a JSON report).
const BATCH: usize = 256 << 10;

/// A buffer in front of the `dyn Write` output: the serializer writes a
/// few bytes at a time (quotes, colons, indentation), and a call through
/// `dyn Write` for each showed as ~15 % of `--format json` (issue 14);
/// writes to this concrete type inline into an append.
pub struct Batch<'a> {
    buf: Vec<u8>,
    out: &'a mut dyn Write,
}

impl<'a> Batch<'a> {
    pub fn new(out: &'a mut dyn Write) -> Self {
        Self {
            buf: Vec::with_capacity(BATCH),
            out,
        }
    }

    /// Writes out what is gathered.
    pub fn drain(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl Write for Batch<'_> {
    #[inline]
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }
    #[inline]
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        if self.buf.len() + b.len() > BATCH {
            self.drain()?;
            if b.len() > BATCH {
                return self.out.write_all(b);
            }
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

/// `,`, a line break and enough indentation for any report's nesting:
/// `SEP_INDENT[!comma as usize..2 + spaces]` is the separator before an
/// entry in one slice.
const SEP_INDENT: &[u8; 66] =
    b",\n                                                                ";

/// A line break and `depth` levels of indentation, after `,` if `comma`:
/// one write up to 32 levels, inlined (a row's two dozen keys each wrote
/// the comma, the line break and the indentation apart, ~5 % of `--format
/// json`, issue 14).
#[inline(always)]
fn newline<W: ?Sized + Write>(w: &mut W, depth: usize, comma: bool) -> io::Result<()> {
    let spaces = depth * 2;
    if spaces <= SEP_INDENT.len() - 2 {
        return w.write_all(&SEP_INDENT[usize::from(!comma)..2 + spaces]);
    }
    deep_newline(w, spaces, comma)
}

/// [`newline`] deeper than one slice of indentation holds.
#[cold]
fn deep_newline<W: ?Sized + Write>(w: &mut W, mut spaces: usize, comma: bool) -> io::Result<()> {
    const ROOM: usize = SEP_INDENT.len() - 2;
    w.write_all(&SEP_INDENT[usize::from(!comma)..2 + ROOM])?;
    spaces -= ROOM;
    while spaces > 0 {
        let n = spaces.min(ROOM);
        w.write_all(&SEP_INDENT[2..2 + n])?;
        spaces -= n;
    }
    Ok(())
}

/// A pretty JSON formatter that also escapes characters a terminal would
/// act on or that hide/reorder text (serde_json escapes only < U+0020).
///
/// Its layout is serde_json's `PrettyFormatter`'s (two spaces a level),
/// written here so that a line break and its indentation are one write
/// rather than one per level (~6 % of `--format json`, issue 14).
#[derive(Debug, Default)]
pub struct SafeFormatter {
    depth: usize,
    has_value: bool,
}

impl SafeFormatter {
    /// A formatter for a value that starts `depth` levels deep (what
    /// [`Pretty::value`] embeds).
    fn at(depth: usize) -> Self {
        Self {
            depth,
            has_value: false,
        }
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            newline(w, self.depth, false)?;
        }
        w.write_all(c)
    }
}

/// Printable ASCII only (0x20..0x7f), checked 16 bytes at a time without
/// an early exit, which the compiler vectorizes.
fn printable_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        if !c.iter().fold(true, |ok, &x| ok & (0x20..0x7f).contains(&x)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|x| (0x20..0x7f).contains(x))
}

/// Bytes that go into a JSON string as they are: printable ASCII other
/// than `"` and `\` (what serde_json and [`SafeFormatter`] leave alone),
/// checked like [`printable_ascii`].
fn plain_ascii(b: &[u8]) -> bool {
    crate::bytes::json_plain(b, 0x7e)
}

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Printable ASCII (nearly every fragment) checked byte-wise; anything
        // else char by char.
        if printable_ascii(fragment.as_bytes()) || fragment.chars().all(is_printable) {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if is_printable(c) {
                let mut b = [0u8; 4];
                w.write_all(c.encode_utf8(&mut b).as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        newline(w, self.depth, !first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        newline(w, self.depth, !first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes JSON in [`SafeFormatter`]'s layout, one call per key and value:
/// `open`/`close` a container, `key` or `elem` before each of its entries,
/// then one value (a scalar method, [`Pretty::value`] for anything
/// serde can write, or a nested container).
pub struct Pretty<W> {
    out: W,
    depth: usize,
    /// No entry yet in the innermost open container.
    first: bool,
}

impl<W: Write> Pretty<W> {
    /// A writer whose first value is `depth` levels deep and is an entry
    /// of a container that already has entries when `!first` (so rows
    /// written apart continue a document).
    pub fn at(out: W, depth: usize, first: bool) -> Self {
        Self { out, depth, first }
    }

    pub fn new(out: W) -> Self {
        Self::at(out, 0, true)
    }

    pub fn into_inner(self) -> W {
        self.out
    }

    /// The depth of the innermost open container's entries.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Whether the innermost open container has no entry yet.
    pub fn is_first(&self) -> bool {
        self.first
    }

    /// Entries of the innermost container written apart by
    /// [`Pretty::at`]`(_, self.depth(), self.is_first())`, in order.
    pub fn raw_entries(&mut self, b: &[u8]) -> io::Result<()> {
        if !b.is_empty() {
            self.first = false;
        }
        self.out.write_all(b)
    }

    /// The separator before an entry of the innermost container.
    #[inline(always)]
    fn entry(&mut self) -> io::Result<()> {
        let comma = !self.first;
        self.first = false;
        newline(&mut self.out, self.depth, comma)
    }

    pub fn open_object(&mut self) -> io::Result<()> {
        self.open(b"{")
    }
    pub fn close_object(&mut self) -> io::Result<()> {
        self.close(b"}")
    }
    pub fn open_array(&mut self) -> io::Result<()> {
        self.open(b"[")
    }
    pub fn close_array(&mut self) -> io::Result<()> {
        self.close(b"]")
    }

    fn open(&mut self, c: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.first = true;
        self.out.write_all(c)
    }

    fn close(&mut self, c: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if !self.first {
            newline(&mut self.out, self.depth, false)?;
        }
        // The enclosing container has this value now.
        self.first = false;
        self.out.write_all(c)
    }

    /// An object's key; `name` is one of ours (plain ASCII, not escaped).
    /// Inlined, so that a literal name's writes are stores of known length.
    #[inline(always)]
    pub fn key(&mut self, name: &str) -> io::Result<()> {
        debug_assert!(plain_ascii(name.as_bytes()), "{name:?}");
        self.entry()?;
        self.out.write_all(b"\"")?;
        self.out.write_all(name.as_bytes())?;
        self.out.write_all(b"\": ")
    }

    /// Before an array's element.
    #[inline]
    pub fn elem(&mut self) -> io::Result<()> {
        self.entry()
    }

    pub fn null(&mut self) -> io::Result<()> {
        self.out.write_all(b"null")
    }

    pub fn bool(&mut self, b: bool) -> io::Result<()> {
        self.out.write_all(if b { b"true" } else { b"false" })
    }

    /// An integer, as serde_json writes it.
    pub fn int(&mut self, n: i64) -> io::Result<()> {
        self.out.write_all(itoa::Buffer::new().format(n).as_bytes())
    }

    /// `n` or `null`.
    pub fn opt_int(&mut self, n: Option<u32>) -> io::Result<()> {
        match n {
            Some(n) => self.int(i64::from(n)),
            None => self.null(),
        }
    }

    /// A string, escaped exactly as serde_json with [`SafeFormatter`] does.
    #[inline]
    pub fn str(&mut self, s: &str) -> io::Result<()> {
        if plain_ascii(s.as_bytes()) {
            self.out.write_all(b"\"")?;
            self.out.write_all(s.as_bytes())?;
            return self.out.write_all(b"\"");
        }
        self.value(s)
    }

    /// A string or `null`.
    pub fn opt_str(&mut self, s: Option<&str>) -> io::Result<()> {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    /// Bytes in tracer's lossless encoding ([`crate::bytes::encode_cow`]),
    /// which leaves printable ASCII as it is.
    #[inline]
    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        if plain_ascii(b) {
            self.out.write_all(b"\"")?;
            self.out.write_all(b)?;
            return self.out.write_all(b"\"");
        }
        self.value(&crate::bytes::encode_cow(b))
    }

    /// Anything serde can write, through serde_json and [`SafeFormatter`]
    /// at this depth.
    pub fn value<T: Serialize + ?Sized>(&mut self, v: &T) -> io::Result<()> {
        let mut ser =
            serde_json::Serializer::with_formatter(&mut self.out, SafeFormatter::at(self.depth));
        v.serialize(&mut ser).map_err(io::Error::from)
    }

    /// Bytes as they are (a newline at the end of the document, rows
    /// written apart).
    pub fn raw(&mut self, b: &[u8]) -> io::Result<()> {
        self.out.write_all(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn safe_formatter_escapes_terminal_controls() {
        let v = serde_json::json!({"a": "x\u{1b}[2J\u{9b}1m\u{202e}\u{7f}é"});
        let mut out = Vec::new();
        write_doc(&v, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.chars().all(|c| c == '\n' || is_printable(c)), "{s:?}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn layout_is_serde_jsons_pretty_layout() {
        let deep = (0..40).fold(
            serde_json::json!([]),
            |v, n| serde_json::json!({"k": [v, n, {}]}),
        );
        let v = serde_json::json!({"a": [], "b": {}, "c": [1, {"d": "x"}], "e": deep});
        let mut out = Vec::new();
        write_doc(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string_pretty(&v).unwrap() + "\n"
        );
        for s in ["", "abc", "0123456789abcdef0123", "tab\there", "é\u{202e}"] {
            assert_eq!(
                printable_ascii(s.as_bytes()),
                s.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{s:?}"
            );
        }
    }

    /// Writes `v` with [`Pretty`]'s own methods wherever it has one.
    fn by_hand<W: Write>(w: &mut Pretty<W>, v: &serde_json::Value) {
        use serde_json::Value as V;
        match v {
            V::Null => w.null().unwrap(),
            V::Bool(b) => w.bool(*b).unwrap(),
            V::Number(n) if n.is_i64() => w.int(n.as_i64().unwrap()).unwrap(),
            V::String(s) => w.str(s).unwrap(),
            V::Array(a) => {
                w.open_array().unwrap();
                for x in a {
                    w.elem().unwrap();
                    by_hand(w, x);
                }
                w.close_array().unwrap();
            }
            V::Object(o) => {
                w.open_object().unwrap();
                for (k, x) in o {
                    // Keys are ours (plain); others through serde.
                    if plain_ascii(k.as_bytes()) {
                        w.key(k).unwrap();
                    } else {
                        w.entry().unwrap();
                        w.value(k).unwrap();
                        w.raw(b": ").unwrap();
                    }
                    by_hand(w, x);
                }
                w.close_object().unwrap();
            }
            other => w.value(other).unwrap(),
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            any::<u64>().prop_map(|n| serde_json::json!(n)),
            any::<String>().prop_map(serde_json::Value::String),
            "[ -~]{0,40}".prop_map(serde_json::Value::String),
            "[a-z\"\\\\\u{7f}\u{9b}\u{202e}\t]{0,10}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-z_]{1,8}|[ -~]{0,4}", inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The hand-written writer's bytes are serde's, for any value.
        #[test]
        fn pretty_writes_what_serde_writes(v in json_value()) {
            let mut want = Vec::new();
            write_doc(&v, &mut want).unwrap();
            let mut w = Pretty::new(Vec::new());
            by_hand(&mut w, &v);
            w.raw(b"\n").unwrap();
            prop_assert_eq!(String::from_utf8(w.into_inner()).unwrap(), String::from_utf8(want).unwrap());
        }

        /// Byte strings: as serde writes their lossless encoding.
        #[test]
        fn bytes_are_written_as_their_encoding(b in proptest::collection::vec(any::<u8>(), 0..40)) {
            let mut w = Pretty::new(Vec::new());
            w.bytes(&b).unwrap();
            let mut want = Vec::new();
            write_doc(&crate::bytes::encode_cow(&b), &mut want).unwrap();
            want.pop();
            prop_assert_eq!(w.into_inner(), want);
        }
    }
}
