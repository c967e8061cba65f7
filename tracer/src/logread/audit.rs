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
use crate::hash::IntMap;
use crate::source::audit::coalesce::{Coalesced, Coalescer, CoalescerConfig};
use crate::source::audit::exec::ExecRecord;
use crate::source::audit::exec::PartialExec;
use crate::source::audit::login::LoginRec;
use crate::source::audit::parse::parse_line;
use crate::source::audit::reader::DEFAULT_MAX_LINE;
use crate::source::audit::RecordType;

use super::chunk::{Chunk, ChunkLine, Work};

/// The longest audit line kept, without its newline (the serial reader's
/// limit counts the newline).
pub const MAX_AUDIT_LINE: usize = DEFAULT_MAX_LINE - 1;

/// What reading audit lines yields, in order.
// Events are the common case and bad lines rare: boxing the event to even out
// the sizes would cost an allocation per event for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum AuditItem {
    /// An exec, compact: the report reads it borrowed, without an `Event`.
    Exec(ExecRecord),
    /// A login record, compact in the same way.
    Login(LoginRec),
    /// Any other event (rare, boxed to keep items small).
    Event(Box<Event>),
    /// A line that is not a record: (stream line number, why).
    Bad(u64, String),
}

impl From<Coalesced> for AuditItem {
    fn from(c: Coalesced) -> Self {
        match c {
            Coalesced::Exec(r) => AuditItem::Exec(r),
            Coalesced::Login(l) => AuditItem::Login(l),
            Coalesced::Event(e) => AuditItem::Event(e),
        }
    }
}

/// The coalescer, fed line by line, remembering where open events started.
pub struct Driver {
    coalescer: Coalescer,
    scratch: Vec<Coalesced>,
    /// Line of the first record of each event opened since the last
    /// quiescent point, by (serial, time).
    first_line: IntMap<(u64, i64), u64>,
    saw_eoe: bool,
    /// A worker's warm-up ([`Driver::warming`]): `Some(lines left)` until
    /// it has read that many record lines and then found no event open.
    warm: Option<u32>,
    /// The warm-up left out a record.
    dropped: bool,
}

/// How many record lines a worker's driver warms up on; see
/// [`Driver::warming`].
const WARMUP_LINES: u32 = 64;

impl Driver {
    /// A driver naming records without `node=` as `host`; `groups`: the
    /// input is ausearch's default output (see
    /// [`CoalescerConfig::ausearch_groups`]).
    pub fn new(host: &str, groups: bool) -> Self {
        Self {
            coalescer: Coalescer::new(CoalescerConfig {
                host: host.to_owned(),
                ausearch_groups: groups,
                ..CoalescerConfig::default()
            }),
            scratch: Vec::new(),
            first_line: HashMap::default(),
            saw_eoe: false,
            warm: None,
            dropped: false,
        }
    }

    /// A driver that starts in the middle of a stream, for speculation.
    /// An event that began before the chunk shows up as the tail of its
    /// records (no SYSCALL: the kernel writes it first), which a fresh
    /// driver would hold open as an orphan that never completes, so that
    /// it is not quiescent again for a whole window of records. For its
    /// first `lines` record lines, and until it is next quiescent, such a
    /// driver leaves out the records of events not open that are not a
    /// SYSCALL (noting that it did, [`Driver::dropped`]); from then on it
    /// reads as any driver. Its quiescent points count only from then on
    /// ([`Driver::warm`]).
    pub fn warming(mut self, lines: u32) -> Self {
        self.warm = Some(lines);
        self
    }

    /// Still warming up: its state may differ from a serial read's.
    pub fn warm(&self) -> bool {
        self.warm.is_some()
    }

    /// The warm-up left records out: its events before its first quiescent
    /// point are not the serial read's.
    pub fn dropped(&self) -> bool {
        self.dropped
    }

