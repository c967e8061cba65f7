//! Opening one input: undoing gzip (recognised by its magic bytes, not its
//! name) and recognising the format (tracer JSON lines, or raw audit /
//! `ausearch -r` text) by the first meaningful line.

use std::fs::File;
use std::io::{self, Cursor, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::files::InputSpec;

/// How many bytes are looked at to recognise a format.
const PEEK: usize = 64 << 10;

/// The longest line read past to recognise a format (a giant first line).
const FIRST_LINE: usize = super::MAX_JSON_LINE;

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
    /// `ausearch -i` output: audit records with names and local times in
    /// place of the raw numbers, which tracer cannot read back faithfully.
    Interpreted,
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
    #[error(
        "{path}: interpreted audit records (`ausearch -i` output: user names and local times \
         in place of the kernel's numbers and times), which tracer cannot read back faithfully; \
         give it the raw records: the audit.log itself, or `ausearch --raw` (-r) output"
    )]
    Interpreted { path: String },
    #[error("no tracer logs found as {dir}/{base}*; name the files to read")]
    NoDefault { dir: String, base: String },
}

/// Recognises a format from the first bytes of an input: the first line
/// that starts like a tracer record (`{`) or an audit record (`type=`,
/// `node=`) decides; blank lines and ausearch's `----` separators are
/// skipped. An input whose complete lines in `head` are all something else is
/// [`Detected::Unknown`]; but when `head` ends inside one giant first line
/// (longer than [`super::MAX_JSON_LINE`]: `open` reads past shorter
/// ones), there is nothing to judge by, and the input is read as
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
            if interpreted(line) {
                return Detected::Interpreted;
            }
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

/// Whether the first line that is not blank is a `----` line: ausearch's
/// default output (each event between two of them) rather than a log that
/// happens to hold such a line.
pub fn begins_with_separator(head: &[u8]) -> bool {
    head.split(|&b| b == b'\n')
        .map(<[u8]>::trim_ascii)
        .find(|l| !l.is_empty())
        .is_some_and(|l| l.starts_with(b"----"))
}

/// Whether an audit record's `msg=audit(...)` stamp is `ausearch -i`'s
/// (`12/01/26 20:13:58.734:6661`: a local date and time, in the locale's
/// form) rather than the kernel's `SECONDS.FRACTION:SERIAL`, which never
/// holds a space.
fn interpreted(line: &[u8]) -> bool {
    const HEADER: &[u8] = b"msg=audit(";
    let Some(at) = memchr::memmem::find(line, HEADER) else {
        return false;
    };
    let stamp = &line[at + HEADER.len()..];
    let stamp = &stamp[..memchr::memchr(b')', stamp).unwrap_or(stamp.len())];
    stamp.first().is_some_and(u8::is_ascii_digit) && stamp.contains(&b' ')
}

/// Counts bytes as they are read from disk (before decompression), for the
/// progress bar; shared with the thread that reads.
#[derive(Debug, Clone, Default)]
pub struct ByteCounter(Arc<AtomicU64>);

impl ByteCounter {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
}

struct Counting<R> {
    inner: R,
    count: ByteCounter,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.add(n as u64);
        Ok(n)
    }
}

/// One opened input, positioned at its start, its format recognised.
pub struct Opened {
    pub name: String,
    pub detected: Detected,
    /// It begins like ausearch's default output ([`begins_with_separator`]).
    pub ausearch: bool,
    pub gzip: bool,
    pub reader: Box<dyn Read + Send>,
}

