//! `cargo xtask bench [--quick] [exec|sustained|report ...]`: tracer's cost
//! against auditd's on the same exec storms, its loss behaviour at the
//! highest exec rate, and report speed against ausearch/aureport.
//!
//! - [`exec`]: exec overhead per configuration, interleaved repetitions;
//! - [`sustained`]: the long loss test and the ring-size search;
//! - [`report`] (+ [`auditgen`]): report throughput on generated logs;
//! - [`fleet`]: ClickHouse ingest and fleet-report latency (`bench fleet`);
//! - [`daemons`]: the global-state guard, tracer and auditd;
//! - [`measure`]: storm, getppid loop, eBPF run-time counters, log counting;
//! - [`plot`], [`doc`]: the SVG and `BENCHMARKS.md`, pure functions of
//!   [`model::Results`], written to `target/bench/results.json`.
//!
//! Runs as root, holds the global-state lock for its whole run, and restores
//! everything it changed on every path (error, panic, SIGINT/SIGTERM).

pub mod auditgen;
pub mod daemons;
pub mod doc;
pub mod exec;
pub mod fleet;
pub mod measure;
pub mod model;
pub mod plot;
pub mod report;
pub mod sustained;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};

use crate::ebpf;
use daemons::Global;
use measure::Tools;
use model::{Machine, Results};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Name {
    Exec,
    Sustained,
    Report,
    /// ClickHouse shipping and the fleet report (no eBPF, no global lock).
    Fleet,
}

#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub build: ebpf::BuildArgs,
    /// Short runs (1 repetition, 2 s storms, 5 s sustained, 20 MB report
    /// input instead of 1 GB): under 2 minutes, for CI and a first look.
    #[arg(long)]
    pub quick: bool,
    /// Repetitions of each exec configuration (default 5; 1 with --quick).
    #[arg(long)]
    pub reps: Option<usize>,
    /// Do not rewrite BENCHMARKS.md and the plot (results.json only).
    #[arg(long)]
    pub no_doc: bool,
    /// Keep the report benchmark's generated logs in DIR (outside the
    /// repository, e.g. /var/tmp/tracer-bench) and reuse them on the next
    /// run when they are there with the same size target: generating 1.2 GB
    /// takes longer than reading it.
    #[arg(long, value_name = "DIR")]
    pub report_logs: Option<PathBuf>,
    /// The fleet benchmark's volume: each host's realistic exec rate is
    /// divided by this (default 1, the full volume: ~40 M records a week
    /// for 1,000 hosts, about an hour on a 2-core machine; 200 with
    /// --quick).
    #[arg(long, value_name = "F")]
    pub fleet_scale: Option<f64>,
    /// Exec benchmark: only these configurations (comma-separated, of
    /// none, auditd, tracer-ebpf, tracer-audit, tracer-both), e.g.
    /// `--configs auditd,tracer-audit` to compare the audit paths alone.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub configs: Vec<String>,
    /// Exec benchmark: also run each selected tracer configuration with
    /// this tracer binary (as `baseline-BACKEND`, right before the current
    /// build's run), for before/after comparisons in one interleaved run.
    /// Needs --no-doc.
    #[arg(long, value_name = "BIN")]
    pub baseline: Option<PathBuf>,
    /// Run nothing: rewrite BENCHMARKS.md and the plot from the results of
    /// an earlier run (e.g. target/bench/results.json), after the prose in
    /// `bench/doc.rs` changed. The figures stay those of that run.
    #[arg(long, value_name = "RESULTS_JSON", conflicts_with_all = ["quick", "no_doc", "baseline"])]
    pub docs_from: Option<PathBuf>,
    /// Sub-benchmarks to run (default: all).
    #[arg(value_enum)]
    pub names: Vec<Name>,
}

/// What the sub-benchmarks need to know.
pub struct Opts {
    pub quick: bool,
    pub reps: usize,
    pub nproc: usize,
    /// Scratch directory on disk (the daemons' logs go here).
    pub work: PathBuf,
    /// Where the report benchmark keeps its logs between runs (`--report-logs`).
    pub report_logs: Option<PathBuf>,
    /// Exec configurations to run, in order (`--configs`, `--baseline`).
    pub configs: Vec<String>,
    /// The tracer binary of the `baseline-*` configurations.
    pub baseline: Option<PathBuf>,
}

