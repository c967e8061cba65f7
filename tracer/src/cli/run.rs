//! `tracer run` arguments: clap types only. [`RunArgs::flags`] hands the
//! configuration flags to `config` as plain values ([`Flags`]), where they are
//! merged with the file and checked.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use crate::config::{Backend, Flags};

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

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Backend {
        match b {
            BackendArg::Auto => Backend::Auto,
            BackendArg::Ebpf => Backend::Ebpf,
            BackendArg::Audit => Backend::Audit,
            BackendArg::Both => Backend::Both,
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file [default: /etc/tracer/tracer.toml when it exists].
    /// Flags override its values.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check the configuration (file and flags together), print the effective
    /// one (TOML) and exit; on errors, name the key and the file:line or flag
    /// of each and exit non-zero.
    #[arg(long)]
    pub check_config: bool,
    /// Capture backend [default: auto].
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
    /// Append JSON lines to FILE (created mode 0600; symbolic links are
    /// refused); `-` for stdout. FILE may be in a sticky directory such as
    /// /tmp (then it is created exclusively, or must be ours). Without it: the
    /// configured log file, or stdout when there is no configuration file.
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
    /// State file for `tracer status`, an absolute path [default:
    /// /run/tracer/status.json].
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

impl RunArgs {
    /// The configuration flags, for [`crate::config::resolve`].
    pub fn flags(&self) -> Flags {
        Flags {
            backend: self.backend.map(Backend::from),
            output: self.output.clone(),
            argv_limit: self.argv_limit,
            ring_size: self.ring_size,
            poll_ms: self.poll_ms,
            no_proc_scan: self.no_proc_scan,
            status_file: self.status_file.clone(),
            chain_key: self.chain_key.clone(),
            audit_daemon: self.audit_daemon,
            exclude_unattributed: self.exclude_unattributed,
            include_uid: self.include_uid.clone(),
            exclude_uid: self.exclude_uid.clone(),
            include_auid: self.include_auid.clone(),
            exclude_auid: self.exclude_auid.clone(),
            exclude_comm: self.exclude_comm.clone(),
            exclude_exe_prefix: self.exclude_exe_prefix.clone(),
            ..Flags::default()
        }
    }
}
