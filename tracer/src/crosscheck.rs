//! The eBPF/audit cross-check (`tracer run --backend both`, `tracer check`).
//!
//! Two independent witnesses see every exec: the eBPF programs and the
//! kernel's audit subsystem. Each exec seen by one is matched with the same
//! exec seen by the other: same pid, same outcome (success or failure), same
//! argv (the captured prefix, when eBPF truncated it), within `window` of event
//! time. What is left over when the window closes is reported as a
//! `discrepancy` record: `only_ebpf` or `only_audit`; matched pairs whose
//! attribution or context differ (auid, ses, uid, euid, argv, cwd) are
//! reported as `mismatch`. A leftover is marked `explained_by_loss` when the
//! other source counted a loss around that time: a known gap, not a blind spot.
//!
//! `exe` is not compared: the tracepoint gives the path as executed
//! (`/bin/echo`) while audit's SYSCALL record gives the resolved binary
//! (`/usr/bin/echo` on merged-/usr systems).
//!
//! Output policy: eBPF events pass through at once (they are the primary
//! stream). Audit events are held until matched (then dropped: the eBPF copy
//! is in the log) or expired (then written, with their discrepancy record),
//! so the log has every exec exactly once.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use serde_json::json;

use crate::bytes::Bytes;
use crate::event::{Event, Kind, Source, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckStats {
    pub matched: u64,
    pub only_ebpf: u64,
    pub only_audit: u64,
    pub mismatched: u64,
    /// Leftovers explained by a counted loss of the other source.
    pub explained_by_loss: u64,
}

impl CheckStats {
    /// Discrepancies not explained by a counted loss.
    pub fn unexplained(&self) -> u64 {
        self.only_ebpf + self.only_audit + self.mismatched - self.explained_by_loss
    }
}

pub struct CrossCheck {
    window_ns: i64,
    ebpf: HashMap<u32, VecDeque<Event>>,
    audit: HashMap<u32, VecDeque<Event>>,
    pending: usize,
    max_pending: usize,
    /// (time, source) of counted losses, kept for one window.
    losses: VecDeque<(Timestamp, Source)>,
    stats: CheckStats,
}

impl CrossCheck {
    pub fn new(window: std::time::Duration) -> Self {
        Self {
            window_ns: window.as_nanos() as i64,
            ebpf: HashMap::new(),
            audit: HashMap::new(),
            pending: 0,
            max_pending: 200_000,
            losses: VecDeque::new(),
            stats: CheckStats::default(),
        }
    }

    pub fn stats(&self) -> CheckStats {
        self.stats
    }

    /// Feeds one event from either source; pushes what is to be written.
    pub fn observe(&mut self, ev: Event, out: &mut Vec<Event>) {
        if ev.kind == Kind::Loss {
            self.losses.push_back((ev.time, ev.source));
            out.push(ev);
            return;
        }
        if !ev.is_exec() || !matches!(ev.source, Source::Ebpf | Source::Audit) {
            out.push(ev);
            return;
        }
        let Some(pid) = ev.pid else {
            out.push(ev);
            return;
        };
        let from_ebpf = ev.source == Source::Ebpf;
        let other = if from_ebpf { &mut self.audit } else { &mut self.ebpf };
        let mut found = None;
        if let Some(q) = other.get_mut(&pid) {
            if let Some(i) = q.iter().position(|o| same_exec(o, &ev)) {
                found = q.remove(i);
            }
            if q.is_empty() {
                other.remove(&pid);
            }
        }
        match found {
            Some(o) => {
                self.pending -= 1;
                self.stats.matched += 1;
                let (e, a) = if from_ebpf { (&ev, &o) } else { (&o, &ev) };
                if let Some(d) = mismatch(e, a) {
                    self.stats.mismatched += 1;
                    out.push(d);
                }
                if from_ebpf {
                    out.push(ev);
                }
            }
            None => {
                if from_ebpf {
                    out.push(ev.clone());
                }
                let own = if from_ebpf { &mut self.ebpf } else { &mut self.audit };
                own.entry(pid).or_default().push_back(ev);
                self.pending += 1;
                if self.pending > self.max_pending {
                    // Bounded: expire the oldest early rather than grow.
                    let oldest = self.oldest_time().unwrap_or(Timestamp(0));
                    self.expire(Timestamp(oldest.0 + self.window_ns), out);
                }
            }
        }
    }

    fn oldest_time(&self) -> Option<Timestamp> {
        self.ebpf
            .values()
            .chain(self.audit.values())
            .filter_map(|q| q.front().map(|e| e.time))
            .min()
    }

    /// Closes the window on everything older than `now - window`.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        let limit = now.0 - self.window_ns;
        let mut gone = Vec::new();
        for (map, _src) in [(&mut self.ebpf, Source::Ebpf), (&mut self.audit, Source::Audit)] {
            map.retain(|_, q| {
                while q.front().is_some_and(|e| e.time.0 < limit) {
                    gone.push(q.pop_front().expect("checked"));
                }
                !q.is_empty()
            });
        }
        gone.sort_by_key(|e| e.time);
        for ev in gone {
            self.pending -= 1;
            let from_ebpf = ev.source == Source::Ebpf;
            let other = if from_ebpf { Source::Audit } else { Source::Ebpf };
            let explained = self
                .losses
                .iter()
                .any(|(t, s)| *s == other && (t.0 - ev.time.0).abs() <= 2 * self.window_ns);
            if from_ebpf {
                self.stats.only_ebpf += 1;
            } else {
                self.stats.only_audit += 1;
            }
            if explained {
                self.stats.explained_by_loss += 1;
            }
            let mut d = discrepancy(&ev, if from_ebpf { "only_ebpf" } else { "only_audit" });
            d.detail.as_mut().expect("set")["explained_by_loss"] = explained.into();
            out.push(d);
            if !from_ebpf {
                out.push(ev);
            }
        }
        while self.losses.front().is_some_and(|(t, _)| t.0 < limit - 2 * self.window_ns) {
            self.losses.pop_front();
        }
    }

    /// Ends the check: everything still pending is a leftover.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        self.expire(Timestamp(i64::MAX), out);
    }
}

