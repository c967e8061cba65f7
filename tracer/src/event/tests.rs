use super::*;

#[test]
fn timestamp_format_has_nanoseconds() {
    let t = Timestamp::from_secs_nanos(1_700_000_000, 5);
    assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.000000005Z");
    assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
}

#[test]
fn exec_event_json_keys() {
    let mut e = Event::new(
        Source::Ebpf,
        Timestamp(0),
        "h",
        Body::Exec(Exec {
            argv: Some(vec![Bytes::from("a"), Bytes::from("")]),
            ..Exec::default()
        }),
    );
    e.task.pid = Some(1);
    e.task.auid = Some(UNSET);
    let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(j["type"], "exec");
    assert_eq!(j["source"], "ebpf");
    assert_eq!(j["argv"], serde_json::json!(["a", ""]));
    assert_eq!(j["auid"], 4294967295u64);
    assert_eq!(j["ret"], 0);
    let back: Event = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(back, e);
}

#[test]
fn unknown_type_and_fields_are_tolerated() {
    let e: Event = serde_json::from_str(
        r#"{"type":"future","time":"2026-01-01T00:00:00Z","source":"ebpf","new_field":1}"#,
    )
    .unwrap();
    assert_eq!(e.kind(), Kind::Unknown);
}

#[test]
fn missing_type_or_time_is_an_error() {
    assert!(Event::from_json(r#"{"time":"2026-01-01T00:00:00Z"}"#).is_err());
    assert!(Event::from_json(r#"{"type":"exec"}"#).is_err());
}

/// Lines as tracer writes them (one of each kind) read back to the same
/// typed event and are written back byte for byte: the wire format is the
/// model's JSON form, nothing is lost either way.
#[test]
fn every_kind_round_trips_byte_for_byte() {
    let lines = [
        r#"{"type":"exec","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","pid":10,"tid":11,"ppid":9,"uid":0,"euid":0,"gid":0,"egid":0,"auid":1000,"ses":3,"tty":"pts/1","comm":"id","exe":"/usr/bin/id","argv":["id","-u"],"cwd":"/root","ret":0,"argc":2,"args_size":6,"cgroup_id":7,"cgroup":"/user.slice","start_boottime":5,"via":"sudo"}"#,
        r#"{"type":"exec_failed","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","pid":10,"argv":["/nope"],"ret":-2}"#,
        r#"{"type":"exec","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","pid":10,"argv":[],"outcome":"unknown","argv_missing":true,"serial":77,"key":"exec"}"#,
        r#"{"type":"exec","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","pid":10,"argv":["x","y"],"ret":0,"argc":3,"truncated":true}"#,
        r#"{"type":"process","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"proc","pid":1,"argv":["init"]}"#,
        r#"{"type":"exit","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","pid":10,"auid":1000,"ses":3,"exit_code":0,"session_leader":true}"#,
        r#"{"type":"exit","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","pid":10,"signal":9}"#,
        r#"{"type":"loss","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","count":3,"cause":"ring_buffer_full","from":"2026-01-01T00:00:00.000000000Z","until":"2026-01-01T00:00:01.000000000Z","detail":{"exec":2,"exec_failed_unseen":0,"exit":1}}"#,
        r#"{"type":"loss","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","cause":"socket_overrun"}"#,
        r#"{"type":"loss","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","count":4,"cause":"some_new_cause"}"#,
        r#"{"type":"login","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","pid":50,"uid":0,"auid":1000,"ses":3,"tty":"pts/1","exe":"/usr/sbin/sshd","addr":"192.0.2.1","port":4022,"serial":12,"detail":{"acct":"alice","hostname":"192.0.2.1","op":"PAM:session_open","record_type":"USER_START","res":"success","terminal":"ssh"}}"#,
        r#"{"type":"login","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","pid":51,"cwd":"/home/alice","detail":{"cmd":"systemctl restart sshd","record_type":"USER_CMD","res":"success"}}"#,
        r#"{"type":"login","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"audit","pid":52,"auid":1000,"ses":4,"detail":{"old_auid":4294967295,"old_ses":4294967295,"record_type":"LOGIN","res":"success"}}"#,
        r#"{"type":"session_start","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"ebpf","pid":60,"auid":1000,"ses":3,"tty":"pts/1","addr":"192.0.2.1","port":4022,"user":"alice","session_kind":"interactive","service":"sshd","detail":{"resumed":true}}"#,
        r#"{"type":"session_end","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","auid":1000,"ses":3,"tty":"pts/1","from":"2025-12-31T00:00:00.000000000Z","addr":"192.0.2.1","user":"alice","detail":{"reason":"expired"}}"#,
        r#"{"type":"discrepancy","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","pid":5,"uid":0,"auid":1000,"ses":3,"exe":"/bin/x","argv":["x"],"serial":9,"detail":{"explained_by_loss":false,"kind":"only_ebpf","seen_by":"ebpf"}}"#,
        r#"{"type":"discrepancy","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","pid":5,"argv":["x"],"detail":{"fields":{"auid":{"audit":1,"ebpf":2}},"kind":"mismatch","seen_by":"ebpf"}}"#,
        r#"{"type":"tracer","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","boot":"0f8c3a52-5c0e-4a8f-9a51-0d7a3c1b2e4f","detail":{"backend":"ebpf","status":"start","version":"0.1.0"}}"#,
        r#"{"type":"tracer","time":"2026-01-01T00:00:00.000000000Z","host":"n1","source":"tracer","detail":{"reason":"x","status":"gap"}}"#,
    ];
    for line in lines {
        let e = Event::from_json(line).unwrap_or_else(|err| panic!("{line}: {err}"));
        assert_eq!(e.to_json(), line);
    }
}

#[test]
fn login_types_open_and_close() {
    assert!(LoginType::parse("USER_START").opens());
    assert!(LoginType::parse("LOGIN").opens());
    assert!(!LoginType::parse("USER_CMD").opens());
    assert!(LoginType::parse("USER_END").closes());
    assert!(LoginType::parse("USER_LOGOUT").closes());
    assert!(!LoginType::parse("CRED_DISP").closes());
    assert_eq!(
        LoginType::parse("NEW_TYPE"),
        LoginType::Other("NEW_TYPE".into())
    );
    assert_eq!(LoginType::parse("NEW_TYPE").as_str(), "NEW_TYPE");
}

/// `WireRef::write` (hand-written, the hot path's) and the derived
/// `Serialize` through serde_json write the same bytes: on every record of
/// the repository's tracer logs (all kinds, hostile argv), and on strings
/// with every control character and escape-block byte.
#[test]
fn hand_written_writer_matches_serde() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut n = 0;
    for f in [
        "ebpf/decoded.jsonl",
        "ebpf/records.jsonl",
        "report/mixed/tracer.log",
    ] {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        for line in text.lines() {
            let Ok(e) = Event::from_json(line) else {
                continue;
            };
            let w = wire::WireRef::from(&e);
            let mut hand = Vec::new();
            w.write(&mut hand);
            assert_eq!(
                String::from_utf8(hand).unwrap(),
                serde_json::to_string(&w).unwrap(),
                "{f}: {line}"
            );
            n += 1;
        }
    }
    assert!(n > 700, "only {n} records");
    let all: Vec<u8> = (0u8..=255).collect();
    let mut e = Event::new(
        Source::Audit,
        Timestamp(-1),
        "h\u{1}\"\\\u{7f}é",
        Body::Exec(Exec {
            argv: Some(vec![Bytes(all.clone()), Bytes::from("\u{10FF00}")]),
            cwd: Some(Bytes(all.clone())),
            outcome: Outcome::Failed(-13),
            via: Some(Via::Other("x\ny".into())),
            ..Exec::default()
        }),
    );
    e.task.tty = Some(String::from_utf8_lossy(&all).into_owned());
    e.task.comm = Some(Bytes(all));
    e.task.pid = Some(u32::MAX);
    let w = wire::WireRef::from(&e);
    let mut hand = Vec::new();
    w.write(&mut hand);
    assert_eq!(
        String::from_utf8(hand).unwrap(),
        serde_json::to_string(&w).unwrap()
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]
    /// The hand-written writer's fast paths (plain ASCII text, small and
    /// large numbers) give serde's bytes on any argument bytes and ids.
    #[test]
    fn hand_written_writer_matches_serde_on_any_bytes(
        args in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    8 => 0x20u8..0x7f,
                    1 => proptest::sample::select(b"\"\\\x7f\x00\n\x1f\xc3\xa9\xf4\x8f\xbc\x80\xff".to_vec()),
                ],
                0..40),
            0..6),
        pid in proptest::prelude::any::<u32>(),
        time in proptest::prelude::any::<i64>(),
    ) {
        let mut e = Event::new(
            Source::Ebpf,
            Timestamp(time / 4),
            "node1",
            Body::Exec(Exec {
                cwd: args.first().cloned().map(Bytes),
                argv: Some(args.into_iter().map(Bytes).collect()),
                ..Exec::default()
            }),
        );
        e.task.pid = Some(pid);
        e.task.ppid = Some(pid / 10);
        let w = wire::WireRef::from(&e);
        let mut hand = Vec::new();
        w.write(&mut hand);
        proptest::prop_assert_eq!(
            String::from_utf8(hand).unwrap(),
            serde_json::to_string(&w).unwrap()
        );
    }
}
