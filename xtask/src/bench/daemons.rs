//! Global state the benchmark changes, and its restoration: [`Global`] owns
//! every process the benchmark starts (stopped by pid, never by name) and a
//! snapshot of the kernel's audit state (rules, `enabled`, backlog limit) and
//! of `kernel.bpf_stats_enabled`; its `Drop` puts all of it back, on every
//! path (error, panic, SIGINT: see [`install_signal_handlers`]). Also the two daemons
//! measured against each other: tracer and a private auditd.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The lock every test and benchmark that touches global kernel state holds
/// for its whole run (see tracer/tests/common/mod.rs).
pub const LOCK_PATH: &str = "/run/lock/tracer-global-test.lock";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM/SIGHUP set a flag that every wait polls, so the run unwinds
/// through [`Global`]'s `Drop` instead of dying with state changed. Children
/// run in their own process groups, so a terminal's Ctrl-C reaches only us.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Fails when a stop was asked for.
pub fn check_interrupt() -> Result<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        bail!("interrupted; restoring global state");
    }
    Ok(())
}

/// Sleeps, waking early (with an error) on interruption.
pub fn sleep(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        check_interrupt()?;
        std::thread::sleep((end - Instant::now()).min(Duration::from_millis(20)));
    }
    check_interrupt()
}

/// Exclusive `flock` on [`LOCK_PATH`], held until dropped.
pub struct Lock(#[allow(dead_code)] File);

pub fn lock() -> Result<Lock> {
    std::fs::create_dir_all("/run/lock").ok();
    let f = File::options()
        .create(true)
        .append(true)
        .open(LOCK_PATH)
        .with_context(|| format!("opening {LOCK_PATH}"))?;
    // SAFETY: `f` is an open descriptor for the duration of the call.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        eprintln!("bench: waiting for {LOCK_PATH} (a privileged test or benchmark holds it)");
        // SAFETY: as above.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!("flock {LOCK_PATH}: {}", std::io::Error::last_os_error());
        }
    }
    Ok(Lock(f))
}

/// The kernel audit status fields we change.
#[derive(Debug, Clone, Copy, Default)]
pub struct AuditStatus {
    pub enabled: u32,
    pub pid: u32,
    pub backlog_limit: u32,
    pub lost: u64,
}

pub fn audit_status() -> Result<AuditStatus> {
    let out = output(Command::new("auditctl").arg("-s"))?;
    let mut s = AuditStatus::default();
    for line in out.lines() {
        let mut it = line.split_whitespace();
        let (Some(k), Some(v)) = (it.next(), it.next()) else {
            continue;
        };
        match k {
            "enabled" => s.enabled = v.parse().unwrap_or(0),
            "pid" => s.pid = v.parse().unwrap_or(0),
            "backlog_limit" => s.backlog_limit = v.parse().unwrap_or(0),
            "lost" => s.lost = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    Ok(s)
}

fn audit_rules() -> Result<Vec<String>> {
    let out = output(Command::new("auditctl").arg("-l"))?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('-'))
        .map(String::from)
        .collect())
}

/// Runs `cmd`, fails unless it exits 0, returns its stdout.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

const BPF_STATS: &str = "/proc/sys/kernel/bpf_stats_enabled";

pub fn set_bpf_stats(on: bool) -> Result<()> {
    std::fs::write(BPF_STATS, if on { "1" } else { "0" })
        .with_context(|| format!("writing {BPF_STATS}"))
}

struct Proc {
    child: Child,
    label: String,
    /// Signal the whole process group (`-pid`): the storm's workers.
    group: bool,
}

/// Everything the benchmark changed, restored on drop.
pub struct Global {
    procs: Vec<Proc>,
    audit: AuditStatus,
    rules: Vec<String>,
    bpf_stats: String,
}

