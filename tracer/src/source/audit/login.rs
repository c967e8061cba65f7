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
use super::parse::{name_key, Record};
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
    // Boot boundaries for the session model (`crate::sessions::boot`):
    // systemd-update-utmp's records, and auditd's own start and stop.
    RecordType::SYSTEM_BOOT,
    RecordType::SYSTEM_SHUTDOWN,
    RecordType::DAEMON_START,
    RecordType::DAEMON_END,
    RecordType::DAEMON_ABORT,
];

pub fn is_login_type(t: RecordType) -> bool {
    LOGIN_TYPES.contains(&t)
}

/// The `login` event for one record of a [`LOGIN_TYPES`] type.
pub fn login_event(rec: &Record<'_>, host: &str) -> Event {
    let kind = match rec.rtype.name() {
        Some(n) => LoginType::parse(n),
        None => LoginType::parse(&rec.rtype.to_string()),
    };
    let mut l = LoginRecord::new(kind);
    l.serial = Some(rec.serial);
    let mut t = Task::default();
    let is_login = rec.rtype == RecordType::LOGIN;
    const ACCT: u128 = name_key(b"acct");
    const ADDR: u128 = name_key(b"addr");
    const AUID: u128 = name_key(b"auid");
    const CMD: u128 = name_key(b"cmd");
    const CWD: u128 = name_key(b"cwd");
    const EXE: u128 = name_key(b"exe");
    const GRANTORS: u128 = name_key(b"grantors");
    const HOSTNAME: u128 = name_key(b"hostname");
    const ID: u128 = name_key(b"id");
    const OLD_AUID: u128 = name_key(b"old-auid");
    const OLD_SES: u128 = name_key(b"old-ses");
    const OP: u128 = name_key(b"op");
    const PID: u128 = name_key(b"pid");
    const RES: u128 = name_key(b"res");
    const RPORT: u128 = name_key(b"rport");
    const SES: u128 = name_key(b"ses");
    const TERMINAL: u128 = name_key(b"terminal");
    const TTY: u128 = name_key(b"tty");
    const UID: u128 = name_key(b"uid");
    for f in rec.fields() {
        let v = f.value;
        // Identity fields outside msg='...' are the sending process's; the same
        // names inside describe something else (e.g. an added user's uid).
        match (name_key(f.name), f.in_msg) {
            (PID, false) => t.pid = t.pid.or(v.to_u32()),
            (UID, false) => t.uid = t.uid.or(v.to_u32()),
            // Old kernels wrote `old auid=1 new auid=2`: the last one is new.
            (AUID, false) if is_login => t.auid = v.to_id().or(t.auid),
            (SES, false) if is_login => t.ses = v.to_id().or(t.ses),
            (AUID, false) => t.auid = t.auid.or(v.to_id()),
            (SES, false) => t.ses = t.ses.or(v.to_id()),
            (OLD_AUID, false) => l.old_auid = v.to_id(),
            (OLD_SES, false) => l.old_ses = v.to_id(),
            (TTY, false) => t.tty = syscall_tty(v.raw()),
            (RES, _) => l.res = Some(LoginResult::parse(&String::from_utf8_lossy(v.raw()))),
            (EXE, true) => t.exe = v.untrusted().map(|x| Bytes(x.into_owned())),
            (ADDR, true) => l.addr = known(&v).map(|a| String::from_utf8_lossy(a).into_owned()),
            (RPORT, true) => l.port = v.to_u32().and_then(|p| u16::try_from(p).ok()),
            (TERMINAL, true) => {
                if let Some(x) = known(&v) {
                    t.tty = terminal_tty(x);
                    l.terminal = Some(encode(x));
                }
            }
            (CWD, true) => l.cwd = v.untrusted().map(|x| Bytes(x.into_owned())),
            (ID, true) => l.id = l.id.or(v.to_u32()),
            // Written by libaudit as quoted text or hex.
            (ACCT, true) if l.acct.is_none() => {
                l.acct = known(&v)
                    .and_then(|_| v.untrusted())
                    .map(|x| Bytes(x.into_owned()));
            }
            (CMD, true) if l.cmd.is_none() => {
                l.cmd = known(&v)
                    .and_then(|_| v.untrusted())
                    .map(|x| Bytes(x.into_owned()));
            }
            // Written as they are, never hex (`hostname=deadbeef` is a name).
            (OP, true) => l.op = l.op.take().or_else(|| known(&v).map(encode)),
            (HOSTNAME, true) => l.hostname = l.hostname.take().or_else(|| known(&v).map(encode)),
            (GRANTORS, true) => l.grantors = l.grantors.take().or_else(|| known(&v).map(encode)),
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
