//! The seam between input bytes and [`Event`]s: [`EventSource`], with its
//! tracer JSON-lines implementation and the adapter for raw audit logs
//! ([`AuditEvents`], over `crate::source::audit::AuditLogReader`, the same
//! parser and coalescer as the live audit source).
//!
//! Readers are streaming: a JSON-lines source holds one line at a time (lines
//! longer than [`MAX_LINE`] are skipped without being buffered whole), so
//! memory here does not grow with the input.

use std::io::{self, BufRead};

use crate::event::Event;

use super::input::Format;
use super::record::Record;

/// The longest line read as a record (see [`crate::logread::MAX_JSON_LINE`]).
pub const MAX_LINE: usize = crate::logread::MAX_JSON_LINE;

/// A line that could not be read as a record, with its 1-based number within
/// the stream it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// A stream of events read from one input (or several inputs joined): the
/// shape of a parser that produces owned [`Event`]s, like the audit reader.
pub trait EventSource: Iterator<Item = Result<Event, BadLine>> {
    /// Events begun but not finished when the input ended: an audit event
    /// whose records stop before its end.
    fn incomplete(&self) -> u64 {
        0
    }
    /// The read error (not a parse error) that ended the input early.
    fn take_error(&mut self) -> Option<io::Error> {
        None
    }
}

/// What the report reads from: each record (borrowed, see [`Record`]) or bad
/// line, in input order, handed to a callback, so a source can lend records
/// that borrow its line buffer.
pub trait RecordSource {
    fn for_each_record(&mut self, f: &mut dyn FnMut(Result<Record<'_>, BadLine>));
    /// See [`EventSource::incomplete`].
    fn incomplete(&self) -> u64;
    /// See [`EventSource::take_error`].
    fn take_error(&mut self) -> Option<io::Error>;
}

/// Any [`EventSource`] is a [`RecordSource`].
pub struct Events<S>(pub S);

impl<S: EventSource> RecordSource for Events<S> {
    fn for_each_record(&mut self, f: &mut dyn FnMut(Result<Record<'_>, BadLine>)) {
        for item in self.0.by_ref() {
            match item {
                Ok(e) => f(Ok(Record::from_event(&e))),
                Err(b) => f(Err(b)),
            }
        }
    }
    fn incomplete(&self) -> u64 {
        self.0.incomplete()
    }
    fn take_error(&mut self) -> Option<io::Error> {
        self.0.take_error()
    }
}

/// Why a source could not be made for an input.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {}

/// Raw audit records (audit.log, `ausearch -r` output) as an [`EventSource`].
/// Records without a `node=` prefix get the host name given (`--host-name`),
/// else none: never the reader's, which may not be where the log was written.
pub struct AuditEvents<R> {
    reader: crate::source::audit::AuditLogReader<R>,
    error: Option<io::Error>,
}

impl<R: BufRead> AuditEvents<R> {
    pub fn new(input: R, host_name: Option<&str>) -> Self {
        Self {
            reader: crate::source::audit::AuditLogReader::new(input, host_name.unwrap_or("")),
            error: None,
        }
    }
}

impl<R: BufRead> Iterator for AuditEvents<R> {
    type Item = Result<Event, BadLine>;

    fn next(&mut self) -> Option<Self::Item> {
        use crate::source::audit::{reader::ReadError, ReadItem};
        match self.reader.next()? {
            Ok(ReadItem::Event(e)) => Some(Ok(e)),
            Ok(ReadItem::BadLine(b)) => Some(Err(BadLine {
                line: b.line,
                reason: b.reason,
            })),
            Err(ReadError::Io { source, .. }) => {
                self.error = Some(source);
                None
            }
        }
    }
}

impl<R: BufRead> EventSource for AuditEvents<R> {
    fn incomplete(&self) -> u64 {
        self.reader.stats().incomplete
    }
    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

/// Makes the source for a stream of `format`.
pub fn open_source(
    format: Format,
    reader: Box<dyn BufRead>,
    host_name: Option<&str>,
) -> Result<Box<dyn RecordSource>, SourceError> {
    match format {
        Format::TracerJson => Ok(Box::new(JsonLines::new(reader))),
        Format::Audit => Ok(Box::new(Events(AuditEvents::new(reader, host_name)))),
    }
}

/// tracer's own log: one JSON [`Event`] per line, read as [`Record`]s.
pub struct JsonLines<R> {
    reader: R,
    buf: Vec<u8>,
    line: u64,
    incomplete: u64,
    error: Option<io::Error>,
    done: bool,
}

impl<R: BufRead> JsonLines<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::with_capacity(4096),
            line: 0,
            incomplete: 0,
            error: None,
            done: false,
        }
    }

    /// Reads the next line into `buf` (without its newline). Returns
    /// `Ok(None)` at end of input, `Ok(Some(complete))` otherwise, where
    /// `complete` is false for a last line with no newline; a line longer
    /// than `MAX_LINE` is consumed but left empty with `too_long` set.
    fn read_line(&mut self) -> io::Result<Option<(bool, bool)>> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(any.then_some((false, too_long)));
            }
            any = true;
            let (chunk, found) = match memchr::memchr(b'\n', avail) {
                Some(i) => (&avail[..i], Some(i + 1)),
                None => (avail, None),
            };
            if !too_long && self.buf.len() + chunk.len() <= MAX_LINE {
                self.buf.extend_from_slice(chunk);
            } else {
                too_long = true;
                self.buf.clear();
            }
            let used = found.unwrap_or(avail.len());
            self.reader.consume(used);
            if found.is_some() {
                return Ok(Some((true, too_long)));
            }
        }
    }
}

