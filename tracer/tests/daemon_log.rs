//! Privileged: the log file under load and under trouble. Rotation under an
//! exec storm, a full file system, SIGKILL mid-storm, a first run with
//! `--output` in a shared sticky directory. (A symlinked output and the
//! directory checks need no root: `run_output.rs`.)

#![cfg(feature = "privileged")]

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::*;
use common::*;
use serde_json::Value;

fn config(dir: &Path, log: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("tracer.toml");
    let text = format!(
        "[log]\nfile = \"{}\"\nflush = \"none\"\nchain_key = \"{}\"\n{extra}\n[daemon]\nstatus_file = \"{}\"\n",
        log.display(),
        dir.join("chain.key").display(),
        dir.join("status.json").display()
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// `tracer verify` over the log and its rotations says the chain is intact
/// (exit 0): no seq gap from rotation, restarts or records a full disk kept
/// out.
fn assert_chain_intact(cfg: &Path, log: &Path) {
    let out = Command::new(tracer_bin())
        .args(["verify", "--config"])
        .arg(cfg)
        .args(log_files(log))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "tracer verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_storm(storm: &Path, tiny: &Path, secs: &str) -> u64 {
    let out = Command::new(storm)
        .args(["-w", "2", "-d", secs])
        .arg(tiny)
        .output()
        .unwrap();
    assert!(out.status.success());
    storm_execs(&out.stdout)
}

/// Exec events of `tiny`, keyed by (pid, start time): unique per process.
fn tiny_execs<'a>(lines: &'a [Value], tiny: &Path) -> Vec<(u64, u64, &'a Value)> {
    let tiny = tiny.to_str().unwrap();
    lines
        .iter()
        .filter(|l| l["type"] == "exec" && l["exe"] == tiny)
        .map(|l| {
            (
                l["pid"].as_u64().unwrap(),
                l["start_boottime"].as_u64().unwrap(),
                l,
            )
        })
        .collect()
}

fn ring_lost_execs(lines: &[Value]) -> u64 {
    lines
        .iter()
        .filter(|l| l["type"] == "loss" && l["source"] != "tracer")
        .map(|l| l["detail"]["exec"].as_u64().unwrap_or(0))
        .sum()
}

#[test]
fn rotation_under_a_storm_loses_and_duplicates_nothing() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let log = dir.path().join("logs/tracer.log");
    let cfg = config(dir.path(), &log, "max_size = \"256K\"\nnum_logs = 10000");
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    // Storm until the log has rotated a few times (how many execs a second
    // make depends on the machine's load), at most 60 s.
    let started = std::time::Instant::now();
    let mut made = 0;
    while made < 2000 || log_files(&log).len() <= 4 {
        made += run_storm(&storm, &tiny, "1");
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    d.stop();
    let files = log_files(&log);
    assert!(
        files.len() > 3,
        "the storm rotated only {} times",
        files.len() - 1
    );
    let mut lines = Vec::new();
    for f in &files {
        let md = std::fs::metadata(f).unwrap();
        assert!(
            md.len() <= 256 << 10,
            "{} is {} bytes",
            f.display(),
            md.len()
        );
        if f != &log {
            assert_eq!(md.mode() & 0o777, 0o400, "{} is not read-only", f.display());
        }
        for l in raw_lines(f) {
            assert!(l.ends_with('\n'), "partial line in {}: {l}", f.display());
            lines.push(
                serde_json::from_str::<Value>(&l)
                    .unwrap_or_else(|e| panic!("not a JSON record in {}: {e}: {l}", f.display())),
            );
        }
    }
    let mut keys: Vec<(u64, u64)> = tiny_execs(&lines, &tiny)
        .iter()
        .map(|(p, s, _)| (*p, *s))
        .collect();
    let seen = keys.len() as u64;
    keys.sort();
    keys.dedup();
    assert_eq!(
        keys.len() as u64,
        seen,
        "duplicated exec records across rotation"
    );
    let lost = ring_lost_execs(&lines);
    assert!(made > 1000, "the storm made only {made} execs");
    assert!(
        seen <= made && seen + lost >= made,
        "made {made}, seen {seen}, lost {lost}"
    );
    if lost == 0 {
        assert_eq!(seen, made);
    }
    assert_chain_intact(&cfg, &log);
}

#[test]
fn sigkill_mid_storm_leaves_at_most_one_partial_line_and_restart_marks_a_gap() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let log = dir.path().join("logs/tracer.log");
    let cfg = config(dir.path(), &log, "max_size = 0");
    let args = ["--config", cfg.to_str().unwrap(), "--no-proc-scan"];
    let d = Daemon::start(&args, &log, 1, &dir.path().join("err"));
    let mut s = Command::new(&storm)
        .args(["-w", "2", "-d", "3"])
        .arg(&tiny)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(10));
    s.wait().unwrap();
    let before = raw_lines(&log);
    assert!(before.len() > 100, "too little was written before the kill");
    let bad: Vec<usize> = (0..before.len())
        .filter(|&i| serde_json::from_str::<Value>(&before[i]).is_err())
        .collect();
    assert!(
        bad.is_empty() || bad == [before.len() - 1],
        "unparsable lines {bad:?} of {}",
        before.len()
    );

    let d = Daemon::start(&args, &log, 2, &dir.path().join("err2"));
    d.stop();
    let after = raw_lines(&log);
    assert!(after.iter().all(|l| l.ends_with('\n')));
    let parsed: Vec<Option<Value>> = after.iter().map(|l| serde_json::from_str(l).ok()).collect();
    let unparsable = parsed.iter().filter(|p| p.is_none()).count();
    assert!(
        unparsable <= 1,
        "{unparsable} unparsable lines after restart"
    );
    let gap = after.len() - before.len().min(after.len());
    let gap_at = parsed
        .iter()
        .position(|p| p.as_ref().is_some_and(|v| v["detail"]["status"] == "gap"))
        .expect("no gap record after the restart");
    assert!(
        gap_at >= before.len() - 1,
        "gap record at {gap_at}, {gap} new lines"
    );
    let g = parsed[gap_at].as_ref().unwrap();
    assert!(
        g["detail"]["reason"] == "unclean_stop" || g["detail"]["reason"] == "partial_line",
        "{g}"
    );
    assert!(g["from"].is_string(), "the gap says since when: {g}");
    let second_start = parsed
        .iter()
        .enumerate()
        .filter(|(_, p)| p.as_ref().is_some_and(|v| v["detail"]["status"] == "start"))
        .nth(1)
        .unwrap()
        .0;
    assert!(
        gap_at < second_start,
        "the gap record precedes the new start record"
    );
    assert_chain_intact(&cfg, &log);
}

