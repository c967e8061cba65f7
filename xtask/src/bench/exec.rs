//! Exec overhead: the same storms under each configuration (no tracing,
//! auditd, tracer's eBPF / audit / both backends), interleaved A B C A B C so
//! that machine drift spreads over all of them; medians and min-max.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;

use super::daemons::{self, audit_status, set_bpf_stats, sleep, Auditd, Global, Started, Tracer};
use super::measure::{self, Storm, Tools};
use super::model::{median, ExecAggregate, ExecResults, ExecRun, Skip};
use super::Opts;

pub const CONFIGS: [&str; 5] = [
    "none",
    "auditd",
    "tracer-ebpf",
    "tracer-audit",
    "tracer-both",
];

/// The configurations to run, in order: `only` (all when empty), each
/// tracer configuration preceded by its `baseline-` twin when asked.
pub fn configs(only: &[String], baseline: bool) -> Result<Vec<String>> {
    if let Some(bad) = only.iter().find(|c| !CONFIGS.contains(&c.as_str())) {
        anyhow::bail!(
            "unknown exec configuration {bad:?} (known: {})",
            CONFIGS.join(", ")
        );
    }
    let mut v = Vec::new();
    for c in CONFIGS {
        if !only.is_empty() && !only.iter().any(|o| o == c) {
            continue;
        }
        if baseline {
            if let Some(b) = c.strip_prefix("tracer-") {
                v.push(format!("baseline-{b}"));
            }
        }
        v.push(c.to_string());
    }
    Ok(v)
}

/// A storm and how many repetitions it gets.
struct Workload {
    storm: Storm,
    reps: usize,
}

fn workloads(o: &Opts, t: &Tools) -> Vec<Workload> {
    let n = o.nproc;
    let tiny = |workers, mode| Storm {
        workers,
        mode,
        target: t.tiny.clone(),
    };
    let mut v = vec![
        Workload {
            storm: tiny(1, "fork"),
            reps: o.reps,
        },
        Workload {
            storm: tiny(n, "fork"),
            reps: o.reps,
        },
    ];
    if !o.quick {
        // Variants: fewer repetitions, they only need to show the same shape.
        let extra = o.reps.min(2);
        v.push(Workload {
            storm: Storm {
                workers: n,
                mode: "fork",
                target: PathBuf::from("/bin/true"),
            },
            reps: extra,
        });
        v.push(Workload {
            storm: tiny(n, "spawn"),
            reps: extra,
        });
        v.push(Workload {
            storm: tiny(n, "vfork"),
            reps: extra.min(1),
        });
    }
    v
}

pub fn run(g: &mut Global, t: &Tools, o: &Opts) -> Result<ExecResults> {
    let seconds = if o.quick { 2.0 } else { 4.0 };
    let loop_s = if o.quick { 0.3 } else { 0.5 };
    let mut res = ExecResults {
        reps: o.reps,
        seconds,
        configs: o.configs.clone(),
        ..Default::default()
    };
    let mut skipped: BTreeMap<&str, String> = BTreeMap::new();
    let wls = workloads(o, t);
    let max_reps = wls.iter().map(|w| w.reps).max().unwrap_or(1);
    for rep in 0..max_reps {
        for w in wls.iter().filter(|w| rep < w.reps) {
            for cfg in o.configs.iter().map(String::as_str) {
                if skipped.contains_key(cfg) {
                    continue;
                }
                daemons::check_interrupt()?;
                let dir = o.work.join(format!("exec-{cfg}-{}-{rep}", w.storm.label()));
                std::fs::create_dir_all(&dir)?;
                let r = one(g, t, o, cfg, &w.storm, rep, seconds, loop_s, &dir);
                let _ = std::fs::remove_dir_all(&dir);
                match r? {
                    Ok(run) => {
                        eprintln!(
                            "bench exec: {:<12} {:<16} rep {rep}: {:>9.0} execs/s, events {:?}, losses {:?}, getppid {:.1} ns",
                            cfg, run.workload, run.rate, run.events, run.losses, run.getppid_ns
                        );
                        res.runs.push(run);
                    }
                    Err(reason) => {
                        eprintln!("bench exec: {cfg}: skipped: {reason}");
                        skipped.insert(cfg, reason);
                    }
                }
            }
        }
    }
    res.skipped = skipped
        .into_iter()
        .map(|(c, r)| Skip {
            config: c.into(),
            reason: r,
        })
        .collect();
    res.aggregates = aggregate(&res.runs);
    Ok(res)
}

