//! The first thing a newcomer types, `tracer run --output /tmp/x.jsonl`:
//! an explicit output may be in a sticky directory everyone can write (the
//! file is created exclusively, links and others' files are refused), while
//! the configured log directory keeps the strict check. No root needed: the
//! eBPF backend is disabled (`TRACER_DISABLE_EBPF`), so tracer opens its
//! output, then stops at the backend, whoever runs it.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

/// A private temporary directory with a sticky, world-writable `shared/`
/// inside, like /tmp.
fn sticky() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    (dir, shared)
}

/// `tracer run` with the eBPF backend disabled: it gets as far as opening
/// its outputs, then fails at the backend.
fn run_until_backend(dir: &Path, args: &[&str]) -> Output {
    Command::new(tracer_bin())
        .arg("run")
        .args(["--backend", "ebpf"])
        .arg("--chain-key")
        .arg(dir.join("chain.key"))
        .arg("--status-file")
        .arg(dir.join("status.json"))
        .args(args)
        .env("TRACER_DISABLE_EBPF", "1")
        .output()
        .unwrap()
}

#[test]
fn an_output_in_a_sticky_shared_directory_is_created_privately() {
    let (dir, shared) = sticky();
    let out_file = shared.join("x.jsonl");
    let out = run_until_backend(dir.path(), &["--output", out_file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("eBPF disabled by TRACER_DISABLE_EBPF"),
        "the output was accepted and only the backend stopped it: {err}"
    );
    let md = std::fs::metadata(&out_file).unwrap();
    assert_eq!(md.mode() & 0o777, 0o600);
    // Run again: our own file is appended to.
    let out = run_until_backend(dir.path(), &["--output", out_file.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("eBPF disabled"));
}

#[test]
fn a_hard_link_planted_in_the_shared_directory_is_refused() {
    let (dir, shared) = sticky();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"precious\n").unwrap();
    let planted = shared.join("x.jsonl");
    std::fs::hard_link(&victim, &planted).unwrap();
    let out = run_until_backend(dir.path(), &["--output", planted.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("has 2 hard links; refusing to append to it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
}

/// The service's log directory (from the configuration file) must still be
/// private, and the message says what would work instead.
#[test]
fn the_configured_log_directory_keeps_the_strict_check() {
    let (dir, shared) = sticky();
    let cfg = dir.path().join("tracer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[log]\nfile = \"{}\"\n",
            shared.join("tracer.log").display()
        ),
    )
    .unwrap();
    let out = run_until_backend(dir.path(), &["--config", cfg.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is writable by group or others (mode 1777)")
            && err.contains("`tracer run --output FILE` may write there"),
        "{err}"
    );
    assert!(!shared.join("tracer.log").exists());
}

#[test]
fn a_symlinked_log_path_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("victim");
    std::fs::write(&target, b"precious\n").unwrap();
    let link = dir.path().join("tracer.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let out = Command::new(tracer_bin())
        .args(["run", "--output"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is a symbolic link; refusing to follow it"),
        "{err}"
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"precious\n");
}
