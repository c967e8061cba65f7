//! Privileged: the audit netlink source and rule management on the real
//! kernel. Every test holds the global test lock (serialises against all
//! test binaries) and an [`AuditRestore`] guard that puts back the rules, the
//! `enabled` flag and the daemon on every path, panics included.

#![cfg(feature = "privileged")]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::audit::{AuditRestore, Auditd};
use common::*;
use tracer::source::audit::netlink::NetlinkError;
use tracer::source::audit::receiver::{
    AuditItem, AuditReceiver, RawRecord, ReceiveMode, ReceiverOptions, CAUSE_OVERRUN,
};
use tracer::source::audit::rules::{self, format_rule, parse_rules, SHIPPED_RULES};
use tracer::source::audit::status::{self, AuditStatus};

const AUDIT_SYSCALL: u16 = 1300;
const AUDIT_EXECVE: u16 = 1309;
const AUDIT_EOE: u16 = 1320;

const SHIPPED_LINES: [&str; 2] = [
    "-a always,exit -F arch=b64 -S execve,execveat -F key=tracer_exec",
    "-a always,exit -F arch=b32 -S execve,execveat -F key=tracer_exec",
];

fn auditctl(args: &[&str]) -> String {
    let out = Command::new("auditctl")
        .args(args)
        .output()
        .expect("running auditctl");
    assert!(out.status.success(), "auditctl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn tracer_rules(args: &[&str]) -> String {
    let out = Command::new(tracer_bin())
        .arg("rules")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "tracer rules {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn load_shipped() {
    let ds = parse_rules(SHIPPED_RULES, "shipped").unwrap();
    rules::load(&ds).expect("loading tracer's rules");
}

fn marker(name: &str) -> String {
    format!(
        "tracer-{name}-{}-{}",
        std::process::id(),
        tracer::event::Timestamp::now().0
    )
}

fn run_echo(marker: &str) {
    let st = Command::new("/bin/echo").arg(marker).output().unwrap();
    assert!(st.status.success());
}

/// `audit(T:SERIAL):` -> SERIAL.
fn serial(body: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(body).ok()?;
    let head = s.split_once("):")?.0;
    head.rsplit_once(':')?.1.parse().ok()
}

/// The exec event carrying `marker`: its EXECVE record, then the SYSCALL and
/// EOE records with the same serial. None until all three are in `seen`.
fn exec_event<'a>(seen: &'a [RawRecord], marker: &str) -> Option<Vec<&'a RawRecord>> {
    let execve = seen.iter().find(|r| {
        r.msg_type == AUDIT_EXECVE && String::from_utf8_lossy(&r.body).contains(marker)
    })?;
    let ser = serial(&execve.body)?;
    let of = |t: u16| {
        seen.iter()
            .find(|r| r.msg_type == t && serial(&r.body) == Some(ser))
    };
    Some(vec![execve, of(AUDIT_SYSCALL)?, of(AUDIT_EOE)?])
}

/// Receive with `rx` until the marker's event is complete (bounded).
fn receive_exec(rx: &mut AuditReceiver, marker: &str) -> Vec<RawRecord> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        for item in rx.recv_batch(Duration::from_millis(200)).unwrap() {
            if let AuditItem::Record(r) = item {
                seen.push(r);
            }
        }
        if let Some(ev) = exec_event(&seen, marker) {
            return ev.into_iter().cloned().collect();
        }
    }
    panic!(
        "no complete exec event for {marker} within 10 s ({} records seen)",
        seen.len()
    );
}

fn assert_exec_records(ev: &[RawRecord], marker: &str) {
    let syscall = String::from_utf8_lossy(&ev[1].body);
    assert!(
        syscall.contains("syscall=59") || syscall.contains("syscall=322"),
        "{syscall}"
    );
    assert!(syscall.contains("key=\"tracer_exec\""), "{syscall}");
    assert!(syscall.contains(" auid="), "{syscall}");
    assert!(syscall.contains(" ses="), "{syscall}");
    assert!(String::from_utf8_lossy(&ev[0].body).contains(marker));
}

