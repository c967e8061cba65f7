//! Login-to-logout tracking: turns the exec/exit stream into `session_start`
//! and `session_end` records, and marks execs that run as another identity.
//!
//! A session is keyed by (host, auid, ses): `pam_loginuid` gives every login a
//! fresh audit session id that all its processes inherit, through su, sudo and
//! setuid. It starts when the first process with a new `ses` is seen (an exec,
//! a process found in `/proc` at start-up, or the audit USER_START/USER_LOGIN
//! record) and ends when its last known process exits or the audit USER_END
//! record arrives. State is bounded: sessions idle for longer than
//! `idle_expiry` are ended with `detail.reason = "expired"`, and at most
//! `max_sessions` are tracked (the least recently active is expired first).
//!
//! After a restart of tracer, the `/proc` scan brings back every session that
//! still has a process; its `session_start` carries `detail.resumed = true`
//! and the start time of its oldest process, so the report joins it with the
//! record written before the restart instead of showing two sessions.
//!
//! The source address of a login is not in any exec: [`LoginInfo`] finds it
//! (for the eBPF source, from `/proc`: see [`ProcLoginInfo`]).

use std::collections::{HashMap, HashSet};

use crate::event::{
    Body, EndReason, Event, Kind, LoginType, SessionEnd, SessionStart, Source, Timestamp, Via,
};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    pub host: String,
    pub auid: u32,
    pub ses: u32,
}

/// What the tracker learns outside the event stream.
pub trait LoginInfo {
    /// The remote address and port of the login that `pid` (or, when it is
    /// already gone, its parent `ppid`) belongs to.
    fn source_of(&self, pid: u32, ppid: u32) -> Option<(String, u16)>;
    /// Whether `pid` is still a live (not zombie) process: prunes processes
    /// whose exit record was lost, so that their session can still end.
    fn alive(&self, pid: u32) -> bool;
}

/// No lookups (audit source, tests): no address, and nothing outside the
/// event stream keeps a session alive.
pub struct NoLoginInfo;
impl LoginInfo for NoLoginInfo {
    fn source_of(&self, _pid: u32, _ppid: u32) -> Option<(String, u16)> {
        None
    }
    fn alive(&self, _pid: u32) -> bool {
        false
    }
}

#[derive(Debug, Clone, Copy)]
pub struct TrackerOptions {
    pub max_sessions: usize,
    /// A session with no event for this long is ended as expired (ns).
    pub idle_expiry_ns: i64,
}

impl Default for TrackerOptions {
    fn default() -> Self {
        Self {
            max_sessions: 65_536,
            idle_expiry_ns: 7 * 24 * 3600 * 1_000_000_000,
        }
    }
}

#[derive(Debug)]
struct Session {
    start: Timestamp,
    last: Timestamp,
    tty: Option<String>,
    addr: Option<String>,
    /// Live processes known to belong to the session.
    procs: HashSet<u32>,
    /// Whether the session has had at least one process (so that an empty
    /// set means "all gone", not "none seen yet": audit-only sessions).
    had_procs: bool,
    /// The session leader (where the login set the login uid) has exited.
    /// The session ends when, in addition, every process of it that the
    /// stream showed is gone: background jobs keep a login open.
    leader_gone: bool,
}

/// What the tracker remembers of a process, to explain identity changes.
#[derive(Debug, Clone)]
struct Proc {
    key: SessionKey,
    ppid: u32,
    comm: Vec<u8>,
    start_boottime: Option<u64>,
}

pub struct SessionTracker<L: LoginInfo = NoLoginInfo> {
    opts: TrackerOptions,
    info: L,
    sessions: HashMap<SessionKey, Session>,
    procs: HashMap<u32, Proc>,
}

