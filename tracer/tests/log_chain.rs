//! Issue 8, tamper evidence: the log's `seq`/`chain` seal continues across
//! rotation and restarts, and `tracer verify` finds a deleted, edited,
//! reordered, inserted or cut record and names its file:line. The sinks are
//! driven directly (no kernel needed); the binary is run for exit codes.

use std::path::{Path, PathBuf};
use std::process::Command;

use tracer::bytes::Bytes;
use tracer::config::{Config, FlushMode, Size};
use tracer::event::{Body, Event, Exec, Source, Timestamp, TracerStatus};
use tracer::sink::chain::load_key;
use tracer::sink::Sinks;
use tracer::verify::{verify, Finding, Outcome};

struct Log {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    cfg: Config,
}

impl Log {
    fn new(max_size: u64) -> Log {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("logs");
        let mut cfg = Config::default();
        cfg.log.enabled = true;
        cfg.log.file = dir.join("tracer.log");
        cfg.log.max_size = Size(max_size);
        cfg.log.num_logs = 9;
        cfg.log.flush = FlushMode::None;
        cfg.log.chain_key = d.path().join("key/chain.key");
        cfg.syslog.enabled = false;
        Log { _dir: d, dir, cfg }
    }

    /// One run of tracer: `n` exec records, then a stop record if `stop`.
    fn run(&self, first: usize, n: usize, stop: bool) {
        let mut s = Sinks::open(&self.cfg, "h").unwrap();
        for i in first..first + n {
            let mut e = Event::new(
                Source::Ebpf,
                Timestamp::from_secs_nanos(1_714_554_000 + i as i64, 0),
                "h",
                Body::Exec(Exec::default()),
            );
            e.task.pid = Some(i as u32);
            e.exec_mut().unwrap().argv = Some(vec![
                Bytes::from("echo"),
                Bytes::from(format!("n{i}").as_str()),
            ]);
            s.write(&e).unwrap();
            if i % 5 == 0 {
                s.flush().unwrap();
            }
        }
        if stop {
            let e = Event::tracer("h", TracerStatus::Stop, serde_json::json!({}));
            s.write(&e).unwrap();
        }
        s.close().unwrap();
    }

    /// All files of the log, in a scrambled order (verify sorts them).
    fn files(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        v.sort();
        v.reverse();
        v
    }

    fn verify(&self) -> Outcome {
        let key = load_key(&self.cfg.log.chain_key).unwrap();
        verify(&key, &self.files()).unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(p: &Path, l: &[String]) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600));
    let mut s = l.join("\n");
    s.push('\n');
    std::fs::write(p, s).unwrap();
}

/// Two runs (the first crashes without a stop record), with rotations.
fn two_runs() -> Log {
    let log = Log::new(2000);
    log.run(0, 30, false);
    log.run(30, 30, true);
    log
}

