//! Bad input fed to `tracer report` (issue 8), both kinds of log:
//!
//! - one hostile audit.log made of every case (a 1 MB line, CRLF, a record
//!   without `msg=audit(`, duplicate serials, `key=(null)`, ENRICHED 0x1d
//!   suffixes, `node=` prefixes, 70,000 arguments, a 300 KiB argument split
//!   into `aN[i]` chunks, invalid UTF-8, terminal escapes and fake JSON
//!   inside argv, hex-encoded as the kernel writes them, a truncated last
//!   event);
//! - a hostile tracer JSON log (huge lines, invalid UTF-8, 70,000 arguments,
//!   a 300 KiB argument, NUL and escape bytes, JSON fragments, duplicate
//!   keys), and one whose last line was cut by a crash.
//!
//! In every format nothing may panic or hang (the input is finite and every
//! reader is streaming, so a test that finishes has not hung), forge a
//! record or put a control byte on the terminal; every malformed line is
//! counted at its exact line number.

use chrono::{Local, TimeZone};
use clap::Parser;
use tracer::bytes::Bytes;
use tracer::cli::report::{Env, ReportArgs};
use tracer::event::{Body, Event, Exec, Source, Timestamp};
use tracer::report::stats::Stats;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

const FORGED: &str = "FORGED-BY-ARGV";

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// The lines of one exec event (SYSCALL, EXECVE records, CWD, EOE).
fn exec_event(serial: u64, argv: &[Vec<u8>], extra: &str) -> Vec<Vec<u8>> {
    let hdr = format!("msg=audit(1700000000.{:03}:{serial}):", serial % 1000);
    let mut out = vec![format!(
        "type=SYSCALL {hdr} arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=1 ppid=1 pid={serial} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=7 comm=\"x\" exe=\"/usr/bin/x\" {extra}"
    )
    .into_bytes()];
    // Arguments packed into EXECVE records of at most ~7,500 bytes, as the
    // kernel does; a long argument is announced by aN_len and split into
    // aN[i] chunks, each in its own record.
    let mut rec = format!("type=EXECVE {hdr} argc={}", argv.len());
    for (i, a) in argv.iter().enumerate() {
        if a.len() > 2000 {
            out.push(rec.into_bytes());
            out.push(format!("type=EXECVE {hdr} a{i}_len={}", a.len() * 2).into_bytes());
            for (j, c) in a.chunks(3000).enumerate() {
                out.push(format!("type=EXECVE {hdr} a{i}[{j}]={}", hex(c)).into_bytes());
            }
            rec = format!("type=EXECVE {hdr}");
            continue;
        }
        let v = if a.iter().all(|&c| c.is_ascii_graphic() && c != b'"') {
            format!("\"{}\"", String::from_utf8_lossy(a))
        } else {
            hex(a)
        };
        let field = format!(" a{i}={v}");
        if rec.len() + field.len() > 7500 {
            out.push(rec.into_bytes());
            rec = format!("type=EXECVE {hdr}");
        }
        rec.push_str(&field);
    }
    out.push(rec.into_bytes());
    out.push(format!("type=CWD {hdr} cwd=\"/tmp\"").into_bytes());
    out.push(format!("type=EOE {hdr}").into_bytes());
    out
}

fn report(path: &std::path::Path, format: &str) -> (Stats, String, String) {
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
        stderr_is_tty: true,
        no_color: true,
        now: Local.timestamp_opt(1_714_600_000, 0).unwrap(),
    };
    let config = w.args.to_config(&env).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let stats = tracer::report::run(&config, &mut out, &mut err).unwrap();
    (
        stats,
        String::from_utf8(out).expect("report output is UTF-8"),
        String::from_utf8(err).expect("warnings are UTF-8"),
    )
}

fn assert_terminal_safe(what: &str, text: &str) {
    // CSV ends its rows with CRLF (RFC 4180): only that CR is allowed.
    let text = text.replace("\r\n", "\n");
    for (i, c) in text.chars().enumerate() {
        assert!(
            c == '\n' || (c >= ' ' && c != '\u{7f}' && !('\u{80}'..='\u{9f}').contains(&c)),
            "{what}: control character {c:?} at char {i}"
        );
    }
}

