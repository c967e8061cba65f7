//! The one owned event model. Every source (eBPF, audit netlink, audit log
//! files, `/proc` scan) produces [`Event`]s; every sink, the session tracker, the
//! cross-check and the report consume them.
//!
//! An event is a common header (time, host, source, and the [`Task`] it is
//! about) plus a typed [`Body`] per kind: what used to be strings in a JSON
//! `detail` bag are enums here ([`LoginType`], [`Outcome`], [`LossCause`],
//! [`TracerStatus`], [`Via`], [`SessionKind`]). The JSON form (one object per
//! line) is tracer's log format and a public interface: it stays flat, with
//! the kind-specific fields that have no top-level key under `detail`, as
//! [`wire`] documents. Field names are never renamed; new ones may be added.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Bytes;

mod kinds;
pub mod rfc3339;
pub mod wire;

pub use crate::sessions::job::Job;
pub use kinds::*;

/// The value of `auid`/`ses` when `pam_loginuid` never set them ("unset").
pub const UNSET: u32 = u32::MAX;

/// What a record is (`type` in JSON). Derived from the [`Body`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A successful exec (or one whose outcome the log does not say).
    Exec,
    /// An execve/execveat that failed; `ret` holds the negative errno.
    ExecFailed,
    /// A process ended; `exit_code`/`signal` say how.
    Exit,
    /// Events were lost; `count` says how many, `cause` why, `from`..`until` when.
    Loss,
    /// A login session was first seen (or its login record arrived).
    SessionStart,
    /// A login session ended.
    SessionEnd,
    /// A process that was alive before tracer started, found in `/proc`.
    Process,
    /// A cross-check finding: an exec seen by one source only, or fields that
    /// disagree between sources.
    Discrepancy,
    /// tracer itself: start, stop, heartbeat, configuration changes, gaps.
    Tracer,
    /// A login-related audit record (USER_LOGIN, USER_AUTH, CRED_ACQ, ...).
    Login,
    /// A record type this version does not know (from a newer tracer).
    #[serde(other)]
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Exec => "exec",
            Kind::ExecFailed => "exec_failed",
            Kind::Exit => "exit",
            Kind::Loss => "loss",
            Kind::SessionStart => "session_start",
            Kind::SessionEnd => "session_end",
            Kind::Process => "process",
            Kind::Discrepancy => "discrepancy",
            Kind::Tracer => "tracer",
            Kind::Login => "login",
            Kind::Unknown => "unknown",
        }
    }
}

/// Where a record came from (`source` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Ebpf,
    Audit,
    Proc,
    Tracer,
    #[serde(other)]
    Unknown,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Ebpf => "ebpf",
            Source::Audit => "audit",
            Source::Proc => "proc",
            Source::Tracer => "tracer",
            Source::Unknown => "unknown",
        }
    }
}

