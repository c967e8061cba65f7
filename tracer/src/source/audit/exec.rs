//! One syscall event being assembled: the records of an execve (SYSCALL,
//! EXECVE, CWD, PATH) folded into a [`PartialExec`], then turned into an exec
//! or exec_failed [`Event`]. PROCTITLE is not used: for a failed exec it is
//! the caller's command line, and at 128 bytes it is no substitute for a
//! missing EXECVE record.
//!
//! Folding keeps only what the event needs, copied out of the borrowed record,
//! and every record type fills fields of its own: the result does not depend
//! on the order in which an event's records arrive (property-tested in
//! `coalesce`). Argument pieces are stored with their index and put in order at
//! the end, so `a1[0]`/`a1[1]` chunks and EXECVE records split over several
//! lines may come in any order.
//!
//! What an audit exec event does not say is left unset rather than guessed:
//! there is no tid (audit's `pid` is the thread group), no args_size, no
//! cgroup; an event without EXECVE has no argv (`argv_missing`), one without
//! SYSCALL no outcome ([`Outcome::Unknown`]). `truncated` means bytes were
//! cut: an argument the kernel split into `aN[i]` pieces is whole when the
//! pieces add up to `aN_len` (which counts hex digits for hex-encoded
//! arguments).

use super::parse::{name_key, plain_fields, plain_value, Record};
use super::rtype::RecordType;
use super::value::{decode_hex_into, parse_u64, Value};
use crate::bytes::Bytes;
use crate::event::{Body, Event, Exec, Outcome, Source, Task, Timestamp};

/// Upper bound on argument bytes kept for one event; more is dropped and the
/// event marked truncated. Linux's own limit on the argument area is far below
/// (about 2 MiB with the usual 8 MiB stack limit, at most 6 MiB).
pub const MAX_ARG_BYTES: usize = 8 << 20;

/// Arch values (`AUDIT_ARCH_*`) and their execve / execveat numbers.
const EXEC_SYSCALLS: &[(u32, [u32; 2])] = &[
    (0xc000_003e, [59, 322]),                              // x86_64
    (0xc000_003e, [0x4000_0000 | 520, 0x4000_0000 | 545]), // x32 on x86_64
    (0x4000_0003, [11, 358]),                              // i386
    (0xc000_00b7, [221, 281]),                             // aarch64
    (0x4000_0028, [11, 387]),                              // arm (EABI)
    (0xc000_00f3, [221, 281]),                             // riscv64
];

/// A byte range of a [`PartialExec`]'s or [`ExecRecord`]'s buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    start: u32,
    end: u32,
}

impl Span {
    pub(super) fn of(buf: &[u8], start: usize) -> Self {
        Self {
            start: start as u32,
            end: buf.len() as u32,
        }
    }
    fn len(self) -> usize {
        (self.end - self.start) as usize
    }
    pub(super) fn get(self, buf: &[u8]) -> &[u8] {
        &buf[self.start as usize..self.end as usize]
    }
}

/// Appends an untrusted string's bytes to `buf` (see [`Value::untrusted`]):
/// `None` for `(null)`, else its span and whether it was hex-decoded.
pub(super) fn push_untrusted(v: &Value<'_>, buf: &mut Vec<u8>) -> Option<(Span, bool)> {
    let start = buf.len();
    match *v {
        Value::Quoted(s) => buf.extend_from_slice(s),
        Value::Bare(b"(null)") => return None,
        Value::Bare(s) => {
            if decode_hex_into(s, buf) {
                return Some((Span::of(buf, start), true));
            }
            buf.extend_from_slice(s);
        }
    }
    Some((Span::of(buf, start), false))
}

/// Like [`push_untrusted`], `(null)` kept as the text `(null)` (argv).
fn push_untrusted_or_raw(v: &Value<'_>, buf: &mut Vec<u8>) -> (Span, bool) {
    push_untrusted(v, buf).unwrap_or_else(|| {
        let start = buf.len();
        buf.extend_from_slice(v.raw());
        (Span::of(buf, start), false)
    })
}

/// Appends `s` to `buf` as UTF-8, invalid sequences replaced (as
/// `String::from_utf8_lossy`).
pub(super) fn push_lossy(s: &[u8], buf: &mut Vec<u8>) -> Span {
    let start = buf.len();
    match crate::bytes::lossy(s) {
        std::borrow::Cow::Borrowed(t) => buf.extend_from_slice(t.as_bytes()),
        std::borrow::Cow::Owned(t) => buf.extend_from_slice(t.as_bytes()),
    }
    Span::of(buf, start)
}

