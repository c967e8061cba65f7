//! Report throughput: `tracer report` on a generated ENRICHED audit.log
//! shaped like a real login node's (and on tracer's JSON log of the same
//! execs), in every output format, summarised, filtered, on one thread and
//! on all, beside `ausearch -i` and `aureport -x` on the same file in the
//! same run; plus a smaller RAW audit.log, where ausearch is much slower
//! (each uid is a passwd lookup). Peak RSS from wait4's rusage. Ratios are
//! against `ausearch -i` on the same file.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::auditgen::{self, Style};
use super::daemons::Global;
use super::measure::Tools;
use super::model::{Parallel, ReportResults, ReportRun, RECORDED};
use super::Opts;

pub fn run(g: &mut Global, t: &Tools, o: &Opts) -> Result<ReportResults> {
    let target = if o.quick { 20 << 20 } else { 1 << 30 };
    if let Some(dir) = &o.report_logs {
        std::fs::create_dir_all(dir)?;
        return run_in(g, t, o, dir, target);
    }
    let dir = o.work.join("report");
    std::fs::create_dir_all(&dir)?;
    let r = run_in(g, t, o, &dir, target);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

/// What a kept log directory holds: the generator's parameters and counts,
/// written after both logs are complete (so that an interrupted generation
/// is redone, never reused).
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Kept {
    /// The generator's version: logs of another one are made again.
    generator: u32,
    target: u64,
    enriched: auditgen::Generated,
    raw: auditgen::Generated,
}

/// Generates the ENRICHED and RAW logs into `dir`, or reuses them when
/// `dir/generated.json` says they were made for the same target.
fn generate_or_reuse(
    dir: &Path,
    target: u64,
) -> Result<(auditgen::Generated, auditgen::Generated)> {
    let audit = dir.join("audit.log");
    let jsonl = dir.join("tracer.jsonl");
    let raw = dir.join("audit-raw.log");
    let raw_jsonl = dir.join("tracer-raw.jsonl");
    let marker = dir.join("generated.json");
    if let Some(k) = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Kept>(&b).ok())
    {
        let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        if k.generator == auditgen::VERSION
            && k.target == target
            && len(&audit) == k.enriched.audit_bytes
            && len(&jsonl) == k.enriched.tracer_bytes
            && len(&raw) == k.raw.audit_bytes
        {
            eprintln!("bench report: reusing the logs in {}", dir.display());
            return Ok((k.enriched, k.raw));
        }
    }
    let _ = std::fs::remove_file(&marker);
    let gen = auditgen::generate(&audit, &jsonl, target, 0x7261_6365_7221, Style::Enriched)?;
    let raw_gen = auditgen::generate(&raw, &raw_jsonl, target / 8, 0x7261_7721, Style::Raw)?;
    let _ = std::fs::remove_file(&raw_jsonl);
    let k = Kept {
        generator: auditgen::VERSION,
        target,
        enriched: gen,
        raw: raw_gen,
    };
    std::fs::write(&marker, serde_json::to_vec(&k)?)?;
    Ok((gen, raw_gen))
}

/// What `recorded.json` says of a kept recording.
#[derive(serde::Serialize, serde::Deserialize, PartialEq)]
struct Recorded {
    /// The recorder's version: a recording of another one is made again.
    recorder: u32,
    mbytes: u64,
    bytes: u64,
    execs: u64,
}

/// Bumped when `tests/bench/record_real_log.sh` records something else.
const RECORDER_VERSION: u32 = 1;

