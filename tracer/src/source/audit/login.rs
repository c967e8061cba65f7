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

use std::borrow::Cow;

use super::exec::{push_lossy, push_tty, push_untrusted, Span};
use super::parse::{name_key, Record};
use super::rtype::RecordType;
use super::value::Value;
use crate::bytes::{encode, Bytes};
use crate::event::{Body, Event, LoginRecord, LoginResult, LoginType, Source, Task, Timestamp};

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

/// A login record, compact: what its `login` [`Event`] says, the strings in
/// one buffer (valid UTF-8 where the event has a `String`, raw bytes where
/// it has `Bytes`). The report reads it borrowed
/// ([`crate::report::record::Record::from_audit_login`]) without an `Event`
/// and its dozen allocations, as it reads [`super::exec::ExecRecord`]s; the
/// live source turns it into the event ([`LoginRec::to_event`]).
#[derive(Debug, Clone, PartialEq)]
pub struct LoginRec {
    pub time: Timestamp,
    pub kind: LoginType,
    pub serial: u64,
    pub pid: Option<u32>,
    pub uid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub old_auid: Option<u32>,
    pub old_ses: Option<u32>,
    pub id: Option<u32>,
    pub port: Option<u16>,
    pub res: Option<LoginResult>,
    host: Span,
    tty: Option<Span>,
    exe: Option<Span>,
    addr: Option<Span>,
    terminal: Option<Span>,
    cwd: Option<Span>,
    acct: Option<Span>,
    cmd: Option<Span>,
    op: Option<Span>,
    hostname: Option<Span>,
    grantors: Option<Span>,
    auid_name: Option<Span>,
    uid_name: Option<Span>,
    bytes: Vec<u8>,
}

/// Appends `s` (valid UTF-8) and returns its span.
fn push_str(s: &str, buf: &mut Vec<u8>) -> Span {
    let start = buf.len();
    buf.extend_from_slice(s.as_bytes());
    Span::of(buf, start)
}

/// Appends the wire form of `b` (see [`crate::bytes`]) and returns its span.
fn push_encoded(b: &[u8], buf: &mut Vec<u8>) -> Span {
    match crate::bytes::plain(b) {
        Some(s) => push_str(s, buf),
        None => push_str(&encode(b), buf),
    }
}

impl LoginRec {
    /// Reads one record of a [`LOGIN_TYPES`] type; records without `node=`
    /// are named `host`.
    pub fn parse(rec: &Record<'_>, host: &str) -> Self {
        let kind = match rec.rtype.name() {
            Some(n) => LoginType::parse(n),
            None => LoginType::parse(&rec.rtype.to_string()),
        };
        let mut buf = Vec::with_capacity(256);
        let host = push_str(host, &mut buf);
        let mut l = Self {
            time: rec.time,
            kind,
            serial: rec.serial,
            pid: None,
            uid: None,
            auid: None,
            ses: None,
            old_auid: None,
            old_ses: None,
            id: None,
            port: None,
            res: None,
            host,
            tty: None,
            exe: None,
            addr: None,
            terminal: None,
            cwd: None,
            acct: None,
            cmd: None,
            op: None,
            hostname: None,
            grantors: None,
            auid_name: None,
            uid_name: None,
            bytes: Vec::new(),
        };
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
        let untrusted = |v: &Value<'_>, buf: &mut Vec<u8>| push_untrusted(v, buf).map(|(s, _)| s);
        for f in rec.fields() {
            let v = f.value;
            // Identity fields outside msg='...' are the sending process's; the
            // same names inside describe something else (e.g. an added user's
            // uid).
            match (name_key(f.name), f.in_msg) {
                (PID, false) => l.pid = l.pid.or(v.to_u32()),
                (UID, false) => l.uid = l.uid.or(v.to_u32()),
                // Old kernels wrote `old auid=1 new auid=2`: the last one is new.
                (AUID, false) if is_login => l.auid = v.to_id().or(l.auid),
                (SES, false) if is_login => l.ses = v.to_id().or(l.ses),
                (AUID, false) => l.auid = l.auid.or(v.to_id()),
                (SES, false) => l.ses = l.ses.or(v.to_id()),
                (OLD_AUID, false) => l.old_auid = v.to_id(),
                (OLD_SES, false) => l.old_ses = v.to_id(),
                (TTY, false) => l.tty = push_tty(v.raw(), &mut buf),
                (RES, _) => l.res = Some(LoginResult::parse(&crate::bytes::lossy(v.raw()))),
                (EXE, true) => l.exe = untrusted(&v, &mut buf),
                (ADDR, true) => l.addr = known(&v).map(|a| push_lossy(a, &mut buf)),
                (RPORT, true) => l.port = v.to_u32().and_then(|p| u16::try_from(p).ok()),
                (TERMINAL, true) => {
                    if let Some(x) = known(&v) {
                        l.tty = terminal_tty(x).map(|t| push_str(&t, &mut buf));
                        l.terminal = Some(push_encoded(x, &mut buf));
                    }
                }
                (CWD, true) => l.cwd = untrusted(&v, &mut buf),
                (ID, true) => l.id = l.id.or(v.to_u32()),
                // Written by libaudit as quoted text or hex.
                (ACCT, true) if l.acct.is_none() => {
                    l.acct = known(&v).and_then(|_| untrusted(&v, &mut buf));
                }
                (CMD, true) if l.cmd.is_none() => {
                    l.cmd = known(&v).and_then(|_| untrusted(&v, &mut buf));
                }
                // Written as they are, never hex (`hostname=deadbeef` is a name).
                (OP, true) if l.op.is_none() => {
                    l.op = known(&v).map(|x| push_encoded(x, &mut buf));
                }
                (HOSTNAME, true) if l.hostname.is_none() => {
                    l.hostname = known(&v).map(|x| push_encoded(x, &mut buf));
                }
                (GRANTORS, true) if l.grantors.is_none() => {
                    l.grantors = known(&v).map(|x| push_encoded(x, &mut buf));
                }
                _ => {}
            }
        }
        let (auid_name, uid_name) = rec.enriched_names(b"AUID", b"UID");
        l.auid_name = auid_name.map(|n| push_lossy(n, &mut buf));
        l.uid_name = uid_name.map(|n| push_lossy(n, &mut buf));
        l.bytes = buf;
        l
    }