#[test]
fn hostile_audit_log_yields_a_report_and_a_count_of_what_was_skipped() {
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut bad: Vec<u64> = Vec::new();
    let mut execs = 0u64;
    let push_event = |lines: &mut Vec<Vec<u8>>, ev: Vec<Vec<u8>>| lines.extend(ev);

    // A 1 MB line of junk.
    lines.push(vec![b'x'; 1 << 20]);
    bad.push(lines.len() as u64);
    // CRLF line ends.
    let crlf: Vec<Vec<u8>> = exec_event(101, &[b"crlf".to_vec(), b"-x".to_vec()], "key=\"k\"")
        .into_iter()
        .map(|mut l| {
            l.push(b'\r');
            l
        })
        .collect();
    push_event(&mut lines, crlf);
    execs += 1;
    // A record without `msg=audit(`.
    lines.push(b"type=SYSCALL arch=c000003e syscall=59 success=yes pid=1".to_vec());
    bad.push(lines.len() as u64);
    // key=(null), ENRICHED suffixes and node= prefixes.
    push_event(
        &mut lines,
        exec_event(102, &[b"nullkey".to_vec()], "key=(null)"),
    );
    execs += 1;
    let enriched: Vec<Vec<u8>> = exec_event(103, &[b"enriched".to_vec()], "key=(null)")
        .into_iter()
        .map(|mut l| {
            l.extend_from_slice(b"\x1dARCH=x86_64 AUID=\"alice\" UID=\"alice\"");
            l
        })
        .collect();
    push_event(&mut lines, enriched);
    execs += 1;
    let node: Vec<Vec<u8>> = exec_event(104, &[b"noded".to_vec()], "key=(null)")
        .into_iter()
        .map(|l| [b"node=other.example ".to_vec(), l].concat())
        .collect();
    push_event(&mut lines, node);
    execs += 1;
    // Duplicate serials: the same event id twice in a row.
    push_event(
        &mut lines,
        exec_event(105, &[b"dup1".to_vec()], "key=(null)"),
    );
    push_event(
        &mut lines,
        exec_event(105, &[b"dup2".to_vec()], "key=(null)"),
    );
    execs += 2;
    // 70,000 arguments.
    let many: Vec<Vec<u8>> = std::iter::once(b"many".to_vec())
        .chain((1..70_000).map(|i| format!("a{i}").into_bytes()))
        .collect();
    push_event(&mut lines, exec_event(106, &many, "key=(null)"));
    execs += 1;
    // A 300 KiB argument, split into chunks.
    push_event(
        &mut lines,
        exec_event(107, &[b"big".to_vec(), vec![b'B'; 300 << 10]], "key=(null)"),
    );
    execs += 1;
    // Invalid UTF-8, terminal escapes (CSI 2J, OSC 52 with BEL, C1 CSI) and
    // fake JSON that would forge a record if written unescaped.
    let nasty = vec![
        b"nasty".to_vec(),
        b"\xff\xfe not utf8".to_vec(),
        b"\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07".to_vec(),
        b"\xc2\x9b31m and raw \x9b".to_vec(),
        format!("\"}}\n{{\"type\":\"exec\",\"time\":\"2023-11-14T22:13:20Z\",\"auid\":0,\"ses\":1,\"argv\":[\"{FORGED}\"]}}\n")
            .into_bytes(),
    ];
    push_event(&mut lines, exec_event(108, &nasty, "key=(null)"));
    execs += 1;
    // A truncated last event: SYSCALL and EXECVE, the last line cut.
    let cut = exec_event(109, &[b"cut".to_vec()], "key=(null)");
    lines.push(cut[0].clone());
    let mut last = cut[1].clone();
    last.truncate(20);
    lines.push(last);
    bad.push(lines.len() as u64);
    // The exec is still known from its SYSCALL record (and the event is
    // counted as incomplete).
    execs += 1;

    let mut log = lines.join(&b"\n"[..]); // no newline after the cut line
    log.shrink_to_fit();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, &log).unwrap();

    for format in ["text", "json", "csv"] {
        let (stats, out, err) = report(&path, format);
        let at: Vec<u64> = stats.bad_line_samples.iter().map(|b| b.line).collect();
        assert_eq!(at, bad, "{format}: bad lines\n{err}");
        assert_eq!(stats.bad_lines, bad.len() as u64, "{format}");
        assert!(
            stats.incomplete_events >= 1,
            "{format}: the cut event is counted"
        );
        assert_eq!(
            stats.counts.selected, execs,
            "{format}: one command per exec, none forged\n{out:.1500}"
        );
        assert!(
            !out.contains(&format!("\n{FORGED}")),
            "{format}: forged line"
        );
        for l in 1..=bad.len() {
            assert!(
                err.contains(&format!("audit.log:{}: skipped", bad[l - 1])),
                "{err}"
            );
        }
        assert_terminal_safe(&format!("{format} stdout"), &out);
        assert_terminal_safe(&format!("{format} stderr"), &err);
        match format {
            "json" => {
                let v: serde_json::Value = serde_json::from_str(&out).unwrap();
                // The fake JSON stays inside one argument: no argv anywhere
                // starts with the forged command.
                assert!(!forged_argv(&v), "{format}: forged command");
                assert!(
                    v.to_string().contains(FORGED),
                    "{format}: the argument is kept"
                );
                assert_eq!(v["stats"]["bad_lines"], bad.len() as u64);
            }
            "csv" => {
                // One line per command plus the header: no raw newline
                // inside a command.
                assert_eq!(
                    out.lines().count() as u64,
                    execs + 1,
                    "{format}:\n{out:.2000}"
                );
            }
            _ => {
                assert!(
                    out.contains("skipped") || out.contains("malformed"),
                    "{format}: {out:.3000}"
                );
            }
        }
    }
}

