//! `tracer ship`: the local log -> ClickHouse.
//!
//! The log the file sink wrote is the spool ([`super::spool`]); the shipper
//! only remembers how far the server has acknowledged it
//! ([`super::checkpoint`]). One loop, one thread:
//!
//! 1. read complete lines into a batch (at most `batch_rows` rows or
//!    `batch_bytes` bytes: memory stays bounded however far behind it is);
//! 2. send it as one `INSERT … FORMAT JSONEachRow` when it is full, or when
//!    the log has nothing more and the batch is `flush_interval` old;
//! 3. on the server's acknowledgement, store the checkpoint (the file and
//!    offset after the batch's last line, and its `seq`);
//! 4. when the server is unreachable, slow (timeout) or failing, keep the
//!    batch, wait (exponential backoff up to `backoff_max`), send it again;
//!    nothing more is read meanwhile, the log keeps it;
//! 5. when the server refuses the data itself (a parse error), bisect the
//!    batch down to the refused record, set it aside in `rejected.jsonl`
//!    with the reason, count it, name it (file, offset, seq) in the log, and
//!    ship the rest. Lines the shipper cannot read itself (not JSON, no
//!    time, cut by a crash) are set aside the same way without a round trip.
//!
//! Exactly once: a record is sent again only if the shipper stopped between
//! an acknowledgement and its checkpoint (or the acknowledgement was lost);
//! the tables' dedup key (host, boot, seq, line_hash) removes that copy (see
//! [`super::schema`]), and the report drops it on reading before merges do.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::checkpoint::{self, Checkpoint, CheckpointError};
use super::client::{ChError, Client};
use super::metrics;
use super::row;
use super::schema::EVENTS;
use super::spool::{FileId, Spool, Start};
use crate::event::Timestamp;

/// Validated settings of `tracer ship`.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    pub client: Client,
    /// The live log file; its rotations are `log.1`, `log.2`, ….
    pub log: PathBuf,
    /// Checkpoint and set-aside records.
    pub state_dir: PathBuf,
    pub batch_rows: usize,
    pub batch_bytes: usize,
    pub flush_interval: Duration,
    pub poll: Duration,
    pub backoff_max: Duration,
    /// The shipper's state file, read by `tracer status`.
    pub status_file: Option<PathBuf>,
    /// The daemon's state file, for the metrics.
    pub daemon_status: Option<PathBuf>,
    /// A node_exporter textfile-collector file.
    pub metrics_textfile: Option<PathBuf>,
    /// Serve the metrics on this (loopback) address.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Stop once everything in the log has been shipped.
    pub once: bool,
}

