//! Unit tests of the session tracker on event sequences.

use super::*;
use crate::bytes::Bytes;
use crate::event::{Exec, Exit, LoginRecord, LoginResult, LoginType, UNSET};

/// The JSON form of a record, for asserting on kind-specific fields.
fn j(e: &Event) -> serde_json::Value {
    serde_json::from_str(&e.to_json()).unwrap()
}

fn t(s: i64) -> Timestamp {
    Timestamp(s * 1_000_000_000)
}

fn exec(time: i64, pid: u32, ppid: u32, auid: u32, ses: u32, uid: u32, comm: &str) -> Event {
    let mut e = Event::new(Source::Ebpf, t(time), "h", Body::Exec(Exec::default()));
    e.task.pid = Some(pid);
    e.task.ppid = Some(ppid);
    e.task.auid = Some(auid);
    e.task.ses = Some(ses);
    e.task.uid = Some(uid);
    e.task.euid = Some(uid);
    e.task.comm = Some(Bytes::from(comm));
    e.task.tty = Some("pts/1".into());
    e.task.start_boottime = Some(pid as u64 * 1_000_000_000);
    e
}

fn exit(time: i64, pid: u32, auid: u32, ses: u32) -> Event {
    let mut e = Event::new(Source::Ebpf, t(time), "h", Body::Exit(Exit::default()));
    e.task.pid = Some(pid);
    e.task.auid = Some(auid);
    e.task.ses = Some(ses);
    e.task.start_boottime = Some(pid as u64 * 1_000_000_000);
    e
}

struct FixedSource;
impl LoginInfo for FixedSource {
    fn source_of(&self, _pid: u32, _ppid: u32) -> Option<(String, u16)> {
        Some(("127.0.0.1".into(), 40000))
    }
    fn alive(&self, _pid: u32) -> bool {
        false
    }
}

/// Every pid below 1000 is alive (an sshd-like process never in the stream).
struct SomeAlive;
impl LoginInfo for SomeAlive {
    fn source_of(&self, _pid: u32, _ppid: u32) -> Option<(String, u16)> {
        None
    }
    fn alive(&self, pid: u32) -> bool {
        pid < 1000
    }
}

fn leader_exit(time: i64, pid: u32, auid: u32, ses: u32) -> Event {
    let mut e = exit(time, pid, auid, ses);
    if let Body::Exit(x) = &mut e.body {
        x.session_leader = true;
    }
    e
}

#[test]
fn a_login_ends_when_its_leader_and_its_processes_are_gone() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let out = run(
        &mut tr,
        vec![
            // PAM's motd scripts run first, then the user's command: the
            // tracked set empties in between, but the login goes on.
            exec(1, 100, 90, 1000, 1, 0, "sh"),
            exit(2, 100, 1000, 1),
            exec(3, 101, 92, 1000, 1, 1000, "bash"),
            exit(4, 101, 1000, 1),
            // sshd's per-login process (never exec'd) exits: logout.
            leader_exit(5, 90, 1000, 1),
        ],
    );
    assert_eq!(
        out.iter()
            .filter(|e| e.kind() == Kind::SessionStart)
            .count(),
        1
    );
    let ends: Vec<&Event> = out
        .iter()
        .filter(|e| e.kind() == Kind::SessionEnd)
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].time, t(5));
}

#[test]
fn lost_exits_are_pruned_by_the_periodic_check() {
    // The periodic check alone ends a session whose remaining processes are
    // all gone.
    let mut tr = SessionTracker::new(TrackerOptions::default(), SomeAlive);
    run(
        &mut tr,
        vec![
            exec(1, 2001, 90, 1000, 2, 1000, "job"),
            leader_exit(2, 90, 1000, 2),
        ],
    );
    let mut out = Vec::new();
    tr.expire(t(9), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].time,
        t(2),
        "ends at its last event, not at the check"
    );

    let mut tr = SessionTracker::new(TrackerOptions::default(), SomeAlive);
    run(
        &mut tr,
        vec![
            exec(1, 100, 90, 1000, 1, 1000, "bash"),
            exec(2, 2000, 100, 1000, 1, 1000, "job"),
            leader_exit(3, 90, 1000, 1),
        ],
    );
    let mut out = Vec::new();
    // pid 100 is alive (per SomeAlive), pid 2000's exit was lost: still open.
    tr.expire(t(4), &mut out);
    assert!(out.is_empty());
    // The last live one exits: the pruned job no longer holds the login.
    let out = run(&mut tr, vec![exit(5, 100, 1000, 1)]);
    assert_eq!(out.last().unwrap().kind(), Kind::SessionEnd);
    assert_eq!(out.last().unwrap().time, t(5));
    assert_eq!(tr.open_sessions(), 0);
}