/// A 1 MiB tmpfs fills up: writing is suspended and what was not written is
/// counted; once space is back, a `loss` record with cause `disk_full` says
/// how many records (and execs) went unwritten. Nothing is lost uncounted and
/// no partial line is left by the short writes.
#[test]
fn a_full_disk_suspends_writing_and_counts_what_was_lost() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let mnt = Tmpfs::mount(&dir.path().join("mnt"), "1m");
    let log = mnt.0.join("tracer.log");
    let filler = mnt.0.join("filler");
    std::fs::write(&filler, vec![0u8; 300 << 10]).unwrap();
    let cfg = config(
        dir.path(),
        &log,
        "max_size = 0\nspace_left = 0\nadmin_space_left = 0\ndisk_full_action = \"suspend\"",
    );
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    // Storm until the disk is full: how many execs fill it depends on how
    // busy the machine is, so a fixed length is not enough on a loaded one.
    let mut made = 0;
    let started = std::time::Instant::now();
    while !d.stderr_text().contains("disk_full: suspending writing") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the disk never filled: {}",
            d.stderr_text()
        );
        made += run_storm(&storm, &tiny, "1");
        std::thread::sleep(Duration::from_millis(300));
    }
    // More execs while writing is suspended: they must be counted.
    made += run_storm(&storm, &tiny, "1");
    std::thread::sleep(Duration::from_millis(500));
    std::fs::remove_file(&filler).unwrap();
    wait_for("the disk_full loss record", Duration::from_secs(10), || {
        read_lines(&log)
            .iter()
            .any(|l| l["type"] == "loss" && l["cause"] == "disk_full")
    });
    d.stop();
    let raw = raw_lines(&log);
    let lines: Vec<Value> = raw
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {e}: {l}")))
        .collect();
    // Space can come and go more than once: each episode has its record.
    let losses: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "loss" && l["cause"] == "disk_full")
        .collect();
    let lost_records: u64 = losses.iter().map(|l| l["count"].as_u64().unwrap()).sum();
    let lost_execs: u64 = losses
        .iter()
        .map(|l| l["detail"]["exec"].as_u64().unwrap())
        .sum();
    assert!(lost_records > 0 && lost_execs > 0, "{losses:?}");
    assert!(losses
        .iter()
        .all(|l| l["from"].is_string() && l["until"].is_string()));
    let seen = tiny_execs(&lines, &tiny).len() as u64;
    let ring = ring_lost_execs(&lines);
    assert!(seen <= made, "seen {seen} > made {made}");
    assert!(
        seen + lost_execs + ring >= made,
        "uncounted loss: made {made}, seen {seen}, disk_full {lost_execs}, ring {ring}"
    );
    assert_eq!(
        count_status(&lines, "stop"),
        1,
        "stopped cleanly after space came back"
    );
    assert_chain_intact(&cfg, &log);
    drop(mnt);
}