/// The captured argv of `a` is a prefix of (or equal to) `b`'s, or vice versa
/// when `b` is the truncated one.
fn argv_agrees(a: &Event, b: &Event) -> bool {
    let (Some(x), Some(y)) = (&a.argv, &b.argv) else {
        return a.argv.is_none() && b.argv.is_none();
    };
    if x == y {
        return true;
    }
    let prefix = |short: &Vec<Bytes>, long: &Vec<Bytes>| {
        short.len() <= long.len()
            && short.iter().zip(long).enumerate().all(|(i, (s, l))| {
                s == l || (i + 1 == short.len() && l.0.starts_with(&s.0))
            })
    };
    (a.truncated && prefix(x, y)) || (b.truncated && prefix(y, x))
}

fn same_exec(a: &Event, b: &Event) -> bool {
    a.kind == b.kind && argv_agrees(a, b)
}

fn mismatch(e: &Event, a: &Event) -> Option<Event> {
    let mut fields = serde_json::Map::new();
    let mut cmp = |name: &str, x: serde_json::Value, y: serde_json::Value| {
        if x != y {
            fields.insert(name.into(), json!({"ebpf": x, "audit": y}));
        }
    };
    cmp("auid", json!(e.auid), json!(a.auid));
    cmp("ses", json!(e.ses), json!(a.ses));
    cmp("uid", json!(e.uid), json!(a.uid));
    cmp("euid", json!(e.euid), json!(a.euid));
    if e.cwd.is_some() && a.cwd.is_some() {
        cmp("cwd", json!(e.cwd), json!(a.cwd));
    }
    if fields.is_empty() {
        return None;
    }
    let mut d = discrepancy(e, "mismatch");
    d.detail.as_mut().expect("set")["fields"] = fields.into();
    Some(d)
}

