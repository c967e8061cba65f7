//! The eBPF source: loads tracer's programs with the running kernel's offsets,
//! attaches them, and turns ring-buffer records into [`Event`]s.
//!
//! Neighbours: `btf`/`tracefs`/`offsets` find what the programs need to know
//! about this kernel; `decode` turns bytes into events; `counters` reads the
//! programs' per-CPU counters (losses).

pub mod attach;
pub mod btf;
pub mod counters;
pub mod decode;
pub mod filter;
pub mod offsets;
pub mod tracefs;

use std::time::Duration;

use aya::{
    maps::{Array, MapData, RingBuf},
    Ebpf, EbpfLoader,
};
use tokio::io::unix::AsyncFd;
use tracer_common::{
    config::{
        argv_limit_ok, ring_bytes_ok, Config, DEFAULT_ARGV_LIMIT, RING_BYTES_MAX, RING_BYTES_MIN,
    },
    event::ARGV_CAP,
    maps, CONFIG_GLOBAL,
};

use crate::event::Event;
use decode::Decoder;

/// Set to refuse loading, as a kernel without eBPF would (tests, and sites that
/// want to force the audit fallback).
pub const DISABLE_ENV: &str = "TRACER_DISABLE_EBPF";

#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("this tracer binary was built without its eBPF object (run `cargo xtask build-ebpf` before `cargo build`); use `--backend audit`")]
    NotBuilt,
    #[error("eBPF disabled by {DISABLE_ENV} in the environment")]
    Disabled,
    #[error("argv limit {0} bytes is out of range (1..={ARGV_CAP})")]
    ArgvLimit(u32),
    #[error("ring buffer size {0} bytes must be a power of two from {RING_BYTES_MIN} to {RING_BYTES_MAX}")]
    RingSize(u32),
    #[error(transparent)]
    Btf(#[from] btf::BtfError),
    #[error(transparent)]
    Tracefs(#[from] tracefs::TracefsError),
    #[error("loading the eBPF object failed: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("program {name}: {source}")]
    Program {
        name: &'static str,
        source: aya::programs::ProgramError,
    },
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("kernel-side filter: {0}")]
    Filter(#[from] filter::FilterError),
    #[error("{0}")]
    Other(String),
}

/// What can be tuned about the eBPF source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EbpfOptions {
    /// Kernel-side filters.
    pub filter: filter::FilterSpec,
    /// Most argv bytes captured per exec.
    pub argv_limit: u32,
    /// Ring buffer size in bytes (power of two).
    pub ring_bytes: u32,
    /// How often the reader drains the ring buffer without being woken.
    pub poll: Duration,
    /// Where batch jobs are read from.
    pub jobs: crate::config::JobHierarchy,
}

impl Default for EbpfOptions {
    fn default() -> Self {
        Self {
            argv_limit: DEFAULT_ARGV_LIMIT,
            ring_bytes: 32 << 20,
            poll: Duration::from_millis(50),
            filter: filter::FilterSpec::default(),
            jobs: crate::config::JobHierarchy::Auto,
        }
    }
}

#[cfg(tracer_ebpf_embedded)]
fn object() -> Option<&'static [u8]> {
    Some(aya::include_bytes_aligned!(env!("TRACER_EBPF_OBJECT_PATH")))
}

#[cfg(not(tracer_ebpf_embedded))]
fn object() -> Option<&'static [u8]> {
    None
}

/// Whether this binary carries the eBPF object.
pub fn available() -> bool {
    object().is_some()
}

/// A loaded and attached set of programs and the reader of their ring buffer.
pub struct EbpfSource {
    // Keeps programs attached and maps alive; dropped last.
    _bpf: Ebpf,
    ring: AsyncFd<RingBuf<MapData>>,
    logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    counters: counters::Counters,
    decoder: Decoder,
    decode_errors: u64,
    failed: attach::FailedHooks,
    /// How the exec and exit programs run (`tp_btf` or `raw_tracepoint`).
    sched_forms: Vec<&'static str>,
    /// The timed drain. Persistent (not a timeout recreated per wait), so that
    /// a busy neighbour in the caller's `select!` cannot starve it.
    poll: tokio::time::Interval,
    /// Its period while records come (`--poll-ms`).
    poll_every: Duration,
    /// Drains in a row that found nothing: the next timed drain backs off
    /// (see [`idle_poll`]) once the programs are asked to wake the reader.
    empty_drains: u32,
    wake: Wake,
}

/// The `WAKE` map: while the reader is idle, the next record the programs
/// send wakes it (and clears the request), so backing off the timed drains
/// costs no latency.
struct Wake {
    map: Array<MapData, u32>,
    /// Asked since the last drain that found records.
    armed: bool,
    /// Asking failed once (logged once; the timed drains then never back
    /// off).
    broken: bool,
}

impl Wake {
    /// Asks the programs for a wake-up by the next record. True when it was
    /// not asked already: the caller then looks at the ring once more, since
    /// a record sent just before the request wakes nobody.
    fn arm(&mut self) -> bool {
        if self.armed || self.broken {
            return false;
        }
        match self.map.set(0, 1, 0) {
            Ok(()) => {
                self.armed = true;
                true
            }
            Err(e) => {
                self.broken = true;
                log::warn!("eBPF map WAKE: {e}; polling the ring at the set period even when idle");
                false
            }
        }
    }
}

