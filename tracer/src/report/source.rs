//! The seam between a report and where its records come from:
//! [`RecordSource`] (files are read by [`crate::logread`] through
//! `report::input`; ClickHouse by `crate::fleet::query`), and the one parser
//! of a tracer JSON line into a [`Record`] (`handle_line`), which every
//! reader of tracer's log uses.

use std::io;

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

/// What the report reads from: each record (borrowed, see [`Record`]) or bad
/// line, in input order, handed to a callback, so a source can lend records
/// that borrow its line buffer.
pub trait RecordSource {
    fn for_each_record(&mut self, f: &mut dyn FnMut(Result<Record<'_>, BadLine>));
    /// Records begun but not finished when the input ended.
    fn incomplete(&self) -> u64;
    /// The read error (not a parse error) that ended the input early.
    fn take_error(&mut self) -> Option<io::Error>;
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

    /// Each line of `input` through [`handle_line`], as a line reader
    /// hands them over (the last one complete only if it ends in `\n`).
    fn run(input: &str) -> (Vec<Result<Kind, u64>>, u64) {
        let mut out = Vec::new();
        let mut incomplete = 0;
        let lines: Vec<&str> = input.split('\n').collect();
        for (i, l) in lines.iter().enumerate() {
            let complete = i + 1 < lines.len();
            if !complete && l.is_empty() {
                break;
            }
            handle_line(
                l.as_bytes(),
                complete,
                i as u64 + 1,
                &mut incomplete,
                &mut |r| out.push(r.map(|e| e.kind).map_err(|b| b.line)),
            );
        }
        (out, incomplete)
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
}