/// `disk_full_action = "stop"`: tracer says why and exits non-zero.
#[test]
fn a_full_disk_with_stop_exits_non_zero() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let mnt = Tmpfs::mount(&dir.path().join("mnt"), "256k");
    let log = mnt.0.join("tracer.log");
    let cfg = config(
        dir.path(),
        &log,
        "max_size = 0\nspace_left = 0\nadmin_space_left = 0\ndisk_full_action = \"stop\"",
    );
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    run_storm(&storm, &tiny, "2");
    let err = d.stderr.clone();
    let st = d.wait(Duration::from_secs(20));
    assert!(!st.success());
    let err = std::fs::read_to_string(err).unwrap();
    assert!(
        err.contains("disk is full and disk_full_action is \"stop\""),
        "{err}"
    );
    assert!(raw_lines(&log).iter().all(|l| l.ends_with('\n')));
    drop(mnt);
}

/// With `log.group`, files are 0640 (rotated 0440) and the directory 2750,
/// all of that group.
#[test]
fn a_log_group_gets_read_access_and_nothing_more() {
    require_root();
    let dir = tempfile::tempdir().unwrap();
    let mut c = tracer::config::Config::default();
    c.log.file = dir.path().join("logs/tracer.log");
    c.log.group = Some("daemon".into());
    c.log.max_size = tracer::config::Size(0);
    let mut s = tracer::sink::Sinks::open(&c, "h").unwrap();
    let e = tracer::event::Event::tracer(
        "h",
        tracer::event::TracerStatus::Heartbeat,
        serde_json::json!({}),
    );
    s.write(&e).unwrap();
    s.rotate().unwrap();
    s.write(&e).unwrap();
    s.close().unwrap();
    let md = |p: &Path| std::fs::metadata(p).unwrap();
    let d = md(&dir.path().join("logs"));
    assert_eq!((d.mode() & 0o7777, d.gid()), (0o2750, 1));
    let f = md(&c.log.file);
    assert_eq!((f.mode() & 0o777, f.gid()), (0o640, 1));
    let r = md(&dir.path().join("logs/tracer.log.1"));
    assert_eq!((r.mode() & 0o777, r.gid()), (0o440, 1));
}

/// Below `space_left` a warning record; below `admin_space_left` with
/// `keep_newest`, the oldest rotated logs go until space is back above it.
#[test]
fn low_space_warns_then_keep_newest_deletes_the_oldest_logs() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let mnt = Tmpfs::mount(&dir.path().join("mnt"), "1m");
    let log = mnt.0.join("tracer.log");
    for n in 1..=3 {
        std::fs::write(format!("{}.{n}", log.display()), vec![b'\n'; 100 << 10]).unwrap();
    }
    std::fs::write(mnt.0.join("filler"), vec![0u8; 450 << 10]).unwrap();
    let cfg = config(
        dir.path(),
        &log,
        "max_size = 0\nnum_logs = 10\nspace_left = \"50%\"\nadmin_space_left = \"40%\"\n\
         admin_space_left_action = \"keep_newest\"",
    );
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    wait_for("the keep_newest records", Duration::from_secs(10), || {
        count_status(&read_lines(&log), "keep_newest") >= 2
    });
    d.stop();
    let lines = read_lines(&log);
    assert_eq!(count_status(&lines, "space_left"), 1);
    let adm: Vec<&Value> = lines
        .iter()
        .filter(|l| l["detail"]["status"] == "admin_space_left")
        .collect();
    assert_eq!(adm.len(), 1, "the action is logged once");
    assert_eq!(adm[0]["detail"]["action"], "keep_newest");
    assert_eq!(count_status(&lines, "keep_newest"), 2);
    let exists = |n: u32| Path::new(&format!("{}.{n}", log.display())).exists();
    assert!(exists(1) && !exists(2) && !exists(3), "the two oldest went");
    drop(mnt);
}

/// The first run: `tracer run --output` into a sticky world-writable
/// directory (like /tmp) captures for real as root; a file planted there by
/// another user is not appended to.
#[test]
fn a_first_run_with_output_in_a_sticky_directory_captures() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("tmp");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let out = shared.join("x.jsonl");
    let status = dir.path().join("status.json");
    let args = [
        "--output",
        out.to_str().unwrap(),
        "--no-proc-scan",
        "--status-file",
        status.to_str().unwrap(),
    ];
    let d = Daemon::start(&args, &out, 1, &dir.path().join("err"));
    let marker = "first-run-sticky-marker";
    let st = Command::new("/bin/echo").arg(marker).status().unwrap();
    assert!(st.success());
    wait_for("the marker exec", Duration::from_secs(10), || {
        !with_marker(&read_lines(&out), "exec", marker).is_empty()
    });
    d.stop();
    assert_eq!(std::fs::metadata(&out).unwrap().mode() & 0o777, 0o600);

    // Planted by someone else (uid 65534, nobody): refused, left alone.
    let planted = shared.join("planted.jsonl");
    std::fs::write(&planted, b"theirs\n").unwrap();
    std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
    let o = Command::new(tracer_bin())
        .args(["run", "--no-proc-scan", "--output"])
        .arg(&planted)
        .arg("--status-file")
        .arg(&status)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("is owned by uid 65534, not by uid 0; refusing to append to it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&planted).unwrap(), b"theirs\n");
}
