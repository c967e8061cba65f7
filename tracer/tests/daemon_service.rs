//! Privileged: the service around the capture on the real kernel: `tracer
//! status`, signals (SIGHUP reload, SIGUSR1 rotate), heartbeats, the
//! capability drop. (Configuration errors, `--check-config` and the systemd
//! unit need no root: `config_check.rs`.)

#![cfg(feature = "privileged")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::*;
use common::*;
use serde_json::Value;

fn tracer(args: &[&str]) -> std::process::Output {
    Command::new(tracer_bin()).args(args).output().unwrap()
}

fn status_of(file: &Path, json: bool) -> (i32, String) {
    let mut args = vec!["status", "--status-file", file.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    let out = tracer(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn config_with(dir: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("tracer.toml");
    std::fs::write(
        &p,
        format!(
            "[log]\nfile = \"{}\"\n[daemon]\nstatus_file = \"{}\"\n{extra}\n",
            dir.join("logs/tracer.log").display(),
            dir.join("run/status.json").display()
        ),
    )
    .unwrap();
    p
}

/// `tracer status` while running, after a clean stop, after a crash, and
/// without any state file.
#[test]
fn status_reports_running_stopped_and_dead_daemons() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), "heartbeat = 1");
    let log = dir.path().join("logs/tracer.log");
    let sf = dir.path().join("run/status.json");
    let (code, text) = status_of(&sf, false);
    assert_eq!(code, 3);
    assert!(text.contains("tracer is not running"), "{text}");

    let args = ["--config", cfg.to_str().unwrap(), "--no-proc-scan"];
    let d = Daemon::start(&args, &log, 1, &dir.path().join("err"));
    for _ in 0..20 {
        Command::new("/bin/true").status().unwrap();
    }
    wait_for("a status update", Duration::from_secs(10), || {
        status_of(&sf, true).1.contains("\"events_total\"")
            && serde_json::from_str::<Value>(&status_of(&sf, true).1).unwrap()["execs_total"]
                .as_u64()
                .unwrap()
                >= 20
    });
    let (code, text) = status_of(&sf, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(": running"), "{text}");
    assert!(text.contains(&format!("pid:        {}", d.pid())), "{text}");
    assert!(text.contains("backend:    ebpf"), "{text}");
    assert!(
        text.contains(&format!("log file:   {}", log.display())),
        "{text}"
    );
    for k in ["uptime:", "events/s:", "events:", "losses:     none"] {
        assert!(text.contains(k), "{k} missing in {text}");
    }
    let (code, json) = status_of(&sf, true);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["state"], "running");
    assert_eq!(v["pid"], d.pid());
    assert_eq!(v["backend"], "ebpf");
    // A heartbeat with counters arrives every second here.
    wait_for("a heartbeat", Duration::from_secs(5), || {
        count_status(&read_lines(&log), "heartbeat") > 0
    });
    let hb = read_lines(&log)
        .into_iter()
        .find(|l| l["detail"]["status"] == "heartbeat")
        .unwrap();
    assert!(hb["detail"]["records"].as_u64().unwrap() > 0, "{hb}");
    assert!(hb["detail"]["losses"].is_object(), "{hb}");
    d.stop();
    let (code, text) = status_of(&sf, false);
    assert_eq!(code, 3);
    assert!(text.contains("stopped (cleanly"), "{text}");

    // A crash leaves `running: true` with a dead pid.
    let d = Daemon::start(&args, &log, 2, &dir.path().join("err2"));
    wait_for("a status update", Duration::from_secs(5), || {
        status_of(&sf, true).1.contains("\"state\": \"running\"")
    });
    d.signal(libc::SIGKILL);
    d.wait(Duration::from_secs(10));
    let (code, text) = status_of(&sf, false);
    assert_eq!(code, 3);
    assert!(
        text.contains("not running: process") && text.contains("without a clean stop"),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&status_of(&sf, true).1).unwrap()["state"],
        "dead"
    );
}

fn cap_line(status: &str, key: &str) -> u64 {
    let v = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/PID/status"));
    u64::from_str_radix(v.trim(), 16).unwrap()
}

