//! Privileged, with ClickHouse: the real pipeline on one node. `tracer run`
//! (eBPF backend) writes an exec storm to a log that rotates every few
//! hundred records while `tracer ship` (told where to send by the
//! configuration file) ships it; the server is stopped for 20 s mid-storm
//! and restarted, and the shipper is killed (SIGKILL) while it catches up
//! and started again. Every exec the storm made is then in ClickHouse
//! exactly once, or counted as lost by the daemon: the very records of the
//! log (same seq), none twice, after merges too.
#![cfg(all(feature = "privileged", feature = "clickhouse"))]

mod common;
mod fleet_support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::daemon::{log_files, raw_lines, storm_execs, Daemon};
use fleet_support::{ClickHouse, Shipper};
use serde_json::Value;

const DB: &str = "fleet";

fn config(dir: &Path, log: &Path, url: &str) -> std::path::PathBuf {
    let p = dir.join("tracer.toml");
    let text = format!(
        "[log]\nfile = {:?}\nflush = \"none\"\nmax_size = \"256K\"\nnum_logs = 10000\nchain_key = {:?}\n\
         [daemon]\nstatus_file = {:?}\n[fleet]\nurl = {url:?}\n",
        log,
        dir.join("chain.key"),
        dir.join("status.json"),
    );
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn daemon_storm_shipped_through_an_outage_and_a_shipper_kill_exactly_once() {
    let _g = common::global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = common::build_storm(dir.path());
    let tiny_s = tiny.to_str().unwrap().to_owned();
    let mut ch = ClickHouse::start();
    fleet_support::init(&ch, DB, None);
    let log = dir.path().join("logs/tracer.log");
    let cfg = config(dir.path(), &log, &ch.url(DB));
    let cfg_s = cfg.to_str().unwrap();
    let d = Daemon::start(
        &["--config", cfg_s, "--backend", "ebpf", "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    let state = dir.path().join("ship");
    let args: Vec<String> = [
        "ship",
        "--config",
        cfg_s,
        "--state-dir",
        state.to_str().unwrap(),
        "--status-file",
        state.join("ship.json").to_str().unwrap(),
        "--daemon-status",
        dir.path().join("status.json").to_str().unwrap(),
        "--flush-ms",
        "200",
        "--backoff-max",
        "2",
        "--timeout",
        "10",
        "--batch-rows",
        "2000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut shipper = Shipper::start(&args, &state);

    // The storm: one worker, 30 s, in the background.
    let started = Instant::now();
    let storm_run = std::thread::spawn(move || {
        let out = Command::new(&storm)
            .args(["-w", "1", "-d", "30"])
            .arg(&tiny)
            .output()
            .unwrap();
        assert!(out.status.success());
        storm_execs(&out.stdout)
    });
    let at = |s: u64| {
        let t = Duration::from_secs(s);
        if let Some(left) = t.checked_sub(started.elapsed()) {
            std::thread::sleep(left);
        }
    };
    at(4);
    ch.stop();
    eprintln!("server down at {:?}", started.elapsed());
    at(24);
    ch.restart();
    eprintln!("server up at {:?}", started.elapsed());
    // Catching up on 20 s of backlog: kill the shipper in the middle.
    at(26);
    let backlog = || -> u64 {
        std::fs::read(state.join("ship.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["backlog_bytes"].as_u64())
            .unwrap_or(0)
    };
    let behind = backlog();
    shipper.kill9();
    let first_log = shipper.log();
    eprintln!(
        "shipper killed at {:?}, {behind} bytes behind",
        started.elapsed()
    );
    let mut shipper = Shipper::start(&args, &state);
    let made = storm_run.join().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    d.stop();

    // The log: every storm exec once, or counted lost.
    let files = log_files(&log);
    let mut execs: Vec<(u64, u64)> = Vec::new(); // (pid, seq)
    let mut lost = 0;
    for f in &files {
        for l in raw_lines(f) {
            let v: Value = serde_json::from_str(&l).unwrap();
            if v["type"] == "exec" && v["exe"] == tiny_s.as_str() {
                execs.push((v["pid"].as_u64().unwrap(), v["seq"].as_u64().unwrap()));
            }
            if v["type"] == "loss" && v["source"] != "tracer" {
                lost += v["detail"]["exec"].as_u64().unwrap_or(0);
            }
        }
    }
    execs.sort_by_key(|e| e.1);
    let seen = execs.len() as u64;
    eprintln!(
        "storm: {made} execs, {seen} in the log ({} files), {lost} counted lost",
        files.len()
    );
    assert!(
        files.len() > 4,
        "the log rotated only {} times",
        files.len() - 1
    );
    assert!(made > 2_000, "the storm made only {made} execs");
    assert!(
        seen <= made && seen + lost >= made,
        "made {made}, seen {seen}, lost {lost}"
    );
    if lost == 0 {
        assert_eq!(seen, made);
    }

    // ClickHouse: the same records, once each.
    let q = format!(
        "SELECT count() FROM (SELECT DISTINCT host, boot, seq, line_hash FROM {DB}.execs WHERE exe = '{tiny_s}')"
    );
    fleet_support::wait_for(240, "the shipper to catch up", || ch.count(DB, &q) >= seen);
    std::thread::sleep(Duration::from_secs(1));
    shipper.stop();
    assert!(
        first_log.contains("retrying"),
        "the outage was not noticed:\n{first_log}"
    );
    assert!(behind > 0, "the shipper was not catching up when killed");
    ch.value(DB, &format!("OPTIMIZE TABLE {DB}.execs FINAL"));
    let stored = ch
        .client(DB)
        .exec(&format!(
            "SELECT pid, seq FROM {DB}.execs FINAL WHERE exe = '{tiny_s}' ORDER BY seq FORMAT TSV"
        ))
        .unwrap();
    let stored: Vec<(u64, u64)> = stored
        .lines()
        .map(|l| {
            let (p, s) = l.split_once('\t').unwrap();
            (p.parse().unwrap(), s.parse().unwrap())
        })
        .collect();
    assert_eq!(stored.len() as u64, seen, "execs in ClickHouse vs the log");
    assert!(
        stored == execs,
        "ClickHouse holds other records than the log"
    );
    assert!(
        stored.len() as u64 + lost >= made,
        "made {made}, stored {}, lost {lost}",
        stored.len()
    );
}
