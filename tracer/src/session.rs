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
//!
//! Which audit login records start and end a session, and what kind of
//! session it is, is decided by [`crate::sessions`] (the model the report
//! uses too): a sudo or su inside a login never ends it. Session records
//! carry `session_kind` and `user` (the login user's name: the login's own
//! `acct=`, else [`LoginInfo::user_name`]), so the log names its users
//! wherever it is read. tracer runs on one boot, so the key needs no boot:
//! the report ties records to boots with the `boot` of tracer's records.

use crate::hash::{IntMap, IntSet};
use std::sync::Arc;

use crate::event::{
    Body, EndReason, Event, Kind, LoginType, SessionEnd, SessionKind, SessionStart, Source,
    Timestamp, Via,
};
use crate::sessions::{self, Login, LoginFact, Verdict};

/// The wire kind of a session-model kind (`None` while unknown).
fn wire_kind(k: sessions::SessionKind) -> Option<SessionKind> {
    (k != sessions::SessionKind::Unknown).then(|| SessionKind::parse(k.as_str()))
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    /// Shared: a key is made per exec, the host rarely changes.
    pub host: Arc<str>,
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
    /// The name of `uid` on this machine, for session records.
    fn user_name(&self, _uid: u32) -> Option<String> {
        None
    }
    /// Live processes of the session that the stream may not have shown
    /// (forked, not exec'd: a background subshell), asked when the leader
    /// and every known process are gone, before the session is ended.
    fn session_members(&self, _auid: u32, _ses: u32) -> Vec<u32> {
        Vec::new()
    }
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
    /// The session model's state: leader, kind, service, name.
    login: Login,
    /// The login user's name written in session records.
    user: Option<String>,
    /// Live processes known to belong to the session.
    procs: IntSet<u32>,
    /// Whether the session has had at least one process (so that an empty
    /// set means "all gone", not "none seen yet": audit-only sessions).
    had_procs: bool,
    /// The session leader (where the login set the login uid) has exited.
    /// The session ends when, in addition, every process of it that the
    /// stream showed is gone: background jobs keep a login open.
    leader_gone: bool,
    /// The `session_start` of a session the kernel's LOGIN opened, held
    /// until PAM's next record of it names the service and source address
    /// (or its end, a second, or tracer's stop). Not by its processes:
    /// PAM modules run some (pam_motd's run-parts) before USER_START.
    pending_start: Option<Event>,
}

/// What the tracker remembers of a process, to explain identity changes.
#[derive(Debug, Clone)]
struct Proc {
    key: SessionKey,
    ppid: u32,
    comm: Comm,
    start_boottime: Option<u64>,
}

/// A process name kept inline (no allocation per exec): the kernel's
/// `comm` is at most 15 bytes; a longer one (from a log) is cut, which
/// cannot make it equal `sudo` or `su`.
#[derive(Debug, Clone, Copy)]
struct Comm {
    len: u8,
    bytes: [u8; 16],
}

impl Comm {
    fn new(c: &[u8]) -> Self {
        let n = c.len().min(16);
        let mut bytes = [0u8; 16];
        bytes[..n].copy_from_slice(&c[..n]);
        Self {
            len: n as u8,
            bytes,
        }
    }
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// What the tracker needs of an exec, exec_failed or process record,
/// borrowed: from an [`Event`] ([`ProcView::of`]) or straight from a
/// ring-buffer record (the daemon's hot path builds no `Event` per exec).
#[derive(Debug, Clone, Copy)]
pub struct ProcView<'a> {
    /// `Exec`, `ExecFailed` or `Process`.
    pub kind: Kind,
    pub time: Timestamp,
    pub source: Source,
    pub host: &'a str,
    pub pid: Option<u32>,
    pub ppid: Option<u32>,
    pub uid: Option<u32>,
    pub euid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub tty: Option<&'a str>,
    pub comm: Option<&'a [u8]>,
    pub cgroup: Option<&'a str>,
    pub start_boottime: Option<u64>,
}

impl<'a> ProcView<'a> {
    pub fn of(ev: &'a Event) -> Self {
        let t = &ev.task;
        Self {
            kind: ev.kind(),
            time: ev.time,
            source: ev.source,
            host: &ev.host,
            pid: t.pid,
            ppid: t.ppid,
            uid: t.uid,
            euid: t.euid,
            auid: t.auid,
            ses: t.ses,
            tty: t.tty.as_deref(),
            comm: t.comm.as_ref().map(|c| c.as_slice()),
            cgroup: t.cgroup.as_deref(),
            start_boottime: t.start_boottime,
        }
    }
}

/// What the tracker needs of an exit record, borrowed (see [`ProcView`]).
#[derive(Debug, Clone, Copy)]
pub struct ExitView<'a> {
    pub time: Timestamp,
    pub source: Source,
    pub host: &'a str,
    pub pid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    pub start_boottime: Option<u64>,
    pub session_leader: bool,
}

