//! The JSON form of an [`Event`]: one flat object per line.
//!
//! Top-level keys, in this order (each only when set): `type`, `time`,
//! `host`, `source`, the task (`pid`, `tid`, `ppid`, `uid`, `euid`, `gid`,
//! `egid`, `auid`, `ses`, `tty`, `comm`, `exe`), the exec (`argv`, `cwd`,
//! `ret`, `outcome` (only `"unknown"`), `argc`, `args_size`, `truncated`,
//! `argv_missing`, `fileless`), `cgroup_id`, `cgroup`, `start_boottime`, the
//! exit (`exit_code`, `signal`, `session_leader`), `via`, `job`, the loss
//! (`count`, `cause`, `from`, `until`), `addr`, `port`, the session (`user`,
//! `session_kind`, `service`), `boot`, `serial`, `key`, and `detail`: an
//! object with what a kind has beyond these keys (a login record's
//! `record_type`, `res`, `op`, `acct`, ...; a session end's `reason`; a
//! discrepancy's `kind`, `seen_by`, ...; a tracer record's `status` and
//! figures; a loss's split by record kind), keys sorted.
//!
//! Reading accepts any order and ignores keys it does not know.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::*;
use crate::bytes::Bytes;

/// Borrowed view for writing.
#[derive(Serialize)]
pub struct WireRef<'a> {
    #[serde(rename = "type")]
    kind: Kind,
    time: Timestamp,
    host: &'a str,
    source: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ppid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    euid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    egid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ses: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tty: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    comm: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exe: Option<Text<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argv: Option<Argv<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cwd: Option<Cwd<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argc: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    args_size: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    truncated: bool,
    #[serde(skip_serializing_if = "is_false")]
    argv_missing: bool,
    #[serde(skip_serializing_if = "is_false")]
    fileless: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start_boottime: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<i32>,
    #[serde(skip_serializing_if = "is_false")]
    session_leader: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    via: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_step: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    session_kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    service: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    boot: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<Value>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A byte string written as [`crate::bytes::encode`] writes it.
#[derive(Clone, Copy)]
pub struct Text<'a>(pub &'a [u8]);

impl Serialize for Text<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::bytes::serialize_encoded(self.0, s)
    }
}

/// An argument vector: owned, or the raw NUL-separated argument area of a
/// process as the kernel holds it (split as
/// [`crate::source::ebpf::decode::split_args`] splits it: every argument
/// ends with a NUL, a cut last one is kept, empty ones are kept).
#[derive(Clone, Copy)]
pub enum Argv<'a> {
    Owned(&'a [Bytes]),
    Raw(&'a [u8]),
}

impl Serialize for Argv<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Argv::Owned(v) => s.collect_seq(v),
            Argv::Raw([]) => s.collect_seq(std::iter::empty::<Text>()),
            Argv::Raw(area) => {
                let body = area.strip_suffix(&[0]).unwrap_or(area);
                s.collect_seq(body.split(|&b| b == 0).map(Text))
            }
        }
    }
}

/// A working directory: owned, or as the eBPF program sends it (path
/// components from the leaf up, each followed by a NUL; empty is `/`),
/// joined as [`crate::source::ebpf::decode::join_cwd`] joins it.
#[derive(Clone, Copy)]
pub enum Cwd<'a> {
    Owned(&'a [u8]),
    LeafFirst(&'a [u8]),
}

impl Serialize for Cwd<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Cwd::Owned(b) => crate::bytes::serialize_encoded(b, s),
            Cwd::LeafFirst(c) => {
                let body = c.strip_suffix(&[0]).unwrap_or(c);
                if body.is_empty() {
                    return s.serialize_str("/");
                }
                // Components are separated by `/` (ASCII) once joined, so
                // encoding each on its own is encoding the whole path.
                if body
                    .split(|&b| b == 0)
                    .all(|p| crate::bytes::plain(p).is_some())
                {
                    return s.collect_str(&JoinedPlain(body));
                }
                s.collect_str(&JoinedEncoded(body))
            }
        }
    }
}

