//! Issue 14: with several threads, the report writes a big group's command
//! rows in blocks (`--format json`), and runs of small groups in batches
//! (every format), on all cores; the bytes must be the serial ones. A
//! generated audit log with one session of more rows than a block, and
//! thousands of small sessions (many batches of them), arguments that need
//! escaping among them, read and rendered on 1, 2 and 3 threads.

use std::fmt::Write as _;
use std::path::Path;

use tracer::report::input::{InputSpec, ReadOpts};
use tracer::report::{Config, OutputFormat};

/// `n` execs: most in session 1 of uid 1000, every seventh in session 2
/// of uid 1001, every 50th with no login uid; with `small`, every third in
/// one of 3000 small sessions of uid 1002 instead.
fn audit_log(n: u32, small: bool) -> String {
    let mut s = String::new();
    for i in 0..n {
        let (auid, ses) = match i {
            i if i % 50 == 0 => (4294967295u32, 4294967295u32),
            i if small && i % 3 == 0 => (1002, 10 + (i / 3) % 3000),
            i if i % 7 == 0 => (1001, 2),
            _ => (1000, 1),
        };
        let hdr = format!("msg=audit(1714550000.{:03}:{}):", i % 1000, 100 + i);
        let _ = writeln!(
            s,
            "type=SYSCALL {hdr} arch=c000003e syscall=59 success=yes exit=0 items=2 ppid=10 \
             pid={} auid={auid} uid={auid} gid=100 euid={} suid=0 fsuid=0 egid=100 sgid=100 \
             fsgid=100 tty=pts0 ses={ses} comm=\"ls\" exe=\"/usr/bin/ls\" key=\"exec\"",
            1000 + i,
            if i % 11 == 0 { 0 } else { auid },
        );
        // Hex arguments with a quote, a backslash, a tab, an escape and
        // invalid UTF-8; plain ones otherwise.
        let a1 = match i % 5 {
            0 => "2271756F7465645C0909".to_owned(),
            1 => "1B5B324AFF".to_owned(),
            _ => format!("\"-l{i}\""),
        };
        let _ = writeln!(s, "type=EXECVE {hdr} argc=2 a0=\"ls\" a1={a1}");
        let _ = writeln!(s, "type=CWD {hdr} cwd=\"/home/u{}\"", i % 13);
        let _ = writeln!(s, "type=EOE {hdr}");
    }
    s
}

fn render(path: &Path, threads: usize) -> String {
    render_as(path, OutputFormat::Json, threads)
}

fn render_as(path: &Path, format: OutputFormat, threads: usize) -> String {
    let config = Config {
        inputs: vec![InputSpec::Path(path.to_path_buf())],
        format,
        read: ReadOpts {
            threads,
            chunk_bytes: 64 << 10,
        },
        ..Config::default()
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    tracer::report::run(&config, &mut out, &mut err).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn json_rows_in_blocks_are_the_serial_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, audit_log(21_000, false)).unwrap();
    let serial = render(&path, 1);
    // The big session really is bigger than a block (4096 rows) of rows.
    let rows = serial.matches("\"argv\": [").count();
    assert!(rows == 21_000, "{rows} rows");
    assert!(serial.contains(r#""\"quoted\\\t\t""#), "escaped argument");
    let v: serde_json::Value = serde_json::from_str(&serial).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert!(sessions
        .iter()
        .any(|s| s["commands"].as_array().unwrap().len() > 3 * 4096));
    for threads in [2, 3] {
        assert!(render(&path, threads) == serial, "{threads} threads");
    }
}

#[test]
fn small_groups_in_batches_are_the_serial_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    std::fs::write(&path, audit_log(30_000, true)).unwrap();
    // Thousands of sessions, rows enough for several batches of them.
    let json = render(&path, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sessions = v["sessions"].as_array().unwrap();
    assert!(sessions.len() > 2500, "{} sessions", sessions.len());
    let rows: usize = sessions
        .iter()
        .map(|s| s["commands"].as_array().unwrap().len())
        .sum();
    assert!(rows > 3 * tracer::report::par::BATCH_ROWS, "{rows} rows");
    for format in [OutputFormat::Json, OutputFormat::Text, OutputFormat::Csv] {
        let serial = render_as(&path, format, 1);
        for threads in [2, 3] {
            assert!(
                render_as(&path, format, threads) == serial,
                "{format:?} on {threads} threads"
            );
        }
    }
}