impl Global {
    pub fn capture() -> Result<Global> {
        let audit = audit_status()?;
        if audit.enabled == 2 {
            bail!("audit is locked (enabled=2): the benchmark could not restore its state");
        }
        if audit.pid != 0 {
            eprintln!(
                "bench: note: an audit daemon (pid {}) is registered; the auditd configuration will replace it for its runs",
                audit.pid
            );
        }
        Ok(Global {
            procs: Vec::new(),
            audit,
            rules: audit_rules()?,
            bpf_stats: std::fs::read_to_string(BPF_STATS)
                .with_context(|| format!("reading {BPF_STATS}"))?
                .trim()
                .to_string(),
        })
    }

    /// Starts `cmd` in its own process group and keeps it for restoration.
    pub fn spawn(&mut self, label: &str, cmd: &mut Command, group: bool) -> Result<u32> {
        check_interrupt()?;
        let child = cmd
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {label} ({cmd:?})"))?;
        let pid = child.id();
        self.procs.push(Proc {
            child,
            label: label.into(),
            group,
        });
        Ok(pid)
    }

    fn take(&mut self, pid: u32) -> Option<Proc> {
        let i = self.procs.iter().position(|p| p.child.id() == pid)?;
        Some(self.procs.swap_remove(i))
    }

    pub fn stdout(&mut self, pid: u32) -> Option<std::process::ChildStdout> {
        self.procs
            .iter_mut()
            .find(|p| p.child.id() == pid)
            .and_then(|p| p.child.stdout.take())
    }

    /// Whether `pid` already exited (reaping it if so).
    pub fn exited(&mut self, pid: u32) -> Option<ExitStatus> {
        let p = self.procs.iter_mut().find(|p| p.child.id() == pid)?;
        p.child.try_wait().ok().flatten()
    }