impl<L: LoginInfo> SessionTracker<L> {
    pub fn new(opts: TrackerOptions, info: L) -> Self {
        Self {
            opts,
            info,
            sessions: HashMap::new(),
            procs: HashMap::new(),
        }
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Feeds one event. Pushes into `out`, in stream order: a `session_start`
    /// if the event opens a session, the event itself (annotated with `via`
    /// for identity changes), and a `session_end` if it closes one.
    pub fn observe(&mut self, mut ev: Event, out: &mut Vec<Event>) {
        match ev.kind() {
            Kind::Exec | Kind::Process | Kind::ExecFailed => self.on_process(&mut ev, out),
            Kind::Exit => {
                out.push(ev.clone());
                self.on_exit(&ev, out);
                return;
            }
            Kind::Login => {
                self.on_login(&ev, out);
            }
            _ => {}
        }
        out.push(ev);
    }

    fn key_of(ev: &Event) -> Option<SessionKey> {
        Some(SessionKey {
            host: ev.host.clone(),
            auid: ev.login_uid()?,
            ses: ev.session_id()?,
        })
    }

    fn on_process(&mut self, ev: &mut Event, out: &mut Vec<Event>) {
        let (Some(key), Some(pid)) = (Self::key_of(ev), ev.task.pid) else {
            return;
        };
        if !self.sessions.contains_key(&key) {
            self.make_room(ev.time, out);
            let resumed = ev.kind() == Kind::Process;
            let addr = self.info.source_of(pid, ev.task.ppid.unwrap_or(0));
            let start = ev.time;
            self.sessions.insert(
                key.clone(),
                Session {
                    start,
                    last: ev.time,
                    tty: ev.task.tty.clone().filter(|t| !t.is_empty()),
                    addr: addr.as_ref().map(|a| a.0.clone()),
                    procs: HashSet::new(),
                    had_procs: false,
                    leader_gone: false,
                },
            );
            let (addr, port) = match addr {
                Some((a, p)) => (Some(a), Some(p)),
                None => (None, None),
            };
            let mut s = Event::new(
                ev.source,
                start,
                ev.host.clone(),
                Body::SessionStart(SessionStart {
                    addr,
                    port,
                    resumed,
                    ..SessionStart::default()
                }),
            );
            s.task.auid = Some(key.auid);
            s.task.ses = Some(key.ses);
            s.task.pid = Some(pid);
            s.task.tty = ev.task.tty.clone();
            out.push(s);
        }
        let sess = self.sessions.get_mut(&key).expect("inserted above");
        sess.last = sess.last.max(ev.time);
        if sess.tty.is_none() {
            sess.tty = ev.task.tty.clone().filter(|t| !t.is_empty());
        }
        if ev.kind() != Kind::ExecFailed {
            sess.procs.insert(pid);
            sess.had_procs = true;
            self.procs.insert(
                pid,
                Proc {
                    key: key.clone(),
                    ppid: ev.task.ppid.unwrap_or(0),
                    comm: ev
                        .task
                        .comm
                        .as_ref()
                        .map(|c| c.0.clone())
                        .unwrap_or_default(),
                    start_boottime: ev.task.start_boottime,
                },
            );
        }
        let via = self.identity_change(ev, &key);
        if let Some(x) = ev.exec_mut() {
            x.via = via;
        }
    }

    /// `sudo`/`su` when such a process is among the exec's ancestors in the
    /// session, `setuid` otherwise, `None` when the exec runs as the login user.
    fn identity_change(&self, ev: &Event, key: &SessionKey) -> Option<Via> {
        let (uid, euid) = (ev.task.uid?, ev.task.euid.unwrap_or(ev.task.uid?));
        if uid == key.auid && euid == key.auid {
            return None;
        }
        let mut pid = ev.task.ppid.unwrap_or(0);
        // Also the process itself: `sudo` execs its target in place on some
        // setups (and `su -c` runs a shell whose parent is su).
        for _ in 0..16 {
            let Some(p) = self.procs.get(&pid) else { break };
            if p.key != *key {
                break;
            }
            match p.comm.as_slice() {
                b"sudo" => return Some(Via::Sudo),
                b"su" => return Some(Via::Su),
                _ => {}
            }
            pid = p.ppid;
        }
        Some(Via::Setuid)
    }

    fn on_exit(&mut self, ev: &Event, out: &mut Vec<Event>) {
        let Some(pid) = ev.task.pid else { return };
        let key = match self.procs.get(&pid) {
            // Pid reuse: the exit of another process with this pid (start
            // times differ by more than the /proc clock-tick granularity).
            Some(p)
                if p.start_boottime
                    .zip(ev.task.start_boottime)
                    .is_some_and(|(a, b)| a.abs_diff(b) > 20_000_000) =>
            {
                return
            }
            Some(p) => {
                let key = p.key.clone();
                self.procs.remove(&pid);
                key
            }
            // A process the stream never showed (it did not exec), e.g. the
            // session leader itself (sshd's per-login process).
            None => match Self::key_of(ev) {
                Some(k) if self.sessions.contains_key(&k) => k,
                _ => return,
            },
        };
        let Some(sess) = self.sessions.get_mut(&key) else {
            return;
        };
        sess.procs.remove(&pid);
        sess.last = sess.last.max(ev.time);
        if matches!(&ev.body, Body::Exit(x) if x.session_leader) {
            sess.leader_gone = true;
        }
        if sess.leader_gone && sess.procs.is_empty() {
            self.end(&key, ev.time, ev.source, EndReason::Logout, out);
        }
    }

    /// Audit login records: USER_START/USER_LOGIN open a session (with the
    /// source address), USER_END closes it.
    fn on_login(&mut self, ev: &Event, out: &mut Vec<Event>) {
        let Some(key) = Self::key_of(ev) else { return };
        let Body::Login(l) = &ev.body else { return };
        match l.record_type {
            LoginType::UserStart | LoginType::UserLogin if l.succeeded() => {
                if let Some(sess) = self.sessions.get_mut(&key) {
                    if sess.addr.is_none() {
                        sess.addr = l.addr.clone();
                    }
                    return;
                }
                self.make_room(ev.time, out);
                self.sessions.insert(
                    key.clone(),
                    Session {
                        start: ev.time,
                        last: ev.time,
                        tty: ev.task.tty.clone(),
                        addr: l.addr.clone(),
                        procs: HashSet::new(),
                        had_procs: false,
                        leader_gone: false,
                    },
                );
                let mut s = Event::new(
                    ev.source,
                    ev.time,
                    ev.host.clone(),
                    Body::SessionStart(SessionStart {
                        addr: l.addr.clone(),
                        ..SessionStart::default()
                    }),
                );
                s.task.auid = Some(key.auid);
                s.task.ses = Some(key.ses);
                s.task.pid = ev.task.pid;
                s.task.tty = ev.task.tty.clone();
                out.push(s);
            }
            LoginType::UserEnd if self.sessions.contains_key(&key) => {
                self.end(&key, ev.time, ev.source, EndReason::Logout, out);
            }
            _ => {}
        }
    }

    fn end(
        &mut self,
        key: &SessionKey,
        time: Timestamp,
        source: Source,
        reason: EndReason,
        out: &mut Vec<Event>,
    ) {
        let Some(sess) = self.sessions.remove(key) else {
            return;
        };
        for pid in &sess.procs {
            self.procs.remove(pid);
        }
        let mut e = Event::new(
            source,
            time,
            key.host.clone(),
            Body::SessionEnd(SessionEnd {
                addr: sess.addr,
                from: Some(sess.start),
                reason,
                kind: None,
                user: None,
            }),
        );
        e.task.auid = Some(key.auid);
        e.task.ses = Some(key.ses);
        e.task.tty = sess.tty;
        out.push(e);
    }

    /// Ends draining sessions whose processes are all gone (at the time of
    /// their last event), and sessions idle for longer than the expiry. Call
    /// periodically.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        // Sessions whose leader is gone but which still list processes:
        // drop the ones that no longer exist (their exit record was lost).
        let mut over = Vec::new();
        for (k, sess) in self.sessions.iter_mut().filter(|(_, s)| s.leader_gone) {
            sess.procs.retain(|&pid| self.info.alive(pid));
            if sess.procs.is_empty() {
                over.push((k.clone(), sess.last));
            }
        }
        over.sort();
        for (k, last) in over {
            self.end(&k, last, Source::Tracer, EndReason::Logout, out);
        }
        let limit = now.0.saturating_sub(self.opts.idle_expiry_ns);
        let mut stale: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.last.0 < limit)
            .map(|(k, _)| k.clone())
            .collect();
        stale.sort();
        for k in stale {
            self.end(&k, now, Source::Tracer, EndReason::Expired, out);
        }
    }

    fn make_room(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        while self.sessions.len() >= self.opts.max_sessions {
            let Some(oldest) = self
                .sessions
                .iter()
                .min_by_key(|(k, s)| (s.last, (*k).clone()))
                .map(|(k, _)| k.clone())
            else {
                return;
            };
            self.end(&oldest, now, Source::Tracer, EndReason::Expired, out);
        }
    }
}

