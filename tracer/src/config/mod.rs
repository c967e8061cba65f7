//! tracer's configuration file (`/etc/tracer/tracer.toml`): its types, their
//! defaults, loading with errors that name the file, the line and the key, and
//! the checks that need more than one value. `rules/tracer.toml.example`
//! documents every option; command-line flags override the file
//! ([`Overrides`]). `run` turns the result into its `RunConfig`; the sinks,
//! the status file and the eBPF filters each take their own section.

mod locate;
pub mod value;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use value::{Facility, IdRange, Secs, Size, SyslogTarget, Threshold};

use crate::cli::run::BackendArg;

/// Where the daemon reads its configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/tracer/tracer.toml";
pub const DEFAULT_LOG: &str = "/var/log/tracer/tracer.log";
pub const DEFAULT_STATUS: &str = "/run/tracer/status.json";

/// Limits of the kernel-side filter tables (the eBPF maps are sized by them).
/// The kernel-side filter's room per id list: checking it here lets
/// `--check-config` catch what loading would refuse.
pub const MAX_ID_RANGES: usize = tracer_common::config::FILTER_RANGES;
pub const MAX_COMMS: usize = 64;
pub const MAX_EXE_PREFIXES: usize = 16;
/// `TASK_COMM_LEN` - 1.
pub const MAX_COMM_LEN: usize = 15;
pub const MAX_EXE_PREFIX_LEN: usize = 255;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub capture: CaptureConfig,
    pub log: LogConfig,
    pub syslog: SyslogConfig,
    pub daemon: DaemonConfig,
    pub filter: FilterConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    pub backend: BackendArg,
    pub argv_limit: u32,
    pub ring_size: Size,
    pub poll_ms: u64,
    pub proc_scan: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            backend: BackendArg::Auto,
            argv_limit: tracer_common::config::DEFAULT_ARGV_LIMIT,
            ring_size: Size(32 << 20),
            poll_ms: 50,
            proc_scan: true,
        }
    }
}