struct JoinedPlain<'a>(&'a [u8]);

impl fmt::Display for JoinedPlain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0.split(|&b| b == 0).rev() {
            f.write_str("/")?;
            f.write_str(std::str::from_utf8(p).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

struct JoinedEncoded<'a>(&'a [u8]);

impl fmt::Display for JoinedEncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.0.split(|&b| b == 0).rev() {
            f.write_str("/")?;
            crate::bytes::write_encoded(f, p)?;
        }
        Ok(())
    }
}

/// The task header of a record, borrowed: from a [`Task`]
/// ([`Task::as_ref`]) or straight from a ring-buffer record. Every field of
/// [`Task`] is here, so that a field added there must be added here and
/// then set by every producer (the compiler says where).
#[derive(Clone, Copy, Default)]
pub struct TaskRef<'a> {
    pub pid: Option<u32>,
    pub tid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub tty: Option<&'a str>,
    pub comm: Option<&'a [u8]>,
    pub exe: Option<&'a [u8]>,
    pub cgroup_id: Option<u64>,
    pub cgroup: Option<&'a str>,
    pub start_boottime: Option<u64>,
}

impl Task {
    pub fn as_ref(&self) -> TaskRef<'_> {
        TaskRef {
            pid: self.pid,
            tid: self.tid,
            ppid: self.ppid,
            uid: self.uid,
            euid: self.euid,
            gid: self.gid,
            egid: self.egid,
            auid: self.auid,
            ses: self.ses,
            tty: self.tty.as_deref(),
            comm: self.comm.as_ref().map(Bytes::as_slice),
            exe: self.exe.as_ref().map(Bytes::as_slice),
            cgroup_id: self.cgroup_id,
            cgroup: self.cgroup.as_deref(),
            start_boottime: self.start_boottime,
        }
    }
}

/// An exec body, borrowed: from an [`Exec`] ([`Exec::as_ref`]) or straight
/// from a ring-buffer record. Like [`TaskRef`], it has every field of
/// [`Exec`], so the hot path cannot miss one.
#[derive(Clone, Copy)]
pub struct ExecRef<'a> {
    pub argv: Option<Argv<'a>>,
    pub cwd: Option<Cwd<'a>>,
    pub outcome: Outcome,
    pub argc: Option<u32>,
    pub args_size: Option<u64>,
    pub truncated: bool,
    pub argv_missing: bool,
    pub fileless: bool,
    pub via: Option<&'a Via>,
    pub job: Option<&'a Job>,
    pub user: Option<&'a str>,
    pub serial: Option<u64>,
    pub key: Option<&'a str>,
}

impl Exec {
    pub fn as_ref(&self) -> ExecRef<'_> {
        ExecRef {
            argv: self.argv.as_deref().map(Argv::Owned),
            cwd: self.cwd.as_ref().map(|c| Cwd::Owned(c.as_slice())),
            outcome: self.outcome,
            argc: self.argc,
            args_size: self.args_size,
            truncated: self.truncated,
            argv_missing: self.argv_missing,
            fileless: self.fileless,
            via: self.via.as_ref(),
            job: self.job.as_ref(),
            user: self.user.as_deref(),
            serial: self.serial,
            key: self.key.as_deref(),
        }
    }
}

impl<'a> WireRef<'a> {
    fn header(kind: Kind, time: Timestamp, host: &'a str, source: Source, t: TaskRef<'a>) -> Self {
        Self {
            kind,
            time,
            host,
            source,
            pid: t.pid,
            tid: t.tid,
            ppid: t.ppid,
            uid: t.uid,
            euid: t.euid,
            gid: t.gid,
            egid: t.egid,
            auid: t.auid,
            ses: t.ses,
            tty: t.tty,
            comm: t.comm.map(Text),
            exe: t.exe.map(Text),
            argv: None,
            cwd: None,
            ret: None,
            outcome: None,
            argc: None,
            args_size: None,
            truncated: false,
            argv_missing: false,
            fileless: false,
            cgroup_id: t.cgroup_id,
            cgroup: t.cgroup,
            start_boottime: t.start_boottime,
            exit_code: None,
            signal: None,
            session_leader: false,
            via: None,
            job: None,
            job_step: None,
            job_uid: None,
            count: None,
            cause: None,
            from: None,
            until: None,
            addr: None,
            port: None,
            user: None,
            session_kind: None,
            service: None,
            boot: None,
            serial: None,
            key: None,
            detail: None,
        }
    }