/// Looks at `/proc`. Finds a login's source address: the `SSH_CONNECTION`
/// environment variable of the process or its ancestors (set by sshd for the
/// session's shell), else the remote end of an established TCP connection held
/// by an `sshd` ancestor (the session's network process lives as long as the
/// login).
pub struct ProcLoginInfo;

impl LoginInfo for ProcLoginInfo {
    fn alive(&self, pid: u32) -> bool {
        crate::source::procfs::alive(pid)
    }

    fn source_of(&self, pid: u32, ppid: u32) -> Option<(String, u16)> {
        let gone = !std::path::Path::new(&format!("/proc/{pid}")).exists();
        let mut p = if gone { ppid } else { pid };
        for _ in 0..8 {
            if p <= 1 {
                break;
            }
            if let Some(s) = ssh_connection(p) {
                return Some(s);
            }
            if std::fs::read(format!("/proc/{p}/comm")).ok().as_deref() == Some(b"sshd\n") {
                if let Some(s) = crate::source::procfs::tcp_peer(p) {
                    return Some(s);
                }
            }
            p = std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| crate::source::procfs::stat_ppid(&s))?;
        }
        None
    }
}

fn ssh_connection(pid: u32) -> Option<(String, u16)> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let v = env
        .split(|&b| b == 0)
        .find_map(|kv| kv.strip_prefix(b"SSH_CONNECTION="))?;
    parse_ssh_connection(&String::from_utf8_lossy(v))
}

/// `SSH_CONNECTION=client_ip client_port server_ip server_port`.
pub fn parse_ssh_connection(v: &str) -> Option<(String, u16)> {
    let mut it = v.split_whitespace();
    let ip = it.next()?;
    let port = it.next()?.parse().ok()?;
    ip.parse::<std::net::IpAddr>().ok()?;
    Some((ip.to_string(), port))
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