/// What a SYSCALL record says about an event; strings are spans of the
/// event's buffer.
#[derive(Debug, Default)]
struct Syscall {
    success: Option<bool>,
    exit: Option<i64>,
    pid: Option<u32>,
    ppid: Option<u32>,
    uid: Option<u32>,
    euid: Option<u32>,
    gid: Option<u32>,
    egid: Option<u32>,
    auid: Option<u32>,
    ses: Option<u32>,
    /// UTF-8.
    tty: Option<Span>,
    comm: Option<Span>,
    exe: Option<Span>,
    /// UTF-8.
    key: Option<Span>,
    /// ENRICHED `AUID=`: the login user's name on the recording host (UTF-8).
    auid_name: Option<Span>,
    /// An `auid=` that is neither a number nor unset (a name: an
    /// interpreted log).
    auid_unreadable: bool,
}

/// A SYSCALL record's fields, folded one by one.
#[derive(Default)]
struct SyscallFold {
    s: Syscall,
    arch: Option<u32>,
    nr: Option<u32>,
    /// `syscall=execve` as a name (an interpreted record, as auditbeat and
    /// some forwarders write them): whether it names an exec.
    named_exec: Option<bool>,
    /// `items=`: how many PATH records the event has.
    items: Option<u32>,
}

/// The SYSCALL fields tracer keeps.
#[derive(Debug, Clone, Copy)]
enum SysField {
    Arch,
    Syscall,
    Success,
    Exit,
    Pid,
    Ppid,
    Uid,
    Euid,
    Gid,
    Egid,
    Auid,
    Ses,
    Tty,
    Comm,
    Exe,
    Key,
    Items,
}

impl SysField {
    fn of(name: &[u8]) -> Option<Self> {
        const ARCH: u128 = name_key(b"arch");
        const SYSCALL: u128 = name_key(b"syscall");
        const SUCCESS: u128 = name_key(b"success");
        const EXIT: u128 = name_key(b"exit");
        const PID: u128 = name_key(b"pid");
        const PPID: u128 = name_key(b"ppid");
        const UID: u128 = name_key(b"uid");
        const EUID: u128 = name_key(b"euid");
        const GID: u128 = name_key(b"gid");
        const EGID: u128 = name_key(b"egid");
        const AUID: u128 = name_key(b"auid");
        const SES: u128 = name_key(b"ses");
        const TTY: u128 = name_key(b"tty");
        const COMM: u128 = name_key(b"comm");
        const EXE: u128 = name_key(b"exe");
        const KEY: u128 = name_key(b"key");
        const ITEMS: u128 = name_key(b"items");
        Some(match name_key(name) {
            ARCH => Self::Arch,
            SYSCALL => Self::Syscall,
            SUCCESS => Self::Success,
            EXIT => Self::Exit,
            PID => Self::Pid,
            PPID => Self::Ppid,
            UID => Self::Uid,
            EUID => Self::Euid,
            GID => Self::Gid,
            EGID => Self::Egid,
            AUID => Self::Auid,
            SES => Self::Ses,
            TTY => Self::Tty,
            COMM => Self::Comm,
            EXE => Self::Exe,
            KEY => Self::Key,
            ITEMS => Self::Items,
            _ => return None,
        })
    }
}

impl SyscallFold {
    fn field(&mut self, name: &[u8], v: Value<'_>, buf: &mut Vec<u8>) {
        if let Some(f) = SysField::of(name) {
            self.set(f, v, buf);
        }
    }

    #[inline]
    fn set(&mut self, f: SysField, v: Value<'_>, buf: &mut Vec<u8>) {
        let s = &mut self.s;
        match f {
            SysField::Arch => self.arch = v.to_hex_u32().or_else(|| arch_by_name(v.raw())),
            SysField::Syscall => match v.to_u32() {
                Some(nr) => self.nr = Some(nr),
                None => self.named_exec = syscall_name_is_exec(v.raw()),
            },
            SysField::Success => s.success = Some(v.raw() == b"yes"),
            SysField::Exit => s.exit = v.to_i64(),
            SysField::Pid => s.pid = v.to_u32(),
            SysField::Ppid => s.ppid = v.to_u32(),
            SysField::Uid => s.uid = v.to_u32(),
            SysField::Euid => s.euid = v.to_u32(),
            SysField::Gid => s.gid = v.to_u32(),
            SysField::Egid => s.egid = v.to_u32(),
            SysField::Auid => {
                s.auid = v.to_id();
                s.auid_unreadable = s.auid.is_none();
            }
            SysField::Ses => s.ses = v.to_id(),
            SysField::Tty => s.tty = push_tty(v.raw(), buf),
            SysField::Comm => s.comm = push_untrusted(&v, buf).map(|x| x.0),
            SysField::Exe => s.exe = push_untrusted(&v, buf).map(|x| x.0),
            SysField::Key => s.key = push_key(&v, buf),
            SysField::Items => self.items = v.to_u32(),
        }
    }

