//! Sustained-rate loss test: the fastest storm this machine makes (one worker
//! per core, the tiny target, the fastest of fork/vfork/spawn) for a long
//! run under tracer's eBPF backend; every exec must be logged or counted
//! lost. Then the smallest ring buffer that loses nothing at that rate.

use std::path::Path;

use anyhow::Result;

use super::daemons::{Global, Started, Tracer};
use super::measure::{self, Storm, Tools};
use super::model::{LossRun, SustainedResults};
use super::Opts;

const DEFAULT_RING: u64 = 32 << 20;

pub fn run(g: &mut Global, t: &Tools, o: &Opts) -> Result<SustainedResults> {
    let seconds = if o.quick { 5.0 } else { 60.0 };
    let probe_s = if o.quick { 0.5 } else { 1.0 };
    let search_s = if o.quick { 1.5 } else { 5.0 };
    let mut res = SustainedResults {
        workers: o.nproc,
        ..Default::default()
    };
    // The fastest way to exec here, untraced.
    for mode in ["fork", "vfork", "spawn"] {
        let s = Storm {
            workers: o.nproc,
            mode,
            target: t.tiny.clone(),
        };
        let out = measure::storm(g, t, &s, probe_s)?;
        res.mode_probe.push((mode.to_string(), out.rate));
    }
    let (mode, _) = res
        .mode_probe
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or(("fork".into(), 0.0));
    let mode: &'static str = match mode.as_str() {
        "vfork" => "vfork",
        "spawn" => "spawn",
        _ => "fork",
    };
    res.mode = mode.into();
    let storm = Storm {
        workers: o.nproc,
        mode,
        target: t.tiny.clone(),
    };
    eprintln!(
        "bench sustained: {} for {seconds} s under tracer-ebpf",
        storm.label()
    );
    let Some(main) = loss_run(g, t, o, &storm, DEFAULT_RING, seconds, "main")? else {
        res.skipped = Some("tracer's eBPF backend is not available in this build".into());
        return Ok(res);
    };
    res.pass = main.events + main.losses == main.execs;
    eprintln!(
        "bench sustained: {} execs ({:.0}/s), {} events, {} counted lost: {}",
        main.execs,
        main.rate,
        main.events,
        main.losses,
        if res.pass { "pass" } else { "FAIL" }
    );
    res.run = Some(main);
    // Descending ring sizes until one loses.
    let mut size = DEFAULT_RING;
    while size >= 256 << 10 {
        let Some(r) = loss_run(g, t, o, &storm, size, search_s, "ring")? else {
            break;
        };
        eprintln!(
            "bench sustained: ring {:>6} KiB: {} execs ({:.0}/s), {} lost",
            size >> 10,
            r.execs,
            r.rate,
            r.losses
        );
        let lossy = r.losses > 0 || r.events + r.losses < r.execs;
        res.ring_search.push(r);
        if lossy {
            break;
        }
        res.min_zero_loss_ring = Some(size);
        size /= 2;
    }
    Ok(res)
}

fn loss_run(
    g: &mut Global,
    t: &Tools,
    o: &Opts,
    storm: &Storm,
    ring: u64,
    seconds: f64,
    tag: &str,
) -> Result<Option<LossRun>> {
    let dir = o.work.join(format!("sustained-{tag}-{ring}"));
    std::fs::create_dir_all(&dir)?;
    let r = loss_run_in(g, t, storm, ring, seconds, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    r
}

fn loss_run_in(
    g: &mut Global,
    t: &Tools,
    storm: &Storm,
    ring: u64,
    seconds: f64,
    dir: &Path,
) -> Result<Option<LossRun>> {
    let extra = vec!["--ring-size".to_string(), ring.to_string()];
    let tr = match Tracer::start(g, &t.tracer, "ebpf", dir, &extra)? {
        Started::Up(tr) => tr,
        Started::Unavailable(_) => return Ok(None),
    };
    let out = measure::storm(g, t, storm, seconds)?;
    let output = tr.output.clone();
    tr.stop(g)?;
    let (by_src, losses) = measure::count_tracer_log(&output, &storm.target_names())?;
    Ok(Some(LossRun {
        ring_bytes: ring,
        seconds: out.seconds,
        execs: out.execs,
        rate: out.rate,
        events: by_src.values().sum(),
        losses,
    }))
}
