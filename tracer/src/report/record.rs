//! [`Record`]: the fields of an [`Event`] that the report uses, borrowed from
//! wherever they were read.
//!
//! Why not [`Event`] itself: the report must read hundreds of MB per second.
//! Deserializing a full owned `Event` per JSON line costs a dozen
//! allocations (every string, every argument) and a chrono parse; a
//! `Record` parsed with [`Record::from_json`] borrows strings from the line
//! buffer when they have no JSON escapes, skips fields the report never
//! shows, and reads the timestamp with a fixed-format fast path. Sources
//! that produce `Event`s (the audit parser) use [`Record::from_event`], which
//! only borrows. Both must agree with `Event`'s JSON form: the tests check
//! that `from_json(line)` equals `from_event(serde_json::from_str(line))`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

use crate::bytes;
use crate::event::{Body, Event, Kind, Outcome, Timestamp};
use crate::source::audit::exec::ExecRecord;
use crate::source::audit::login::LoginRec;

/// What the report reads from one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'a> {
    pub kind: Kind,
    pub time: Timestamp,
    pub host: Cow<'a, str>,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub tty: Option<Cow<'a, str>>,
    pub exe: Option<Cow<'a, [u8]>>,
    pub argv: Option<Vec<Cow<'a, [u8]>>>,
    pub cwd: Option<Cow<'a, [u8]>>,
    pub ret: Option<i64>,
    pub truncated: bool,
    pub cgroup: Option<Cow<'a, str>>,
    pub addr: Option<Cow<'a, str>>,
    pub port: Option<u16>,
    pub count: Option<u64>,
    /// `detail.record_type` of audit login records.
    pub record_type: Option<Cow<'a, str>>,
    /// `detail.res` of login records: `success`, `failed`, or as written.
    pub res: Option<Cow<'a, str>>,
    /// `detail.acct` of login records (the PAM user; sudo's target).
    pub acct: Option<Cow<'a, str>>,
    /// `detail.terminal` of login records (`ssh`, `/dev/pts/0`, `cron`).
    pub terminal: Option<Cow<'a, str>>,
    /// `detail.cmd` of USER_CMD records (already decoded from hex).
    pub cmd: Option<Cow<'a, str>>,
    /// `detail.reason` of session_end records (`logout`, `expired`).
    pub reason: Option<Cow<'a, str>>,
    /// The audit event serial.
    pub serial: Option<u64>,
    /// The boot id tracer recorded (`boot`: on its start record and at the
    /// head of each log file).
    pub boot: Option<Cow<'a, str>>,
    /// The login user's name as tracer resolved it (`user`, session records).
    pub user: Option<Cow<'a, str>>,
    /// The session kind tracer decided (`session_kind`, session records).
    pub session_kind: Option<Cow<'a, str>>,
    /// The login program of a session (`service`, session records).
    pub service: Option<Cow<'a, str>>,
    /// auditd's ENRICHED name of the record's `uid` (`detail.uid_name`).
    pub uid_name: Option<Cow<'a, str>>,
    /// How an exec changed identity (`via`: sudo, su, setuid).
    pub via: Option<Cow<'a, str>>,
    /// The batch job, its step and its owner's uid (`job`, `job_step`,
    /// `job_uid`).
    pub job: Option<Cow<'a, str>>,
    pub job_step: Option<Cow<'a, str>>,
    pub job_uid: Option<u32>,
}