    fn exec(&mut self, x: ExecRef<'a>, with_ret: bool) {
        self.argv = x.argv;
        self.cwd = x.cwd;
        if with_ret {
            self.ret = x.outcome.ret();
            self.outcome = (x.outcome == Outcome::Unknown).then_some("unknown");
        }
        self.argc = x.argc;
        self.args_size = x.args_size;
        self.truncated = x.truncated;
        self.argv_missing = x.argv_missing;
        self.fileless = x.fileless;
        self.via = x.via.map(Via::as_str);
        self.job = x.job.map(|j| j.id.as_str());
        self.job_step = x.job.and_then(|j| j.step.as_deref());
        self.job_uid = x.job.and_then(|j| j.uid);
        self.user = x.user;
        self.serial = x.serial;
        self.key = x.key;
    }

    fn exit(&mut self, x: &Exit) {
        self.exit_code = x.exit_code;
        self.signal = x.signal;
        self.session_leader = x.session_leader;
    }

    /// An `exec`/`exec_failed` record from borrowed parts: what the owned
    /// path writes for `Body::Exec` (the daemon's hot path writes ring-buffer
    /// records with it, without building an [`Event`]).
    pub fn exec_record(
        time: Timestamp,
        host: &'a str,
        source: Source,
        task: TaskRef<'a>,
        exec: ExecRef<'a>,
    ) -> Self {
        let mut w = Self::header(exec_kind(exec.outcome), time, host, source, task);
        w.exec(exec, true);
        w
    }

    /// An `exit` record from borrowed parts, as the owned path writes it.
    pub fn exit_record(
        time: Timestamp,
        host: &'a str,
        source: Source,
        task: TaskRef<'a>,
        exit: &Exit,
    ) -> Self {
        let mut w = Self::header(Kind::Exit, time, host, source, task);
        w.exit(exit);
        w
    }

    /// Appends the JSON line (no newline) to `out`: exactly what the
    /// derived `Serialize` gives through serde_json (the tests hold them
    /// equal), written by hand because this is the daemon's hot path:
    /// static keys, no serializer state machine, strings scanned for
    /// escapes a word at a time. The destructuring below names every field,
    /// so a field added to `WireRef` does not compile until it is written.
    pub fn write(&self, out: &mut Vec<u8>) {
        let WireRef {
            kind,
            time,
            host,
            source,
            pid,
            tid,
            ppid,
            uid,
            euid,
            gid,
            egid,
            auid,
            ses,
            tty,
            comm,
            exe,
            argv,
            cwd,
            ret,
            outcome,
            argc,
            args_size,
            truncated,
            argv_missing,
            fileless,
            cgroup_id,
            cgroup,
            start_boottime,
            exit_code,
            signal,
            session_leader,
            via,
            job,
            job_step,
            job_uid,
            count,
            cause,
            from,
            until,
            addr,
            port,
            user,
            session_kind,
            service,
            boot,
            serial,
            key,
            detail,
        } = self;
        out.extend_from_slice(b"{\"type\":");
        json::str(out, kind.as_str());
        out.extend_from_slice(b",\"time\":");
        json::time(out, *time);
        out.extend_from_slice(b",\"host\":");
        json::str(out, host);
        out.extend_from_slice(b",\"source\":");
        json::str(out, source.as_str());
        let mut w = json::Fields(out);
        w.uint("pid", *pid);
        w.uint("tid", *tid);
        w.uint("ppid", *ppid);
        w.uint("uid", *uid);
        w.uint("euid", *euid);
        w.uint("gid", *gid);
        w.uint("egid", *egid);
        w.uint("auid", *auid);
        w.uint("ses", *ses);
        w.str("tty", *tty);
        w.text("comm", *comm);
        w.text("exe", *exe);
        if let Some(a) = argv {
            w.key("argv");
            json::argv(w.0, *a);
        }
        if let Some(c) = cwd {
            w.key("cwd");
            json::cwd(w.0, *c);
        }
        w.int("ret", *ret);
        w.str("outcome", *outcome);
        w.uint("argc", *argc);
        w.uint("args_size", *args_size);
        w.flag("truncated", *truncated);
        w.flag("argv_missing", *argv_missing);
        w.flag("fileless", *fileless);
        w.uint("cgroup_id", *cgroup_id);
        w.str("cgroup", *cgroup);
        w.uint("start_boottime", *start_boottime);
        w.int("exit_code", *exit_code);
        w.int("signal", *signal);
        w.flag("session_leader", *session_leader);
        w.str("via", *via);
        w.str("job", *job);
        w.str("job_step", *job_step);
        w.uint("job_uid", *job_uid);
        w.uint("count", *count);
        w.str("cause", *cause);
        w.time("from", *from);
        w.time("until", *until);
        w.str("addr", *addr);
        w.uint("port", *port);
        w.str("user", *user);
        w.str("session_kind", *session_kind);
        w.str("service", *service);
        w.str("boot", *boot);
        w.uint("serial", *serial);
        w.str("key", *key);
        if let Some(d) = detail {
            w.key("detail");
            // Writing into a Vec cannot fail, and every key is a string.
            let _ = serde_json::to_writer(&mut *w.0, d);
        }
        w.0.push(b'}');
    }
}