    /// Folds the fields the kernel writes first, in the order it writes
    /// them (`audit_log_exit()`, `audit_log_task_info()`): `arch syscall
    /// [per] [success exit] a0 a1 a2 a3 items ppid pid auid uid gid euid
    /// suid fsuid egid sgid fsgid tty ses comm exe`, each field handed to
    /// [`SyscallFold::set`] by its place rather than looked up by name.
    /// Returns what is left of `body` (from the first field not in that
    /// order, or after `exe`) for the general walk, which then sees the
    /// same fields it would have seen after these: the result is the same
    /// as folding the whole body by name (property-tested).
    fn kernel_prefix<'a>(&mut self, body: &'a [u8], buf: &mut Vec<u8>) -> &'a [u8] {
        use SysField as F;
        let mut rest = body;
        // Each word is the next field of the kernel's order or a later one
        // (some are optional: `per`, `success`/`exit`); the first word that
        // is neither ends the walk. Unrolled, so that each name is compared
        // as a constant.
        macro_rules! field {
            ($name:literal, $field:expr) => {
                if let Some(after) = rest.strip_prefix($name) {
                    // Not the kernel's plain form: the general walk decides.
                    let Some((value, tail)) = plain_value(after) else {
                        return rest;
                    };
                    let f: Option<SysField> = $field;
                    if let Some(f) = f {
                        self.set(f, value, buf);
                    }
                    rest = tail;
                }
            };
        }
        field!(b"arch=", Some(F::Arch));
        field!(b"syscall=", Some(F::Syscall));
        field!(b"per=", None);
        field!(b"success=", Some(F::Success));
        field!(b"exit=", Some(F::Exit));
        field!(b"a0=", None);
        field!(b"a1=", None);
        field!(b"a2=", None);
        field!(b"a3=", None);
        field!(b"items=", Some(F::Items));
        field!(b"ppid=", Some(F::Ppid));
        field!(b"pid=", Some(F::Pid));
        field!(b"auid=", Some(F::Auid));
        field!(b"uid=", Some(F::Uid));
        field!(b"gid=", Some(F::Gid));
        field!(b"euid=", Some(F::Euid));
        field!(b"suid=", None);
        field!(b"fsuid=", None);
        field!(b"egid=", Some(F::Egid));
        field!(b"sgid=", None);
        field!(b"fsgid=", None);
        field!(b"tty=", Some(F::Tty));
        field!(b"ses=", Some(F::Ses));
        field!(b"comm=", Some(F::Comm));
        field!(b"exe=", Some(F::Exe));
        rest
    }
}

/// One piece of an argument: a whole `aN`, or chunk `aN[i]`.
#[derive(Debug)]
struct ArgPiece {
    index: u32,
    /// `None` for a whole argument.
    chunk: Option<u32>,
    /// Written hex-encoded: the kernel's `aN_len` then counts hex digits,
    /// two per byte.
    hex: bool,
    data: Span,
}

/// The records of one syscall event seen so far. Every string it keeps is
/// a span of one buffer, so folding a record allocates nothing but that
/// buffer's (and the piece list's) growth.
#[derive(Debug)]
pub struct PartialExec {
    pub time: Timestamp,
    pub serial: u64,
    buf: Vec<u8>,
    syscall: Option<Syscall>,
    /// A SYSCALL of a known arch for a syscall other than exec: the event is
    /// not an exec, whatever else arrives.
    not_exec: bool,
    /// A SYSCALL of a known arch for execve or execveat.
    exec_syscall: bool,
    has_execve: bool,
    argc: Option<u32>,
    args: Vec<ArgPiece>,
    arg_lens: Vec<(u32, u64)>,
    arg_bytes: usize,
    args_dropped: bool,
    cwd: Option<Span>,
    path0: Option<Span>,
    /// What [`PartialExec::complete`] counts: the SYSCALL's `items=` (once
    /// it has come), and the CWD and PATH records seen.
    items: Option<u32>,
    cwd_seen: bool,
    paths: u32,
}

