//! Unit and property tests of the coalescer.

use super::*;
use crate::event::Kind;
use crate::source::audit::parse::parse_line;
use proptest::prelude::*;

fn cfg() -> CoalescerConfig {
    CoalescerConfig {
        host: "h".into(),
        ..CoalescerConfig::default()
    }
}

fn feed(c: &mut Coalescer, lines: &[String]) -> Vec<Event> {
    let mut out = Vec::new();
    for l in lines {
        c.push(&parse_line(l.as_bytes()).unwrap(), &mut out);
    }
    out
}

/// The records of one exec event, EOE last.
fn exec_records(t: u64, serial: u64, args: &[&str]) -> Vec<String> {
    let h = format!("msg=audit({t}.000:{serial}):");
    let mut execve = format!("type=EXECVE {h} argc={}", args.len());
    for (i, a) in args.iter().enumerate() {
        execve.push_str(&format!(" a{i}=\"{a}\""));
    }
    vec![
        format!("type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid={serial} auid=1000 uid=1000 gid=1000 euid=1000 egid=1000 tty=pts0 ses=2 comm=\"x\" exe=\"/bin/x\" key=\"k\""),
        execve,
        format!("type=CWD {h} cwd=\"/tmp\""),
        format!("type=PATH {h} item=0 name=\"/bin/x\" nametype=NORMAL"),
        format!("type=PROCTITLE {h} proctitle=78"),
        format!("type=EOE {h}"),
    ]
}

fn serials(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| e.exec().unwrap().serial)
        .collect()
}

#[test]
fn interleaved_events_close_on_their_eoe() {
    let a = exec_records(100, 1, &["a"]);
    let b = exec_records(100, 2, &["b"]);
    let mut lines = Vec::new();
    for i in 0..a.len() {
        lines.push(b[i].clone());
        lines.push(a[i].clone());
    }
    let mut c = Coalescer::new(cfg());
    let out = feed(&mut c, &lines);
    assert_eq!(serials(&out), [2, 1]);
    assert_eq!(c.open_events(), 0);
    assert_eq!(c.flush(&mut Vec::<Event>::new()), 0);
    assert_eq!(c.stats().exec_events, 2);
}

#[test]
fn login_records_are_events_at_once() {
    let mut c = Coalescer::new(cfg());
    let line = "node=n1 type=USER_START msg=audit(5.000:7): pid=1 uid=0 auid=1000 ses=4 msg='op=PAM:session_open acct=\"alice\" exe=\"/usr/sbin/sshd\" hostname=h addr=10.0.0.1 terminal=ssh res=success'".to_string();
    let out = feed(&mut c, &[line]);
    assert_eq!(out.len(), 1);
    let e = &out[0];
    assert_eq!(e.kind(), Kind::Login);
    assert_eq!(e.host, "n1");
    assert_eq!(
        (e.task.auid, e.task.ses, e.task.pid),
        (Some(1000), Some(4), Some(1))
    );
    let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(j["addr"], "10.0.0.1");
    assert_eq!(e.task.tty, None);
    let d = &j["detail"];
    assert_eq!(d["record_type"], "USER_START");
    assert_eq!(d["acct"], "alice");
    assert_eq!(d["res"], "success");
    assert_eq!(d["terminal"], "ssh");
}

#[test]
fn without_eoe_events_close_by_window_time_and_flush() {
    let strip = |v: Vec<String>| -> Vec<String> {
        v.into_iter()
            .filter(|l| !l.starts_with("type=EOE"))
            .collect()
    };
    // By window: many records later.
    let mut c = Coalescer::new(CoalescerConfig {
        window: 10,
        ..cfg()
    });
    let mut lines = strip(exec_records(100, 1, &["a"]));
    for s in 2..6 {
        lines.extend(strip(exec_records(100, s, &["b"])));
    }
    let out = feed(&mut c, &lines);
    // PROCTITLE is not folded into an exec, so it does not count towards
    // the window: four records an event.
    assert_eq!(serials(&out), [1, 2, 3]);
    let mut rest = Vec::new();
    // No EOE anywhere: nothing can be called incomplete.
    assert_eq!(c.flush(&mut rest), 0);
    assert_eq!(serials(&rest), [4, 5]);
    assert_eq!(c.stats().flushed, 2);

    // By time: a record more than 2 s newer.
    let mut c = Coalescer::new(cfg());
    let mut lines = strip(exec_records(100, 1, &["a"]));
    lines.extend(strip(exec_records(102, 2, &["b"])));
    assert!(feed(&mut c, &lines).is_empty());
    lines = strip(exec_records(103, 3, &["c"]));
    assert_eq!(serials(&feed(&mut c, &lines)), [1]);
    // Live expiry by wall clock.
    let mut out = Vec::new();
    c.expire(Timestamp::from_secs_nanos(200, 0), &mut out);
    assert_eq!(serials(&out), [2, 3]);
}