/// The JSON writing of [`WireRef::write`], byte for byte as serde_json's
/// compact formatter writes the same values.
pub(crate) mod json {
    use super::{Argv, Cwd, Text, Timestamp};
    use crate::event::rfc3339;

    /// The fields after the fixed head, each only when set.
    pub struct Fields<'o>(pub &'o mut Vec<u8>);

    // Inlined into `WireRef::write`, so that each literal key is a copy of
    // known length rather than a `memcpy` call (issue 13).
    impl Fields<'_> {
        #[inline(always)]
        pub fn key(&mut self, k: &str) {
            self.0.extend_from_slice(b",\"");
            self.0.extend_from_slice(k.as_bytes());
            self.0.extend_from_slice(b"\":");
        }
        #[inline(always)]
        pub fn uint<T: Into<u64>>(&mut self, k: &str, v: Option<T>) {
            if let Some(v) = v {
                self.key(k);
                uint(self.0, v.into());
            }
        }
        #[inline(always)]
        pub fn int<T: Into<i64>>(&mut self, k: &str, v: Option<T>) {
            if let Some(v) = v {
                self.key(k);
                let v: i64 = v.into();
                if v < 0 {
                    self.0.push(b'-');
                }
                uint(self.0, v.unsigned_abs());
            }
        }
        #[inline(always)]
        pub fn str(&mut self, k: &str, v: Option<&str>) {
            if let Some(v) = v {
                self.key(k);
                str(self.0, v);
            }
        }
        #[inline(always)]
        pub fn text(&mut self, k: &str, v: Option<Text>) {
            if let Some(v) = v {
                self.key(k);
                text(self.0, v.0);
            }
        }
        #[inline(always)]
        pub fn flag(&mut self, k: &str, v: bool) {
            if v {
                self.key(k);
                self.0.extend_from_slice(b"true");
            }
        }
        #[inline(always)]
        pub fn time(&mut self, k: &str, v: Option<Timestamp>) {
            if let Some(v) = v {
                self.key(k);
                time(self.0, v);
            }
        }
    }

    /// `v` in decimal (`itoa`: two digits per division; the digit loop
    /// this replaced showed in the daemon's profile, issue 13).
    #[inline]
    pub fn uint(out: &mut Vec<u8>, v: u64) {
        if v < 10 {
            out.push(b'0' + v as u8);
            return;
        }
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    pub fn time(out: &mut Vec<u8>, t: Timestamp) {
        out.push(b'"');
        out.extend_from_slice(&rfc3339::format(t.0));
        out.push(b'"');
    }

    /// A JSON string: serde_json's escapes (`\"`, `\\`, `\b`, `\f`,
    /// `\n`, `\r`, `\t`, `\u00xx` for other controls; everything else,
    /// DEL and non-ASCII included, as it is).
    pub fn str(out: &mut Vec<u8>, s: &str) {
        out.push(b'"');
        escaped(out, s.as_bytes());
        out.push(b'"');
    }

    /// Bytes as [`crate::bytes::encode`] gives them, as a JSON string.
    pub fn text(out: &mut Vec<u8>, b: &[u8]) {
        // Nearly every argument, path and name is ASCII that needs no
        // escape: one pass over it instead of UTF-8 validation, a search
        // for the escape block and the escape scan (issue 13).
        if ascii_plain(b) {
            out.push(b'"');
            out.extend_from_slice(b);
            out.push(b'"');
            return;
        }
        match crate::bytes::plain(b) {
            Some(s) => str(out, s),
            None => str(out, &crate::bytes::encode(b)),
        }
    }

    pub fn argv(out: &mut Vec<u8>, a: Argv) {
        out.push(b'[');
        match a {
            Argv::Owned(v) => {
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    text(out, x.as_slice());
                }
            }
            Argv::Raw([]) => {}
            Argv::Raw(area) => {
                let body = area.strip_suffix(&[0]).unwrap_or(area);
                for (i, x) in body.split(|&b| b == 0).enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    text(out, x);
                }
            }
        }
        out.push(b']');
    }

    pub fn cwd(out: &mut Vec<u8>, c: Cwd) {
        match c {
            Cwd::Owned(b) => text(out, b),
            Cwd::LeafFirst(c) => {
                let body = c.strip_suffix(&[0]).unwrap_or(c);
                if body.is_empty() {
                    return str(out, "/");
                }
                out.push(b'"');
                // Components are separated by `/` (ASCII) once joined, so
                // encoding each on its own is encoding the whole path.
                for p in body.split(|&b| b == 0).rev() {
                    out.push(b'/');
                    match crate::bytes::plain(p) {
                        Some(s) => escaped(out, s.as_bytes()),
                        None => escaped(out, crate::bytes::encode(p).as_bytes()),
                    }
                }
                out.push(b'"');
            }
        }
    }

    /// ASCII that [`escaped`] and [`crate::bytes::encode`] leave as it is.
    fn ascii_plain(s: &[u8]) -> bool {
        crate::bytes::json_plain(s, 0x7f)
    }

    fn needs_escape(b: u8) -> bool {
        b < 0x20 || b == b'"' || b == b'\\'
    }

    fn escaped(out: &mut Vec<u8>, s: &[u8]) {
        // Most strings need no escape: one branch-free pass (vectorized),
        // then one copy.
        if crate::bytes::json_plain(s, 0xff) {
            out.extend_from_slice(s);
            return;
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut start = 0;
        for (i, &b) in s.iter().enumerate() {
            if !needs_escape(b) {
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                0x08 => out.extend_from_slice(b"\\b"),
                0x0c => out.extend_from_slice(b"\\f"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => {
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 15) as usize]);
                }
            }
            start = i + 1;
        }
        out.extend_from_slice(&s[start..]);
    }
}