impl PartialExec {
    pub fn new(time: Timestamp, serial: u64) -> Self {
        Self {
            time,
            serial,
            buf: Vec::new(),
            syscall: None,
            not_exec: false,
            exec_syscall: false,
            has_execve: false,
            argc: None,
            args: Vec::new(),
            arg_lens: Vec::new(),
            arg_bytes: 0,
            args_dropped: false,
            cwd: None,
            path0: None,
            items: None,
            cwd_seen: false,
            paths: 0,
        }
    }

    /// Every record of the event has come, as the kernel writes them: its
    /// SYSCALL, as many PATH records as it has `items`, the CWD when it
    /// has any, and, for a successful exec, every argument of its EXECVE
    /// records. The kernel writes an event's records SYSCALL, EXECVE, CWD,
    /// PATH..., PROCTITLE, EOE, but auditd leaves EOE out of audit.log (and
    /// PROCTITLE is not folded): without this, an event of a real audit.log
    /// would stay open until a window of records or seconds had passed.
    /// The order of the parts does not matter, with one exception: a
    /// failed exec is complete without an EXECVE record (kernels from 4.x
    /// on write none for it; older ones can, for ENOEXEC, before its CWD
    /// and PATH, as for any exec).
    pub fn complete(&self) -> bool {
        let Some(items) = self.items else {
            return false;
        };
        if self.paths < items || (items > 0 && !self.cwd_seen) {
            return false;
        }
        if self.not_exec {
            return true;
        }
        match self.syscall.as_ref().and_then(|s| s.success) {
            // A failed exec has no EXECVE record after its PATHs (nor has a
            // failed call of another syscall).
            Some(false) => true,
            Some(true) => self.has_execve && self.args_complete(),
            None => false,
        }
    }

    /// Every argument up to `argc` has come: whole, or in chunks adding up
    /// to its `aN_len`. Pieces out of order count as not complete (the
    /// event then closes as before, by window or time).
    fn args_complete(&self) -> bool {
        if self.args_dropped {
            return true;
        }
        let Some(argc) = self.argc else {
            return false;
        };
        let mut next = 0u32;
        let mut it = self.args.iter().peekable();
        while let Some(p) = it.next() {
            if p.index < next {
                continue; // a duplicate or a chunk of an argument taken
            }
            if p.index != next {
                return false;
            }
            match p.chunk {
                None => {}
                Some(0) => {
                    let mut got = p.data.len() as u64;
                    let mut want_chunk = 1;
                    while let Some(q) = it.next_if(|q| q.index == next) {
                        if q.chunk != Some(want_chunk) {
                            return false;
                        }
                        got += q.data.len() as u64;
                        want_chunk += 1;
                    }
                    let Some(&(_, len)) = self.arg_lens.iter().find(|(i, _)| *i == next) else {
                        return false;
                    };
                    if got * if p.hex { 2 } else { 1 } != len {
                        return false;
                    }
                }
                Some(_) => return false,
            }
            next += 1;
        }
        next == argc
    }