/// Once attached, the daemon holds only what it still needs, in every thread,
/// and keeps working: execs are still captured and loss counters still read.
#[test]
fn capabilities_are_dropped_after_attach() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(
        dir.path(),
        "[syslog]\nenabled = true\ntarget = \"udp://127.0.0.1:9\"",
    );
    let log = dir.path().join("logs/tracer.log");
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    let want = tracer::caps::mask(&tracer::caps::runtime_needs(false));
    let tasks: Vec<_> = std::fs::read_dir(format!("/proc/{}/task", d.pid()))
        .unwrap()
        .flatten()
        .collect();
    assert!(tasks.len() >= 2, "the syslog sender thread runs too");
    for t in tasks {
        let st = std::fs::read_to_string(t.path().join("status")).unwrap();
        let eff = cap_line(&st, "CapEff");
        let prm = cap_line(&st, "CapPrm");
        let bnd = cap_line(&st, "CapBnd");
        assert_eq!(cap_line(&st, "CapInh"), 0);
        assert_eq!(cap_line(&st, "CapAmb"), 0);
        assert_eq!(
            eff & !want,
            0,
            "extra effective caps {eff:x} in {:?}",
            t.path()
        );
        assert_eq!(prm & !want, 0, "extra permitted caps {prm:x}");
        assert_eq!(bnd & !want, 0, "extra bounding caps {bnd:x}");
    }
    let main = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    assert_eq!(
        cap_line(&main, "CapEff"),
        want,
        "the main thread keeps what it needs"
    );
    let rec = read_lines(&log)
        .into_iter()
        .find(|l| l["detail"]["status"] == "capabilities")
        .expect("a capabilities record");
    assert!(rec["detail"]["kept"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "cap_sys_ptrace"));
    Command::new("/bin/echo")
        .arg("tracer-caps-marker")
        .output()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.stop();
    let lines = read_lines(&log);
    assert_eq!(with_marker(&lines, "exec", "tracer-caps-marker").len(), 1);
    let stop = lines
        .iter()
        .find(|l| l["detail"]["status"] == "stop")
        .unwrap();
    assert!(
        stop["detail"]["sent"].as_u64().unwrap() > 0,
        "counters still readable: {stop}"
    );
}

/// SIGHUP applies what it can and says what needs a restart; a broken file
/// is reported and the running configuration kept; SIGUSR1 rotates.
#[test]
fn sighup_reloads_and_sigusr1_rotates() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let cfg = config_with(dir.path(), "");
    let log = dir.path().join("logs/tracer.log");
    let d = Daemon::start(
        &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
        &log,
        1,
        &dir.path().join("err"),
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("[daemon]\n", "max_size = \"1M\"\n[daemon]\nheartbeat = 1\n")
            + "[capture]\nring_size = \"8M\"\n",
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    wait_for("a reload record", Duration::from_secs(5), || {
        count_status(&read_lines(&log), "reload") == 1
    });
    let r = read_lines(&log)
        .into_iter()
        .find(|l| l["detail"]["status"] == "reload")
        .unwrap();
    let has = |k: &str, v: &str| r["detail"][k].as_array().unwrap().iter().any(|x| x == v);
    assert!(
        has("reloaded", "log.max_size") && has("reloaded", "daemon.heartbeat"),
        "{r}"
    );
    assert!(has("needs_restart", "capture.ring_size"), "{r}");
    // The new heartbeat interval is in force.
    wait_for("a heartbeat after reload", Duration::from_secs(5), || {
        count_status(&read_lines(&log), "heartbeat") > 0
    });

    std::fs::write(&cfg, "[log]\nbogus = 1\n").unwrap();
    d.signal(libc::SIGHUP);
    wait_for("a reload_failed record", Duration::from_secs(5), || {
        count_status(&read_lines(&log), "reload_failed") == 1
    });
    let f = read_lines(&log)
        .into_iter()
        .find(|l| l["detail"]["status"] == "reload_failed")
        .unwrap();
    assert!(
        f["detail"]["error"]
            .as_str()
            .unwrap()
            .contains(":2: key `log.bogus`"),
        "{f}"
    );

    d.signal(libc::SIGUSR1);
    let rotated = Path::new(&format!("{}.1", log.display())).to_path_buf();
    wait_for("rotation on SIGUSR1", Duration::from_secs(5), || {
        rotated.exists()
    });
    d.stop();
    let all: Vec<Value> = log_files(&log).iter().flat_map(|f| read_lines(f)).collect();
    assert_eq!(count_status(&all, "start"), 1);
    assert_eq!(count_status(&all, "stop"), 1);
    assert_eq!(
        count_status(&read_lines(&log), "stop"),
        1,
        "stop is in the new file"
    );
}
