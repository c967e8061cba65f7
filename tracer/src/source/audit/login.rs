//! Login and session records (PAM, sshd, sudo, su, and the kernel's LOGIN)
//! to `login` [`Event`]s.
//!
//! Each is a complete event on its own. The session tracker and the report
//! read them for session start (USER_START, USER_LOGIN), end (USER_END,
//! USER_LOGOUT), the source address, and sudo commands (USER_CMD); what is
//! specific to a record goes into its [`LoginRecord`] body (written under
//! `detail` with the record's own field names: `{"record_type":
//! "USER_START", "op": "PAM:session_open", "acct": "alice", "res": "success",
//! "hostname": "...", "terminal": "ssh", "cmd": "..."}`). A LOGIN record (the
//! kernel setting a login uid) gives the new auid and ses as `auid`/`ses`,
//! the old ones as `old_auid`/`old_ses`.

use super::exec::syscall_tty;
use super::parse::Record;
use super::rtype::RecordType;
use super::value::Value;
use crate::bytes::{encode, Bytes};
use crate::event::{Body, Event, LoginRecord, LoginResult, LoginType, Source, Task};

/// The record types that become `login` events.
pub const LOGIN_TYPES: &[RecordType] = &[
    RecordType::LOGIN,
    RecordType::USER_AUTH,
    RecordType::USER_ACCT,
    RecordType::CRED_ACQ,
    RecordType::CRED_DISP,
    RecordType::USER_START,
    RecordType::USER_END,
    RecordType::CRED_REFR,
    RecordType::USER_LOGIN,
    RecordType::USER_LOGOUT,
    RecordType::USER_CMD,
];

pub fn is_login_type(t: RecordType) -> bool {
    LOGIN_TYPES.contains(&t)
}

/// The `login` event for one record of a [`LOGIN_TYPES`] type.
pub fn login_event(rec: &Record<'_>, host: &str) -> Event {
    let mut l = LoginRecord::new(LoginType::parse(&rec.rtype.to_string()));
    l.serial = Some(rec.serial);
    let mut t = Task::default();
    let is_login = rec.rtype == RecordType::LOGIN;
    for f in rec.fields() {
        let v = f.value;
        // Identity fields outside msg='...' are the sending process's; the same
        // names inside describe something else (e.g. an added user's uid).
        match (f.name, f.in_msg) {
            (b"pid", false) => t.pid = t.pid.or(v.to_u32()),
            (b"uid", false) => t.uid = t.uid.or(v.to_u32()),
            // Old kernels wrote `old auid=1 new auid=2`: the last one is new.
            (b"auid", false) if is_login => t.auid = v.to_id().or(t.auid),
            (b"ses", false) if is_login => t.ses = v.to_id().or(t.ses),
            (b"auid", false) => t.auid = t.auid.or(v.to_id()),
            (b"ses", false) => t.ses = t.ses.or(v.to_id()),
            (b"old-auid", false) => l.old_auid = v.to_id(),
            (b"old-ses", false) => l.old_ses = v.to_id(),
            (b"tty", false) => t.tty = syscall_tty(v.raw()),
            (b"res", _) => l.res = Some(LoginResult::parse(&String::from_utf8_lossy(v.raw()))),
            (b"exe", true) => t.exe = v.untrusted().map(|x| Bytes(x.into_owned())),
            (b"addr", true) => l.addr = known(&v).map(|a| String::from_utf8_lossy(a).into_owned()),
            (b"rport", true) => l.port = v.to_u32().and_then(|p| u16::try_from(p).ok()),
            (b"terminal", true) => {
                if let Some(x) = known(&v) {
                    t.tty = terminal_tty(x);
                    l.terminal = Some(encode(x));
                }
            }
            (b"cwd", true) => l.cwd = v.untrusted().map(|x| Bytes(x.into_owned())),
            (b"id", true) => l.id = l.id.or(v.to_u32()),
            // Written by libaudit as quoted text or hex.
            (b"acct", true) if l.acct.is_none() => {
                l.acct = known(&v)
                    .and_then(|_| v.untrusted())
                    .map(|x| Bytes(x.into_owned()));
            }
            (b"cmd", true) if l.cmd.is_none() => {
                l.cmd = known(&v)
                    .and_then(|_| v.untrusted())
                    .map(|x| Bytes(x.into_owned()));
            }
            // Written as they are, never hex (`hostname=deadbeef` is a name).
            (b"op", true) => l.op = l.op.take().or_else(|| known(&v).map(encode)),
            (b"hostname", true) => l.hostname = l.hostname.take().or_else(|| known(&v).map(encode)),
            (b"grantors", true) => l.grantors = l.grantors.take().or_else(|| known(&v).map(encode)),
            _ => {}
        }
    }
    let name = |n: &[u8]| {
        rec.enriched_name(n)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    };
    l.auid_name = name(b"AUID");
    l.uid_name = name(b"UID");
    let mut e = Event::new(Source::Audit, rec.time, host, Body::Login(l));
    e.task = t;
    e
}

/// The value unless it is `?` (unknown) or `(null)`.
fn known<'a>(v: &Value<'a>) -> Option<&'a [u8]> {
    match v {
        Value::Bare(b"?") | Value::Bare(b"(null)") => None,
        _ => Some(v.raw()),
    }
}

/// PAM's `terminal=`: `/dev/pts/1` and `pts/1` -> `pts/1`; service names
/// (`ssh`, `cron`) are not terminals -> None (they stay in `detail.terminal`).
fn terminal_tty(t: &[u8]) -> Option<String> {
    let t = t.strip_prefix(b"/dev/").unwrap_or(t);
    let is_tty = t.starts_with(b"pts/") || t.starts_with(b"tty") || t == b"console";
    is_tty.then(|| String::from_utf8_lossy(t).into_owned())
}