fn run<L: LoginInfo>(tr: &mut SessionTracker<L>, evs: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    for e in evs {
        tr.observe(e, &mut out);
    }
    out
}

fn kinds(out: &[Event]) -> Vec<(Kind, Option<u32>)> {
    out.iter().map(|e| (e.kind(), e.task.ses)).collect()
}

#[test]
fn interleaved_sessions_start_and_end_independently() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), FixedSource);
    let out = run(
        &mut tr,
        vec![
            exec(1, 100, 90, 1000, 1, 1000, "bash"),
            exec(2, 200, 190, 1001, 2, 1001, "bash"),
            exec(3, 101, 100, 1000, 1, 1000, "ls"),
            exit(4, 101, 1000, 1),
            leader_exit(5, 200, 1001, 2),
            leader_exit(6, 100, 1000, 1),
        ],
    );
    use Kind::*;
    assert_eq!(
        kinds(&out),
        vec![
            (SessionStart, Some(1)),
            (Exec, Some(1)),
            (SessionStart, Some(2)),
            (Exec, Some(2)),
            (Exec, Some(1)),
            (Exit, Some(1)),
            (Exit, Some(2)),
            (SessionEnd, Some(2)),
            (Exit, Some(1)),
            (SessionEnd, Some(1)),
        ]
    );
    assert_eq!(j(&out[0])["addr"], "127.0.0.1");
    assert_eq!(j(&out[0])["port"], 40000);
    assert_eq!(out[0].task.tty.as_deref(), Some("pts/1"));
    let end = out.last().unwrap();
    assert_eq!(j(end)["from"], t(1).to_rfc3339());
    assert_eq!(end.time, t(6));
    assert_eq!(tr.open_sessions(), 0);
}

#[test]
fn pid_reuse_does_not_end_the_session() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let mut reused = exit(3, 100, 1000, 1);
    // Same pid, another process (a different start time).
    reused.task.start_boottime = Some(999_000_000_000);
    let out = run(
        &mut tr,
        vec![exec(1, 100, 90, 1000, 1, 1000, "bash"), reused],
    );
    assert!(out.iter().all(|e| e.kind() != Kind::SessionEnd));
    assert_eq!(tr.open_sessions(), 1);
}

#[test]
fn orphans_reparented_to_init_keep_the_session_open() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let out = run(
        &mut tr,
        vec![
            exec(1, 100, 90, 1000, 1, 1000, "bash"),
            exec(2, 101, 100, 1000, 1, 1000, "nohup"),
            // The shell (the leader) exits; the background job, re-parented
            // to init, lives on.
            leader_exit(3, 100, 1000, 1),
        ],
    );
    assert!(out.iter().all(|e| e.kind() != Kind::SessionEnd));
    let out = run(&mut tr, vec![exit(9, 101, 1000, 1)]);
    assert_eq!(out.last().unwrap().kind(), Kind::SessionEnd);
    assert_eq!(out.last().unwrap().time, t(9));
}

#[test]
fn a_session_that_never_ends_is_expired() {
    let opts = TrackerOptions {
        max_sessions: 10,
        idle_expiry_ns: 60 * 1_000_000_000,
    };
    let mut tr = SessionTracker::new(opts, NoLoginInfo);
    run(&mut tr, vec![exec(1, 100, 90, 1000, 1, 1000, "bash")]);
    let mut out = Vec::new();
    tr.expire(t(30), &mut out);
    assert!(out.is_empty());
    tr.expire(t(100), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].kind(), Kind::SessionEnd);
    assert_eq!(j(&out[0])["detail"]["reason"], "expired");
    assert_eq!(tr.open_sessions(), 0);
}

#[test]
fn state_is_bounded() {
    let opts = TrackerOptions {
        max_sessions: 2,
        idle_expiry_ns: i64::MAX,
    };
    let mut tr = SessionTracker::new(opts, NoLoginInfo);
    let out = run(
        &mut tr,
        (1..=5)
            .map(|i| exec(i, 100 + i as u32, 1, 1000, i as u32, 1000, "sh"))
            .collect(),
    );
    assert_eq!(tr.open_sessions(), 2);
    assert_eq!(
        out.iter().filter(|e| e.kind() == Kind::SessionEnd).count(),
        3
    );
}