impl<'a> ExitView<'a> {
    /// `None` when `ev` is not an exit.
    pub fn of(ev: &'a Event) -> Option<Self> {
        let Body::Exit(x) = &ev.body else { return None };
        Some(Self {
            time: ev.time,
            source: ev.source,
            host: &ev.host,
            pid: ev.task.pid,
            auid: ev.task.auid,
            ses: ev.task.ses,
            start_boottime: ev.task.start_boottime,
            session_leader: x.session_leader,
        })
    }
}

fn unset(v: Option<u32>) -> Option<u32> {
    v.filter(|&x| x != crate::event::UNSET)
}

pub struct SessionTracker<L: LoginInfo = NoLoginInfo> {
    opts: TrackerOptions,
    info: L,
    sessions: IntMap<SessionKey, Session>,
    procs: IntMap<u32, Proc>,
    /// Sessions that ended, with when: a record of one older than its end
    /// (an event completed late: audit logs have no EOE) does not open it
    /// again. Bounded like `sessions`.
    ended: IntMap<SessionKey, Timestamp>,
    /// The host of the last key made (keys share it).
    host: Arc<str>,
}

impl<L: LoginInfo> SessionTracker<L> {
    pub fn new(opts: TrackerOptions, info: L) -> Self {
        Self {
            opts,
            info,
            sessions: IntMap::default(),
            procs: IntMap::default(),
            ended: IntMap::default(),
            host: Arc::from(""),
        }
    }

    pub fn open_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Writes the session records still held (see `pending_start`): at stop,
    /// or at the end of a replayed stream.
    pub fn flush(&mut self, out: &mut Vec<Event>) {
        let mut held: Vec<Event> = self
            .sessions
            .values_mut()
            .filter_map(|s| s.pending_start.take())
            .collect();
        held.sort_by_key(|e| e.time);
        out.extend(held);
    }

    /// Feeds one event. Pushes into `out`, in stream order: a `session_start`
    /// if the event opens a session, the event itself (annotated with `via`
    /// for identity changes), and a `session_end` if it closes one.
    pub fn observe(&mut self, mut ev: Event, out: &mut Vec<Event>) {
        match ev.kind() {
            Kind::Exec | Kind::Process | Kind::ExecFailed => {
                if let Some(via) = self.observe_process(&ProcView::of(&ev), out) {
                    if let Some(x) = ev.exec_mut() {
                        x.via = via;
                    }
                }
            }
            Kind::Exit => {
                let at = out.len();
                if let Some(v) = ExitView::of(&ev) {
                    self.observe_exit(&v, out);
                }
                // The exit goes before the session end it caused.
                out.insert(at, ev);
                return;
            }
            Kind::Login => {
                self.on_login(&ev, out);
            }
            _ => {}
        }
        out.push(ev);
    }

    fn key(&mut self, host: &str, auid: Option<u32>, ses: Option<u32>) -> Option<SessionKey> {
        let (auid, ses) = (unset(auid)?, unset(ses)?);
        if *self.host != *host {
            self.host = Arc::from(host);
        }
        Some(SessionKey {
            host: self.host.clone(),
            auid,
            ses,
        })
    }

    fn key_of(&mut self, ev: &Event) -> Option<SessionKey> {
        self.key(&ev.host, ev.task.auid, ev.task.ses)
    }