/// Wall-clock time in nanoseconds since the Unix epoch, written as RFC 3339
/// with nanoseconds in UTC (`2026-11-24T18:53:20.123456789Z`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Self(d.as_nanos() as i64)
    }
    pub fn from_secs_nanos(secs: i64, nanos: u32) -> Self {
        Self(
            secs.saturating_mul(1_000_000_000)
                .saturating_add(nanos as i64),
        )
    }
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1_000_000_000)
    }
    pub fn subsec_nanos(self) -> u32 {
        self.0.rem_euclid(1_000_000_000) as u32
    }
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.secs(), self.subsec_nanos()).unwrap_or_default()
    }
    pub fn to_rfc3339(self) -> String {
        rfc3339::as_str(&rfc3339::format(self.0)).to_owned()
    }
    pub fn parse_rfc3339(s: &str) -> Option<Self> {
        let dt = DateTime::parse_from_rfc3339(s).ok()?;
        Some(Self::from_secs_nanos(
            dt.timestamp(),
            dt.timestamp_subsec_nanos(),
        ))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(rfc3339::as_str(&rfc3339::format(self.0)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(rfc3339::as_str(&rfc3339::format(self.0)))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(rfc3339::as_str(&rfc3339::format(self.0)))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

/// The process a record is about: the exec'ing task, the exiting one, the
/// login program that wrote a PAM record, a session's first process. Every
/// field is optional because every source knows a different subset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    pub pid: Option<u32>,
    /// The thread that called exec, when it was not the thread-group leader.
    pub tid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    /// Audit login uid; [`UNSET`] (4294967295) when never set.
    pub auid: Option<u32>,
    /// Audit session id; [`UNSET`] (4294967295) when never set.
    pub ses: Option<u32>,
    /// Controlling terminal (`pts/3`), empty string when none.
    pub tty: Option<String>,
    pub comm: Option<Bytes>,
    pub exe: Option<Bytes>,
    /// cgroup v2 id.
    pub cgroup_id: Option<u64>,
    /// cgroup v2 path (`/user.slice/user-1000.slice/session-3.scope`).
    pub cgroup: Option<String>,
    /// Process start, nanoseconds since boot: with `pid`, unique across pid reuse.
    pub start_boottime: Option<u64>,
}

impl Task {
    /// The login uid, `None` when unset or absent.
    pub fn login_uid(&self) -> Option<u32> {
        self.auid.filter(|&a| a != UNSET)
    }
    /// The session id, `None` when unset or absent.
    pub fn session_id(&self) -> Option<u32> {
        self.ses.filter(|&s| s != UNSET)
    }
}

/// An exec (successful, failed, or of unknown outcome), or a process found
/// running at start-up (`process`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exec {
    pub argv: Option<Vec<Bytes>>,
    pub cwd: Option<Bytes>,
    pub outcome: Outcome,
    /// The real argument count (may exceed `argv.len()` when truncated).
    pub argc: Option<u32>,
    /// The real size of the argument area in bytes.
    pub args_size: Option<u64>,
    /// argv (or exe/cwd) was cut: bytes the program was given are missing.
    pub truncated: bool,
    /// The log had no record of the arguments (an audit event without its
    /// EXECVE record): `argv` is empty, not guessed.
    pub argv_missing: bool,
    /// The executable has no link in any filesystem: run from a
    /// `memfd_create` file, or deleted after it was opened.
    pub fileless: bool,
    /// How the exec came to run as another identity than the login user's.
    pub via: Option<Via>,
    /// The batch job (Slurm) the process ran in, from its cgroup (see
    /// [`crate::sessions::job`]); wire fields `job`, `job_step`, `job_uid`.
    pub job: Option<Job>,
    /// The login user's name as the recording host knew it (ENRICHED audit
    /// logs: `AUID="alice"`).
    pub user: Option<String>,
    /// Audit event serial number (`msg=audit(T:SERIAL)`).
    pub serial: Option<u64>,
    /// Audit rule key.
    pub key: Option<String>,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Exit {
    /// The exit status (0-255) when the process exited normally.
    pub exit_code: Option<i32>,
    /// The signal that killed the process.
    pub signal: Option<i32>,
    /// The process led its audit session (its parent had another `ses`;
    /// it is where the login set the login uid, e.g. sshd's per-login
    /// process). The login is over once it and the session's execs are gone.
    pub session_leader: bool,
}

/// Records that never reached the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loss {
    /// How many; `None` when the size of the gap is unknown (socket overrun).
    pub count: Option<u64>,
    pub cause: LossCause,
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Of `count`, how many were exec (and exec_failed) records, when known.
    pub execs: Option<u64>,
    /// Of `count`, how many were exit records, when known.
    pub exits: Option<u64>,
    /// Failed execs whose start could not be tracked (eBPF in-flight map full).
    pub exec_failed_unseen: Option<u64>,
    /// The log file that could not be written (sink losses).
    pub file: Option<String>,
}

/// A login-related audit record (PAM, sshd, sudo, su, the kernel's LOGIN).
/// The task header holds the writing process (`pid`, `uid`, `auid`, `ses`,
/// `exe`, `tty`); a LOGIN record's `auid`/`ses` are the new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginRecord {
    pub record_type: LoginType,
    /// `res=`: success or failure of the operation.
    pub res: Option<LoginResult>,
    /// PAM operation (`PAM:session_open`).
    pub op: Option<String>,
    /// The account the operation was for (`acct=`), as bytes.
    pub acct: Option<Bytes>,
    /// USER_CMD: the command sudo ran (decoded from hex).
    pub cmd: Option<Bytes>,
    /// USER_CMD: the directory sudo ran it in.
    pub cwd: Option<Bytes>,
    /// PAM `terminal=` (a tty, or a service name: `ssh`, `cron`).
    pub terminal: Option<String>,
    /// PAM `hostname=`: the remote host name or address.
    pub hostname: Option<String>,
    pub grantors: Option<String>,
    /// The remote address and port.
    pub addr: Option<String>,
    pub port: Option<u16>,
    /// A uid the record is about (`id=` of useradd, USER_ACCT...).
    pub id: Option<u32>,
    /// LOGIN: the login uid and session before the change.
    pub old_auid: Option<u32>,
    pub old_ses: Option<u32>,
    /// ENRICHED logs: the names auditd resolved on the recording host
    /// (`AUID="alice"`, `UID="root"` after the 0x1d separator).
    pub auid_name: Option<String>,
    pub uid_name: Option<String>,
    /// Audit event serial number.
    pub serial: Option<u64>,
}

