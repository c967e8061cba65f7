//! Raw audit logs read on all cores, with exactly the events a serial read
//! gives, in the same order.
//!
//! Records of one event may straddle a chunk boundary, and the coalescer
//! ([`crate::source::audit::coalesce`]) is a state machine whose decisions
//! (EOE, expiry by time or record window, eviction) depend on what came
//! before. What makes chunks independent is this: after a record that leaves
//! no event open, the coalescer's state is equivalent to a fresh one's (its
//! open map is empty, its scan phase restarts; nothing else it keeps changes
//! its output, except the `node=` name table, below). Call such a point
//! *quiescent*. So each worker coalesces its chunk speculatively from a
//! fresh [`Driver`], noting its quiescent points. In order, the caller's
//! thread takes each chunk's result:
//! - when the chunk before it ended quiescent, the speculation started from
//!   the true state, and its events are the serial read's;
//! - otherwise (an event straddles the boundary), the previous chunk's
//!   driver, which holds the true state, goes on through this chunk's lines
//!   until a point quiescent both for it and for the speculation; from there
//!   on the speculation is right again and its events are taken. A chunk
//!   with no such point is read through by the true driver.
//!
//! On a real log nearly every boundary is a few records away from such a
//! point, so nearly all the work is parallel. Whether any EOE was seen is
//! kept for the whole stream (it decides whether events open at the end are
//! counted as cut short). One thing stays per chunk: the coalescer's
//! `node=` table, which caps distinct names at 4096 (more share one
//! bucket); a stream with more than 4096 distinct node names may be
//! bucketed differently than by a serial read (`--threads 1`), the one known
//! difference.

use std::collections::HashMap;

use crate::event::Event;
use crate::source::audit::coalesce::{Coalescer, CoalescerConfig};
use crate::source::audit::exec::PartialExec;
use crate::source::audit::parse::parse_line;
use crate::source::audit::reader::DEFAULT_MAX_LINE;
use crate::source::audit::RecordType;

use super::chunk::{Chunk, ChunkLine, Work};

/// The longest audit line kept, without its newline (the serial reader's
/// limit counts the newline).
pub const MAX_AUDIT_LINE: usize = DEFAULT_MAX_LINE - 1;

/// What reading audit lines yields, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum AuditItem {
    Event(Event),
    /// A line that is not a record: (stream line number, why).
    Bad(u64, String),
}

/// The coalescer, fed line by line, remembering where open events started.
pub struct Driver {
    coalescer: Coalescer,
    scratch: Vec<Event>,
    /// Line of the first record of each event opened since the last
    /// quiescent point, by (serial, time).
    first_line: HashMap<(u64, i64), u64>,
    saw_eoe: bool,
}

impl Driver {
    /// A driver naming records without `node=` as `host`.
    pub fn new(host: &str) -> Self {
        Self {
            coalescer: Coalescer::new(CoalescerConfig {
                host: host.to_owned(),
                ..CoalescerConfig::default()
            }),
            scratch: Vec::new(),
            first_line: HashMap::new(),
            saw_eoe: false,
        }
    }

    /// No event open: the state is as good as a fresh driver's.
    pub fn quiescent(&self) -> bool {
        self.coalescer.open_events() == 0
    }

    /// Reads one line (as the serial `AuditLogReader` does), appending what
    /// it yields to `out`.
    pub fn line(&mut self, l: &ChunkLine<'_>, out: &mut Vec<(u64, AuditItem)>) {
        if let Some(n) = l.too_long {
            let reason = format!(
                "line of {} bytes is longer than the {DEFAULT_MAX_LINE} byte limit",
                n + 1
            );
            out.push((l.index, AuditItem::Bad(l.number, reason)));
            return;
        }
        let text = l.text.trim_ascii();
        if text.is_empty() || text.starts_with(b"----") || text.starts_with(b"time->") {
            return;
        }
        match parse_line(l.text) {
            Ok(rec) => {
                if rec.rtype == RecordType::EOE {
                    self.saw_eoe = true;
                } else if PartialExec::wants(rec.rtype) {
                    self.first_line
                        .entry((rec.serial, rec.time.0))
                        .or_insert(l.number);
                }
                self.coalescer.push(&rec, &mut self.scratch);
                out.extend(
                    self.scratch
                        .drain(..)
                        .map(|e| (l.index, AuditItem::Event(e))),
                );
                if self.quiescent() && !self.first_line.is_empty() {
                    self.first_line.clear();
                }
            }
            Err(e) => out.push((l.index, AuditItem::Bad(l.number, e.to_string()))),
        }
    }

