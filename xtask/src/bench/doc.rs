//! `BENCHMARKS.md`: method, machine, tables, the issue's goals with met or
//! missed and by how much. A pure function of [`Results`].

use std::fmt::Write as _;

use super::model::{ExecAggregate, Results};

/// Where the plot goes, relative to the workspace root.
pub const PLOT_PATH: &str = "tests/bench/execs.svg";

#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Met,
    Missed,
    NotMeasured,
}

#[derive(Debug, Clone)]
pub struct Goal {
    pub goal: &'static str,
    pub measured: String,
    pub status: Status,
    /// "by how much", or why not measured.
    pub note: String,
}

fn fmt_opt(v: Option<f64>, prec: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("–".into(), |x| format!("{x:.prec$}"))
}

fn is_tiny_fork(a: &ExecAggregate) -> bool {
    a.workload.ends_with("-fork-tiny")
}

fn of<'a>(r: &'a Results, cfg: &'a str) -> impl Iterator<Item = &'a ExecAggregate> + 'a {
    r.exec
        .iter()
        .flat_map(|e| &e.aggregates)
        .filter(move |a| a.config == cfg)
}

fn skip_reason(r: &Results, cfg: &str) -> Option<String> {
    r.exec
        .as_ref()?
        .skipped
        .iter()
        .find(|s| s.config == cfg)
        .map(|s| s.reason.clone())
}

fn not_measured(goal: &'static str, why: String) -> Goal {
    Goal {
        goal,
        measured: "–".into(),
        status: Status::NotMeasured,
        note: why,
    }
}

