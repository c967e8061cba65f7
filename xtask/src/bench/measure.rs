//! Measuring instruments shared by the sub-benchmarks: the storm and getppid
//! loop runs, the eBPF programs' run-time counters, and counting what a
//! daemon logged.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::daemons::{output, Global};
use super::model::{BpfCost, ProgCost};

/// The binaries the benchmark runs.
pub struct Tools {
    pub tracer: PathBuf,
    pub storm: PathBuf,
    pub tiny: PathBuf,
    pub syscall_loop: PathBuf,
    pub rules: PathBuf,
    /// `tests/bench/record_real_log.sh`: records a real audit.log here.
    pub recorder: PathBuf,
}

#[derive(Debug, Clone)]
pub struct Storm {
    pub workers: usize,
    pub mode: &'static str,
    pub target: PathBuf,
}

impl Storm {
    pub fn label(&self) -> String {
        let t = self
            .target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}w-{}-{}", self.workers, self.mode, t)
    }

    /// Paths an exec record of the target may carry: as given, and resolved
    /// (`/bin/true` is `/usr/bin/true` on a merged-/usr system; audit logs the
    /// resolved one).
    pub fn target_names(&self) -> Vec<String> {
        let mut v = vec![self.target.to_string_lossy().into_owned()];
        if let Ok(c) = std::fs::canonicalize(&self.target) {
            let c = c.to_string_lossy().into_owned();
            if !v.contains(&c) {
                v.push(c);
            }
        }
        v
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct StormOut {
    pub execs: u64,
    pub failed: u64,
    pub seconds: f64,
    pub rate: f64,
}

/// Runs one storm for `seconds`.
pub fn storm(g: &mut Global, t: &Tools, s: &Storm, seconds: f64) -> Result<StormOut> {
    let pid = g.spawn(
        "storm",
        Command::new(&t.storm)
            .args([
                "-w",
                &s.workers.to_string(),
                "-d",
                &seconds.to_string(),
                "-m",
                s.mode,
            ])
            .arg(&s.target)
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        true,
    )?;
    let mut out = g.stdout(pid).context("storm stdout")?;
    let (st, _) = g.wait(pid, Duration::from_secs_f64(seconds + 30.0))?;
    let mut text = String::new();
    out.read_to_string(&mut text)?;
    if !st.success() {
        bail!("storm failed ({st}): {text}");
    }
    let field = |k: &str| -> Option<f64> {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
    };
    match (
        field("execs"),
        field("failed"),
        field("seconds"),
        field("rate"),
    ) {
        (Some(e), Some(f), Some(s), Some(r)) => Ok(StormOut {
            execs: e as u64,
            failed: f as u64,
            seconds: s,
            rate: r,
        }),
        _ => bail!("unexpected storm output: {text:?}"),
    }
}

/// getppid(2) ns per call over `seconds`.
pub fn getppid_ns(g: &mut Global, t: &Tools, seconds: f64) -> Result<f64> {
    let pid = g.spawn(
        "syscall_loop",
        Command::new(&t.syscall_loop)
            .arg(seconds.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped()),
        true,
    )?;
    let mut out = g.stdout(pid).context("syscall_loop stdout")?;
    g.wait(pid, Duration::from_secs_f64(seconds + 30.0))?;
    let mut text = String::new();
    out.read_to_string(&mut text)?;
    text.split_whitespace()
        .find_map(|kv| kv.strip_prefix("ns_per_call="))
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("unexpected syscall_loop output: {text:?}"))
}

/// Run-time counters of the BPF programs `pid` holds, by program id:
/// (run_time_ns, run_cnt) from `/proc/PID/fdinfo` (the kernel fills them
/// while `kernel.bpf_stats_enabled` is 1).
pub fn bpf_counters(pid: u32) -> BTreeMap<u32, (u64, u64)> {
    let mut m = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return m;
    };
    for e in dir.flatten() {
        let Ok(s) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        let get = |k: &str| -> Option<u64> {
            s.lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.trim().parse().ok())
        };
        if let (Some(id), Some(ns), Some(cnt)) =
            (get("prog_id:"), get("run_time_ns:"), get("run_cnt:"))
        {
            m.insert(id as u32, (ns, cnt));
        }
    }
    m
}

/// Program names by id (`bpftool prog show --json`; full names from BTF).
pub fn bpf_names() -> BTreeMap<u32, String> {
    let Ok(text) = output(Command::new("bpftool").args(["prog", "show", "--json"])) else {
        return BTreeMap::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["id"].as_u64()? as u32,
                p["name"].as_str().unwrap_or("?").to_string(),
            ))
        })
        .collect()
}

pub fn bpf_delta(
    before: &BTreeMap<u32, (u64, u64)>,
    after: &BTreeMap<u32, (u64, u64)>,
    names: &BTreeMap<u32, String>,
) -> BpfCost {
    let mut programs: Vec<ProgCost> = after
        .iter()
        .map(|(id, (ns, cnt))| {
            let (ns0, cnt0) = before.get(id).copied().unwrap_or((0, 0));
            ProgCost {
                name: names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| format!("prog{id}")),
                run_ns: ns.saturating_sub(ns0),
                run_cnt: cnt.saturating_sub(cnt0),
            }
        })
        .collect();
    programs.sort_by(|a, b| a.name.cmp(&b.name));
    BpfCost {
        total_run_ns: programs.iter().map(|p| p.run_ns).sum(),
        programs,
    }
}

/// tracer's log: (exec records per source whose `exe` is one of `names`,
/// execs counted lost in `loss` records).
/// tracer's log: exec records whose `exe` is one of `names`, by source, and
/// the losses counted in `loss` records. Rotated files (`path.1`, `path.2`,
/// … as tracer's rotation names them) are counted too: a long storm writes
/// more than one log file.
pub fn count_tracer_log(path: &Path, names: &[String]) -> Result<(BTreeMap<String, u64>, u64)> {
    let mut events = BTreeMap::new();
    let mut lost = 0;
    let mut files = vec![path.to_path_buf()];
    for n in 1.. {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        files.push(p);
    }
    for f in files {
        count_one(&f, names, &mut events, &mut lost)?;
    }
    Ok((events, lost))
}

fn count_one(
    path: &Path,
    names: &[String],
    events: &mut BTreeMap<String, u64>,
    lost: &mut u64,
) -> Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let exes: Vec<String> = names
        .iter()
        .map(|n| format!("\"exe\":{}", serde_json::Value::from(n.as_str())))
        .collect();
    for line in BufReader::new(f).lines() {
        let line = line?;
        if line.starts_with("{\"type\":\"exec\"") {
            if exes.iter().any(|e| line.contains(e.as_str())) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                let src = v["source"].as_str().unwrap_or("?").to_string();
                *events.entry(src).or_insert(0) += 1;
            }
        } else if line.starts_with("{\"type\":\"loss\"") {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            *lost += v["detail"]["exec"].as_u64().unwrap_or(0);
        }
    }
    Ok(())
}

/// auditd's log: successful execve SYSCALL records whose `exe` is one of `names`.
pub fn count_audit_log(path: &Path, names: &[String]) -> Result<u64> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let exes: Vec<String> = names.iter().map(|n| format!(" exe=\"{n}\"")).collect();
    let mut n = 0;
    for line in BufReader::new(f).split(b'\n') {
        let line = line?;
        let line = String::from_utf8_lossy(&line);
        if line.starts_with("type=SYSCALL ")
            && line.contains(" success=yes ")
            && exes.iter().any(|e| line.contains(e.as_str()))
        {
            n += 1;
        }
    }
    Ok(n)
}
