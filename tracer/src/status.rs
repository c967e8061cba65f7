//! The daemon's state file (`/run/tracer/status.json`): rewritten atomically
//! (write a temporary file, rename it over) once a second by `tracer run`, read
//! by `tracer status`. A small JSON object, not a socket, so that it needs no
//! listener in the daemon and survives it for post-mortems.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::event::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub pid: u32,
    /// False once the daemon stopped cleanly.
    pub running: bool,
    pub backend: String,
    pub started: Timestamp,
    pub updated: Timestamp,
    /// Records written over the last few seconds, per second.
    pub events_per_sec: f64,
    pub events_total: u64,
    pub execs_total: u64,
    pub losses: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub syslog: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("no state file at {path}: tracer is not running (or uses another status_file)")]
    Missing { path: String },
    #[error("reading {path}: {source}")]
    Read { path: String, source: io::Error },
    #[error("{path} is not a tracer state file: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("writing {path}: {source}")]
    Write { path: String, source: io::Error },
}

/// Writes `s` to `path` atomically (mode 0644: it holds counters only).
pub fn write(path: &Path, s: &Status) -> Result<(), StatusError> {
    let err = |source| StatusError::Write {
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dir)
                .map_err(err)?;
        }
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&tmp)
        .map_err(err)?;
    let mut data = serde_json::to_vec_pretty(s).expect("status serializes");
    data.push(b'\n');
    f.write_all(&data).map_err(err)?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(err)
}

pub fn read(path: &Path) -> Result<Status, StatusError> {
    let p = path.display().to_string();
    let data = std::fs::read(path).map_err(|source| {
        if source.kind() == io::ErrorKind::NotFound {
            StatusError::Missing { path: p.clone() }
        } else {
            StatusError::Read {
                path: p.clone(),
                source,
            }
        }
    })?;
    serde_json::from_slice(&data).map_err(|source| StatusError::Parse { path: p, source })
}

/// Whether process `pid` exists (signal 0; EPERM means it exists).
pub fn pid_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence.
    let rc = unsafe { libc::kill(pid as i32, 0) };
    rc == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The state of a daemon as `tracer status` judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    Running,
    /// It wrote `running: false` on its way out.
    Stopped,
    /// Its process is gone without saying so (crash, SIGKILL).
    Dead,
}

pub fn liveness(s: &Status) -> Liveness {
    if !s.running {
        Liveness::Stopped
    } else if pid_alive(s.pid) {
        Liveness::Running
    } else {
        Liveness::Dead
    }
}

/// Events per second over a sliding window of once-a-second samples.
#[derive(Debug)]
pub struct Rate {
    samples: VecDeque<(Instant, u64)>,
    window: Duration,
}

impl Rate {
    pub fn new(window: Duration) -> Self {
        Self {
            samples: VecDeque::new(),
            window,
        }
    }

    /// Adds the total at `now`; returns the rate over the window.
    pub fn sample(&mut self, now: Instant, total: u64) -> f64 {
        self.samples.push_back((now, total));
        while self.samples.len() > 2 && now.duration_since(self.samples[0].0) > self.window {
            self.samples.pop_front();
        }
        let (t0, n0) = self.samples[0];
        let dt = now.duration_since(t0).as_secs_f64();
        if dt <= 0.0 {
            0.0
        } else {
            (total - n0.min(total)) as f64 / dt
        }
    }
}

/// `tracer status` as text.
pub fn render(s: &Status, live: Liveness, now: Timestamp) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let state = match live {
        Liveness::Running => "running".to_string(),
        Liveness::Stopped => format!("stopped (cleanly, at {})", s.updated),
        Liveness::Dead => format!(
            "not running: process {} is gone without a clean stop (last update {})",
            s.pid, s.updated
        ),
    };
    let up = Duration::from_secs((s.updated.secs() - s.started.secs()).max(0) as u64);
    let _ = writeln!(o, "tracer {}: {state}", s.version);
    let _ = writeln!(o, "  pid:        {}", s.pid);
    let _ = writeln!(o, "  backend:    {}", s.backend);
    let _ = writeln!(o, "  started:    {}", s.started);
    let _ = writeln!(o, "  uptime:     {}", human(up));
    let age = (now.0 - s.updated.0).max(0) as f64 / 1e9;
    let _ = writeln!(o, "  updated:    {} ({age:.0} s ago)", s.updated);
    let _ = writeln!(o, "  events/s:   {:.1}", s.events_per_sec);
    let _ = writeln!(
        o,
        "  events:     {} ({} execs)",
        s.events_total, s.execs_total
    );
    if s.losses.is_empty() {
        let _ = writeln!(o, "  losses:     none");
    } else {
        let l: Vec<String> = s.losses.iter().map(|(c, n)| format!("{c}={n}")).collect();
        let _ = writeln!(o, "  losses:     {}", l.join(" "));
    }
    let log = s
        .log_file
        .as_ref()
        .map_or("-".into(), |p| p.display().to_string());
    let _ = writeln!(o, "  log file:   {log}");
    if let Some(t) = &s.syslog {
        let _ = writeln!(o, "  syslog:     {t}");
    }
    if let Some(c) = &s.config {
        let _ = writeln!(o, "  config:     {}", c.display());
    }
    o
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {}s", s / 60, s % 60),
        3600..=86399 => format!("{}h {}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {}h", s / 86400, s % 86400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            version: "0.1.0".into(),
            pid: std::process::id(),
            running: true,
            backend: "ebpf".into(),
            started: Timestamp::from_secs_nanos(1_700_000_000, 0),
            updated: Timestamp::from_secs_nanos(1_700_003_725, 0),
            events_per_sec: 12.5,
            events_total: 1000,
            execs_total: 400,
            losses: [("ringbuf_full".to_string(), 3)].into(),
            log_file: Some("/var/log/tracer/tracer.log".into()),
            syslog: None,
            config: None,
        }
    }

    #[test]
    fn write_read_render() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run/status.json");
        let s = sample();
        write(&p, &s).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(back, s);
        assert_eq!(liveness(&back), Liveness::Running);
        let text = render(&back, Liveness::Running, back.updated);
        assert!(text.contains("running"), "{text}");
        assert!(text.contains("uptime:     1h 2m"), "{text}");
        assert!(text.contains("ringbuf_full=3"), "{text}");
        assert!(text.contains("/var/log/tracer/tracer.log"), "{text}");
        assert!(matches!(
            read(&dir.path().join("none.json")),
            Err(StatusError::Missing { .. })
        ));
    }

    #[test]
    fn rate_over_window() {
        let mut r = Rate::new(Duration::from_secs(10));
        let t = Instant::now();
        assert_eq!(r.sample(t, 0), 0.0);
        let v = r.sample(t + Duration::from_secs(2), 100);
        assert!((v - 50.0).abs() < 1e-9);
    }
}