impl<'a> Record<'a> {
    /// Borrows the report's fields from `e`.
    pub fn from_event(e: &'a Event) -> Self {
        let s = |o: &'a Option<String>| o.as_deref().map(Cow::Borrowed);
        let b = |o: &'a Option<bytes::Bytes>| o.as_ref().map(|b| Cow::Borrowed(b.as_slice()));
        let t = &e.task;
        let mut r = Self {
            kind: e.kind(),
            time: e.time,
            host: Cow::Borrowed(&e.host),
            pid: t.pid,
            ppid: t.ppid,
            uid: t.uid,
            euid: t.euid,
            auid: t.auid,
            ses: t.ses,
            tty: s(&t.tty),
            exe: b(&t.exe),
            argv: None,
            cwd: None,
            ret: None,
            truncated: false,
            cgroup: s(&t.cgroup),
            addr: None,
            port: None,
            count: None,
            record_type: None,
            res: None,
            acct: None,
            terminal: None,
            cmd: None,
            reason: None,
            serial: None,
            boot: None,
            user: None,
            session_kind: None,
            service: None,
            uid_name: None,
            via: None,
            job: None,
            job_step: None,
            job_uid: None,
        };
        match &e.body {
            Body::Exec(x) | Body::Process(x) => {
                r.argv = x
                    .argv
                    .as_ref()
                    .map(|v| v.iter().map(|a| Cow::Borrowed(a.as_slice())).collect());
                r.cwd = b(&x.cwd);
                if matches!(e.body, Body::Exec(_)) {
                    r.ret = x.outcome.ret();
                }
                r.truncated = x.truncated;
                r.serial = x.serial;
                r.user = s(&x.user);
                r.via = x.via.as_ref().map(|v| Cow::Borrowed(v.as_str()));
                if let Some(j) = &x.job {
                    r.job = Some(Cow::Borrowed(j.id.as_str()));
                    r.job_step = j.step.as_deref().map(Cow::Borrowed);
                    r.job_uid = j.uid;
                }
            }
            Body::Login(l) => {
                r.cwd = b(&l.cwd);
                r.addr = s(&l.addr);
                r.port = l.port;
                r.record_type = Some(Cow::Borrowed(l.record_type.as_str()));
                r.res = l.res.as_ref().map(|x| Cow::Borrowed(x.as_str()));
                // The wire form of byte strings (see `crate::bytes`), as
                // `from_json` reads them.
                r.acct = l.acct.as_ref().map(|x| Cow::Owned(bytes::encode(&x.0)));
                r.cmd = l.cmd.as_ref().map(|x| Cow::Owned(bytes::encode(&x.0)));
                r.terminal = s(&l.terminal);
                r.serial = l.serial;
                r.user = s(&l.auid_name);
                r.uid_name = s(&l.uid_name);
            }
            Body::SessionStart(x) => {
                r.addr = s(&x.addr);
                r.port = x.port;
                r.user = s(&x.user);
                r.session_kind = x.kind.as_ref().map(|k| Cow::Borrowed(k.as_str()));
                r.service = s(&x.service);
            }
            Body::SessionEnd(x) => {
                r.addr = s(&x.addr);
                r.user = s(&x.user);
                r.session_kind = x.kind.as_ref().map(|k| Cow::Borrowed(k.as_str()));
                r.reason = Some(Cow::Borrowed(x.reason.as_str()));
            }
            Body::Tracer(x) => r.boot = s(&x.boot),
            Body::Loss(l) => r.count = l.count,
            Body::Discrepancy(d) => {
                r.argv = d
                    .exec
                    .argv
                    .as_ref()
                    .map(|v| v.iter().map(|a| Cow::Borrowed(a.as_slice())).collect());
            }
            Body::Exit(_) | Body::Unknown => {}
        }
        r
    }

    /// Borrows the report's fields from a compact audit exec: the same
    /// record as `from_event(&x.to_event())` (tested), without the event.
    pub fn from_audit_exec(x: &'a ExecRecord) -> Self {
        Self {
            kind: if matches!(x.outcome, Outcome::Failed(_)) {
                Kind::ExecFailed
            } else {
                Kind::Exec
            },
            time: x.time,
            host: x.host(),
            pid: x.pid,
            ppid: x.ppid,
            uid: x.uid,
            euid: x.euid,
            auid: x.auid,
            ses: x.ses,
            tty: x.tty(),
            exe: x.exe().map(Cow::Borrowed),
            argv: Some(x.argv().map(Cow::Borrowed).collect()),
            cwd: x.cwd().map(Cow::Borrowed),
            ret: x.outcome.ret(),
            truncated: x.truncated,
            cgroup: None,
            addr: None,
            port: None,
            count: None,
            record_type: None,
            res: None,
            acct: None,
            terminal: None,
            cmd: None,
            reason: None,
            serial: Some(x.serial),
            boot: None,
            user: x.user(),
            session_kind: None,
            service: None,
            uid_name: None,
            via: None,
            // Raw audit logs carry no cgroup: no job.
            job: None,
            job_step: None,
            job_uid: None,
        }
    }

