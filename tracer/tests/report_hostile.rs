//! Issue 8's bad input, fed to the report: huge lines, invalid UTF-8, 70,000
//! arguments, a 300 KiB argument, NUL and escape bytes, JSON fragments and
//! duplicate keys. None may panic or put a control character on the
//! terminal; every bad line is counted with its location.

use chrono::{Local, TimeZone};
use clap::Parser;
use tracer::bytes::Bytes;
use tracer::cli::report::{Env, ReportArgs};
use tracer::event::{Body, Event, Exec, Source, Timestamp};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

fn exec(argv: Vec<Bytes>) -> String {
    let mut e = Event::new(
        Source::Ebpf,
        Timestamp::from_secs_nanos(1_714_554_000, 0),
        "h",
        Body::Exec(Exec::default()),
    );
    e.task.auid = Some(1000);
    e.task.ses = Some(1);
    e.task.pid = Some(42);
    e.exec_mut().unwrap().argv = Some(argv);
    e.to_json()
}

#[test]
fn hostile_log_is_reported_not_obeyed() {
    let mut log: Vec<u8> = Vec::new();
    let mut line = |l: &[u8]| {
        log.extend_from_slice(l);
        log.push(b'\n');
    };
    line(&vec![b'x'; 1 << 20]); // 1: a 1 MB junk line
    line(b"{\"type\":\"exec\",\"time\":\"2024-05-01T09:00:00Z\",\"host\":\"\xff\xfe\"}"); // 2: invalid UTF-8
    line(
        exec(
            (0..70_000)
                .map(|i| Bytes::from(format!("a{i}").as_str()))
                .collect(),
        )
        .as_bytes(),
    ); // ok
    line(exec(vec![Bytes::from("echo"), Bytes(vec![b'A'; 300 << 10])]).as_bytes()); // ok
    line(
        exec(vec![Bytes(
            b"x\0y\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07\x9b".to_vec(),
        )])
        .as_bytes(),
    ); // ok
    line(b"{\"type\":\"exec\",\"type\":\"exit\",\"time\":\"2024-05-01T09:00:00Z\"}"); // 6: duplicate key
    line(b"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{"); // 7
    line(b"[1,2,3]"); // 8
    line(b"{\"type\":\"exec\",\"time\":\"2024-05-01T09:00:00Z\",\"argv\":\"notalist\"}"); // 9
    line(b"{\"type\":\"exec\",\"time\":\"2024-05-01T09:00:00Z\",\"pid\":-1}"); // 10
    line(b"\x1b[31m{\"not\": \"json\"}"); // 11
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hostile.log");
    std::fs::write(&path, &log).unwrap();

    for format in ["text", "json", "csv"] {
        let w = Wrapper::try_parse_from([
            "report",
            "--utc",
            "--no-progress",
            "--format",
            format,
            path.to_str().unwrap(),
        ])
        .unwrap();
        let env = Env {
            stdout_is_tty: true,
            stderr_is_tty: false,
            no_color: true,
            now: Local.timestamp_opt(1_714_600_000, 0).unwrap(),
        };
        let config = w.args.to_config(&env).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let stats = tracer::report::run(&config, &mut out, &mut err).unwrap();
        let bad: Vec<u64> = stats.bad_line_samples.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![1, 2, 6, 7, 8, 9, 10, 11], "{format}");
        assert_eq!(stats.counts.selected, 3, "{format}");
        for text in [
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        ] {
            assert!(
                text.chars()
                    .all(|c| c == '\n' || c == '\r' || tracer::report::quote::is_printable(c)),
                "{format}: control character in output"
            );
        }
    }
}
