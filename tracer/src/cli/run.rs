//! `tracer run` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendArg {
    /// eBPF when it loads, else audit (the reason is logged once).
    Auto,
    /// eBPF programs on the exec tracepoints.
    Ebpf,
    /// The kernel audit subsystem over netlink.
    Audit,
    /// Both, cross-checked against each other.
    Both,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file [default: /etc/tracer/tracer.toml when it exists].
    /// Flags override its values.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration, print the effective one (TOML) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Capture backend [default: auto].
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Append JSON lines to FILE (created mode 0600; symbolic links are
    /// refused); `-` for stdout. Without it: the configured log file, or
    /// stdout when there is no configuration file.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Most argv bytes captured per exec (eBPF; 1 to 131072) [default: 32768].
    #[arg(long, value_name = "BYTES")]
    pub argv_limit: Option<u32>,
    /// eBPF ring buffer size in bytes (a power of two) [default: 32 MiB].
    #[arg(long, value_name = "BYTES")]
    pub ring_size: Option<u32>,
    /// How often the ring buffer is drained without a wake-up, in ms [default: 50].
    #[arg(long, value_name = "MS")]
    pub poll_ms: Option<u64>,
    /// Do not emit `process` records for processes alive at start.
    #[arg(long)]
    pub no_proc_scan: bool,
    /// State file for `tracer status` [default: /run/tracer/status.json].
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
    /// Key of the log's tamper-evident hash chain (32 bytes, root-only;
    /// created when missing) [default: /var/lib/tracer/chain.key].
    #[arg(long, value_name = "FILE")]
    pub chain_key: Option<PathBuf>,
    /// Audit backend: register as the audit daemon (unicast) instead of
    /// listening beside one. Refused while another daemon is registered.
    #[arg(long)]
    pub audit_daemon: bool,
    /// Kernel-side filter: drop execs and exits of processes without a login
    /// uid (daemons, cron without pam_loginuid). Counted, not lost.
    #[arg(long)]
    pub exclude_unattributed: bool,
    /// Kernel-side filter: keep only these real uids (`1000-60000`, `0`; repeatable).
    #[arg(long, value_name = "RANGE")]
    pub include_uid: Vec<String>,
    /// Kernel-side filter: drop these real uids (repeatable).
    #[arg(long, value_name = "RANGE")]
    pub exclude_uid: Vec<String>,
    /// Kernel-side filter: keep only these login uids (repeatable).
    #[arg(long, value_name = "RANGE")]
    pub include_auid: Vec<String>,
    /// Kernel-side filter: drop these login uids (repeatable).
    #[arg(long, value_name = "RANGE")]
    pub exclude_auid: Vec<String>,
    /// Kernel-side filter: drop execs by processes with this comm (repeatable).
    #[arg(long, value_name = "COMM")]
    pub exclude_comm: Vec<String>,
    /// Kernel-side filter: drop execs whose exe path starts with PREFIX (repeatable).
    #[arg(long, value_name = "PREFIX")]
    pub exclude_exe_prefix: Vec<String>,
}