/// Longest wait between timed drains of an idle ring buffer.
pub const IDLE_POLL_MAX: Duration = Duration::from_secs(1);

/// When the next timed drain comes after `empty` drains in a row that found
/// nothing: the poll period, doubled for each empty drain up to
/// [`IDLE_POLL_MAX`] (never below the period). Each wake-up of the daemon
/// costs ~0.1 ms of CPU on a 2-vCPU VM (timer, scheduling, the runtime), so
/// an idle node's daemon at the 50 ms period spends ~3.7 ms of CPU a second
/// doing nothing; backed off, ~0.6 ms. It backs off only once the programs
/// are asked to wake it with the next record (the `WAKE` map), so the first
/// record after a quiet spell is read at once, not at the next timed drain;
/// the period is back as soon as a drain finds records. A busy ring is never
/// empty, so it is polled at the period and nothing changes there.
pub fn idle_poll(every: Duration, empty: u32) -> Duration {
    let cap = IDLE_POLL_MAX.max(every);
    every.saturating_mul(1u32 << empty.min(16)).min(cap)
}

impl EbpfSource {
    /// Loads, configures and attaches the programs. Must run inside a tokio
    /// runtime (the ring buffer is registered with its reactor).
    pub fn start(opts: &EbpfOptions, host: String) -> Result<Self, EbpfError> {
        if std::env::var_os(DISABLE_ENV).is_some() {
            return Err(EbpfError::Disabled);
        }
        let obj = object().ok_or(EbpfError::NotBuilt)?;
        // The same limits as the configuration check (tracer_common::config).
        if !argv_limit_ok(opts.argv_limit) {
            return Err(EbpfError::ArgvLimit(opts.argv_limit));
        }
        if !ring_bytes_ok(opts.ring_bytes.into()) {
            return Err(EbpfError::RingSize(opts.ring_bytes));
        }
        let btf = btf::Btf::from_sys()?;
        // Only the last-resort failed-exec hooks read tracepoint records.
        let (tp, tp_error) = match offsets::tracepoint_offsets() {
            Ok(tp) => (tp, None),
            Err(e) => (Default::default(), Some(e)),
        };
        let mut offsets = offsets::kernel_offsets(&btf)?;
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let jobs = offsets::choose_job_hierarchy(&btf, opts.jobs, &cgroups, &mut offsets);
        log::info!("batch jobs are read from the {jobs} hierarchy");
        let config = Config {
            argv_limit: opts.argv_limit,
            // Wake the reader early only when a quarter of the ring is pending;
            // otherwise the timed poll picks records up.
            wakeup_bytes: opts.ring_bytes / 4,
            offsets,
            tp,
            filter: opts.filter.to_kernel()?,
        };
        let aya_btf = aya::Btf::from_sys_fs()
            .map_err(|e| EbpfError::Other(format!("reading kernel BTF for aya: {e}")))?;
        let cpus =
            aya::util::nr_cpus().map_err(|(what, e)| EbpfError::Other(format!("{what}: {e}")))?;
        raise_memlock_limit();
        let mut bpf = EbpfLoader::new()
            .btf(Some(&aya_btf))
            .override_global(CONFIG_GLOBAL, &config, true)
            .map_max_entries(maps::SCRATCH, cpus as u32)
            .map_max_entries(maps::EVENTS, opts.ring_bytes)
            .load(obj)?;
        let logger = match aya_log::EbpfLogger::init(&mut bpf) {
            Ok(l) => Some(l),
            Err(e) => {
                log::warn!("eBPF program log unavailable: {e}");
                None
            }
        };
        opts.filter.populate(&mut bpf).map_err(EbpfError::Other)?;
        // Failed-exec hooks first, so that no exec fails unseen while the
        // others attach.
        let failed = attach::failed_exec(&mut bpf, &aya_btf, &btf, tp_error)?;
        let sched_forms = attach::sched(&mut bpf, &aya_btf)?;
        let ring = RingBuf::try_from(
            bpf.take_map(maps::EVENTS)
                .ok_or_else(|| EbpfError::Other("map EVENTS missing".into()))?,
        )
        .map_err(|source| EbpfError::Map {
            name: "EVENTS",
            source,
        })?;
        let wake = Wake {
            map: Array::try_from(
                bpf.take_map(maps::WAKE)
                    .ok_or_else(|| EbpfError::Other("map WAKE missing".into()))?,
            )
            .map_err(|source| EbpfError::Map {
                name: "WAKE",
                source,
            })?,
            armed: false,
            broken: false,
        };
        let counters = counters::Counters::new(
            bpf.take_map(maps::COUNTERS)
                .ok_or_else(|| EbpfError::Other("map COUNTERS missing".into()))?,
        )?;
        // SAFETY: the RingBuf owns its map fd for as long as the AsyncFd owns the
        // RingBuf, and `as_raw_fd` always returns that same fd.
        let ring = unsafe { AsyncFd::register(ring) }
            .map_err(|e| EbpfError::Other(format!("epoll on ring buffer: {e}")))?;
        Ok(Self {
            _bpf: bpf,
            ring,
            logger,
            counters,
            decoder: Decoder {
                host,
                boot_to_wall_ns: boot_to_wall_ns(),
            },
            decode_errors: 0,
            failed,
            sched_forms,
            poll: {
                let mut i = tokio::time::interval(opts.poll);
                i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                i
            },
            poll_every: opts.poll,
            empty_drains: 0,
            wake,
        })
    }