/// One configuration, one storm: `Ok(Err(reason))` when the configuration is
/// not available in this build.
#[allow(clippy::too_many_arguments)]
fn one(
    g: &mut Global,
    t: &Tools,
    o: &Opts,
    cfg: &str,
    s: &Storm,
    rep: usize,
    seconds: f64,
    loop_s: f64,
    dir: &Path,
) -> Result<std::result::Result<ExecRun, String>> {
    let names = s.target_names();
    let mut run = ExecRun {
        config: cfg.into(),
        workload: s.label(),
        rep,
        ..Default::default()
    };
    let settle = Duration::from_millis(300);
    match cfg {
        "none" => {
            let out = measure::storm(g, t, s, seconds)?;
            fill(&mut run, out);
            run.getppid_ns = measure::getppid_ns(g, t, loop_s)?;
        }
        "auditd" => {
            let d = Auditd::start(g, dir, &t.rules)?;
            let lost0 = audit_status()?.lost;
            let cpu0 = daemons::cpu_sample(d.pid);
            let out = measure::storm(g, t, s, seconds)?;
            sleep(settle)?;
            let cpu1 = daemons::cpu_sample(d.pid);
            let lost1 = audit_status()?.lost;
            run.getppid_ns = measure::getppid_ns(g, t, loop_s)?;
            let log = d.log.clone();
            d.stop(g)?;
            fill(&mut run, out);
            run.events = Some(measure::count_audit_log(&log, &names)?);
            run.losses = Some(lost1.saturating_sub(lost0));
            run.daemon_cpu_ns = daemons::cpu_delta(cpu0, cpu1);
        }
        _ => {
            let (backend, bin) = match cfg.strip_prefix("baseline-") {
                Some(b) => (b, o.baseline.as_deref().unwrap_or(&t.tracer)),
                None => (cfg.trim_start_matches("tracer-"), t.tracer.as_path()),
            };
            set_bpf_stats(true)?;
            let tr = match Tracer::start(g, bin, backend, dir, &[])? {
                Started::Up(tr) => tr,
                Started::Unavailable(reason) => {
                    g.restore_bpf_stats()?;
                    g.restore_audit()?;
                    return Ok(Err(reason));
                }
            };
            let names_by_id = measure::bpf_names();
            let b0 = measure::bpf_counters(tr.pid);
            let cpu0 = daemons::cpu_sample(tr.pid);
            let out = measure::storm(g, t, s, seconds)?;
            sleep(settle)?;
            let cpu1 = daemons::cpu_sample(tr.pid);
            let b1 = measure::bpf_counters(tr.pid);
            run.getppid_ns = measure::getppid_ns(g, t, loop_s)?;
            let output = tr.output.clone();
            tr.stop(g)?;
            g.restore_bpf_stats()?;
            g.restore_audit()?;
            fill(&mut run, out);
            let (by_src, lost) = measure::count_tracer_log(&output, &names)?;
            // With both backends, each source should see every exec: the
            // smaller count is what the weaker one logged.
            run.events = Some(if backend == "both" {
                by_src.values().copied().min().unwrap_or(0)
            } else {
                by_src.values().sum()
            });
            run.losses = Some(lost);
            run.daemon_cpu_ns = daemons::cpu_delta(cpu0, cpu1);
            if !b1.is_empty() {
                run.bpf = Some(measure::bpf_delta(&b0, &b1, &names_by_id));
            }
        }
    }
    Ok(Ok(run))
}

fn fill(run: &mut ExecRun, out: measure::StormOut) {
    run.execs = out.execs;
    run.failed = out.failed;
    run.seconds = out.seconds;
    run.rate = out.rate;
}