/// Records a real audit.log into `dir/audit-recorded.log` with
/// `tests/bench/record_real_log.sh` (auditd, sshd logins, sudo and su on
/// this machine: minutes), or reuses one made for the same size. `Err`
/// says why there is none (the runs on it are then skipped, not failed).
fn record_or_reuse(
    g: &mut Global,
    t: &Tools,
    dir: &Path,
    mbytes: u64,
) -> std::result::Result<Recorded, String> {
    let log = dir.join(RECORDED);
    let marker = dir.join("recorded.json");
    if let Some(k) = std::fs::read(&marker)
        .ok()
        .and_then(|b| serde_json::from_slice::<Recorded>(&b).ok())
    {
        if k.recorder == RECORDER_VERSION
            && k.mbytes == mbytes
            && std::fs::metadata(&log).map(|m| m.len()).ok() == Some(k.bytes)
        {
            eprintln!("bench report: reusing the recorded {}", log.display());
            return Ok(k);
        }
    }
    let _ = std::fs::remove_file(&marker);
    for tool in ["auditd", "sshd", "ssh", "sudo", "gcc", "git"] {
        let found = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).exists());
        if !found {
            return Err(format!(
                "recording a real log needs `{tool}` (bash xtask/setup.sh test installs it)"
            ));
        }
    }
    eprintln!("bench report: recording a real {mbytes} MB audit.log (auditd, ssh logins, sudo; a few minutes)");
    let t0 = Instant::now();
    let out = dir.join("recorder.out");
    let err = dir.join("recorder.err");
    let run = (|| -> Result<(std::process::ExitStatus, String, String)> {
        let mut c = Command::new("bash");
        c.arg(&t.recorder)
            .arg(&log)
            .arg(mbytes.to_string())
            .stdin(Stdio::null())
            .stdout(File::create(&out)?)
            .stderr(File::create(&err)?);
        let pid = g.spawn("record_real_log.sh", &mut c, false)?;
        let (st, _) = g.wait(pid, Duration::from_secs(4000))?;
        Ok((
            st,
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(&err).unwrap_or_default(),
        ))
    })();
    let (st, stdout, stderr) = run.map_err(|e| format!("recording a real log: {e:#}"))?;
    let execs = stdout
        .trim()
        .lines()
        .last()
        .and_then(|l| l.trim().parse::<u64>().ok());
    let bytes = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let (true, Some(execs), true) = (st.success(), execs, bytes > 0) else {
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(format!("recording a real log failed ({st}): {why}"));
    };
    eprintln!(
        "bench report: recorded {:.0} MB ({execs} execs) in {:.0} s",
        bytes as f64 / 1e6,
        t0.elapsed().as_secs_f64()
    );
    let k = Recorded {
        recorder: RECORDER_VERSION,
        mbytes,
        bytes,
        execs,
    };
    std::fs::write(&marker, serde_json::to_vec(&k).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", marker.display()))?;
    Ok(k)
}

struct Job {
    tool: String,
    input: &'static str,
    bytes: u64,
    execs: u64,
    cmd: Command,
}

