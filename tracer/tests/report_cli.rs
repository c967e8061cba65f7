//! The `tracer report` binary end to end: a closed pipe ends it quietly with
//! success, a file it cannot read is named in the error with a non-zero exit,
//! and `-` reads standard input.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tracer::bytes::Bytes;
use tracer::event::{Body, Event, Exec, Source, Timestamp};

fn tracer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tracer"));
    c.env("NO_COLOR", "1");
    c
}

fn fixture(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/report")
        .join(p)
}

/// A log of `n` execs by a few users.
fn big_log(n: u32) -> String {
    let mut s = String::new();
    for i in 0..n {
        let mut e = Event::new(
            Source::Ebpf,
            Timestamp::from_secs_nanos(1_714_554_000 + i as i64, 0),
            "h",
            Body::Exec(Exec::default()),
        );
        e.task.pid = Some(1000 + i);
        e.task.auid = Some(1000 + i % 3);
        e.task.ses = Some(i % 7);
        e.task.uid = e.task.auid;
        e.exec_mut().unwrap().argv = Some(vec![
            Bytes::from("ls"),
            Bytes::from(format!("file-{i}").as_str()),
        ]);
        e.exec_mut().unwrap().cwd = Some(Bytes::from("/home/u"));
        s.push_str(&e.to_json());
        s.push('\n');
    }
    s
}

#[test]
fn closed_pipe_exits_zero_silently() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("tracer.log");
    std::fs::write(&log, big_log(20_000)).unwrap();
    let mut child = tracer()
        .args(["report", "--utc"])
        .arg(&log)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 100`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "status {:?}, stderr {err}",
        out.status
    );
    assert!(err.is_empty(), "stderr: {err}");
}

#[test]
fn unreadable_inputs_are_named() {
    let out = tracer()
        .args(["report", "/nonexistent/tracer.log"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("can't open /nonexistent/tracer.log"), "{err}");
    assert!(!err.contains("panicked"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let out = tracer().arg("report").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&dir.path().display().to_string()) && err.contains("directory"),
        "{err}"
    );

    let out = tracer()
        .arg("report")
        .arg(fixture("junk.log"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("junk.log"), "{err}");
}

#[test]
fn dash_reads_stdin() {
    let log = std::fs::read(fixture("mixed/tracer.log")).unwrap();
    let mut child = tracer()
        .args(["report", "--utc", "--format", "csv", "--passwd"])
        .arg(fixture("passwd"))
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&log).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("group_kind,"), "{csv}");
    assert!(
        csv.contains("alice") && csv.contains("vim /etc/hosts"),
        "{csv}"
    );
    assert!(csv.contains("cron.service"), "{csv}");
}

#[test]
fn gzip_and_ausearch_raw_output_on_stdin() {
    let out = tracer()
        .args(["report", "-"])
        .stdin(std::fs::File::open(fixture("mixed/tracer.log.2.gz")).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("nosuchcmd"));

    // `ausearch -r` output: raw records between `----` separators.
    let audit = "----\ntype=SYSCALL msg=audit(1714554000.000:1): arch=c000003e syscall=59 success=yes exit=0 ppid=1 pid=42 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=7 comm=\"ls\" exe=\"/usr/bin/ls\" key=\"tracer_exec\"\ntype=EXECVE msg=audit(1714554000.000:1): argc=2 a0=\"ls\" a1=\"-l\"\ntype=CWD msg=audit(1714554000.000:1): cwd=\"/home/alice\"\ntype=EOE msg=audit(1714554000.000:1): \n";
    let mut child = tracer()
        .args(["report", "--format", "csv", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(audit.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.contains("ls -l") && csv.contains("/home/alice"),
        "{csv}"
    );
}