    /// Borrows the report's fields from a compact audit login record: the
    /// same record as `from_event(&x.to_event())` (tested on every login
    /// record of the fixtures, real logs among them), without the event.
    pub fn from_audit_login(x: &'a LoginRec) -> Self {
        Self {
            kind: Kind::Login,
            time: x.time,
            host: x.host(),
            pid: x.pid,
            ppid: None,
            uid: x.uid,
            euid: None,
            auid: x.auid,
            ses: x.ses,
            tty: x.tty(),
            exe: x.exe().map(Cow::Borrowed),
            argv: None,
            cwd: x.cwd().map(Cow::Borrowed),
            ret: None,
            truncated: false,
            cgroup: None,
            addr: x.addr(),
            port: x.port,
            count: None,
            record_type: Some(Cow::Borrowed(x.kind.as_str())),
            res: x.res.as_ref().map(|r| Cow::Borrowed(r.as_str())),
            // The wire form of byte strings, as `from_json` reads them.
            acct: x.acct().map(bytes::encode_cow),
            terminal: x.terminal(),
            cmd: x.cmd().map(bytes::encode_cow),
            reason: None,
            serial: Some(x.serial),
            boot: None,
            user: x.auid_name(),
            session_kind: None,
            service: None,
            uid_name: x.uid_name(),
            via: None,
            job: None,
            job_step: None,
            job_uid: None,
        }
    }

    /// Parses one line of tracer's JSON log.
    pub fn from_json(line: &'a [u8]) -> Result<Self, serde_json::Error> {
        // One UTF-8 check of the whole line (std's has an ASCII fast path)
        // is cheaper than serde_json's check of each string.
        let text =
            std::str::from_utf8(line).map_err(|e| de::Error::custom(format!("not UTF-8: {e}")))?;
        let w: Wire<'a> = serde_json::from_str(text)?;
        let time = fast_rfc3339(&w.time.0)
            .or_else(|| Timestamp::parse_rfc3339(&w.time.0))
            .ok_or_else(|| de::Error::custom(format!("not an RFC 3339 time: {:?}", w.time.0)))?;
        Ok(Self {
            kind: w.kind,
            time,
            host: w.host.map_or(Cow::Borrowed(""), |h| h.0),
            pid: w.pid,
            ppid: w.ppid,
            uid: w.uid,
            euid: w.euid,
            auid: w.auid,
            ses: w.ses,
            tty: w.tty.map(|s| s.0),
            exe: w.exe.map(Str::into_bytes),
            argv: w.argv.map(|v| v.into_iter().map(Str::into_bytes).collect()),
            cwd: w.cwd.map(Str::into_bytes),
            ret: w.ret,
            truncated: w.truncated.unwrap_or(false),
            cgroup: w.cgroup.map(|s| s.0),
            addr: w.addr.map(|s| s.0),
            port: w.port,
            count: w.count,
            serial: w.serial,
            boot: w.boot.map(|s| s.0),
            user: w.user.map(|s| s.0),
            session_kind: w.session_kind.map(|s| s.0),
            service: w.service.map(|s| s.0),
            uid_name: None,
            via: w.via.map(|s| s.0),
            job: w.job.map(|s| s.0),
            job_step: w.job_step.map(|s| s.0),
            job_uid: w.job_uid,
            record_type: None,
            res: None,
            acct: None,
            terminal: None,
            cmd: None,
            reason: None,
        }
        .with_detail(w.detail.unwrap_or_default()))
    }

    fn with_detail(mut self, d: Detail<'a>) -> Self {
        self.record_type = d.record_type;
        self.res = d.res;
        self.acct = d.acct;
        self.terminal = d.terminal;
        self.cmd = d.cmd;
        self.reason = d.reason;
        if self.user.is_none() {
            self.user = d.auid_name;
        }
        self.uid_name = d.uid_name;
        self
    }

    /// The login uid, `None` when unset or absent.
    pub fn login_uid(&self) -> Option<u32> {
        self.auid.filter(|&a| a != crate::event::UNSET)
    }

    /// The session id, `None` when unset or absent.
    pub fn session_id(&self) -> Option<u32> {
        self.ses.filter(|&s| s != crate::event::UNSET)
    }
}