#[test]
fn identity_changes_are_marked() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let mut passwd = exec(5, 104, 100, 1000, 1, 1000, "passwd");
    passwd.task.euid = Some(0);
    let out = run(
        &mut tr,
        vec![
            exec(1, 100, 90, 1000, 1, 1000, "bash"),
            exec(2, 101, 100, 1000, 1, 0, "sudo"),
            exec(3, 102, 101, 1000, 1, 0, "id"),
            exec(4, 103, 100, 1000, 1, 0, "su"),
            exec(5, 105, 103, 1000, 1, 0, "bash"),
            passwd,
            exec(6, 106, 100, 1000, 1, 1000, "ls"),
        ],
    );
    let via: Vec<Option<&str>> = out
        .iter()
        .filter(|e| e.kind() == Kind::Exec)
        .map(|e| e.exec().unwrap().via.as_ref().map(Via::as_str))
        .collect();
    assert_eq!(
        via,
        vec![
            None,
            Some("setuid"),
            Some("sudo"),
            Some("setuid"),
            Some("su"),
            Some("setuid"),
            None
        ]
    );
}

#[test]
fn unattributed_processes_open_no_session() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let out = run(&mut tr, vec![exec(1, 100, 1, UNSET, UNSET, 0, "cron")]);
    assert_eq!(kinds(&out), vec![(Kind::Exec, Some(UNSET))]);
    assert_eq!(out[0].exec().unwrap().via, None);
}

#[test]
fn processes_found_at_start_resume_their_session() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let mut p = exec(1, 100, 90, 1000, 1, 1000, "bash");
    p.body = Body::Process(Exec::default());
    p.source = Source::Proc;
    let out = run(&mut tr, vec![p]);
    assert_eq!(out[0].kind(), Kind::SessionStart);
    assert_eq!(j(&out[0])["detail"]["resumed"], true);
}

#[test]
fn audit_login_records_open_and_close_sessions() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let login = |time, rt: &str| {
        let mut l = LoginRecord::new(LoginType::parse(rt));
        l.res = Some(LoginResult::Success);
        l.addr = Some("10.0.0.5".into());
        let mut e = Event::new(Source::Audit, t(time), "h", Body::Login(l));
        e.task.auid = Some(1000);
        e.task.ses = Some(7);
        e.task.tty = Some("ssh".into());
        e
    };
    let out = run(
        &mut tr,
        vec![
            login(1, "USER_START"),
            exec(2, 100, 90, 1000, 7, 1000, "ls"),
            login(3, "USER_END"),
        ],
    );
    use Kind::*;
    assert_eq!(
        kinds(&out),
        vec![
            (SessionStart, Some(7)),
            (Login, Some(7)),
            (Exec, Some(7)),
            (SessionEnd, Some(7)),
            (Login, Some(7))
        ]
    );
    assert_eq!(j(&out[0])["addr"], "10.0.0.5");
}

#[test]
fn ssh_connection_parsing() {
    assert_eq!(
        parse_ssh_connection("127.0.0.1 51234 127.0.0.1 2222"),
        Some(("127.0.0.1".into(), 51234))
    );
    assert_eq!(parse_ssh_connection("garbage"), None);
}