#[test]
fn flush_counts_incomplete_when_the_log_has_eoe() {
    let mut c = Coalescer::new(cfg());
    let mut lines = exec_records(100, 1, &["a"]);
    lines.extend(exec_records(100, 2, &["b"]).into_iter().take(3));
    assert_eq!(serials(&feed(&mut c, &lines)), [1]);
    let mut out = Vec::new();
    assert_eq!(c.flush(&mut out), 1);
    assert_eq!(serials(&out), [2]);
    assert_eq!(argv0(&out[0]), "b");
}

fn argv0(e: &Event) -> String {
    e.exec().unwrap().argv.as_ref().unwrap()[0]
        .to_string_lossy()
        .into_owned()
}

#[test]
fn same_serial_on_other_nodes_or_times_are_other_events() {
    let mut c = Coalescer::new(cfg());
    let a = exec_records(100, 1, &["a"]);
    let b: Vec<String> = exec_records(100, 1, &["b"])
        .iter()
        .map(|l| format!("node=n2 {l}"))
        .collect();
    let d = exec_records(101, 1, &["d"]);
    let mut lines = Vec::new();
    for i in 0..a.len() {
        lines.extend([a[i].clone(), b[i].clone(), d[i].clone()]);
    }
    let out = feed(&mut c, &lines);
    let got: Vec<(String, String)> = out.iter().map(|e| (e.host.clone(), argv0(e))).collect();
    assert_eq!(
        got,
        [
            ("h".into(), "a".into()),
            ("n2".into(), "b".into()),
            ("h".into(), "d".into())
        ]
    );
}