    /// Feeds an exec, exec_failed or process record: pushes into `out` the
    /// `session_start` it opens, if any (it goes before the record), and
    /// returns the record's `via` (`None` when the tracker has nothing to
    /// say: no login uid, session or pid; leave the record as it is).
    pub fn observe_process(&mut self, ev: &ProcView, out: &mut Vec<Event>) -> Option<Option<Via>> {
        let (Some(key), Some(pid)) = (self.key(ev.host, ev.auid, ev.ses), ev.pid) else {
            return None;
        };
        if !self.sessions.contains_key(&key) && self.ended.get(&key).is_some_and(|&t| ev.time <= t)
        {
            return Some(self.identity_change(ev, &key));
        }
        if !self.sessions.contains_key(&key) {
            self.make_room(ev.time, out);
            let resumed = ev.kind == Kind::Process;
            let addr = self.info.source_of(pid, ev.ppid.unwrap_or(0));
            let start = ev.time;
            let mut login = Login::default();
            login.started(start);
            login.saw_process(ev.cgroup, ev.tty);
            let user = self.info.user_name(key.auid);
            let kind = wire_kind(login.kind);
            self.sessions.insert(
                key.clone(),
                Session {
                    start,
                    last: ev.time,
                    tty: ev.tty.filter(|t| !t.is_empty()).map(str::to_owned),
                    addr: addr.as_ref().map(|a| a.0.clone()),
                    login,
                    user: user.clone(),
                    procs: IntSet::default(),
                    had_procs: false,
                    leader_gone: false,
                    pending_start: None,
                },
            );
            let (addr, port) = match addr {
                Some((a, p)) => (Some(a), Some(p)),
                None => (None, None),
            };
            let mut s = Event::new(
                ev.source,
                start,
                ev.host,
                Body::SessionStart(SessionStart {
                    addr,
                    port,
                    resumed,
                    kind,
                    user,
                    ..SessionStart::default()
                }),
            );
            s.task.auid = Some(key.auid);
            s.task.ses = Some(key.ses);
            s.task.pid = Some(pid);
            s.task.tty = ev.tty.map(str::to_owned);
            out.push(s);
        }
        let sess = self.sessions.get_mut(&key).expect("inserted above");
        sess.last = sess.last.max(ev.time);
        if sess.tty.is_none() {
            sess.tty = ev.tty.filter(|t| !t.is_empty()).map(str::to_owned);
        }
        if ev.kind != Kind::ExecFailed {
            sess.procs.insert(pid);
            sess.had_procs = true;
            self.procs.insert(
                pid,
                Proc {
                    key: key.clone(),
                    ppid: ev.ppid.unwrap_or(0),
                    comm: Comm::new(ev.comm.unwrap_or_default()),
                    start_boottime: ev.start_boottime,
                },
            );
        }
        Some(self.identity_change(ev, &key))
    }

