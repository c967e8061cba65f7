//! The plot and document from a small synthetic result set: pure, no root.

use super::exec::aggregate;
use super::model::*;
use super::{doc, plot};

fn run(config: &str, workload: &str, rep: usize, rate: f64, ns: f64) -> ExecRun {
    let traced = config != "none";
    ExecRun {
        config: config.into(),
        workload: workload.into(),
        rep,
        execs: (rate * 2.0) as u64,
        seconds: 2.0,
        rate,
        events: traced.then_some((rate * 2.0) as u64),
        losses: traced.then_some(0),
        daemon_cpu_ns: traced.then_some(4_000_000),
        bpf: (config == "tracer-ebpf").then(|| BpfCost {
            total_run_ns: (rate * 2.0 * 900.0) as u64,
            programs: vec![ProgCost {
                name: "sched_process_exec".into(),
                run_ns: (rate * 2.0 * 900.0) as u64,
                run_cnt: (rate * 2.0) as u64,
            }],
        }),
        getppid_ns: ns,
        ..Default::default()
    }
}

fn synthetic() -> Results {
    let mut runs = Vec::new();
    for rep in 0..3 {
        for w in ["1w-fork-tiny", "2w-fork-tiny"] {
            runs.push(run("none", w, rep, 10_000.0 + rep as f64 * 100.0, 80.0));
            runs.push(run("auditd", w, rep, 6_500.0 + rep as f64 * 100.0, 190.0));
            runs.push(run(
                "tracer-ebpf",
                w,
                rep,
                9_950.0 + rep as f64 * 100.0,
                80.5,
            ));
        }
    }
    let aggregates = aggregate(&runs);
    Results {
        started: "2026-11-24T20:00:00Z".into(),
        quick: true,
        duration_s: 90.0,
        machine: Machine {
            nproc: 2,
            cpu_model: "Test CPU <x>".into(),
            mem_total_mib: 1024,
            kernel: "6.1".into(),
            auditd_version: "1:3.0.9-1".into(),
            loadavg: "0.1 0.1 0.1".into(),
            foreign_exec_programs: 0,
        },
        exec: Some(ExecResults {
            reps: 3,
            seconds: 2.0,
            configs: super::exec::CONFIGS.iter().map(|s| s.to_string()).collect(),
            skipped: vec![Skip {
                config: "tracer-audit".into(),
                reason: "the audit backend is not available in this build".into(),
            }],
            runs,
            aggregates,
        }),
        sustained: Some(SustainedResults {
            mode: "vfork".into(),
            workers: 2,
            mode_probe: vec![("fork".into(), 9000.0), ("vfork".into(), 12000.0)],
            run: Some(LossRun {
                ring_bytes: 32 << 20,
                seconds: 5.0,
                execs: 60_000,
                rate: 12_000.0,
                events: 59_000,
                losses: 1_000,
            }),
            pass: true,
            ring_search: vec![LossRun {
                ring_bytes: 32 << 20,
                seconds: 1.5,
                execs: 18_000,
                rate: 12_000.0,
                events: 18_000,
                losses: 0,
            }],
            min_zero_loss_ring: Some(32 << 20),
            skipped: None,
        }),
        report: Some(ReportResults {
            audit_log_bytes: 20_000_000,
            audit_log_execs: 10_000,
            runs: vec![
                ReportRun {
                    tool: "tracer report --format text".into(),
                    input: "audit.log".into(),
                    skipped: Some("`tracer report` is not in this build".into()),
                    ..Default::default()
                },
                ReportRun {
                    tool: "ausearch -i".into(),
                    input: "audit.log".into(),
                    seconds: Some(4.0),
                    cpu_seconds: Some(3.9),
                    mb_per_s: Some(5.0),
                    events_per_s: Some(2500.0),
                    max_rss_mib: Some(12.0),
                    exit_code: Some(0),
                    skipped: None,
                },
            ],
            ..Default::default()
        }),
    }
}

#[test]
fn aggregates_have_ratios_and_taxes() {
    let r = synthetic();
    let a = &r.exec.as_ref().unwrap().aggregates;
    assert_eq!(a.len(), 6);
    let e = a
        .iter()
        .find(|a| a.config == "tracer-ebpf" && a.workload == "1w-fork-tiny")
        .unwrap();
    assert_eq!(e.n, 3);
    assert!((e.ratio.unwrap() - 10_050.0 / 10_100.0).abs() < 1e-9);
    assert!((e.getppid_tax_ns.unwrap() - 0.5).abs() < 1e-9);
    assert_eq!(e.uncounted_total, Some(0));
    assert!((e.bpf_ns_per_exec_median.unwrap() - 900.0).abs() < 1.0);
    // Workloads first, configurations in their fixed order within.
    assert_eq!(a[0].config, "none");
    assert_eq!(a[1].config, "auditd");
    assert_eq!(a[0].workload, "1w-fork-tiny");
}