pub fn goals(r: &Results) -> Vec<Goal> {
    let mut g = Vec::new();
    let no_exec = || "exec benchmark not run".to_string();

    // eBPF >= 0.98x on the tiny-binary storm.
    let ratios: Vec<(String, f64)> = of(r, "tracer-ebpf")
        .filter(|a| is_tiny_fork(a))
        .filter_map(|a| a.ratio.map(|x| (a.workload.clone(), x)))
        .collect();
    const G1: &str = "eBPF backend ≥ 0.98x untraced execs/s (tiny-binary fork storm)";
    match ratios.iter().min_by(|a, b| a.1.total_cmp(&b.1)) {
        Some((w, worst)) => g.push(Goal {
            goal: G1,
            measured: ratios
                .iter()
                .map(|(w, x)| format!("{w}: {x:.3}x"))
                .collect::<Vec<_>>()
                .join(", "),
            status: if *worst >= 0.98 {
                Status::Met
            } else {
                Status::Missed
            },
            note: if *worst >= 0.98 {
                format!("worst {worst:.3}x ({w})")
            } else {
                format!("missed by {:.3}x on {w}", 0.98 - worst)
            },
        }),
        None => g.push(not_measured(
            G1,
            skip_reason(r, "tracer-ebpf").unwrap_or_else(no_exec),
        )),
    }

    // Zero added cost on unrelated syscalls.
    const G2: &str = "eBPF backend: zero added cost on an unrelated syscall (getppid)";
    let taxes: Vec<(f64, f64)> = of(r, "tracer-ebpf")
        .filter_map(|a| {
            let base = a.getppid_ns_median - a.getppid_tax_ns?;
            Some((a.getppid_tax_ns?, base))
        })
        .collect();
    if let Some((tax, base)) = taxes.iter().copied().max_by(|a, b| a.0.total_cmp(&b.0)) {
        // Within 3 % of untraced counts as zero: run-to-run noise is larger.
        let ok = tax <= 0.03 * base;
        g.push(Goal {
            goal: G2,
            measured: format!("{tax:+.1} ns/call (untraced {base:.1} ns)"),
            status: if ok { Status::Met } else { Status::Missed },
            note: if ok {
                "within noise (≤ 3 % of the untraced call)".into()
            } else {
                format!("{tax:.1} ns over ({:.1} %)", 100.0 * tax / base)
            },
        });
    } else {
        g.push(not_measured(
            G2,
            skip_reason(r, "tracer-ebpf").unwrap_or_else(no_exec),
        ));
    }

    // Daemon CPU <= 1 µs per event.
    const G3: &str = "eBPF backend: daemon CPU ≤ 1 µs per event";
    let cpu = of(r, "tracer-ebpf")
        .filter_map(|a| a.cpu_ns_per_event_median)
        .fold(f64::NAN, f64::max);
    if cpu.is_finite() {
        g.push(Goal {
            goal: G3,
            measured: format!("{cpu:.0} ns/event (worst workload)"),
            status: if cpu <= 1000.0 {
                Status::Met
            } else {
                Status::Missed
            },
            note: if cpu <= 1000.0 {
                format!("{:.0} ns under", 1000.0 - cpu)
            } else {
                format!(
                    "{:.0} ns over ({:.1}x the goal)",
                    cpu - 1000.0,
                    cpu / 1000.0
                )
            },
        });
    } else {
        g.push(not_measured(
            G3,
            skip_reason(r, "tracer-ebpf").unwrap_or_else(no_exec),
        ));
    }

    // The programs together <= 1 µs per exec (bpf_stats).
    const G3B: &str = "eBPF programs: ≤ 1 µs per exec, all programs together (bpf_stats)";
    let bpf = of(r, "tracer-ebpf")
        .filter(|a| is_tiny_fork(a))
        .filter_map(|a| a.bpf_ns_per_exec_median)
        .fold(f64::NAN, f64::max);
    if bpf.is_finite() {
        g.push(Goal {
            goal: G3B,
            measured: format!("{bpf:.0} ns/exec (worst tiny-binary storm)"),
            status: if bpf <= 1000.0 {
                Status::Met
            } else {
                Status::Missed
            },
            note: if bpf <= 1000.0 {
                format!("{:.0} ns under", 1000.0 - bpf)
            } else {
                format!(
                    "{:.0} ns over ({:.1}x the goal)",
                    bpf - 1000.0,
                    bpf / 1000.0
                )
            },
        });
    } else {
        g.push(not_measured(
            G3B,
            skip_reason(r, "tracer-ebpf").unwrap_or_else(|| "bpf_stats not collected".into()),
        ));
    }

    // Audit backend CPU >= 5x lower than auditd's.
    const G4: &str = "Audit backend: daemon CPU per event ≥ 5x lower than auditd's";
    let pairs: Vec<f64> = of(r, "tracer-audit")
        .filter_map(|t| {
            let a = of(r, "auditd").find(|a| a.workload == t.workload)?;
            Some(a.cpu_ns_per_event_median? / t.cpu_ns_per_event_median?)
        })
        .collect();
    if let Some(worst) = pairs.iter().copied().reduce(f64::min) {
        g.push(Goal {
            goal: G4,
            measured: format!("auditd / tracer-audit = {worst:.1}x (worst workload)"),
            status: if worst >= 5.0 {
                Status::Met
            } else {
                Status::Missed
            },
            note: if worst >= 5.0 {
                "met".into()
            } else {
                format!("missed: {worst:.1}x < 5x")
            },
        });
    } else {
        g.push(not_measured(
            G4,
            skip_reason(r, "tracer-audit")
                .unwrap_or_else(|| "no tracer-audit or auditd CPU figures".into()),
        ));
    }

    // No uncounted loss.
    const G5: &str = "No uncounted loss in any configuration";
    let mut bad: Vec<String> = r
        .exec
        .iter()
        .flat_map(|e| &e.aggregates)
        .filter(|a| a.uncounted_total.unwrap_or(0) > 0)
        .map(|a| {
            format!(
                "{} {}: {}",
                a.config,
                a.workload,
                a.uncounted_total.unwrap_or(0)
            )
        })
        .collect();
    if let Some(s) = &r.sustained {
        if let Some(run) = s.run.as_ref().filter(|_| !s.pass) {
            bad.push(format!(
                "sustained: {}",
                run.execs.saturating_sub(run.events + run.losses)
            ));
        }
    }
    let checked = r
        .exec
        .as_ref()
        .is_some_and(|e| e.aggregates.iter().any(|a| a.uncounted_total.is_some()))
        || r.sustained.as_ref().is_some_and(|s| s.run.is_some());
    g.push(if !checked {
        not_measured(
            G5,
            "neither exec nor sustained ran a traced configuration".into(),
        )
    } else if bad.is_empty() {
        Goal {
            goal: G5,
            measured: "events + counted losses = execs everywhere".into(),
            status: Status::Met,
            note: "0 uncounted".into(),
        }
    } else {
        Goal {
            goal: G5,
            measured: bad.join("; "),
            status: Status::Missed,
            note: "execs neither logged nor counted lost".into(),
        }
    });

    // Report >= 30x ausearch -i on all cores, >= 20x on one; RSS < 100 MB.
    const G6: &str =
        "Report ≥ 30x `ausearch -i` throughput, all cores (ENRICHED audit.log, generated and recorded; JSON output)";
    const G6B: &str = "Report ≥ 20x `ausearch -i` throughput, one core";
    const G7: &str = "Report peak RSS < 100 MB";
    let rep = r.report.as_ref();
    let ours: Vec<&super::model::ReportRun> = rep
        .into_iter()
        .flat_map(|p| &p.runs)
        .filter(|x| x.tool.starts_with("tracer report") && x.seconds.is_some())
        .collect();
    let skipped = rep
        .and_then(|p| p.runs.iter().find_map(|x| x.skipped.clone()))
        .unwrap_or_else(|| "report benchmark not run".into());
    for (goal, want, threads) in [(G6, 30.0, rep.map_or(0, |p| p.threads)), (G6B, 20.0, 1)] {
        let tool = format!("tracer report --format json --threads {threads}");
        // The generated log and the one recorded by real logins: the goal is
        // met only where it is met on both.
        let ratios: Vec<(&str, f64, f64)> = ["audit.log", super::model::RECORDED]
            .into_iter()
            .filter_map(|input| {
                let p = rep?;
                let o = p
                    .runs
                    .iter()
                    .find(|x| x.tool == tool && x.input == input)?
                    .mb_per_s?;
                Some((input, o, p.ausearch_mb_per_s(input)?))
            })
            .collect();
        let Some(worst) = ratios.iter().map(|&(_, o, a)| o / a).reduce(f64::min) else {
            g.push(not_measured(goal, skipped.clone()));
            continue;
        };
        let measured = ratios
            .iter()
            .map(|&(input, o, a)| {
                let x = o / a;
                match input {
                    "audit.log" => format!("{x:.1}x ({o:.1} vs {a:.1} MB/s)"),
                    _ => format!("recorded log {x:.1}x ({o:.1} vs {a:.1} MB/s)"),
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        let x = worst;
        g.push(Goal {
            goal,
            measured,
            status: if x >= want {
                Status::Met
            } else {
                Status::Missed
            },
            note: match (x >= want, rep.and_then(|p| p.parallel.as_ref())) {
                (true, _) => "met".into(),
                (false, Some(p)) if goal == G6 => format!(
                    "missed: {x:.1}x < {want:.0}x (its {} vCPUs do {:.2} cores' work at once)",
                    p.threads,
                    p.capacity()
                ),
                (false, _) => format!("missed: {x:.1}x < {want:.0}x"),
            },
        })
    }
    match ours.iter().filter_map(|x| x.max_rss_mib).reduce(f64::max) {
        Some(m) => g.push(Goal {
            goal: G7,
            measured: format!("{:.1} MB (largest run)", m * 1.048_576),
            status: if m * 1.048_576 < 100.0 {
                Status::Met
            } else {
                Status::Missed
            },
            note: if m * 1.048_576 < 100.0 {
                format!("{:.0} MB under", 100.0 - m * 1.048_576)
            } else {
                format!("{:.0} MB over", m * 1.048_576 - 100.0)
            },
        }),
        None => g.push(not_measured(G7, skipped)),
    }
    g
}

/// The whole document.
/// Why the goals this machine misses are missed: written from profiles of
/// the committed code (see each point), not generated by the run above.
const ANALYSIS: &str = "## Why goals are missed (profiles)\n\n\
- **Tax on unrelated syscalls.** Attaching any program to a `syscalls/*` tracepoint sets \
`TIF_SYSCALL_TRACEPOINT` on every task, so *every* syscall of every process takes the slow entry/exit path \
(`syscall_trace_enter`), with or without a program for that syscall: that is the getppid tax. tracer catches \
failed execs with `fexit` on `__x64_sys_execve{,at}` and `__ia32_compat_sys_execve{,at}` (BPF trampolines on \
those four functions only, no tax), then `kretprobe` on them, and only as the last resort on \
`syscalls/sys_exit_execve{,at}` (issue 13). **The VM this file was generated on refuses every BPF trampoline \
program** (`BPF_PROG_LOAD` of a trivial fexit on the kernel's own `bpf_fentry_test1` fails with EPERM, while \
`tp_btf` loads) **and has no kprobes** (`CONFIG_KPROBES` unset), so tracer runs its last tier here and the tax \
remains: it is a property of this kernel, not of the default configuration (tracer's start record says which \
tier runs and why: `detail.failed_exec_hook`, `failed_exec_fallback_reason`; where the kernel says why, \
the reason does too: lockdown in `confidentiality` mode, or no `CONFIG_KPROBES`; this VM's lockdown is \
`integrity`, so its refusal comes from outside the kernel's own settings). On Debian's own kernels, which \
load fexit, `tests/vm/run.sh` (part of `cargo xtask test`) boots the kernel in a VM and checks that no program \
sits on any `syscalls/*` tracepoint while failed execs, 32-bit ones included, are still logged; the VM runs \
under software emulation, so the tax is not timed there. The exec and exit programs (`tp_btf` \
on `sched_process_exec` and `sched_process_exit`) cost nothing outside exec and exit.\n\
- **eBPF ns per exec.** `kernel.bpf_stats_enabled` charges each program its run time, helper calls \
included. The exec and exit programs are `tp_btf` programs: their reads of `task_struct`, creds, `mm` and \
`bprm` are plain loads through BTF-typed pointers at offsets from BTF (runtime values, but constants to the \
verifier because they sit in the frozen `.rodata`), not helper calls; so is the cwd walk within the working directory's own mount (the task's `fs`, its root and pwd, each `d_parent` and `d_name`; only each name costs a helper call); from the first mount crossed on it uses probe reads (it crosses from `vfsmount` to `struct mount` by pointer arithmetic, which the verifier does not allow on typed pointers), with the mount root read once per mount crossed. Exits of threads and of processes that never \
exec'd (and lead no session) produce no record. Measured while writing this (2 vCPUs, load average 10-16 from \
other builds, 1-worker storm at SCHED_FIFO, cwd 6 components deep): exec program ~4.2 µs, exit ~1.7 µs, the \
exit-only `sys_exit_execve` fallback ~0.24 µs; cutting the exec program after the exe left ~1.4 µs, removing \
the cwd walk saved ~1.5 µs, the exit program's decision alone (no record) ~0.4 µs. The issue measured a minimal \
ring-buffer program at 0.41 µs on a quiet VM, so on this machine the floor itself is a good part of the \
1 µs budget. Side by side in the same minute (cwd `/`, 1 SCHED_FIFO worker, load ~2, `kernel.bpf_stats_enabled`): the programs before issue 13 cost 8.3 µs per exec (`sys_enter_execve` 1.62, `sys_exit_execve` 0.92, `sched_process_exec` 3.97, `sched_process_exit` 1.88), after it 4.2 µs (`sys_exit_execve_regs` 0.15, `sched_process_exec_btf` 2.72, `sched_process_exit_btf` 1.35). \
Issue 13, session 5, measured with both builds loaded at once (each exec runs the old and the new programs under the same load; the program attached first pays the cold cache misses, 1.2-1.8 µs more, so each pair ran in both orders, three times; 2-worker fork storm of `tiny`, cwd 3 components deep, load average 5-7): plain loads in the cwd walk save ~0.4-0.5 µs of the exec program (a second batch of three pairs gave 0.5; first batch, base first: 4.98, 4.30, 5.25 µs against the new 3.28, 2.70, 3.35; new first: 4.81, 4.78, 4.26 against the base 3.71, 5.14, 3.37). Tried and not kept: a per-CPU count of bytes written instead of `bpf_ringbuf_query` to decide wake-ups (the query is ~15 % of the exec program's `perf` samples, but its miss on the consumer position moves to `bpf_ringbuf_output`: exit program -0.04 µs, exec within noise). Not possible on this VM: a cwd cache validated by the global `rename_lock`/`mount_lock` seqcounts, since the kernel has `CONFIG_KALLSYMS_ALL` off (`/proc/kallsyms` lists no data symbols) and its BTF has no VAR for them; a cache keyed by dentry pointers would also need a guard against a freed dentry's address being reused (no seqcount changes on dentry free). What remains, from `perf` samples of the exec program: ~40 % its own instructions (mostly cache misses on the new task's structures, per the attach-order effect above), ~15 % the ring query, ~10 % probe reads, ~7 % the argv read, ~6 % `bpf_get_current_cgroup_id`. \
Session 9: an exit record holds only what the exit adds (pid, start time, login, status: 48 bytes instead of \
80), so the exit program no longer reads the parent's pid, the cgroup id or comm. Interleaved with the \
previous build in one run (`cargo xtask bench --no-doc exec --configs tracer-ebpf --baseline OLD`, the five \
workloads, 1-5 repetitions each), `sched_process_exit_btf` per exec: 1008 -> 696, 851 -> 676, 953 -> 692, \
868 -> 658, 913 -> 702 ns (-21 % to -31 %); the exec program within noise (1,852-2,305 ns before, \
1,909-2,375 after). A `perf record -a` of the whole machine under a 2-worker storm of `tiny` puts the \
programs with their helpers and dispatch at ~0.5 % of both CPUs' samples, ~3 µs per exec, as `bpf_stats` \
says; most of the machine's time in that storm is the kernel's fork, exec and exit (page faults, \
`unmap_page_range`) and the static binary's own start-up (`handle_amd`, `get_common_indices`: glibc's \
cache-info `cpuid` instructions, which trap to the hypervisor), which is why the execs/s ratio stays near \
1.0 while the programs miss 1 µs.\n\
- **Daemon CPU per event.** Since issue 13 the eBPF exec and exit records take a hot path \
(`tracer/src/pipeline.rs`): read in place from the ring, the session tracker fed a borrowed view, the JSON \
line written from a borrowed `WireRef` by a hand-written writer (static keys, a branch-free scan for escapes) \
into a reused buffer, sealed, one write(2) per drain; no `Event` and no allocation per record, the time's \
seconds prefix cached, cgroup paths from a cache that also remembers gone ids, the HMAC key's pad blocks \
hashed once. Its lines are byte-identical to the owned path's (`tracer/tests/ebpf_hot_path.rs`; the \
hand-written writer is held equal to serde's on every fixture record). Measured side by side while writing \
this (2 vCPUs shared with other builds, load average 10; `tracer run --backend ebpf`, chain and session \
tracking on, log on ext4; 2-worker fork storm of `tiny` for 4 s, interleaved before/after twice, `schedstat` \
of all the daemon's threads): before 15.5 and 15.2 µs per exec (at 1254 and 1187 execs/s), after 10.0 and 8.8 \
µs (at 1215 and 1384 execs/s), -38 %. About 4 ms of CPU per second is spent with no exec at all (the 50 ms \
ring poll, tokio's timers and epoll on a loaded machine, the status file rewritten every second); net of it, \
11.9 and 11.2 µs per exec before, 6.5 and 5.9 µs after (-46 %). What remains per exec, from `perf` (the daemon \
handles two records per exec: exec and exit): the kernel's part of writing ~1.3 KB of sealed log per exec to \
ext4 (~15 % of the daemon's time in `ext4_buffered_write_iter`, ~5 % in the fsync thread), SHA-256 for the \
chain (~12 %: ~10 blocks per exec), string escaping and copies, epoll and scheduling. User space alone, the \
same records replayed without a kernel (`cargo run --release -p tracer --example hotpath`: exec + exit per \
exec, chain and tracker on, log on disk, same loaded machine): 5.3-6.2 µs per exec on the hot path against \
7.0-8.3 µs on the owned path (which shares the writer, the encoding, the time formatting and the HMAC \
changes). At 10,000 execs/s the fixed cost would add only ~0.4 µs per exec; the ≤ 1 µs goal is **missed** here \
by the per-record work itself, on a machine where everything runs several times slower than on a quiet one \
(SHA-NI HMAC of a ~600-byte record alone measures ~0.4 µs). Next steps: sealing in place in the log buffer \
(one copy less), a shorter exit record, and measuring on a quiet machine. Session 8 (`cargo run --release -p \
tracer --example hotpath` under `valgrind --tool=callgrind`, 20,000 records, three rounds; under valgrind \
SHA-256 runs without SHA-NI, so the HMAC is left out here): the hot path's work besides the HMAC went from \
479 M to 290 M instructions (-39 %, ~8,000 -> ~4,800 per record): the session tracker's and the cgroup \
cache's maps, keyed by pids and cgroup ids, hash with a multiply-rotate hasher instead of SipHash (`crate::hash`; \
those keys are the kernel's, not chosen by users); decimal numbers through `itoa` (one implementation for \
the log writer, the chain and the report, which had three digit loops); ASCII strings that need no escape \
written in one pass instead of UTF-8 validation, a search for the escape block and an escape scan; the \
writer's per-field helpers inlined so that each literal key is a fixed-length copy. Natively (same \
example with SHA-NI, before and after interleaved four times, three rounds each): median 1,270 -> 1,050 ns \
per record (-17 %), so ~2.1 µs per exec in user space alone, the HMAC about a third of it. Session 9: the \
exit line is ~250 bytes instead of ~325 (no ppid, uid, comm, cgroup id or path: its exec record has them, \
found by pid and `start_boottime`), so it needs fewer HMAC blocks and no cgroup-cache lookup; the same \
example, the previous and the new build interleaved four times, three rounds each: median 2,238 -> 2,024 ns \
per exec (-10 %). In the storms the daemon's figure moved within the run-to-run noise (side by side: 5420 -> \
4682, 3416 -> 3700, 3847 -> 3957, 2963 -> 3091, 3303 -> 2958 ns per event). The fixed part: each wake-up of \
the daemon costs ~0.1 ms of CPU on this VM (idle, measured from `schedstat`: 3.68 ms of CPU a second with 36 \
time slices at the 50 ms poll, 1.35 ms at 200 ms, 0.62 ms at 1 s), so at the storm's ~3,500 execs/s the 20 \
timed drains a second are ~0.6 µs of each exec's daemon CPU, and ~0.2 µs at 10,000 execs/s. An idle daemon now \
sleeps: a drain that finds the ring empty sets the `WAKE` map and backs the timed drains off to 1 s, and the \
next record any program sends clears it and wakes the reader at once: idle CPU 3.7 -> 0.7 ms a second, the \
first record after a quiet spell read at once instead of at the next 50 ms tick. A storm's ring is never \
empty, so the figures above do not change with it. Session 15, where the daemon's CPU goes now (`perf record \
-F 20000 -g` of its threads under a 2-worker storm of `tiny` at ~3,350 execs/s, 3.2 µs of CPU per exec event \
by `schedstat`, exec and exit record each): the kernel writing the log ~33 % (write(2) 16.6 %: page-cache \
copies and ext4's delayed allocation, in 255 writes of ~55 KB for 41,700 records, so not the number of \
calls; the fsync thread's writeback 16.5 %, work the kernel's flusher would otherwise do outside the daemon, \
as it does for auditd's `INCREMENTAL_ASYNC`), the chain's HMAC-SHA256 17 % (SHA-NI, ~0.55 µs for the two \
lines), epoll and scheduling 11 %, and tracer's own decoding, JSON, sealing and session tracking the rest, \
~1.2 µs, no function of it above 3 %. So with the chain on and the log on ext4, ~1.6 µs of each exec's 3.2 \
are the log's bytes through the kernel and the keyed hash that the log format (README, \"Tamper evidence\") \
fixes: the ≤ 1 µs goal is out of reach of the daemon's code alone on this configuration; reaching it would \
take fewer bytes per exec (an exit record folded into the next drain's exec lines, say) or a cheaper MAC, \
both changes of the log format, not made here.\n\
- **Audit backend vs auditd.** tracer-audit receives the same text records as auditd (multicast beside it, or \
unicast as the daemon), parses and coalesces them, runs the session tracker and writes sealed JSON lines; \
auditd formats and appends them. Both pay the kernel's side of receiving ~7 records per exec (SYSCALL, EXECVE, \
CWD, 2 PATH, PROCTITLE, EOE). Profile before issue 13 item 5 (`perf record -g -p PID` of `tracer run --backend \
audit` under a 2-worker fork storm of `tiny`): a poll(2) + recv(2) per record and a batch, a tokio wake-up and \
a write(2) per record or two (the reader returned as soon as anything arrived: ~13 % in poll alone), an owned \
`Event` per exec (~15 allocations), and, the largest part, the batch-job lookup of every audit exec: two \
`/proc/PID/cgroup` reads (the exec'd process, then its parent; ~22 %, the kernel's `proc_cgroup_show` under \
`css_set_lock`, plus a negative dentry per gone pid). Now: the reader thread waits for the socket, lets \
records gather for 50 ms, and takes everything queued with `recvmmsg(2)` (32 datagrams per call) into one \
buffer per batch; records are parsed in place and coalesced into one compact buffer per exec, whose JSON line \
is written by the eBPF hot path's writer (`Pipeline::audit_exec`, byte-identical to the owned path on real \
audit logs: `tracer/tests/audit_hot_path.rs`), one write(2) per batch; a process already gone is not read in \
`/proc` (`kill(pid, 0)` says so without a dentry), and a parent's reading is reused for 1 s. Measured side by \
side while writing this (2 vCPUs shared with other builds; 2-worker fork storm of `tiny` for 4 s, log on ext4, \
chain and tracker on; CPU of all the daemon's threads from `schedstat` over the storm + 0.3 s, per logged \
exec; auditd as configured above; before, auditd, after interleaved, 3 rounds): before 175, 127, 124 µs per \
exec (median 127), auditd 167, 130, 125 (median 130), after 27.8, 27.4, 25.1 (median 27.4): 4.6x less than \
before, auditd / tracer-audit 6.0, 4.8, 5.0 per round (4.8x on the medians), against ~1.0x before. With \
batching and the hot path but the `/proc` reads as before it was 40 µs (3.7x). What remains (`perf`, after): \
the kernel's receive of the records, ~46 % (`netlink_recvmsg`, skb copy and free, the receive queue's lock, \
contended by kauditd queueing on the other CPU), which auditd pays too; write(2) to ext4 ~6 %; `kill(pid, 0)` \
~6 %; parsing and coalescing ~8 %; poll, epoll and scheduling ~6 %. User space alone, without a kernel (`cargo \
run --release -p tracer --example audit_hotpath`: 7 records per exec framed as netlink datagrams, batches of \
25 execs, chain and tracker on, log on disk; same loaded machine): 9.3-9.9 µs per exec on the hot path against \
10.5-11.5 µs on the owned path; `valgrind --tool=callgrind` of it (2,000 execs): 58 k instructions per exec \
against 64 k, of which the sink ~35 k (mostly the chain's HMAC-SHA-256 seal, without SHA-NI under valgrind), \
parsing ~5 k, coalescing ~13 k, the session tracker ~2.4 k. Next steps: the per-exec `kill(2)` (a pid cache \
fed by the exec records themselves), fewer records per exec from the kernel (PROCTITLE and the second PATH are \
not used, but excluding them is a machine-wide audit policy), sealing in place.\n\
- **Report CPU per byte (issue 14, byte level).** Measured with `valgrind --tool=callgrind` (instruction \
counts, repeatable on this loaded machine) on the first 30 MB of the generated ENRICHED `audit.log` (148,667 \
lines, 19,539 execs), `--format json --threads 1`, release build. Before issue 14c, 1,667 M instructions; \
after it (`5e36bca`: digit-by-digit times, the pretty printer's indentation in one write, SWAR token scanning, \
one deflate stream for long command lines, Mix-hashed memos), 1,246 M. Then (branch `issue-14d`, from main at \
`a647b42`, 1,248 M): 1,113 M (-11 %), by writing command rows and group headers with a hand-written writer \
(`tracer/src/report/pretty.rs`: keys as preformatted bytes, strings of printable ASCII without `\"` or `\\` in \
one copy, anything else through serde_json and `SafeFormatter` at the same depth, so the bytes are serde's by \
construction; a property test holds the two equal on random JSON values), argv unpacked without a `Vec` per \
row and `as_user` memoized per group; rendering went from 430 M to 297 M instructions. With several threads, a \
big group's rows are now written in blocks of 4,096 on all cores and appended in order \
(`tracer/tests/report_json_blocks.rs`: 1, 2 and 3 threads give the same bytes), so the rendering, a quarter of \
the work, no longer runs on one core after the parallel read. The same on the first 30 MB of `tracer.jsonl` \
(62,627 execs): 2,920 M -> 2,493 M (-15 %; 40 k instructions per exec against 57 k for the audit log). User \
CPU of the whole 1 GB `audit.log`, `--format json`, one run each at load average 7-9 (wall times meaningless \
then): `--threads 1` 9.42 -> 8.36 s, `--threads 2` 12.50 -> 11.42 s. Peak RSS is unchanged (`/usr/bin/time`, 1 \
GB json: 111,992 -> 111,944 KB on one thread, 118,040 -> 117,720 KB on two), so the < 100 MB goal is still \
missed: a grouped report's state grows ~100 KB per MB of log (11.5 MB on the 30 MB head, 28 MB on \
`audit-200m.log`, 112 MB on 1 GB), 44 MB of it the 64-byte `Command` of each of the 689,535 execs; even \
`--summary`, which keeps no rows, grows ~30 KB per MB (8.9, 14.5, 39 MB). What the profile shows remains (json \
on the audit log, 1,113 M): the audit parser and coalescer ~48 % (`Fields::next` ~7 %, `find` ~3 %, \
`parse_u64` ~2 %, the SYSCALL record's fields matched by name), the model ~20 %, of which interning 12 % \
(deflating the ~1.5 % of command lines over 1 KiB ~10 %, ~3 % of it miniz clearing its hash tables on each \
full flush; SipHash of each command line ~3 %, kept on purpose: the strings are chosen by the users being \
watched), rendering ~26 % (quoting each distinct command line for `command` ~12 %, inflating the long ones ~3 \
% of it; the rows themselves ~13 %), zeroing each chunk before reading into it ~2.4 % (`memset` under \
`Chunker::fill`: std's `read_to_end` zeroes the spare capacity for a reader without `read_buf`; recycling \
chunk buffers would remove it), and, outside instruction counts, the kernel's copy of the file. Next steps, by \
measured size: a cheaper compressor for long command lines (no table reset per line), field lookup by position \
in the SYSCALL record, the command-line quoting of long quoted arguments a slice at a time rather than a \
character at a time, for the RSS bound a smaller `Command` (the job, step and sudo-target symbols are rare: a \
side table makes it 56 bytes) and each group's rows stored compressed in blocks, and the text and CSV \
renderers in blocks on all cores as JSON now is.\n\
- **Report on all cores, and less per record (issue 14, session 7).** Instruction counts as above (callgrind, \
first 20 MB of the ENRICHED `audit.log`, `--threads 1`), from `e4a47f9` to this run's code: `--format json` \
739 M -> 573 M (-23 %), `--summary` 460 M -> 419 M (-9 %; its largest gain, below, grows with the number of \
sessions and hardly shows on 20 MB). The report table above is one run on a machine whose speed varied by \
±30 % between runs this session (getppid 340-490 ns here against 208 ns in earlier runs): `--format json \
--threads 1` took 4.5 s of CPU in it and 3.6 s at best in runs beside it. What changed, by measured size: the text and \
summary headers asked, group by group, whether the host had sessions of several boots, each time walking every \
group (quadratic: 16 % of a `--summary` of the 1 GB log's 18,000 sessions; now one set per rendering); every \
format writes runs of small groups in batches of ~1,024 rows on all cores, appended in order (`report/par.rs`; \
a login node's sessions have tens of commands, so JSON's row blocks for big groups never ran in parallel on \
them; `tracer/tests/report_json_blocks.rs` holds 1, 2 and 3 threads byte-equal on thousands of small sessions \
in every format); LZ4 instead of deflate for command lines over 1 KiB (compressing was 7 % of a JSON report; \
11,317 such lines of 68 MB keep 20 MB); the boot of each record (two SipHash lookups of the host name) and its \
label cached for runs of one host (~5 %); SYSCALL records read in one pass when in the kernel's plain form \
(`plain_fields`, the general walk otherwise; a property test holds both equal) and field names matched as \
integers rather than by `memcmp` (SYSCALL, login records); the usual `audit(SECS.FRAC:SERIAL)` stamp in one \
digit loop (-3.6 %); chunk buffers recycled and read into in place (the zeroing of every chunk was 3.4 %); \
table-driven shell quoting; times of JSON and CSV rows without a `String`. Memory: a group's commands grow by a \
quarter instead of doubling (the doubling left 18 MB of `Command` slots unused on the 1 GB log), groups are put \
in order in place, and render batches are small (1 MB each): peak RSS of `--format json` on the 1 GB log \
108.2 -> 97.2 MiB on one thread, 113.5 -> 104.3 MiB on two (the previous run's table against this one's), \
still 2-11 MB above the 100 MB goal. Tried and dropped: mimalloc as the global allocator (slower here, and 190 MB RSS \
on two threads), 128 KiB and 2 MiB chunks (512 KiB is fastest), glibc malloc tunables (no clear effect). What \
is left (json, 573 M): parsing and coalescing ~52 % (login records ~8 %: an owned `Event` with a dozen strings \
each, built on a worker and dropped on the main thread), the model ~13 % (interning 6 %), rendering ~21 %, \
reading chunks ~5 %; with two threads the total CPU is 30-50 % above one thread's, mostly glibc's allocator on \
the workers (`_int_malloc`, `unlink_chunk`, `malloc_consolidate`: memory freed by the main thread). Next steps: \
login records as compact borrowed records like execs, per-worker reuse of coalescer state, and the 56-byte \
`Command`.\n\
- **Memory under the bound, and what two vCPUs are worth (issue 14, session 8).** A heap profile (`valgrind \
--tool=massif`, the 1 GB log, `--format json --threads 1`) put the peak at 101 MB of live heap: the commands' \
vectors 50.6 MB (689,535 rows of 64 bytes and their growth room), the interner 28 MB (20 MB of it the 11,317 \
long command lines, LZ4-compressed; 4 MB the 109,010 other distinct strings; 3 MB its table and locations), \
the groups 9.5 MB (18,017 of 528 bytes). Now a `Command` is 48 bytes: its rare facts (job, step, sudo target, \
an effective uid other than its uid) are one `Extra` interned once and shared (3 distinct ones on this log; a \
job's commands share one), `size_of` checked at compile time; a group's job facts are boxed (528 -> 424 \
bytes), and a session's unused command room is given back when it closes. Peak RSS measured with \
`/usr/bin/time` on the same log, before -> after: `--format json` 97.8 -> 79.5 MiB on one thread, 104.0 -> \
85.7 MiB on two; `tracer.jsonl` on two threads 104.0 -> 89.9 MiB; output bytes unchanged (md5 of json, text \
and csv on 1 and 2 threads). What remains above one thread's on two is the chunks in flight and their \
records (a tracer JSON record borrowed from its chunk is 624 bytes before the model takes it), which grows \
with the thread count, not the log. The session-7 note that two threads cost 30-50 % more CPU \
than one \"mostly in glibc's allocator\" did not hold up: callgrind counts 4 % more instructions with two \
threads (597 M against 574 M on the 20 MB head), while the CPU time of the same runs swings with the host: \
here one `sha256sum` of a cached 335 MB file took 1.0 s alone and 1.05-1.8 s each with a second beside it, \
and once 6.4 s alone, minutes apart. So every run now measures the machine's parallel capacity with this \
workload (separate one-thread reports alone and side by side; the line under the table), which bounds what \
`--threads 2` can gain in that run. Per \
byte, callgrind on the 20 MB head, `--format json --threads 1`: 573.7 M -> 554.2 M instructions (-3.4 %): \
SYSCALL bodies are walked on bit masks of their spaces, `=` and quotes made 16 bytes at a time (SSE2; a byte \
loop on other targets; property-tested against the word walk, which stays for bodies over 1 KiB) instead of \
two scans per word, and a JSON key is one copy of separator and indentation plus fixed-length copies. The \
profile is flat now: no function above 7 %, the SYSCALL fold 7 %, the general field walk of the other \
records 7 %, interning 7 % (SipHash kept on purpose), login records 8 %, rendering 21 %. A 20x one-core \
ratio needs about half the instructions per byte, which means reading the log without the intermediate \
record per event, not more of these cuts.\n\
- **Two threads, and what they were losing (issue 14, session 10).** On a quieter VM than before (`ausearch -i` \
64 MB/s on a 210 MB ENRICHED log, against ~30 MB/s on the earlier host), `--threads 2` was no faster than one \
thread (0.48 s both on 210 MB; 0.68 s of CPU against 0.48). `perf` per thread showed why: the main thread \
freed what the workers had allocated (each chunk's login events, a dozen strings each), so glibc took the \
workers' arena locks from the main thread (`__lll_lock_wake_private` under `free`, ~11 % of samples with one \
worker) and the workers' thread caches never got memory back (`_int_malloc` 9 -> 86 samples against one \
thread). Now the consumer borrows each chunk's result and hands it back to the worker that made it, which \
drops it before its next chunk (`logread/chunk.rs`; a test holds every result dropped by its maker), and audit \
login records are compact like execs (`LoginRec`: typed fields, strings in one buffer, read by the report \
without an `Event`; its view is held equal to the event's on every login record of the fixtures). 1 GB \
ENRICHED log, `--format json`, medians of three: two threads 2.52 -> 2.04 s (3.63 -> 3.04 s of CPU), one \
thread unchanged (2.53 s; -0.7 % instructions). Output bytes unchanged. Tried and not kept: bigger chunks \
(1 MiB: -4 % on two threads but peak RSS 89.7 -> 97.7 MiB on 1 GB; 2 MiB: -9 %, 112 MiB), glibc's \
`trim_threshold` and `mmap_threshold` tunables together (-7 % on two threads, +4 MB), a larger number of chunks \
in flight, and lower priority for the workers. What two threads still pay over one (3.04 against 2.53 s of \
CPU): wake-ups between the reader, the workers and the consumer (`try_to_wake_up`, `finish_task_switch`), \
per-chunk coalescer and map state built afresh on each worker, and the consumer's model and rendering, ~40 % \
of the work and serial, which bounds what more workers can give: on two vCPUs the four threads keep the CPUs \
~75 % busy.\n\
- **This run's host (session 15).** An AMD EPYC VM, slower again in everything that enters the kernel: \
untraced getppid 297-324 ns against 110-116 in session 14's run, auditd 75-118 µs of daemon CPU per event \
against 73-103, and its 2 vCPUs did only 1.33 cores' work at once (1.98 in session 14's run), while its \
untraced storms ran faster (1,830-4,609 execs/s median). The eBPF programs measure 2.4-3.2 µs per exec and the \
daemon 2.4-4.4 µs per event for the same code as session 14's figures below (the code of the capture \
path did not change in this session); the getppid tax of the last-resort syscall tracepoint is +21 to +74 \
ns; the ratio to auditd holds (6.1x less daemon CPU at worst). The report: 9.9x `ausearch -i` on one \
thread on the generated log (`ausearch -i` 32 MB/s here, 43 in session 14's run), 11.5x on the recorded \
one; on all threads 12.3x and 15.7x, bounded here by the 1.33 cores' work the two vCPUs did together. \
Peak RSS 95.1 MB at most, under the goal.
- **Session 14's host, for comparison.** Slower than session 12's in everything that enters the kernel: \
untraced getppid 110-116 ns against 81-86, auditd 73-103 µs of daemon CPU per event against 46-80, the \
storms' execs/s lower; its 2 vCPUs did 1.98 cores' work at once. So the per-exec figures are higher than \
session 12's for the same programs and daemon (eBPF programs 2.1-2.7 µs per exec against 1.4-1.9, the \
daemon 3.6-6.5 µs per event against 2.5-3.2, the getppid tax +2.6 to +27.6 ns), while the ratios to auditd \
hold (5.7x less daemon CPU at worst). The report's ratios rose (7.8x on one thread against 7.3x, 11.2x on \
all against 10.1x; `ausearch -i` 43 MB/s against 61): this session's changes cut 3.6 % of a JSON report's \
instructions (callgrind; see the report section), and the rest is this host. Each report configuration \
runs once, and single samples swing widely here (`--format text --threads 1` took 5.47 s, its two-thread \
run 2.16 s). Peak RSS 95.8 MB at most, under the goal.
- **Session 12's host, for comparison.** The tables of that run came from a VM faster than session 11's in everything \
that enters the kernel: untraced getppid 81-86 ns against 328 ns, auditd 46-80 µs of daemon CPU per event \
against 106-123 µs, and 2.04 cores' work from its 2 vCPUs at once against 1.42. So the per-exec figures are \
lower here (eBPF programs 1.4-1.9 µs per exec, the daemon 2.5-3.2 µs per event, the getppid tax +1 to +5 ns \
with the syscall tracepoint that catches failed execs, still the only route on this VM), and the report's \
ratios are lower too: `ausearch -i` reads the generated log 1.9x faster here (61 against 32 MB/s), tracer's \
report 1.2x (445 against 358 MB/s on one thread), so the one-thread ratio went from 11.1x to 7.3x and the \
all-cores one from 15.8x to 10.1x, on a log that also changed (no EOE records, as auditd writes them; see \
below; ausearch reads both forms at the same speed, 58-59 MB/s on 200 MB here). Each tool runs once: \
`--format text --threads 1` took 4.03 s in this run and 2.25 s in this session's first run on this host \
(whose code differed only in the JSON chunk size and an error check), the raw log 0.62 s against 0.31 s; \
such single samples are this host's noise. Peak RSS: \
without EOE lines the 1 GB audit.log holds ~3 % more execs, and so does the JSON log of the same execs, \
whose two-thread run was the largest (98 MiB, over the goal, in a first run of this session): each of its \
lines becomes a ~700-byte `Record` on a worker, so a 512 KiB chunk in flight held three times the events of \
an audit chunk. tracer JSON input is now read in 256 KiB chunks: that run ~98 -> ~91.5 MiB, ~3 % slower \
(medians of five, interleaved); `MALLOC_ARENA_MAX=1` would have saved only 2 MB.\n\
- **Rendering on all cores, for real (issue 14, session 11).** A timeline of `perf` samples per thread (50 ms \
buckets, 2 kHz, `--format json --threads 2` on the 210 MB log) showed the render phase, a third of the wall \
time, keeping the two vCPUs only ~57 % busy: batches were taken in waves of one per thread, each wave waiting \
for its slowest batch, and each batch faulted in a fresh MB of output buffer. Now each thread takes the next \
batch as soon as it is free (at most two per thread ahead of the one being written), the calling thread \
writes finished batches in order and renders between, and buffers are reused (`report/par.rs`; tests hold \
the window bound and turn a failing or panicking batch into an error, not a hang): the render phase runs \
at ~86 % of both vCPUs. A chunk's audit exec records no longer get copied into one shared buffer \
(`ExecRecord::share` was there to spare the main thread cross-thread frees, which the workers now do \
themselves), one large allocation and two copies less per chunk: minor page faults of the two-thread run \
25,315 -> 9,792, system time 0.15 -> 0.06 s. Per byte (callgrind, first 30 MB, `--threads 1`): 824 M -> 763 M \
instructions (-7.4 %): the model's maps keyed by symbols and kernel-assigned ids hash with the multiply-rotate \
`IntMap` (an enum key's discriminant in one step), the login record types are matched without a hash lookup, \
the kernel's `SECS.MSEC:` stamp is read a word at a time, JSON output batches pass through the `BufWriter` \
instead of being copied into it, the LZ4 output buffer is reused, and text read back from compact records is \
checked by `str::from_utf8` (ASCII a word at a time) rather than `from_utf8_lossy`'s byte loop. Side by side \
with the previous build (210 MB, medians of five, interleaved): one thread 0.82 -> 0.78 s, two threads \
0.67 -> 0.52 s, `--format text` on two 0.58 -> 0.50 s; output bytes unchanged in every format. Tried and not \
kept: the field-name key built in three loads instead of a byte loop (more instructions, not fewer), twice \
the chunks in flight (within noise, +2.4 MB). Found on the way, by the property test against std that fails \
only on some random inputs: `parse_u64` refused numbers of more than 20 digits with leading zeros; fixed, \
the case pinned.\n\
- **Real audit.log files have no EOE (issue 14, session 12).** The kernel ends each multi-record event with an \
EOE record, but auditd does not write it to audit.log: there is none in a real recording here (Debian 12, \
auditd 3.0.9, `tests/fixtures/audit/sessions/real-*.log`) nor in the real RHEL 7 and CentOS 7 logs among the \
fixtures. The generator wrote one per exec, and the reader closed events at EOE, so the benchmark measured a \
log no auditd writes. On the same 200 MB log with its EOE lines removed, the previous build's report went \
from 0.56 s on one thread to 0.52 s on two (0.81 s of CPU): without EOE an event stayed open until a window \
of 1,024 records or 2 s of log had passed, so a chunk's speculative reader was never without open events, \
and the true reader replayed nearly every line serially. Now an event closes when its last part comes \
(`PartialExec::complete`: its SYSCALL, as many PATH records as its `items=`, its CWD, and for a successful \
exec every EXECVE argument, in whatever order they come), and a worker's reader warms up on its chunk's \
first records, leaving out the tails of events begun in the chunk before (records that are not a SYSCALL, \
of events not open), which would otherwise be held open as orphans that never complete; a chunk whose \
warm-up left anything out is replayed from the true state, so the output stays the serial read's \
(property-tested; a test holds the replayed share of an EOE-less log under a quarter, 5 % as measured). The \
same 200 MB without EOE: 0.51 s on one thread, 0.31 s on two, as with EOE; the log with and without EOE \
gives the same report. The generator now writes no EOE (version 2 of its logs); the figures above are on such \
a log. Found with the oracle run of this session (every public test log of laurel, audit-userspace, \
go-libaudit and beats against `ausearch`/`aureport`): ausearch's default output (events between `----` \
lines, EOE first) is read as ausearch grouped it, a SYSCALL written with names (`syscall=execve`) is an exec, \
interpreted `ausearch -i` output and inputs with no readable line are errors rather than empty reports.\n\n";

pub fn render(r: &Results) -> String {
    let mut s = String::new();
    let m = &r.machine;
    let _ = writeln!(s, "# Benchmarks\n");
    let _ = writeln!(
        s,
        "Generated by `cargo xtask bench{}` (as root) on {} in {:.0} s; machine-readable results in \
         `target/bench/results.json`. Every number below comes from that run of the committed code.{}\n",
        if r.quick { " --quick" } else { "" },
        r.started,
        r.duration_s,
        if r.quick {
            " **This is a `--quick` run** (1 repetition, 2 s storms, 5 s sustained run, 20 MB report input): \
             indicative only; run `cargo xtask bench` on a quiet machine for the real figures."
        } else {
            ""
        }
    );
    let _ = writeln!(s, "## Machine\n");
    let _ = writeln!(
        s,
        "| | |\n|---|---|\n| CPU | {} × {} |\n| memory | {} MiB |\n| kernel | {} |\n| auditd | {} |\n| load average at start | {} |\n",
        m.nproc, m.cpu_model, m.mem_total_mib, m.kernel, m.auditd_version, m.loadavg
    );
    if m.foreign_exec_programs > 0 {
        let _ = writeln!(
            s,
            "**Noise warning:** {} BPF program(s) of another process were attached to exec/exit tracepoints when \
             this run started (another tracer instance); they tax every configuration, `none` included.\n",
            m.foreign_exec_programs
        );
    }

    let _ = writeln!(s, "## Goals (issue 7)\n");
    let _ = writeln!(
        s,
        "| goal | measured | status | by how much |\n|---|---|---|---|"
    );
    for g in goals(r) {
        let st = match g.status {
            Status::Met => "**met**",
            Status::Missed => "**missed**",
            Status::NotMeasured => "not measured",
        };
        let _ = writeln!(s, "| {} | {} | {st} | {} |", g.goal, g.measured, g.note);
    }
    s.push('\n');

    if let Some(e) = &r.exec {
        let _ = writeln!(s, "## Exec overhead\n");
        let _ = writeln!(
            s,
            "Method: `tests/storm/storm -w W -d {:.0} -m MODE TARGET` (W workers, each running TARGET as fast as it can \
             by fork+execve, vfork+execve or posix_spawn and waiting for it) under each configuration, interleaved \
             (none, auditd, tracer-ebpf, tracer-audit, tracer-both, then again) for {} repetition(s) of the main \
             workloads, so that drift of a shared machine spreads over all configurations. Workload names read \
             `Ww-MODE-TARGET`; `tiny` is `tests/storm/tiny.c` built `-static` (exits at once), `true` is `/bin/true` \
             (dynamically linked).\n",
            e.seconds, e.reps
        );
        let _ = writeln!(
            s,
            "- **none**: no tracing.\n\
             - **auditd**: Debian's auditd 3 started by the benchmark (`auditd -n -c DIR`) with its own auditd.conf \
             (Debian's defaults where they matter: `log_format = ENRICHED`, `flush = INCREMENTAL_ASYNC`, `freq = 50`; \
             no plugins), logging to a file on disk, with the exec rules of `rules/tracer.rules` and Debian's `-b 8192`.\n\
             - **tracer-ebpf / tracer-audit / tracer-both**: `target/release/tracer run --backend B --output FILE` on \
             disk, `kernel.bpf_stats_enabled=1` during the run.\n\
             - **events / execs**: exec records of TARGET in the daemon's log (tracer: `\"type\":\"exec\"` lines with \
             that `exe`, for `both` the smaller of the two sources; auditd: `type=SYSCALL` lines with that `exe` and \
             `success=yes`) against the children the storm saw exit 0. **losses**: tracer's `loss` records \
             (`detail.exec`); for auditd the kernel's `lost` counter (`auditctl -s`) delta. **uncounted** = execs − \
             events − losses.\n\
             - **daemon CPU/event**: CPU time of the daemon process: the run time of its threads \
             (`/proc/PID/task/*/schedstat`, ns), or utime+stime from `/proc/PID/stat` (10 ms ticks) when that shows \
             more (threads that exited meanwhile), over the storm plus 0.3 s, per logged event. For auditd this \
             is the auditd process only; the kernel's `kauditd` thread and the work done in the exec'ing tasks \
             themselves are not included (the latter shows in execs/s).\n\
             - **eBPF ns/exec**: the sum over tracer's programs of `run_time_ns` deltas (from \
             `/proc/PID/fdinfo` of tracer's program fds, names from `bpftool prog show`) over the storm, divided by \
             the execs made.\n\
             - **getppid**: `tests/storm/syscall_loop` (getppid(2) via syscall(2) in a loop) right after each storm \
             with the daemon still running; tax = median − untraced median.\n"
        );
        for sk in &e.skipped {
            let _ = writeln!(s, "**{}** was skipped: {}\n", sk.config, sk.reason);
        }
        let _ = writeln!(s, "![execs/s per configuration]({PLOT_PATH})\n");
        let _ = writeln!(
            s,
            "| workload | config | n | execs/s median (min–max) | × none | events / execs | losses | uncounted | daemon CPU ns/event | eBPF ns/exec | getppid ns (tax) |\n\
             |---|---|---|---|---|---|---|---|---|---|---|"
        );
        for a in &e.aggregates {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0} ({:.0}–{:.0}) | {} | {} | {} | {} | {} | {} | {:.1} ({}) |",
                a.workload,
                a.config,
                a.n,
                a.rate_median,
                a.rate_min,
                a.rate_max,
                fmt_opt(a.ratio, 3),
                a.events_total
                    .map_or("–".into(), |ev| format!("{ev} / {}", a.execs_total)),
                a.losses_total.map_or("–".into(), |l| l.to_string()),
                a.uncounted_total.map_or("–".into(), |l| l.to_string()),
                fmt_opt(a.cpu_ns_per_event_median, 0),
                fmt_opt(a.bpf_ns_per_exec_median, 0),
                a.getppid_ns_median,
                a.getppid_tax_ns.map_or("–".into(), |t| format!("{t:+.1}")),
            );
        }
        s.push('\n');
        let progs: Vec<&ExecAggregate> = e
            .aggregates
            .iter()
            .filter(|a| !a.bpf_prog_ns_per_exec.is_empty())
            .collect();
        if !progs.is_empty() {
            let _ = writeln!(
                s,
                "eBPF programs' own cost, ns per exec made (median over runs):\n"
            );
            let _ = writeln!(
                s,
                "| workload | config | program | ns/exec |\n|---|---|---|---|"
            );
            for a in progs {
                for (n, v) in &a.bpf_prog_ns_per_exec {
                    let _ = writeln!(s, "| {} | {} | `{n}` | {v:.0} |", a.workload, a.config);
                }
            }
            s.push('\n');
        }
    }

    if let Some(su) = &r.sustained {
        let _ = writeln!(s, "## Sustained-rate loss test\n");
        if let Some(why) = &su.skipped {
            let _ = writeln!(s, "Skipped: {why}\n");
        }
        let _ = writeln!(
            s,
            "Method: the fastest way to exec on this machine, untraced (probe, execs/s: {}), with {} workers and the \
             tiny target, under `tracer run --backend ebpf` (default 32 MiB ring, 50 ms poll). Pass when exec events \
             + counted losses = execs made.\n",
            su.mode_probe.iter().map(|(m, r)| format!("{m} {r:.0}")).collect::<Vec<_>>().join(", "),
            su.workers
        );
        if let Some(run) = &su.run {
            let _ = writeln!(
                s,
                "| mode | seconds | execs | execs/s | events | counted losses | result |\n|---|---|---|---|---|---|---|\n\
                 | {} | {:.1} | {} | {:.0} | {} | {} | **{}** |\n",
                su.mode,
                run.seconds,
                run.execs,
                run.rate,
                run.events,
                run.losses,
                if su.pass { "pass" } else { "FAIL" }
            );
        }
        if !su.ring_search.is_empty() {
            let _ = writeln!(
                s,
                "Ring-buffer size search (descending from 32 MiB, short runs, stop at the first loss):\n\n\
                 | ring | execs | execs/s | events | losses |\n|---|---|---|---|---|"
            );
            for x in &su.ring_search {
                let _ = writeln!(
                    s,
                    "| {} KiB | {} | {:.0} | {} | {} |",
                    x.ring_bytes >> 10,
                    x.execs,
                    x.rate,
                    x.events,
                    x.losses
                );
            }
            let smallest = su
                .ring_search
                .iter()
                .map(|x| x.ring_bytes)
                .min()
                .unwrap_or(0);
            let _ = writeln!(
                s,
                "\nSmallest ring with zero loss at this rate: **{}**{}.\n",
                su.min_zero_loss_ring
                    .map_or("none of those tried".into(), |b| format!("{} KiB", b >> 10)),
                if su.min_zero_loss_ring == Some(smallest) {
                    " (the smallest tried: it may go lower)"
                } else {
                    ""
                }
            );
        }
    }

    if let Some(rep) = &r.report {
        s.push_str(&report_section(rep, r));
    }
    s.push_str(ANALYSIS);
    let _ = writeln!(
        s,
        "## Reproducing\n\n```sh\nbash xtask/setup.sh test && cargo xtask bench            # all, ~15 min\n\
         cargo xtask bench --quick exec                              # one sub-benchmark, quick\ncargo xtask bench --quick --no-doc exec --configs auditd,tracer-audit --baseline OLD/tracer   # audit paths, before/after\n```\n\n\
         The benchmark holds `/run/lock/tracer-global-test.lock` for its whole run and restores what it changed \
         (its processes, stopped by pid; audit rules, `enabled`, backlog limit; `kernel.bpf_stats_enabled`) on \
         every path, Ctrl-C included."
    );
    s
}