impl LoginRecord {
    pub fn new(record_type: LoginType) -> Self {
        Self {
            record_type,
            res: None,
            op: None,
            acct: None,
            cmd: None,
            cwd: None,
            terminal: None,
            hostname: None,
            grantors: None,
            addr: None,
            port: None,
            id: None,
            old_auid: None,
            old_ses: None,
            auid_name: None,
            uid_name: None,
            serial: None,
        }
    }
    /// Whether the record reports success (`res=success`, or no `res`).
    pub fn succeeded(&self) -> bool {
        !matches!(self.res, Some(LoginResult::Failed))
    }
}

/// A login session was first seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionStart {
    pub addr: Option<String>,
    pub port: Option<u16>,
    /// Brought back by the `/proc` scan after a restart of tracer: the start
    /// is that of the session's oldest process, and the report joins it with
    /// the record written before the restart.
    pub resumed: bool,
    pub kind: Option<SessionKind>,
    /// The login service (`sshd`, `login`, `cron`).
    pub service: Option<String>,
    /// The login user's name, resolved when the session was recorded.
    pub user: Option<String>,
}

/// A login session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub addr: Option<String>,
    /// When the session started.
    pub from: Option<Timestamp>,
    pub reason: EndReason,
    pub kind: Option<SessionKind>,
    pub user: Option<String>,
}

/// One field on which the sources disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldDiff {
    pub name: String,
    pub ebpf: serde_json::Value,
    pub audit: serde_json::Value,
}

/// A cross-check finding. The task header and `exec` copy the exec it is
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    pub what: DiscrepancyKind,
    pub seen_by: Source,
    /// Whether a loss of the other source covers it (decided when the
    /// finding is final; absent on field mismatches).
    pub explained_by_loss: Option<bool>,
    /// Found when tracer stopped (the other source may just not have
    /// delivered it yet).
    pub at_shutdown: bool,
    pub fields: Vec<FieldDiff>,
    pub exec: Exec,
}

/// tracer's own record: its status, and what goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct TracerRecord {
    pub status: TracerStatus,
    /// The kernel's boot id (`/proc/sys/kernel/random/boot_id`): on the
    /// start record and at the head of each log file, so that every record
    /// of a file is tied to a boot (audit session ids restart at boot).
    pub boot: Option<String>,
    /// A `gap`: from the last record of the previous run until this one.
    pub from: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Status-specific figures (counters at stop, the configuration keys of
    /// a reload, ...), written as they are under `detail`.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// What kind of record an event is, with its kind-specific data.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Exec(Exec),
    Process(Exec),
    Exit(Exit),
    Loss(Loss),
    Login(LoginRecord),
    SessionStart(SessionStart),
    SessionEnd(SessionEnd),
    Discrepancy(Box<Discrepancy>),
    Tracer(TracerRecord),
    /// A record type this version does not know.
    Unknown,
}