#[test]
fn intact_log_verifies_across_rotation_and_restart() {
    let log = two_runs();
    let files = log.files();
    assert!(files.len() >= 3, "expected rotations: {files:?}");
    let out = log.verify();
    assert!(out.intact(), "{:?}", out.findings);
    // 60 execs, the gap record of the restart, the stop record, and the
    // host/boot record at the head of each file that rotation started.
    let heads = files
        .iter()
        .flat_map(|f| lines(f))
        .filter(|l| l.contains(r#""status":"file""#))
        .count() as u64;
    assert!(heads >= 2, "{heads} file head records");
    assert_eq!(out.records, 62 + heads);
    assert_eq!((out.first_seq, out.last_seq), (Some(0), Some(61 + heads)));
    // Every line is a sealed record; the first of each file names its
    // predecessor.
    for f in &files {
        let l = lines(f);
        let v: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
        assert_eq!(v["prev"].as_str().map(str::len), Some(64), "{f:?}");
        for x in &l {
            let v: serde_json::Value = serde_json::from_str(x).unwrap();
            assert!(v["seq"].is_u64() && v["chain"].is_string(), "{x}");
        }
    }
    // The report reads sealed logs as before.
    let base = log.path("tracer.log");
    let v: serde_json::Value = serde_json::from_str(lines(&base).last().unwrap()).unwrap();
    assert_eq!(v["detail"]["status"], "stop");
}

#[test]
fn a_deleted_record_is_a_seq_gap_at_its_place() {
    let log = two_runs();
    let p = log.path("tracer.log.1");
    let mut l = lines(&p);
    let seq = |s: &str| {
        serde_json::from_str::<serde_json::Value>(s).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    let gone = seq(&l[2]);
    l.remove(2);
    write_lines(&p, &l);
    let out = log.verify();
    assert!(!out.intact());
    assert_eq!(
        out.findings,
        vec![Finding::Deleted {
            at: tracer::verify::At {
                file: p.display().to_string(),
                line: 3
            },
            from: gone,
            to: gone,
        }]
    );
    assert!(out.findings[0].to_string().contains("tracer.log.1:3"));
}

#[test]
fn an_edited_byte_is_a_chain_mismatch_at_its_line() {
    let log = two_runs();
    let p = log.path("tracer.log.2");
    let mut l = lines(&p);
    l[1] = l[1].replacen("\"echo\"", "\"ecHo\"", 1);
    write_lines(&p, &l);
    let out = log.verify();
    assert_eq!(out.findings.len(), 1, "{:?}", out.findings);
    assert!(
        matches!(&out.findings[0], Finding::Edited { at, .. } if at.line == 2 && at.file.ends_with("tracer.log.2")),
        "{:?}",
        out.findings
    );
}

#[test]
fn swapped_lines_are_reordered() {
    let log = two_runs();
    let p = log.path("tracer.log");
    let mut l = lines(&p);
    l.swap(1, 2);
    write_lines(&p, &l);
    let out = log.verify();
    assert!(!out.intact());
    assert!(
        out.findings
            .iter()
            .any(|f| matches!(f, Finding::Reordered { at, .. } if at.line == 3)),
        "{:?}",
        out.findings
    );
    assert!(
        !out.findings
            .iter()
            .any(|f| matches!(f, Finding::Deleted { .. })),
        "a swap is not a deletion: {:?}",
        out.findings
    );
}

#[test]
fn a_cut_older_file_is_found_by_the_next_file() {
    let log = two_runs();
    let p = log.path("tracer.log.2");
    let mut l = lines(&p);
    l.truncate(l.len() - 3);
    write_lines(&p, &l);
    let out = log.verify();
    assert!(
        matches!(&out.findings[..], [Finding::Deleted { at, .. }] if at.line == 1 && at.file.ends_with("tracer.log.1")),
        "{:?}",
        out.findings
    );
}

#[test]
fn a_cut_newest_file_is_only_a_note() {
    let log = two_runs();
    let p = log.path("tracer.log");
    let mut l = lines(&p);
    l.truncate(l.len() - 2);
    write_lines(&p, &l);
    let out = log.verify();
    assert!(out.findings.is_empty(), "{:?}", out.findings);
    assert!(
        out.notes.iter().any(|n| n.contains("not a stop record")),
        "{:?}",
        out.notes
    );
}

#[test]
fn inserted_and_forged_lines_are_found() {
    let log = two_runs();
    let p = log.path("tracer.log");
    let mut l = lines(&p);
    // A plain record, and a copy of a sealed record with its pid changed.
    l.insert(
        1,
        r#"{"type":"exec","time":"2024-05-01T09:00:00Z","host":"h","source":"ebpf","pid":1}"#
            .into(),
    );
    let forged = l[2].replacen("\"pid\":", "\"pid\":9", 1);
    l.insert(3, forged);
    write_lines(&p, &l);
    let out = log.verify();
    assert!(
        out.findings
            .iter()
            .any(|f| matches!(f, Finding::Unsealed { at } if at.line == 2)),
        "{:?}",
        out.findings
    );
    assert!(
        out.findings
            .iter()
            .any(|f| matches!(f, Finding::Reordered { at, .. } if at.line == 4)),
        "{:?}",
        out.findings
    );
}

#[test]
fn a_crash_partial_line_with_its_gap_record_is_accepted() {
    let log = Log::new(0);
    log.run(0, 5, false);
    let p = log.path("tracer.log");
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&p).unwrap();
        f.write_all(b"{\"type\":\"exec\",\"ti").unwrap();
    }
    log.run(5, 3, true);
    let out = log.verify();
    assert!(out.intact(), "{:?}", out.findings);
    assert!(
        out.notes.iter().any(|n| n.contains("partial line")),
        "{:?}",
        out.notes
    );
    assert_eq!(out.records, 5 + 1 + 3 + 1);
}

#[test]
fn binary_exit_codes() {
    let log = two_runs();
    let run = |files: &[PathBuf]| {
        Command::new(env!("CARGO_BIN_EXE_tracer"))
            .arg("verify")
            .arg("--chain-key")
            .arg(&log.cfg.log.chain_key)
            .args(["--config", "/dev/null"])
            .args(files)
            .output()
            .unwrap()
    };
    let ok = run(&log.files());
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("chain intact"));

    let p = log.path("tracer.log.1");
    let mut l = lines(&p);
    l.remove(4);
    write_lines(&p, &l);
    let bad = run(&log.files());
    let text = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(
        text.contains("tracer.log.1:5") && text.contains("missing"),
        "{text}"
    );

    // A wrong key: every record is "edited".
    let other = log._dir.path().join("other.key");
    std::fs::write(&other, [1u8; 32]).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o400)).unwrap();
    let wrong = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args(["verify", "--config", "/dev/null", "--chain-key"])
        .arg(&other)
        .arg(log.path("tracer.log"))
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(1));
    // No key at all: an error, exit 2.
    let none = Command::new(env!("CARGO_BIN_EXE_tracer"))
        .args([
            "verify",
            "--config",
            "/dev/null",
            "--chain-key",
            "/nonexistent/k",
        ])
        .arg(log.path("tracer.log"))
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(2));
}
