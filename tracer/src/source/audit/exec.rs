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

use super::parse::Record;
use super::rtype::RecordType;
use super::value::{parse_u64, Value};
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

/// What a SYSCALL record says about an event.
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
    tty: Option<String>,
    comm: Option<Vec<u8>>,
    exe: Option<Vec<u8>>,
    key: Option<String>,
    /// ENRICHED `AUID=`: the login user's name on the recording host.
    auid_name: Option<String>,
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
    data: Vec<u8>,
}

/// The records of one syscall event seen so far.
#[derive(Debug)]
pub struct PartialExec {
    pub time: Timestamp,
    pub serial: u64,
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
    cwd: Option<Vec<u8>>,
    path0: Option<Vec<u8>>,
}

impl PartialExec {
    pub fn new(time: Timestamp, serial: u64) -> Self {
        Self {
            time,
            serial,
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
        }
    }

    /// Bytes held, roughly: for the coalescer's memory bound.
    pub fn size(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.arg_bytes
            + self.args.len() * std::mem::size_of::<ArgPiece>()
            + self.cwd.as_ref().map_or(0, Vec::len)
            + self.path0.as_ref().map_or(0, Vec::len)
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
        if self.not_exec {
            return;
        }
        match rec.rtype {
            RecordType::SYSCALL => self.add_syscall(rec),
            RecordType::EXECVE => self.add_execve(rec),
            RecordType::CWD if self.cwd.is_none() => {
                self.cwd = rec
                    .get(b"cwd")
                    .and_then(|v| v.untrusted())
                    .map(|c| c.into_owned());
            }
            RecordType::PATH => self.add_path(rec),
            _ => {}
        }
    }