#[test]
fn memory_is_bounded() {
    let mut c = Coalescer::new(CoalescerConfig {
        max_open: 8,
        window: u64::MAX,
        timeout: Duration::from_secs(1 << 30),
        ..cfg()
    });
    let mut out = Vec::new();
    for s in 0..1000u64 {
        let l = format!(
            "type=SYSCALL msg=audit(1.000:{s}): arch=c000003e syscall=59 success=yes exit=0 pid=1"
        );
        c.push(&parse_line(l.as_bytes()).unwrap(), &mut out);
        assert!(c.open_events() <= 9);
    }
    assert!(c.stats().evicted > 900);
    // Evicted oldest first.
    assert!(serials(&out).windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn ignored_records_and_unmatched_eoe_are_counted() {
    let mut c = Coalescer::new(cfg());
    let lines = [
        "type=SOCKADDR msg=audit(1.000:5): saddr=0200".to_string(),
        "type=EOE msg=audit(1.000:5):".to_string(),
        "type=CONFIG_CHANGE msg=audit(1.000:6): op=add_rule".to_string(),
    ];
    assert!(feed(&mut c, &lines).is_empty());
    assert_eq!(c.stats().ignored_records, 2);
    assert_eq!(c.stats().unmatched_eoe, 1);
}

/// Events (as record lists, EOE last) interleaved: a strategy for a set of
/// events, each shuffled inside except EOE, then merged in a random order that
/// keeps each event's own order.
fn shuffled_events() -> impl Strategy<Value = (Vec<Vec<String>>, Vec<String>)> {
    let event = (0u64..2, proptest::collection::vec("[a-z]{0,3}", 1..5));
    proptest::collection::vec(event, 1..6)
        .prop_map(|evs| {
            evs.into_iter()
                .enumerate()
                .map(|(i, (t, args))| {
                    let args: Vec<&str> = args.iter().map(String::as_str).collect();
                    exec_records(100 + t, i as u64 + 1, &args)
                })
                .collect::<Vec<_>>()
        })
        .prop_flat_map(|events| {
            let shuffles: Vec<_> = events
                .iter()
                .map(|e| Just(e[..e.len() - 1].to_vec()).prop_shuffle())
                .collect();
            let total: usize = events.iter().map(Vec::len).sum();
            (
                Just(events),
                shuffles,
                proptest::collection::vec(any::<u32>(), total),
            )
        })
        .prop_map(|(events, shuffled, picks)| {
            let mut queues: Vec<std::collections::VecDeque<String>> = shuffled
                .into_iter()
                .zip(&events)
                .map(|(mut s, e)| {
                    s.push(e[e.len() - 1].clone());
                    s.into()
                })
                .collect();
            let mut merged = Vec::new();
            for p in picks {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|&i| !queues[i].is_empty())
                    .collect();
                if live.is_empty() {
                    break;
                }
                let q = live[p as usize % live.len()];
                merged.push(queues[q].pop_front().unwrap_or_default());
            }
            (events, merged)
        })
}

proptest! {
    #[test]
    fn output_does_not_depend_on_record_order((events, merged) in shuffled_events()) {
        let mut c = Coalescer::new(cfg());
        let mut got = feed(&mut c, &merged);
        c.flush(&mut got);
        let mut want = Vec::new();
        let mut c2 = Coalescer::new(cfg());
        for e in &events {
            want.extend(feed(&mut c2, e));
        }
        got.sort_by_key(|e| e.exec().unwrap().serial);
        want.sort_by_key(|e| e.exec().unwrap().serial);
        prop_assert_eq!(got, want);
    }
}

#[test]
fn syscalls_written_with_names_are_read_as_execs_or_not() {
    // Interpreted at the source (auditbeat's and some forwarders' logs):
    // `arch=x86_64 syscall=execve`. A lone SYSCALL (a failed exec has no
    // EXECVE record) is an exec by its name; another name is not one, even
    // with records an exec would have.
    let rec = |serial: u64, arch: &str, call: &str| {
        format!(
            "type=SYSCALL msg=audit(100.000:{serial}): arch={arch} syscall={call} success=no \
             exit=-2 items=1 ppid=1 pid=7 auid=1000 uid=1000 ses=3 comm=\"sh\" exe=\"/bin/sh\""
        )
    };
    let mut c = Coalescer::new(cfg());
    let mut lines = Vec::new();
    for (serial, arch, call) in [
        (1, "x86_64", "execve"),
        (2, "c000003e", "execveat"),
        (3, "x86_64", "59"),
        (4, "x86_64", "open"),
        (5, "aarch64", "221"),
    ] {
        lines.push(rec(serial, arch, call));
        lines.push(format!(
            "type=CWD msg=audit(100.000:{serial}): cwd=\"/tmp\""
        ));
        lines.push(format!("type=EOE msg=audit(100.000:{serial}): "));
    }
    let out = feed(&mut c, &lines);
    assert_eq!(serials(&out), [1, 2, 3, 5]);
    let e = out[0].exec().unwrap();
    assert_eq!(e.outcome, crate::event::Outcome::Failed(-2));
    assert_eq!(out[0].task.auid, Some(1000));
}

#[test]
fn without_eoe_an_event_closes_when_its_last_part_comes() {
    // auditd leaves EOE out of audit.log: an exec is complete with its
    // SYSCALL, its `items` PATH records, its CWD and every argument.
    let h = |s: u64| format!("msg=audit(100.000:{s}):");
    let syscall = |s: u64, ok: &str, items: u32| {
        format!(
            "type=SYSCALL {} arch=c000003e syscall=59 success={ok} exit=0 items={items} ppid=1 \
             pid={s} auid=1000 uid=1000 ses=2 comm=\"x\" exe=\"/bin/x\"",
            h(s)
        )
    };
    let cwd = |s: u64| format!("type=CWD {} cwd=\"/tmp\"", h(s));
    let path = |s: u64, i: u32| format!("type=PATH {} item={i} name=\"/bin/x\"", h(s));
    let mut c = Coalescer::new(cfg());
    // 1: whole at its second PATH, not at its first.
    let first = [
        syscall(1, "yes", 2),
        format!("type=EXECVE {} argc=1 a0=\"x\"", h(1)),
        cwd(1),
        path(1, 0),
    ];
    assert!(feed(&mut c, &first).is_empty());
    assert_eq!(serials(&feed(&mut c, &[path(1, 1)])), [1]);
    // 2: an argument split in chunks: not whole until the last chunk, in
    // whatever order the records come.
    let parts = [
        syscall(2, "yes", 1),
        cwd(2),
        path(2, 0),
        format!(
            "type=EXECVE {} argc=2 a0=\"x\" a1_len=6 a1[0]=\"abc\"",
            h(2)
        ),
    ];
    assert!(feed(&mut c, &parts).is_empty());
    let out = feed(&mut c, &[format!("type=EXECVE {} a1[1]=\"def\"", h(2))]);
    assert_eq!(serials(&out), [2]);
    assert_eq!(
        out[0].exec().unwrap().argv.as_ref().unwrap()[1].to_string_lossy(),
        "abcdef"
    );
    // 3: a failed exec has no EXECVE: whole with its CWD and PATH.
    assert_eq!(
        serials(&feed(&mut c, &[syscall(3, "no", 1), path(3, 0), cwd(3)])),
        [3]
    );
    // 4: another syscall without names: whole at its SYSCALL.
    let other = format!(
        "type=SYSCALL {} arch=c000003e syscall=44 success=yes exit=0 items=0 pid=9",
        h(4)
    );
    assert!(feed(&mut c, &[other]).is_empty());
    assert_eq!(c.open_events(), 0);
    // An EOE after an event closed whole is not counted as unmatched.
    feed(&mut c, &[format!("type=EOE {}", h(4))]);
    assert_eq!(c.stats().unmatched_eoe, 0);
}
