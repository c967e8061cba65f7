//! Golden-output tests of `tracer report` on the fixtures in
//! `tests/fixtures/report/` (made by `make_fixtures.py` there): the text,
//! JSON and CSV renderings, summaries, grouping by job, filters, and the
//! warnings on stderr. `WRITE_GOLDEN=1 cargo test -p tracer --test
//! report_golden` rewrites the golden files; review their diff like code.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{Local, TimeZone};
use clap::Parser;
use tracer::cli::report::{Env, ReportArgs};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/report")
}

/// Runs the report with `args` (paths relative to the fixtures), returning
/// (stdout, stderr) with the fixture directory replaced by `fixtures`.
fn report(args: &[&str]) -> Result<(String, String), String> {
    let dir = fixtures();
    let mut argv = vec![
        "report".to_owned(),
        "--utc".into(),
        "--color=never".into(),
        "--no-progress".into(),
        // Names from the log and the fixture passwd only, never this machine's.
        "--no-nss".into(),
    ];
    argv.push("--passwd".into());
    argv.push(dir.join("passwd").display().to_string());
    for a in args {
        let p = dir.join(a);
        argv.push(if !a.starts_with('-') && p.exists() {
            p.display().to_string()
        } else {
            a.to_string()
        });
    }
    let w = Wrapper::try_parse_from(&argv).map_err(|e| e.to_string())?;
    let env = Env {
        stdout_is_tty: false,
        stderr_is_tty: false,
        no_color: true,
        now: Local.timestamp_opt(1_714_600_000, 0).unwrap(),
    };
    let config = w.args.to_config(&env).map_err(|e| e.to_string())?;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    tracer::report::run(&config, &mut out, &mut err).map_err(|e| e.to_string())?;
    let prefix = dir.display().to_string();
    let clean = |b: Vec<u8>| {
        String::from_utf8(b)
            .expect("report output is UTF-8")
            .replace(&prefix, "fixtures")
    };
    Ok((clean(out), clean(err)))
}

fn golden(name: &str, actual: &str) {
    let path = fixtures().join("golden").join(name);
    if std::env::var_os("WRITE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with WRITE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "{name} differs from its golden file {} (WRITE_GOLDEN=1 to accept):\n--- actual ---\n{actual}",
            path.display()
        );
    }
}

/// Given newest first on purpose: the report must read oldest first.
const MIXED: [&str; 3] = [
    "mixed/tracer.log",
    "mixed/tracer.log.1",
    "mixed/tracer.log.2.gz",
];

fn mixed(extra: &[&str]) -> (String, String) {
    let mut args: Vec<&str> = extra.to_vec();
    args.extend(MIXED);
    report(&args).unwrap()
}

/// Nothing a watched user typed may reach a terminal as a control sequence.
fn assert_no_controls(s: &str) {
    for c in s.chars() {
        assert!(
            c == '\n' || c == '\r' || tracer::report::quote::is_printable(c),
            "control character {c:?} in output"
        );
    }
}

#[test]
fn mixed_text() {
    let (out, err) = mixed(&[]);
    assert_no_controls(&out);
    assert_no_controls(&err);
    golden("mixed.txt", &out);
    golden("mixed.stderr", &err);
}

#[test]
fn mixed_json() {
    let (out, _) = mixed(&["--format", "json"]);
    assert_no_controls(&out);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(v["stats"]["bad_lines"], 3);
    assert_eq!(v["stats"]["incomplete_events"], 1);
    golden("mixed.json", &out);
}

#[test]
fn mixed_csv() {
    let (out, _) = mixed(&["--format", "csv"]);
    assert_no_controls(&out);
    golden("mixed.csv", &out);
}

#[test]
fn mixed_summary() {
    golden("mixed_summary.txt", &mixed(&["--summary"]).0);
    golden(
        "mixed_summary.json",
        &mixed(&["--summary", "--format", "json"]).0,
    );
    golden(
        "mixed_summary.csv",
        &mixed(&["--summary", "--format", "csv"]).0,
    );
}