#[test]
fn sudo_and_su_records_inside_a_login_do_not_end_it() {
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    // The record sequence of a real sshd login with sudo and su inside
    // (tests/fixtures/audit/sessions/real-ssh-sudo-su.log).
    let rec = |time, rt: &str, pid: u32, exe: &str, acct: &str| {
        let mut l = LoginRecord::new(LoginType::parse(rt));
        l.res = Some(LoginResult::Success);
        l.acct = Some(Bytes::from(acct));
        l.terminal = Some("ssh".into());
        if exe.ends_with("sshd") {
            l.addr = Some("127.0.0.1".into());
        }
        let mut e = Event::new(Source::Audit, t(time), "h", Body::Login(l));
        e.task.pid = Some(pid);
        e.task.auid = Some(1001);
        e.task.ses = Some(7);
        e.task.exe = (!exe.is_empty()).then(|| Bytes::from(exe));
        e
    };
    let out = run(
        &mut tr,
        vec![
            rec(1, "LOGIN", 500, "", ""),
            rec(2, "USER_START", 500, "/usr/sbin/sshd", "fxalice"),
            rec(3, "USER_START", 600, "/usr/bin/sudo", "root"),
            rec(4, "USER_END", 600, "/usr/bin/sudo", "root"),
            rec(5, "USER_START", 700, "/usr/bin/su", "fxbob"),
            rec(6, "USER_END", 700, "/usr/bin/su", "fxbob"),
            rec(9, "USER_END", 500, "/usr/sbin/sshd", "fxalice"),
        ],
    );
    let ends: Vec<&Event> = out
        .iter()
        .filter(|e| e.kind() == Kind::SessionEnd)
        .collect();
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].time, t(9));
    let end = j(ends[0]);
    assert_eq!(end["session_kind"], "interactive");
    assert_eq!(end["user"], "fxalice");
    assert_eq!(end["addr"], "127.0.0.1");
    let starts: Vec<&Event> = out
        .iter()
        .filter(|e| e.kind() == Kind::SessionStart)
        .collect();
    assert_eq!(starts.len(), 1);
    assert_eq!(
        starts[0].time,
        t(1),
        "the session starts at the kernel's LOGIN"
    );
    // ... and its record, written once sshd's USER_START is seen, has what
    // USER_START says: the source address and the kind.
    let start = j(starts[0]);
    assert_eq!(start["addr"], "127.0.0.1", "{start}");
    assert_eq!(start["session_kind"], "interactive", "{start}");
    let at = |k: Kind, time| out.iter().position(|e| e.kind() == k && e.time == t(time));
    assert!(at(Kind::SessionStart, 1) > at(Kind::Login, 1));
    assert!(at(Kind::SessionStart, 1) < at(Kind::Login, 2).map(|i| i + 1));
}

/// A LOGIN that nothing follows (a login that failed after pam_loginuid,
/// or tracer stopping right after it): its session record is written at the
/// next tick a second later, or at stop.
#[test]
fn a_login_record_alone_still_starts_its_session() {
    let login = |time, ses| {
        let mut e = Event::new(
            Source::Audit,
            t(time),
            "h",
            Body::Login(LoginRecord::new(LoginType::Login)),
        );
        e.task.pid = Some(500 + ses);
        e.task.auid = Some(1001);
        e.task.ses = Some(ses);
        e
    };
    let starts = |out: &[Event]| {
        out.iter()
            .filter(|e| e.kind() == Kind::SessionStart)
            .map(|e| (e.time, e.task.ses))
            .collect::<Vec<_>>()
    };
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let mut out = run(&mut tr, vec![login(1, 7), login(5, 8)]);
    assert!(starts(&out).is_empty(), "held for PAM's USER_START");
    tr.expire(t(5), &mut out);
    assert_eq!(starts(&out), [(t(1), Some(7))], "a second later");
    tr.flush(&mut out);
    assert_eq!(starts(&out), [(t(1), Some(7)), (t(5), Some(8))], "at stop");
    assert_eq!(tr.open_sessions(), 2);
}

/// A login's background job that never exec'd (a subshell, or a child whose
/// exec record is still on its way) is in no exec record, but it is a live
/// process of the session: the login stays open while `/proc` shows it, and
/// ends at the tick that finds it gone.
#[test]
fn a_forked_job_that_did_not_exec_keeps_the_login_open() {
    use std::cell::Cell;
    struct Job(Cell<bool>);
    impl LoginInfo for Job {
        fn source_of(&self, _pid: u32, _ppid: u32) -> Option<(String, u16)> {
            None
        }
        fn alive(&self, pid: u32) -> bool {
            pid == 555 && self.0.get()
        }
        fn session_members(&self, auid: u32, ses: u32) -> Vec<u32> {
            if (auid, ses) == (1000, 1) && self.0.get() {
                vec![555]
            } else {
                Vec::new()
            }
        }
    }
    let mut tr = SessionTracker::new(TrackerOptions::default(), Job(Cell::new(true)));
    let out = run(
        &mut tr,
        vec![
            exec(1, 101, 90, 1000, 1, 1000, "bash"),
            exit(2, 101, 1000, 1),
            leader_exit(3, 90, 1000, 1),
        ],
    );
    assert!(
        out.iter().all(|e| e.kind() != Kind::SessionEnd),
        "the job is still running"
    );
    let mut out = Vec::new();
    tr.expire(t(4), &mut out);
    assert!(out.is_empty(), "still running at the tick");
    tr.info.0.set(false);
    tr.expire(t(9), &mut out);
    assert_eq!(kinds(&out), vec![(Kind::SessionEnd, Some(1))]);
    assert_eq!(tr.open_sessions(), 0);
}
