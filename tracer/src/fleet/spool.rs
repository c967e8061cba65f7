//! The local log as the shipper's spool: reads tracer's log family
//! (`tracer.log.N` … `tracer.log.1`, `tracer.log`) oldest first, line by
//! line, following the sink's rotations (rename `x` -> `x.1`) while it reads,
//! and says where each line ends so a checkpoint can name it.
//!
//! A file is known by (device, inode, hash of its first line): the inode
//! survives the renames of rotation; the first line's hash tells a reused
//! inode from the file the checkpoint meant. The file being read is kept
//! open, so it can be finished even after rotation renamed or retention
//! deleted it. A line is only handed out once its `\n` is there: a record
//! being written is never shipped half.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::row::line_hash;

/// Lines longer than this are not records tracer wrote (see
/// `report::source::MAX_LINE`); they are skipped and set aside.
pub const MAX_LINE: usize = crate::report::source::MAX_LINE;
const READ_CHUNK: usize = 1 << 20;
/// How much of an over-long line is kept to name it.
const KEEP: usize = 4096;

/// Which file: see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
    /// FNV-1a of the first line (without its newline); 0 while the file has
    /// no complete line.
    pub head: u64,
}

/// One file of the family.
#[derive(Debug, Clone)]
pub struct Member {
    /// 0 for the live file, N for `base.N`.
    pub n: u64,
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
}

/// The family of `base`, oldest (highest N) first.
pub fn family(base: &Path) -> Vec<Member> {
    let dir = base.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let Some(name) = base.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return Vec::new();
    };
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<Member> = rd
        .filter_map(Result::ok)
        .filter_map(|e| {
            let f = e.file_name();
            let f = f.to_string_lossy();
            let n = if *f == *name {
                0
            } else {
                let rest = f.strip_prefix(name.as_str())?.strip_prefix('.')?;
                if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                rest.parse().ok()?
            };
            let m = std::fs::symlink_metadata(e.path()).ok()?;
            m.file_type().is_file().then(|| Member {
                n,
                path: e.path(),
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
            })
        })
        .collect();
    v.sort_by_key(|m| std::cmp::Reverse(m.n));
    v
}

/// Hash of the first line of `f` (0 if it has none yet).
fn head_of(f: &mut File) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0;
    f.seek(SeekFrom::Start(0))?;
    loop {
        if let Some(i) = memchr::memchr(b'\n', &buf[..got]) {
            return Ok(line_hash(&buf[..i]));
        }
        if got == buf.len() {
            // A first line this long: hash its beginning.
            return Ok(line_hash(&buf));
        }
        let n = f.read(&mut buf[got..])?;
        if n == 0 {
            return Ok(0);
        }
        got += n;
    }
}

/// One line out of the spool.
#[derive(Debug)]
pub struct Line<'a> {
    pub bytes: &'a [u8],
    /// The file offset just after this line.
    pub end: u64,
    /// Longer than [`MAX_LINE`]: `bytes` holds only its start.
    pub too_long: bool,
    /// The file ended without a newline after it (a crash mid-write, then
    /// rotation): it will never be finished.
    pub unterminated: bool,
}

struct Current {
    file: File,
    id: FileId,
    path: PathBuf,
    /// File offset of `buf[pos]`.
    offset: u64,
    buf: Vec<u8>,
    pos: usize,
    /// The line at `buf[pos..]` is over-long: only its start is kept.
    skipping: bool,
    /// Rotation was seen: read to the end, then move on.
    rotated: bool,
    /// Bytes dropped from the middle of the over-long line at `buf[pos..]`.
    extra: u64,
}

/// Where to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest file of the family, from its beginning.
    Oldest,
    /// A checkpoint's file and offset.
    At { id: FileId, offset: u64 },
}

/// See the module docs.
pub struct Spool {
    base: PathBuf,
    start: Option<Start>,
    cur: Option<Current>,
    /// Set when the start file was not found: the caller skips by `seq`.
    pub start_missed: bool,
}

impl Spool {
    pub fn new(base: PathBuf, start: Start) -> Self {
        Self {
            base,
            start: Some(start),
            cur: None,
            start_missed: false,
        }
    }

    /// The file being read and the offset just after the last line handed out.
    pub fn position(&self) -> Option<(FileId, &Path, u64)> {
        self.cur
            .as_ref()
            .map(|c| (c.id, c.path.as_path(), c.offset + c.pos as u64))
    }