    /// Waits for `pid` to exit (at most `timeout`; then it is stopped and an
    /// error returned), with its resource usage. Interruptible.
    pub fn wait(&mut self, pid: u32, timeout: Duration) -> Result<(ExitStatus, libc::rusage)> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: all-zero is a valid rusage.
            let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: our own unreaped child; valid out-pointers.
            let r = unsafe { libc::wait4(pid as i32, &mut status, libc::WNOHANG, &mut ru) };
            if r == pid as i32 {
                // Reaped here; std's Child never waits on drop.
                self.take(pid);
                return Ok((ExitStatus::from_raw(status), ru));
            }
            if r < 0 {
                let e = std::io::Error::last_os_error();
                self.take(pid);
                bail!("waiting for pid {pid}: {e}");
            }
            if INTERRUPTED.load(Ordering::SeqCst) || Instant::now() > deadline {
                let label = self
                    .procs
                    .iter()
                    .find(|p| p.child.id() == pid)
                    .map(|p| p.label.clone());
                if let Some(p) = self.take(pid) {
                    stop_proc(p, Duration::from_secs(5));
                }
                check_interrupt()?;
                bail!(
                    "{} (pid {pid}) still running after {timeout:?}",
                    label.unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops `pid` with `sig`, then SIGKILL after `grace`; returns its status.
    pub fn stop(&mut self, pid: u32, sig: i32, grace: Duration) -> Option<ExitStatus> {
        let mut p = self.take(pid)?;
        signal(&p, sig);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = p.child.try_wait() {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!(
            "bench: {} (pid {pid}) ignored signal {sig} for {grace:?}; killing it",
            p.label
        );
        signal(&p, libc::SIGKILL);
        p.child.wait().ok()
    }

    /// Puts the audit rules, backlog limit and `enabled` back as they were.
    pub fn restore_audit(&mut self) -> Result<()> {
        let now = audit_rules()?;
        if self.rules.is_empty() {
            if !now.is_empty() {
                output(Command::new("auditctl").arg("-D"))?;
            }
        } else {
            for r in now.iter().filter(|r| !self.rules.contains(r)) {
                let mut args: Vec<&str> = r.split_whitespace().collect();
                if args.first() == Some(&"-a") || args.first() == Some(&"-A") {
                    args[0] = "-d";
                }
                output(Command::new("auditctl").args(&args))
                    .with_context(|| format!("deleting rule {r}"))?;
            }
        }
        let s = audit_status()?;
        if s.backlog_limit != self.audit.backlog_limit {
            output(
                Command::new("auditctl")
                    .arg("-b")
                    .arg(self.audit.backlog_limit.to_string()),
            )?;
        }
        if s.enabled != self.audit.enabled {
            output(
                Command::new("auditctl")
                    .arg("-e")
                    .arg(self.audit.enabled.to_string()),
            )?;
        }
        Ok(())
    }

    pub fn restore_bpf_stats(&self) -> Result<()> {
        std::fs::write(BPF_STATS, &self.bpf_stats).with_context(|| format!("writing {BPF_STATS}"))
    }
}

fn signal(p: &Proc, sig: i32) {
    let pid = p.child.id() as i32;
    // SAFETY: signalling a child we started (or its own process group, whose
    // id is that child's pid) and have not reaped.
    unsafe { libc::kill(if p.group { -pid } else { pid }, sig) };
}

fn stop_proc(mut p: Proc, grace: Duration) {
    signal(
        &p,
        if p.group {
            libc::SIGKILL
        } else {
            libc::SIGTERM
        },
    );
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = p.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&p, libc::SIGKILL);
    let _ = p.child.wait();
}

impl Drop for Global {
    fn drop(&mut self) {
        for p in std::mem::take(&mut self.procs) {
            eprintln!("bench: stopping {} (pid {})", p.label, p.child.id());
            stop_proc(p, Duration::from_secs(10));
        }
        if let Err(e) = self.restore_audit() {
            eprintln!("!!! bench: could not restore the kernel's audit state: {e:#}");
        }
        if let Err(e) = self.restore_bpf_stats() {
            eprintln!("!!! bench: could not restore kernel.bpf_stats_enabled: {e:#}");
        }
    }
}

/// CPU time of process `pid`, sampled two ways: the sum of its live
/// threads' `/proc/PID/task/*/schedstat` run time (ns precision, but misses
/// threads that exit in between) and utime+stime from `/proc/PID/stat`
/// (every thread, in clock ticks of usually 10 ms).
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    sched: Option<u64>,
    stat: Option<u64>,
}

pub fn cpu_sample(pid: u32) -> CpuSample {
    let sched = std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()
        .and_then(|dir| {
            let v: Vec<u64> = dir
                .flatten()
                .filter_map(|t| {
                    std::fs::read_to_string(t.path().join("schedstat"))
                        .ok()
                        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                })
                .collect();
            (!v.is_empty()).then(|| v.iter().sum())
        });
    CpuSample {
        sched,
        stat: stat_cpu_ns(pid),
    }
}

/// CPU ns between two samples: the precise figure, unless the coarse one
/// shows more than two ticks beyond it (threads came and went).
pub fn cpu_delta(a: CpuSample, b: CpuSample) -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let tick = 1_000_000_000 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let stat = b.stat?.checked_sub(a.stat?);
    match (
        a.sched.zip(b.sched).and_then(|(x, y)| y.checked_sub(x)),
        stat,
    ) {
        (Some(p), Some(c)) if c > p + 2 * tick => Some(c),
        (Some(p), _) => Some(p),
        (None, c) => c,
    }
}

fn stat_cpu_ns(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(ticks * 1_000_000_000 / hz)
}

/// A running `tracer run`.
pub struct Tracer {
    pub pid: u32,
    pub output: PathBuf,
}

pub enum Started<T> {
    Up(T),
    /// The configuration cannot run in this build; the reason.
    Unavailable(String),
}