/// Where the report section sits in BENCHMARKS.md, so that a run of the
/// report benchmark alone rewrites only it.
pub const REPORT_BEGIN: &str = "<!-- report benchmark: begin -->";
pub const REPORT_END: &str = "<!-- report benchmark: end -->";

/// The method's sentence on `audit-recorded.log`.
fn recorded_method(rep: &super::model::ReportResults) -> String {
    if rep.recorded_log_bytes == 0 {
        return " No log recorded by real logins in this run (see its rows for why).".into();
    }
    format!(
        " And `{}`: a real ENRICHED audit.log of {:.0} MB ({} exec events) recorded on this machine by \
         `tests/bench/record_real_log.sh`, nothing in it generated: Debian's auditd with `rules/tracer.rules`, \
         two users logging in through sshd and pam_loginuid and out again every 20 s, one building a small C \
         project under git (gcc's long define and include lists, its failed execs of `as` candidates, sudo, \
         su), the other running short text tools and scripts (a command not installed, a script without exec \
         permission), beside root's own execs outside any login.",
        super::model::RECORDED,
        rep.recorded_log_bytes as f64 / 1e6,
        rep.recorded_log_execs,
    )
}

/// The report throughput section, between its markers.
pub fn report_section(rep: &super::model::ReportResults, r: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{REPORT_BEGIN}\n## Report throughput\n");
    let _ = writeln!(
        s,
        "From `cargo xtask bench{} report` at {} ({} vCPU, load average {} at the start of the run).\n\n\
         Method: a seeded generator (`xtask/src/bench/auditgen.rs`) writes an ENRICHED audit.log of {:.0} MB shaped \
         like a real login node's: {} exec events, two busy users and a few occasional ones, ssh logins \
         (USER_AUTH/USER_ACCT/CRED_ACQ/LOGIN/USER_START/USER_LOGIN … USER_END/USER_LOGOUT/CRED_DISP), sudo with \
         USER_CMD/CRED_REFR, each exec as SYSCALL (+ BPRM_FCAPS for 3 %) + EXECVE + CWD + PATH + PATH + PROCTITLE \
         (no EOE: auditd does not write them to audit.log) with the `\\x1d` interpretation trailer (`AUID=\"alice\" UID=…`), records of up to three concurrent \
         events interleaved, arguments quoted or hex as the kernel writes them, long ones split into \
         `aN_len`/`aN[i]` pieces, 2 % failed execs; tracer's JSON log of the same execs ({:.0} MB); and a RAW \
         audit.log of {:.0} MB, on which `ausearch -i` looks every uid up.{} Each tool runs once, output to \
         /dev/null, all in one run; wall-clock seconds, CPU seconds and peak RSS from `wait4`. The ratio is \
         MB/s over `ausearch -i`'s on the same audit file (for tracer.jsonl: events per second over \
         ausearch's on audit.log).\n",
        if r.quick { " --quick" } else { "" },
        r.started,
        r.machine.nproc,
        r.machine.loadavg,
        rep.audit_log_bytes as f64 / 1e6,
        rep.audit_log_execs,
        rep.tracer_log_bytes as f64 / 1e6,
        rep.raw_log_bytes as f64 / 1e6,
        recorded_method(rep),
    );
    let _ = writeln!(
        s,
        "| tool | input | seconds | CPU s | MB/s | events/s | × ausearch -i | peak RSS MiB | exit |\n|---|---|---|---|---|---|---|---|---|"
    );
    for x in &rep.runs {
        if let Some(why) = &x.skipped {
            let _ = writeln!(
                s,
                "| `{}` | {} | skipped: {why} | | | | | | |",
                x.tool, x.input
            );
            continue;
        }
        let ratio = match (
            x.tool.starts_with("tracer"),
            x.mb_per_s,
            rep.ausearch_mb_per_s(&x.input),
        ) {
            (true, Some(o), Some(a)) => format!("{:.1}x", o / a),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {} | {ratio} | {} | {} |",
            x.tool,
            x.input,
            fmt_opt(x.seconds, 2),
            fmt_opt(x.cpu_seconds, 2),
            fmt_opt(x.mb_per_s, 1),
            fmt_opt(x.events_per_s, 0),
            fmt_opt(x.max_rss_mib, 1),
            x.exit_code.map_or("signal".into(), |c| c.to_string())
        );
    }
    if let Some(p) = &rep.parallel {
        let _ = writeln!(
            s,
            "\nParallel capacity of this machine, in the same run: one `tracer report --format json --threads 1` of \
             audit-raw.log took {:.2} s alone, {} of them at once (separate processes) {:.2} s, so its {} vCPUs do \
             **{:.2} cores' work** of this kind at once; the all-threads runs can gain at most that much over one \
             thread here.",
            p.alone_s,
            p.threads,
            p.together_s,
            p.threads,
            p.capacity()
        );
    }
    let _ = writeln!(s, "\n{REPORT_ANALYSIS}\n{REPORT_END}\n");
    s
}

