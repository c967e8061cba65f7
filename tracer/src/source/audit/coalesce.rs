//! The coalescer: a state machine that groups records into events and turns
//! finished events into [`Event`]s.
//!
//! The kernel writes one event as several records (SYSCALL, EXECVE, CWD,
//! PATH..., PROCTITLE, EOE) sharing `msg=audit(TIME:SERIAL)`; records of
//! different events may interleave, and audit.log never says that an event
//! is over (auditd does not write EOE records to it; logs from before EOE
//! existed have none either). So an open event is keyed by (node, serial,
//! time) and closed:
//! - when its last part comes ([`PartialExec::complete`]: its SYSCALL, its
//!   `items=` PATH records, its CWD, every EXECVE argument), in any order;
//! - by its EOE record, where the input has them (the live netlink source,
//!   audisp streams);
//! - in ausearch's default output, by the `----` line after it
//!   ([`Coalescer::separator`]);
//! - at once, for record types that are whole events (login and other
//!   user-space records, auditd's own);
//! - when a record [`CoalescerConfig::timeout`] newer in event time arrives
//!   (ausearch's rule, with its 2 s default), or when
//!   [`CoalescerConfig::window`] records have passed without one for it;
//! - when more than [`CoalescerConfig::max_open`] events or
//!   [`CoalescerConfig::max_bytes`] bytes are open, oldest first, so memory is
//!   bounded whatever the input;
//! - by [`Coalescer::flush`] at the end of input or on shutdown, which says how
//!   many were cut short.
//!
//! Events closed together are emitted in the order they were opened, so the
//! output is a deterministic function of the input. Only records that matter
//! to an exec are kept (see [`super::exec`]); others are counted and dropped on
//! arrival.

use crate::hash::IntMap;
use std::collections::HashMap;
use std::time::Duration;

use serde::Serialize;

use super::exec::{ExecRecord, PartialExec};
use super::login::{is_login_type, LoginRec};
use super::parse::Record;
use super::rtype::RecordType;
use crate::event::{Event, Timestamp};

/// Most distinct `node=` names tracked; more share one bucket (named
/// [`TOO_MANY_NODES`]) rather than growing without bound.
const MAX_NODES: usize = 4096;
pub const TOO_MANY_NODES: &str = "(too many nodes)";

/// How the coalescer decides an event is over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoalescerConfig {
    /// Host name of records without a `node=` prefix.
    pub host: String,
    /// Close an event when a record this much newer (in event time) arrives.
    pub timeout: Duration,
    /// Close an event when this many records have passed without one for it.
    pub window: u64,
    /// Most events open at once.
    pub max_open: usize,
    /// Most bytes held by open events.
    pub max_bytes: usize,
    /// The input is ausearch's default output (it began with a `----`
    /// line): its `----` lines separate whole events, see
    /// [`Coalescer::separator`]. Other inputs' `----` lines mean nothing.
    pub ausearch_groups: bool,
}

impl Default for CoalescerConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            timeout: Duration::from_secs(2),
            window: 1024,
            max_open: 8192,
            max_bytes: 256 << 20,
            ausearch_groups: false,
        }
    }
}

/// Counters, for `tracer report`'s stats and the live source's health.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct CoalesceStats {
    /// Records pushed.
    pub records: u64,
    /// Records of types tracer does not use, dropped on arrival.
    pub ignored_records: u64,
    pub exec_events: u64,
    pub login_events: u64,
    /// Syscall events that were not execs.
    pub other_events: u64,
    /// Events closed by timeout or window rather than EOE.
    pub expired: u64,
    /// Events closed early to bound memory.
    pub evicted: u64,
    /// EOE records with no open event (its records were all of ignored types,
    /// or came after it was closed).
    pub unmatched_eoe: u64,
    /// Events still open at [`Coalescer::flush`].
    pub flushed: u64,
    /// Of those, how many were surely incomplete (see [`Coalescer::flush`]).
    pub incomplete: u64,
}

/// What the coalescer emits: an exec in its compact form (see
/// [`ExecRecord`]), or another event. Callers collect into a `Vec` of
/// anything `From<Coalesced>`: `Event` for the live source, the report's
/// reader keeps execs compact.
// Execs are the common case: boxing them would cost an allocation per exec;
// the rare logins are boxed instead.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Coalesced {
    Exec(ExecRecord),
    /// A login record, compact like execs (about as many as execs on a
    /// login node's log: PAM writes six or more per login and per sudo).
    Login(LoginRec),
    /// Anything else (losses): rare, boxed to keep the common variants small.
    Event(Box<Event>),
}