/// auditd's `flush`: how hard each batch is pushed to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlushMode {
    /// write(2) per batch; the kernel writes back when it likes.
    None,
    /// fsync(2) every `freq` records.
    Incremental,
    /// fdatasync(2) per batch.
    Data,
    /// fsync(2) per batch.
    Sync,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceLeftAction {
    Ignore,
    /// A warning on stderr/journal and a `tracer` record.
    Syslog,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminSpaceLeftAction {
    Ignore,
    Syslog,
    /// Stop writing (losses are counted) until free space is back above the threshold.
    Suspend,
    /// Rotate now (the oldest rotated log beyond `num_logs` goes).
    Rotate,
    /// Delete the oldest rotated logs until free space is above the threshold.
    KeepNewest,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskFullAction {
    /// Stop writing and count what is lost; resume with a `loss` record.
    Suspend,
    /// Delete the oldest rotated logs and retry; suspend when none is left.
    KeepNewest,
    /// Exit with an error.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Write JSON lines to `file`.
    pub enabled: bool,
    pub file: PathBuf,
    /// Also (or only) write JSON lines to standard output.
    pub stdout: bool,
    /// Group that may read the logs (files 0640, directory 2750); none: 0600.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Rotate when the file would grow beyond this; 0: never.
    pub max_size: Size,
    /// Rotated files kept (`tracer.log.1` .. `tracer.log.N`).
    pub num_logs: u32,
    /// Rotated files older than this are deleted; 0: kept until `num_logs`.
    pub max_age: Secs,
    pub flush: FlushMode,
    /// Records between fsyncs with `flush = "incremental"`.
    pub freq: u32,
    pub space_left: Threshold,
    pub space_left_action: SpaceLeftAction,
    pub admin_space_left: Threshold,
    pub admin_space_left_action: AdminSpaceLeftAction,
    pub disk_full_action: DiskFullAction,
    /// Seal each record of the log file with `seq` and `chain`, a keyed hash
    /// chained to the previous record, for `tracer verify`.
    pub chain: bool,
    /// The chain's key: 32 random bytes, root-only (0400), created on first
    /// start.
    pub chain_key: PathBuf,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            file: PathBuf::from(DEFAULT_LOG),
            stdout: false,
            group: None,
            max_size: Size(100 << 20),
            num_logs: 10,
            max_age: Secs(0),
            flush: FlushMode::Incremental,
            freq: 1000,
            space_left: Threshold::Bytes(75 << 20),
            space_left_action: SpaceLeftAction::Syslog,
            admin_space_left: Threshold::Bytes(50 << 20),
            admin_space_left_action: AdminSpaceLeftAction::Suspend,
            disk_full_action: DiskFullAction::Suspend,
            chain: true,
            chain_key: PathBuf::from(crate::sink::chain::DEFAULT_KEY),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyslogFormat {
    Rfc5424,
    /// The traditional BSD format, for receivers that only take it.
    Rfc3164,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    pub enabled: bool,
    pub target: SyslogTarget,
    pub facility: Facility,
    pub app_name: String,
    pub format: SyslogFormat,
    /// Add `[tracer@32473 type= pid= auid= ses= uid=]` structured data (RFC 5424).
    pub structured_data: bool,
    /// Longer records have their argv shortened to fit (`truncated` set).
    pub max_message: Size,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            target: SyslogTarget::Local,
            facility: Facility(10),
            app_name: "tracer".into(),
            format: SyslogFormat::Rfc5424,
            structured_data: false,
            max_message: Size(64 << 10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    /// A `tracer` heartbeat record this often; 0: never.
    pub heartbeat: Secs,
    pub status_file: PathBuf,
    /// Drop the capabilities not needed once the programs are attached.
    pub drop_capabilities: bool,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            heartbeat: Secs(60),
            status_file: PathBuf::from(DEFAULT_STATUS),
            drop_capabilities: true,
        }
    }
}

/// Kernel-side filters: what the programs drop before it crosses into
/// userspace (counted, not lost). Parsed and checked here; the eBPF loader
/// writes them into the programs' maps.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterConfig {
    /// Drop execs whose auid is unset (daemons, cron before login, boot).
    pub exclude_unattributed: bool,
    /// When non-empty, only execs whose uid is in one of these ranges.
    pub include_uids: Vec<IdRange>,
    pub exclude_uids: Vec<IdRange>,
    /// When non-empty, only execs whose auid is in one of these ranges.
    pub include_auids: Vec<IdRange>,
    pub exclude_auids: Vec<IdRange>,
    /// Drop execs whose new comm (`task->comm`, at most 15 bytes) is one of these.
    pub exclude_comms: Vec<String>,
    /// Drop execs whose exe path starts with one of these.
    pub exclude_exe_prefixes: Vec<String>,
}

impl FilterConfig {
    pub fn is_empty(&self) -> bool {
        *self == FilterConfig::default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// `FILE:LINE: key `x`: message`
    #[error("{file}:{line}: key `{key}`: {message}")]
    At {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

/// The configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read; `None` when the default file does not exist.
    pub path: Option<PathBuf>,
}

/// Reads `explicit`, or the default file when `explicit` is `None` (a missing
/// default file gives the built-in defaults; a missing explicit one is an
/// error).
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_PATH));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Loaded {
                config: Config::default(),
                path: None,
            })
        }
        Err(source) => {
            return Err(ConfigError::Read {
                file: path.display().to_string(),
                source,
            })
        }
    };
    let config = parse(&text, &path.display().to_string())?;
    Ok(Loaded {
        config,
        path: Some(path.to_path_buf()),
    })
}

/// Parses and checks one file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let (line, key) = locate::key_at(text, span.start);
        ConfigError::At {
            file: file.to_string(),
            line,
            key,
            message: e.message().trim().to_string(),
        }
    })?;
    config.check().map_err(|(key, message)| ConfigError::At {
        file: file.to_string(),
        line: locate::line_of_key(text, key),
        key: key.to_string(),
        message,
    })?;
    Ok(config)
}

impl Config {
    /// Checks that need more than the value's type: ranges and combinations.
    /// The error names the dotted key.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        let c = &self.capture;
        if c.argv_limit == 0 || c.argv_limit as usize > tracer_common::event::ARGV_CAP {
            let max = tracer_common::event::ARGV_CAP;
            return Err((
                "capture.argv_limit",
                format!("{} is not between 1 and {max}", c.argv_limit),
            ));
        }
        if !c.ring_size.0.is_power_of_two() || c.ring_size.0 < 4096 || c.ring_size.0 > 1 << 31 {
            return Err((
                "capture.ring_size",
                format!("{} is not a power of two between 4K and 2G", c.ring_size),
            ));
        }
        if c.poll_ms == 0 || c.poll_ms > 10_000 {
            return Err((
                "capture.poll_ms",
                format!("{} is not between 1 and 10000", c.poll_ms),
            ));
        }
        let l = &self.log;
        if l.enabled && !l.file.is_absolute() {
            return Err((
                "log.file",
                format!("{} is not an absolute path", l.file.display()),
            ));
        }
        if l.max_size.0 != 0 && l.num_logs == 0 {
            return Err((
                "log.num_logs",
                "must be at least 1 when max_size is set".into(),
            ));
        }
        if l.flush == FlushMode::Incremental && l.freq == 0 {
            return Err((
                "log.freq",
                "must be at least 1 with flush = \"incremental\"".into(),
            ));
        }
        if let Some(g) = &l.group {
            if crate::sink::file::group_id(g).is_none() {
                return Err(("log.group", format!("no such group: {g:?}")));
            }
        }
        if self.syslog.app_name.is_empty()
            || self.syslog.app_name.len() > 48
            || !self
                .syslog
                .app_name
                .bytes()
                .all(|b| (33..=126).contains(&b))
        {
            return Err((
                "syslog.app_name",
                "must be 1 to 48 printable ASCII characters without spaces".into(),
            ));
        }
        if self.syslog.max_message.0 < 1024 {
            return Err(("syslog.max_message", "must be at least 1K".into()));
        }
        if self.log.chain && !self.log.chain_key.is_absolute() {
            return Err(("log.chain_key", "must be an absolute path".into()));
        }
        if !self.daemon.status_file.as_os_str().is_empty() && !self.daemon.status_file.is_absolute()
        {
            return Err((
                "daemon.status_file",
                "must be an absolute path (or \"\" for none)".into(),
            ));
        }
        self.filter.check()
    }

    /// The effective configuration as TOML (what `--check-config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes")
    }
}