fn put(d: &mut Map<String, Value>, k: &str, v: impl Into<Value>) {
    d.insert(k.to_owned(), v.into());
}

fn put_opt<T: Into<Value>>(d: &mut Map<String, Value>, k: &str, v: Option<T>) {
    if let Some(v) = v {
        put(d, k, v);
    }
}

impl<'a> From<&'a Event> for WireRef<'a> {
    fn from(e: &'a Event) -> Self {
        let mut w = Self::header(e.kind(), e.time, &e.host, e.source, e.task.as_ref());
        match &e.body {
            Body::Exec(x) => w.exec(x.as_ref(), true),
            Body::Process(x) => w.exec(x.as_ref(), false),
            Body::Exit(x) => w.exit(x),
            Body::Loss(l) => {
                w.count = l.count;
                w.cause = Some(l.cause.as_str());
                w.from = l.from;
                w.until = l.until;
                let mut d = Map::new();
                put_opt(&mut d, "exec", l.execs);
                put_opt(&mut d, "exit", l.exits);
                put_opt(&mut d, "exec_failed_unseen", l.exec_failed_unseen);
                put_opt(&mut d, "file", l.file.clone());
                w.detail = (!d.is_empty()).then_some(Value::Object(d));
            }
            Body::Login(l) => {
                w.cwd = l.cwd.as_ref().map(|c| Cwd::Owned(c.as_slice()));
                w.addr = l.addr.as_deref();
                w.port = l.port;
                w.serial = l.serial;
                let mut d = Map::new();
                put(&mut d, "record_type", l.record_type.as_str());
                put_opt(&mut d, "res", l.res.as_ref().map(LoginResult::as_str));
                put_opt(&mut d, "op", l.op.clone());
                put_opt(
                    &mut d,
                    "acct",
                    l.acct.as_ref().map(|b| crate::bytes::encode(&b.0)),
                );
                put_opt(
                    &mut d,
                    "cmd",
                    l.cmd.as_ref().map(|b| crate::bytes::encode(&b.0)),
                );
                put_opt(&mut d, "terminal", l.terminal.clone());
                put_opt(&mut d, "hostname", l.hostname.clone());
                put_opt(&mut d, "grantors", l.grantors.clone());
                put_opt(&mut d, "id", l.id);
                put_opt(&mut d, "old_auid", l.old_auid);
                put_opt(&mut d, "old_ses", l.old_ses);
                put_opt(&mut d, "auid_name", l.auid_name.clone());
                put_opt(&mut d, "uid_name", l.uid_name.clone());
                w.detail = Some(Value::Object(d));
            }
            Body::SessionStart(s) => {
                w.addr = s.addr.as_deref();
                w.port = s.port;
                w.user = s.user.as_deref();
                w.session_kind = s.kind.as_ref().map(SessionKind::as_str);
                w.service = s.service.as_deref();
                if s.resumed {
                    w.detail = Some(serde_json::json!({"resumed": true}));
                }
            }
            Body::SessionEnd(s) => {
                w.addr = s.addr.as_deref();
                w.from = s.from;
                w.user = s.user.as_deref();
                w.session_kind = s.kind.as_ref().map(SessionKind::as_str);
                w.detail = Some(serde_json::json!({"reason": s.reason.as_str()}));
            }
            Body::Discrepancy(d) => {
                w.exec(d.exec.as_ref(), false);
                let mut m = Map::new();
                put(&mut m, "kind", d.what.as_str());
                put(&mut m, "seen_by", d.seen_by.as_str());
                put_opt(&mut m, "explained_by_loss", d.explained_by_loss);
                if d.at_shutdown {
                    put(&mut m, "at_shutdown", true);
                }
                if !d.fields.is_empty() {
                    let mut f = Map::new();
                    for x in &d.fields {
                        f.insert(
                            x.name.clone(),
                            serde_json::json!({"ebpf": x.ebpf, "audit": x.audit}),
                        );
                    }
                    put(&mut m, "fields", f);
                }
                w.detail = Some(Value::Object(m));
            }
            Body::Tracer(t) => {
                w.boot = t.boot.as_deref();
                w.from = t.from;
                w.until = t.until;
                let mut m = t.fields.clone();
                put(&mut m, "status", t.status.as_str());
                w.detail = Some(Value::Object(m));
            }
            Body::Unknown => {}
        }
        w
    }
}