    /// Bytes written to the family after the current position.
    pub fn backlog(&self) -> u64 {
        let fam = family(&self.base);
        let Some(c) = &self.cur else {
            return fam.iter().map(|m| m.size).sum();
        };
        let pos = c.offset + c.pos as u64;
        let mut after = false;
        let mut total = 0;
        let mut found = false;
        for m in &fam {
            if (m.dev, m.ino) == (c.id.dev, c.id.ino) {
                total += m.size.saturating_sub(pos);
                after = true;
                found = true;
            } else if after {
                total += m.size;
            }
        }
        if !found {
            total = fam.iter().map(|m| m.size).sum::<u64>()
                + c.file
                    .metadata()
                    .map_or(0, |m| m.size())
                    .saturating_sub(pos);
        }
        total
    }

    fn open(&mut self, m: &Member, offset: u64) -> io::Result<()> {
        let mut file = File::open(&m.path)?;
        let head = head_of(&mut file)?;
        file.seek(SeekFrom::Start(offset))?;
        self.cur = Some(Current {
            file,
            id: FileId {
                dev: m.dev,
                ino: m.ino,
                head,
            },
            path: m.path.clone(),
            offset,
            buf: Vec::with_capacity(READ_CHUNK),
            pos: 0,
            skipping: false,
            rotated: false,
            extra: 0,
        });
        Ok(())
    }

    fn open_start(&mut self) -> io::Result<bool> {
        let fam = family(&self.base);
        let Some(oldest) = fam.first() else {
            return Ok(false);
        };
        match self.start {
            Some(Start::At { id, offset }) => {
                for m in &fam {
                    if (m.dev, m.ino) != (id.dev, id.ino) || m.size < offset {
                        continue;
                    }
                    let mut f = File::open(&m.path)?;
                    if id.head == 0 || head_of(&mut f)? == id.head {
                        self.open(m, offset)?;
                        self.start = None;
                        return Ok(true);
                    }
                }
                log::warn!(
                    "ship: the checkpoint's file (inode {}) is no longer in {}*: reading from the oldest file, skipping records already shipped by seq",
                    id.ino,
                    self.base.display()
                );
                self.start_missed = true;
                let oldest = oldest.clone();
                self.open(&oldest, 0)?;
            }
            _ => {
                let oldest = oldest.clone();
                self.open(&oldest, 0)?;
            }
        }
        self.start = None;
        Ok(true)
    }