fn discrepancy(ev: &Event, what: &str) -> Event {
    let mut d = Event::new(Kind::Discrepancy, Source::Tracer, ev.time, ev.host.clone());
    d.pid = ev.pid;
    d.auid = ev.auid;
    d.ses = ev.ses;
    d.uid = ev.uid;
    d.exe = ev.exe.clone();
    d.argv = ev.argv.clone();
    d.serial = ev.serial;
    d.detail = Some(json!({"kind": what, "seen_by": ev.source}));
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ex(src: Source, t: i64, pid: u32, argv: &[&str]) -> Event {
        let mut e = Event::new(Kind::Exec, src, Timestamp(t * 1_000_000), "h");
        e.pid = Some(pid);
        e.auid = Some(1000);
        e.ses = Some(3);
        e.uid = Some(1000);
        e.euid = Some(1000);
        e.cwd = Some(Bytes::from("/home/a"));
        e.argv = Some(argv.iter().map(|a| Bytes::from(*a)).collect());
        e
    }

    fn kinds(out: &[Event]) -> Vec<String> {
        out.iter()
            .map(|e| match e.kind {
                Kind::Discrepancy => e.detail.as_ref().unwrap()["kind"].as_str().unwrap().to_string(),
                k => format!("{}:{:?}", k.as_str(), e.source),
            })
            .collect()
    }

    #[test]
    fn matched_pairs_write_the_ebpf_copy_once() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        c.observe(ex(Source::Audit, 1, 10, &["ls"]), &mut out);
        c.observe(ex(Source::Ebpf, 2, 10, &["ls"]), &mut out);
        c.observe(ex(Source::Ebpf, 3, 11, &["id"]), &mut out);
        c.observe(ex(Source::Audit, 4, 11, &["id"]), &mut out);
        c.flush(&mut out);
        assert_eq!(kinds(&out), vec!["exec:Ebpf", "exec:Ebpf"]);
        assert_eq!(c.stats().matched, 2);
        assert_eq!(c.stats().unexplained(), 0);
    }

    #[test]
    fn leftovers_become_discrepancies() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        c.observe(ex(Source::Ebpf, 1_000, 10, &["hidden"]), &mut out);
        c.observe(ex(Source::Audit, 1_000, 12, &["audit-only"]), &mut out);
        c.expire(Timestamp(2_000 * 1_000_000), &mut out);
        assert_eq!(kinds(&out), vec!["exec:Ebpf"], "nothing expires inside the window");
        c.expire(Timestamp(4_000 * 1_000_000), &mut out);
        assert_eq!(
            kinds(&out),
            vec!["exec:Ebpf", "only_ebpf", "only_audit", "exec:Audit"]
        );
        let s = c.stats();
        assert_eq!((s.only_ebpf, s.only_audit, s.unexplained()), (1, 1, 2));
    }

    #[test]
    fn a_loss_on_the_other_side_explains_a_leftover() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        let mut loss = Event::new(Kind::Loss, Source::Audit, Timestamp(1_500 * 1_000_000), "h");
        loss.count = Some(5);
        c.observe(ex(Source::Ebpf, 1_000, 10, &["x"]), &mut out);
        c.observe(loss, &mut out);
        c.flush(&mut out);
        let d = out.iter().find(|e| e.kind == Kind::Discrepancy).unwrap();
        assert_eq!(d.detail.as_ref().unwrap()["explained_by_loss"], true);
        assert_eq!(c.stats().unexplained(), 0);
    }

    #[test]
    fn field_disagreements_are_reported() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        let mut a = ex(Source::Audit, 1, 10, &["ls"]);
        a.ses = Some(4);
        a.cwd = Some(Bytes::from("/tmp"));
        c.observe(a, &mut out);
        c.observe(ex(Source::Ebpf, 1, 10, &["ls"]), &mut out);
        let d = out.iter().find(|e| e.kind == Kind::Discrepancy).unwrap();
        let f = &d.detail.as_ref().unwrap()["fields"];
        assert_eq!(f["ses"], json!({"ebpf": 3, "audit": 4}));
        assert_eq!(f["cwd"], json!({"ebpf": "/home/a", "audit": "/tmp"}));
        assert!(f.get("auid").is_none());
        assert_eq!(c.stats().mismatched, 1);
    }

    #[test]
    fn truncated_argv_matches_its_prefix_and_outcomes_must_agree() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        let mut e = ex(Source::Ebpf, 1, 10, &["cmd", "aaaa", "bb"]);
        e.truncated = true;
        c.observe(ex(Source::Audit, 1, 10, &["cmd", "aaaa", "bbbbbb", "c"]), &mut out);
        c.observe(e, &mut out);
        assert_eq!(c.stats().matched, 1);
        let mut f = ex(Source::Ebpf, 2, 11, &["x"]);
        f.kind = Kind::ExecFailed;
        c.observe(ex(Source::Audit, 2, 11, &["x"]), &mut out);
        c.observe(f, &mut out);
        assert_eq!(c.stats().matched, 1, "a failure does not match a success");
    }
}