/// The kind of an exec record with `outcome`.
pub fn exec_kind(outcome: Outcome) -> Kind {
    if matches!(outcome, Outcome::Failed(_)) {
        Kind::ExecFailed
    } else {
        Kind::Exec
    }
}

/// One record.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: Timestamp,
    /// The machine the record is about; empty when the input did not say.
    pub host: String,
    pub source: Source,
    pub task: Task,
    pub body: Body,
}

impl Event {
    pub fn new(source: Source, time: Timestamp, host: impl Into<String>, body: Body) -> Self {
        Self {
            time,
            host: host.into(),
            source,
            task: Task::default(),
            body,
        }
    }

    /// A `tracer` record with `status` and status-specific `fields` (a JSON
    /// object; anything else is dropped).
    pub fn tracer(host: &str, status: TracerStatus, fields: serde_json::Value) -> Self {
        let fields = match fields {
            serde_json::Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        Self::new(
            Source::Tracer,
            Timestamp::now(),
            host,
            Body::Tracer(TracerRecord {
                status,
                boot: None,
                from: None,
                until: None,
                fields,
            }),
        )
    }

    /// A `loss` record with only a count and cause.
    pub fn loss(
        source: Source,
        time: Timestamp,
        host: &str,
        count: Option<u64>,
        cause: LossCause,
    ) -> Self {
        Self::new(
            source,
            time,
            host,
            Body::Loss(Loss {
                count,
                cause,
                from: None,
                until: None,
                execs: None,
                exits: None,
                exec_failed_unseen: None,
                file: None,
            }),
        )
    }

    pub fn kind(&self) -> Kind {
        match &self.body {
            Body::Exec(e) => exec_kind(e.outcome),
            Body::Process(_) => Kind::Process,
            Body::Exit(_) => Kind::Exit,
            Body::Loss(_) => Kind::Loss,
            Body::Login(_) => Kind::Login,
            Body::SessionStart(_) => Kind::SessionStart,
            Body::SessionEnd(_) => Kind::SessionEnd,
            Body::Discrepancy(_) => Kind::Discrepancy,
            Body::Tracer(_) => Kind::Tracer,
            Body::Unknown => Kind::Unknown,
        }
    }

    /// The exec data of an exec, exec_failed or process record.
    pub fn exec(&self) -> Option<&Exec> {
        match &self.body {
            Body::Exec(e) | Body::Process(e) => Some(e),
            _ => None,
        }
    }

    pub fn exec_mut(&mut self) -> Option<&mut Exec> {
        match &mut self.body {
            Body::Exec(e) | Body::Process(e) => Some(e),
            _ => None,
        }
    }

    /// The login uid, `None` when unset or absent.
    pub fn login_uid(&self) -> Option<u32> {
        self.task.login_uid()
    }

    /// The session id, `None` when unset or absent.
    pub fn session_id(&self) -> Option<u32> {
        self.task.session_id()
    }

    pub fn is_exec(&self) -> bool {
        matches!(self.body, Body::Exec(_))
    }

    /// One JSON line (no trailing newline).
    pub fn to_json(&self) -> String {
        let mut v = Vec::with_capacity(256);
        wire::write(self, &mut v);
        // serde_json writes only UTF-8.
        String::from_utf8(v).unwrap_or_default()
    }

    /// Appends the JSON line (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        wire::write(self, out);
    }

    /// Parses one JSON line of tracer's log.
    pub fn from_json(line: &str) -> Result<Self, serde_json::Error> {
        wire::read(line)
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::WireRef::from(self).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        wire::Wire::deserialize(d)?
            .into_event()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