impl Tracer {
    /// Starts `tracer run --backend BACKEND --output DIR/events.jsonl` and
    /// waits for its start record.
    pub fn start(
        g: &mut Global,
        bin: &Path,
        backend: &str,
        dir: &Path,
        extra: &[String],
    ) -> Result<Started<Tracer>> {
        let output = dir.join("events.jsonl");
        let errf = dir.join("tracer.stderr");
        let pid = g.spawn(
            &format!("tracer --backend {backend}"),
            Command::new(bin)
                .args(["run", "--backend", backend, "--no-proc-scan", "--output"])
                .arg(&output)
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&errf)?),
            false,
        )?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log = std::fs::read_to_string(&output).unwrap_or_default();
            if log.contains("\"status\":\"start\"") {
                return Ok(Started::Up(Tracer { pid, output }));
            }
            if let Some(st) = g.exited(pid) {
                g.take(pid);
                let err = std::fs::read_to_string(&errf).unwrap_or_default();
                if err.contains("not available in this build") {
                    let reason = err
                        .lines()
                        .find(|l| l.contains("not available in this build"))
                        .unwrap_or("not available in this build")
                        .trim()
                        .to_string();
                    return Ok(Started::Unavailable(reason));
                }
                bail!(
                    "tracer --backend {backend} exited at start ({st}): {}",
                    err.trim()
                );
            }
            if Instant::now() > deadline {
                bail!("tracer --backend {backend} did not start within 30 s");
            }
            sleep(Duration::from_millis(20))?;
        }
    }

    /// SIGINT (tracer writes out everything read, then its stop record).
    pub fn stop(self, g: &mut Global) -> Result<()> {
        match g.stop(self.pid, libc::SIGINT, Duration::from_secs(30)) {
            Some(st) if st.success() => Ok(()),
            st => Err(anyhow!("tracer exited with {st:?}")),
        }
    }
}

/// A private auditd (`auditd -n -c DIR`) with Debian's default flushing and
/// log format, logging to `DIR/audit.log`, without plugins.
pub struct Auditd {
    pub pid: u32,
    pub log: PathBuf,
}

impl Auditd {
    /// Loads the exec rules (and Debian's default `-b 8192`), starts auditd,
    /// waits until the kernel has it as its audit daemon.
    pub fn start(g: &mut Global, dir: &Path, rules: &Path) -> Result<Auditd> {
        output(Command::new("auditctl").args(["-b", "8192"]))?;
        if rules.is_file() {
            output(Command::new("auditctl").arg("-R").arg(rules))?;
        } else {
            for arch in ["b64", "b32"] {
                output(Command::new("auditctl").args([
                    "-a",
                    "always,exit",
                    "-F",
                    &format!("arch={arch}"),
                    "-S",
                    "execve,execveat",
                    "-k",
                    "tracer_exec",
                ]))?;
            }
        }
        let plugins = dir.join("plugins.d");
        std::fs::create_dir_all(&plugins)?;
        let log = dir.join("audit.log");
        // Debian 12's /etc/audit/auditd.conf values for what matters to cost
        // (flush, freq, log_format), with space checks off and no plugins.
        let conf = format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {log}\nlog_group = root\n\
             log_format = ENRICHED\nflush = INCREMENTAL_ASYNC\nfreq = 50\nmax_log_file = 0\n\
             max_log_file_action = IGNORE\nspace_left = 2\nspace_left_action = IGNORE\n\
             admin_space_left = 1\nadmin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
             disk_error_action = IGNORE\nname_format = NONE\npriority_boost = 4\n\
             plugin_dir = {plugins}\n",
            log = log.display(),
            plugins = plugins.display(),
        );
        std::fs::write(dir.join("auditd.conf"), conf)?;
        let errf = dir.join("auditd.stderr");
        let pid = g.spawn(
            "auditd",
            Command::new("auditd")
                .args(["-n", "-s", "enable", "-c"])
                .arg(dir)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(File::create(&errf)?),
            false,
        )?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if audit_status()?.pid == pid {
                return Ok(Auditd { pid, log });
            }
            if let Some(st) = g.exited(pid) {
                g.take(pid);
                bail!(
                    "auditd exited at start ({st}): {}",
                    std::fs::read_to_string(&errf).unwrap_or_default().trim()
                );
            }
            if Instant::now() > deadline {
                bail!("auditd did not register with the kernel within 15 s");
            }
            sleep(Duration::from_millis(20))?;
        }
    }

    /// SIGTERM (auditd flushes its log), then the audit state is restored.
    pub fn stop(self, g: &mut Global) -> Result<()> {
        g.stop(self.pid, libc::SIGTERM, Duration::from_secs(15));
        g.restore_audit()
    }
}