/// Replaces the report section of an existing BENCHMARKS.md (between the
/// markers, or the old unmarked `## Report throughput` section up to the
/// next `## ` heading); appends it when there is none.
pub fn splice_report(doc: &str, section: &str) -> String {
    if let (Some(b), Some(e)) = (doc.find(REPORT_BEGIN), doc.find(REPORT_END)) {
        if b < e {
            let after = &doc[e + REPORT_END.len()..];
            return format!("{}{}{}", &doc[..b], section.trim_end_matches('\n'), after);
        }
    }
    if let Some(b) = doc.find("## Report throughput") {
        let rest = &doc[b + 2..];
        let e = rest.find("\n## ").map_or(doc.len(), |i| b + 2 + i + 1);
        return format!("{}{}{}", &doc[..b], section, &doc[e..]);
    }
    format!("{}\n{section}", doc.trim_end_matches('\n'))
}

/// Why the report figures are what they are: from profiles of the committed
/// code, not generated by the run.
const REPORT_ANALYSIS: &str = "How it reads: one thread reads (and decompresses) and cuts each input into 512 KiB \
chunks of whole lines; every core parses them (tracer JSON into records borrowed from the chunk; raw audit \
coalesced speculatively from a fresh coalescer into compact exec records, whose strings sit in one buffer per \
chunk, re-read serially only from a chunk boundary that an event straddles to the next point where no event is \
open); the model is fed on the main thread in input order, so the output is byte-identical to one thread's \
(`tracer/tests/report_parallel.rs`). Profile (`perf record`, 200 MB of the ENRICHED log, `--format json`), \
issue 14: before, one thread spent ~10 % in malloc/free (an owned `Event` per exec, a `Vec` per argument and \
string, built and dropped at once), ~15 % in `dyn Write` calls for each few bytes of JSON, field scanning \
(`Fields::next`, `parse_header`) ~12 %; two threads cost 20-50 % more CPU than one, and the difference was \
glibc's allocator (`_int_malloc`, `malloc_consolidate`, `unlink_chunk`: 220 samples with one thread, 617 with \
two, of a 534-sample difference), from events allocated on a worker and freed on the main thread. Now an audit \
exec is one buffer, the buffers of a chunk are merged into one shared allocation on the worker that made them, \
JSON is batched into a local buffer, and ASCII fast paths skip char decoding when quoting and escaping. Memory: \
the 150 MB of a grouped report of every command of a 1 GB log were ~56 bytes per row (38 MB), the distinct \
command lines (~75 MB, nearly all long include lists of a few KB each, 2 % of execs) and a `HashMap<Rc<[u8]>>` \
interner's ~90 bytes of overhead per string; the interner now keeps strings in 1 MiB blocks with ~25 bytes of \
overhead each, and command lines over 1 KiB LZ4-compressed. What is left serial, and bounds the speed-up on \
many cores, is the model (`report/model.rs`, fed one record at a time); rendering runs on all cores in every \
format: runs of small groups in batches, a big group's JSON rows in blocks, appended in order \
(`tracer/src/report/par.rs`, `tracer/tests/report_json_blocks.rs`).

