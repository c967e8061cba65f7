//! `cargo xtask fuzz [--seconds N] [TARGET...]`: seeds the corpora
//! (`tracer/fuzz/seed.sh`), then runs each cargo-fuzz target for N seconds
//! with the nightly toolchain; a crash fails the task. Needs rustup's
//! `nightly` and `cargo-fuzz` (`xtask/setup.sh test` installs it); when either
//! is missing this fails and says so, rather than skipping.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Every fuzz target in `tracer/fuzz/fuzz_targets/`.
pub const TARGETS: &[&str] = &["audit_line", "coalescer", "json_log", "ringbuf_decode"];

#[derive(clap::Args, Debug, Clone)]
pub struct FuzzArgs {
    /// Seconds of fuzzing per target.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Targets to run (default: all).
    pub targets: Vec<String>,
}

fn check_toolchain(crate_dir: &Path) -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output();
    match nightly {
        Ok(o) if o.status.success() => {}
        _ => bail!(
            "fuzzing needs rustup's nightly toolchain (libFuzzer's sanitizer flags are \
             nightly-only): `rustup toolchain install nightly --profile minimal`"
        ),
    }
    let fuzz = Command::new("cargo")
        .current_dir(crate_dir)
        .args(["+nightly", "fuzz", "--version"])
        .output();
    match fuzz {
        Ok(o) if o.status.success() => Ok(()),
        _ => bail!("cargo-fuzz is not installed: `cargo install cargo-fuzz` (or `bash xtask/setup.sh test`)"),
    }
}

pub fn run(root: &Path, args: &FuzzArgs) -> Result<()> {
    let tracer_dir = root.join("tracer");
    let fuzz_dir = tracer_dir.join("fuzz");
    let targets: Vec<String> = if args.targets.is_empty() {
        TARGETS.iter().map(|t| t.to_string()).collect()
    } else {
        args.targets.clone()
    };
    for t in &targets {
        if !TARGETS.contains(&t.as_str()) {
            bail!(
                "unknown fuzz target `{t}` (targets: {})",
                TARGETS.join(", ")
            );
        }
    }
    check_toolchain(&tracer_dir)?;
    let status = Command::new("bash")
        .arg(fuzz_dir.join("seed.sh"))
        .status()
        .context("running tracer/fuzz/seed.sh")?;
    if !status.success() {
        bail!("tracer/fuzz/seed.sh failed ({status})");
    }
    let mut failed = Vec::new();
    for t in &targets {
        eprintln!("xtask fuzz: {t} for {} s", args.seconds);
        // cargo-fuzz must not inherit the workspace's host-cargo settings
        // (the `CARGO`/`RUSTC` of this xtask are the stable toolchain's).
        let status = Command::new("cargo")
            .current_dir(&tracer_dir)
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTUP_TOOLCHAIN")
            .args(["+nightly", "fuzz", "run", t])
            .arg(fuzz_dir.join("corpus").join(t))
            .arg("--")
            .arg(format!("-max_total_time={}", args.seconds))
            .arg("-rss_limit_mb=2048")
            .status()
            .with_context(|| format!("running cargo fuzz run {t}"))?;
        if !status.success() {
            // A crash leaves its input in artifacts/; a build error leaves
            // nothing there (its message is above).
            let artifacts = fuzz_dir.join("artifacts").join(t);
            let crashed = std::fs::read_dir(&artifacts).is_ok_and(|mut d| d.next().is_some());
            if crashed {
                eprintln!("xtask fuzz: {t} FAILED ({status}); the crashing input is in tracer/fuzz/artifacts/{t}/");
            } else {
                eprintln!("xtask fuzz: {t} FAILED ({status}) without a crashing input: the target did not build or run (see above)");
            }
            failed.push(t.clone());
        }
    }
    if !failed.is_empty() {
        bail!("fuzz targets failed: {}", failed.join(", "));
    }
    Ok(())
}