/// True when some array in `v` starts with the string [`FORGED`].
fn forged_argv(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Array(a) => {
            a.first().and_then(|f| f.as_str()) == Some(FORGED) || a.iter().any(forged_argv)
        }
        serde_json::Value::Object(o) => o.values().any(forged_argv),
        _ => false,
    }
}

#[test]
fn a_tracer_log_cut_by_a_crash_is_incomplete_not_an_error() {
    let rec = r#"{"type":"exec","time":"2024-05-01T09:00:00Z","host":"h","source":"ebpf","pid":1,"auid":1000,"ses":1,"argv":["ls"]}"#;
    let log = format!("{rec}\n{rec}\n{}", &rec[..50]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tracer.log");
    std::fs::write(&path, log).unwrap();
    let (stats, _, err) = report(&path, "json");
    assert_eq!(stats.counts.selected, 2);
    assert_eq!(stats.incomplete_events, 1, "{err}");
    assert_eq!(
        stats
            .bad_line_samples
            .iter()
            .map(|b| b.line)
            .collect::<Vec<_>>(),
        vec![3]
    );
    assert!(err.contains("tracer.log:3"), "{err}");
    assert!(
        stats.incomplete_at[0].ends_with("tracer.log:3"),
        "{:?}",
        stats.incomplete_at
    );
}

/// An audit log whose file stops inside an event (a crash, a copy cut short)
/// names where that event began, in the warnings, the JSON stats and the
/// text report's footer: records of a real execve (go-libaudit's
/// testdata/normal.log shape) with the file ending after its EXECVE.
#[test]
fn an_audit_event_cut_at_the_end_of_a_file_is_named_by_file_and_line() {
    let log = concat!(
        "type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=1 pid=50 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"ls\" exe=\"/usr/bin/ls\" key=(null)\n",
        "type=EXECVE msg=audit(1700000000.100:10): argc=1 a0=\"ls\"\n",
        "type=EOE msg=audit(1700000000.100:10): \n",
        "type=SYSCALL msg=audit(1700000001.100:11): arch=c000003e syscall=59 success=yes exit=0 a0=1 a1=2 a2=3 a3=0 items=2 ppid=1 pid=51 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"id\" exe=\"/usr/bin/id\" key=(null)\n",
        "type=EXECVE msg=audit(1700000001.100:11): argc=1 a0=\"id\"\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, log).unwrap();
    let (stats, out, err) = report(&path, "text");
    assert_eq!(stats.incomplete_events, 1, "{err}");
    assert_eq!(stats.incomplete_at.len(), 1);
    assert!(
        stats.incomplete_at[0].ends_with("audit.log:4"),
        "{:?}",
        stats.incomplete_at
    );
    assert!(err.contains("audit.log:4: an event begins here"), "{err}");
    assert!(out.contains("input ended inside 1 event(s) (at "), "{out}");
    let (_, json, _) = report(&path, "json");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let at = v["stats"]["incomplete_event_at"][0].as_str().unwrap();
    assert!(at.ends_with("audit.log:4"), "{at}");
}

/// A tracer JSON log: one event per line, each line hostile its own way.
fn exec(argv: Vec<Bytes>) -> String {
    let mut e = Event::new(
        Source::Ebpf,
        Timestamp::from_secs_nanos(1_714_554_000, 0),
        "h",
        Body::Exec(Exec {
            argv: Some(argv),
            ..Exec::default()
        }),
    );
    e.task.auid = Some(1000);
    e.task.ses = Some(1);
    e.task.pid = Some(42);
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
        let (stats, out, err) = report(&path, format);
        let bad: Vec<u64> = stats.bad_line_samples.iter().map(|b| b.line).collect();
        assert_eq!(bad, vec![1, 2, 6, 7, 8, 9, 10, 11], "{format}");
        assert_eq!(stats.counts.selected, 3, "{format}");
        assert_terminal_safe(&format!("{format} output"), &out);
        assert_terminal_safe(&format!("{format} warnings"), &err);
    }
}