impl From<Coalesced> for Event {
    fn from(c: Coalesced) -> Event {
        match c {
            Coalesced::Exec(r) => r.to_event(),
            Coalesced::Login(l) => l.to_event(),
            Coalesced::Event(e) => *e,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    node: u32,
    serial: u64,
    time: i64,
}

#[derive(Debug)]
struct Slot {
    partial: PartialExec,
    /// Order of opening, for deterministic output.
    opened: u64,
    /// Record count when it last got a record.
    last_seen: u64,
    size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Close {
    Eoe,
    Expired,
    Evicted,
    Flushed,
}

/// Groups records into events; see the module docs.
#[derive(Debug)]
pub struct Coalescer {
    cfg: CoalescerConfig,
    nodes: HashMap<Box<[u8]>, u32>,
    /// Host names by node index; 0 is records without `node=`.
    hosts: Vec<String>,
    open: IntMap<Key, Slot>,
    records: u64,
    opened: u64,
    last_scan: u64,
    bytes: usize,
    saw_eoe: bool,
    /// The last events closed complete: their EOEs, if the input has them,
    /// come after them (stats only).
    last_complete: [Option<Key>; 8],
    next_complete: usize,
    stats: CoalesceStats,
}

impl Coalescer {
    pub fn new(cfg: CoalescerConfig) -> Self {
        let hosts = vec![cfg.host.clone()];
        Self {
            cfg,
            nodes: HashMap::new(),
            hosts,
            open: HashMap::default(),
            records: 0,
            opened: 0,
            last_scan: 0,
            bytes: 0,
            saw_eoe: false,
            last_complete: [None; 8],
            next_complete: 0,
            stats: CoalesceStats::default(),
        }
    }

    pub fn stats(&self) -> &CoalesceStats {
        &self.stats
    }

    /// Events currently open.
    pub fn open_events(&self) -> usize {
        self.open.len()
    }

    /// The serial and time of each open event, in the order they were
    /// opened: for naming, at the end of input, the events cut short.
    pub fn open_keys(&self) -> Vec<(u64, Timestamp)> {
        let mut v: Vec<(u64, u64, Timestamp)> = self
            .open
            .iter()
            .map(|(k, s)| (s.opened, k.serial, Timestamp(k.time)))
            .collect();
        v.sort_unstable_by_key(|x| x.0);
        v.into_iter().map(|(_, s, t)| (s, t)).collect()
    }

    /// Takes one record; appends the events it completes to `out`.
    pub fn push<O: From<Coalesced>>(&mut self, rec: &Record<'_>, out: &mut Vec<O>) {
        self.stats.records += 1;
        self.records += 1;
        let t = rec.rtype;
        if t == RecordType::EOE {
            self.saw_eoe = true;
            let key = self.key(rec);
            match self.open.remove(&key) {
                Some(slot) => self.close(key, slot, Close::Eoe, out),
                // The EOE of an event closed complete is not unmatched.
                None if self.last_complete.contains(&Some(key)) => {}
                None => self.stats.unmatched_eoe += 1,
            }
        } else if is_login_type(t) {
            let node = self.node_index(rec.node);
            out.push(O::from(Coalesced::Login(LoginRec::parse(
                rec,
                &self.hosts[node as usize],
            ))));
            self.stats.login_events += 1;
        } else if PartialExec::wants(t) {
            let key = self.key(rec);
            let records = self.records;
            let slot = self.open.entry(key).or_insert_with(|| {
                self.opened += 1;
                Slot {
                    partial: PartialExec::new(rec.time, rec.serial),
                    opened: self.opened,
                    last_seen: records,
                    size: 0,
                }
            });
            slot.last_seen = records;
            slot.partial.add(rec);
            let size = slot.partial.size();
            self.bytes = self.bytes - slot.size + size;
            slot.size = size;
            if slot.partial.complete() {
                // Its last part: close it now, as EOE would (see
                // `PartialExec::complete`).
                let slot = self.open.remove(&key).expect("open above");
                self.last_complete[self.next_complete % 8] = Some(key);
                self.next_complete += 1;
                self.close(key, slot, Close::Eoe, out);
            }
        } else {
            self.stats.ignored_records += 1;
        }
        self.maybe_scan(rec.time, out);
    }

    /// Closes events older than `now - timeout`: for a live source, call it
    /// now and then with the wall clock so a quiet system still gets its last
    /// events out.
    pub fn expire<O: From<Coalesced>>(&mut self, now: Timestamp, out: &mut Vec<O>) {
        self.scan(Some(now), false, out);
    }

    /// Closes every open event (end of input, shutdown) and returns how many
    /// were surely incomplete: when the input has EOE records, every event
    /// still open lacks its EOE; when it has none, nothing can tell, so 0.
    pub fn flush<O: From<Coalesced>>(&mut self, out: &mut Vec<O>) -> u64 {
        let mut all: Vec<(Key, Slot)> = self.open.drain().collect();
        all.sort_by_key(|(_, s)| s.opened);
        let n = all.len() as u64;
        for (key, slot) in all {
            self.close(key, slot, Close::Flushed, out);
        }
        let incomplete = if self.saw_eoe { n } else { 0 };
        self.stats.incomplete += incomplete;
        incomplete
    }

    /// `ausearch`'s `----` line between two events: every record of the
    /// event before it has been printed (ausearch groups records by event,
    /// in an order of its own: 3.0's default output puts EOE first), so the
    /// events open now are complete and close as if by EOE.
    /// Does nothing unless [`CoalescerConfig::ausearch_groups`].
    pub fn separator<O: From<Coalesced>>(&mut self, out: &mut Vec<O>) {
        if !self.cfg.ausearch_groups || self.open.is_empty() {
            return;
        }
        let mut all: Vec<(Key, Slot)> = self.open.drain().collect();
        all.sort_by_key(|(_, s)| s.opened);
        for (key, slot) in all {
            self.close(key, slot, Close::Eoe, out);
        }
    }

    /// Whether the event `rec` belongs to is open (a lookup only: it adds
    /// no `node=` name).
    pub fn is_open(&self, rec: &Record<'_>) -> bool {
        let node = match rec.node {
            None => 0,
            Some(n) => match self.nodes.get(n) {
                Some(&i) => i,
                None if self.nodes.len() >= MAX_NODES => {
                    match self.nodes.get(TOO_MANY_NODES.as_bytes()) {
                        Some(&i) => i,
                        None => return false,
                    }
                }
                None => return false,
            },
        };
        self.open.contains_key(&Key {
            node,
            serial: rec.serial,
            time: rec.time.0,
        })
    }

    fn key(&mut self, rec: &Record<'_>) -> Key {
        Key {
            node: self.node_index(rec.node),
            serial: rec.serial,
            time: rec.time.0,
        }
    }

    fn node_index(&mut self, node: Option<&[u8]>) -> u32 {
        let Some(node) = node else { return 0 };
        if let Some(&i) = self.nodes.get(node) {
            return i;
        }
        if self.nodes.len() >= MAX_NODES {
            if let Some(&i) = self.nodes.get(TOO_MANY_NODES.as_bytes()) {
                return i;
            }
            return self.add_node(TOO_MANY_NODES.as_bytes());
        }
        self.add_node(node)
    }

    fn add_node(&mut self, node: &[u8]) -> u32 {
        let i = self.hosts.len() as u32;
        self.hosts.push(String::from_utf8_lossy(node).into_owned());
        self.nodes.insert(node.into(), i);
        i
    }

    /// Runs [`Coalescer::scan`] every few records (more rarely when many
    /// events are open, to keep the cost per record constant), and at once
    /// when over a memory bound.
    fn maybe_scan<O: From<Coalesced>>(&mut self, now: Timestamp, out: &mut Vec<O>) {
        let over = self.open.len() > self.cfg.max_open || self.bytes > self.cfg.max_bytes;
        let interval = 1 + self.open.len() as u64 / 8;
        if over || self.records - self.last_scan >= interval {
            self.last_scan = self.records;
            self.scan(Some(now), true, out);
        }
    }

    fn scan<O: From<Coalesced>>(
        &mut self,
        now: Option<Timestamp>,
        by_window: bool,
        out: &mut Vec<O>,
    ) {
        if self.open.is_empty() {
            return;
        }
        let timeout = i64::try_from(self.cfg.timeout.as_nanos()).unwrap_or(i64::MAX);
        let records = self.records;
        let window = self.cfg.window;
        let stale = |s: &Slot| {
            now.is_some_and(|n| s.partial.time.0.saturating_add(timeout) < n.0)
                || (by_window && records - s.last_seen > window)
        };
        let mut done: Vec<(u64, Key, Close)> = self
            .open
            .iter()
            .filter(|(_, s)| stale(s))
            .map(|(k, s)| (s.opened, *k, Close::Expired))
            .collect();
        let left = self.open.len() - done.len();
        let bytes_left = self.bytes
            - done
                .iter()
                .map(|(_, k, _)| self.open[k].size)
                .sum::<usize>();
        if left > self.cfg.max_open || bytes_left > self.cfg.max_bytes {
            // Evict the least recently fed until under 3/4 of both bounds.
            let mut rest: Vec<(u64, u64, Key, usize)> = self
                .open
                .iter()
                .filter(|(_, s)| !stale(s))
                .map(|(k, s)| (s.last_seen, s.opened, *k, s.size))
                .collect();
            rest.sort_unstable_by_key(|r| (r.0, r.1));
            let (mut n, mut b) = (left, bytes_left);
            for (_, opened, key, size) in rest {
                if n <= self.cfg.max_open * 3 / 4 && b <= self.cfg.max_bytes / 4 * 3 {
                    break;
                }
                done.push((opened, key, Close::Evicted));
                n -= 1;
                b -= size;
            }
        }
        done.sort_unstable_by_key(|d| d.0);
        for (_, key, how) in done {
            if let Some(slot) = self.open.remove(&key) {
                self.close(key, slot, how, out);
            }
        }
    }

    fn close<O: From<Coalesced>>(&mut self, key: Key, slot: Slot, how: Close, out: &mut Vec<O>) {
        self.bytes -= slot.size;
        match how {
            Close::Eoe => {}
            Close::Expired => self.stats.expired += 1,
            Close::Evicted => self.stats.evicted += 1,
            Close::Flushed => self.stats.flushed += 1,
        }
        match slot.partial.finish_record(&self.hosts[key.node as usize]) {
            Some(e) => {
                self.stats.exec_events += 1;
                out.push(O::from(Coalesced::Exec(e)));
            }
            None => self.stats.other_events += 1,
        }
    }
}

#[cfg(test)]
#[path = "coalesce_tests.rs"]
mod tests;