/// Writes `e`'s JSON line into `out` (no newline).
pub fn write(e: &Event, out: &mut Vec<u8>) {
    WireRef::from(e).write(out);
}

/// Reads one JSON line.
pub fn read(line: &str) -> Result<Event, serde_json::Error> {
    serde_json::from_str::<Wire>(line)?
        .into_event()
        .map_err(serde::de::Error::custom)
}

/// Owned form for reading: every key any kind may have.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct Wire {
    #[serde(rename = "type")]
    kind: Option<Kind>,
    time: Option<Timestamp>,
    host: String,
    source: Option<Source>,
    pid: Option<u32>,
    tid: Option<u32>,
    ppid: Option<u32>,
    uid: Option<u32>,
    euid: Option<u32>,
    gid: Option<u32>,
    egid: Option<u32>,
    auid: Option<u32>,
    ses: Option<u32>,
    tty: Option<String>,
    comm: Option<Bytes>,
    exe: Option<Bytes>,
    argv: Option<Vec<Bytes>>,
    cwd: Option<Bytes>,
    ret: Option<i64>,
    outcome: Option<String>,
    argc: Option<u32>,
    args_size: Option<u64>,
    truncated: bool,
    argv_missing: bool,
    fileless: bool,
    cgroup_id: Option<u64>,
    cgroup: Option<String>,
    start_boottime: Option<u64>,
    exit_code: Option<i32>,
    signal: Option<i32>,
    session_leader: bool,
    via: Option<String>,
    job: Option<String>,
    job_step: Option<String>,
    job_uid: Option<u32>,
    count: Option<u64>,
    cause: Option<String>,
    from: Option<Timestamp>,
    until: Option<Timestamp>,
    addr: Option<String>,
    port: Option<u16>,
    user: Option<String>,
    session_kind: Option<String>,
    service: Option<String>,
    boot: Option<String>,
    serial: Option<u64>,
    key: Option<String>,
    detail: Option<Value>,
}