    /// Ends the warm-up (a driver kept as the true one, which left nothing
    /// out).
    fn settle(&mut self) {
        self.warm = None;
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
        if text.starts_with(b"----") {
            // In ausearch output, the events before it are whole.
            self.coalescer.separator(&mut self.scratch);
            out.extend(
                self.scratch
                    .drain(..)
                    .map(|e| (l.index, AuditItem::from(e))),
            );
            if self.quiescent() {
                self.first_line.clear();
            }
            return;
        }
        if text.is_empty() || text.starts_with(b"time->") {
            return;
        }
        match parse_line(l.text) {
            Ok(rec) => {
                if let Some(left) = self.warm {
                    let orphan = rec.rtype != RecordType::SYSCALL
                        && PartialExec::wants(rec.rtype)
                        && !self.coalescer.is_open(&rec);
                    self.warm = Some(left.saturating_sub(1));
                    if orphan {
                        self.dropped = true;
                        if left <= 1 && self.quiescent() {
                            self.warm = None;
                        }
                        return;
                    }
                }
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
                        .map(|e| (l.index, AuditItem::from(e))),
                );
                if self.quiescent() && !self.first_line.is_empty() {
                    self.first_line.clear();
                }
                if self.warm == Some(0) && self.quiescent() {
                    self.warm = None;
                }
            }
            Err(e) => out.push((l.index, AuditItem::Bad(l.number, e.to_string()))),
        }
    }

    /// Ends the stream: the events still open come out (as the serial reader
    /// flushes them), and the lines where those that were surely cut short
    /// began. `saw_eoe` says whether the stream had EOE records anywhere:
    /// without them nothing tells a finished event from a cut one. In
    /// ausearch output the last event is whole too (no `----` follows it).
    pub fn finish(mut self, saw_eoe: bool, out: &mut Vec<AuditItem>) -> Cut {
        self.coalescer.separator(&mut self.scratch);
        let keys = self.coalescer.open_keys();
        self.coalescer.flush(&mut self.scratch);
        out.extend(self.scratch.drain(..).map(AuditItem::from));
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
    /// The driver at the end of the chunk (taken by [`Merge::push`]).
    pub driver: Option<Driver>,
    pub saw_eoe: bool,
    /// The warm-up left records out ([`Driver::dropped`]).
    pub dropped: bool,
}

/// The workers' job on audit chunks.
pub struct AuditWork {
    pub host: String,
    /// ausearch output (see [`CoalescerConfig::ausearch_groups`]).
    pub groups: bool,
}

