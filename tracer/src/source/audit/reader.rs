//! Streaming reader of raw audit logs: `audit.log` files, `ausearch -r`
//! (`--raw`) output, or anything else made of raw records one per line.
//!
//! [`AuditLogReader`] wraps any [`BufRead`] and yields, in input order, the
//! [`Event`]s its records make (as the coalescer completes them) and the lines
//! it had to skip ([`BadLine`]: not a record, or longer than the line cap).
//! A bad line is counted and skipped, never fatal; only an I/O error ends the
//! stream early. Memory is bounded by the open events and the line cap, not by
//! the input: lines are read as bytes into one reused buffer.
//!
//! ```no_run
//! use std::io::BufReader;
//! use tracer::source::audit::reader::{AuditLogReader, ReadItem};
//!
//! let file = std::fs::File::open("/var/log/audit/audit.log")?;
//! let mut reader = AuditLogReader::new(BufReader::new(file), "login2");
//! for item in &mut reader {
//!     match item? {
//!         ReadItem::Event(e) => println!("{}", e.to_json()),
//!         ReadItem::BadLine(b) => eprintln!("audit.log:{}: {}", b.line, b.reason),
//!     }
//! }
//! eprintln!("{} events cut short at the end", reader.stats().incomplete);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Lines that are blank, `----` (ausearch's event separator) or `time->...`
//! (the header of ausearch's default output) separate events and are skipped
//! without complaint.

use std::collections::VecDeque;
use std::io::{self, BufRead};

use memchr::memchr;
use serde::Serialize;
use thiserror::Error;

use super::coalesce::{CoalesceStats, Coalescer, CoalescerConfig};
use super::parse::parse_line;
use crate::event::Event;

/// Default longest line read: far above the kernel's record limit (8970 bytes)
/// plus ENRICHED interpretation, far below anything that hurts.
pub const DEFAULT_MAX_LINE: usize = 1 << 20;

/// How an [`AuditLogReader`] reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderConfig {
    pub coalescer: CoalescerConfig,
    /// Lines longer than this (with the line end) are skipped as bad.
    pub max_line: usize,
}

impl ReaderConfig {
    /// Defaults, with `host` for records without `node=`.
    pub fn new(host: impl Into<String>) -> Self {
        Self {
            coalescer: CoalescerConfig {
                host: host.into(),
                ..CoalescerConfig::default()
            },
            max_line: DEFAULT_MAX_LINE,
        }
    }
}

/// A skipped line: its 1-based number and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BadLine {
    pub line: u64,
    pub reason: String,
}

/// What the reader yields.
// Events are the common case and bad lines rare: boxing the event to even out
// the sizes would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum ReadItem {
    Event(Event),
    BadLine(BadLine),
}

/// An error that ends the stream.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("cannot read audit log input after line {line}: {source}")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
}

/// Counters for a report's stats; final once the iterator has returned `None`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderStats {
    pub lines: u64,
    pub bytes: u64,
    pub records: u64,
    pub bad_lines: u64,
    /// Blank, `----` and `time->` lines.
    pub separators: u64,
    pub events: u64,
    /// Events the input ended in the middle of (see
    /// [`super::coalesce::Coalescer::flush`]).
    pub incomplete: u64,
    /// The input was read to its end.
    pub finished: bool,
    pub coalesce: CoalesceStats,
}

enum LineRead {
    Eof,
    Line,
    TooLong(usize),
}

/// Raw audit records in, events out; see the module docs.
pub struct AuditLogReader<R> {
    input: R,
    max_line: usize,
    coalescer: Coalescer,
    line: Vec<u8>,
    line_no: u64,
    pending: VecDeque<ReadItem>,
    scratch: Vec<Event>,
    stats: ReaderStats,
    done: bool,
}

impl<R: BufRead> AuditLogReader<R> {
    /// A reader with default settings; `host` names records without `node=`.
    pub fn new(input: R, host: impl Into<String>) -> Self {
        Self::with_config(input, ReaderConfig::new(host))
    }

    pub fn with_config(input: R, cfg: ReaderConfig) -> Self {
        Self {
            input,
            max_line: cfg.max_line.max(1),
            coalescer: Coalescer::new(cfg.coalescer),
            line: Vec::new(),
            line_no: 0,
            pending: VecDeque::new(),
            scratch: Vec::new(),
            stats: ReaderStats::default(),
            done: false,
        }
    }

    /// Counters so far; final once iteration has ended.
    pub fn stats(&self) -> ReaderStats {
        let mut s = self.stats.clone();
        s.coalesce = self.coalescer.stats().clone();
        s
    }

    /// Reads one line into `self.line`, or skips it whole if too long.
    fn read_line(&mut self) -> io::Result<LineRead> {
        self.line.clear();
        let (mut total, mut too_long) = (0usize, false);
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(match (total, too_long) {
                    (0, _) => LineRead::Eof,
                    (_, true) => LineRead::TooLong(total),
                    _ => LineRead::Line,
                });
            }
            let (n, found) = match memchr(b'\n', buf) {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            total = total.saturating_add(n);
            if !too_long {
                if self.line.len() + n > self.max_line {
                    too_long = true;
                    self.line = Vec::new();
                } else {
                    self.line.extend_from_slice(&buf[..n]);
                }
            }
            self.input.consume(n);
            if found {
                return Ok(if too_long {
                    LineRead::TooLong(total)
                } else {
                    LineRead::Line
                });
            }
        }
    }

    fn bad(&mut self, reason: String) {
        self.stats.bad_lines += 1;
        self.pending.push_back(ReadItem::BadLine(BadLine {
            line: self.line_no,
            reason,
        }));
    }

    fn process_line(&mut self) {
        self.stats.bytes += self.line.len() as u64;
        let text = self.line.trim_ascii();
        if text.starts_with(b"----") {
            // ausearch output: the events before it are whole.
            self.stats.separators += 1;
            self.coalescer.separator(&mut self.scratch);
            self.take_events();
            return;
        }
        if text.is_empty() || text.starts_with(b"time->") {
            self.stats.separators += 1;
            return;
        }
        match parse_line(&self.line) {
            Ok(rec) => {
                self.stats.records += 1;
                self.coalescer.push(&rec, &mut self.scratch);
                self.take_events();
            }
            Err(e) => self.bad(e.to_string()),
        }
    }

    fn take_events(&mut self) {
        self.stats.events += self.scratch.len() as u64;
        self.pending
            .extend(self.scratch.drain(..).map(ReadItem::Event));
    }

    fn finish(&mut self) {
        // In ausearch output the last event is whole too.
        self.coalescer.separator(&mut self.scratch);
        self.stats.incomplete = self.coalescer.flush(&mut self.scratch);
        self.take_events();
        self.stats.finished = true;
        self.done = true;
    }
}

impl<R: BufRead> Iterator for AuditLogReader<R> {
    type Item = Result<ReadItem, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.pending.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            match self.read_line() {
                Err(source) => {
                    self.done = true;
                    return Some(Err(ReadError::Io {
                        line: self.line_no,
                        source,
                    }));
                }
                Ok(LineRead::Eof) => self.finish(),
                Ok(LineRead::TooLong(n)) => {
                    self.line_no += 1;
                    self.stats.lines += 1;
                    self.stats.bytes += n as u64;
                    self.bad(format!(
                        "line of {n} bytes is longer than the {} byte limit",
                        self.max_line
                    ));
                }
                Ok(LineRead::Line) => {
                    self.line_no += 1;
                    self.stats.lines += 1;
                    self.process_line();
                }
            }
        }
    }
}
