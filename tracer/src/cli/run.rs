//! `tracer run` arguments.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
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
    /// Capture backend.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: BackendArg,
    /// Append JSON lines to FILE instead of stdout (created mode 0600;
    /// symbolic links are refused).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Most argv bytes captured per exec (eBPF; 1 to 131072).
    #[arg(long, value_name = "BYTES", default_value_t = tracer_common::config::DEFAULT_ARGV_LIMIT)]
    pub argv_limit: u32,
    /// eBPF ring buffer size in bytes (a power of two).
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20)]
    pub ring_size: u32,
    /// How often the ring buffer is drained without a wake-up, in ms.
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub poll_ms: u64,
    /// Audit backend: register as the audit daemon (unicast) instead of
    /// listening beside one. Refused while another daemon is registered.
    #[arg(long)]
    pub audit_daemon: bool,
    /// Do not emit `process` records for processes alive at start.
    #[arg(long)]
    pub no_proc_scan: bool,
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