    /// Waits until the ring buffer signals data (the programs wake us when it
    /// is a quarter full) or the poll interval elapses, whichever is first.
    /// Cancel-safe.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = self.poll.tick() => {}
            r = self.ring.readable_mut() => {
                if let Ok(mut guard) = r {
                    guard.clear_ready();
                }
            }
        }
    }

    /// Sets the next timed drain after one that read `n` records: the poll
    /// period when it found any, else backed off (see [`idle_poll`]) when
    /// the programs will wake the reader with the next record.
    fn drained(&mut self, n: usize) {
        if n > 0 {
            self.wake.armed = false;
            if self.empty_drains > 0 {
                self.empty_drains = 0;
                self.poll.reset_after(self.poll_every);
            }
        } else if self.wake.armed {
            self.empty_drains = self.empty_drains.saturating_add(1);
            self.poll
                .reset_after(idle_poll(self.poll_every, self.empty_drains));
        }
    }

    /// Moves every pending record into `out`. Returns how many were read.
    pub fn drain(&mut self, out: &mut Vec<Event>) -> usize {
        let Ok(n) = self.drain_with(|d, r| {
            out.push(d.owned(&r));
            Ok::<(), std::convert::Infallible>(())
        });
        n
    }

    /// Hands every pending record to `f`, parsed but not copied (the
    /// daemon's hot path: see [`crate::pipeline`]), in ring order. Records
    /// that do not parse are counted and logged, as by [`Self::drain`]. Stops
    /// at the first error of `f` (the records after it stay in the ring).
    pub fn drain_with<E>(
        &mut self,
        mut f: impl FnMut(&Decoder, decode::Record<'_>) -> Result<(), E>,
    ) -> Result<usize, E> {
        self.decoder.boot_to_wall_ns = boot_to_wall_ns();
        let ring = self.ring.get_mut();
        let mut n = 0;
        loop {
            let Some(item) = ring.next() else {
                if n == 0 && self.wake.arm() {
                    continue;
                }
                break;
            };
            n += 1;
            match decode::Record::parse(&item) {
                Ok(r) => f(&self.decoder, r)?,
                Err(e) => {
                    self.decode_errors += 1;
                    log::warn!("dropping undecodable ring-buffer record: {e}");
                }
            }
        }
        if let Some(l) = self.logger.as_mut() {
            l.flush();
        }
        self.drained(n);
        Ok(n)
    }

    /// A `loss` record when the programs counted new losses since the last
    /// call.
    pub fn losses(&mut self) -> Option<Event> {
        self.counters.loss_event(&self.decoder.host)
    }

    /// How failed execs are hooked, and why not better (for the start record).
    pub fn failed_hooks(&self) -> &attach::FailedHooks {
        &self.failed
    }

    /// How the exec and exit programs are attached, in that order.
    pub fn sched_forms(&self) -> &[&'static str] {
        &self.sched_forms
    }

    /// Totals of the programs' counters (for status and benchmarks).
    pub fn counter_totals(&self) -> counters::Totals {
        self.counters.totals()
    }
}

/// `CLOCK_REALTIME - CLOCK_BOOTTIME`, in ns: adds to a `bpf_ktime_get_boot_ns`
/// stamp to give wall-clock time.
pub fn boot_to_wall_ns() -> i64 {
    fn now(clock: libc::clockid_t) -> i64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid out-pointer; both clocks exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
    now(libc::CLOCK_REALTIME) - now(libc::CLOCK_BOOTTIME)
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; raise it so that
/// they load there too. Harmless on newer kernels.
fn raise_memlock_limit() {
    let rlim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: `rlim` is a valid pointer to an initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &rlim) } != 0 {
        log::debug!(
            "could not raise RLIMIT_MEMLOCK: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_ring_is_polled_less_often_up_to_a_second() {
        let ms = Duration::from_millis;
        let every = ms(50);
        let waits: Vec<_> = (0..8).map(|n| idle_poll(every, n)).collect();
        assert_eq!(
            waits,
            [50, 100, 200, 400, 800, 1000, 1000, 1000].map(ms),
            "doubling from the period, capped at IDLE_POLL_MAX"
        );
        // No overflow however long the node is idle.
        assert_eq!(idle_poll(every, u32::MAX), IDLE_POLL_MAX);
        // A period above the cap is kept: backing off never polls faster.
        assert_eq!(idle_poll(ms(2500), 0), ms(2500));
        assert_eq!(idle_poll(ms(2500), 9), ms(2500));
        assert_eq!(idle_poll(ms(1), 3), ms(8));
    }
}