    /// Bytes held, roughly: for the coalescer's memory bound.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.buf.len()
            + self.args.len() * std::mem::size_of::<ArgPiece>()
    }

    /// Whether records of type `t` are folded by [`PartialExec::add`].
    pub fn wants(t: RecordType) -> bool {
        matches!(
            t,
            RecordType::SYSCALL | RecordType::EXECVE | RecordType::CWD | RecordType::PATH
        )
    }

    /// Folds one record of this event in.
    pub fn add(&mut self, rec: &Record<'_>) {
        match rec.rtype {
            RecordType::CWD => self.cwd_seen = true,
            RecordType::PATH => self.paths += 1,
            _ => {}
        }
        if self.not_exec {
            return;
        }
        if self.buf.capacity() == 0 {
            // One exec's strings are a few hundred bytes: one allocation
            // for most events.
            self.buf.reserve(512);
        }
        match rec.rtype {
            RecordType::SYSCALL => self.add_syscall(rec),
            RecordType::EXECVE => self.add_execve(rec),
            RecordType::CWD if self.cwd.is_none() => {
                // The kernel's `cwd="..."` (or hex) is the whole body.
                let v = match rec.body.strip_prefix(b"cwd=").and_then(plain_value) {
                    Some((v, b"")) => Some(v),
                    _ => rec.get(b"cwd"),
                };
                self.cwd = v
                    .and_then(|v| push_untrusted(&v, &mut self.buf))
                    .map(|s| s.0);
            }
            RecordType::PATH => self.add_path(rec),
            _ => {}
        }
    }

    fn add_syscall(&mut self, rec: &Record<'_>) {
        if self.syscall.is_some() {
            return;
        }
        let buf = &mut self.buf;
        let mark = buf.len();
        let mut fold = SyscallFold::default();
        // The kernel's fields by their places, the rest in its plain form
        // in one pass; anything else (a tab, an odd quote) by the general
        // field walk, from the start again.
        let rest = fold.kernel_prefix(rec.body, buf);
        if !plain_fields(rest, |name, v| fold.field(name, v, buf)) {
            buf.truncate(mark);
            fold = SyscallFold::default();
            for f in rec.fields() {
                fold.field(f.name, f.value, buf);
            }
        }
        let SyscallFold {
            mut s,
            arch,
            nr,
            named_exec,
            items,
        } = fold;
        self.items = items;
        s.auid_name = rec.enriched_name(b"AUID").map(|n| push_lossy(n, buf));
        match exec_syscall(arch, nr).or(named_exec) {
            Some(false) => {
                self.not_exec = true;
                self.drop_contents();
                return;
            }
            Some(true) => self.exec_syscall = true,
            None => {}
        }
        self.syscall = Some(s);
    }

    fn drop_contents(&mut self) {
        self.buf = Vec::new();
        self.args = Vec::new();
        self.arg_lens = Vec::new();
        self.arg_bytes = 0;
        self.cwd = None;
        self.path0 = None;
    }

    fn add_execve(&mut self, rec: &Record<'_>) {
        self.has_execve = true;
        for f in rec.fields() {
            self.execve_field(f.name, f.value);
        }
    }

    /// One field of an EXECVE record: `argc`, `aN`, `aN_len` or `aN[i]`.
    fn execve_field(&mut self, name: &[u8], value: Value<'_>) {
        if name == b"argc" {
            self.argc = self.argc.or(value.to_u32());
            return;
        }
        let Some(rest) = name.strip_prefix(b"a") else {
            return;
        };
        let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
        let Some(index) = parse_u64(&rest[..digits]).and_then(|n| u32::try_from(n).ok()) else {
            return;
        };
        let chunk = match &rest[digits..] {
            b"" => None,
            b"_len" => {
                if let Some(len) = value.to_u64() {
                    self.arg_lens.push((index, len));
                }
                return;
            }
            sub => match sub
                .strip_prefix(b"[")
                .and_then(|s| s.strip_suffix(b"]"))
                .and_then(parse_u64)
                .and_then(|n| u32::try_from(n).ok())
            {
                Some(c) => Some(c),
                None => return,
            },
        };
        let mark = self.buf.len();
        let (data, hex) = push_untrusted_or_raw(&value, &mut self.buf);
        if self.arg_bytes + data.len() > MAX_ARG_BYTES {
            self.buf.truncate(mark);
            self.args_dropped = true;
            return;
        }
        self.arg_bytes += data.len();
        self.args.push(ArgPiece {
            index,
            chunk,
            hex,
            data,
        });
    }

    fn add_path(&mut self, rec: &Record<'_>) {
        if self.path0.is_some() {
            return;
        }
        let (mut item, mut name) = (None, None);
        // The kernel writes `item=N name=...` first: the dozen fields after
        // them (inode, dev, mode, ouid, caps...) need no scanning.
        if let Some((i, rest)) = rec.body.strip_prefix(b"item=").and_then(plain_value) {
            if let Some((n, _)) = rest.strip_prefix(b"name=").and_then(plain_value) {
                item = Some(i.raw() == b"0");
                name = Some(n);
            }
        }
        let fields = if name.is_some() {
            None
        } else {
            Some(rec.fields())
        };
        for f in fields.into_iter().flatten() {
            match f.name {
                b"item" => item = Some(f.value.raw() == b"0"),
                b"name" => name = Some(f.value),
                _ => {}
            }
            if item.is_some() && name.is_some() {
                break;
            }
        }
        let item0 = item == Some(true);
        if item0 {
            self.path0 = name.and_then(|v| push_untrusted(&v, &mut self.buf).map(|s| s.0));
        }
    }

    /// The event, if this was an exec: `host` is the node's name.
    pub fn finish(self, host: &str) -> Option<Event> {
        self.finish_record(host).map(|r| r.to_event())
    }

    /// The exec, if this was one, as an [`ExecRecord`]: the event's
    /// content in one buffer (taken over from the partial event, not
    /// copied), for readers that need no owned [`Event`].
    pub fn finish_record(mut self, host: &str) -> Option<ExecRecord> {
        if self.not_exec || !(self.has_execve || self.exec_syscall) {
            return None;
        }
        // Without its SYSCALL record, an event does not say whether the
        // exec succeeded: the outcome is unknown, not assumed.
        let outcome = match &self.syscall {
            None => Outcome::Unknown,
            Some(s) => match (s.success, s.exit) {
                (Some(false), exit) => Outcome::Failed(exit.filter(|&r| r < 0).unwrap_or(-1)),
                (Some(true), _) => Outcome::Success,
                (None, Some(exit)) => Outcome::from_ret(exit),
                (None, None) => Outcome::Unknown,
            },
        };
        let failed = matches!(outcome, Outcome::Failed(_));
        let (argv, mut truncated) =
            assemble_argv(&mut self.buf, self.args, &self.arg_lens, self.argc);
        truncated |= self.args_dropped;
        let start = self.buf.len();
        self.buf.extend_from_slice(host.as_bytes());
        let host = Span::of(&self.buf, start);
        // The argument spans go into the buffer too: one allocation per
        // record, whichever thread frees it.
        let argv_at = self.buf.len() as u32;
        for a in &argv {
            self.buf.extend_from_slice(&a.start.to_le_bytes());
            self.buf.extend_from_slice(&a.end.to_le_bytes());
        }
        let s = self.syscall.unwrap_or_default();
        // A failed exec's SYSCALL `exe` is the caller's program; the file it
        // tried to run is PATH item 0 (what the eBPF source calls `exe`).
        let exe = match (failed, self.path0) {
            (true, Some(p)) => Some(p),
            _ => s.exe,
        };
        Some(ExecRecord {
            time: self.time,
            serial: self.serial,
            outcome,
            argc: self.argc,
            truncated,
            // No EXECVE record (failed execs log none; a rule set may
            // exclude them): the arguments were not recorded, and are not
            // guessed from the path, the exe or the caller's PROCTITLE.
            argv_missing: !self.has_execve,
            pid: s.pid,
            ppid: s.ppid,
            uid: s.uid,
            euid: s.euid,
            gid: s.gid,
            egid: s.egid,
            auid: s.auid,
            ses: s.ses,
            auid_unreadable: s.auid_unreadable,
            host,
            tty: s.tty,
            comm: s.comm,
            exe,
            cwd: self.cwd,
            key: s.key,
            user: s.auid_name,
            argv_at,
            argv_len: argv.len() as u32,
            bytes: self.buf,
        })
    }
}

