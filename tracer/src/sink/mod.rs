//! Where events go: the JSON-lines log file ([`logfile`]), standard output,
//! and syslog ([`syslog`]), any combination. [`Sinks`] serializes each record
//! once and hands the line to each; the caller marks batch ends with
//! [`Sinks::flush`] and calls [`Sinks::tick`] once a second.

pub mod chain;
pub mod file;
pub mod logfile;
pub mod space;
pub mod syncer;
pub mod syslog;

use std::collections::BTreeMap;
use std::io::{self, BufWriter, Stdout, Write};
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::event::wire::WireRef;
use crate::event::{Body, Event, LossCause, Source, Timestamp, TracerStatus};
use file::Ending;
use logfile::LogFile;
use syslog::Syslog;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Open(#[from] file::LogFileError),
    #[error(transparent)]
    Key(#[from] chain::KeyError),
    #[error("writing {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("{path}: the disk is full and disk_full_action is \"stop\"")]
    DiskFull { path: String },
    #[error("writing to standard output: {0}")]
    Stdout(io::Error),
}

impl SinkError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        SinkError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Counts over the whole run (for heartbeats and the status file).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Records handed to the sinks.
    pub records: u64,
    /// `exec` and `exec_failed` records among them.
    pub execs: u64,
    /// Losses by cause: those reported by the sources (`loss` records) and
    /// those of the sinks themselves (`disk_full`, `admin_space_left`, `syslog`).
    pub losses: BTreeMap<String, u64>,
}

pub struct Sinks {
    host: String,
    file: Option<LogFile>,
    stdout: Option<BufWriter<Stdout>>,
    syslog: Option<Syslog>,
    line: Vec<u8>,
    stats: Stats,
}

impl Sinks {
    /// Opens every configured output. When the log shows that the previous
    /// run did not stop cleanly, a `gap` record is written first.
    pub fn open(cfg: &Config, host: &str) -> Result<Sinks, SinkError> {
        let mut s = Sinks {
            host: host.to_string(),
            file: None,
            stdout: cfg
                .log
                .stdout
                .then(|| BufWriter::with_capacity(1 << 16, io::stdout())),
            syslog: cfg.syslog.enabled.then(|| Syslog::start(&cfg.syslog)),
            line: Vec::with_capacity(4096),
            stats: Stats::default(),
        };
        if cfg.log.enabled {
            let (f, end) = LogFile::open(&cfg.log, host)?;
            s.file = Some(f);
            if let Some(gap) = gap_record(&end, host) {
                log::warn!(
                    "{}: the previous run did not stop cleanly",
                    cfg.log.file.display()
                );
                s.write(&gap)?;
            }
        }
        Ok(s)
    }

    /// The log file, if any.
    pub fn log_path(&self) -> Option<PathBuf> {
        self.file.as_ref().map(|f| f.path().to_path_buf())
    }

    /// Syslog target, if any.
    pub fn syslog_target(&self) -> Option<String> {
        self.syslog.as_ref().map(|s| s.config().target.to_string())
    }

    pub fn write(&mut self, e: &Event) -> Result<(), SinkError> {
        self.line.clear();
        e.write_json(&mut self.line);
        self.line.push(b'\n');
        self.stats.records += 1;
        let exec = e.is_exec();
        self.stats.execs += exec as u64;
        if let Body::Loss(l) = &e.body {
            // The sinks' own losses are counted where they happen.
            if e.source != Source::Tracer || !l.cause.is_sink_loss() {
                *self
                    .stats
                    .losses
                    .entry(l.cause.as_str().to_owned())
                    .or_default() += l.count.unwrap_or(0);
            }
        }
        self.push_line(exec)?;
        if let Some(s) = &mut self.syslog {
            s.push(e, &self.line[..self.line.len() - 1]);
        }
        Ok(())
    }

    /// Whether [`Self::write_wire`] may be used: every output takes the JSON
    /// line alone (syslog also needs the event, for its header).
    pub fn takes_lines(&self) -> bool {
        self.syslog.is_none()
    }

    /// Writes an exec or exit record given as a borrowed wire view (the
    /// daemon's hot path), exactly as [`Self::write`] writes the same record
    /// as an [`Event`]. Only when [`Self::takes_lines`].
    pub fn write_wire(&mut self, w: &WireRef, exec: bool) -> Result<(), SinkError> {
        debug_assert!(self.takes_lines(), "write_wire with syslog on");
        self.line.clear();
        w.write(&mut self.line);
        self.line.push(b'\n');
        self.stats.records += 1;
        self.stats.execs += exec as u64;
        self.push_line(exec)
    }

