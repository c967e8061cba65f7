//! Login and session records (PAM, sshd, sudo, su, and the kernel's LOGIN)
//! to `login` [`Event`]s.
//!
//! Each is a complete event on its own. The session tracker and the report
//! read them for session start (USER_START, USER_LOGIN), end (USER_END,
//! USER_LOGOUT), the source address, and sudo commands (USER_CMD); what is
//! specific to a record goes into `detail` under the record's own field names:
//! `{"record_type": "USER_START", "op": "PAM:session_open", "acct": "alice",
//! "res": "success", "hostname": "...", "terminal": "ssh", "cmd": "..."}`.
//! A LOGIN record (the kernel setting a login uid) gives the new auid and ses
//! as `auid`/`ses`, the old ones as `detail.old_auid`/`detail.old_ses`.

use serde_json::{Map, Value as Json};

use super::exec::syscall_tty;
use super::parse::Record;
use super::rtype::RecordType;
use super::value::Value;
use crate::bytes::{encode, Bytes};
use crate::event::{Event, Kind, Source};

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
    let mut e = Event::new(Kind::Login, Source::Audit, rec.time, host);
    e.serial = Some(rec.serial);
    let mut d = Map::new();
    d.insert("record_type".into(), Json::String(rec.rtype.to_string()));
    let is_login = rec.rtype == RecordType::LOGIN;
    for f in rec.fields() {
        let v = f.value;
        // Identity fields outside msg='...' are the sending process's; the same
        // names inside describe something else (e.g. an added user's uid).
        match (f.name, f.in_msg) {
            (b"pid", false) => e.pid = e.pid.or(v.to_u32()),
            (b"uid", false) => e.uid = e.uid.or(v.to_u32()),
            // Old kernels wrote `old auid=1 new auid=2`: the last one is new.
            (b"auid", false) if is_login => e.auid = v.to_id().or(e.auid),
            (b"ses", false) if is_login => e.ses = v.to_id().or(e.ses),
            (b"auid", false) => e.auid = e.auid.or(v.to_id()),
            (b"ses", false) => e.ses = e.ses.or(v.to_id()),
            (b"old-auid", false) => put_id(&mut d, "old_auid", &v),
            (b"old-ses", false) => put_id(&mut d, "old_ses", &v),
            (b"tty", false) => e.tty = syscall_tty(v.raw()),
            (b"res", _) => {
                let res = match v.raw() {
                    b"1" | b"yes" | b"success" => "success".to_string(),
                    b"0" | b"no" | b"failed" => "failed".to_string(),
                    other => String::from_utf8_lossy(other).into_owned(),
                };
                d.insert("res".into(), Json::String(res));
            }
            (b"exe", true) => e.exe = v.untrusted().map(|x| Bytes(x.into_owned())),
            (b"addr", true) => e.addr = known(&v).map(|a| String::from_utf8_lossy(a).into_owned()),
            (b"rport", true) => e.port = v.to_u32().and_then(|p| u16::try_from(p).ok()),
            (b"terminal", true) => {
                if let Some(t) = known(&v) {
                    e.tty = terminal_tty(t);
                    d.insert("terminal".into(), Json::String(encode(t)));
                }
            }
            (b"cwd", true) => e.cwd = v.untrusted().map(|x| Bytes(x.into_owned())),
            (b"id", true) => {
                if let Some(id) = v.to_u32() {
                    d.insert("id".into(), Json::from(id));
                }
            }
            // Written by libaudit as quoted text or hex.
            (b"acct" | b"cmd", true) => {
                if let Some(text) = known(&v).and_then(|_| v.untrusted()) {
                    let name = String::from_utf8_lossy(f.name).into_owned();
                    d.entry(name).or_insert(Json::String(encode(&text)));
                }
            }
            // Written as they are, never hex (`hostname=deadbeef` is a name).
            (b"op" | b"hostname" | b"grantors", true) => {
                if let Some(text) = known(&v) {
                    let name = String::from_utf8_lossy(f.name).into_owned();
                    d.entry(name).or_insert(Json::String(encode(text)));
                }
            }
            _ => {}
        }
    }
    e.detail = Some(Json::Object(d));
    e.user = enriched_name(rec, b"AUID");
    e
}

/// A user name auditd's ENRICHED format gives for `field` (`AUID`, `UID`),
/// as the machine that wrote the log knew it; `None` for `unset`, auditd's
/// `unknown(1001)` and anything that is not a plain name.
pub fn enriched_name(rec: &Record<'_>, field: &[u8]) -> Option<String> {
    let v = rec.interpreted(field)?;
    let plain = !v.is_empty()
        && v != b"unset"
        && !v.starts_with(b"unknown(")
        && v.iter()
            .all(|&c| c.is_ascii_graphic() && c != b'"' && c != b'=');
    plain.then(|| String::from_utf8_lossy(v).into_owned())
}

/// The value unless it is `?` (unknown) or `(null)`.
fn known<'a>(v: &Value<'a>) -> Option<&'a [u8]> {
    match v {
        Value::Bare(b"?") | Value::Bare(b"(null)") => None,
        _ => Some(v.raw()),
    }
}

fn put_id(d: &mut Map<String, Json>, name: &str, v: &Value<'_>) {
    if let Some(id) = v.to_id() {
        d.insert(name.into(), Json::from(id));
    }
}

/// PAM's `terminal=`: `/dev/pts/1` and `pts/1` -> `pts/1`; service names
/// (`ssh`, `cron`) are not terminals -> None (they stay in `detail.terminal`).
fn terminal_tty(t: &[u8]) -> Option<String> {
    let t = t.strip_prefix(b"/dev/").unwrap_or(t);
    let is_tty = t.starts_with(b"pts/") || t.starts_with(b"tty") || t == b"console";
    is_tty.then(|| String::from_utf8_lossy(t).into_owned())
}