/// A finished audit exec event: what [`Event`] an exec would be, its
/// strings in one buffer. The report reads it as a borrowed view
/// (`report::Record::from_audit_exec`) instead of building and dropping an
/// owned `Event` with a dozen allocations per exec; [`ExecRecord::to_event`]
/// makes the `Event` (the live source, `tracer check`), so there is one
/// assembly of an audit exec, whoever reads it.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub time: Timestamp,
    pub serial: u64,
    pub outcome: Outcome,
    pub argc: Option<u32>,
    pub truncated: bool,
    pub argv_missing: bool,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub gid: Option<u32>,
    pub egid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    /// The SYSCALL record's `auid=` was there but not a number (`auid` is
    /// then `None`): an interpreted log, whose commands cannot be given to
    /// a login. The report warns about them.
    pub auid_unreadable: bool,
    host: Span,
    tty: Option<Span>,
    comm: Option<Span>,
    exe: Option<Span>,
    cwd: Option<Span>,
    key: Option<Span>,
    user: Option<Span>,
    /// Where in the bytes the argument spans are (8 bytes each: start, end
    /// as little-endian u32), and how many.
    argv_at: u32,
    argv_len: u32,
    /// Every string of the record. Its own buffer, made and dropped by one
    /// thread: a report's worker makes the records of a chunk and drops
    /// them once the model has read them (`logread::chunk::run`).
    bytes: Vec<u8>,
}

