//! The enums of the event model, each with its wire name. Open sets (a newer
//! tracer may write values this one does not know) keep the unknown name in
//! an `Other` variant, so that reading and writing a log loses nothing.

/// Declares a `Copy`-less enum with wire names, an `Other(String)` fallback,
/// `as_str()` and `parse()`.
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$vm])* $v,)*
            /// A name this version does not know, kept as written.
            Other(String),
        }
        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$v => $s,)*
                    Self::Other(s) => s,
                }
            }
            pub fn parse(s: &str) -> Self {
                match s {
                    $($s => Self::$v,)*
                    other => Self::Other(other.to_owned()),
                }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// The audit record type of a `login` record (`detail.record_type`).
    LoginType {
        /// The kernel set a login uid and session id (pam_loginuid).
        Login = "LOGIN",
        UserAuth = "USER_AUTH",
        UserAcct = "USER_ACCT",
        CredAcq = "CRED_ACQ",
        CredDisp = "CRED_DISP",
        CredRefr = "CRED_REFR",
        /// PAM session opened (login, sshd, but also sudo, su, cron).
        UserStart = "USER_START",
        /// PAM session closed.
        UserEnd = "USER_END",
        /// A login program's account of a login (sshd, login, gdm).
        UserLogin = "USER_LOGIN",
        UserLogout = "USER_LOGOUT",
        /// sudo's account of a command it ran.
        UserCmd = "USER_CMD",
        UserErr = "USER_ERR",
    }
}

impl LoginType {
    /// The record may open a login session: the login program's session
    /// open or login record (whether it does depends on who wrote it; see
    /// `crate::sessions`).
    pub fn opens(&self) -> bool {
        matches!(self, Self::Login | Self::UserStart | Self::UserLogin)
    }
    /// The record may close a login session (when written by the process
    /// that opened it).
    pub fn closes(&self) -> bool {
        matches!(self, Self::UserEnd | Self::UserLogout)
    }
    /// A failed authentication or login attempt when `res=failed`.
    pub fn is_login_attempt(&self) -> bool {
        matches!(
            self,
            Self::UserAuth | Self::UserLogin | Self::UserAcct | Self::UserErr
        )
    }
}

wire_enum! {
    /// Why records were lost (`cause` of a `loss` record).
    LossCause {
        /// The eBPF ring buffer was full.
        RingBufferFull = "ring_buffer_full",
        /// The eBPF map of execs in flight was full.
        InflightMapFull = "inflight_map_full",
        /// The kernel's audit backlog overflowed (its `lost` counter grew).
        KernelBacklog = "audit_kernel_lost",
        /// The audit netlink socket overran (ENOBUFS): size unknown.
        SocketOverrun = "audit_socket_overrun",
        /// Audit records that could not be parsed.
        Parse = "parse",
        /// The log file's disk was full.
        DiskFull = "disk_full",
        /// Writing stopped at `admin_space_left`.
        AdminSpaceLeft = "admin_space_left",
        /// The syslog sink dropped records.
        Syslog = "syslog",
        Unknown = "unknown",
    }
}

impl LossCause {
    /// [`LossCause::parse`], also taking the texts tracer 0.1 wrote for
    /// audit losses.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "audit: socket overrun (ENOBUFS)" => Self::SocketOverrun,
            "audit: kernel lost counter" => Self::KernelBacklog,
            other => Self::parse(other),
        }
    }
    /// Losses of a sink (counted where they happen, not as capture losses).
    pub fn is_sink_loss(&self) -> bool {
        matches!(self, Self::DiskFull | Self::AdminSpaceLeft | Self::Syslog)
    }
}

wire_enum! {
    /// What a `tracer` record says (`detail.status`).
    TracerStatus {
        Start = "start",
        Stop = "stop",
        Heartbeat = "heartbeat",
        /// tracer was not running (or not writing) between two records.
        Gap = "gap",
        Reload = "reload",
        ReloadFailed = "reload_failed",
        Capabilities = "capabilities",
        SpaceLeft = "space_left",
        AdminSpaceLeft = "admin_space_left",
        /// The oldest rotated log was deleted to make room.
        KeepNewest = "keep_newest",
        /// The first record of a log file: host and boot id.
        File = "file",
    }
}

wire_enum! {
    /// How an exec came to run as another identity than the login user's.
    Via {
        Sudo = "sudo",
        Su = "su",
        /// uid or euid differs from auid, without sudo or su in the ancestry.
        Setuid = "setuid",
    }
}

wire_enum! {
    /// What a session is.
    SessionKind {
        /// A person logged in: ssh, console, display manager.
        Interactive = "interactive",
        /// A cron job (pam_loginuid in cron's PAM stack).
        Cron = "cron",
        /// A `systemd --user` manager (its own PAM session).
        UserManager = "user_manager",
        /// A Slurm batch job or job step.
        BatchJob = "batch_job",
        /// Another service that opened a PAM session with pam_loginuid.
        Service = "service",
    }
}

wire_enum! {
    /// Why a session ended.
    EndReason {
        /// The login ended (logout record, or its last process exited).
        Logout = "logout",
        /// No event for longer than the idle expiry, or evicted for room.
        Expired = "expired",
    }
}

wire_enum! {
    /// What a cross-check found.
    DiscrepancyKind {
        OnlyEbpf = "only_ebpf",
        OnlyAudit = "only_audit",
        Mismatch = "mismatch",
    }
}

/// `res=` of a login record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginResult {
    Success,
    Failed,
    /// Written as it was.
    Other(String),
}

impl LoginResult {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Other(s) => s,
        }
    }
    /// audit's spellings: `success`/`yes`/`1` and `failed`/`no`/`0`.
    pub fn parse(s: &str) -> Self {
        match s {
            "success" | "yes" | "1" => Self::Success,
            "failed" | "no" | "0" => Self::Failed,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// The result of an exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outcome {
    #[default]
    Success,
    /// The negative errno.
    Failed(i64),
    /// The log does not say (an audit EXECVE without its SYSCALL record).
    Unknown,
}

impl Outcome {
    /// From a syscall's return value.
    pub fn from_ret(ret: i64) -> Self {
        if ret < 0 {
            Self::Failed(ret)
        } else {
            Self::Success
        }
    }
    /// `ret` as written: 0, the negative errno, or none.
    pub fn ret(self) -> Option<i64> {
        match self {
            Self::Success => Some(0),
            Self::Failed(r) => Some(r),
            Self::Unknown => None,
        }
    }
}
