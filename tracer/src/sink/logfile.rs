//! The JSON-lines log file: a buffer of whole records written with one
//! write(2) per batch, rotation by size and count, retention, auditd-like
//! durability (`flush`) and the free-space ladder.
//!
//! Invariants that make a crash (SIGKILL, power loss) cost at most one partial
//! last line:
//! - the buffer only ever holds whole records, and each write(2) hands the
//!   kernel the whole buffer; a short write (the disk filled up midway) is
//!   undone with ftruncate(2) to the size before it;
//! - before a rotation the buffer is written to the old file, and a record is
//!   never split across the boundary;
//! - on open, a file that does not end with `\n` is terminated first, so the
//!   partial line stays isolated, and a `gap` record marks the restart.
//!
//! Per event this does a memcpy into the buffer: syscalls happen per batch.
//!
//! With `chain` on, each record is sealed on its way into the buffer
//! ([`super::chain`]): `seq` and `chain` continue from the last sealed record
//! of the existing log (or of `tracer.log.1` when the log is new) and across
//! rotations; records dropped from the buffer (a full disk) are unsealed
//! again, so `seq` has no hole that a `loss` record does not explain.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use super::chain::{self, ChainState, Sealer};
use super::file::{ending, group_id, open_log_with, Ending};
use super::space::{free_space, Ladder, Step};
use super::syncer::Syncer;
use super::SinkError;
use crate::config::{AdminSpaceLeftAction, DiskFullAction, FlushMode, LogConfig, SpaceLeftAction};
use crate::event::{Body, Event, Loss, LossCause, Source, Timestamp, TracerStatus};

/// Above this many buffered bytes the buffer is written before the batch ends.
const HIGH_WATER: usize = 1 << 20;
/// Free space needed before writing resumes after the disk was full, so that
/// writing does not flap between full and not quite full.
const RESUME_HEADROOM: u64 = 256 << 10;
/// How often retention (`max_age`) is applied besides at each rotation.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    DiskFull,
    AdminSpaceLeft,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::DiskFull => "disk_full",
            Cause::AdminSpaceLeft => "admin_space_left",
        }
    }
    fn loss_cause(self) -> LossCause {
        match self {
            Cause::DiskFull => LossCause::DiskFull,
            Cause::AdminSpaceLeft => LossCause::AdminSpaceLeft,
        }
    }
}

/// Writing is suspended; what was not written is counted.
#[derive(Debug)]
struct Suspension {
    cause: Cause,
    records: u64,
    execs: u64,
    from: Timestamp,
}

pub struct LogFile {
    cfg: LogConfig,
    gid: Option<u32>,
    host: String,
    /// This boot's id, written at the head of every file rotation starts.
    boot: Option<String>,
    file: File,
    size: u64,
    buf: Vec<u8>,
    buf_records: u64,
    buf_execs: u64,
    since_sync: u64,
    suspended: Option<Suspension>,
    ladder: Ladder,
    syncer: Option<Syncer>,
    last_prune: Instant,
    /// Records about the file itself (space warnings, actions), for the
    /// caller to write through every sink.
    notices: Vec<Event>,
    /// Records not written to the file, by cause.
    pub lost: BTreeMap<&'static str, u64>,
    /// Seals records (`seq`, `chain`) when `chain` is on.
    sealer: Option<Sealer>,
}