/// The JSON fields the report reads; the rest are skipped unparsed.
#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(rename = "type")]
    kind: Kind,
    #[serde(borrow)]
    time: Str<'a>,
    #[serde(borrow, default)]
    host: Option<Str<'a>>,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    ppid: Option<u32>,
    #[serde(default)]
    uid: Option<u32>,
    #[serde(default)]
    euid: Option<u32>,
    #[serde(default)]
    auid: Option<u32>,
    #[serde(default)]
    ses: Option<u32>,
    #[serde(borrow, default)]
    tty: Option<Str<'a>>,
    #[serde(borrow, default)]
    exe: Option<Str<'a>>,
    #[serde(borrow, default)]
    argv: Option<Vec<Str<'a>>>,
    #[serde(borrow, default)]
    cwd: Option<Str<'a>>,
    #[serde(default)]
    ret: Option<i64>,
    #[serde(default)]
    truncated: Option<bool>,
    #[serde(borrow, default)]
    cgroup: Option<Str<'a>>,
    #[serde(borrow, default)]
    addr: Option<Str<'a>>,
    #[serde(default)]
    port: Option<u16>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(borrow, default)]
    detail: Option<Detail<'a>>,
    #[serde(default)]
    serial: Option<u64>,
    #[serde(borrow, default)]
    boot: Option<Str<'a>>,
    #[serde(borrow, default)]
    user: Option<Str<'a>>,
    #[serde(borrow, default)]
    session_kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    service: Option<Str<'a>>,
    #[serde(borrow, default)]
    via: Option<Str<'a>>,
    #[serde(borrow, default)]
    job: Option<Str<'a>>,
    #[serde(borrow, default)]
    job_step: Option<Str<'a>>,
    #[serde(default)]
    job_uid: Option<u32>,
}

/// A JSON string, borrowed from the input when it has no escapes.
struct Str<'a>(Cow<'a, str>);

impl<'a> Str<'a> {
    /// Undoes tracer's byte encoding (see [`crate::bytes`]); borrows when
    /// there is nothing to undo (no U+10FFxx, whose UTF-8 starts with 0xF4).
    fn into_bytes(self) -> Cow<'a, [u8]> {
        if !self.0.as_bytes().contains(&0xF4) {
            return match self.0 {
                Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
                Cow::Owned(s) => Cow::Owned(s.into_bytes()),
            };
        }
        Cow::Owned(bytes::decode(&self.0))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `detail`, of which the strings the session model reads are kept; any
/// other JSON value is accepted (as `Event` accepts it) and ignored.
#[derive(Default)]
struct Detail<'a> {
    record_type: Option<Cow<'a, str>>,
    res: Option<Cow<'a, str>>,
    acct: Option<Cow<'a, str>>,
    terminal: Option<Cow<'a, str>>,
    cmd: Option<Cow<'a, str>>,
    reason: Option<Cow<'a, str>>,
    auid_name: Option<Cow<'a, str>>,
    uid_name: Option<Cow<'a, str>>,
}