fn run_in(g: &mut Global, t: &Tools, o: &Opts, dir: &Path, target: u64) -> Result<ReportResults> {
    let audit = dir.join("audit.log");
    let jsonl = dir.join("tracer.jsonl");
    let raw = dir.join("audit-raw.log");
    let recorded_path = dir.join(RECORDED);
    let t0 = Instant::now();
    let (gen, raw_gen) = generate_or_reuse(dir, target)?;
    let generate_s = t0.elapsed().as_secs_f64();
    let recorded = record_or_reuse(g, t, dir, if o.quick { 20 } else { 200 });
    if let Err(why) = &recorded {
        eprintln!("bench report: no recorded log: {why}");
    }
    let rec = recorded.as_ref().ok();
    let mut res = ReportResults {
        audit_log_bytes: gen.audit_bytes,
        audit_log_execs: gen.audit_execs,
        tracer_log_bytes: gen.tracer_bytes,
        tracer_log_execs: gen.tracer_execs,
        raw_log_bytes: raw_gen.audit_bytes,
        raw_log_execs: raw_gen.audit_execs,
        recorded_log_bytes: rec.map_or(0, |r| r.bytes),
        recorded_log_execs: rec.map_or(0, |r| r.execs),
        threads: o.nproc,
        generate_s,
        runs: Vec::new(),
        parallel: None,
    };
    eprintln!(
        "bench report: generated {:.0} MB ENRICHED audit.log, {:.0} MB tracer.jsonl ({} execs), {:.0} MB RAW audit.log in {:.1} s",
        gen.audit_bytes as f64 / 1e6,
        gen.tracer_bytes as f64 / 1e6,
        gen.audit_execs,
        raw_gen.audit_bytes as f64 / 1e6,
        res.generate_s
    );
    // Whether this build has `tracer report` at all, and its flags.
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
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    let has_threads = help.contains("--threads");

    let mut jobs: Vec<Job> = Vec::new();
    let mut tracer_job =
        |args: &[&str], input: &'static str, path: &Path, threads: Option<usize>| {
            let (bytes, execs) = match input {
                "audit.log" => (gen.audit_bytes, gen.audit_execs),
                "tracer.jsonl" => (gen.tracer_bytes, gen.tracer_execs),
                RECORDED => rec.map_or((0, 0), |r| (r.bytes, r.execs)),
                _ => (raw_gen.audit_bytes, raw_gen.audit_execs),
            };
            let mut c = Command::new(&t.tracer);
            c.arg("report").args(args).arg("--no-progress");
            let mut tool = format!("tracer report {}", args.join(" "));
            if let (Some(n), true) = (threads, has_threads) {
                c.arg("--threads").arg(n.to_string());
                tool.push_str(&format!(" --threads {n}"));
            }
            c.arg(path);
            jobs.push(Job {
                tool: tool.trim_end().to_string(),
                input,
                bytes,
                execs,
                cmd: c,
            });
        };
    let all = o.nproc;
    for threads in [1, all] {
        for args in [
            &["--format", "text"][..],
            &["--format", "json"][..],
            &["--format", "csv"][..],
            &["--summary"][..],
            &["--format", "json", "--user", "1000"][..],
        ] {
            tracer_job(args, "audit.log", &audit, Some(threads));
        }
        tracer_job(&["--format", "json"], "tracer.jsonl", &jsonl, Some(threads));
        tracer_job(&["--format", "json"], "audit-raw.log", &raw, Some(threads));
        tracer_job(
            &["--format", "json"],
            RECORDED,
            &recorded_path,
            Some(threads),
        );
    }
    for (tool, args, input, path, bytes, execs) in [
        (
            "ausearch -i",
            ["-i", "-if"],
            "audit.log",
            &audit,
            gen.audit_bytes,
            gen.audit_execs,
        ),
        (
            "aureport -x",
            ["-x", "-if"],
            "audit.log",
            &audit,
            gen.audit_bytes,
            gen.audit_execs,
        ),
        (
            "ausearch -i",
            ["-i", "-if"],
            "audit-raw.log",
            &raw,
            raw_gen.audit_bytes,
            raw_gen.audit_execs,
        ),
        (
            "ausearch -i",
            ["-i", "-if"],
            RECORDED,
            &recorded_path,
            rec.map_or(0, |r| r.bytes),
            rec.map_or(0, |r| r.execs),
        ),
    ] {
        let mut c = Command::new(tool.split(' ').next().unwrap_or(tool));
        c.args(args).arg(path);
        jobs.push(Job {
            tool: tool.into(),
            input,
            bytes,
            execs,
            cmd: c,
        });
    }

    for mut job in jobs {
        let mut run = ReportRun {
            tool: job.tool.clone(),
            input: job.input.into(),
            ..Default::default()
        };
        let no_recording = match (&recorded, job.input) {
            (Err(why), RECORDED) => Some(why.clone()),
            _ => None,
        };
        let skip = match job.tool.starts_with("tracer") {
            true => report_missing.as_ref().or(no_recording.as_ref()),
            false => no_recording.as_ref(),
        };
        if let Some(reason) = skip {
            run.skipped = Some(reason.clone());
            eprintln!(
                "bench report: {} on {}: skipped: {reason}",
                job.tool, job.input
            );
            res.runs.push(run);
            continue;
        }
        let errf = dir.join("stderr");
        job.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&errf)?);
        let t0 = Instant::now();
        let pid = g.spawn(&job.tool, &mut job.cmd, false)?;
        let (st, ru) = g.wait(pid, Duration::from_secs(3600))?;
        let s = t0.elapsed().as_secs_f64();
        let cpu = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        run.seconds = Some(s);
        run.cpu_seconds = Some(cpu(ru.ru_utime) + cpu(ru.ru_stime));
        run.mb_per_s = Some(job.bytes as f64 / 1e6 / s);
        run.events_per_s = Some(job.execs as f64 / s);
        run.max_rss_mib = Some(ru.ru_maxrss as f64 / 1024.0);
        run.exit_code = st.code();
        if !st.success() {
            let err = std::fs::read_to_string(&errf).unwrap_or_default();
            eprintln!(
                "bench report: {} exited with {st}: {}",
                job.tool,
                err.lines().next().unwrap_or("")
            );
        }
        eprintln!(
            "bench report: {:<58} {:<18} {s:>7.2} s {:>7.2} s CPU {:>7.1} MB/s {:>6.1} MiB RSS",
            job.tool,
            job.input,
            run.cpu_seconds.unwrap_or(0.0),
            run.mb_per_s.unwrap_or(0.0),
            run.max_rss_mib.unwrap_or(0.0)
        );
        res.runs.push(run);
    }
    if o.nproc > 1 && report_missing.is_none() {
        let p = parallel_capacity(g, t, &raw, o.nproc)?;
        eprintln!(
            "bench report: one tracer report of audit-raw.log {:.2} s alone, {} at once {:.2} s: {:.2} cores' work at once",
            p.alone_s,
            p.threads,
            p.together_s,
            p.capacity()
        );
        res.parallel = Some(p);
    }
    for r in &res.runs {
        if let (Some(x), Some(a)) = (r.mb_per_s, res.ausearch_mb_per_s(&r.input)) {
            if r.tool.starts_with("tracer") {
                eprintln!(
                    "bench report: {:<58} {:<18} {:>6.1}x ausearch -i",
                    r.tool,
                    r.input,
                    x / a
                );
            }
        }
    }
    Ok(res)
}