impl LogFile {
    /// Opens the log; also says how the previous run left it (a partial last
    /// line is terminated with `\n` here).
    pub fn open(cfg: &LogConfig, host: &str) -> Result<(Self, Ending), SinkError> {
        let gid = cfg.group.as_deref().and_then(group_id);
        let file = open_log_with(&cfg.file, gid, cfg.dir_policy)?;
        let io_err = |e| SinkError::io(&cfg.file, e);
        let mut end = ending(&file).map_err(io_err)?;
        if matches!(end, Ending::Partial { .. }) {
            (&file).write_all(b"\n").map_err(io_err)?;
        }
        if end == Ending::Fresh {
            // Just rotated before the previous run ended? Look at the newest
            // rotated file.
            if let Ok(f) = File::open(numbered(&cfg.file, 1)) {
                if let Ok(e @ Ending::Unclean { .. }) = ending(&f) {
                    end = e;
                }
            }
        }
        let sealer = if cfg.chain {
            let key = chain::load_or_create_key(&cfg.chain_key)?;
            let mut state = chain::last_state(&file).map_err(io_err)?;
            if state.is_none() && file.metadata().map_err(io_err)?.len() == 0 {
                // A fresh file after a rotation: continue the rotated one.
                if let Ok(f) = File::open(numbered(&cfg.file, 1)) {
                    state = chain::last_state(&f).ok().flatten();
                }
            }
            Some(Sealer::new(key, state.unwrap_or(ChainState::GENESIS)))
        } else {
            None
        };
        let size = file.metadata().map_err(io_err)?.len();
        let lf = Self {
            cfg: cfg.clone(),
            gid,
            host: host.to_string(),
            boot: crate::source::procfs::boot_id(),
            file,
            size,
            buf: Vec::with_capacity(HIGH_WATER + (64 << 10)),
            buf_records: 0,
            buf_execs: 0,
            since_sync: 0,
            suspended: None,
            ladder: Ladder::default(),
            syncer: None,
            last_prune: Instant::now(),
            notices: Vec::new(),
            lost: BTreeMap::new(),
            sealer,
        };
        Ok((lf, end))
    }

    pub fn path(&self) -> &Path {
        &self.cfg.file
    }

    /// Takes new rotation, retention, durability and space settings (the file
    /// and its group stay: changing them needs a restart).
    pub fn reconfigure(&mut self, cfg: &LogConfig) {
        let (file, group) = (self.cfg.file.clone(), self.cfg.group.clone());
        self.cfg = cfg.clone();
        self.cfg.file = file;
        self.cfg.group = group;
    }

    /// Adds one serialized record (ending with `\n`).
    pub fn push(&mut self, line: &[u8], exec: bool) -> Result<(), SinkError> {
        if let Some(s) = &mut self.suspended {
            s.records += 1;
            s.execs += exec as u64;
            *self.lost.entry(s.cause.as_str()).or_default() += 1;
            return Ok(());
        }
        let max = self.cfg.max_size.0;
        let pending = self.size + self.buf.len() as u64;
        let len = line.len() + self.sealer.as_ref().map_or(0, |_| chain::OVERHEAD);
        if max > 0 && pending > 0 && pending + len as u64 > max {
            self.write_buf()?;
            self.rotate()?;
            if self.suspended.is_some() {
                return self.push(line, exec);
            }
        }
        match &mut self.sealer {
            Some(s) => s.seal_into(line, &mut self.buf),
            None => self.buf.extend_from_slice(line),
        }
        self.buf_records += 1;
        self.buf_execs += exec as u64;
        if self.buf.len() >= HIGH_WATER {
            self.write_buf()?;
        }
        Ok(())
    }

