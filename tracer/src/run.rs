//! `tracer run`: start the capture backend, stream its events to the sink, stop
//! cleanly on SIGINT/SIGTERM with every event read written out.

use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::config::{Backend, ConfigError, Settings};
use crate::crosscheck::CrossCheck;
use crate::daemon::Daemon;
use crate::event::{Body, Event, Source, Timestamp, TracerStatus};
use crate::pipeline::Pipeline;
use crate::session::{ProcLoginInfo, SessionTracker, TrackerOptions};
use crate::sink::{SinkError, Sinks};
use crate::source::audit::coalesce::Coalesced;
use crate::source::audit::live::AuditLive;
use crate::source::cgroup::{self, CgroupPaths};
use crate::source::ebpf::{EbpfError, EbpfSource};
use crate::source::procfs;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("eBPF backend: {0}")]
    Ebpf(#[from] EbpfError),
    #[error("audit backend: {0}")]
    Audit(#[from] crate::source::audit::live::AuditStartError),
    #[error("no backend could start: eBPF: {ebpf}; audit: {audit}")]
    NoBackend { ebpf: String, audit: String },
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("installing signal handlers: {0}")]
    Signal(std::io::Error),
}

/// What a run did, for the caller's exit message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub written: u64,
}

/// Runs until SIGINT or SIGTERM, configured by `cfg` (from
/// [`crate::config::resolve`]).
pub async fn run(cfg: Settings) -> Result<Summary, RunError> {
    let host = hostname();
    let mut sink = Sinks::open(&cfg.config, &host)?;
    let mut term = signal(SignalKind::terminate()).map_err(RunError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(RunError::Signal)?;
    // SIGHUP reloads the configuration, SIGUSR1 rotates the log.
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Signal)?;

    let Backends {
        mut ebpf,
        mut audit,
        name,
        fallback,
    } = start_backends(&cfg, &host)?;
    let mut check = (ebpf.is_some() && audit.is_some()).then(|| CrossCheck::new(cfg.check_window));
    log::info!("{name} backend running; writing events");
    let mut start = Event::tracer(
        &host,
        TracerStatus::Start,
        serde_json::json!({
            "backend": name,
            "fallback_reason": fallback,
            "version": env!("CARGO_PKG_VERSION"),
        }),
    );
    if let Body::Tracer(t) = &mut start.body {
        t.boot = procfs::boot_id();
        if let Some(s) = ebpf.as_ref() {
            let f = s.failed_hooks();
            let d = &mut t.fields;
            d.insert("failed_exec_hook".into(), f.hook.as_str().into());
            d.insert("failed_exec_compat".into(), f.compat.into());
            d.insert("exec_exit_programs".into(), s.sched_forms().into());
            if let Some(r) = &f.fallback_reason {
                d.insert("failed_exec_fallback_reason".into(), r.as_str().into());
            }
        }
    }
    sink.write(&start)?;
    // Least privilege from here on (every source is started), status file,
    // heartbeats.
    let mut daemon = Daemon::new(&cfg, &host, name);
    if let Some(r) = daemon.drop_capabilities(audit.is_some()) {
        sink.write(&r)?;
    }
    let mut pipe = Pipeline::new(
        SessionTracker::new(TrackerOptions::default(), ProcLoginInfo),
        CgroupPaths::new(cgroup::cgroup2_root()),
    );
    let mut batch = Vec::with_capacity(1024);
    if cfg.proc_scan {
        batch.extend(procfs::scan(&host));
    }
    pipe.write(&mut sink, &mut batch)?;

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut routed = Vec::with_capacity(1024);
    let mut coalesced: Vec<Coalesced> = Vec::with_capacity(1024);
    let mut audit_read = 0usize;
    loop {
        tokio::select! {
            _ = ebpf_wait(&mut ebpf) => {
                if let Some(s) = ebpf.as_mut() {
                    if drain_ebpf(s, check.is_none(), &mut pipe, &mut sink, &mut batch)? > 0 {
                        sink.flush()?;
                    }
                }
            }
            alive = audit_recv(&mut audit, &mut coalesced) => {
                audit_read += 1;
                write_audit(&mut coalesced, check.is_none(), &mut pipe, &mut sink, &mut batch)?;
                if !alive {
                    log::error!("the audit receiver stopped; continuing without it");
                    audit = None;
                    check = None;
                }
            }
            _ = tick.tick() => {
                // Drained here, the ring holds nothing older than now: eBPF
                // has delivered everything up to this instant.
                let drained_at = Timestamp::now();
                if let Some(s) = ebpf.as_mut() {
                    drain_ebpf(s, check.is_none(), &mut pipe, &mut sink, &mut batch)?;
                }
                if let Some(l) = ebpf.as_mut().and_then(EbpfSource::losses) {
                    if let Body::Loss(x) = &l.body {
                        log::warn!("lost {} events: {}", x.count.unwrap_or(0), x.cause);
                    }
                    batch.push(l);
                }
                if let Some(a) = audit.as_mut() {
                    a.tick(&mut batch);
                }
                route(&mut check, &mut batch, &mut routed);
                if let Some(c) = check.as_mut() {
                    c.advance(Source::Ebpf, Timestamp(drained_at.0 - 100_000_000));
                    // Audit that delivered nothing this second, with nothing
                    // queued in the kernel or the channel, is idle, not
                    // lagging: it has delivered everything up to a second ago.
                    if audit_read == 0 && audit.as_ref().is_some_and(AuditLive::is_idle) {
                        c.advance(Source::Audit, Timestamp(drained_at.0 - 1_000_000_000));
                    }
                    c.expire(Timestamp::now(), &mut routed);
                }
                audit_read = 0;
                pipe.tracker.expire(Timestamp::now(), &mut pipe.out);
                pipe.write(&mut sink, &mut routed)?;
                sink.tick()?;
                daemon.tick(&sink, &mut routed);
                pipe.write(&mut sink, &mut routed)?;
                continue;
            }
            _ = hup.recv() => {
                let r = daemon.reload(&mut sink);
                sink.write(&r)?;
                sink.flush()?;
                continue;
            }
            _ = usr1.recv() => {
                sink.rotate()?;
                continue;
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
        route(&mut check, &mut batch, &mut routed);
        pipe.write(&mut sink, &mut routed)?;
    }
    // Everything the kernel wrote before the signal is read out.
    if let Some(s) = ebpf.as_mut() {
        s.drain(&mut batch);
        batch.extend(s.losses());
    }
    if let Some(a) = audit.as_mut() {
        a.stop(&mut batch);
    }
    route(&mut check, &mut batch, &mut routed);
    if let Some(c) = check.as_mut() {
        c.flush(Timestamp::now(), &mut routed);
    }
    pipe.tracker.flush(&mut routed);
    pipe.write(&mut sink, &mut routed)?;
    let mut detail = serde_json::json!({
        "backend": name,
        "open_sessions": pipe.tracker.open_sessions(),
    });
    if let Some(s) = ebpf.as_ref() {
        let t = s.counter_totals();
        detail["sent"] = t.sent.into();
        detail["lost_exec"] = t.ringbuf_full.into();
        detail["lost_exit"] = t.ringbuf_full_exit.into();
        detail["read_errors"] = t.read_errors.into();
        detail["filtered_exec"] = t.filtered.into();
        detail["filtered_exit"] = t.filtered_exit.into();
    }
    if let Some(a) = audit.as_ref() {
        detail["audit_parse_errors"] = a.parse_errors().into();
    }
    if let Some(c) = check.as_ref() {
        detail["crosscheck"] = serde_json::to_value(c.stats()).unwrap_or_default();
        detail["crosscheck"]["unexplained"] = c.stats().unexplained().into();
    }
    routed.push(Event::tracer(&host, TracerStatus::Stop, detail));
    pipe.write(&mut sink, &mut routed)?;
    sink.close()?;
    daemon.stopped(&sink);
    Ok(Summary {
        written: sink.written(),
    })
}

/// The capture sources that started, and why the primary one did not.
struct Backends {
    ebpf: Option<EbpfSource>,
    audit: Option<AuditLive>,
    name: &'static str,
    fallback: Option<String>,
}

fn start_backends(cfg: &Settings, host: &str) -> Result<Backends, RunError> {
    let audit = || AuditLive::start(host.to_string(), cfg.audit);
    Ok(match cfg.backend {
        Backend::Ebpf => Backends {
            ebpf: Some(EbpfSource::start(&cfg.ebpf, host.to_string())?),
            audit: None,
            name: "ebpf",
            fallback: None,
        },
        Backend::Audit => Backends {
            ebpf: None,
            audit: Some(audit()?),
            name: "audit",
            fallback: None,
        },
        Backend::Both => Backends {
            ebpf: Some(EbpfSource::start(&cfg.ebpf, host.to_string())?),
            audit: Some(audit()?),
            name: "both",
            fallback: None,
        },
        Backend::Auto => match EbpfSource::start(&cfg.ebpf, host.to_string()) {
            Ok(s) => Backends {
                ebpf: Some(s),
                audit: None,
                name: "ebpf",
                fallback: None,
            },
            Err(e) => {
                let reason = e.to_string();
                log::warn!(
                    "eBPF backend unavailable ({reason}); falling back to the audit backend"
                );
                match audit() {
                    Ok(a) => Backends {
                        ebpf: None,
                        audit: Some(a),
                        name: "audit",
                        fallback: Some(reason),
                    },
                    Err(ae) => {
                        return Err(RunError::NoBackend {
                            ebpf: reason,
                            audit: ae.to_string(),
                        })
                    }
                }
            }
        },
    })
}

async fn ebpf_wait(s: &mut Option<EbpfSource>) {
    match s {
        Some(s) => s.wait().await,
        None => std::future::pending().await,
    }
}

async fn audit_recv(a: &mut Option<AuditLive>, out: &mut Vec<Coalesced>) -> bool {
    match a {
        Some(a) => a.recv(out).await,
        None => std::future::pending().await,
    }
}

/// Passes a batch through the cross-check when both sources run.
fn route(check: &mut Option<CrossCheck>, batch: &mut Vec<Event>, out: &mut Vec<Event>) {
    match check {
        Some(c) => {
            for e in batch.drain(..) {
                c.observe(e, out);
            }
        }
        None => out.append(batch),
    }
}

/// Reads the eBPF ring. Without the cross-check and with outputs that take
/// bare lines, exec and exit records take the hot path (written as they are
/// read, one write per drain); otherwise they become owned events in
/// `batch`.
fn drain_ebpf(
    s: &mut EbpfSource,
    hot: bool,
    pipe: &mut Pipeline<ProcLoginInfo>,
    sink: &mut Sinks,
    batch: &mut Vec<Event>,
) -> Result<usize, RunError> {
    if hot && batch.is_empty() && sink.takes_lines() {
        Ok(s.drain_with(|d, r| pipe.ebpf_record(d, r, sink))?)
    } else {
        Ok(s.drain(batch))
    }
}

/// What the audit source made of a batch. Without the cross-check and with
/// outputs that take bare lines, execs take the hot path (written from the
/// compact record, one write per batch) and the other events are written
/// in order among them; otherwise everything becomes owned events in
/// `batch`.
fn write_audit(
    coalesced: &mut Vec<Coalesced>,
    hot: bool,
    pipe: &mut Pipeline<ProcLoginInfo>,
    sink: &mut Sinks,
    batch: &mut Vec<Event>,
) -> Result<(), RunError> {
    if coalesced.is_empty() {
        return Ok(());
    }
    if hot && batch.is_empty() && sink.takes_lines() {
        for c in coalesced.drain(..) {
            pipe.audit(c, sink)?;
        }
        sink.flush()?;
    } else {
        batch.extend(coalesced.drain(..).map(Event::from));
    }
    Ok(())
}

/// This node's host name, as `uname -n` gives it.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