impl<R: BufRead> RecordSource for JsonLines<R> {
    fn for_each_record(&mut self, f: &mut dyn FnMut(Result<Record<'_>, BadLine>)) {
        while !self.done {
            // Fast path: a whole line already in the reader's buffer is
            // parsed in place, without copying it.
            let avail = match self.reader.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    return;
                }
            };
            if let Some(i) = memchr::memchr(b'\n', avail) {
                self.line += 1;
                handle_line(&avail[..i], true, self.line, &mut self.incomplete, f);
                self.reader.consume(i + 1);
                continue;
            }
            let (complete, too_long) = match self.read_line() {
                Ok(Some(r)) => r,
                Ok(None) => {
                    self.done = true;
                    return;
                }
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    return;
                }
            };
            self.line += 1;
            if too_long {
                let reason = format!("line longer than {} MiB", MAX_LINE >> 20);
                f(Err(BadLine {
                    line: self.line,
                    reason,
                }));
                continue;
            }
            handle_line(&self.buf, complete, self.line, &mut self.incomplete, f);
        }
    }
    fn incomplete(&self) -> u64 {
        self.incomplete
    }
    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

/// Parses one line (without its newline) and hands the result to `f`.
pub(crate) fn handle_line<'a>(
    raw: &'a [u8],
    complete: bool,
    line: u64,
    incomplete: &mut u64,
    f: &mut dyn FnMut(Result<Record<'a>, BadLine>),
) {
    let bad = |reason: String| Err(BadLine { line, reason });
    let text = trim(raw);
    if text.is_empty() {
        return;
    }
    if text[0] != b'{' {
        return f(bad("not a JSON record".into()));
    }
    match Record::from_json(text) {
        Ok(r) => f(Ok(r)),
        Err(_) if !complete => {
            *incomplete += 1;
            f(bad("input ends in the middle of this record".into()));
        }
        Err(e) => f(bad(format!("not a tracer record: {e}"))),
    }
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &b[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Kind;

    const REC: &str = r#"{"type":"exec","time":"2024-05-01T09:00:00Z","host":"h","source":"ebpf","pid":1,"argv":["ls"]}"#;

    fn run(input: &str) -> (Vec<Result<Kind, u64>>, u64) {
        let mut src = JsonLines::new(input.as_bytes());
        let mut out = Vec::new();
        src.for_each_record(&mut |r| out.push(r.map(|e| e.kind).map_err(|b| b.line)));
        (out, src.incomplete())
    }

    #[test]
    fn reads_records_and_counts_bad_lines() {
        let input = format!("{REC}\r\n\njunk\n{{\"type\":1}}\n{REC}");
        let (out, inc) = run(&input);
        assert_eq!(out, vec![Ok(Kind::Exec), Err(3), Err(4), Ok(Kind::Exec)]);
        assert_eq!(inc, 0);
    }

    #[test]
    fn truncated_last_line_is_incomplete() {
        let (out, inc) = run(&format!("{REC}\n{}", &REC[..40]));
        assert_eq!(out, vec![Ok(Kind::Exec), Err(2)]);
        assert_eq!(inc, 1);
    }

    #[test]
    fn huge_line_is_skipped() {
        let big = format!("{{\"x\":\"{}\"}}\n{REC}\n", "a".repeat(MAX_LINE + 10));
        let (out, _) = run(&big);
        assert_eq!(out, vec![Err(1), Ok(Kind::Exec)]);
    }
}
