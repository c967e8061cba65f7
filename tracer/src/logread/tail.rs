//! The end of a log file: how the file sink learns, when it starts, how the
//! last run left its log (a partial last line, a `stop` record or not, the
//! hash chain's last seal), without reading the whole file.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// The most bytes read back from the end of a log: far more than one
/// record, far less than a log.
pub const TAIL: u64 = 4 << 20;

/// The last bytes of a file.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    bytes: Vec<u8>,
    /// The file is longer than what was read.
    clipped: bool,
}

impl Tail {
    /// Reads the last `max` bytes of `f` (all of it when shorter).
    pub fn read(f: &File, max: u64) -> io::Result<Self> {
        let size = f.metadata()?.len();
        let start = size.saturating_sub(max);
        let mut bytes = vec![0u8; (size - start) as usize];
        f.read_exact_at(&mut bytes, start)?;
        Ok(Self {
            bytes,
            clipped: start > 0,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The file ends in the middle of a line (no final newline).
    pub fn partial(&self) -> bool {
        self.bytes.last().is_some_and(|&b| b != b'\n')
    }

    /// Everything read, a clipped first line and a partial last line
    /// included.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The complete lines (each without its newline), last first. The first
    /// line of a clipped tail is not whole and is not among them.
    pub fn lines_rev(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let end = memchr::memrchr(b'\n', &self.bytes);
        let body: &[u8] = end.map_or(&[], |e| &self.bytes[..e]);
        let clipped = self.clipped;
        let mut it = body.rsplit(|&b| b == b'\n').peekable();
        std::iter::from_fn(move || {
            end?;
            let l = it.next()?;
            // The oldest piece of a clipped tail is the end of a longer line.
            if clipped && it.peek().is_none() {
                return None;
            }
            Some(l)
        })
    }

    /// The last complete line.
    pub fn last_line(&self) -> Option<&[u8]> {
        self.lines_rev().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tail(content: &[u8], max: u64) -> Tail {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(content).unwrap();
        Tail::read(&f, max).unwrap()
    }

    #[test]
    fn last_lines_and_partial() {
        let t = tail(b"a\nb\nc", 100);
        assert!(t.partial());
        assert_eq!(t.lines_rev().collect::<Vec<_>>(), vec![&b"b"[..], b"a"]);
        let t = tail(b"a\nb\n", 100);
        assert!(!t.partial());
        assert_eq!(t.last_line(), Some(&b"b"[..]));
        let t = tail(b"", 100);
        assert!(t.is_empty() && !t.partial() && t.last_line().is_none());
        let t = tail(b"partial only", 100);
        assert!(t.partial() && t.last_line().is_none());
    }

    #[test]
    fn clipped_tail_drops_the_cut_first_line() {
        // Last 7 bytes: "ng\nb\nc\n": "ng" is the end of "long".
        let t = tail(b"long\nb\nc\n", 7);
        assert_eq!(t.lines_rev().collect::<Vec<_>>(), vec![&b"c"[..], b"b"]);
    }
}