fn d_str(d: &Map<String, Value>, k: &str) -> Option<String> {
    d.get(k).and_then(Value::as_str).map(str::to_owned)
}

fn d_u64(d: &Map<String, Value>, k: &str) -> Option<u64> {
    d.get(k).and_then(Value::as_u64)
}

fn d_u32(d: &Map<String, Value>, k: &str) -> Option<u32> {
    d_u64(d, k).and_then(|v| u32::try_from(v).ok())
}

impl Wire {
    /// The typed event; a `detail` that is not an object is ignored.
    /// `type` and `time` are required.
    pub fn into_event(self) -> Result<Event, &'static str> {
        let kind = self.kind.ok_or("missing field `type`")?;
        let time = self.time.ok_or("missing field `time`")?;
        let mut w = self;
        let d = match w.detail.take() {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        };
        let exec = |w: &mut Wire, outcome: Outcome| Exec {
            argv: w.argv.take(),
            cwd: w.cwd.take(),
            outcome,
            argc: w.argc,
            args_size: w.args_size,
            truncated: w.truncated,
            argv_missing: w.argv_missing,
            fileless: w.fileless,
            via: w.via.as_deref().map(Via::parse),
            job: w.job.take().map(|id| Job {
                id,
                step: w.job_step.take(),
                uid: w.job_uid,
            }),
            user: w.user.take(),
            serial: w.serial,
            key: w.key.take(),
        };
        let body = match kind {
            Kind::Exec => {
                let outcome = if w.outcome.as_deref() == Some("unknown") {
                    Outcome::Unknown
                } else {
                    Outcome::from_ret(w.ret.unwrap_or(0))
                };
                Body::Exec(exec(&mut w, outcome))
            }
            Kind::ExecFailed => {
                let ret = w.ret.filter(|&r| r < 0).unwrap_or(-1);
                Body::Exec(exec(&mut w, Outcome::Failed(ret)))
            }
            Kind::Process => Body::Process(exec(&mut w, Outcome::Success)),
            Kind::Exit => Body::Exit(Exit {
                exit_code: w.exit_code,
                signal: w.signal,
                session_leader: w.session_leader,
            }),
            Kind::Loss => Body::Loss(Loss {
                count: w.count,
                cause: LossCause::from_wire(w.cause.as_deref().unwrap_or("unknown")),
                from: w.from,
                until: w.until,
                execs: d_u64(&d, "exec"),
                exits: d_u64(&d, "exit"),
                exec_failed_unseen: d_u64(&d, "exec_failed_unseen"),
                file: d_str(&d, "file"),
            }),
            Kind::Login => Body::Login(LoginRecord {
                record_type: LoginType::parse(
                    d.get("record_type").and_then(Value::as_str).unwrap_or(""),
                ),
                res: d_str(&d, "res").map(|r| LoginResult::parse(&r)),
                op: d_str(&d, "op"),
                acct: d_str(&d, "acct").map(|s| Bytes(crate::bytes::decode(&s))),
                cmd: d_str(&d, "cmd").map(|s| Bytes(crate::bytes::decode(&s))),
                cwd: w.cwd.take(),
                terminal: d_str(&d, "terminal"),
                hostname: d_str(&d, "hostname"),
                grantors: d_str(&d, "grantors"),
                addr: w.addr.take(),
                port: w.port,
                id: d_u32(&d, "id"),
                old_auid: d_u32(&d, "old_auid"),
                old_ses: d_u32(&d, "old_ses"),
                auid_name: d_str(&d, "auid_name"),
                uid_name: d_str(&d, "uid_name"),
                serial: w.serial,
            }),
            Kind::SessionStart => Body::SessionStart(SessionStart {
                addr: w.addr.take(),
                port: w.port,
                resumed: d.get("resumed").and_then(Value::as_bool).unwrap_or(false),
                kind: w.session_kind.as_deref().map(SessionKind::parse),
                service: w.service.take(),
                user: w.user.take(),
            }),
            Kind::SessionEnd => Body::SessionEnd(SessionEnd {
                addr: w.addr.take(),
                from: w.from,
                reason: EndReason::parse(
                    d.get("reason").and_then(Value::as_str).unwrap_or("logout"),
                ),
                kind: w.session_kind.as_deref().map(SessionKind::parse),
                user: w.user.take(),
            }),
            Kind::Discrepancy => {
                let fields = d
                    .get("fields")
                    .and_then(Value::as_object)
                    .map(|f| {
                        f.iter()
                            .map(|(name, v)| FieldDiff {
                                name: name.clone(),
                                ebpf: v.get("ebpf").cloned().unwrap_or(Value::Null),
                                audit: v.get("audit").cloned().unwrap_or(Value::Null),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let seen_by = d
                    .get("seen_by")
                    .cloned()
                    .and_then(|v| serde_json::from_value(v).ok())
                    .unwrap_or(Source::Unknown);
                Body::Discrepancy(Box::new(Discrepancy {
                    what: DiscrepancyKind::parse(
                        d.get("kind").and_then(Value::as_str).unwrap_or(""),
                    ),
                    seen_by,
                    explained_by_loss: d.get("explained_by_loss").and_then(Value::as_bool),
                    at_shutdown: d
                        .get("at_shutdown")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    fields,
                    exec: exec(&mut w, Outcome::Success),
                }))
            }
            Kind::Tracer => {
                let mut fields = d;
                let status = fields
                    .remove("status")
                    .and_then(|v| v.as_str().map(TracerStatus::parse))
                    .unwrap_or_else(|| TracerStatus::Other(String::new()));
                Body::Tracer(TracerRecord {
                    status,
                    boot: w.boot.take(),
                    from: w.from,
                    until: w.until,
                    fields,
                })
            }
            Kind::Unknown => Body::Unknown,
        };
        Ok(Event {
            time,
            host: w.host,
            source: w.source.unwrap_or(Source::Unknown),
            task: Task {
                pid: w.pid,
                tid: w.tid,
                ppid: w.ppid,
                uid: w.uid,
                euid: w.euid,
                gid: w.gid,
                egid: w.egid,
                auid: w.auid,
                ses: w.ses,
                tty: w.tty,
                comm: w.comm,
                exe: w.exe,
                cgroup_id: w.cgroup_id,
                cgroup: w.cgroup,
                start_boottime: w.start_boottime,
            },
            body,
        })
    }
}
