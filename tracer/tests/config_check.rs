//! `tracer run --config ... --check-config` as an admin runs it: errors that
//! name the file, line and key (or the flag), the effective configuration
//! printed with flags applied, and the shipped systemd unit. No root needed:
//! nothing is loaded into the kernel.

mod common;

use std::process::Command;

use common::*;

fn tracer(args: &[&str]) -> std::process::Output {
    Command::new(tracer_bin()).args(args).output().unwrap()
}

#[test]
fn config_errors_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    let ps = p.to_str().unwrap();
    for (text, want) in [
        (
            "[log]\nmax_size = \"10M\"\nmax_sise = 3\n",
            format!("{ps}:3: key `log.max_sise`: unknown field `max_sise`"),
        ),
        (
            "[capture]\n\nring_size = \"3M\"\n",
            format!("{ps}:3: key `capture.ring_size`: 3M is not a power of two"),
        ),
        (
            "[syslog]\nfacility = \"local9\"\n",
            format!("{ps}:2: key `syslog.facility`: \"local9\" is not a syslog facility"),
        ),
    ] {
        std::fs::write(&p, text).unwrap();
        let out = tracer(&["run", "--config", ps, "--check-config"]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&want), "want {want:?} in {err}");
    }
    let out = tracer(&["run", "--config", "/nonexistent/t.toml", "--check-config"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/t.toml: No such file"));
}

#[test]
fn check_config_prints_the_effective_configuration_with_flags_applied() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    std::fs::write(
        &p,
        "[log]\nmax_size = \"10M\"\n[syslog]\nenabled = true\ntarget = \"tcp://127.0.0.1:6514\"\n",
    )
    .unwrap();
    let out = tracer(&[
        "run",
        "--config",
        p.to_str().unwrap(),
        "--check-config",
        "--argv-limit",
        "4096",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let v: toml::Value = toml::from_str(&body).unwrap();
    assert_eq!(v["log"]["max_size"].as_str(), Some("10M"));
    assert_eq!(v["capture"]["argv_limit"].as_integer(), Some(4096));
    assert_eq!(v["syslog"]["target"].as_str(), Some("tcp://127.0.0.1:6514"));
    assert_eq!(
        v["log"]["file"].as_str(),
        Some("/var/log/tracer/tracer.log")
    );
    // The shipped example is valid.
    let ex = workspace_root().join("rules/tracer.toml.example");
    let out = tracer(&["run", "--config", ex.to_str().unwrap(), "--check-config"]);
    assert!(out.status.success(), "{out:?}");
    // So is the compute-node preset, and it keeps job processes while it
    // drops other unattributed ones (the kernel side: ebpf_jobs.rs).
    let preset = workspace_root().join("rules/compute-node.toml");
    let out = tracer(&[
        "run",
        "--config",
        preset.to_str().unwrap(),
        "--check-config",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: toml::Value = toml::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(v["filter"]["exclude_unattributed"].as_bool(), Some(true));
    assert_eq!(v["capture"]["ring_size"].as_str(), Some("64M"));
}

#[test]
fn systemd_analyze_accepts_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let unit = std::fs::read_to_string(workspace_root().join("rules/tracer.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/local/sbin/tracer run --config /etc/tracer/tracer.toml"));
    let p = dir.path().join("tracer.service");
    std::fs::write(&p, unit.replace("/usr/local/sbin/tracer", tracer_bin())).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&p)
        .output()
        .expect("running systemd-analyze (install systemd: xtask/setup.sh test)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {err}");
    assert!(
        !err.contains("tracer.service"),
        "warnings about the unit: {err}"
    );
}

/// Every problem of the file and the flags at once, each named by key and
/// origin, and a non-zero exit.
#[test]
fn check_config_names_every_problem_and_its_origin() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.toml");
    let ps = p.to_str().unwrap();
    std::fs::write(
        &p,
        "[capture]\npoll_ms = 0\n[daemon]\nstatus_file = \"/run/t/s.json\"\n",
    )
    .unwrap();
    let out = tracer(&[
        "run",
        "--config",
        ps,
        "--check-config",
        "--status-file",
        "relative/path",
        "--exclude-comm",
        "a-name-longer-than-15",
    ]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty(), "nothing printed as if it were valid");
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        format!("{ps}:2: key `capture.poll_ms`: 0 is not between 1 and 10000"),
        "--status-file: key `daemon.status_file`: relative/path is not an absolute path".into(),
        "--exclude-comm: key `filter.exclude_comms`: \"a-name-longer-than-15\"".into(),
    ] {
        assert!(err.contains(&want), "want {want:?} in {err}");
    }
    assert_eq!(err.lines().count(), 3, "one line per problem: {err}");
}