#[test]
fn rules_load_list_clear_touch_only_tracers_rules() {
    let _lock = global_lock();
    let _audit = AuditRestore::capture();
    let site =
        "-a always,exit -F arch=b64 -S execve -F exe=/usr/bin/sudo -F auid!=-1 -F key=site_keep";
    auditctl(&[
        "-a",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "execve",
        "-F",
        "exe=/usr/bin/sudo",
        "-F",
        "auid!=unset",
        "-k",
        "site_keep",
    ]);

    // Through the CLI: the shipped rules by default; twice is harmless.
    assert!(tracer_rules(&["load"]).starts_with("2 rule(s) added, 0 already present"));
    assert!(tracer_rules(&["load"]).starts_with("0 rule(s) added, 2 already present"));

    let ours: Vec<String> = rules::list_owned()
        .unwrap()
        .iter()
        .map(format_rule)
        .collect();
    assert_eq!(ours, SHIPPED_LINES);
    assert_eq!(
        tracer_rules(&["list"]).lines().collect::<Vec<_>>(),
        SHIPPED_LINES
    );
    let all = tracer_rules(&["list", "--all"]);
    assert!(all.lines().any(|l| l == site), "{all}");

    // auditctl sees the same rules, printed the same way.
    let listed = auditctl(&["-l"]);
    for l in SHIPPED_LINES.iter().chain([&site]) {
        assert!(
            listed.lines().any(|x| x == *l),
            "auditctl -l lacks {l}:\n{listed}"
        );
    }

    // clear removes tracer's rules and nothing else.
    assert_eq!(tracer_rules(&["clear"]).trim(), "2 rule(s) deleted");
    assert!(rules::list_owned().unwrap().is_empty());
    let listed = auditctl(&["-l"]);
    assert!(
        listed.lines().any(|x| x == site),
        "site rule lost:\n{listed}"
    );
    assert!(!listed.contains("tracer_exec"), "{listed}");
    // Refused: not tracer's key.
    let out = Command::new(tracer_bin())
        .args(["rules", "clear", "-k", "site_keep"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(auditctl(&["-l"]).contains("site_keep"));
    auditctl(&[
        "-d",
        "always,exit",
        "-F",
        "arch=b64",
        "-S",
        "execve",
        "-F",
        "exe=/usr/bin/sudo",
        "-F",
        "auid!=unset",
        "-k",
        "site_keep",
    ]);
}

#[test]
fn bad_rules_file_changes_nothing_and_names_the_line() {
    let _lock = global_lock();
    let _audit = AuditRestore::capture();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.rules");
    std::fs::write(
        &f,
        "-a always,exit -S execve -k tracer_t\n-a always,exit -S execve -k mine\n",
    )
    .unwrap();
    let out = Command::new(tracer_bin())
        .args(["rules", "load"])
        .arg(&f)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.rules:2:") && err.contains("`mine`"),
        "{err}"
    );
    assert!(
        rules::list_owned().unwrap().is_empty(),
        "the good first line was applied"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multicast_receives_exec_records_through_the_channel() {
    let _lock = global_lock();
    let _audit = AuditRestore::capture();
    status::set_enabled(1).unwrap();
    load_shipped();
    let rx = AuditReceiver::open(ReceiverOptions::default()).expect("joining the multicast group");
    assert_eq!(rx.mode(), ReceiveMode::Multicast);
    let (mut batches, handle) = rx.spawn().unwrap();
    let m = marker("mc");
    run_echo(&m);
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let ev = loop {
        match tokio::time::timeout_at(deadline, batches.recv()).await {
            Ok(Some(batch)) => {
                seen.extend(batch.into_items().into_iter().filter_map(|i| match i {
                    AuditItem::Record(r) => Some(r),
                    AuditItem::Loss(_) => None,
                }))
            }
            Ok(None) => panic!("reader thread ended: {:?}", handle.stop()),
            Err(_) => panic!(
                "no complete exec event for {m} within 10 s ({} records)",
                seen.len()
            ),
        }
        if let Some(ev) = exec_event(&seen, &m) {
            break ev.into_iter().cloned().collect::<Vec<_>>();
        }
    };
    assert_exec_records(&ev, &m);
    drop(batches);
    handle.stop().expect("reader thread ended cleanly");
}

#[test]
fn beside_a_running_auditd() {
    let _lock = global_lock();
    let mut audit = AuditRestore::capture();
    assert_eq!(
        audit.before().pid,
        0,
        "an audit daemon is already registered"
    );
    let auditd = audit.own(Auditd::start());
    let auditd_pid = auditd.pid();
    status::set_enabled(1).unwrap();
    load_shipped();

    let mut rx = AuditReceiver::open(ReceiverOptions::default()).unwrap();
    let m = marker("beside");
    run_echo(&m);
    let ev = receive_exec(&mut rx, &m);
    assert_exec_records(&ev, &m);

    // auditd kept its place and logged the same exec.
    assert_eq!(AuditStatus::get().unwrap().pid, auditd_pid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !auditd.log_contains(&m) {
        assert!(Instant::now() < deadline, "auditd's log lacks {m}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Becoming the daemon is refused while auditd holds the pid.
    let opts = ReceiverOptions {
        mode: ReceiveMode::Daemon,
        ..Default::default()
    };
    match AuditReceiver::open(opts) {
        Err(NetlinkError::DaemonRegistered { pid }) => assert_eq!(pid, auditd_pid),
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("tracer replaced a running auditd"),
    }
    assert_eq!(AuditStatus::get().unwrap().pid, auditd_pid);
    let m2 = marker("after");
    run_echo(&m2);
    assert_exec_records(&receive_exec(&mut rx, &m2), &m2);
}

#[test]
fn daemon_mode_registers_only_when_free_and_gives_the_pid_back() {
    let _lock = global_lock();
    let audit = AuditRestore::capture();
    assert_eq!(
        audit.before().pid,
        0,
        "an audit daemon is already registered"
    );
    status::set_enabled(1).unwrap();
    load_shipped();
    let opts = ReceiverOptions {
        mode: ReceiveMode::Daemon,
        ..Default::default()
    };
    let mut rx = AuditReceiver::open(opts.clone()).expect("registering as the audit daemon");
    assert_eq!(AuditStatus::get().unwrap().pid, std::process::id());
    // A second registration (even from ourselves) is refused.
    assert!(matches!(
        AuditReceiver::open(opts),
        Err(NetlinkError::DaemonRegistered { .. })
    ));
    let m = marker("daemon");
    run_echo(&m);
    assert_exec_records(&receive_exec(&mut rx, &m), &m);
    drop(rx);
    assert_eq!(
        AuditStatus::get().unwrap().pid,
        0,
        "daemon pid not given back"
    );
}

#[test]
fn enabled_guard_restores_the_flag() {
    let _lock = global_lock();
    let audit = AuditRestore::capture();
    let before = audit.before().enabled;
    let want = 1 - before;
    let g = status::EnabledGuard::set(want).unwrap();
    assert!(g.changed());
    assert_eq!(AuditStatus::get().unwrap().enabled, want);
    drop(g);
    assert_eq!(AuditStatus::get().unwrap().enabled, before);
    assert!(matches!(status::set_enabled(2), Err(NetlinkError::Locked)));
}

#[test]
fn socket_overrun_is_a_counted_loss_not_an_error() {
    let _lock = global_lock();
    let _audit = AuditRestore::capture();
    status::set_enabled(1).unwrap();
    load_shipped();
    // The smallest receive buffer the kernel allows, then a burst of execs
    // while nobody reads: the socket must overrun.
    let opts = ReceiverOptions {
        rcvbuf_bytes: 1,
        ..Default::default()
    };
    let mut rx = AuditReceiver::open(opts).unwrap();
    let st = Command::new("/bin/sh")
        .args([
            "-c",
            "i=0; while [ $i -lt 100 ]; do /bin/true; i=$((i+1)); done",
        ])
        .status()
        .unwrap();
    assert!(st.success());
    // Overruns are reported, and records keep coming after them.
    let mut overruns = 0;
    let mut records_after = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && (overruns == 0 || records_after == 0) {
        for item in rx
            .recv_batch(Duration::from_millis(200))
            .expect("an overrun must not be fatal")
        {
            match item {
                AuditItem::Loss(l) if l.cause == CAUSE_OVERRUN => {
                    assert_eq!(l.count, None);
                    let e = l.to_event("h");
                    assert_eq!(e.kind(), tracer::event::Kind::Loss);
                    assert_eq!(e.source, tracer::event::Source::Audit);
                    overruns += 1;
                }
                AuditItem::Loss(_) => {}
                AuditItem::Record(_) if overruns > 0 => records_after += 1,
                AuditItem::Record(_) => {}
            }
        }
        if overruns > 0 && records_after == 0 {
            run_echo("tracer-after-overrun");
        }
    }
    assert!(overruns > 0, "no overrun reported");
    assert!(records_after > 0, "no records after the overrun");
}
