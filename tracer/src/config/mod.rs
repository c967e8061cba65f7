//! tracer's configuration: the file (`/etc/tracer/tracer.toml`, its types
//! and defaults here; `rules/tracer.toml.example` documents every option),
//! the flags of `tracer run` ([`Flags`]), and the one pipeline that merges
//! them, checks the whole once and hands each part its typed settings
//! ([`resolve`] -> [`Settings`], in `settings.rs`; the rules are in
//! `check.rs`). Errors name the key and where its value came from: the
//! file's line, the flag, or the default. `reload.rs` says what a SIGHUP may
//! change. Nothing here knows the CLI's types.

mod check;
mod flags;
mod locate;
pub mod reload;
mod settings;
pub mod value;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::source::ebpf::filter::FilterSpec;
pub use flags::Flags;
pub use settings::{load, parse, resolve, ConfigError, Loaded, Origin, Problem, Settings};
pub use value::{Facility, Secs, Size, SyslogTarget, Threshold};

/// Where the daemon reads its configuration unless `--config` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/tracer/tracer.toml";
pub const DEFAULT_LOG: &str = "/var/log/tracer/tracer.log";
pub const DEFAULT_STATUS: &str = "/run/tracer/status.json";

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub capture: CaptureConfig,
    pub log: LogConfig,
    pub syslog: SyslogConfig,
    pub daemon: DaemonConfig,
    pub crosscheck: CrossCheckConfig,
    /// Kernel-side filters: what the programs drop before it crosses into
    /// userspace (counted, not lost). The type the eBPF loader takes.
    pub filter: FilterSpec,
    /// The ClickHouse fleet: where `tracer ship` sends this node's log and
    /// where `tracer report` reads the fleet's records.
    pub fleet: FleetConfig,
}

/// `[fleet]`: ClickHouse URLs (`clickhouse://HOST[:PORT]/DB` or
/// `https://HOST[:PORT]/DB`) and the files that go with them. `tracer run`
/// reads none of it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FleetConfig {
    /// This node's shard: what `tracer ship` sends to when no URL is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// What `tracer report` reads when given neither input files nor
    /// `--from` (a server with the `*_all` Distributed tables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_from: Option<String>,
    /// `user =` / `password =` file (root-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credentials: Option<PathBuf>,
    /// CA certificates (PEM) for `https://` URLs; default: the system bundle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

/// Which capture sources run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// eBPF when it loads, else audit (the reason is logged once).
    Auto,
    /// eBPF programs on the exec tracepoints.
    Ebpf,
    /// The kernel audit subsystem over netlink.
    Audit,
    /// Both, cross-checked against each other.
    Both,
}

/// Which cgroup hierarchy the exec program reads batch jobs from (see
/// README, "Batch jobs").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobHierarchy {
    /// The v1 freezer where it is mounted (v1 and hybrid hosts), else the
    /// unified tree.
    #[default]
    Auto,
    /// The v1 freezer.
    Freezer,
    /// The unified (v2) tree.
    Unified,
    /// No job walk (hosts that run no batch jobs save a few probe reads
    /// per exec).
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaptureConfig {
    pub backend: Backend,
    pub jobs: JobHierarchy,
    pub argv_limit: u32,
    pub ring_size: Size,
    pub poll_ms: u64,
    pub proc_scan: bool,
}

impl Default for CaptureConfig {
    /// The eBPF source's own defaults.
    fn default() -> Self {
        let e = crate::source::ebpf::EbpfOptions::default();
        Self {
            backend: Backend::Auto,
            jobs: JobHierarchy::Auto,
            argv_limit: e.argv_limit,
            ring_size: Size(e.ring_bytes.into()),
            poll_ms: e.poll.as_millis() as u64,
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
    /// Not a file key: set by `--output`, whose file may be in a sticky
    /// world-writable directory such as /tmp (see `sink::file::DirPolicy`).
    /// The configured log directory keeps the strict check.
    #[serde(skip)]
    pub dir_policy: crate::sink::file::DirPolicy,
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
            dir_policy: crate::sink::file::DirPolicy::Strict,
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

/// The eBPF/audit cross-check (`backend = "both"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrossCheckConfig {
    /// How long an exec seen by one source waits for the other's copy before
    /// it counts as missed.
    pub window: Secs,
}

impl Default for CrossCheckConfig {
    fn default() -> Self {
        Self { window: Secs(5) }
    }
}

impl Config {
    /// The configuration as TOML (what `--check-config` prints).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("the configuration serializes")
    }
}

#[cfg(test)]
mod tests;