    /// Ends the stream: the events still open come out (as the serial reader
    /// flushes them), and the lines where those that were surely cut short
    /// began. `saw_eoe` says whether the stream had EOE records anywhere:
    /// without them nothing tells a finished event from a cut one.
    pub fn finish(mut self, saw_eoe: bool, out: &mut Vec<AuditItem>) -> Cut {
        let keys = self.coalescer.open_keys();
        self.coalescer.flush(&mut self.scratch);
        out.extend(self.scratch.drain(..).map(AuditItem::Event));
        if !(saw_eoe || self.saw_eoe) {
            return Cut::default();
        }
        Cut {
            events: keys.len() as u64,
            lines: keys
                .iter()
                .filter_map(|k| self.first_line.get(&(k.0, k.1 .0)).copied())
                .collect(),
        }
    }
}

/// The events the stream ended in the middle of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cut {
    pub events: u64,
    /// The stream line of each one's first record, in the order they began.
    pub lines: Vec<u64>,
}

/// One chunk coalesced speculatively from a fresh driver.
pub struct AuditOut {
    pub chunk: Chunk,
    /// (line index in the chunk, item), in order.
    pub items: Vec<(u64, AuditItem)>,
    /// Line indices after which the driver was quiescent.
    pub quiescent: Vec<u64>,
    /// The driver at the end of the chunk.
    pub driver: Driver,
    pub saw_eoe: bool,
}

/// The workers' job on audit chunks.
pub struct AuditWork {
    pub host: String,
}

impl Work for AuditWork {
    type Out = AuditOut;
    fn work(&self, chunk: Chunk) -> AuditOut {
        let mut d = Driver::new(&self.host);
        let mut items = Vec::new();
        let mut quiescent = Vec::new();
        for l in chunk.lines(MAX_AUDIT_LINE) {
            d.line(&l, &mut items);
            if d.quiescent() {
                quiescent.push(l.index);
            }
        }
        let saw_eoe = d.saw_eoe;
        AuditOut {
            chunk,
            items,
            quiescent,
            driver: d,
            saw_eoe,
        }
    }
}

/// Puts speculative chunk results together into the serial read's items;
/// see the module docs.
pub struct Merge {
    host: String,
    /// The true driver, when the last chunk ended with events open.
    live: Option<Driver>,
    /// The last chunk's driver, when it ended quiescent.
    last: Option<Driver>,
    saw_eoe: bool,
    /// Lines read by the true driver rather than taken from a speculation.
    pub replayed_lines: u64,
}

impl Merge {
    pub fn new(host: &str) -> Self {
        Self {
            host: host.to_owned(),
            live: None,
            last: None,
            saw_eoe: false,
            replayed_lines: 0,
        }
    }

    /// Takes the next chunk's result, handing its items to `f` in order.
    pub fn push(&mut self, out: AuditOut, f: &mut dyn FnMut(AuditItem)) {
        self.saw_eoe |= out.saw_eoe;
        let AuditOut {
            chunk,
            items,
            quiescent,
            driver,
            ..
        } = out;
        let Some(mut live) = self.live.take() else {
            items.into_iter().for_each(|(_, i)| f(i));
            self.keep(driver);
            return;
        };
        let mut buf = Vec::new();
        for l in chunk.lines(MAX_AUDIT_LINE) {
            self.replayed_lines += 1;
            live.line(&l, &mut buf);
            buf.drain(..).for_each(|(_, i)| f(i));
            if live.quiescent() && quiescent.binary_search(&l.index).is_ok() {
                items
                    .into_iter()
                    .skip_while(|(i, _)| *i <= l.index)
                    .for_each(|(_, i)| f(i));
                self.keep(driver);
                return;
            }
        }
        self.keep(live);
    }

    fn keep(&mut self, d: Driver) {
        if d.quiescent() {
            self.last = Some(d);
        } else {
            self.live = Some(d);
        }
    }

    /// Ends the stream; says which events were cut short.
    pub fn finish(self, f: &mut dyn FnMut(AuditItem)) -> Cut {
        let d = self
            .live
            .or(self.last)
            .unwrap_or_else(|| Driver::new(&self.host));
        let mut out = Vec::new();
        let cut = d.finish(self.saw_eoe, &mut out);
        out.into_iter().for_each(f);
        cut
    }
}

/// The serial read: one driver through every chunk.
pub struct Serial {
    driver: Driver,
}

impl Serial {
    pub fn new(host: &str) -> Self {
        Self {
            driver: Driver::new(host),
        }
    }
    pub fn push(&mut self, chunk: &Chunk, f: &mut dyn FnMut(AuditItem)) {
        let mut buf = Vec::new();
        for l in chunk.lines(MAX_AUDIT_LINE) {
            self.driver.line(&l, &mut buf);
            buf.drain(..).for_each(|(_, i)| f(i));
        }
    }
    pub fn finish(self, f: &mut dyn FnMut(AuditItem)) -> Cut {
        let mut out = Vec::new();
        let cut = self.driver.finish(false, &mut out);
        out.into_iter().for_each(f);
        cut
    }
}