    /// `self.line` to the file and standard output.
    fn push_line(&mut self, exec: bool) -> Result<(), SinkError> {
        if let Some(f) = &mut self.file {
            f.push(&self.line, exec)?;
        }
        if let Some(o) = &mut self.stdout {
            o.write_all(&self.line).map_err(SinkError::Stdout)?;
        }
        Ok(())
    }

    /// End of a batch: everything buffered goes out.
    pub fn flush(&mut self) -> Result<(), SinkError> {
        self.write_notices()?;
        if let Some(f) = &mut self.file {
            f.flush()?;
        }
        if let Some(o) = &mut self.stdout {
            o.flush().map_err(SinkError::Stdout)?;
        }
        if let Some(s) = &mut self.syslog {
            s.flush();
        }
        Ok(())
    }

    fn write_notices(&mut self) -> Result<(), SinkError> {
        let notices = self
            .file
            .as_mut()
            .map(LogFile::take_notices)
            .unwrap_or_default();
        for n in &notices {
            self.write(n)?;
        }
        Ok(())
    }

    /// Once a second: free space, resuming, retention; syslog losses.
    pub fn tick(&mut self) -> Result<(), SinkError> {
        if let Some(f) = &mut self.file {
            f.tick()?;
        }
        let dropped = self.syslog.as_mut().map_or(0, Syslog::take_dropped);
        if dropped > 0 {
            let e = Event::loss(
                Source::Tracer,
                Timestamp::now(),
                &self.host,
                Some(dropped),
                LossCause::Syslog,
            );
            self.write(&e)?;
        }
        self.flush()
    }

    /// Rotates the log file now (SIGUSR1).
    pub fn rotate(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        if let Some(f) = &mut self.file {
            f.rotate()?;
        }
        Ok(())
    }

    /// Applies what can change at run time (SIGHUP): rotation, retention,
    /// durability and space settings of the log file, and the syslog output.
    pub fn reconfigure(&mut self, cfg: &Config) -> Result<(), SinkError> {
        self.flush()?;
        if let Some(f) = &mut self.file {
            f.reconfigure(&cfg.log);
        }
        let same =
            self.syslog.as_ref().map(|s| s.config()) == cfg.syslog.enabled.then_some(&cfg.syslog);
        if !same {
            if let Some(mut s) = self.syslog.take() {
                s.close();
                s.take_dropped();
                self.add_syslog_lost(&s);
            }
            self.syslog = cfg.syslog.enabled.then(|| Syslog::start(&cfg.syslog));
        }
        Ok(())
    }

    fn add_syslog_lost(&mut self, s: &Syslog) {
        if s.lost > 0 {
            *self.stats.losses.entry("syslog".into()).or_default() += s.lost;
        }
    }

    /// Counts so far, the sinks' own losses included.
    pub fn stats(&self) -> Stats {
        let mut st = self.stats.clone();
        if let Some(f) = &self.file {
            for (c, n) in &f.lost {
                *st.losses.entry(c.to_string()).or_default() += n;
            }
        }
        if let Some(s) = &self.syslog {
            if s.lost > 0 {
                *st.losses.entry("syslog".into()).or_default() += s.lost;
            }
        }
        st
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.stats.records
    }

    /// Writes out, syncs and closes everything (at stop).
    pub fn close(&mut self) -> Result<(), SinkError> {
        self.flush()?;
        if let Some(f) = &mut self.file {
            f.close()?;
        }
        if let Some(s) = &mut self.syslog {
            s.close();
        }
        Ok(())
    }
}

/// The `gap` record for a log the previous run left without a `stop` record.
fn gap_record(end: &Ending, host: &str) -> Option<Event> {
    let (reason, last) = match end {
        Ending::Fresh | Ending::Clean => return None,
        Ending::Unclean { last_time } => ("unclean_stop", last_time),
        Ending::Partial { last_time } => ("partial_line", last_time),
    };
    let mut e = Event::tracer(
        host,
        TracerStatus::Gap,
        serde_json::json!({"reason": reason}),
    );
    if let Body::Tracer(t) = &mut e.body {
        t.from = last.as_deref().and_then(Timestamp::parse_rfc3339);
        t.until = Some(e.time);
    }
    Some(e)
}