/// Opens `spec`, undoes gzip, recognises the format. `size` gets the bytes
/// on disk, when known.
pub fn open(spec: &InputSpec, counter: &ByteCounter, size: &mut u64) -> Result<Opened, InputError> {
    let name = spec.name();
    let raw: Box<dyn Read + Send> = match spec {
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
    let plain: Box<dyn Read + Send> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(
            Cursor::new(magic).chain(rest),
        ))
    } else {
        Box::new(Cursor::new(magic).chain(rest))
    };
    // A giant first line (junk, or a crafted log) must not decide the
    // format by itself: read past it, up to the longest line a reader takes.
    let (head, rest) = peek(plain, PEEK, FIRST_LINE, |h| {
        matches!(detect(h), Detected::Known(_))
    })
    .map_err(read_err)?;
    let detected = detect(&head);
    Ok(Opened {
        name,
        detected,
        ausearch: begins_with_separator(&head),
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

/// Opens every input (see [`open`]) and settles each one's format: a piece
/// of a rotated log is still that log even when its first lines are junk (a
/// rotation can cut anywhere), so it takes the format of its family (same
/// directory and base name). Only an input whose family says nothing either
/// is refused with [`InputError::UnknownFormat`]. `total` gets the bytes on
/// disk.
pub fn open_all(
    specs: &[InputSpec],
    counter: &ByteCounter,
    total: &mut u64,
) -> Result<Vec<Opened>, InputError> {
    let mut opened = Vec::with_capacity(specs.len());
    for spec in specs {
        opened.push(open(spec, counter, total)?);
    }
    if let Some(o) = opened.iter().find(|o| o.detected == Detected::Interpreted) {
        return Err(InputError::Interpreted {
            path: o.name.clone(),
        });
    }
    let families: Vec<_> = specs.iter().map(|s| s.family().0).collect();
    for i in 0..opened.len() {
        if opened[i].detected != Detected::Unknown {
            continue;
        }
        let kin = families[i].as_ref().and_then(|f| {
            (0..opened.len())
                .filter(|&j| families[j].as_ref() == Some(f))
                .find_map(|j| match opened[j].detected {
                    Detected::Known(k) => Some(k),
                    _ => None,
                })
        });
        match kin {
            Some(k) => opened[i].detected = Detected::Known(k),
            None => {
                let path = opened.swap_remove(i).name;
                return Err(InputError::UnknownFormat { path });
            }
        }
    }
    Ok(opened)
}

/// Groups opened inputs into runs of one format, in order: consecutive
/// inputs of one format are read as one stream (so an audit event split
/// across a rotation is whole again). Empty inputs get no run; they are
/// returned apart, by position.
pub fn runs(opened: Vec<Opened>) -> (Vec<(Format, Vec<Opened>)>, Vec<Opened>) {
    let mut runs: Vec<(Format, Vec<Opened>)> = Vec::new();
    let mut empty = Vec::new();
    for o in opened {
        let Detected::Known(f) = o.detected else {
            empty.push(o);
            continue;
        };
        match runs.last_mut() {
            Some((rf, v)) if *rf == f => v.push(o),
            _ => runs.push((f, vec![o])),
        }
    }
    (runs, empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats() {
        let raw = b"type=SYSCALL msg=audit(1700000000.123:42): arch=c000003e syscall=59\n";
        assert_eq!(detect(raw), Detected::Known(Format::Audit));
        let node = b"----\nnode=login1 type=EOE msg=audit(1700000000.123:42): \n";
        assert_eq!(detect(node), Detected::Known(Format::Audit));
        assert_eq!(
            detect(b"{\"type\":\"exec\"}\n"),
            Detected::Known(Format::TracerJson)
        );
        assert_eq!(detect(b"\n----\n"), Detected::Empty);
        assert_eq!(detect(b"hello\nworld\n"), Detected::Unknown);
    }

    #[test]
    fn recognises_interpreted_ausearch_output() {
        // `ausearch -i` in the C and en_US locales, and in one that writes
        // dates with dots; with and without node=.
        for line in [
            &b"type=DAEMON_START msg=audit(12/01/26 20:13:58.734:6661) : op=start"[..],
            b"type=EXECVE msg=audit(12/01/2026 20:13:58.746:216) : argc=1 a0=ls",
            b"node=n1 type=EOE msg=audit(01.12.2026 20:13:58.746:216) : ",
        ] {
            let text = [b"----\n", line, b"\n"].concat();
            assert_eq!(detect(&text), Detected::Interpreted, "{line:?}");
        }
        // A stamp the kernel wrote, however odd the rest.
        assert!(!interpreted(
            b"type=USER_CMD msg=audit(1.2:3): msg='cmd=a b (1/2)'"
        ));
        assert!(!interpreted(b"type=EOE"));
    }
}
