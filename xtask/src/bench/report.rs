//! Report throughput: `tracer report` (text and JSON) on a generated raw
//! audit.log and on tracer's JSON log of the same execs, against
//! `ausearch -i` and `aureport -x` on the audit.log, in one run. Peak RSS
//! from wait4's rusage.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::auditgen;
use super::daemons::Global;
use super::measure::Tools;
use super::model::{ReportResults, ReportRun};
use super::Opts;

pub fn run(g: &mut Global, t: &Tools, o: &Opts) -> Result<ReportResults> {
    let target = if o.quick { 20 << 20 } else { 300 << 20 };
    let dir = o.work.join("report");
    std::fs::create_dir_all(&dir)?;
    let r = run_in(g, t, &dir, target);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn run_in(g: &mut Global, t: &Tools, dir: &Path, target: u64) -> Result<ReportResults> {
    let audit = dir.join("audit.log");
    let jsonl = dir.join("tracer.jsonl");
    let t0 = Instant::now();
    let gen = auditgen::generate(
        &audit,
        &jsonl,
        target,
        0x7261_6365_7221,
        auditgen::Style::Enriched,
    )?;
    let mut res = ReportResults {
        audit_log_bytes: gen.audit_bytes,
        audit_log_execs: gen.audit_execs,
        tracer_log_bytes: gen.tracer_bytes,
        tracer_log_execs: gen.tracer_execs,
        generate_s: t0.elapsed().as_secs_f64(),
        runs: Vec::new(),
    };
    eprintln!(
        "bench report: generated {:.0} MB audit.log and {:.0} MB tracer.jsonl ({} execs) in {:.1} s",
        gen.audit_bytes as f64 / 1e6,
        gen.tracer_bytes as f64 / 1e6,
        gen.audit_execs,
        res.generate_s
    );
    // Whether this build has `tracer report` at all.
    let help = Command::new(&t.tracer)
        .args(["report", "--help"])
        .stdin(Stdio::null())
        .output()?;
    let report_missing = (!help.status.success()).then(|| {
        let err = String::from_utf8_lossy(&help.stderr);
        let first = err
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        format!("`tracer report` is not in this build ({first})")
    });
    let no_progress = String::from_utf8_lossy(&help.stdout).contains("--no-progress");

    let mut jobs: Vec<(String, &str, Command)> = Vec::new();
    for (input, path) in [("audit.log", &audit), ("tracer.jsonl", &jsonl)] {
        for fmt in ["text", "json"] {
            let mut c = Command::new(&t.tracer);
            c.args(["report", "--format", fmt]);
            if no_progress {
                c.arg("--no-progress");
            }
            c.arg(path);
            jobs.push((format!("tracer report --format {fmt}"), input, c));
        }
    }
    let mut c = Command::new("ausearch");
    c.args(["-i", "-if"]).arg(&audit);
    jobs.push(("ausearch -i".into(), "audit.log", c));
    let mut c = Command::new("aureport");
    c.args(["-x", "-if"]).arg(&audit);
    jobs.push(("aureport -x".into(), "audit.log", c));

    for (tool, input, mut cmd) in jobs {
        let mut run = ReportRun {
            tool: tool.clone(),
            input: input.into(),
            ..Default::default()
        };
        if tool.starts_with("tracer") {
            if let Some(reason) = &report_missing {
                run.skipped = Some(reason.clone());
                eprintln!("bench report: {tool} on {input}: skipped: {reason}");
                res.runs.push(run);
                continue;
            }
        }
        let (bytes, execs) = if input == "audit.log" {
            (gen.audit_bytes, gen.audit_execs)
        } else {
            (gen.tracer_bytes, gen.tracer_execs)
        };
        let errf = dir.join("stderr");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&errf)?);
        let t0 = Instant::now();
        let pid = g.spawn(&tool, &mut cmd, false)?;
        let (st, ru) = g.wait(pid, Duration::from_secs(1800))?;
        let s = t0.elapsed().as_secs_f64();
        run.seconds = Some(s);
        run.mb_per_s = Some(bytes as f64 / 1e6 / s);
        run.events_per_s = Some(execs as f64 / s);
        run.max_rss_mib = Some(ru.ru_maxrss as f64 / 1024.0);
        run.exit_code = st.code();
        if !st.success() {
            let err = std::fs::read_to_string(&errf).unwrap_or_default();
            eprintln!(
                "bench report: {tool} exited with {st}: {}",
                err.lines().next().unwrap_or("")
            );
        }
        eprintln!(
            "bench report: {tool:<28} {input:<13} {s:>6.2} s {:>7.1} MB/s {:>9.0} events/s {:>6.1} MiB RSS",
            run.mb_per_s.unwrap_or(0.0),
            run.events_per_s.unwrap_or(0.0),
            run.max_rss_mib.unwrap_or(0.0)
        );
        res.runs.push(run);
    }
    Ok(res)
}