    /// End of a batch: write the buffer and apply the durability mode.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        let records = self.buf_records;
        self.write_buf()?;
        if records == 0 && self.since_sync == 0 {
            return Ok(());
        }
        let r = match self.cfg.flush {
            FlushMode::None => Ok(()),
            FlushMode::Incremental if self.since_sync >= self.cfg.freq as u64 => {
                self.syncer
                    .get_or_insert_with(Syncer::start)
                    .request(&self.file);
                Ok(())
            }
            FlushMode::Incremental => return Ok(()),
            FlushMode::Data => self.file.sync_data(),
            FlushMode::Sync => self.file.sync_all(),
        };
        self.since_sync = 0;
        r.map_err(|e| SinkError::io(&self.cfg.file, e))
    }

    /// Writes the buffer with one write(2); handles a full disk by the
    /// configured action.
    fn write_buf(&mut self) -> Result<(), SinkError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        loop {
            match self.write_once() {
                Ok(()) => {
                    self.size += self.buf.len() as u64;
                    self.since_sync += self.buf_records;
                    if let Some(s) = &mut self.sealer {
                        s.commit();
                    }
                    self.clear_buf();
                    return Ok(());
                }
                Err(e) if is_full(&e) => match self.cfg.disk_full_action {
                    DiskFullAction::Suspend => {
                        self.suspend(Cause::DiskFull);
                        return Ok(());
                    }
                    DiskFullAction::KeepNewest => {
                        if !self.delete_oldest("disk_full") {
                            self.suspend(Cause::DiskFull);
                            return Ok(());
                        }
                    }
                    DiskFullAction::Stop => {
                        log::error!(
                            "{}: disk full; disk_full_action = \"stop\": exiting",
                            self.cfg.file.display()
                        );
                        return Err(SinkError::DiskFull {
                            path: self.cfg.file.display().to_string(),
                        });
                    }
                },
                Err(e) => return Err(SinkError::io(&self.cfg.file, e)),
            }
        }
    }

    /// One write(2) of the whole buffer, undone if it was cut short.
    fn write_once(&mut self) -> io::Result<()> {
        let n = loop {
            match self.file.write(&self.buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == self.buf.len() {
            return Ok(());
        }
        // The file system filled up midway: no partial record stays behind.
        self.file.set_len(self.size)?;
        Err(io::Error::from_raw_os_error(libc::ENOSPC))
    }

    fn clear_buf(&mut self) {
        self.buf.clear();
        self.buf_records = 0;
        self.buf_execs = 0;
    }

    fn suspend(&mut self, cause: Cause) {
        log::error!(
            "{}: {}: suspending writing; unwritten records are counted",
            self.cfg.file.display(),
            cause.as_str()
        );
        *self.lost.entry(cause.as_str()).or_default() += self.buf_records;
        self.suspended = Some(Suspension {
            cause,
            records: self.buf_records,
            execs: self.buf_execs,
            from: Timestamp::now(),
        });
        self.clear_buf();
        if let Some(s) = &mut self.sealer {
            s.rollback();
        }
    }

    /// Writes the `loss` record for the suspension; resumes if it went in.
    fn try_resume(&mut self) -> Result<(), SinkError> {
        let Some(s) = self.suspended.take() else {
            return Ok(());
        };
        let now = Timestamp::now();
        let e = Event::new(
            Source::Tracer,
            now,
            &self.host,
            Body::Loss(Loss {
                count: Some(s.records),
                cause: s.cause.loss_cause(),
                from: Some(s.from),
                until: Some(now),
                execs: Some(s.execs),
                exits: None,
                exec_failed_unseen: None,
                file: Some(self.cfg.file.display().to_string()),
            }),
        );
        self.buf.clear();
        let line = serde_json::to_vec(&e).map_err(|e| SinkError::io(&self.cfg.file, e.into()))?;
        match &mut self.sealer {
            Some(s) => s.seal_into(&line, &mut self.buf),
            None => {
                self.buf.extend_from_slice(&line);
                self.buf.push(b'\n');
            }
        }
        match self.write_once() {
            Ok(()) => {
                log::warn!(
                    "{}: writing again after {}; {} records were not written",
                    self.cfg.file.display(),
                    s.cause.as_str(),
                    s.records
                );
                self.size += self.buf.len() as u64;
                self.since_sync += 1;
                self.clear_buf();
                if let Some(s) = &mut self.sealer {
                    s.commit();
                }
                Ok(())
            }
            Err(e) if is_full(&e) => {
                self.clear_buf();
                if let Some(s) = &mut self.sealer {
                    s.rollback();
                }
                self.suspended = Some(s);
                Ok(())
            }
            Err(e) => {
                self.clear_buf();
                if let Some(s) = &mut self.sealer {
                    s.rollback();
                }
                self.suspended = Some(s);
                Err(SinkError::io(&self.cfg.file, e))
            }
        }
    }

    /// Renames `tracer.log` to `tracer.log.1` (shifting older ones up, the
    /// oldest beyond `num_logs` deleted), read-only, and starts a new file.
    pub fn rotate(&mut self) -> Result<(), SinkError> {
        self.write_buf()?;
        let path = self.cfg.file.clone();
        let io_err = |e| SinkError::io(&path, e);
        if self.cfg.flush != FlushMode::None {
            self.file.sync_all().map_err(io_err)?;
        }
        let ro = if self.gid.is_some() { 0o440 } else { 0o400 };
        self.file
            .set_permissions(std::fs::Permissions::from_mode(ro))
            .map_err(io_err)?;
        let n = self.cfg.num_logs.max(1);
        ignore_missing(std::fs::remove_file(numbered(&path, n))).map_err(io_err)?;
        for i in (1..n).rev() {
            ignore_missing(std::fs::rename(numbered(&path, i), numbered(&path, i + 1)))
                .map_err(io_err)?;
        }
        std::fs::rename(&path, numbered(&path, 1)).map_err(io_err)?;
        self.file = open_log_with(&path, self.gid, self.cfg.dir_policy)?;
        if let Some(s) = &mut self.sealer {
            s.new_file();
        }
        self.size = 0;
        self.since_sync = 0;
        self.prune();
        log::debug!("rotated {}", path.display());
        self.write_head();
        Ok(())
    }

    /// The first record of a file started by rotation: the host and boot it
    /// belongs to, so that a file read on its own (or shipped) still ties
    /// its records to a boot. A run's first file starts with the `start`
    /// record, which carries the same.
    fn write_head(&mut self) {
        let mut e = Event::tracer(&self.host, TracerStatus::File, serde_json::json!({}));
        if let Body::Tracer(t) = &mut e.body {
            t.boot = self.boot.clone();
        }
        let mut line = Vec::with_capacity(256);
        e.write_json(&mut line);
        line.push(b'\n');
        match &mut self.sealer {
            Some(s) => s.seal_into(&line, &mut self.buf),
            None => self.buf.extend_from_slice(&line),
        }
        self.buf_records += 1;
    }

    /// Rotated files (`tracer.log.N`), by N.
    fn rotated(&self) -> Vec<(u32, PathBuf)> {
        let (Some(dir), Some(name)) = (self.cfg.file.parent(), self.cfg.file.file_name()) else {
            return Vec::new();
        };
        let prefix = format!("{}.", name.to_string_lossy());
        let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|d| {
                let n = d
                    .file_name()
                    .to_str()?
                    .strip_prefix(&prefix)?
                    .parse()
                    .ok()?;
                Some((n, d.path()))
            })
            .collect();
        v.sort();
        v
    }

    /// Retention: rotated files beyond `num_logs` or older than `max_age` go.
    fn prune(&mut self) {
        self.last_prune = Instant::now();
        let max_age = Duration::from_secs(self.cfg.max_age.0);
        let now = SystemTime::now();
        for (n, p) in self.rotated() {
            let old = max_age > Duration::ZERO
                && std::fs::metadata(&p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() > max_age);
            if n > self.cfg.num_logs || old {
                match std::fs::remove_file(&p) {
                    Ok(()) => log::info!("retention: deleted {}", p.display()),
                    Err(e) => log::warn!("retention: can't delete {}: {e}", p.display()),
                }
            }
        }
    }

    /// Deletes the oldest rotated log; false when there is none.
    fn delete_oldest(&mut self, why: &str) -> bool {
        let Some((_, p)) = self.rotated().pop() else {
            return false;
        };
        let ok = std::fs::remove_file(&p).is_ok();
        if ok {
            log::warn!("{why}: deleted the oldest log {}", p.display());
            self.notice(
                TracerStatus::KeepNewest,
                serde_json::json!({"cause": why, "deleted": p}),
            );
        }
        ok
    }

    /// Once a second: the free-space ladder, resuming, retention.
    pub fn tick(&mut self) -> Result<(), SinkError> {
        let dir = self
            .cfg
            .file
            .parent()
            .unwrap_or(Path::new("/"))
            .to_path_buf();
        let mut room = true;
        match free_space(&dir) {
            Ok((free, total)) => {
                room = free >= RESUME_HEADROOM;
                let steps = self.ladder.observe(
                    free,
                    total,
                    self.cfg.space_left,
                    self.cfg.admin_space_left,
                );
                for s in steps {
                    self.act(s, free, total)?;
                }
            }
            Err(e) => log::debug!("statvfs {}: {e}", dir.display()),
        }
        match self.suspended.as_ref().map(|s| s.cause) {
            Some(Cause::DiskFull) if room => self.try_resume()?,
            Some(Cause::AdminSpaceLeft) if !self.ladder.below_admin() => self.try_resume()?,
            _ => {}
        }
        if self.last_prune.elapsed() >= PRUNE_EVERY {
            self.prune();
        }
        Ok(())
    }

    fn act(&mut self, step: Step, free: u64, total: u64) -> Result<(), SinkError> {
        let path = self.cfg.file.display().to_string();
        let detail = |threshold: u64, action: &str| serde_json::json!({"free_bytes": free, "threshold_bytes": threshold, "action": action, "file": path});
        match step {
            Step::SpaceLeft => {
                let t = self.cfg.space_left.bytes(total);
                if self.cfg.space_left_action == SpaceLeftAction::Syslog {
                    log::warn!("{path}: low on disk space: {free} bytes free (space_left {t})");
                    self.notice(TracerStatus::SpaceLeft, detail(t, "syslog"));
                }
            }
            Step::AdminSpaceLeft => {
                use AdminSpaceLeftAction as A;
                let t = self.cfg.admin_space_left.bytes(total);
                let a = self.cfg.admin_space_left_action;
                let name = serde_json::to_value(a).unwrap_or_default();
                let name = name.as_str().unwrap_or("?");
                if a != A::Ignore {
                    log::error!("{path}: {free} bytes free, below admin_space_left ({t}): {name}");
                    self.notice(TracerStatus::AdminSpaceLeft, detail(t, name));
                }
                self.flush()?;
                match a {
                    A::Ignore | A::Syslog => {}
                    A::Suspend => self.suspend(Cause::AdminSpaceLeft),
                    A::Rotate => self.rotate()?,
                    A::KeepNewest => {
                        while free_space(self.cfg.file.parent().unwrap_or(Path::new("/")))
                            .is_ok_and(|(f, _)| f < t)
                            && self.delete_oldest("admin_space_left")
                        {}
                    }
                }
            }
            Step::SpaceBack | Step::AdminSpaceBack => {
                log::info!("{path}: disk space back above the threshold ({free} bytes free)");
            }
        }
        Ok(())
    }

    fn notice(&mut self, status: TracerStatus, detail: serde_json::Value) {
        let e = Event::tracer(&self.host, status, detail);
        self.notices.push(e);
    }

    /// Records about the log itself, to be written through every sink.
    pub fn take_notices(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.notices)
    }

    /// Writes out and syncs everything (at stop).
    pub fn close(&mut self) -> Result<(), SinkError> {
        self.write_buf()?;
        self.file
            .sync_all()
            .map_err(|e| SinkError::io(&self.cfg.file, e))
    }
}

/// `tracer.log.N`
pub fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

fn ignore_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

#[cfg(test)]
#[path = "logfile_tests.rs"]
mod tests;
