//! `tracer run`: start the capture backend, stream its events to the sink, stop
//! cleanly on SIGINT/SIGTERM with every event read written out.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::cli::run::{BackendArg, RunArgs};
use crate::config::{self, Config, ConfigError, FilterConfig, Overrides};
use crate::crosscheck::CrossCheck;
use crate::daemon::Daemon;
use crate::event::{Event, Kind, Source, Timestamp};
use crate::session::{ProcLoginInfo, SessionTracker, TrackerOptions};
use crate::sink::{SinkError, Sinks};
use crate::source::audit::live::{AuditLive, AuditOptions};
use crate::source::cgroup::{self, CgroupPaths};
use crate::source::ebpf::filter::{parse_range, FilterSpec};
use crate::source::ebpf::{EbpfError, EbpfOptions, EbpfSource};
use crate::source::procfs;
use tracer_common::config::IdRange;

/// The validated configuration of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub backend: BackendArg,
    pub output: Option<PathBuf>,
    pub ebpf: EbpfOptions,
    pub proc_scan: bool,
    pub host: String,
    pub audit: AuditOptions,
    /// How long the cross-check waits for the other source's copy of an exec.
    pub check_window: Duration,
    /// The effective configuration (file + flags): outputs, daemon, filters.
    pub config: Config,
    /// The file it was read from (re-read on SIGHUP).
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("--argv-limit {0}: must be between 1 and {max}", max = tracer_common::event::ARGV_CAP)]
    ArgvLimit(u32),
    #[error("--ring-size {0}: must be a power of two of at least 4096 bytes")]
    RingSize(u32),
    #[error("--poll-ms {0}: must be between 1 and 10000")]
    Poll(u64),
    #[error("--{flag}: {source}")]
    Filter {
        flag: &'static str,
        source: crate::source::ebpf::filter::FilterError,
    },
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

impl RunConfig {
    /// The configuration file (`--config`, else the default one if present)
    /// with the flags on top; flags are checked here, the file by `config`.
    pub fn from_args(a: &RunArgs) -> Result<Self, RunError> {
        if let Some(v) = a.argv_limit {
            if v == 0 || v as usize > tracer_common::event::ARGV_CAP {
                return Err(RunError::ArgvLimit(v));
            }
        }
        if let Some(v) = a.ring_size {
            if !v.is_power_of_two() || v < 4096 {
                return Err(RunError::RingSize(v));
            }
        }
        if let Some(v) = a.poll_ms {
            if v == 0 || v > 10_000 {
                return Err(RunError::Poll(v));
            }
        }
        let loaded = config::load(a.config.as_deref())?;
        let overrides = Overrides {
            backend: a.backend,
            output: a.output.clone(),
            argv_limit: a.argv_limit,
            ring_size: a.ring_size,
            poll_ms: a.poll_ms,
            no_proc_scan: a.no_proc_scan,
            status_file: a.status_file.clone(),
            chain_key: a.chain_key.clone(),
        };
        let mut c = loaded.config;
        overrides.apply(&mut c, loaded.path.is_some());
        let filter = filter_spec(&c.filter, a)?;
        let cap = &c.capture;
        Ok(Self {
            backend: cap.backend,
            output: c.log.enabled.then(|| c.log.file.clone()),
            ebpf: EbpfOptions {
                argv_limit: cap.argv_limit,
                ring_bytes: cap.ring_size.0 as u32,
                poll: Duration::from_millis(cap.poll_ms),
                filter,
            },
            proc_scan: cap.proc_scan,
            host: hostname(),
            audit: AuditOptions {
                daemon: a.audit_daemon,
            },
            check_window: Duration::from_secs(5),
            config: c,
            config_path: loaded.path,
            overrides,
        })
    }
}

/// The kernel-side filters: the configuration file's `[filter]` section,
/// extended by the command-line flags.
fn filter_spec(file: &FilterConfig, a: &RunArgs) -> Result<FilterSpec, RunError> {
    let conv = |v: &[config::IdRange]| -> Vec<IdRange> {
        v.iter()
            .map(|r| IdRange {
                lo: r.first,
                hi: r.last,
            })
            .collect()
    };
    let ranges = |flag: &'static str, base: &[config::IdRange], v: &[String]| {
        let mut out = conv(base);
        for r in v {
            out.push(parse_range(flag, r).map_err(|source| RunError::Filter { flag, source })?);
        }
        Ok::<_, RunError>(out)
    };
    let chain = |base: &[String], v: &[String]| base.iter().chain(v).cloned().collect();
    let spec = FilterSpec {
        exclude_unattributed: file.exclude_unattributed || a.exclude_unattributed,
        include_uids: ranges("include-uid", &file.include_uids, &a.include_uid)?,
        exclude_uids: ranges("exclude-uid", &file.exclude_uids, &a.exclude_uid)?,
        include_auids: ranges("include-auid", &file.include_auids, &a.include_auid)?,
        exclude_auids: ranges("exclude-auid", &file.exclude_auids, &a.exclude_auid)?,
        exclude_comms: chain(&file.exclude_comms, &a.exclude_comm),
        exclude_exe_prefixes: chain(&file.exclude_exe_prefixes, &a.exclude_exe_prefix),
    };
    spec.to_kernel().map_err(|source| RunError::Filter {
        flag: "exclude-*/include-* (with the [filter] section)",
        source,
    })?;
    Ok(spec)
}