pub fn run(root: &Path, args: &BenchArgs) -> Result<()> {
    if let Some(path) = &args.docs_from {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench results file", path.display()))?;
        return write_docs(root, &results);
    }
    // The fleet benchmark needs neither root nor the global lock: run it
    // on its own, after the others when both are asked for.
    let fleet_too = args.names.contains(&Name::Fleet);
    if fleet_too && args.names.iter().all(|n| *n == Name::Fleet) {
        return fleet::run(root, args.quick, args.no_doc, args.fleet_scale);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("cargo xtask bench must run as root (it loads eBPF programs, starts auditd and changes audit rules)");
    }
    let mut names = args.names.clone();
    if names.is_empty() {
        names = vec![Name::Exec, Name::Sustained, Name::Report];
    }
    names.sort();
    names.dedup();

    let configs = exec::configs(&args.configs, args.baseline.is_some())?;
    if args.baseline.is_some() && !args.no_doc {
        bail!("--baseline needs --no-doc (BENCHMARKS.md has no baseline rows)");
    }
    let tools = build(root, &args.build)?;
    let out_dir = root.join("target/bench");
    let work = out_dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let opts = Opts {
        quick: args.quick,
        reps: args.reps.unwrap_or(if args.quick { 1 } else { 5 }).max(1),
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        work: work.clone(),
        report_logs: args.report_logs.clone(),
        configs,
        baseline: args.baseline.clone(),
    };
    let mut results = Results {
        started: utc_now(),
        quick: args.quick,
        ..Default::default()
    };

    daemons::install_signal_handlers();
    // Declared in this order so that the guard drops (restores) before the
    // lock is released.
    // The report benchmark alone changes no global state (it only reads
    // files it generated): it does not hold up privileged tests.
    let _lock = if names == [Name::Report] {
        None
    } else {
        Some(daemons::lock()?)
    };
    // The run's duration does not count the wait for the lock.
    let t_start = Instant::now();
    results.machine = machine();
    let outcome = {
        let mut g = Global::capture()?;
        run_all(&mut g, &tools, &opts, &names, &mut results)
        // `g` drops here: processes stopped, audit and BPF state restored.
    };
    let _ = std::fs::remove_dir_all(&work);
    results.duration_s = t_start.elapsed().as_secs_f64();
    outcome?;

    std::fs::create_dir_all(&out_dir)?;
    let json = out_dir.join("results.json");
    std::fs::write(&json, serde_json::to_string_pretty(&results)?)
        .with_context(|| format!("writing {}", json.display()))?;
    eprintln!("bench: results in {}", json.display());
    if !args.no_doc {
        write_docs(root, &results)?;
    }
    eprintln!("bench: done in {:.0} s", results.duration_s);
    if fleet_too {
        fleet::run(root, args.quick, args.no_doc, args.fleet_scale)?;
    }
    Ok(())
}

fn run_all(g: &mut Global, t: &Tools, o: &Opts, names: &[Name], r: &mut Results) -> Result<()> {
    for n in names {
        match n {
            Name::Exec => r.exec = Some(exec::run(g, t, o)?),
            Name::Sustained => r.sustained = Some(sustained::run(g, t, o)?),
            Name::Report => r.report = Some(report::run(g, t, o)?),
            Name::Fleet => {}
        }
    }
    Ok(())
}

/// BENCHMARKS.md and the plot at the workspace root.
pub fn write_docs(root: &Path, r: &Results) -> Result<()> {
    if let Some(e) = &r.exec {
        let svg = plot::svg(
            &e.aggregates,
            &e.configs,
            &format!(
                "execs/s per configuration ({} vCPU{})",
                r.machine.nproc,
                if r.quick { ", --quick" } else { "" }
            ),
        );
        let p = root.join(doc::PLOT_PATH);
        std::fs::create_dir_all(p.parent().expect("has a parent"))?;
        std::fs::write(&p, svg).with_context(|| format!("writing {}", p.display()))?;
    }
    let md = root.join("BENCHMARKS.md");
    let old = std::fs::read_to_string(&md).unwrap_or_default();
    let mut text = match (&r.exec, &r.sustained, &r.report) {
        // The report benchmark alone rewrites only its own section.
        (None, None, Some(rep)) => doc::splice_report(&old, &doc::report_section(rep, r)),
        _ => doc::render(r),
    };
    // Keep the fleet section (`bench fleet` writes it on its own).
    if let Some(s) = fleet::section_of(&old) {
        text = fleet::splice(&text, s);
    }
    std::fs::write(&md, text).with_context(|| format!("writing {}", md.display()))?;
    eprintln!("bench: wrote {} and {}", md.display(), doc::PLOT_PATH);
    Ok(())
}

/// Builds tracer (eBPF object, release binary) and the C helpers.
fn build(root: &Path, b: &ebpf::BuildArgs) -> Result<Tools> {
    let tracer = crate::build_all(root, b)?;
    let bin = root.join("target/bench/bin");
    std::fs::create_dir_all(&bin)?;
    let src = root.join("tests/storm");
    for (out, file, extra) in [
        ("storm", "storm.c", &[][..]),
        ("tiny", "tiny.c", &["-static"][..]),
        ("syscall_loop", "syscall_loop.c", &[][..]),
    ] {
        let st = Command::new("cc")
            .arg("-O2")
            .args(extra)
            .arg("-o")
            .arg(bin.join(out))
            .arg(src.join(file))
            .status()
            .context("running cc (apt-get install build-essential)")?;
        if !st.success() {
            bail!("compiling tests/storm/{file} failed ({st})");
        }
    }
    Ok(Tools {
        tracer,
        storm: bin.join("storm"),
        tiny: bin.join("tiny"),
        syscall_loop: bin.join("syscall_loop"),
        rules: root.join("rules/tracer.rules"),
        recorder: root.join("tests/bench/record_real_log.sh"),
    })
}

fn utc_now() -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let s = auditgen::rfc3339(ns);
    format!("{}Z", &s[..19])
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let field = |text: &str, k: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let cmd = |c: &str, a: &[&str]| -> String {
        Command::new(c)
            .args(a)
            .output()
            .map(|o| {
                let t = if o.stdout.is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                String::from_utf8_lossy(&t).trim().to_string()
            })
            .unwrap_or_default()
    };
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu_model: field(&cpuinfo, "model name"),
        mem_total_mib: field(&meminfo, "MemTotal")
            .trim_end_matches(" kB")
            .trim()
            .parse::<u64>()
            .unwrap_or(0)
            / 1024,
        kernel: cmd("uname", &["-r"]),
        auditd_version: cmd("dpkg-query", &["-W", "-f=${Version}", "auditd"]),
        loadavg: std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        foreign_exec_programs: measure::bpf_names()
            .values()
            .filter(|n| {
                n.contains("process_exec") || n.contains("execve") || n.contains("process_exit")
            })
            .count(),
    }
}

#[cfg(test)]
mod tests;