/// One `tracer report` of `input` (output to /dev/null): seconds.
fn one_report(g: &mut Global, t: &Tools, input: &Path) -> Result<u32> {
    let mut c = Command::new(&t.tracer);
    c.args([
        "report",
        "--format",
        "json",
        "--threads",
        "1",
        "--no-progress",
    ])
    .arg(input)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    g.spawn("tracer report (parallel capacity)", &mut c, false)
}

/// The same work alone and `threads` copies at once (median of three
/// rounds, interleaved): one-thread `tracer report`s of `input`, separate
/// processes, so nothing is shared but the machine. This bounds what the
/// all-threads runs can gain here: vCPUs of a shared host (SMT siblings,
/// an overcommitted host) may do much less than a core's work each when all
/// are busy. A latency-bound loop in cache does not show it; this
/// workload's own mix of loads, branches and copies does.
fn parallel_capacity(g: &mut Global, t: &Tools, input: &Path, threads: usize) -> Result<Parallel> {
    let mut alone = Vec::new();
    let mut together = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        let pid = one_report(g, t, input)?;
        g.wait(pid, Duration::from_secs(600))?;
        alone.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let pids = (0..threads)
            .map(|_| one_report(g, t, input))
            .collect::<Result<Vec<_>>>()?;
        for pid in pids {
            g.wait(pid, Duration::from_secs(600))?;
        }
        together.push(t0.elapsed().as_secs_f64());
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok(Parallel {
        threads,
        alone_s: median(alone),
        together_s: median(together),
    })
}