/// What a run did, for the caller's exit message.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub written: u64,
}

/// Runs until SIGINT or SIGTERM.
pub async fn run(cfg: RunConfig) -> Result<Summary, RunError> {
    let mut sink = Sinks::open(&cfg.config, &cfg.host)?;
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
    } = start_backends(&cfg)?;
    let mut check = (ebpf.is_some() && audit.is_some()).then(|| CrossCheck::new(cfg.check_window));
    log::info!("{name} backend running; writing events");
    let mut start = Event::new(
        Kind::Tracer,
        Source::Tracer,
        Timestamp::now(),
        cfg.host.clone(),
    );
    start.detail = Some(serde_json::json!({
        "status": "start",
        "backend": name,
        "fallback_reason": fallback,
        "version": env!("CARGO_PKG_VERSION"),
    }));
    if let (Some(s), Some(d)) = (ebpf.as_ref(), start.detail.as_mut()) {
        let f = s.failed_hooks();
        d["failed_exec_hook"] = f.hook.as_str().into();
        d["failed_exec_compat"] = f.compat.into();
        d["exec_exit_programs"] = s.sched_forms().into();
        if let Some(r) = &f.fallback_reason {
            d["failed_exec_fallback_reason"] = r.as_str().into();
        }
    }
    sink.write(&start)?;
    // Least privilege from here on (every source is started), status file,
    // heartbeats.
    let mut daemon = Daemon::new(
        cfg.config.clone(),
        cfg.config_path.clone(),
        cfg.overrides.clone(),
        &cfg.host,
        name,
    );
    if let Some(r) = daemon.drop_capabilities(audit.is_some()) {
        sink.write(&r)?;
    }
    let mut pipe = Pipeline {
        tracker: SessionTracker::new(TrackerOptions::default(), ProcLoginInfo),
        cgroups: CgroupPaths::new(cgroup::cgroup2_root()),
        out: Vec::with_capacity(1024),
    };
    let mut batch = Vec::with_capacity(1024);
    if cfg.proc_scan {
        batch.extend(procfs::scan(&cfg.host));
    }
    pipe.write(&mut sink, &mut batch)?;

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut routed = Vec::with_capacity(1024);
    let mut audit_read = 0usize;
    loop {
        tokio::select! {
            _ = ebpf_wait(&mut ebpf) => {
                if let Some(s) = ebpf.as_mut() {
                    s.drain(&mut batch);
                }
            }
            alive = audit_recv(&mut audit, &mut batch) => {
                audit_read += 1;
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
                    s.drain(&mut batch);
                }
                if let Some(l) = ebpf.as_mut().and_then(EbpfSource::losses) {
                    log::warn!("lost {} events: {}", l.count.unwrap_or(0), l.cause.as_deref().unwrap_or(""));
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
    pipe.write(&mut sink, &mut routed)?;
    let mut stop = Event::new(
        Kind::Tracer,
        Source::Tracer,
        Timestamp::now(),
        cfg.host.clone(),
    );
    let mut detail = serde_json::json!({
        "status": "stop",
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
    stop.detail = Some(detail);
    routed.push(stop);
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

fn start_backends(cfg: &RunConfig) -> Result<Backends, RunError> {
    let audit = || AuditLive::start(cfg.host.clone(), cfg.audit);
    Ok(match cfg.backend {
        BackendArg::Ebpf => Backends {
            ebpf: Some(EbpfSource::start(&cfg.ebpf, cfg.host.clone())?),
            audit: None,
            name: "ebpf",
            fallback: None,
        },
        BackendArg::Audit => Backends {
            ebpf: None,
            audit: Some(audit()?),
            name: "audit",
            fallback: None,
        },
        BackendArg::Both => Backends {
            ebpf: Some(EbpfSource::start(&cfg.ebpf, cfg.host.clone())?),
            audit: Some(audit()?),
            name: "both",
            fallback: None,
        },
        BackendArg::Auto => match EbpfSource::start(&cfg.ebpf, cfg.host.clone()) {
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

async fn audit_recv(a: &mut Option<AuditLive>, out: &mut Vec<Event>) -> bool {
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

/// What happens to events between the source and the sink: cgroup paths and
/// job ids are resolved, then the session tracker adds session records and
/// identity marks.
struct Pipeline {
    tracker: SessionTracker<ProcLoginInfo>,
    cgroups: CgroupPaths,
    out: Vec<Event>,
}

impl Pipeline {
    fn write(&mut self, sink: &mut Sinks, batch: &mut Vec<Event>) -> Result<(), RunError> {
        for mut e in batch.drain(..) {
            if e.cgroup.is_none() {
                if let Some(id) = e.cgroup_id {
                    e.cgroup = self.cgroups.path(id).map(str::to_string);
                }
            }
            if let Some(p) = &e.cgroup {
                e.job = cgroup::job_of(p);
            }
            self.tracker.observe(e, &mut self.out);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        for e in self.out.drain(..) {
            sink.write(&e)?;
        }
        Ok(sink.flush()?)
    }
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