    /// Moves to the file after the current one; false if there is none yet.
    fn advance(&mut self) -> io::Result<bool> {
        let Some(c) = &self.cur else {
            return Ok(false);
        };
        let fam = family(&self.base);
        let me = fam
            .iter()
            .position(|m| (m.dev, m.ino) == (c.id.dev, c.id.ino));
        let next = match me {
            Some(i) => fam.get(i + 1).cloned(),
            // Ours was deleted: everything older went with it.
            None => fam.first().cloned(),
        };
        match next {
            Some(m) => {
                log::debug!("ship: {} done, now {}", c.path.display(), m.path.display());
                self.open(&m, 0)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The next complete line, or `None` when there is nothing more yet.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        if self.cur.is_none() && !self.open_start()? {
            return Ok(None);
        }
        let unterminated = loop {
            let c = self.cur.as_mut().expect("opened above");
            if memchr::memchr(b'\n', &c.buf[c.pos..]).is_some() {
                break false;
            }
            if c.pos > 0 {
                c.offset += c.pos as u64;
                c.buf.drain(..c.pos);
                c.pos = 0;
            }
            if c.buf.len() > MAX_LINE && !c.skipping {
                c.skipping = true;
            }
            if c.skipping && c.buf.len() > KEEP {
                // Keep the start for the record, skip the rest.
                c.extra += (c.buf.len() - KEEP) as u64;
                c.buf.truncate(KEEP);
            }
            let len = c.buf.len();
            c.buf.resize(len + READ_CHUNK, 0);
            let n = loop {
                match c.file.read(&mut c.buf[len..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        c.buf.truncate(len);
                        return Err(e);
                    }
                }
            };
            c.buf.truncate(len + n);
            if n > 0 {
                continue;
            }
            if !c.rotated {
                if rotated_away(&self.base, c) {
                    // Read once more: the writer may have written its last
                    // batch just before the rename.
                    c.rotated = true;
                    continue;
                }
                return Ok(None);
            }
            if c.buf.len() > c.pos {
                // An unterminated tail of a finished file: hand it out once.
                break true;
            }
            if !self.advance()? {
                return Ok(None);
            }
        };
        let c = self.cur.as_mut().expect("opened above");
        let start = c.pos;
        let stop = if unterminated {
            c.buf.len()
        } else {
            start + memchr::memchr(b'\n', &c.buf[start..]).expect("found above")
        };
        c.pos = if unterminated { stop } else { stop + 1 };
        // Bytes skipped in the middle of an over-long line move the offset.
        c.offset += std::mem::take(&mut c.extra);
        let end = c.offset + c.pos as u64;
        let too_long = std::mem::take(&mut c.skipping);
        Ok(Some(Line {
            bytes: &c.buf[start..stop],
            end,
            too_long,
            unterminated,
        }))
    }
}

/// Whether the live name `base` now points at another file than `c`.
fn rotated_away(base: &Path, c: &Current) -> bool {
    match std::fs::symlink_metadata(base) {
        Ok(m) => (m.dev(), m.ino()) != (c.id.dev, c.id.ino),
        // Renamed, the new one not created yet.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(s: &mut Spool) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(l) = s.next_line().unwrap() {
            v.push(String::from_utf8_lossy(l.bytes).into_owned());
        }
        v
    }

    fn append(p: &Path, s: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .unwrap();
        f.write_all(s.as_bytes()).unwrap();
    }

    #[test]
    fn follows_rotation_and_waits_for_newlines() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("t.log");
        append(&d.path().join("t.log.2"), "a\n");
        append(&d.path().join("t.log.1"), "b\n");
        append(&base, "c\nd");
        let mut s = Spool::new(base.clone(), Start::Oldest);
        assert_eq!(lines(&mut s), ["a", "b", "c"]);
        append(&base, "\ne\n");
        assert_eq!(lines(&mut s), ["d", "e"]);
        let (id, _, off) = s.position().unwrap();
        assert_eq!(off, 6);
        // Rotate: t.log -> t.log.1 (with a last line written before), new t.log.
        append(&base, "f\n");
        std::fs::rename(d.path().join("t.log.1"), d.path().join("t.log.2")).unwrap();
        std::fs::rename(&base, d.path().join("t.log.1")).unwrap();
        append(&base, "g\n");
        assert_eq!(lines(&mut s), ["f", "g"]);
        // A checkpoint taken before the rotation still finds its file.
        let mut s2 = Spool::new(base.clone(), Start::At { id, offset: off });
        assert_eq!(lines(&mut s2), ["f", "g"]);
        assert!(!s2.start_missed);
    }

    #[test]
    fn missing_checkpoint_file_restarts_from_oldest() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("t.log");
        append(&base, "x\ny\n");
        let id = FileId {
            dev: 1,
            ino: 1,
            head: 5,
        };
        let mut s = Spool::new(base, Start::At { id, offset: 2 });
        assert_eq!(lines(&mut s), ["x", "y"]);
        assert!(s.start_missed);
    }

    #[test]
    fn unterminated_tail_of_a_rotated_file_is_handed_out() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("t.log");
        append(&base, "a\npart");
        let mut s = Spool::new(base.clone(), Start::Oldest);
        assert_eq!(lines(&mut s), ["a"]);
        std::fs::rename(&base, d.path().join("t.log.1")).unwrap();
        append(&base, "b\n");
        let mut got = Vec::new();
        while let Some(l) = s.next_line().unwrap() {
            got.push((
                String::from_utf8_lossy(l.bytes).into_owned(),
                l.unterminated,
            ));
        }
        assert_eq!(got, [("part".into(), true), ("b".into(), false)]);
    }

    #[test]
    fn backlog_counts_unread_bytes() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().join("t.log");
        append(&d.path().join("t.log.1"), "aaaa\n");
        append(&base, "bb\n");
        let mut s = Spool::new(base, Start::Oldest);
        assert_eq!(s.backlog(), 8);
        s.next_line().unwrap();
        assert_eq!(s.backlog(), 3);
    }
}