#[test]
fn by_job() {
    golden("by_job.txt", &mixed(&["--by", "job"]).0);
    golden(
        "by_job.json",
        &mixed(&["--by", "job", "--format", "json"]).0,
    );
    let (out, _) = mixed(&["--job", "4243", "--format", "csv"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains("./post"));
}

#[test]
fn filters() {
    golden(
        "alice_window.txt",
        &mixed(&[
            "--user",
            "alice",
            "--since",
            "2024-05-01T09:01:00Z",
            "--until",
            "2024-05-01T09:02:00Z",
        ])
        .0,
    );
    golden("failed.csv", &mixed(&["--failed", "--format", "csv"]).0);
    let (by_uid, _) = mixed(&["--user", "1001", "--format", "csv"]);
    let (by_name, _) = mixed(&["--user", "bob", "--format", "csv"]);
    assert_eq!(by_uid, by_name);
    assert_eq!(by_uid.lines().count(), 5);
    let (out, _) = mixed(&["--command", "apt*", "--format", "csv"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (out, _) = mixed(&["--session", "9", "--host", "login2", "--format", "csv"]);
    assert_eq!(out.lines().count(), 5, "{out}");
    let (out, _) = mixed(&["--host", "login3", "--format", "csv"]);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn sessions_without_commands_show_unless_commands_are_filtered() {
    // bob's session has no command after 09:02; it is still shown (a login
    // is worth seeing) unless a command-level filter is active.
    let (out, _) = mixed(&["--user", "bob", "--since", "2024-05-01T09:05:00Z"]);
    assert!(out.contains("session 5 on login2"), "{out}");
    let (out, _) = mixed(&["--user", "bob", "--failed"]);
    assert!(out.contains("no commands matched"), "{out}");
}

#[test]
fn errors_name_the_file() {
    let e = report(&["junk.log"]).unwrap_err();
    assert!(
        e.contains("junk.log") && e.contains("neither a tracer log"),
        "{e}"
    );
    let e = report(&["no/such/file.log"]).unwrap_err();
    assert!(e.contains("no/such/file.log"), "{e}");
    // `ausearch -i` output (real, of the real session fixture) is refused
    // with what to give instead, not read as zero commands.
    // An audit log none of whose lines is a record (a redacted stamp): an
    // error, not an empty report.
    let e = report(&["unreadable.log"]).unwrap_err();
    assert!(
        e.contains("unreadable.log") && e.contains("none of its 2 line(s)"),
        "{e}"
    );
    // But a log of other events (file watches: no exec, no login) whose
    // last line was cut is read, and is an empty report with a warning.
    let dir = std::env::temp_dir().join(format!("tracer-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let watch = dir.join("audit.log");
    std::fs::write(
        &watch,
        "type=SYSCALL msg=audit(1700000000.100:7): arch=c000003e syscall=257 success=yes exit=3 items=1 ppid=1 pid=5 auid=1000 uid=0 ses=2 comm=\"cat\" exe=\"/usr/bin/cat\" key=\"passwd\"\n\
         type=CWD msg=audit(1700000000.100:7): cwd=\"/root\"\n\
         type=PATH msg=audit(1700000000.100:7): item=0 name=\"/etc/passwd\" inode=5 nametype=NORMAL\n\
         type=PROCTITLE msg=audit(1700000000.100:7): proctitle=636174\n\
         type=SYSCALL msg=audit(1700000001.0",
    )
    .unwrap();
    let (out, err) = report(&[watch.to_str().unwrap()]).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.starts_with("no commands matched"), "{out}");
    assert!(err.contains("audit.log:5"), "{err}");
    let e = report(&["ausearch-i.txt"]).unwrap_err();
    assert!(
        e.contains("ausearch-i.txt") && e.contains("ausearch -i") && e.contains("--raw"),
        "{e}"
    );
    // A name is matched against the names the log gives, after reading: an
    // unknown one is an empty report and a warning naming it.
    let (out, err) = report(&["--user", "nobody-here", "mixed/tracer.log"]).unwrap();
    assert!(err.contains("nobody-here"), "{err}");
    assert!(out.starts_with("no commands matched"), "{out}");
    let e = report(&["--since", "someday", "mixed/tracer.log"]).unwrap_err();
    assert!(e.contains("someday"), "{e}");
}

#[test]
fn empty_input_is_an_empty_report() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tracer.log");
    std::fs::write(&p, "\n\n").unwrap();
    let (out, _) = report(&[p.to_str().unwrap()]).unwrap();
    assert!(out.starts_with("no commands matched"), "{out}");
}

/// Issue 8: a report over a log equals the report over the same log split
/// into rotated (and compressed) files.
#[test]
fn rotation_split_equals_whole_log() {
    let dir = fixtures().join("mixed");
    let mut whole = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join("tracer.log.2.gz")).unwrap())
        .read_to_string(&mut whole)
        .unwrap();
    whole.push_str(&std::fs::read_to_string(dir.join("tracer.log.1")).unwrap());
    whole.push('\n'); // the rotated file was cut mid-record
    whole.push_str(&std::fs::read_to_string(dir.join("tracer.log")).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("whole.log");
    std::fs::write(&p, whole).unwrap();
    let (split, _) = mixed(&["--format", "json"]);
    let (one, _) = report(&["--format", "json", p.to_str().unwrap()]).unwrap();
    let split: serde_json::Value = serde_json::from_str(&split).unwrap();
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(split["sessions"], one["sessions"]);
    assert_eq!(split["unattributed"], one["unattributed"]);
    assert_eq!(split["stats"]["bad_lines"], one["stats"]["bad_lines"]);
}

/// Raw audit logs (su/sudo, hex and split args, empty and newline args,
/// interleaved events, junk lines), rotated in the middle of an event and
/// given newest first: the event split across the rotation must be whole.
const AUDIT: [&str; 2] = ["audit/audit.log", "audit/audit.log.1"];

#[test]
fn audit_logs_text_json_csv() {
    for (fmt, name) in [
        ("text", "audit.txt"),
        ("json", "audit.json"),
        ("csv", "audit.csv"),
    ] {
        let mut args = vec!["--format", fmt];
        args.extend(AUDIT);
        let (out, err) = report(&args).unwrap();
        assert_no_controls(&out);
        golden(name, &out);
        if fmt == "text" {
            golden("audit.stderr", &err);
        }
    }
    // The split event is whole: no input ends inside an event.
    let mut args = vec!["--format", "json"];
    args.extend(AUDIT);
    let (out, _) = report(&args).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["stats"]["execs"].as_u64().unwrap() > 5, "{}", v["stats"]);
    assert!(
        v["stats"]["bad_lines"].as_u64().unwrap() > 0,
        "junk lines are counted"
    );
}

#[test]
fn ausearch_default_output_is_the_log_it_came_from() {
    // `ausearch -if real-ssh-sudo-su.log` (audit 3.0.9, TZ=UTC), kept as it
    // printed it: `----` and `time->` before each event, no EOE records,
    // the ENRICHED names dropped. Every `----` now closes the events before
    // it (`logread::audit` tests the EOE-first groups ausearch prints of
    // logs in that order); the report is the raw log's, with no event said
    // to be cut short; only the names of run-as users (which ausearch
    // leaves out) come from --passwd instead.
    let json = |file: &str| {
        let (out, err) = report(&["--format", "json", file]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        (v, err)
    };
    let (raw, _) = json("../audit/sessions/real-ssh-sudo-su.log");
    let (aus, err) = json("ausearch-default.txt");
    assert!(!err.contains("middle of"), "{err}");
    assert_eq!(aus["stats"]["incomplete_events"], 0, "{}", aus["stats"]);
    assert_eq!(raw["sessions"].as_array().unwrap().len(), 3);
    assert_eq!(aus["sessions"], raw["sessions"]);
    assert_eq!(aus["failed_logins"], raw["failed_logins"]);
    assert_eq!(aus["unattributed"], raw["unattributed"]);
}
