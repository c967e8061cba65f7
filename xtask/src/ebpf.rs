//! Building `tracer-ebpf` for `bpfel-unknown-none`, by whichever route this
//! machine has:
//!
//! - **upstream**: a rustup nightly with the `rust-src` component, building
//!   `core` itself with `-Z build-std=core` (what aya's template does);
//! - **debian**: Debian's `rustc-web` (`/usr/bin/rustc`, LLVM 22) with the
//!   prebuilt `core` for the BPF target from `libstd-rust-web-dev-bpf`, built
//!   with `RUSTC_BOOTSTRAP=1` (needed for the unstable BPF target). For machines
//!   where rustup cannot download `rust-src`.
//!
//! Both link with `bpf-linker` (for the debian route built against LLVM 22:
//! `cargo install bpf-linker --no-default-features --features llvm-22`).
//! `xtask/setup.sh` installs the debian route.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

const TARGET: &str = "bpfel-unknown-none";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Route {
    /// Pick the first available: upstream, then debian.
    Auto,
    Upstream,
    Debian,
}

#[derive(Args, Clone, Debug)]
pub struct BuildArgs {
    /// How to build the eBPF object.
    #[arg(long, value_enum, default_value = "auto")]
    pub route: Route,
}

/// What each route needs, and whether it is there.
struct Probe {
    upstream: std::result::Result<(), String>,
    debian: std::result::Result<(), String>,
}

fn probe() -> Probe {
    let linker = which("bpf-linker").map(|_| ()).ok_or_else(|| {
        "bpf-linker is not on PATH (cargo install bpf-linker; on Debian: \
         LLVM_PREFIX=/usr/lib/llvm-22 cargo install bpf-linker --no-default-features --features llvm-22)"
            .to_string()
    });
    let upstream = (|| {
        let out = Command::new("rustup")
            .args(["run", "nightly", "rustc", "--print", "sysroot"])
            .output()
            .map_err(|_| "rustup is not installed".to_string())?;
        if !out.status.success() {
            return Err(
                "rustup has no nightly toolchain (rustup toolchain install nightly)".into(),
            );
        }
        let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if !sysroot.join("lib/rustlib/src/rust/library/core").is_dir() {
            return Err("the nightly toolchain lacks rust-src (rustup component add rust-src --toolchain nightly)".into());
        }
        linker.clone()
    })();
    let debian = (|| {
        if !Path::new("/usr/bin/rustc").is_file() || !Path::new("/usr/bin/cargo").is_file() {
            return Err(
                "Debian's rustc-web/cargo-web are not installed (/usr/bin/rustc, /usr/bin/cargo)"
                    .into(),
            );
        }
        if !Path::new("/usr/lib/rustlib")
            .join(TARGET)
            .join("lib")
            .is_dir()
        {
            return Err(format!(
                "Debian's prebuilt core for {TARGET} is missing (apt-get install libstd-rust-web-dev-bpf)"
            ));
        }
        linker.clone()
    })();
    Probe { upstream, debian }
}

/// Builds the object and copies it to `target/bpf/tracer.bpf.o`.
pub fn build(root: &Path, args: &BuildArgs) -> Result<PathBuf> {
    let p = probe();
    let route = match args.route {
        Route::Upstream => p.upstream.clone().map(|_| Route::Upstream).map_err(|e| anyhow::anyhow!("upstream route unavailable: {e}"))?,
        Route::Debian => p.debian.clone().map(|_| Route::Debian).map_err(|e| anyhow::anyhow!("debian route unavailable: {e}"))?,
        Route::Auto => match (&p.upstream, &p.debian) {
            (Ok(()), _) => Route::Upstream,
            (_, Ok(())) => Route::Debian,
            (Err(u), Err(d)) => bail!(
                "no way to build the eBPF object on this machine:\n  upstream route (rustup nightly + rust-src): {u}\n  debian route (rustc-web + libstd-rust-web-dev-bpf + bpf-linker): {d}\nrun xtask/setup.sh to install the debian route"
            ),
        },
    };
    let crate_dir = root.join("tracer-ebpf");
    let mut cmd = match route {
        Route::Upstream => {
            let mut c = Command::new("rustup");
            c.args(["run", "nightly", "cargo", "build", "-Z", "build-std=core"]);
            c
        }
        _ => {
            let mut c = Command::new("/usr/bin/cargo");
            c.env("RUSTC", "/usr/bin/rustc")
                .env("RUSTC_BOOTSTRAP", "1")
                .args(["build", "--ignore-rust-version"]);
            c
        }
    };
    clean_env(&mut cmd);
    cmd.current_dir(&crate_dir)
        .args(["--release", "--target", TARGET])
        .env(
            "CARGO_TARGET_BPFEL_UNKNOWN_NONE_LINKER",
            which("bpf-linker").expect("probed above"),
        )
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Cdebuginfo=2\x1f-Clink-arg=--btf",
        );
    eprintln!("xtask: building the eBPF object ({route:?} route)");
    let status = cmd.status().context("running cargo for the eBPF crate")?;
    if !status.success() {
        bail!("building tracer-ebpf failed ({status})");
    }
    let built = crate_dir
        .join("target")
        .join(TARGET)
        .join("release")
        .join("tracer");
    let dest_dir = root.join("target").join("bpf");
    std::fs::create_dir_all(&dest_dir)
        .with_context(|| format!("creating {}", dest_dir.display()))?;
    let dest = dest_dir.join("tracer.bpf.o");
    // Only replace the object when it changed, so the tracer build (which
    // watches it) is not redone for nothing.
    let new = std::fs::read(&built).with_context(|| format!("reading {}", built.display()))?;
    if std::fs::read(&dest).ok().as_deref() != Some(&new[..]) {
        std::fs::write(&dest, &new).with_context(|| format!("writing {}", dest.display()))?;
    }
    eprintln!("xtask: eBPF object at {}", dest.display());
    Ok(dest)
}

/// The outer `cargo xtask` sets variables (toolchain, flags, target dir) that
/// must not leak into the inner build for another target and toolchain.
fn clean_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy();
        if k.starts_with("CARGO")
            || k.starts_with("RUSTC")
            || k == "RUSTUP_TOOLCHAIN"
            || k == "RUSTFLAGS"
            || k == "RUSTDOCFLAGS"
        {
            cmd.env_remove(k.as_ref());
        }
    }
    // Keep the user's cargo home (crates cache, installed bpf-linker).
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        cmd.env("CARGO_HOME", home);
    }
}

/// Finds `name` on PATH, or in cargo's bin directory (where `cargo install`
/// puts bpf-linker, and which a fresh root shell does not have on PATH).
fn which(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(h) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(h).join("bin"));
    }
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}
