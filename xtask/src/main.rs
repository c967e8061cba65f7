//! Project tasks: `cargo xtask <task>`.
//!
//! - `build-ebpf`: build `tracer-ebpf` for `bpfel-unknown-none` and put the
//!   object where the `tracer` build embeds it (`target/bpf/tracer.bpf.o`);
//! - `build`: build-ebpf, then the release `tracer` binary;
//! - `run`: build, then `tracer run ARGS...` as root;
//! - `test`: build-ebpf, then every test of the workspace with the `tracer`
//!   crate's `privileged` feature on (the tests that load BPF programs, change
//!   audit state, start sshd/rsyslogd, add users): as root, which it checks
//!   first; a plain `cargo test` leaves those out; then the eBPF tests
//!   again in a VM booted with Debian's stock kernel (`tests/vm/run.sh`);
//! - `fuzz`: cargo-fuzz targets for a few seconds each (see `fuzz`); `test`
//!   ends with a short run;
//! - `bench`: benchmarks against auditd and ausearch, writing
//!   `target/bench/results.json` and `BENCHMARKS.md` (as root; see `bench`).

mod bench;
mod ebpf;
mod fuzz;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Build the eBPF object (target/bpf/tracer.bpf.o).
    BuildEbpf(ebpf::BuildArgs),
    /// Build the eBPF object and the release tracer binary.
    Build(ebpf::BuildArgs),
    /// Build, then run `tracer run` with the given arguments.
    Run {
        #[command(flatten)]
        build: ebpf::BuildArgs,
        /// Arguments for `tracer run`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Build the eBPF object, then run all tests, privileged ones included
    /// (as root: they load programs and touch audit state).
    Test {
        #[command(flatten)]
        build: ebpf::BuildArgs,
        /// Seconds of fuzzing per target after the tests (0: none).
        #[arg(long, default_value_t = 15)]
        fuzz_seconds: u64,
        /// Property tests with a random seed and 16x the cases (by default
        /// they run with a fixed seed, so that CI is deterministic).
        #[arg(long)]
        long: bool,
        /// Leave out the eBPF tests in a VM with Debian's stock kernel
        /// (`tests/vm/run.sh`; also left out when extra arguments narrow
        /// the run).
        #[arg(long)]
        no_vm: bool,
        /// Extra arguments for `cargo test`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Run the cargo-fuzz targets (nightly): `--seconds N` each, all targets
    /// unless some are named. A crash fails.
    Fuzz(fuzz::FuzzArgs),
    /// Benchmarks (as root): exec overhead against auditd, sustained-rate
    /// loss, report throughput. Writes target/bench/results.json and
    /// BENCHMARKS.md.
    Bench(bench::BenchArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let root = workspace_root();
    match cli.task {
        Task::BuildEbpf(b) => ebpf::build(&root, &b).map(|_| ()),
        Task::Build(b) => build_all(&root, &b).map(|_| ()),
        Task::Run { build, args } => {
            let bin = build_all(&root, &build)?;
            let status = Command::new(&bin)
                .arg("run")
                .args(&args)
                .status()
                .with_context(|| format!("running {}", bin.display()))?;
            if !status.success() {
                bail!("tracer run exited with {status}");
            }
            Ok(())
        }
        Task::Bench(args) => bench::run(&root, &args),
        Task::Fuzz(args) => fuzz::run(&root, &args),
        Task::Test {
            build,
            fuzz_seconds,
            long,
            no_vm,
            args,
        } => {
            // The privileged tests fail rather than skip without root; say so
            // once, before building, instead of in every test.
            // SAFETY: geteuid has no preconditions.
            if unsafe { libc::geteuid() } != 0 {
                bail!(
                    "cargo xtask test runs the privileged tests (eBPF, audit, sshd, users) and \
                     needs root; as another user run `cargo test --workspace`"
                );
            }
            ebpf::build(&root, &build)?;
            let mut test = host_cargo();
            if long {
                test.env_remove("PROPTEST_RNG_SEED")
                    .env("PROPTEST_CASES", "4096");
            } else if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
                test.env("PROPTEST_RNG_SEED", PROPTEST_SEED);
            }
            let status = test
                .current_dir(&root)
                .args(["test", "--workspace", "--features", TEST_FEATURES])
                .args(&args)
                .status()
                .context("running cargo test")?;
            if !status.success() {
                bail!("cargo test failed ({status})");
            }
            // The kernel this runs on decides which hooks load (this
            // project's CI VM refuses BPF trampolines and has no kprobes):
            // the eBPF tests run again on Debian's own kernel, in a VM.
            // Debian 12's kernel (6.1) gets every file the script runs by
            // default; Debian 13's (6.12, where exec opens its file before
            // any exec hook, so only the syscall-level ones see ENOENT) the
            // failed-exec and exec files; Debian 11's (5.10, where the
            // failed-exec hooks are kprobe pairs) the failed-exec file.
            if !no_vm && args.is_empty() {
                let suites: [(&str, &[&str]); 3] = [
                    ("", &[]),
                    ("trixie", &["ebpf_failed", "ebpf_exec"]),
                    ("bullseye", &["ebpf_failed"]),
                ];
                for (suite, files) in suites {
                    let mut vm = Command::new("bash");
                    vm.arg(root.join("tests/vm/run.sh")).args(files);
                    if !suite.is_empty() {
                        vm.env("TRACER_VM_SUITE", suite)
                            .env("TRACER_VM_DIR", root.join(format!("target/vm-{suite}")));
                    }
                    let status = vm
                        .current_dir(&root)
                        .status()
                        .context("running tests/vm/run.sh")?;
                    if !status.success() {
                        let which = if suite.is_empty() { "bookworm" } else { suite };
                        bail!("the tests in a VM with Debian {which}'s kernel failed ({status})");
                    }
                }
            }
            if fuzz_seconds > 0 {
                fuzz::run(
                    &root,
                    &fuzz::FuzzArgs {
                        seconds: fuzz_seconds,
                        targets: Vec::new(),
                    },
                )?;
            }
            Ok(())
        }
    }
}

/// The test features `cargo xtask test` turns on: the privileged tests
/// (root, the real kernel) and the ClickHouse fleet tests (their own servers).
const TEST_FEATURES: &str = "tracer/privileged,tracer/clickhouse";

pub(crate) fn build_all(root: &Path, b: &ebpf::BuildArgs) -> Result<PathBuf> {
    ebpf::build(root, b)?;
    let status = host_cargo()
        .current_dir(root)
        .args(["build", "--release", "-p", "tracer"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    Ok(root.join("target/release/tracer"))
}

/// The cargo that runs this xtask, for host builds.
/// The property tests' seed in a normal run: a failure found at random
/// (`--long`) becomes a named test case, so CI never depends on luck.
const PROPTEST_SEED: &str = "20261201";

fn host_cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
