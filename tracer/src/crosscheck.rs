//! The eBPF/audit cross-check (`tracer run --backend both`, `tracer check`).
//!
//! Two independent witnesses see every exec: the eBPF programs and the
//! kernel's audit subsystem. Each exec seen by one is matched with the same
//! exec seen by the other: same pid, same outcome (success or failure), same
//! argv (the captured prefix, when eBPF truncated it), within `window` of event
//! time. The window closes on an exec when the *other* source's stream has
//! moved `window` past it (its watermark: the newest event time it delivered,
//! or "now" while it is idle), so a source that lags behind real time under
//! load delays the verdict instead of producing false leftovers; a hard
//! timeout bounds the wait. What is left over when the window closes is
//! reported as a
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
use crate::event::{Body, Discrepancy, DiscrepancyKind, Event, FieldDiff, Kind, Source, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CheckStats {
    pub matched: u64,
    pub only_ebpf: u64,
    pub only_audit: u64,
    pub mismatched: u64,
    /// Leftovers explained by a counted loss of the other source.
    pub explained_by_loss: u64,
    /// Leftovers from the last second before shutdown: the two sources stop
    /// at slightly different instants, so an exec in between is one-sided.
    pub at_shutdown: u64,
}

impl CheckStats {
    /// Discrepancies not explained by a counted loss.
    pub fn unexplained(&self) -> u64 {
        (self.only_ebpf + self.only_audit + self.mismatched)
            .saturating_sub(self.explained_by_loss + self.at_shutdown)
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
    /// Newest event time delivered by eBPF and by audit.
    wm_ebpf: i64,
    wm_audit: i64,
    /// Wall-clock limit on waiting for the other source.
    hard_timeout_ns: i64,
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
            wm_ebpf: 0,
            wm_audit: 0,
            hard_timeout_ns: 60_000_000_000,
        }
    }

    /// Says that `source` has delivered everything up to `t` (call on each
    /// tick with `now - 1 s` for a source that delivered nothing since the
    /// previous tick: an idle source is not lagging).
    pub fn advance(&mut self, source: Source, t: Timestamp) {
        match source {
            Source::Ebpf => self.wm_ebpf = self.wm_ebpf.max(t.0),
            Source::Audit => self.wm_audit = self.wm_audit.max(t.0),
            _ => {}
        }
    }

    pub fn stats(&self) -> CheckStats {
        self.stats
    }

    /// Feeds one event from either source; pushes what is to be written.
    pub fn observe(&mut self, ev: Event, out: &mut Vec<Event>) {
        self.advance(ev.source, ev.time);
        if ev.kind() == Kind::Loss {
            self.losses.push_back((ev.time, ev.source));
            out.push(ev);
            return;
        }
        if !ev.is_exec() || !matches!(ev.source, Source::Ebpf | Source::Audit) {
            out.push(ev);
            return;
        }
        let Some(pid) = ev.task.pid else {
            out.push(ev);
            return;
        };
        let from_ebpf = ev.source == Source::Ebpf;
        let other = if from_ebpf {
            &mut self.audit
        } else {
            &mut self.ebpf
        };
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
                let own = if from_ebpf {
                    &mut self.ebpf
                } else {
                    &mut self.audit
                };
                own.entry(pid).or_default().push_back(ev);
                self.pending += 1;
                if self.pending > self.max_pending {
                    // Bounded: close the oldest early rather than grow.
                    let oldest = self.oldest_time().map_or(0, |t| t.0);
                    self.close(oldest + 1, oldest + 1, None, out);
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

    /// Closes the window on every exec the other source has moved `window`
    /// past, or that waited longer than the hard timeout.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        let hard = now.0 - self.hard_timeout_ns;
        let ebpf_limit = (self.wm_audit - self.window_ns).max(hard);
        let audit_limit = (self.wm_ebpf - self.window_ns).max(hard);
        self.close(ebpf_limit, audit_limit, None, out);
    }

    /// Ends the check at shutdown (at `now`): everything still pending is a
    /// leftover; those from the last second are marked `at_shutdown`.
    pub fn flush(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        self.close(i64::MAX, i64::MAX, Some(now.0 - 1_000_000_000), out);
    }

    /// Closes eBPF execs older than `ebpf_limit` and audit execs older than
    /// `audit_limit`.
    fn close(
        &mut self,
        ebpf_limit: i64,
        audit_limit: i64,
        shutdown_after: Option<i64>,
        out: &mut Vec<Event>,
    ) {
        let mut gone = Vec::new();
        for (map, limit) in [(&mut self.ebpf, ebpf_limit), (&mut self.audit, audit_limit)] {
            map.retain(|_, q| {
                while q.front().is_some_and(|e| e.time.0 < limit) {
                    gone.push(q.pop_front().expect("checked"));
                }
                !q.is_empty()
            });
        }
        let limit = ebpf_limit.min(audit_limit);
        gone.sort_by_key(|e| e.time);
        for ev in gone {
            self.pending -= 1;
            let from_ebpf = ev.source == Source::Ebpf;
            let other = if from_ebpf {
                Source::Audit
            } else {
                Source::Ebpf
            };
            let explained = self
                .losses
                .iter()
                .any(|(t, s)| *s == other && (t.0 - ev.time.0).abs() <= 2 * self.window_ns);
            if from_ebpf {
                self.stats.only_ebpf += 1;
            } else {
                self.stats.only_audit += 1;
            }
            let at_shutdown = !explained && shutdown_after.is_some_and(|t| ev.time.0 >= t);
            if explained {
                self.stats.explained_by_loss += 1;
            }
            if at_shutdown {
                self.stats.at_shutdown += 1;
            }
            let what = if from_ebpf {
                DiscrepancyKind::OnlyEbpf
            } else {
                DiscrepancyKind::OnlyAudit
            };
            let mut d = discrepancy(&ev, what);
            if let Body::Discrepancy(x) = &mut d.body {
                x.explained_by_loss = Some(explained);
                x.at_shutdown = at_shutdown;
            }
            out.push(d);
            if !from_ebpf {
                out.push(ev);
            }
        }
        while self
            .losses
            .front()
            .is_some_and(|(t, _)| t.0 < limit.saturating_sub(2 * self.window_ns))
        {
            self.losses.pop_front();
        }
    }
}

/// The captured argv of `a` is a prefix of (or equal to) `b`'s, or vice versa
/// when `b` is the truncated one.
fn argv_agrees(a: &Event, b: &Event) -> bool {
    let (Some(xa), Some(xb)) = (a.exec(), b.exec()) else {
        return false;
    };
    let (Some(x), Some(y)) = (&xa.argv, &xb.argv) else {
        return xa.argv.is_none() && xb.argv.is_none();
    };
    if x == y {
        return true;
    }
    let prefix = |short: &[Bytes], long: &[Bytes]| {
        short.len() <= long.len()
            && short.iter().zip(long).enumerate().all(|(i, (s, l))| {
                s == l || (i + 1 == short.len() && l.as_slice().starts_with(s.as_slice()))
            })
    };
    (xa.truncated && prefix(x, y)) || (xb.truncated && prefix(y, x))
}

/// The file a failed exec tried to run: `exe` for both sources (the audit
/// source takes it from PATH item 0).
fn tried_path(e: &Event) -> Option<&Bytes> {
    e.task.exe.as_ref()
}

fn same_exec(a: &Event, b: &Event) -> bool {
    if a.kind() != b.kind() {
        return false;
    }
    match a.kind() {
        Kind::ExecFailed => tried_path(a).is_some() && tried_path(a) == tried_path(b),
        _ => argv_agrees(a, b),
    }
}

fn mismatch(e: &Event, a: &Event) -> Option<Event> {
    let mut fields = Vec::new();
    let mut cmp = |name: &str, x: serde_json::Value, y: serde_json::Value| {
        if x != y {
            fields.push(FieldDiff {
                name: name.into(),
                ebpf: x,
                audit: y,
            });
        }
    };
    cmp("auid", json!(e.task.auid), json!(a.task.auid));
    cmp("ses", json!(e.task.ses), json!(a.task.ses));
    cmp("uid", json!(e.task.uid), json!(a.task.uid));
    cmp("euid", json!(e.task.euid), json!(a.task.euid));
    let cwd = |ev: &Event| ev.exec().and_then(|x| x.cwd.clone());
    if e.kind() == Kind::Exec && cwd(e).is_some() && cwd(a).is_some() {
        cmp("cwd", json!(cwd(e)), json!(cwd(a)));
    }
    if fields.is_empty() {
        return None;
    }
    let mut d = discrepancy(e, DiscrepancyKind::Mismatch);
    if let Body::Discrepancy(x) = &mut d.body {
        x.fields = fields;
    }
    Some(d)
}

fn discrepancy(ev: &Event, what: DiscrepancyKind) -> Event {
    let exec = ev.exec().map(|x| crate::event::Exec {
        argv: x.argv.clone(),
        serial: x.serial,
        ..crate::event::Exec::default()
    });
    let mut d = Event::new(
        Source::Tracer,
        ev.time,
        ev.host.clone(),
        Body::Discrepancy(Box::new(Discrepancy {
            what,
            seen_by: ev.source,
            explained_by_loss: None,
            at_shutdown: false,
            fields: Vec::new(),
            exec: exec.unwrap_or_default(),
        })),
    );
    d.task.pid = ev.task.pid;
    d.task.auid = ev.task.auid;
    d.task.ses = ev.task.ses;
    d.task.uid = ev.task.uid;
    d.task.exe = ev.task.exe.clone();
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use crate::event::{Exec, LossCause, Outcome};

    fn ex(src: Source, t: i64, pid: u32, argv: &[&str]) -> Event {
        let mut e = Event::new(
            src,
            Timestamp(t * 1_000_000),
            "h",
            Body::Exec(Exec {
                cwd: Some(Bytes::from("/home/a")),
                argv: Some(argv.iter().map(|a| Bytes::from(*a)).collect()),
                ..Exec::default()
            }),
        );
        e.task.pid = Some(pid);
        e.task.auid = Some(1000);
        e.task.ses = Some(3);
        e.task.uid = Some(1000);
        e.task.euid = Some(1000);
        e
    }

    fn detail(e: &Event) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(&e.to_json()).unwrap()["detail"].clone()
    }

    fn fail(e: &mut Event) {
        e.exec_mut().unwrap().outcome = Outcome::Failed(-2);
    }

    fn kinds(out: &[Event]) -> Vec<String> {
        out.iter()
            .map(|e| match e.kind() {
                Kind::Discrepancy => detail(e)["kind"].as_str().unwrap().to_string(),
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
        c.flush(Timestamp(0), &mut out);
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
        // Wall clock alone does not close the window: the other source may lag.
        c.expire(Timestamp(20_000 * 1_000_000), &mut out);
        assert_eq!(
            kinds(&out),
            vec!["exec:Ebpf"],
            "nothing expires before the other source moves on"
        );
        c.advance(Source::Audit, Timestamp(2_500 * 1_000_000));
        c.advance(Source::Ebpf, Timestamp(2_500 * 1_000_000));
        c.expire(Timestamp(20_000 * 1_000_000), &mut out);
        assert_eq!(
            kinds(&out),
            vec!["exec:Ebpf"],
            "nothing expires inside the window"
        );
        c.advance(Source::Audit, Timestamp(3_500 * 1_000_000));
        c.advance(Source::Ebpf, Timestamp(3_500 * 1_000_000));
        c.expire(Timestamp(20_000 * 1_000_000), &mut out);
        assert_eq!(
            kinds(&out),
            vec!["exec:Ebpf", "only_ebpf", "only_audit", "exec:Audit"]
        );
        let s = c.stats();
        assert_eq!((s.only_ebpf, s.only_audit, s.unexplained()), (1, 1, 2));
    }

    #[test]
    fn a_lagging_source_is_waited_for_up_to_the_hard_timeout() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        c.observe(ex(Source::Ebpf, 1_000, 10, &["x"]), &mut out);
        c.advance(Source::Ebpf, Timestamp(30_000 * 1_000_000));
        c.expire(Timestamp(30_000 * 1_000_000), &mut out);
        assert_eq!(c.stats().only_ebpf, 0, "audit has not moved: keep waiting");
        c.observe(ex(Source::Audit, 1_000, 10, &["x"]), &mut out);
        assert_eq!(c.stats().matched, 1);
        c.observe(ex(Source::Ebpf, 2_000, 11, &["y"]), &mut out);
        c.expire(Timestamp(63_000 * 1_000_000), &mut out);
        assert_eq!(c.stats().only_ebpf, 1, "the hard timeout ends the wait");
    }

    #[test]
    fn a_loss_on_the_other_side_explains_a_leftover() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        let loss = Event::loss(
            Source::Audit,
            Timestamp(1_500 * 1_000_000),
            "h",
            Some(5),
            LossCause::KernelBacklog,
        );
        c.observe(ex(Source::Ebpf, 1_000, 10, &["x"]), &mut out);
        c.observe(loss, &mut out);
        c.flush(Timestamp(0), &mut out);
        let d = out.iter().find(|e| e.kind() == Kind::Discrepancy).unwrap();
        assert_eq!(detail(d)["explained_by_loss"], true);
        assert_eq!(c.stats().unexplained(), 0);
    }

    #[test]
    fn leftovers_of_the_last_second_are_excused_at_shutdown() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        c.observe(ex(Source::Audit, 500, 10, &["early"]), &mut out);
        c.observe(ex(Source::Audit, 9_800, 11, &["late"]), &mut out);
        c.flush(Timestamp(10_000 * 1_000_000), &mut out);
        let s = c.stats();
        assert_eq!((s.only_audit, s.at_shutdown, s.unexplained()), (2, 1, 1));
    }

    #[test]
    fn field_disagreements_are_reported() {
        let mut c = CrossCheck::new(Duration::from_secs(2));
        let mut out = Vec::new();
        let mut a = ex(Source::Audit, 1, 10, &["ls"]);
        a.task.ses = Some(4);
        a.exec_mut().unwrap().cwd = Some(Bytes::from("/tmp"));
        c.observe(a, &mut out);
        c.observe(ex(Source::Ebpf, 1, 10, &["ls"]), &mut out);
        let d = out.iter().find(|e| e.kind() == Kind::Discrepancy).unwrap();
        let f = &detail(d)["fields"];
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
        e.exec_mut().unwrap().truncated = true;
        c.observe(
            ex(Source::Audit, 1, 10, &["cmd", "aaaa", "bbbbbb", "c"]),
            &mut out,
        );
        c.observe(e, &mut out);
        assert_eq!(c.stats().matched, 1);
        let mut f = ex(Source::Ebpf, 2, 11, &["x"]);
        fail(&mut f);
        c.observe(ex(Source::Audit, 2, 11, &["x"]), &mut out);
        c.observe(f, &mut out);
        assert_eq!(c.stats().matched, 1, "a failure does not match a success");
        // Failed execs match on the path tried.
        let mut fe = ex(Source::Ebpf, 3, 12, &["bash", "-c", "x"]);
        fail(&mut fe);
        fe.task.exe = Some(Bytes::from("/opt/bin/bash"));
        // Audit logs no EXECVE for a failed exec; PATH item 0 is the exe.
        let mut fa = ex(Source::Audit, 3, 12, &[]);
        fail(&mut fa);
        fa.exec_mut().unwrap().argv_missing = true;
        fa.task.exe = Some(Bytes::from("/opt/bin/bash"));
        c.observe(fa, &mut out);
        c.observe(fe, &mut out);
        assert_eq!(c.stats().matched, 2);
    }
}