/// A JSON value that is a string, or anything else (then `None`).
struct AnyStr<'a>(Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for AnyStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AnyStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(AnyStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(AnyStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(AnyStr(Some(Cow::Owned(v))))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(AnyStr(None))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(AnyStr(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(AnyStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(AnyStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(AnyStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(AnyStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AnyStr(None))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Detail<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Detail<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Self::Value, M::Error> {
                let mut d = Detail::default();
                while let Some(k) = m.next_key::<Str<'de>>()? {
                    let slot = match &*k.0 {
                        "record_type" => &mut d.record_type,
                        "res" => &mut d.res,
                        "acct" => &mut d.acct,
                        "terminal" => &mut d.terminal,
                        "cmd" => &mut d.cmd,
                        "reason" => &mut d.reason,
                        "auid_name" => &mut d.auid_name,
                        "uid_name" => &mut d.uid_name,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    let v = m.next_value::<AnyStr<'de>>()?.0;
                    if slot.is_none() {
                        *slot = v;
                    }
                }
                Ok(d)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Detail::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Detail::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` exactly (what tracer writes), without
/// chrono; `None` for anything else, which then goes to the full parser.
pub fn fast_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if *b.last()? != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut n = 0i64;
        for &c in b.get(r)? {
            if !c.is_ascii_digit() {
                return None;
            }
            n = n * 10 + i64::from(c - b'0');
        }
        Some(n)
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59
    {
        return None;
    }
    let frac = &b[19..b.len() - 1];
    let nanos = match frac {
        [] => 0,
        [b'.', digits @ ..] if !digits.is_empty() && digits.len() <= 9 => {
            let n = num(20..20 + digits.len())?;
            n * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(Timestamp::from_secs_nanos(
        days * 86_400 + h * 3600 + mi * 60 + sec,
        nanos as u32,
    ))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fast_time_agrees_with_chrono() {
        for s in [
            "2024-05-01T09:00:00Z",
            "2024-05-01T09:00:00.5Z",
            "2024-02-29T23:59:59.123456789Z",
            "1970-01-01T00:00:00.000000001Z",
            "1969-12-31T23:59:59Z",
            "2100-03-01T00:00:00Z",
        ] {
            assert_eq!(fast_rfc3339(s), Timestamp::parse_rfc3339(s), "{s}");
        }
        for s in [
            "2023-02-29T00:00:00Z",
            "2024-05-01T09:00:00+02:00",
            "2024-05-01T24:00:00Z",
            "x",
        ] {
            assert_eq!(fast_rfc3339(s), None, "{s}");
        }
    }

    proptest! {
        #[test]
        fn fast_time_round_trips(secs in -2_000_000_000i64..8_000_000_000, nanos in 0u32..1_000_000_000) {
            let t = Timestamp::from_secs_nanos(secs, nanos);
            prop_assert_eq!(fast_rfc3339(&t.to_rfc3339()), Some(t));
        }

        #[test]
        fn json_and_event_paths_agree(
            argv in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 0..4),
            cwd in proptest::collection::vec(any::<u8>(), 0..12),
            tty in any::<String>(),
        ) {
            let mut e = Event::new(crate::event::Source::Ebpf, Timestamp(1_714_554_000_123_456_789), "h\"ost", Body::Exec(crate::event::Exec::default()));
            e.exec_mut().unwrap().argv = Some(argv.into_iter().map(bytes::Bytes).collect());
            e.exec_mut().unwrap().cwd = Some(bytes::Bytes(cwd));
            e.task.tty = Some(tty);
            e.task.auid = Some(1000);
            e.exec_mut().unwrap().serial = Some(42);
            e.exec_mut().unwrap().via = Some(crate::event::Via::Sudo);
            e.exec_mut().unwrap().user = Some("al\"ice".into());
            let line = e.to_json();
            let parsed: Event = serde_json::from_str(&line).unwrap();
            prop_assert_eq!(Record::from_json(line.as_bytes()).unwrap(), Record::from_event(&parsed));
        }
    }

    proptest! {
        /// The compact audit exec's view is the record of its event.
        #[test]
        fn audit_exec_view_is_the_event_record(
            args in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..10), 0u8..4), 0..5),
            cwd in proptest::collection::vec(any::<u8>(), 0..10),
            tty in "(pts[0-9]{1,2}|tty1|\\(none\\)|pts)",
            failed in any::<bool>(),
            enriched in any::<bool>(),
        ) {
            use crate::source::audit::exec::PartialExec;
            use crate::source::audit::parse::parse_line;
            let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02X}")).collect::<String>();
            let h = "msg=audit(1700000000.123:77):";
            let mut lines = vec![format!(
                "type=SYSCALL {h} arch=c000003e syscall=59 success={} exit={} ppid=1 pid=2 auid=1000 uid=0 gid=0 euid=0 ses=3 tty={tty} comm=\"ls\" exe=\"/bin/ls\" key=6578656301{}",
                if failed { "no" } else { "yes" },
                if failed { -2 } else { 0 },
                if enriched { "\u{1d}AUID=\"al\u{e9}\" UID=\"root\"" } else { "" },
            )];
            let mut execve = format!("type=EXECVE {h} argc={}", args.len());
            for (i, (a, how)) in args.iter().enumerate() {
                match how {
                    0 => execve += &format!(" a{i}={}", hex(a)),
                    1 if !a.is_empty() => {
                        let (x, y) = a.split_at(a.len() / 2);
                        execve += &format!(" a{i}_len={} a{i}[0]={} a{i}[1]={}", a.len() * 2, hex(x), hex(y));
                    }
                    _ => execve += &format!(" a{i}=\"{}\"", String::from_utf8_lossy(a).replace(['"', ' '], "_")),
                }
            }
            lines.push(execve);
            lines.push(format!("type=CWD {h} cwd={}", hex(&cwd)));
            lines.push(format!("type=PATH {h} item=0 name=\"/usr/bin/x\" nametype=NORMAL"));
            let mut p: Option<PartialExec> = None;
            for l in &lines {
                let rec = parse_line(l.as_bytes()).unwrap();
                p.get_or_insert_with(|| PartialExec::new(rec.time, rec.serial)).add(&rec);
            }
            let x = p.unwrap().finish_record("node1").unwrap();
            let e = x.to_event();
            prop_assert_eq!(Record::from_audit_exec(&x), Record::from_event(&e));
        }
    }

    /// Every login record of the audit fixtures (real logs from public
    /// projects and real logins among them): the compact record's view is
    /// the record of its event.
    #[test]
    fn audit_login_view_is_the_event_record() {
        use crate::source::audit::login::is_login_type;
        use crate::source::audit::parse::parse_line;
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");
        let mut files = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(root)];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "log") {
                    files.push(p);
                }
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut n = 0;
        for f in &files {
            let text = std::fs::read(f).unwrap();
            for line in text.split(|&b| b == b'\n') {
                let Ok(rec) = parse_line(line) else { continue };
                if !is_login_type(rec.rtype) {
                    continue;
                }
                let x = LoginRec::parse(&rec, "h");
                let e = x.to_event();
                assert_eq!(
                    Record::from_audit_login(&x),
                    Record::from_event(&e),
                    "{}: {}",
                    f.display(),
                    String::from_utf8_lossy(line)
                );
                seen.insert(x.kind.as_str().to_owned());
                n += 1;
            }
        }
        assert!(n > 100, "only {n} login records in the fixtures");
        for t in [
            "LOGIN",
            "USER_START",
            "USER_END",
            "USER_LOGIN",
            "USER_CMD",
            "USER_AUTH",
        ] {
            assert!(seen.contains(t), "no {t} record in the fixtures: {seen:?}");
        }
    }

    proptest! {
        /// Odd values (hex, quoted, unknown, non-UTF-8, repeated fields):
        /// the compact login record's view is the record of its event.
        #[test]
        fn audit_login_view_of_odd_records(
            ty in prop::sample::select(vec!["USER_START", "USER_CMD", "LOGIN", "USER_LOGIN", "CRED_ACQ"]),
            acct in proptest::collection::vec(any::<u8>(), 0..8),
            cmd in proptest::collection::vec(any::<u8>(), 0..8),
            term in "(/dev/pts/[0-9]|pts/1|ssh|cron|\\?|tty1)",
            host in "([a-z]{1,5}|\\?|[0-9a-f]{8})",
            addr in "([0-9.]{1,9}|\\?|::1)",
            twice in any::<bool>(),
            enriched in any::<bool>(),
        ) {
            use crate::source::audit::parse::parse_line;
            let hex = |b: &[u8]| b.iter().map(|c| format!("{c:02X}")).collect::<String>();
            let mut body = format!(
                "acct={} cmd={} exe=\"/usr/bin/sudo\" hostname={host} addr={addr} terminal={term} res=success",
                hex(&acct),
                hex(&cmd),
            );
            if twice {
                body = format!("{body} acct=\"second\" op=PAM:x op=again terminal=pts/9 addr=10.0.0.2");
            }
            let line = format!(
                "type={ty} msg=audit(1700000000.123:77): pid=5 uid=0 auid=1000 ses=3 old-auid=4294967295 tty=pts1 msg='op=PAM:session_open {body}'{}",
                if enriched { "\u{1d}UID=\"root\" AUID=\"al\u{e9}\"" } else { "" },
            );
            let rec = parse_line(line.as_bytes()).unwrap();
            let x = LoginRec::parse(&rec, "node1");
            let e = x.to_event();
            prop_assert_eq!(Record::from_audit_login(&x), Record::from_event(&e));
        }
    }

    #[test]
    fn odd_details_are_tolerated() {
        for d in [
            "1",
            "\"s\"",
            "[1,2]",
            "null",
            "{\"record_type\":null}",
            "true",
            "1.5",
        ] {
            let line = format!(
                r#"{{"type":"login","time":"2024-05-01T09:00:00Z","source":"audit","detail":{d}}}"#
            );
            let r = Record::from_json(line.as_bytes()).unwrap();
            assert_eq!(r.record_type, None, "{d}");
        }
    }
}