impl FilterConfig {
    fn check(&self) -> Result<(), (&'static str, String)> {
        for (key, list) in [
            ("filter.include_uids", &self.include_uids),
            ("filter.exclude_uids", &self.exclude_uids),
            ("filter.include_auids", &self.include_auids),
            ("filter.exclude_auids", &self.exclude_auids),
        ] {
            if list.len() > MAX_ID_RANGES {
                return Err((key, format!("at most {MAX_ID_RANGES} ranges")));
            }
        }
        if self.exclude_comms.len() > MAX_COMMS {
            return Err(("filter.exclude_comms", format!("at most {MAX_COMMS} names")));
        }
        if let Some(c) = self
            .exclude_comms
            .iter()
            .find(|c| c.is_empty() || c.len() > MAX_COMM_LEN)
        {
            return Err((
                "filter.exclude_comms",
                format!("{c:?}: a comm is 1 to {MAX_COMM_LEN} bytes"),
            ));
        }
        if self.exclude_exe_prefixes.len() > MAX_EXE_PREFIXES {
            return Err((
                "filter.exclude_exe_prefixes",
                format!("at most {MAX_EXE_PREFIXES} prefixes"),
            ));
        }
        if let Some(p) = self
            .exclude_exe_prefixes
            .iter()
            .find(|p| !p.starts_with('/') || p.len() > MAX_EXE_PREFIX_LEN)
        {
            return Err((
                "filter.exclude_exe_prefixes",
                format!(
                    "{p:?}: a prefix is an absolute path of at most {MAX_EXE_PREFIX_LEN} bytes"
                ),
            ));
        }
        Ok(())
    }
}

/// Command-line values that override the file (`None`: not given).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub backend: Option<BackendArg>,
    /// `-` means standard output.
    pub output: Option<PathBuf>,
    pub argv_limit: Option<u32>,
    pub ring_size: Option<u32>,
    pub poll_ms: Option<u64>,
    pub no_proc_scan: bool,
    pub status_file: Option<PathBuf>,
    pub chain_key: Option<PathBuf>,
}

impl Overrides {
    /// Applies the flags to `c`. `from_file` says whether a file was read:
    /// without one and without `--output`, events go to standard output as
    /// an interactive `tracer run` always did.
    pub fn apply(&self, c: &mut Config, from_file: bool) {
        if let Some(b) = self.backend {
            c.capture.backend = b;
        }
        match &self.output {
            Some(p) if p.as_os_str() == "-" => {
                c.log.enabled = false;
                c.log.stdout = true;
            }
            Some(p) => {
                c.log.enabled = true;
                c.log.stdout = false;
                c.log.file = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            }
            None if !from_file => {
                c.log.enabled = false;
                c.log.stdout = true;
            }
            None => {}
        }
        if let Some(v) = self.argv_limit {
            c.capture.argv_limit = v;
        }
        if let Some(v) = self.ring_size {
            c.capture.ring_size = Size(v as u64);
        }
        if let Some(v) = self.poll_ms {
            c.capture.poll_ms = v;
        }
        if self.no_proc_scan {
            c.capture.proc_scan = false;
        }
        if let Some(p) = &self.status_file {
            c.daemon.status_file = p.clone();
        }
        if let Some(p) = &self.chain_key {
            c.log.chain_key = std::path::absolute(p).unwrap_or_else(|_| p.clone());
        }
    }
}

#[cfg(test)]
mod tests;