impl Work for AuditWork {
    type Out = AuditOut;
    fn work(&self, chunk: Chunk) -> AuditOut {
        let mut d = Driver::new(&self.host, self.groups).warming(WARMUP_LINES);
        let mut items = Vec::new();
        let mut quiescent = Vec::new();
        for l in chunk.lines(MAX_AUDIT_LINE) {
            d.line(&l, &mut items);
            if d.quiescent() && !d.warm() {
                quiescent.push(l.index);
            }
        }
        let (saw_eoe, dropped) = (d.saw_eoe, d.dropped());
        AuditOut {
            chunk,
            items,
            quiescent,
            driver: Some(d),
            saw_eoe,
            dropped,
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
    groups: bool,
    /// Lines read by the true driver rather than taken from a speculation.
    pub replayed_lines: u64,
}

impl Merge {
    pub fn new(host: &str, groups: bool) -> Self {
        Self {
            host: host.to_owned(),
            live: None,
            last: None,
            saw_eoe: false,
            groups,
            replayed_lines: 0,
        }
    }

    /// Takes the next chunk's result, handing its items to `f` in order.
    /// The items are lent, not taken: the result is dropped by the worker
    /// that made it (see [`super::chunk::run`]).
    pub fn push(&mut self, out: &mut AuditOut, f: &mut dyn FnMut(&AuditItem)) {
        self.saw_eoe |= out.saw_eoe;
        let driver = out.driver.take();
        // The speculation started from the true state when the chunk before
        // ended quiescent; it is the serial read's if its warm-up left
        // nothing out (which happens only where a log's events do not begin
        // with their SYSCALL).
        let live = match self.live.take() {
            Some(l) => Some(l),
            None if out.dropped => Some(
                self.last
                    .take()
                    .unwrap_or_else(|| Driver::new(&self.host, self.groups)),
            ),
            None => None,
        };
        let Some(mut live) = live else {
            out.items.iter().for_each(|(_, i)| f(i));
            if let Some(d) = driver {
                self.keep(d);
            }
            return;
        };
        let mut buf = Vec::new();
        for l in out.chunk.lines(MAX_AUDIT_LINE) {
            self.replayed_lines += 1;
            live.line(&l, &mut buf);
            buf.drain(..).for_each(|(_, i)| f(&i));
            if live.quiescent() && out.quiescent.binary_search(&l.index).is_ok() {
                out.items
                    .iter()
                    .skip_while(|(i, _)| *i <= l.index)
                    .for_each(|(_, i)| f(i));
                if let Some(d) = driver {
                    self.keep(d);
                }
                return;
            }
        }
        self.keep(live);
    }

    fn keep(&mut self, mut d: Driver) {
        d.settle();
        if d.quiescent() {
            self.last = Some(d);
        } else {
            self.live = Some(d);
        }
    }

    /// Ends the stream; says which events were cut short.
    pub fn finish(self, f: &mut dyn FnMut(&AuditItem)) -> Cut {
        let d = self
            .live
            .or(self.last)
            .unwrap_or_else(|| Driver::new(&self.host, self.groups));
        let mut out = Vec::new();
        let cut = d.finish(self.saw_eoe, &mut out);
        out.iter().for_each(f);
        cut
    }
}

/// The serial read: one driver through every chunk.
pub struct Serial {
    driver: Driver,
}

impl Serial {
    pub fn new(host: &str, groups: bool) -> Self {
        Self {
            driver: Driver::new(host, groups),
        }
    }
    pub fn push(&mut self, chunk: &Chunk, f: &mut dyn FnMut(&AuditItem)) {
        let mut buf = Vec::new();
        for l in chunk.lines(MAX_AUDIT_LINE) {
            self.driver.line(&l, &mut buf);
            buf.drain(..).for_each(|(_, i)| f(&i));
        }
    }
    pub fn finish(self, f: &mut dyn FnMut(&AuditItem)) -> Cut {
        let mut out = Vec::new();
        let cut = self.driver.finish(false, &mut out);
        out.iter().for_each(f);
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logread::chunk::{self, ChunkOpts};
    use crate::source::audit::reader::{AuditLogReader, ReadItem};
    use proptest::prelude::*;

    /// The original serial reader's items and cut count: the truth.
    fn reference(input: &[u8]) -> (Vec<AuditItem>, u64) {
        let mut cfg = crate::source::audit::ReaderConfig::new("h");
        cfg.coalescer.ausearch_groups = groups(input);
        let mut r = AuditLogReader::with_config(input, cfg);
        let items = r
            .by_ref()
            .map(|i| match i.unwrap() {
                ReadItem::Event(e) => AuditItem::Event(Box::new(e)),
                ReadItem::BadLine(b) => AuditItem::Bad(b.line, b.reason),
            })
            .collect();
        (items, r.stats().incomplete)
    }

    struct Keep;
    impl Work for Keep {
        type Out = Chunk;
        fn work(&self, c: Chunk) -> Chunk {
            c
        }
    }

    /// Execs as the owned events the reference reader gives.
    fn owned(i: &AuditItem) -> AuditItem {
        match i {
            AuditItem::Exec(r) => AuditItem::Event(Box::new(r.to_event())),
            AuditItem::Login(l) => AuditItem::Event(Box::new(l.to_event())),
            other => other.clone(),
        }
    }

    /// As `report` decides: ausearch output begins with `----`.
    fn groups(input: &[u8]) -> bool {
        crate::logread::open::begins_with_separator(input)
    }

    fn chunked(input: &[u8], threads: usize, chunk_bytes: usize) -> (Vec<AuditItem>, Cut) {
        let groups = groups(input);
        let opts = ChunkOpts {
            threads,
            chunk_bytes,
            max_line: MAX_AUDIT_LINE,
        };
        let mut items = Vec::new();
        let cut = if threads <= 1 {
            let mut s = Serial::new("h", groups);
            chunk::run(input, opts, &Keep, &mut |c| {
                s.push(c, &mut |i| items.push(owned(i)))
            })
            .unwrap();
            s.finish(&mut |i| items.push(owned(i)))
        } else {
            let mut m = Merge::new("h", groups);
            let w = AuditWork {
                host: "h".into(),
                groups,
            };
            chunk::run(input, opts, &w, &mut |o| {
                m.push(o, &mut |i| items.push(owned(i)))
            })
            .unwrap();
            m.finish(&mut |i| items.push(owned(i)))
        };
        (items, cut)
    }

    /// One record of event `serial` at `secs`: an exec's records, a login
    /// record, junk, or a separator.
    fn line(kind: u8, serial: u64, secs: u64, node: bool) -> String {
        let h = format!(
            "{}type={{}} msg=audit({secs}.{:03}:{serial}): ",
            if node { "node=n1 " } else { "" },
            serial % 1000
        );
        let t = |ty: &str| h.replace("{}", ty);
        match kind % 12 {
            0 => t("SYSCALL") + "arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=1 pid=2 auid=1000 uid=1000 gid=1000 euid=1000 ses=3 tty=pts0 comm=\"ls\" exe=\"/usr/bin/ls\"\u{1d}AUID=\"alice\"",
            1 => t("EXECVE") + "argc=2 a0=\"ls\" a1=2D6C61",
            2 => t("CWD") + "cwd=\"/home/alice\"",
            3 => t("PATH") + "item=0 name=\"/usr/bin/ls\" inode=1 nametype=NORMAL",
            4 => t("PROCTITLE") + "proctitle=6C73002D6C61",
            5 | 6 => t("EOE"),
            7 => t("USER_LOGIN") + "pid=5 uid=0 auid=1000 ses=3 msg='op=login id=1000 exe=\"/usr/sbin/sshd\" addr=10.0.0.1 terminal=/dev/pts/0 res=success'",
            8 => t("SYSCALL") + "arch=c000003e syscall=2 success=yes exit=3 items=1 ppid=1 pid=2 auid=1000 uid=1000 ses=3",
            9 => "not an audit record".into(),
            10 => "----".into(),
            _ => t("BPRM_FCAPS") + "fver=2 fp=0000000000002000",
        }
    }

    fn input_of(plan: &[(u8, u8, u8, bool)]) -> Vec<u8> {
        // Serials come from a small window, so records of neighbouring
        // events interleave; time jumps now and then (expiry by timeout).
        let mut out = String::new();
        let mut base = 100u64;
        let mut secs = 1_700_000_000u64;
        for &(kind, off, jump, node) in plan {
            if jump > 250 {
                secs += 3;
            }
            if kind % 12 == 5 {
                base += 1;
            }
            let serial = base + u64::from(off % 4);
            out.push_str(&line(kind, serial, secs, node));
            out.push('\n');
        }
        out.into_bytes()
    }

    proptest! {
        // A fixed seed: the same cases on every run and in CI; change it
        // locally to explore more.
        #![proptest_config(ProptestConfig {
            cases: 200,
            rng_seed: proptest::test_runner::RngSeed::Fixed(0x14_ad_17),
            ..ProptestConfig::default()
        })]
        /// Chunked reading, serial or on several threads, with any chunk
        /// size, yields exactly the serial reader's events, bad lines and
        /// cut count.
        #[test]
        fn chunked_reading_is_the_serial_read(
            plan in proptest::collection::vec((any::<u8>(), any::<u8>(), any::<u8>(), proptest::bool::weighted(0.1)), 0..300),
            threads in 1usize..5,
            chunk_bytes in 1usize..4096,
            cut_tail in 0usize..40,
        ) {
            let mut input = input_of(&plan);
            // Sometimes the file stops in the middle of its last line.
            let keep = input.len().saturating_sub(cut_tail % 2 * cut_tail);
            input.truncate(keep);
            let (want, incomplete) = reference(&input);
            let (got, cut) = chunked(&input, threads, chunk_bytes);
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(cut.events, incomplete);
            prop_assert_eq!(cut.lines.len() as u64, cut.events);
        }
    }