/// Records are equal when they say the same: where their bytes are stored
/// does not matter.
impl PartialEq for ExecRecord {
    fn eq(&self, other: &Self) -> bool {
        self.to_event() == other.to_event()
    }
}

/// UTF-8 by construction (spans written by `push_lossy`, `push_tty`,
/// `push_key`, or a host `&str`); lossy all the same, never a panic.
fn utf8(b: &[u8]) -> std::borrow::Cow<'_, str> {
    crate::bytes::lossy(b)
}

impl ExecRecord {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    fn opt(&self, s: Option<Span>) -> Option<&[u8]> {
        s.map(|s| s.get(self.bytes()))
    }
    pub fn host(&self) -> std::borrow::Cow<'_, str> {
        utf8(self.host.get(self.bytes()))
    }
    pub fn tty(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.opt(self.tty).map(utf8)
    }
    pub fn comm(&self) -> Option<&[u8]> {
        self.opt(self.comm)
    }
    pub fn exe(&self) -> Option<&[u8]> {
        self.opt(self.exe)
    }
    /// The rule key(s), comma-separated.
    pub fn key(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.opt(self.key).map(utf8)
    }
    pub fn cwd(&self) -> Option<&[u8]> {
        self.opt(self.cwd)
    }
    /// The ENRICHED login user name.
    pub fn user(&self) -> Option<std::borrow::Cow<'_, str>> {
        self.opt(self.user).map(utf8)
    }
    /// The arguments, in order.
    pub fn argv(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let b = self.bytes();
        let at = self.argv_at as usize;
        let spans = &b[at..at + 8 * self.argv_len as usize];
        spans.chunks_exact(8).map(move |c| {
            let n = |i: usize| u32::from_le_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            Span {
                start: n(0),
                end: n(4),
            }
            .get(b)
        })
    }

    /// The owned event.
    pub fn to_event(&self) -> Event {
        let bytes = |s: Option<Span>| self.opt(s).map(|b| Bytes(b.to_vec()));
        let text = |s: Option<Span>| self.opt(s).map(|b| utf8(b).into_owned());
        let task = Task {
            pid: self.pid,
            ppid: self.ppid,
            uid: self.uid,
            euid: self.euid,
            gid: self.gid,
            egid: self.egid,
            auid: self.auid,
            ses: self.ses,
            tty: text(self.tty),
            comm: bytes(self.comm),
            exe: bytes(self.exe),
            ..Task::default()
        };
        let body = Exec {
            argv: Some(self.argv().map(|a| Bytes(a.to_vec())).collect()),
            cwd: bytes(self.cwd),
            outcome: self.outcome,
            argc: self.argc,
            truncated: self.truncated,
            argv_missing: self.argv_missing,
            user: text(self.user),
            serial: Some(self.serial),
            key: text(self.key),
            ..Exec::default()
        };
        let mut e = Event::new(Source::Audit, self.time, self.host(), Body::Exec(body));
        e.task = task;
        e
    }
}

/// `Some(true)` for execve/execveat of a known arch, `Some(false)` for another
/// syscall of a known arch, `None` when the arch is unknown or absent (then
/// only an EXECVE record makes the event an exec).
fn exec_syscall(arch: Option<u32>, nr: Option<u32>) -> Option<bool> {
    let (arch, nr) = (arch?, nr?);
    let mut known = false;
    for (a, calls) in EXEC_SYSCALLS {
        if *a == arch {
            known = true;
            if calls.contains(&nr) {
                return Some(true);
            }
        }
    }
    known.then_some(false)
}

/// The audit arch of an interpreted `arch=` (`x86_64`: ausearch's and
/// auditbeat's names for the `AUDIT_ARCH_*` values of [`EXEC_SYSCALLS`]).
fn arch_by_name(name: &[u8]) -> Option<u32> {
    Some(match name {
        b"x86_64" => 0xc000_003e,
        b"i386" | b"i486" | b"i586" | b"i686" => 0x4000_0003,
        b"aarch64" => 0xc000_00b7,
        b"arm" | b"armv7l" | b"armv6l" => 0x4000_0028,
        b"riscv64" => 0xc000_00f3,
        _ => return None,
    })
}

/// An interpreted `syscall=` (a name): `Some(true)` for execve/execveat,
/// `Some(false)` for another syscall's name, `None` for anything that is not
/// a name (then only an EXECVE record makes the event an exec).
fn syscall_name_is_exec(name: &[u8]) -> Option<bool> {
    let is_name = name.first().is_some_and(u8::is_ascii_lowercase)
        && name
            .iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    is_name.then_some(matches!(name, b"execve" | b"execveat"))
}

