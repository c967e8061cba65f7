//! Several inputs read as one stream of lines, each line known by file and
//! number.
//!
//! [`Concat`] joins the inputs of one run; [`LineMap`] remembers where each
//! file starts, so a line number of the joined stream maps back to
//! `file:line`, and which files did not end with a newline (cut short: a
//! crash, a rotation mid-write, a partial copy). [`for_each_line`] is the
//! serial, capped line reader that `tracer check` and `tracer verify` use;
//! the report reads the same stream in chunks ([`super::chunk`]).

use std::collections::VecDeque;
use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::open::Opened;

/// A place in the input: file and 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct At {
    pub file: String,
    pub line: u64,
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// Where each file of a joined stream starts, in lines.
#[derive(Debug, Default, Clone)]
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
    /// [`LineMap::locate`] as an [`At`].
    pub fn at(&self, line: u64) -> At {
        let (file, line) = self.locate(line);
        At {
            file: file.to_owned(),
            line,
        }
    }
    /// Whether `line` is the unterminated last line of a file.
    pub fn is_cut(&self, line: u64) -> bool {
        self.cut.binary_search(&line).is_ok()
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
    /// The file being read when the stream stopped.
    pub fn last_file(&self) -> String {
        self.starts.last().map(|s| s.0.clone()).unwrap_or_default()
    }
}

/// A [`LineMap`] shared between the thread that reads and the one that
/// reports.
#[derive(Debug, Clone, Default)]
pub struct SharedMap(Arc<Mutex<LineMap>>);

impl SharedMap {
    pub fn lock(&self) -> MutexGuard<'_, LineMap> {
        // The map is plain data, valid whatever a panicking holder did.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Several inputs read as one stream; a newline is added between two files
/// when the first does not end with one, so a cut line stays a bad line of
/// its own file instead of gluing onto the next.
pub struct Concat {
    parts: VecDeque<(String, Box<dyn Read + Send>)>,
    current: Option<Box<dyn Read + Send>>,
    last: u8,
    map: SharedMap,
}

impl Concat {
    pub fn new(parts: Vec<(String, Box<dyn Read + Send>)>) -> Self {
        Self {
            parts: parts.into(),
            current: None,
            last: b'\n',
            map: SharedMap::default(),
        }
    }
    /// Joins opened inputs.
    pub fn of(files: Vec<Opened>) -> Self {
        Self::new(files.into_iter().map(|o| (o.name, o.reader)).collect())
    }
    pub fn line_map(&self) -> SharedMap {
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
                let mut map = self.map.lock();
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
                    let mut map = self.map.lock();
                    map.lines += 1;
                    let cut = map.lines;
                    map.cut.push(cut);
                    return Ok(1);
                }
                continue;
            }
            self.last = buf[n - 1];
            let newlines = memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
            self.map.lock().lines += newlines;
            return Ok(n);
        }
    }
}

/// One line handed out by [`for_each_line`].
#[derive(Debug)]
pub struct Line<'a> {
    pub at: At,
    /// Without its `\n` (a `\r` before it is kept); empty when `too_long`.
    pub text: &'a [u8],
    /// The file's last line, which did not end with a newline.
    pub cut: bool,
    /// Longer than the cap: skipped unread, `text` is empty.
    pub too_long: Option<u64>,
}

/// Reads `files` as one stream of lines no longer than `max_line` bytes
/// (without the newline), in order, each named by file and line. Memory is
/// one line (at most `max_line`) whatever the input. An I/O error stops the
/// reading and is returned with the file it happened in.
pub fn for_each_line(
    files: Vec<Opened>,
    max_line: usize,
    f: &mut dyn FnMut(Line<'_>),
) -> Result<LineMap, (String, io::Error)> {
    let concat = Concat::of(files);
    let map = concat.line_map();
    let mut r = io::BufReader::with_capacity(1 << 16, concat);
    let mut buf: Vec<u8> = Vec::new();
    let mut no = 0u64;
    loop {
        buf.clear();
        let mut total = 0u64;
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match io::BufRead::fill_buf(&mut r) {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err((map.lock().last_file(), e)),
            };
            if avail.is_empty() {
                break;
            }
            any = true;
            let (piece, used, found) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            total += piece.len() as u64;
            if !too_long && buf.len() + piece.len() <= max_line {
                buf.extend_from_slice(piece);
            } else {
                too_long = true;
                buf = Vec::new();
            }
            io::BufRead::consume(&mut r, used);
            if found {
                break;
            }
        }
        if !any {
            break;
        }
        no += 1;
        let m = map.lock();
        let at = m.at(no);
        let cut = m.is_cut(no);
        drop(m);
        f(Line {
            at,
            text: &buf,
            cut,
            too_long: too_long.then_some(total),
        });
    }
    let m = map.lock().clone();
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logread::open::Detected;

    fn opened(name: &str, data: &'static [u8]) -> Opened {
        Opened {
            name: name.into(),
            detected: Detected::Empty,
            ausearch: false,
            gzip: false,
            reader: Box::new(data),
        }
    }

    #[test]
    fn concat_maps_lines_to_files() {
        let parts: Vec<(String, Box<dyn Read + Send>)> = vec![
            ("one".into(), Box::new(&b"a\nb"[..])),
            ("two".into(), Box::new(&b"c\nd\n"[..])),
        ];
        let mut c = Concat::new(parts);
        let map = c.line_map();
        let mut s = String::new();
        c.read_to_string(&mut s).unwrap();
        assert_eq!(s, "a\nb\nc\nd\n");
        let map = map.lock();
        assert_eq!(map.locate(2), ("one", 2));
        assert_eq!(map.locate(3), ("two", 1));
        assert!(map.is_cut(2) && !map.is_cut(4));
        assert_eq!(map.per_file(), vec![("one".into(), 2), ("two".into(), 2)]);
    }

    #[test]
    fn lines_name_file_and_line_and_cap_length() {
        let mut got = Vec::new();
        let map = for_each_line(
            vec![opened("a", b"x\r\ntoolong\ny"), opened("b", b"\nz\n")],
            5,
            &mut |l| {
                got.push((
                    l.at.to_string(),
                    String::from_utf8_lossy(l.text).into_owned(),
                    l.cut,
                    l.too_long,
                ))
            },
        )
        .unwrap();
        let s = |a: &str, t: &str, c, tl| (a.to_string(), t.to_string(), c, tl);
        assert_eq!(
            got,
            vec![
                s("a:1", "x\r", false, None),
                s("a:2", "", false, Some(7)),
                s("a:3", "y", true, None),
                s("b:1", "", false, None),
                s("b:2", "z", false, None),
            ]
        );
        assert_eq!(map.per_file(), vec![("a".into(), 3), ("b".into(), 2)]);
    }
}