    #[test]
    fn cut_events_are_named_by_their_first_line() {
        let input =
            b"type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=2\n\
type=EOE msg=audit(1.000:1): \n\
type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=59 success=yes exit=0 pid=3\n\
type=CWD msg=audit(1.000:2): cwd=\"/\"\n";
        for threads in [1, 2] {
            for chunk in [1, 10, 1000] {
                let (_, cut) = chunked(input, threads, chunk);
                assert_eq!(
                    cut,
                    Cut {
                        events: 1,
                        lines: vec![3]
                    },
                    "{threads} {chunk}"
                );
            }
        }
    }

    #[test]
    fn ausearch_groups_are_whole_events() {
        // ausearch 3.0's default output: `----` and `time->` before each
        // event, its records EOE first. Each group is one whole event, the
        // last one too, though no `----` follows it.
        let input = b"----\n\
time->Thu Nov 14 10:00:00 2023\n\
type=EOE msg=audit(1.000:1): \n\
type=CWD msg=audit(1.000:1): cwd=\"/tmp\"\n\
type=EXECVE msg=audit(1.000:1): argc=1 a0=\"ls\"\n\
type=SYSCALL msg=audit(1.000:1): arch=c000003e syscall=59 success=yes exit=0 pid=2\n\
----\n\
time->Thu Nov 14 10:00:01 2023\n\
type=EOE msg=audit(1.000:2): \n\
type=EXECVE msg=audit(1.000:2): argc=1 a0=\"id\"\n\
type=SYSCALL msg=audit(1.000:2): arch=c000003e syscall=59 success=yes exit=0 pid=3\n";
        let (want, incomplete) = reference(input);
        assert_eq!(incomplete, 0);
        let cwd = |i: &AuditItem| match i {
            AuditItem::Event(e) => e.exec().and_then(|x| x.cwd.clone()),
            _ => None,
        };
        assert_eq!(want.len(), 2, "{want:?}");
        assert_eq!(cwd(&want[0]).map(|c| c.0), Some(b"/tmp".to_vec()));
        for threads in [1, 2] {
            for chunk in [1, 30, 1000] {
                let (got, cut) = chunked(input, threads, chunk);
                assert_eq!(got, want, "{threads} {chunk}");
                assert_eq!(cut, Cut::default(), "{threads} {chunk}");
            }
        }
    }