impl ShipConfig {
    pub fn new(client: Client, log: PathBuf, state_dir: PathBuf) -> Self {
        Self {
            client,
            log,
            state_dir,
            batch_rows: 20_000,
            batch_bytes: 16 << 20,
            flush_interval: Duration::from_secs(1),
            poll: Duration::from_millis(200),
            backoff_max: Duration::from_secs(30),
            status_file: None,
            daemon_status: None,
            metrics_textfile: None,
            metrics_listen: None,
            once: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("reading the log {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing set-aside records to {path}: {source}")]
    Rejected {
        path: String,
        source: std::io::Error,
    },
    #[error("state directory {path}: {source}")]
    StateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("metrics endpoint {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

/// What `tracer status` shows about the shipper (`ship.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShipStatus {
    pub pid: u32,
    pub running: bool,
    pub server: String,
    pub updated: Timestamp,
    /// Records acknowledged by the server since this shipper started.
    pub shipped: u64,
    /// Records set aside (bad lines and records the server refused).
    pub rejected: u64,
    pub batches: u64,
    /// Sends that failed and were retried.
    pub retries: u64,
    /// `seq` numbers missing from the log between shipped records.
    pub seq_gaps: u64,
    /// Whether the last exchange with the server succeeded.
    pub connected: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Bytes of log not yet acknowledged.
    pub backlog_bytes: u64,
    /// How far behind the log the server is: now minus the time of the last
    /// acknowledged record, while anything is pending; 0 when caught up.
    pub lag_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_shipped: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub offset: u64,
}

/// Set by SIGTERM/SIGINT.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT ask the loop to stop (after the current
/// exchange, with the checkpoint stored).
pub fn install_signal_handlers() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; the function pointer has the C ABI signal(2) expects.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

fn stopping() -> bool {
    STOP.load(Ordering::SeqCst)
}

enum Kind {
    Row,
    /// Not sent: set aside with this reason (and the line's start) once the
    /// batch is acknowledged.
    Reject(String, Vec<u8>),
    /// Not sent, not set aside (blank, or shipped before).
    Skip,
}

struct Meta {
    start: usize,
    end: usize,
    kind: Kind,
    file: usize,
    /// Offset of the line's start and just after it.
    at: u64,
    next: u64,
    seq: Option<u64>,
    time: Option<Timestamp>,
}

#[derive(Default)]
struct Batch {
    rows: Vec<u8>,
    metas: Vec<Meta>,
    rows_n: usize,
    files: Vec<(FileId, PathBuf)>,
    first_at: Option<Instant>,
}

impl Batch {
    fn clear(&mut self) {
        self.rows.clear();
        self.metas.clear();
        self.rows_n = 0;
        self.files.clear();
        self.first_at = None;
    }
    fn file_index(&mut self, id: FileId, path: &Path) -> usize {
        match self.files.last() {
            Some((f, _)) if *f == id => self.files.len() - 1,
            _ => {
                self.files.push((id, path.to_owned()));
                self.files.len() - 1
            }
        }
    }
}

/// The shipper's state across batches.
pub struct Shipper {
    cfg: ShipConfig,
    cp_path: PathBuf,
    rejected_path: PathBuf,
    cp: Checkpoint,
    spool: Spool,
    /// After a checkpoint whose file is gone: records up to this seq were shipped.
    skip_upto: Option<u64>,
    last_seq: Option<u64>,
    status: ShipStatus,
    backoff: Duration,
    metrics: Arc<Mutex<String>>,
}

impl Shipper {
    pub fn new(cfg: ShipConfig) -> Result<Self, ShipError> {
        std::fs::create_dir_all(&cfg.state_dir).map_err(|source| ShipError::StateDir {
            path: cfg.state_dir.display().to_string(),
            source,
        })?;
        let cp_path = cfg.state_dir.join("checkpoint.json");
        let rejected_path = cfg.state_dir.join("rejected.jsonl");
        let loaded = checkpoint::load(&cp_path)?;
        let start = match &loaded {
            Some(c) => Start::At {
                id: c.file,
                offset: c.offset,
            },
            None => Start::Oldest,
        };
        let cp = loaded.clone().unwrap_or(Checkpoint {
            file: FileId::default(),
            path: cfg.log.clone(),
            offset: 0,
            seq: None,
            shipped: 0,
            rejected: 0,
        });
        let status = ShipStatus {
            pid: std::process::id(),
            running: true,
            server: cfg.client.endpoint.display(),
            ..Default::default()
        };
        Ok(Self {
            spool: Spool::new(cfg.log.clone(), start),
            last_seq: cp.seq,
            cp,
            cp_path,
            rejected_path,
            skip_upto: None,
            status,
            backoff: Duration::from_millis(250),
            metrics: Arc::new(Mutex::new(String::new())),
            cfg,
        })
    }

    pub fn status(&self) -> &ShipStatus {
        &self.status
    }

    /// Runs until stopped by a signal (or, with `once`, until caught up).
    pub fn run(&mut self) -> Result<(), ShipError> {
        if let Some(addr) = self.cfg.metrics_listen {
            metrics::serve(addr, self.metrics.clone()).map_err(|source| ShipError::Listen {
                addr: addr.to_string(),
                source,
            })?;
        }
        let mut batch = Batch::default();
        let mut last_report = Instant::now() - Duration::from_secs(10);
        loop {
            let idle = self.fill(&mut batch)?;
            let full =
                batch.rows_n >= self.cfg.batch_rows || batch.rows.len() >= self.cfg.batch_bytes;
            let old = batch
                .first_at
                .is_some_and(|t| t.elapsed() >= self.cfg.flush_interval);
            let due = full || idle && (old || self.cfg.once || stopping());
            // `send` is false when stopped while the server was unreachable.
            if !batch.metas.is_empty() && due && !self.send(&mut batch)? {
                break;
            }
            if last_report.elapsed() >= Duration::from_secs(1) || stopping() {
                self.report(&batch);
                last_report = Instant::now();
            }
            if stopping() && batch.metas.is_empty() {
                break;
            }
            if idle && batch.metas.is_empty() && self.cfg.once {
                break;
            }
            if idle {
                std::thread::sleep(self.cfg.poll);
            }
        }
        self.status.running = false;
        self.report(&batch);
        Ok(())
    }

    /// Reads lines into `batch` until it is full; true if the log ran dry.
    fn fill(&mut self, batch: &mut Batch) -> Result<bool, ShipError> {
        let log = self.cfg.log.display().to_string();
        while batch.rows_n < self.cfg.batch_rows
            && batch.rows.len() < self.cfg.batch_bytes
            && !stopping()
        {
            let line = self.spool.next_line().map_err(|source| ShipError::Read {
                path: log.clone(),
                source,
            })?;
            let Some(line) = line else {
                return Ok(true);
            };
            let start = batch.rows.len();
            let next = line.end;
            let at = next - line.bytes.len() as u64 - u64::from(!line.unterminated);
            let blank = line.bytes.iter().all(u8::is_ascii_whitespace);
            let keep = || line.bytes[..line.bytes.len().min(4096)].to_vec();
            let (kind, seq, time) = if line.too_long {
                let why = format!("line longer than {} MiB", super::spool::MAX_LINE >> 20);
                (Kind::Reject(why, keep()), None, None)
            } else if blank {
                (Kind::Skip, None, None)
            } else {
                match row::append_row(line.bytes, &mut batch.rows) {
                    Ok(info) => (Kind::Row, info.seq, Some(info.time)),
                    Err(e) => {
                        batch.rows.truncate(start);
                        let e = if line.unterminated {
                            format!("the file ends in the middle of this record ({e})")
                        } else {
                            e.to_string()
                        };
                        (Kind::Reject(e, keep()), None, None)
                    }
                }
            };
            let (id, path, _) = self.spool.position().expect("a line was read");
            let path = path.to_owned();
            let file = batch.file_index(id, &path);
            if self.spool.start_missed && self.skip_upto.is_none() {
                self.skip_upto = self.cp.seq;
                self.spool.start_missed = false;
            }
            let mut kind = kind;
            if let (Some(upto), Some(s)) = (self.skip_upto, seq) {
                if s <= upto {
                    batch.rows.truncate(start);
                    kind = Kind::Skip;
                } else {
                    self.skip_upto = None;
                }
            }
            if let (Kind::Row, Some(s)) = (&kind, seq) {
                if let Some(l) = self.last_seq {
                    if s > l + 1 {
                        let missing = s - l - 1;
                        self.status.seq_gaps += missing;
                        log::warn!(
                            "ship: {} record(s) with seq {}..{} are not in the log (rotated away before they were shipped?); continuing at {}:{}",
                            missing,
                            l + 1,
                            s - 1,
                            path.display(),
                            at
                        );
                    }
                }
                self.last_seq = Some(s);
            }
            if let Kind::Reject(r, _) = &kind {
                log::debug!("ship: {}:{at}: will set aside: {r}", path.display());
            }
            let is_row = matches!(kind, Kind::Row);
            batch.metas.push(Meta {
                start,
                end: batch.rows.len(),
                kind,
                file,
                at,
                next,
                seq,
                time,
            });
            if is_row {
                batch.rows_n += 1;
            }
            batch.first_at.get_or_insert_with(Instant::now);
        }
        Ok(false)
    }

    /// Sends the batch; false if a stop was asked while it could not be sent.
    fn send(&mut self, batch: &mut Batch) -> Result<bool, ShipError> {
        let n = batch.metas.len();
        let (mut a, mut b) = (0, n);
        while a < n {
            let (lo, hi) = (batch.metas[a].start, batch.metas[b - 1].end);
            let result = if lo == hi {
                Ok(())
            } else {
                self.cfg.client.insert(EVENTS, &batch.rows[lo..hi])
            };
            match result {
                Ok(()) => {
                    self.status.connected = true;
                    self.status.last_error = None;
                    self.backoff = Duration::from_millis(250);
                    self.acknowledged(batch, a, b)?;
                    a = b;
                    b = n;
                }
                Err(e) if e.is_data_error() && b - a > 1 => {
                    // Halve until the refused record is alone.
                    b = a + (b - a) / 2;
                }
                Err(e) if e.is_data_error() => {
                    let reason = server_reason(&e);
                    let m = &mut batch.metas[a];
                    let row = batch.rows[m.start..m.end.min(m.start + 4096)].to_vec();
                    m.kind = Kind::Reject(format!("refused by the server: {reason}"), row);
                    m.end = m.start;
                    self.acknowledged(batch, a, a + 1)?;
                    a += 1;
                    b = n;
                }
                Err(e) => {
                    self.status.connected = false;
                    self.status.retries += 1;
                    let msg = e.to_string();
                    if self.status.last_error.as_deref() != Some(msg.as_str()) {
                        log::warn!(
                            "ship: {msg}; keeping {} record(s), retrying in {:?} and backing off",
                            batch.rows_n,
                            self.backoff
                        );
                    }
                    self.status.last_error = Some(msg);
                    self.report(batch);
                    let until = Instant::now() + self.backoff;
                    while Instant::now() < until {
                        if stopping() {
                            return Ok(false);
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    self.backoff = (self.backoff * 2).min(self.cfg.backoff_max);
                }
            }
        }
        self.status.batches += 1;
        batch.clear();
        Ok(true)
    }

    /// Records `metas[a..b]` as done: sets aside its rejects, stores the checkpoint.
    fn acknowledged(&mut self, batch: &Batch, a: usize, b: usize) -> Result<(), ShipError> {
        let mut rejects = Vec::new();
        for m in &batch.metas[a..b] {
            match &m.kind {
                Kind::Row => {
                    self.cp.shipped += 1;
                    self.status.shipped += 1;
                    if let Some(t) = m.time {
                        self.status.last_shipped = Some(t);
                    }
                }
                Kind::Reject(reason, line) => {
                    let path = &batch.files[m.file].1;
                    log::warn!(
                        "ship: set aside the record at {}:{} (seq {}): {reason}",
                        path.display(),
                        m.at,
                        m.seq.map_or("none".into(), |s| s.to_string())
                    );
                    rejects.push(serde_json::json!({
                        "set_aside": Timestamp::now(),
                        "file": path,
                        "offset": m.at,
                        "seq": m.seq,
                        "reason": reason,
                        "line": String::from_utf8_lossy(line),
                    }));
                    self.cp.rejected += 1;
                    self.status.rejected += 1;
                }
                Kind::Skip => {}
            }
            if m.seq.is_some() {
                self.cp.seq = m.seq;
            }
        }
        if !rejects.is_empty() {
            let err = |source| ShipError::Rejected {
                path: self.rejected_path.display().to_string(),
                source,
            };
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.rejected_path)
                .map_err(err)?;
            let mut text = String::new();
            for r in rejects {
                text.push_str(&r.to_string());
                text.push('\n');
            }
            f.write_all(text.as_bytes()).map_err(err)?;
        }
        let last = &batch.metas[b - 1];
        let (id, path) = &batch.files[last.file];
        self.cp.file = *id;
        self.cp.path = path.clone();
        self.cp.offset = last.next;
        checkpoint::store(&self.cp_path, &self.cp)?;
        Ok(())
    }

    /// Updates the status file and metrics.
    fn report(&mut self, batch: &Batch) {
        let s = &mut self.status;
        s.updated = Timestamp::now();
        s.backlog_bytes =
            self.spool.backlog() + batch.metas.iter().map(|m| m.next - m.at).sum::<u64>();
        s.lag_seconds = match (s.backlog_bytes, s.last_shipped) {
            (0, _) => 0.0,
            (_, Some(t)) => ((s.updated.0 - t.0) as f64 / 1e9).max(0.0),
            (_, None) => 0.0,
        };
        s.file = Some(self.cp.path.clone());
        s.offset = self.cp.offset;
        if let Some(p) = &self.cfg.status_file {
            if let Err(e) = write_status(p, s) {
                log::warn!("ship: {e}");
            }
        }
        let daemon = self
            .cfg
            .daemon_status
            .as_deref()
            .and_then(|p| crate::status::read(p).ok());
        let text = metrics::render(daemon.as_ref(), Some(s));
        if let Some(p) = &self.cfg.metrics_textfile {
            if let Err(e) = metrics::write_textfile(p, &text) {
                log::warn!("ship: metrics textfile {}: {e}", p.display());
            }
        }
        if let Ok(mut m) = self.metrics.lock() {
            *m = text;
        }
    }
}

fn server_reason(e: &ChError) -> String {
    match e {
        ChError::Server { message, .. } => message
            .split(", e.what()")
            .next()
            .unwrap_or(message)
            .trim()
            .to_owned(),
        e => e.to_string(),
    }
}

/// Writes the shipper's state file atomically.
pub fn write_status(path: &Path, s: &ShipStatus) -> std::io::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let data = serde_json::to_vec_pretty(s).expect("status serializes");
    std::fs::write(&tmp, data)?;
    std::fs::rename(&tmp, path)
}

/// Reads the shipper's state file.
pub fn read_status(path: &Path) -> Option<ShipStatus> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The text `tracer status` adds for the shipper.
pub fn render_status(s: &ShipStatus, now: Timestamp) -> String {
    let alive = s.running && crate::status::pid_alive(s.pid);
    let age = (now.0 - s.updated.0) as f64 / 1e9;
    let mut out = format!(
        "shipper:  {} (pid {}) -> {}{}\n",
        if alive { "running" } else { "not running" },
        s.pid,
        s.server,
        if s.connected { "" } else { " (unreachable)" }
    );
    out.push_str(&format!(
        "  shipped {} record(s), {} set aside, {} retries; backlog {} bytes, lag {:.1} s (as of {:.0} s ago)\n",
        s.shipped, s.rejected, s.retries, s.backlog_bytes, s.lag_seconds, age.max(0.0)
    ));
    if s.seq_gaps > 0 {
        out.push_str(&format!(
            "  {} record(s) were gone from the log before they could be shipped\n",
            s.seq_gaps
        ));
    }
    if let Some(e) = &s.last_error {
        out.push_str(&format!("  last error: {e}\n"));
    }
    out
}
