//! The one owned event model. Every source (eBPF, audit netlink, audit log
//! files, `/proc` scan) produces [`Event`]s; every sink, the session tracker, the
//! cross-check and the report consume them. Its JSON form (one object per line)
//! is tracer's log format, so field names here are a public interface: add
//! fields, never rename them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::bytes::Bytes;

/// The value of `auid`/`ses` when `pam_loginuid` never set them ("unset").
pub const UNSET: u32 = u32::MAX;

/// What a record is (`type` in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A successful exec.
    Exec,
    /// An execve/execveat that failed; `ret` holds the negative errno.
    ExecFailed,
    /// A process ended; `exit_code`/`signal` say how.
    Exit,
    /// Events were lost; `count` says how many, `cause` why, `from`..`until` when.
    Loss,
    /// A login session was first seen (or its login record arrived).
    SessionStart,
    /// A login session ended (its last process exited, or USER_END arrived).
    SessionEnd,
    /// A process that was alive before tracer started, found in `/proc`.
    Process,
    /// A cross-check finding: an exec seen by one source only, or fields that
    /// disagree between sources.
    Discrepancy,
    /// tracer itself: start, stop, heartbeat, configuration changes, gaps.
    Tracer,
    /// A login-related audit record (USER_LOGIN, USER_AUTH, CRED_ACQ, ...) kept
    /// for the report; `detail.record_type` names it.
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
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
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
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse_rfc3339(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {s:?}")))
    }
}

/// One record. Flat, with optional fields, because its JSON form is read by
/// people and by log pipelines that expect flat keys; which fields are set
/// depends on `kind` (see each field).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub time: Timestamp,
    #[serde(default)]
    pub host: String,
    pub source: Source,

    // --- process identity (exec, exec_failed, exit, process) ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// The thread that called exec, when it was not the thread-group leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub euid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egid: Option<u32>,
    /// Audit login uid; [`UNSET`] (4294967295) when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auid: Option<u32>,
    /// Audit session id; [`UNSET`] (4294967295) when never set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses: Option<u32>,
    /// Controlling terminal (`pts/3`), empty string when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comm: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<Bytes>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Bytes>,
    /// 0, or the negative errno of a failed exec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ret: Option<i64>,
    /// The real argument count (may exceed `argv.len()` when truncated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argc: Option<u32>,
    /// The real size of the argument area in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args_size: Option<u64>,
    /// argv (or exe/cwd) was cut at the capture limit.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// The executable has no link in any filesystem: run from a
    /// `memfd_create` file, or deleted after it was opened.
    #[serde(default, skip_serializing_if = "is_false")]
    pub fileless: bool,
    /// cgroup v2 id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_id: Option<u64>,
    /// cgroup v2 path (`/user.slice/user-1000.slice/session-3.scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    /// Process start, nanoseconds since boot: with `pid`, unique across pid reuse.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_boottime: Option<u64>,
    /// exit: the exit status (0-255) when the process exited normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// exit: the signal that killed the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal: Option<i32>,
    /// exit: the process led its audit session (its parent had another `ses`;
    /// it is where the login set the login uid, e.g. sshd's per-login
    /// process). The login is over once it and the session's execs are gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub session_leader: bool,

    /// How an exec came to run as another identity than the login user's:
    /// `sudo`, `su`, `setuid` (uid or euid differs from auid), or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// Batch job id (Slurm), from the cgroup path (`.../job_<id>/...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// session_start/session_end: the login user's name, resolved when the
    /// record was written, so the log names its users wherever it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// session_start/session_end: what the session is (`interactive`,
    /// `cron`, `systemd-user`, `service`, `unknown`; see `crate::sessions`).
    #[serde(rename = "kind", default, skip_serializing_if = "Option::is_none")]
    pub session_kind: Option<String>,

    // --- loss ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,

    // --- sessions ---
    /// Login source address (ssh client) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,

    // --- audit ---
    /// Audit event serial number (`msg=audit(T:SERIAL)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<u64>,
    /// Audit rule key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,

    /// Anything specific to one kind (a discrepancy's fields, a login record's
    /// type and result, tracer's own status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Event {
    /// A record with only the mandatory fields set.
    pub fn new(kind: Kind, source: Source, time: Timestamp, host: impl Into<String>) -> Self {
        Self {
            kind,
            time,
            host: host.into(),
            source,
            pid: None,
            tid: None,
            ppid: None,
            uid: None,
            euid: None,
            gid: None,
            egid: None,
            auid: None,
            ses: None,
            tty: None,
            comm: None,
            exe: None,
            argv: None,
            cwd: None,
            ret: None,
            argc: None,
            args_size: None,
            truncated: false,
            fileless: false,
            cgroup_id: None,
            cgroup: None,
            start_boottime: None,
            exit_code: None,
            signal: None,
            session_leader: false,
            via: None,
            job: None,
            user: None,
            session_kind: None,
            count: None,
            cause: None,
            from: None,
            until: None,
            addr: None,
            port: None,
            serial: None,
            key: None,
            detail: None,
        }
    }

    /// The login uid, `None` when unset or absent.
    pub fn login_uid(&self) -> Option<u32> {
        self.auid.filter(|&a| a != UNSET)
    }

    /// The session id, `None` when unset or absent.
    pub fn session_id(&self) -> Option<u32> {
        self.ses.filter(|&s| s != UNSET)
    }

    pub fn is_exec(&self) -> bool {
        matches!(self.kind, Kind::Exec | Kind::ExecFailed)
    }

    /// One JSON line (no trailing newline). Serialization of this type cannot
    /// fail: all keys are strings and all values are plain data.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("Event serializes infallibly")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_format_has_nanoseconds() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 5);
        assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.000000005Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn exec_event_json_keys() {
        let mut e = Event::new(Kind::Exec, Source::Ebpf, Timestamp(0), "h");
        e.pid = Some(1);
        e.argv = Some(vec![Bytes::from("a"), Bytes::from("")]);
        e.auid = Some(UNSET);
        let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(j["type"], "exec");
        assert_eq!(j["source"], "ebpf");
        assert_eq!(j["argv"], serde_json::json!(["a", ""]));
        assert_eq!(j["auid"], 4294967295u64);
        let back: Event = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn unknown_type_and_fields_are_tolerated() {
        let e: Event = serde_json::from_str(
            r#"{"type":"future","time":"2026-01-01T00:00:00Z","source":"ebpf","new_field":1}"#,
        )
        .unwrap();
        assert_eq!(e.kind, Kind::Unknown);
    }
}