Where the time goes now (issue 14, session 14; `valgrind --tool=callgrind` of `--format json --threads 1` on \
the first 30 MB of the ENRICHED log, 714 M instructions for 20,000 execs and 12,300 login records): parsing \
and coalescing 53 % (folding an exec's records ~7,400 instructions, a login record ~5,800, the header of \
each of the 132,000 lines ~520), rendering 22 % (~7,500 per command row, a quarter of it the shell-quoted \
`command`), the model 14 % (interning the command line 6 %: SipHash, LZ4 for the few long ones), the \
borrowed `Record` built per event 4 %, reading ~5 %. No part is much above the rest: what would halve it is \
doing less per exec (strings copied once into the compact record and once more into the interner, two \
intermediate records per event), not a faster scan. Kept from this look: the JSON writers' check that a string needs no escaping (each argv word, path and \
name the report writes, and the daemon's log lines: `bytes::json_plain`) now tests 16 bytes at a time \
including each string's tail, which had been a byte loop of ~8 instructions a byte: -2.2 % of the \
report's instructions (714 -> 698 M, output unchanged), and ~700 fewer per record on the daemon's eBPF \
hot path (callgrind of `tracer/examples/hotpath.rs`: 1,849 -> 1,807 M for 60,000 records); and the shell quoting's test for arguments that need \
no quotes, the same way (`report/quote.rs`: two ranges and four bytes a block): 698 -> 692 M; a login \
record's two ENRICHED names in one walk, and ASCII values known free of the escape block without a search: \
688 M, -3.6 % in all (one SSE2 scan, `bytes::simd::first_not`, behind both tests). Two threads (`perf sched` of a 300 MB head): while \
reading, ~80 % of both cores is busy; the workers sleep about as long as they run, the main thread (merge \
and model) runs ~46 % of the time. Tried in the same session and not kept, each interleaved with the \
committed build (medians of 4-8 runs; this VM's run-to-run spread is ~10 %): mimalloc as the global \
allocator (wall within noise, peak RSS 29 -> 60 MB on one thread and 38 -> 100-123 MB on two, for 300 MB \
of log); a per-thread pool of the compact records' buffers (no CPU change, +11 MB); glibc's \
`tcache_count=2000` tunable (-6 % CPU on two threads, nothing on one, +5 MB; an environment setting, not \
something the program can choose); more chunks in flight (threads + 4 or + 6: within noise, 94 and \
100 MB) or 1-2 MiB chunks (101 and 115 MB, over the memory goal); no reader thread, each worker reading its \
next chunk under a lock (same wall, CPU within noise); the main thread also parsing a chunk whenever the \
next result is not ready, with `threads - 1` workers (busy share 85 -> 89 %, but 6-10 % more CPU, as \
parsing evicts the model's working set from the main thread's cache: 2.56 s against 2.45 s on the 1 GB \
log); EXECVE records through the plain-field walk that SYSCALL uses (+1.1 % instructions: building its masks \
costs more than the general walk on these short bodies).\n\n\
A log no generator wrote (issue 14, session 15). The generated log is shaped after real ones, but its shape \
is still the generator's, so each run now also records a real one (`audit-recorded.log` above; made once per \
`--report-logs` directory, ~3 minutes, and reused). Measured on it while writing this, outside the \
benchmark (201 MB, 137,006 execs, 793,730 lines; interleaved, medians of three): `tracer report --format \
json` 0.70 s on one thread (287 MB/s) and 0.49 s on two (410 MB/s), output identical, against `ausearch -i` \
8.8 s (23 MB/s): 12.6x and 18x, the issue's own \"12x on a real log\" (324 against 26 MB/s there). Per exec \
it costs what the generated log costs (callgrind, first 30 MB, one thread: 753 M instructions for 20,687 \
execs against 688 M for 20,000), but its rows are longer (gcc's 70-argument command lines: 22 MB of JSON \
from 30 MB of log, 16 MB from the generated), and `ausearch -i` is slower on it per byte, which is why its \
ratios come out higher than the generated log's. Its events straddle chunk boundaries no more than the \
generated log's: 1.8 % of its lines are replayed by the in-order reader on two threads. Two threads use ~35 % \
more CPU than one (0.58 against 0.43 s for `--summary`, a third of it system time: page faults of fresh \
chunk and record buffers); glibc's `trim_threshold` and `mmap_threshold` raised together cut two threads' \
wall by ~9 % on this log but add ~10 MB of peak RSS, which would put the 1 GB run over the memory goal, so \
they stay at glibc's defaults. Also tried and not kept: appending pieces of up to 16 bytes to the JSON \
batches with two fixed-size moves instead of `extend_from_slice`'s call to `memcpy` (libc's `memcpy` is \
~5-7 % of the instructions, ~2.5 M calls of ~20 instructions on the 30 MB head): a third fewer `memcpy` \
calls, the same instruction count (753.2 against 753.6 M), as the inline copy's length and room checks \
cost what the call did. And the report is right on it, not only fast: each of its 34 sessions lists as many \
commands as the log has execve/execveat SYSCALL records with that `auid` and `ses`, and the unattributed \
group as many as it has with both unset (3,269); the one SYSCALL per login that is not an exec, sshd's \
write of `/proc/self/loginuid` beside the LOGIN record, is not a command.";