    fn text(&self, s: Option<Span>) -> Option<Cow<'_, str>> {
        // UTF-8 by construction (`push_str`, `push_lossy`, `push_encoded`);
        // lossy all the same, never a panic.
        s.map(|s| crate::bytes::lossy(s.get(&self.bytes)))
    }
    fn raw(&self, s: Option<Span>) -> Option<&[u8]> {
        s.map(|s| s.get(&self.bytes))
    }
    pub fn host(&self) -> Cow<'_, str> {
        crate::bytes::lossy(self.host.get(&self.bytes))
    }
    /// The tty (`pts/1`), from `tty=` or a PAM `terminal=` naming one.
    pub fn tty(&self) -> Option<Cow<'_, str>> {
        self.text(self.tty)
    }
    pub fn exe(&self) -> Option<&[u8]> {
        self.raw(self.exe)
    }
    pub fn addr(&self) -> Option<Cow<'_, str>> {
        self.text(self.addr)
    }
    /// PAM's `terminal=`, in the wire form of [`crate::bytes`].
    pub fn terminal(&self) -> Option<Cow<'_, str>> {
        self.text(self.terminal)
    }
    pub fn cwd(&self) -> Option<&[u8]> {
        self.raw(self.cwd)
    }
    pub fn acct(&self) -> Option<&[u8]> {
        self.raw(self.acct)
    }
    pub fn cmd(&self) -> Option<&[u8]> {
        self.raw(self.cmd)
    }
    pub fn auid_name(&self) -> Option<Cow<'_, str>> {
        self.text(self.auid_name)
    }
    pub fn uid_name(&self) -> Option<Cow<'_, str>> {
        self.text(self.uid_name)
    }

    /// The `login` event.
    pub fn to_event(&self) -> Event {
        let s = |x: Option<Cow<'_, str>>| x.map(Cow::into_owned);
        let b = |x: Option<&[u8]>| x.map(|v| Bytes(v.to_vec()));
        let mut l = LoginRecord::new(self.kind.clone());
        l.serial = Some(self.serial);
        l.res = self.res.clone();
        l.op = s(self.text(self.op));
        l.acct = b(self.acct());
        l.cmd = b(self.cmd());
        l.cwd = b(self.cwd());
        l.terminal = s(self.terminal());
        l.hostname = s(self.text(self.hostname));
        l.grantors = s(self.text(self.grantors));
        l.addr = s(self.addr());
        l.port = self.port;
        l.id = self.id;
        l.old_auid = self.old_auid;
        l.old_ses = self.old_ses;
        l.auid_name = s(self.auid_name());
        l.uid_name = s(self.uid_name());
        let mut e = Event::new(Source::Audit, self.time, self.host(), Body::Login(l));
        e.task = Task {
            pid: self.pid,
            uid: self.uid,
            auid: self.auid,
            ses: self.ses,
            tty: s(self.tty()),
            exe: b(self.exe()),
            ..Task::default()
        };
        e
    }
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