    fn add_syscall(&mut self, rec: &Record<'_>) {
        if self.syscall.is_some() {
            return;
        }
        let mut s = Syscall::default();
        let (mut arch, mut nr) = (None, None);
        for f in rec.fields() {
            let v = f.value;
            match f.name {
                b"arch" => arch = v.to_hex_u32(),
                b"syscall" => nr = v.to_u32(),
                b"success" => s.success = Some(v.raw() == b"yes"),
                b"exit" => s.exit = v.to_i64(),
                b"pid" => s.pid = v.to_u32(),
                b"ppid" => s.ppid = v.to_u32(),
                b"uid" => s.uid = v.to_u32(),
                b"euid" => s.euid = v.to_u32(),
                b"gid" => s.gid = v.to_u32(),
                b"egid" => s.egid = v.to_u32(),
                b"auid" => s.auid = v.to_id(),
                b"ses" => s.ses = v.to_id(),
                b"tty" => s.tty = syscall_tty(v.raw()),
                b"comm" => s.comm = v.untrusted().map(|c| c.into_owned()),
                b"exe" => s.exe = v.untrusted().map(|c| c.into_owned()),
                b"key" => s.key = key(&v),
                _ => {}
            }
        }
        s.auid_name = rec
            .enriched_name(b"AUID")
            .map(|n| String::from_utf8_lossy(n).into_owned());
        match exec_syscall(arch, nr) {
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
        self.args = Vec::new();
        self.arg_lens = Vec::new();
        self.arg_bytes = 0;
        self.cwd = None;
        self.path0 = None;
    }

    fn add_execve(&mut self, rec: &Record<'_>) {
        self.has_execve = true;
        for f in rec.fields() {
            let name = f.name;
            if name == b"argc" {
                self.argc = self.argc.or(f.value.to_u32());
                continue;
            }
            let Some(rest) = name.strip_prefix(b"a") else {
                continue;
            };
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            let Some(index) = parse_u64(&rest[..digits]).and_then(|n| u32::try_from(n).ok()) else {
                continue;
            };
            let chunk = match &rest[digits..] {
                b"" => None,
                b"_len" => {
                    if let Some(len) = f.value.to_u64() {
                        self.arg_lens.push((index, len));
                    }
                    continue;
                }
                sub => match sub
                    .strip_prefix(b"[")
                    .and_then(|s| s.strip_suffix(b"]"))
                    .and_then(parse_u64)
                    .and_then(|n| u32::try_from(n).ok())
                {
                    Some(c) => Some(c),
                    None => continue,
                },
            };
            let data = f.value.untrusted_or_raw();
            let hex =
                matches!(f.value, Value::Bare(_)) && matches!(data, std::borrow::Cow::Owned(_));
            if self.arg_bytes + data.len() > MAX_ARG_BYTES {
                self.args_dropped = true;
                continue;
            }
            self.arg_bytes += data.len();
            self.args.push(ArgPiece {
                index,
                chunk,
                hex,
                data: data.into_owned(),
            });
        }
    }

    fn add_path(&mut self, rec: &Record<'_>) {
        if self.path0.is_some() {
            return;
        }
        let mut item0 = false;
        let mut name = None;
        for f in rec.fields() {
            match f.name {
                b"item" => item0 = f.value.raw() == b"0",
                b"name" => name = f.value.untrusted().map(|c| c.into_owned()),
                _ => {}
            }
        }
        if item0 {
            self.path0 = name;
        }
    }

    /// The event, if this was an exec: `host` is the node's name.
    pub fn finish(self, host: &str) -> Option<Event> {
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
        let (argv, mut truncated) = assemble_argv(self.args, &self.arg_lens, self.argc);
        truncated |= self.args_dropped;
        // No EXECVE record (failed execs log none; a rule set may exclude
        // them): the arguments were not recorded, and are not guessed from
        // the path, the exe or the caller's PROCTITLE.
        let argv_missing = !self.has_execve;
        let mut task = Task::default();
        let mut key = None;
        let mut user = None;
        if let Some(s) = self.syscall {
            user = s.auid_name;
            task = Task {
                pid: s.pid,
                ppid: s.ppid,
                uid: s.uid,
                euid: s.euid,
                gid: s.gid,
                egid: s.egid,
                auid: s.auid,
                ses: s.ses,
                tty: s.tty,
                comm: s.comm.map(Bytes),
                exe: s.exe.map(Bytes),
                ..Task::default()
            };
            key = s.key;
        }
        // A failed exec's SYSCALL `exe` is the caller's program; the file it
        // tried to run is PATH item 0 (what the eBPF source calls `exe`).
        if failed {
            if let Some(p) = self.path0 {
                task.exe = Some(Bytes(p));
            }
        }
        let body = Exec {
            argv: Some(argv.into_iter().map(Bytes).collect()),
            cwd: self.cwd.map(Bytes),
            outcome,
            argc: self.argc,
            truncated,
            argv_missing,
            user,
            serial: Some(self.serial),
            key,
            ..Exec::default()
        };
        let mut e = Event::new(Source::Audit, self.time, host, Body::Exec(body));
        e.task = task;
        Some(e)
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

/// Puts argument pieces in order: whole `aN`, or `aN[0]`, `aN[1]`... joined.
/// Returns argv and whether it is incomplete: fewer than `argc` arguments, a
/// missing chunk, or chunks not adding up to `aN_len`. Stops at the first
/// missing index rather than shifting later arguments into its place.
fn assemble_argv(
    mut pieces: Vec<ArgPiece>,
    lens: &[(u32, u64)],
    argc: Option<u32>,
) -> (Vec<Vec<u8>>, bool) {
    let key = |p: &ArgPiece| (p.index, p.chunk.map_or(0, |c| u64::from(c) + 1));
    if !pieces.windows(2).all(|w| key(&w[0]) <= key(&w[1])) {
        pieces.sort_by_key(key);
    }
    let mut argv: Vec<Vec<u8>> = Vec::with_capacity(pieces.len());
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
            while let Some(p) = it.next_if(|p| p.index == index) {
                match p.chunk {
                    Some(c) if c == next_chunk => {
                        arg.extend_from_slice(&p.data);
                        next_chunk += 1;
                    }
                    Some(c) if c < next_chunk => {} // duplicate chunk
                    _ => truncated = true,
                }
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

/// SYSCALL's `tty=pts1` -> `pts/1`; `(none)` -> None.
pub(crate) fn syscall_tty(v: &[u8]) -> Option<String> {
    match v {
        b"(none)" | b"" | b"?" => None,
        _ => {
            let s = String::from_utf8_lossy(v);
            match s.strip_prefix("pts") {
                Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
                    Some(format!("pts/{n}"))
                }
                _ => Some(s.into_owned()),
            }
        }
    }
}

/// `key="a"`, `key=(null)`, or hex of several keys separated by 0x01
/// (`-k a -k b`), written here separated by commas.
fn key(v: &Value<'_>) -> Option<String> {
    let k = v.untrusted()?;
    let parts: Vec<std::borrow::Cow<'_, str>> = k
        .split(|&c| c == 0x01)
        .map(String::from_utf8_lossy)
        .collect();
    Some(parts.join(","))
}

#[cfg(test)]
#[path = "exec_tests.rs"]
mod tests;
