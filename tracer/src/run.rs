//! `tracer run`: start the capture backend, stream its events to the sink, stop
//! cleanly on SIGINT/SIGTERM with every event read written out.

use std::path::PathBuf;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};

use crate::cli::run::{BackendArg, RunArgs};
use crate::config::{self, Config, ConfigError, Overrides};
use crate::daemon::Daemon;
use crate::event::{Event, Kind, Source, Timestamp};
use crate::session::{ProcLoginInfo, SessionTracker, TrackerOptions};
use crate::sink::{SinkError, Sinks};
use crate::source::cgroup::{self, CgroupPaths};
use crate::source::ebpf::{EbpfError, EbpfOptions, EbpfSource};
use crate::source::procfs;

/// The validated configuration of a run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    pub backend: BackendArg,
    pub output: Option<PathBuf>,
    pub ebpf: EbpfOptions,
    pub proc_scan: bool,
    pub host: String,
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
    #[error("eBPF backend: {0}")]
    Ebpf(#[from] EbpfError),
    #[error("the audit backend is not available in this build")]
    AuditUnavailable,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("writing events: {0}")]
    Write(std::io::Error),
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
        };
        let mut c = loaded.config;
        overrides.apply(&mut c, loaded.path.is_some());
        let cap = &c.capture;
        Ok(Self {
            backend: cap.backend,
            output: c.log.enabled.then(|| c.log.file.clone()),
            ebpf: EbpfOptions {
                argv_limit: cap.argv_limit,
                ring_bytes: cap.ring_size.0 as u32,
                poll: Duration::from_millis(cap.poll_ms),
            },
            proc_scan: cap.proc_scan,
            host: hostname(),
            config: c,
            config_path: loaded.path,
            overrides,
        })
    }
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
    // --- daemon: reload, rotate ---
    let mut hup = signal(SignalKind::hangup()).map_err(RunError::Signal)?;
    let mut usr1 = signal(SignalKind::user_defined1()).map_err(RunError::Signal)?;

    let mut src = match cfg.backend {
        BackendArg::Ebpf => EbpfSource::start(cfg.ebpf, cfg.host.clone())?,
        BackendArg::Auto => match EbpfSource::start(cfg.ebpf, cfg.host.clone()) {
            Ok(s) => s,
            Err(e) => {
                log::error!("eBPF backend unavailable ({e}); no fallback in this build");
                return Err(RunError::AuditUnavailable);
            }
        },
        BackendArg::Audit | BackendArg::Both => return Err(RunError::AuditUnavailable),
    };
    log::info!("eBPF programs attached; writing events");
    let mut start = Event::new(
        Kind::Tracer,
        Source::Tracer,
        Timestamp::now(),
        cfg.host.clone(),
    );
    start.detail = Some(
        serde_json::json!({"status": "start", "backend": "ebpf", "version": env!("CARGO_PKG_VERSION")}),
    );
    sink.write(&start)?;
    // --- daemon: least privilege, status file, heartbeats ---
    let mut daemon = Daemon::new(
        cfg.config.clone(),
        cfg.config_path.clone(),
        cfg.overrides.clone(),
        &cfg.host,
        "ebpf",
    );
    let audit_backend = matches!(cfg.backend, BackendArg::Audit | BackendArg::Both);
    if let Some(r) = daemon.drop_capabilities(audit_backend) {
        sink.write(&r)?;
    }
    let mut pipe = Pipeline {
        tracker: SessionTracker::new(TrackerOptions::default(), ProcLoginInfo),
        cgroups: CgroupPaths::new(cgroup::CGROUP2_ROOT),
        out: Vec::with_capacity(1024),
    };
    let mut batch = Vec::with_capacity(1024);
    if cfg.proc_scan {
        batch.extend(procfs::scan(&cfg.host));
    }
    pipe.write(&mut sink, &mut batch)?;

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = src.wait(cfg.ebpf.poll) => {
                src.drain(&mut batch);
                pipe.write(&mut sink, &mut batch)?;
            }
            _ = tick.tick() => {
                if let Some(l) = src.losses() {
                    log::warn!("lost {} events: {}", l.count.unwrap_or(0), l.cause.as_deref().unwrap_or(""));
                    batch.push(l);
                }
                pipe.tracker.expire(Timestamp::now(), &mut pipe.out);
                pipe.write(&mut sink, &mut batch)?;
                // --- daemon ---
                sink.tick()?;
                daemon.tick(&sink, &mut batch);
                pipe.write(&mut sink, &mut batch)?;
            }
            _ = hup.recv() => {
                let r = daemon.reload(&mut sink);
                sink.write(&r)?;
                sink.flush()?;
            }
            _ = usr1.recv() => sink.rotate()?,
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    // Everything the kernel wrote before the signal is read out.
    src.drain(&mut batch);
    if let Some(l) = src.losses() {
        batch.push(l);
    }
    let mut stop = Event::new(
        Kind::Tracer,
        Source::Tracer,
        Timestamp::now(),
        cfg.host.clone(),
    );
    let t = src.counter_totals();
    stop.detail = Some(serde_json::json!({
        "status": "stop",
        "sent": t.sent,
        "lost_exec": t.ringbuf_full,
        "lost_exit": t.ringbuf_full_exit,
        "read_errors": t.read_errors,
    }));
    stop.detail.as_mut().expect("set above")["open_sessions"] = pipe.tracker.open_sessions().into();
    batch.push(stop);
    pipe.write(&mut sink, &mut batch)?;
    sink.close()?;
    daemon.stopped(&sink);
    Ok(Summary {
        written: sink.written(),
    })
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