/// Medians per (configuration, workload), in configuration order.
pub fn aggregate(runs: &[ExecRun]) -> Vec<ExecAggregate> {
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in runs {
        let k = (r.config.clone(), r.workload.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let order = |c: &str| {
        CONFIGS
            .iter()
            .position(|x| *x == c)
            .unwrap_or(CONFIGS.len())
    };
    keys.sort_by_key(|(c, w)| {
        let first = runs.iter().position(|r| &r.workload == w).unwrap_or(0);
        (first, order(c))
    });
    let mut out: Vec<ExecAggregate> = Vec::new();
    for (c, w) in keys {
        let rs: Vec<&ExecRun> = runs
            .iter()
            .filter(|r| r.config == c && r.workload == w)
            .collect();
        let rates: Vec<f64> = rs.iter().map(|r| r.rate).collect();
        let opt_sum = |f: &dyn Fn(&ExecRun) -> Option<u64>| -> Option<u64> {
            rs.iter().map(|r| f(r)).sum::<Option<u64>>()
        };
        let cpu: Vec<f64> = rs
            .iter()
            .filter_map(|r| {
                let ev = r.events.filter(|&e| e > 0).unwrap_or(r.execs).max(1);
                r.daemon_cpu_ns.map(|c| c as f64 / ev as f64)
            })
            .collect();
        let bpf: Vec<f64> = rs
            .iter()
            .filter_map(|r| {
                r.bpf
                    .as_ref()
                    .map(|b| b.total_run_ns as f64 / r.execs.max(1) as f64)
            })
            .collect();
        let mut progs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for r in &rs {
            for p in r.bpf.iter().flat_map(|b| &b.programs) {
                progs
                    .entry(p.name.clone())
                    .or_default()
                    .push(p.run_ns as f64 / r.execs.max(1) as f64);
            }
        }
        let events_total = opt_sum(&|r| r.events);
        let losses_total = opt_sum(&|r| r.losses);
        let execs_total: u64 = rs.iter().map(|r| r.execs).sum();
        out.push(ExecAggregate {
            config: c.clone(),
            workload: w.clone(),
            n: rs.len(),
            rate_median: median(&rates),
            rate_min: rates.iter().copied().fold(f64::INFINITY, f64::min),
            rate_max: rates.iter().copied().fold(0.0, f64::max),
            ratio: None,
            getppid_ns_median: median(&rs.iter().map(|r| r.getppid_ns).collect::<Vec<_>>()),
            getppid_tax_ns: None,
            execs_total,
            events_total,
            losses_total,
            uncounted_total: events_total
                .zip(losses_total)
                .map(|(e, l)| execs_total.saturating_sub(e + l)),
            cpu_ns_per_event_median: (!cpu.is_empty()).then(|| median(&cpu)),
            bpf_ns_per_exec_median: (!bpf.is_empty()).then(|| median(&bpf)),
            bpf_prog_ns_per_exec: progs.into_iter().map(|(n, v)| (n, median(&v))).collect(),
        });
    }
    let base: BTreeMap<String, (f64, f64)> = out
        .iter()
        .filter(|a| a.config == "none")
        .map(|a| (a.workload.clone(), (a.rate_median, a.getppid_ns_median)))
        .collect();
    for a in &mut out {
        if let Some((rate, ns)) = base.get(&a.workload) {
            a.ratio = Some(a.rate_median / rate);
            a.getppid_tax_ns = Some(a.getppid_ns_median - ns);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::configs;

    #[test]
    fn configs_filter_and_baseline_twins() {
        let only = ["tracer-audit".to_string(), "auditd".to_string()];
        assert_eq!(
            configs(&only, true).unwrap(),
            ["auditd", "baseline-audit", "tracer-audit"]
        );
        assert_eq!(configs(&[], false).unwrap(), super::CONFIGS);
        let err = configs(&["tracer-audti".to_string()], false).unwrap_err();
        assert!(err.to_string().contains("tracer-audti"), "{err}");
    }
}