    /// `sudo`/`su` when such a process is among the exec's ancestors in the
    /// session, `setuid` otherwise, `None` when the exec runs as the login user.
    fn identity_change(&self, ev: &ProcView, key: &SessionKey) -> Option<Via> {
        let (uid, euid) = (ev.uid?, ev.euid.unwrap_or(ev.uid?));
        if uid == key.auid && euid == key.auid {
            return None;
        }
        let mut pid = ev.ppid.unwrap_or(0);
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

    /// Feeds an exit record: pushes into `out` the `session_end` it causes,
    /// if any (it goes after the record).
    pub fn observe_exit(&mut self, ev: &ExitView, out: &mut Vec<Event>) {
        let Some(pid) = ev.pid else { return };
        let key = match self.procs.get(&pid) {
            // Pid reuse: the exit of another process with this pid (start
            // times differ by more than the /proc clock-tick granularity).
            Some(p)
                if p.start_boottime
                    .zip(ev.start_boottime)
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
            None => match self.key(ev.host, ev.auid, ev.ses) {
                Some(k) if self.sessions.contains_key(&k) => k,
                _ => return,
            },
        };
        let Some(sess) = self.sessions.get_mut(&key) else {
            return;
        };
        sess.procs.remove(&pid);
        sess.last = sess.last.max(ev.time);
        if ev.session_leader {
            sess.leader_gone = true;
        }
        if sess.leader_gone && sess.procs.is_empty() {
            // A job forked in the background and not exec'd (or whose exec
            // is still on its way) keeps the login open: its exit, or the
            // tick that finds it gone, ends the session then.
            let alive = self.info.session_members(key.auid, key.ses);
            if alive.is_empty() {
                self.end(&key, ev.time, ev.source, EndReason::Logout, out);
            } else if let Some(sess) = self.sessions.get_mut(&key) {
                sess.procs.extend(alive);
            }
        }
    }

    /// Audit login records, as [`crate::sessions`] decides: the login
    /// process's LOGIN/USER_START/USER_LOGIN open a session (with the source
    /// address), its USER_END/USER_LOGOUT close it; sudo's and su's records
    /// inside the session do neither.
    fn on_login(&mut self, ev: &Event, out: &mut Vec<Event>) {
        let Some(key) = self.key_of(ev) else { return };
        let Body::Login(l) = &ev.body else { return };
        let acct = l.acct.as_ref().map(|a| String::from_utf8_lossy(&a.0));
        let fact = LoginFact {
            time: ev.time,
            record: Some(sessions::LoginRecord::from_name(l.record_type.as_str())),
            pid: ev.task.pid,
            auid: ev.task.login_uid(),
            ses: ev.task.session_id(),
            success: l.res.as_ref().map(|_| l.succeeded()),
            exe: ev.task.exe.as_ref().map(|e| e.as_slice()),
            terminal: l.terminal.as_deref(),
            tty: ev.task.tty.as_deref(),
            addr: l.addr.as_deref(),
            port: l.port,
            acct: acct.as_deref(),
        };
        if let Some(sess) = self.sessions.get_mut(&key) {
            let verdict = sess.login.apply(&fact);
            sess.last = sess.last.max(ev.time);
            if sess.addr.is_none() {
                sess.addr = sess.login.addr.clone();
            }
            if matches!(verdict, Verdict::Opened | Verdict::Own) && sess.login.user.is_some() {
                sess.user = sess.login.user.clone();
            }
            if let Some(mut start) = sess.pending_start.take() {
                if let Body::SessionStart(st) = &mut start.body {
                    st.addr = st.addr.take().or_else(|| sess.login.addr.clone());
                    st.port = st.port.or(sess.login.port);
                    st.kind = wire_kind(sess.login.kind).or(st.kind.take());
                    st.service = st.service.take().or_else(|| sess.login.service.clone());
                    st.user = st.user.take().or_else(|| sess.user.clone());
                }
                if start.task.tty.is_none() {
                    start.task.tty = sess.login.tty.clone();
                }
                if l.record_type == LoginType::Login {
                    sess.pending_start = Some(start);
                } else {
                    out.push(start);
                }
            }
            if verdict == Verdict::Closed {
                self.end(&key, ev.time, ev.source, EndReason::Logout, out);
            }
            return;
        }
        let mut login = Login::default();
        if login.apply(&fact) != Verdict::Opened {
            return;
        }
        self.make_room(ev.time, out);
        let user = login
            .user
            .clone()
            .or_else(|| l.auid_name.clone())
            .or_else(|| self.info.user_name(key.auid));
        let tty = login.tty.clone().or_else(|| ev.task.tty.clone());
        let mut s = Event::new(
            ev.source,
            ev.time,
            ev.host.clone(),
            Body::SessionStart(SessionStart {
                addr: login.addr.clone(),
                port: login.port,
                kind: wire_kind(login.kind),
                service: login.service.clone(),
                user: user.clone(),
                ..SessionStart::default()
            }),
        );
        s.task.auid = Some(key.auid);
        s.task.ses = Some(key.ses);
        s.task.pid = ev.task.pid;
        s.task.tty = tty.clone();
        // The kernel's LOGIN (pam_loginuid setting the login uid) comes
        // first; PAM's USER_START right after it names the service and the
        // source address. The session starts at the LOGIN, and its record
        // is written once USER_START (or anything else of it) is seen.
        let (held, now) = if l.record_type == LoginType::Login {
            (Some(s), None)
        } else {
            (None, Some(s))
        };
        self.sessions.insert(
            key,
            Session {
                start: ev.time,
                last: ev.time,
                tty,
                addr: login.addr.clone(),
                login,
                user,
                procs: IntSet::default(),
                had_procs: false,
                leader_gone: false,
                pending_start: held,
            },
        );
        out.extend(now);
    }

    fn end(
        &mut self,
        key: &SessionKey,
        time: Timestamp,
        source: Source,
        reason: EndReason,
        out: &mut Vec<Event>,
    ) {
        let Some(mut sess) = self.sessions.remove(key) else {
            return;
        };
        if let Some(start) = sess.pending_start.take() {
            out.push(start);
        }
        if self.ended.len() >= self.opts.max_sessions {
            // Forget the oldest half; a straggler that old is rare.
            let mut times: Vec<Timestamp> = self.ended.values().copied().collect();
            times.sort_unstable();
            let cut = times[times.len() / 2];
            self.ended.retain(|_, t| *t > cut);
        }
        self.ended.insert(key.clone(), time);
        for pid in &sess.procs {
            self.procs.remove(pid);
        }
        let mut e = Event::new(
            source,
            time,
            &*key.host,
            Body::SessionEnd(SessionEnd {
                addr: sess.addr,
                from: Some(sess.start),
                reason,
                kind: wire_kind(sess.login.kind),
                user: sess.user.or_else(|| self.info.user_name(key.auid)),
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
        // A LOGIN that PAM never followed up within a second: its session
        // record is written as it is.
        let second_ago = now.0.saturating_sub(1_000_000_000);
        let mut held: Vec<Event> = self
            .sessions
            .values_mut()
            .filter(|s| s.start.0 <= second_ago)
            .filter_map(|s| s.pending_start.take())
            .collect();
        held.sort_by_key(|e| e.time);
        out.extend(held);
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

    fn session_members(&self, auid: u32, ses: u32) -> Vec<u32> {
        crate::source::procfs::session_members(auid, ses)
    }

    /// Through NSS off the hot path ([`crate::names::NameCache`]): a first
    /// miss answers `None` (the session's end record gets the name).
    fn user_name(&self, uid: u32) -> Option<String> {
        use std::sync::{Mutex, OnceLock};
        static CACHE: OnceLock<Mutex<crate::names::NameCache>> = OnceLock::new();
        CACHE
            .get_or_init(|| Mutex::new(crate::names::NameCache::spawn()))
            .lock()
            .ok()?
            .get(uid)
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