#[test]
fn svg_is_well_formed_enough() {
    let r = synthetic();
    let e = r.exec.as_ref().unwrap();
    let s = plot::svg(&e.aggregates, &e.configs, "execs/s <test>");
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    assert!(s.contains("&lt;test&gt;"), "title escaped");
    // One bar per (config, workload), plus 3 legend swatches and the background.
    assert_eq!(s.matches("<rect").count(), 6 + 3 + 1);
    assert_eq!(s.matches("<title>").count(), 6);
    assert_eq!(s.matches("<path").count(), 6, "one whisker per bar");
    assert!(!s.contains("NaN") && !s.contains("inf"));
}

#[test]
fn markdown_has_tables_goals_and_skips() {
    let r = synthetic();
    let md = doc::render(&r);
    assert!(md.contains("# Benchmarks"));
    assert!(md.contains("--quick"));
    assert!(md.contains(doc::PLOT_PATH));
    assert!(md.contains("| 1w-fork-tiny | tracer-ebpf | 3 |"));
    assert!(md.contains(
        "**tracer-audit** was skipped: the audit backend is not available in this build"
    ));
    assert!(md.contains("`sched_process_exec` | 900 |"));
    assert!(md.contains("skipped: `tracer report` is not in this build"));
    let goals = doc::goals(&r);
    let by = |g: &str| {
        goals
            .iter()
            .find(|x| x.goal.starts_with(g))
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(by("eBPF backend ≥ 0.98x"), doc::Status::Met);
    assert_eq!(by("eBPF backend: zero added"), doc::Status::Met);
    assert_eq!(by("eBPF backend: daemon CPU"), doc::Status::Met); // 4 ms / 20k events = 200 ns
    assert_eq!(by("Audit backend"), doc::Status::NotMeasured);
    assert_eq!(by("No uncounted loss"), doc::Status::Met);
    assert_eq!(by("Report ≥ 20x"), doc::Status::NotMeasured);
}

#[test]
fn missed_goals_say_by_how_much() {
    let mut r = synthetic();
    let e = r.exec.as_mut().unwrap();
    for run in e.runs.iter_mut().filter(|r| r.config == "tracer-ebpf") {
        run.rate *= 0.9;
        run.events = Some(run.execs - 5);
    }
    e.aggregates = aggregate(&e.runs);
    let goals = doc::goals(&r);
    let g = goals
        .iter()
        .find(|x| x.goal.starts_with("eBPF backend ≥ 0.98x"))
        .unwrap();
    assert_eq!(g.status, doc::Status::Missed);
    assert!(g.note.starts_with("missed by 0.08"), "{}", g.note);
    let g = goals
        .iter()
        .find(|x| x.goal.starts_with("No uncounted"))
        .unwrap();
    assert_eq!(g.status, doc::Status::Missed);
    assert!(
        g.measured.contains("tracer-ebpf 1w-fork-tiny: 15"),
        "{}",
        g.measured
    );
}

#[test]
fn report_section_replaces_only_itself() {
    let r = synthetic();
    let sec = super::doc::report_section(r.report.as_ref().unwrap(), &r);
    assert!(
        sec.starts_with(super::doc::REPORT_BEGIN)
            && sec.trim_end().ends_with(super::doc::REPORT_END)
    );
    // An old document without markers: the old section goes, the rest stays.
    let old = "# B\n\n## Exec\nx\n\n## Report throughput\n\nold table\n\n## Why\ny\n";
    let new = super::doc::splice_report(old, &sec);
    assert!(
        new.contains("## Exec\nx") && new.contains("## Why\ny"),
        "{new}"
    );
    assert!(!new.contains("old table"));
    // With markers: replaced again in place, nothing duplicated.
    let again = super::doc::splice_report(&new, &sec);
    assert_eq!(again, new);
    assert_eq!(again.matches("## Report throughput").count(), 1);
}

#[test]
fn parallel_capacity_bounds_the_all_threads_goal() {
    let mut r = synthetic();
    let rep = r.report.as_mut().unwrap();
    rep.threads = 2;
    rep.runs.push(ReportRun {
        tool: "tracer report --format json --threads 2".into(),
        input: "audit.log".into(),
        seconds: Some(0.4),
        mb_per_s: Some(50.0),
        max_rss_mib: Some(90.0),
        exit_code: Some(0),
        ..Default::default()
    });
    rep.parallel = Some(Parallel {
        threads: 2,
        alone_s: 1.0,
        together_s: 1.8,
    });
    let sec = doc::report_section(r.report.as_ref().unwrap(), &r);
    assert!(sec.contains("do **1.11 cores' work**"), "{sec}");
    let goals = doc::goals(&r);
    let g = goals.iter().find(|x| x.goal.contains("all cores")).unwrap();
    assert_eq!(
        g.note,
        "missed: 10.0x < 30x (its 2 vCPUs do 1.11 cores' work at once)"
    );
    let g = goals.iter().find(|x| x.goal.contains("RSS")).unwrap();
    assert_eq!(g.status, doc::Status::Met, "{}", g.measured);
}

#[test]
fn report_goals_hold_on_the_generated_and_the_recorded_log() {
    let run = |tool: &str, input: &str, mb: f64| ReportRun {
        tool: tool.into(),
        input: input.into(),
        seconds: Some(1.0),
        mb_per_s: Some(mb),
        max_rss_mib: Some(50.0),
        exit_code: Some(0),
        ..Default::default()
    };
    let mut r = synthetic();
    let rep = r.report.as_mut().unwrap();
    rep.threads = 2;
    rep.recorded_log_bytes = 200_000_000;
    rep.recorded_log_execs = 137_000;
    rep.runs.extend([
        // ausearch reads audit.log at 5 MB/s (synthetic()), the recording at 10.
        run("ausearch -i", super::model::RECORDED, 10.0),
        run(
            "tracer report --format json --threads 1",
            "audit.log",
            125.0,
        ),
        run(
            "tracer report --format json --threads 1",
            super::model::RECORDED,
            150.0,
        ),
        run(
            "tracer report --format json --threads 2",
            "audit.log",
            100.0,
        ),
        run(
            "tracer report --format json --threads 2",
            super::model::RECORDED,
            400.0,
        ),
    ]);
    let goals = doc::goals(&r);
    // One core: 25x on the generated log but 15x on the recorded one.
    let one = goals.iter().find(|x| x.goal.contains("one core")).unwrap();
    assert_eq!(one.status, doc::Status::Missed, "{}", one.measured);
    assert_eq!(one.note, "missed: 15.0x < 20x");
    assert_eq!(
        one.measured,
        "25.0x (125.0 vs 5.0 MB/s); recorded log 15.0x (150.0 vs 10.0 MB/s)"
    );
    // All cores: 20x generated, 40x recorded: the worse one decides.
    let all = goals.iter().find(|x| x.goal.contains("all cores")).unwrap();
    assert_eq!(all.status, doc::Status::Missed);
    assert!(all.note.starts_with("missed: 20.0x < 30x"), "{}", all.note);
    let sec = doc::report_section(r.report.as_ref().unwrap(), &r);
    assert!(
        sec.contains("a real ENRICHED audit.log of 200 MB (137000 exec events)"),
        "{sec}"
    );
    assert!(
        sec.contains("| `tracer report --format json --threads 2` | audit-recorded.log |"),
        "{sec}"
    );
    assert!(sec.contains("| 40.0x |"), "{sec}");

    // Without a recording the generated log alone decides, and the method says so.
    let mut r = synthetic();
    let rep = r.report.as_mut().unwrap();
    rep.runs.push(run(
        "tracer report --format json --threads 1",
        "audit.log",
        125.0,
    ));
    rep.runs.push(ReportRun {
        tool: "ausearch -i".into(),
        input: super::model::RECORDED.into(),
        skipped: Some("recording a real log needs `sshd`".into()),
        ..Default::default()
    });
    let one = doc::goals(&r)
        .into_iter()
        .find(|x| x.goal.contains("one core"))
        .unwrap();
    assert_eq!(one.status, doc::Status::Met, "{}", one.measured);
    let sec = doc::report_section(r.report.as_ref().unwrap(), &r);
    assert!(
        sec.contains("No log recorded by real logins in this run"),
        "{sec}"
    );
    assert!(
        sec.contains("skipped: recording a real log needs `sshd`"),
        "{sec}"
    );
}