/// Puts argument pieces in order: whole `aN`, or `aN[0]`, `aN[1]`... joined
/// (appended to `buf`). Returns argv and whether it is incomplete: fewer
/// than `argc` arguments, a missing chunk, or chunks not adding up to
/// `aN_len`. Stops at the first missing index rather than shifting later
/// arguments into its place.
fn assemble_argv(
    buf: &mut Vec<u8>,
    mut pieces: Vec<ArgPiece>,
    lens: &[(u32, u64)],
    argc: Option<u32>,
) -> (Vec<Span>, bool) {
    let key = |p: &ArgPiece| (p.index, p.chunk.map_or(0, |c| u64::from(c) + 1));
    if !pieces.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
        pieces.sort_by_key(key);
    }
    let mut argv: Vec<Span> = Vec::with_capacity(pieces.len());
    let mut truncated = false;
    let mut it = pieces.into_iter().peekable();
    while let Some(first) = it.next() {
        let index = first.index;
        if index as usize != argv.len() {
            if index as usize > argv.len() {
                truncated = true;
                break;
            }
            continue; // A duplicate of an index already taken.
        }
        if argc.is_some_and(|n| index >= n) {
            truncated = true;
            break;
        }
        let hex = first.hex;
        let mut arg = first.data;
        if let Some(c0) = first.chunk {
            let mut next_chunk = c0 + 1;
            truncated |= c0 != 0;
            // Where the joined argument starts in `buf`, once a second
            // chunk shows that there is something to join.
            let mut joined: Option<usize> = None;
            while let Some(p) = it.next_if(|p| p.index == index) {
                match p.chunk {
                    Some(c) if c == next_chunk => {
                        if joined.is_none() {
                            joined = Some(buf.len());
                            buf.extend_from_within(arg.start as usize..arg.end as usize);
                        }
                        buf.extend_from_within(p.data.start as usize..p.data.end as usize);
                        next_chunk += 1;
                    }
                    Some(c) if c < next_chunk => {} // duplicate chunk
                    _ => truncated = true,
                }
            }
            if let Some(start) = joined {
                arg = Span::of(buf, start);
            }
            if let Some(&(_, len)) = lens.iter().find(|(i, _)| *i == index) {
                let logged = arg.len() as u64 * if hex { 2 } else { 1 };
                truncated |= logged != len;
            }
        } else {
            // Ignore stray chunks of an argument also logged whole.
            while it.next_if(|p| p.index == index).is_some() {}
        }
        argv.push(arg);
    }
    if let Some(n) = argc {
        truncated |= argv.len() as u64 != u64::from(n);
    }
    (argv, truncated)
}

/// SYSCALL's (and LOGIN's) `tty=pts1` -> `pts/1`, other values as
/// (lossy) text, `(none)` -> None; appended to `buf`.
pub(super) fn push_tty(v: &[u8], buf: &mut Vec<u8>) -> Option<Span> {
    match v {
        b"(none)" | b"" | b"?" => None,
        _ => {
            if let Some(n) = v.strip_prefix(b"pts") {
                if !n.is_empty() && n.iter().all(u8::is_ascii_digit) {
                    let start = buf.len();
                    buf.extend_from_slice(b"pts/");
                    buf.extend_from_slice(n);
                    return Some(Span::of(buf, start));
                }
            }
            Some(push_lossy(v, buf))
        }
    }
}

/// `key="a"`, `key=(null)`, or hex of several keys separated by 0x01
/// (`-k a -k b`), written here separated by commas; appended to `buf`.
fn push_key(v: &Value<'_>, buf: &mut Vec<u8>) -> Option<Span> {
    let (span, _) = push_untrusted(v, buf)?;
    let start = span.start as usize;
    if std::str::from_utf8(&buf[start..]).is_err() {
        // Rare: lossy text of the decoded bytes (0x01 is ASCII, so
        // replacing it after the lossy conversion is the same as joining
        // the lossy parts).
        let text = String::from_utf8_lossy(&buf[start..]).into_owned();
        buf.truncate(start);
        buf.extend_from_slice(text.as_bytes());
    }
    for c in &mut buf[start..] {
        if *c == 0x01 {
            *c = b',';
        }
    }
    Some(Span::of(buf, start))
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
