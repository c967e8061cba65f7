//! The results of a bench run: what `target/bench/results.json` holds and what
//! the plot and `BENCHMARKS.md` are rendered from (pure data, no I/O).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Results {
    /// UTC time the run started (RFC 3339).
    pub started: String,
    pub quick: bool,
    /// Wall-clock seconds of the whole run.
    pub duration_s: f64,
    pub machine: Machine,
    pub exec: Option<ExecResults>,
    pub sustained: Option<SustainedResults>,
    pub report: Option<ReportResults>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub mem_total_mib: u64,
    pub kernel: String,
    pub auditd_version: String,
    /// Load average when the run started (1, 5, 15 min), a hint of noise.
    pub loadavg: String,
    /// BPF programs already loaded on exec/exit tracepoints when the run
    /// started (another tracer running would tax every configuration).
    #[serde(default)]
    pub foreign_exec_programs: usize,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Skip {
    pub config: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecResults {
    pub reps: usize,
    pub seconds: f64,
    pub configs: Vec<String>,
    pub skipped: Vec<Skip>,
    pub runs: Vec<ExecRun>,
    pub aggregates: Vec<ExecAggregate>,
}

/// One storm under one configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecRun {
    pub config: String,
    pub workload: String,
    pub rep: usize,
    pub execs: u64,
    pub failed: u64,
    pub seconds: f64,
    pub rate: f64,
    /// Exec records of the storm's target in the daemon's log.
    pub events: Option<u64>,
    /// Losses the daemon counted (tracer: `loss` records' `detail.exec`;
    /// auditd: the kernel's `lost` counter delta).
    pub losses: Option<u64>,
    /// utime+stime of the daemon process during the storm, ns.
    pub daemon_cpu_ns: Option<u64>,
    /// eBPF programs' run time during the storm (`kernel.bpf_stats_enabled`).
    pub bpf: Option<BpfCost>,
    /// getppid(2) ns per call, measured right after the storm.
    pub getppid_ns: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BpfCost {
    pub total_run_ns: u64,
    pub programs: Vec<ProgCost>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProgCost {
    pub name: String,
    pub run_ns: u64,
    pub run_cnt: u64,
}

/// Medians (and min-max) of one configuration on one workload.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecAggregate {
    pub config: String,
    pub workload: String,
    pub n: usize,
    pub rate_median: f64,
    pub rate_min: f64,
    pub rate_max: f64,
    /// Median rate divided by the `none` median rate on the same workload.
    pub ratio: Option<f64>,
    pub getppid_ns_median: f64,
    /// getppid median minus `none`'s.
    pub getppid_tax_ns: Option<f64>,
    pub execs_total: u64,
    pub events_total: Option<u64>,
    pub losses_total: Option<u64>,
    /// Execs neither logged nor counted as lost (summed over runs).
    pub uncounted_total: Option<u64>,
    pub cpu_ns_per_event_median: Option<f64>,
    pub bpf_ns_per_exec_median: Option<f64>,
    /// Per program: median over runs of its run time divided by execs made.
    pub bpf_prog_ns_per_exec: Vec<(String, f64)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SustainedResults {
    pub mode: String,
    pub workers: usize,
    pub mode_probe: Vec<(String, f64)>,
    pub run: Option<LossRun>,
    /// events + losses == execs.
    pub pass: bool,
    pub ring_search: Vec<LossRun>,
    /// Smallest ring size tried with zero loss.
    pub min_zero_loss_ring: Option<u64>,
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LossRun {
    pub ring_bytes: u64,
    pub seconds: f64,
    pub execs: u64,
    pub rate: f64,
    pub events: u64,
    pub losses: u64,
}

/// The report benchmark's input recorded by real logins on this machine.
pub const RECORDED: &str = "audit-recorded.log";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportResults {
    pub audit_log_bytes: u64,
    pub audit_log_execs: u64,
    pub tracer_log_bytes: u64,
    pub tracer_log_execs: u64,
    /// The smaller RAW audit.log (`audit-raw.log`).
    #[serde(default)]
    pub raw_log_bytes: u64,
    #[serde(default)]
    pub raw_log_execs: u64,
    /// The audit.log recorded on this machine by real logins
    /// (`audit-recorded.log`, `tests/bench/record_real_log.sh`); 0 when
    /// it could not be recorded (see the runs' `skipped`).
    #[serde(default)]
    pub recorded_log_bytes: u64,
    #[serde(default)]
    pub recorded_log_execs: u64,
    /// "All threads" in the runs' `--threads`.
    #[serde(default)]
    pub threads: usize,
    pub generate_s: f64,
    pub runs: Vec<ReportRun>,
    /// How much parallel work the machine's CPUs do (see [`Parallel`]).
    #[serde(default)]
    pub parallel: Option<Parallel>,
}

/// The same report work alone, then `threads` copies at once: what
/// the all-cores figures can gain at most. vCPUs of a shared host (SMT
/// siblings, an overcommitted host) may do much less than one core's work
/// each when all are busy.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Parallel {
    pub threads: usize,
    /// Median seconds of one loop alone.
    pub alone_s: f64,
    /// Median seconds until `threads` loops running at once all finished.
    pub together_s: f64,
}

impl Parallel {
    /// Cores' worth of work done at once: `threads` x alone / together.
    pub fn capacity(&self) -> f64 {
        self.threads as f64 * self.alone_s / self.together_s.max(1e-9)
    }
}

impl ReportResults {
    /// `ausearch -i`'s MB/s on the tracer run's audit input; for the
    /// tracer JSON log of the same execs, on the ENRICHED audit.log (the
    /// ratio is then per event, as the sizes differ).
    pub fn ausearch_mb_per_s(&self, input: &str) -> Option<f64> {
        let on = match input {
            "audit-raw.log" | RECORDED => input,
            _ => "audit.log",
        };
        let a = self
            .runs
            .iter()
            .find(|x| x.tool == "ausearch -i" && x.input == on)?
            .mb_per_s?;
        if input == "tracer.jsonl" && self.audit_log_bytes > 0 {
            // Same execs: compare events per second, expressed on the
            // JSON log's bytes.
            return Some(a * self.tracer_log_bytes as f64 / self.audit_log_bytes as f64);
        }
        Some(a)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReportRun {
    /// e.g. `tracer report --format json`.
    pub tool: String,
    /// `audit.log` or `tracer.jsonl`.
    pub input: String,
    pub seconds: Option<f64>,
    /// User + system CPU seconds (from wait4).
    #[serde(default)]
    pub cpu_seconds: Option<f64>,
    pub mb_per_s: Option<f64>,
    pub events_per_s: Option<f64>,
    pub max_rss_mib: Option<f64>,
    pub exit_code: Option<i32>,
    pub skipped: Option<String>,
}

/// The median of `v` (mean of the middle two for an even count); NaN if empty.
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
    if s.is_empty() {
        return f64::NAN;
    }
    s.sort_by(|a, b| a.total_cmp(b));
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