    #[test]
    fn logs_without_eoe_are_read_in_parallel() {
        // audit.log as auditd writes it: no EOE; records of two events at a
        // time interleaved. Events close at their last part, so chunks are
        // quiescent a few records from their start and the speculation is
        // taken: little is replayed by the true driver.
        let mut text = String::new();
        let rec = |ty: &str, s: u64, body: &str| {
            format!(
                "type={ty} msg=audit(1700000000.{:03}:{s}): {body}\n",
                s % 1000
            )
        };
        for pair in 0..2000u64 {
            let (a, b) = (2 * pair + 1, 2 * pair + 2);
            for s in [a, b] {
                text += &rec("SYSCALL", s, &format!("arch=c000003e syscall=59 success=yes exit=0 items=1 ppid=1 pid={s} auid=1000 uid=1000 ses=3 comm=\"ls\" exe=\"/usr/bin/ls\""));
            }
            for s in [a, b] {
                text += &rec("EXECVE", s, "argc=1 a0=\"ls\"");
                text += &rec("CWD", s, "cwd=\"/home/alice\"");
            }
            for s in [b, a] {
                text += &rec("PATH", s, "item=0 name=\"/usr/bin/ls\" nametype=NORMAL");
                text += &rec("PROCTITLE", s, "proctitle=6C73");
            }
        }
        let input = text.as_bytes();
        let (want, incomplete) = reference(input);
        assert_eq!(want.len(), 4000);
        assert_eq!(incomplete, 0);
        let opts = ChunkOpts {
            threads: 2,
            chunk_bytes: 32 << 10,
            max_line: MAX_AUDIT_LINE,
        };
        let mut m = Merge::new("h", false);
        let w = AuditWork {
            host: "h".into(),
            groups: false,
        };
        let mut got = Vec::new();
        chunk::run(input, opts, &w, &mut |o| {
            m.push(o, &mut |i| got.push(owned(i)))
        })
        .unwrap();
        let replayed = m.replayed_lines;
        m.finish(&mut |i| got.push(owned(i)));
        assert_eq!(got, want);
        let lines = text.lines().count() as u64;
        // About the warm-up's lines a chunk (its first records are the
        // serial read's, replayed), not the whole chunk.
        assert!(replayed * 4 < lines, "{replayed} of {lines} lines replayed");
    }
}
