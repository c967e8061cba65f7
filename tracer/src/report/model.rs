//! The report's model: login users -> sessions -> commands (or batch jobs ->
//! commands with `--by job`), built one [`Record`] (a borrowed view of an
//! `Event`) at a time.
//!
//! What starts and ends a session, its kind and its boot are decided by
//! [`crate::sessions`], the model `tracer run`'s tracker uses too: this file
//! only translates records into its facts. A session is keyed by (host, boot,
//! ses) (plus the login uid, for records with no ses). sudo's USER_CMD
//! records become command rows of the login that ran them, merged with the
//! exec of the command when exec rules recorded it too. Failed logins and
//! authentications are counted per (host, user, source, program).
//!
//! Memory: reading is streaming, but a grouped report must hold what it will
//! show, so the builder keeps every *selected* command, compactly: a
//! fixed-size [`Command`] (48 bytes) whose argv, cwd, exe and host are
//! interned once each in [`Interner`] (log lines repeat the same commands and
//! directories a lot), and whose rare facts (job, sudo target, an euid other
//! than its uid) are one shared [`Extra`]. So memory is ~50 bytes per
//! selected command plus each distinct string once: about 85 MB for a 1 GB
//! log of 690,000 execs all selected (issue 14). Filters run before anything is kept, and `--summary` keeps no
//! commands at all, only counters per session (a few MB for any input).
//! Sessions and their metadata are kept for the whole run (a few hundred
//! bytes each). Each group's commands live in their own vector and are
//! sorted by time (stably, so input order breaks ties) when finished.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::hash::IntMap;

use crate::event::{Kind, Timestamp, UNSET};
use crate::sessions::{
    failed_attempt, job, normalize, BootFact, BootLabel, Boots, HostIndex, Login, LoginFact,
    LoginRecord, SessionKind, Verdict,
};

use super::filter::{CommandView, Filter};
use super::record::Record;

pub use super::intern::{argv_iter, pack_argv, unpack_argv, Extra, Interner, Sym, NONE};

pub const FAILED: u8 = 1;
pub const TRUNCATED: u8 = 2;
/// Found running at tracer's start (`process` record), not seen exec'ing.
pub const PREEXISTING: u8 = 4;
/// From sudo's USER_CMD record (merged with the exec when there was one).
pub const USER_CMD: u8 = 8;
/// The log says the exec ran as another identity through sudo / su / a
/// setuid program (tracer's `via`).
pub const VIA_SUDO: u8 = 16;
pub const VIA_SU: u8 = 32;
pub const VIA_SETUID: u8 = 64;

/// How long after sudo's USER_CMD the exec of its command may come and still
/// be that command (sudo forks and execs at once; the slack covers clocks).
const USER_CMD_MERGE_NS: i64 = 10 * 1_000_000_000;

/// One selected exec (or sudo command), 48 bytes: a big report holds one
/// per exec of the log. Numbers that may be unknown use [`NONE`]; the rare
/// facts (job, step, sudo target, an effective uid other than the uid) sit
/// in the interner's [`Extra`] table, read with the methods below.
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub time: Timestamp,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub auid: u32,
    pub ses: u32,
    pub argv: Sym,
    pub cwd: Sym,
    pub exe: Sym,
    /// Index of its [`Extra`], [`NONE`] when it has no job, step or target
    /// and its euid is its uid.
    extra: u32,
    /// The negative errno of a failed exec (clamped to i16; errnos are < 4096).
    pub ret: i16,
    pub flags: u8,
}

const _: () = assert!(std::mem::size_of::<Command>() == 48);

impl Command {
    /// The rare facts as one value (`euid` is the uid when none is stored).
    pub fn extra(&self, s: &Interner) -> Extra {
        match s.extra(self.extra) {
            Some(e) => *e,
            None => Extra {
                job: NONE,
                step: NONE,
                target: NONE,
                euid: self.uid,
            },
        }
    }
    /// Sets the rare facts, interning them unless they are the usual ones.
    pub fn set_extra(&mut self, s: &mut Interner, e: Extra) {
        let usual = e.job == NONE && e.step == NONE && e.target == NONE && e.euid == self.uid;
        self.extra = if usual { NONE } else { s.intern_extra(e) };
    }
    /// Names the rare facts: commands with the same uid and id have the
    /// same [`Extra`] (memo keys).
    pub fn extra_id(&self) -> u32 {
        self.extra
    }
    pub fn job(&self, s: &Interner) -> Sym {
        self.extra(s).job
    }
    /// The job step (`batch`, `0`, ...).
    pub fn step(&self, s: &Interner) -> Sym {
        self.extra(s).step
    }
    /// The user sudo/su ran the command as, by name, when the log says.
    pub fn target(&self, s: &Interner) -> Sym {
        self.extra(s).target
    }
    pub fn euid(&self, s: &Interner) -> u32 {
        self.extra(s).euid
    }
    pub fn failed(&self) -> bool {
        self.flags & FAILED != 0
    }
    pub fn opt(n: u32) -> Option<u32> {
        (n != NONE).then_some(n)
    }
    /// `sudo`, `su`, `setuid`: how the row changed identity, if the log says.
    pub fn via(&self) -> Option<&'static str> {
        if self.flags & (USER_CMD | VIA_SUDO) != 0 {
            Some("sudo")
        } else if self.flags & VIA_SU != 0 {
            Some("su")
        } else if self.flags & VIA_SETUID != 0 {
            Some("setuid")
        } else {
            None
        }
    }
}

/// How commands are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    Session,
    Job,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    /// A login session: (host, boot, ses); `ses` may be [`UNSET`] when only
    /// the login uid is known.
    Session {
        auid: u32,
        host: Sym,
        boot: Sym,
        ses: u32,
    },
    /// Processes with no login uid, by systemd unit (or [`NONE`]).
    Unattributed { host: Sym, service: Sym },
    /// A batch job, across every node it ran on (`--by job`; and, by
    /// session, the processes of a job that have no login uid).
    Job { job: Sym },
}

/// What is known about a batch job (see [`crate::sessions::job`]).
#[derive(Debug, Clone, Default)]
pub struct JobInfo {
    /// The job's owner: the uid its cgroup names (v1), else the non-root
    /// uid its processes run as.
    pub uid: Option<u32>,
    /// Steps, in order of first appearance.
    pub steps: Vec<Sym>,
    /// Hosts the job ran on, in order of first appearance.
    pub nodes: Vec<Sym>,
    /// The last exit of a process of the job the log has.
    pub last_exit: Option<Timestamp>,
    /// The login session that most likely submitted it.
    pub submit: Option<Submit>,
}

/// A Slurm client command (`sbatch`, `srun`, `salloc`) run in a login
/// session: what links a job to the login that made it.
#[derive(Debug, Clone, Copy)]
pub struct Submit {
    pub time: Timestamp,
    pub auid: u32,
    pub host: Sym,
    pub boot: Sym,
    pub ses: u32,
    /// The packed argv (see [`pack_argv`]).
    pub argv: Sym,
}

/// How early before a job's first process its submission may be: a week
/// (jobs wait in the queue; older submissions are not linked).
const SUBMIT_WINDOW_NS: i64 = 7 * 24 * 3600 * 1_000_000_000;
/// Clock slack between the login node that submitted and the job's nodes.
const SUBMIT_SLACK_NS: i64 = 2 * 1_000_000_000;

/// A session, an unattributed group or a job, with what is known about it.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: GroupKey,
    /// What the session model decided (sessions only).
    pub login: Login,
    /// From a session_start / login record.
    pub start: Option<Timestamp>,
    /// From a session_end / USER_END record.
    pub end: Option<Timestamp>,
    /// Times of the first and last selected command.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub tty: Option<String>,
    /// The login user's name as the log gives it (own `acct=`, tracer's
    /// `user`), if it does.
    pub user: Option<String>,
    pub commands: u64,
    pub failed: u64,
    /// Commands by the base name of argv\[0\] (`--summary` only).
    pub top: HashMap<Sym, u64>,
    /// The selected commands, in time order once finished.
    pub cmds: Vec<Command>,
    /// Batch jobs only (boxed: most groups are sessions, and a report
    /// holds every group; see [`Group::job`]).
    jobinfo: Option<Box<JobInfo>>,
}

impl Group {
    fn new(key: GroupKey) -> Self {
        Self {
            key,
            login: Login::default(),
            start: None,
            end: None,
            first: None,
            last: None,
            addr: None,
            port: None,
            tty: None,
            user: None,
            commands: 0,
            failed: 0,
            top: HashMap::new(),
            cmds: Vec::new(),
            jobinfo: None,
        }
    }

    /// What is known about a batch job (empty for other groups).
    pub fn job(&self) -> &JobInfo {
        static NO_JOB: JobInfo = JobInfo {
            uid: None,
            steps: Vec::new(),
            nodes: Vec::new(),
            last_exit: None,
            submit: None,
        };
        self.jobinfo.as_deref().unwrap_or(&NO_JOB)
    }

    fn job_mut(&mut self) -> &mut JobInfo {
        self.jobinfo.get_or_insert_default()
    }

    /// The session's kind (`Batch` for jobs, `Unknown` for unattributed
    /// groups).
    pub fn kind(&self) -> SessionKind {
        match self.key {
            GroupKey::Job { .. } => SessionKind::Batch,
            _ => self.login.kind,
        }
    }

    /// The host of a session or unattributed group; a job's first node.
    pub fn host(&self) -> Sym {
        match self.key {
            GroupKey::Session { host, .. } | GroupKey::Unattributed { host, .. } => host,
            GroupKey::Job { .. } => self.job().nodes.first().copied().unwrap_or(NONE),
        }
    }

    /// The user a group belongs to: the login uid of a session, the owner
    /// of a job.
    pub fn owner(&self) -> Option<u32> {
        match self.key {
            GroupKey::Session { auid, .. } => Some(auid),
            GroupKey::Job { .. } => self.job().uid,
            GroupKey::Unattributed { .. } => None,
        }
    }
}

/// Failed logins (USER_LOGIN) and authentications (USER_AUTH) with one
/// (host, user, source, program), like `aureport -l --failed` / `-au`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FailedLogins {
    pub host: String,
    /// The user name tried, as the log gives it.
    pub user: Option<String>,
    pub source: Option<String>,
    pub program: Option<String>,
    pub failed_logins: u64,
    pub failed_auths: u64,
    pub first: Timestamp,
    pub last: Timestamp,
}

/// What the model counted while reading.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub events: u64,
    pub execs: u64,
    pub failed_execs: u64,
    pub selected: u64,
    /// sudo's USER_CMD records, and how many of them merged with an exec.
    pub user_cmds: u64,
    pub user_cmds_merged: u64,
    pub loss_records: u64,
    pub lost_events: u64,
    pub discrepancies: u64,
    pub unknown_records: u64,
    /// `--by job`: selected execs that ran in no job.
    pub not_in_job: u64,
    /// The ancestry cross-check of job identity: execs in no job whose
    /// parent (an exec of the same host, not yet exited) ran in one. Only
    /// root can move a process out of its job's cgroup.
    #[serde(skip_serializing_if = "is_zero")]
    pub left_job: u64,
    /// Boots seen (named by tracer or inferred from the log), all hosts.
    pub boots: u64,
}

/// The finished model, groups in display order.
#[derive(Debug)]
pub struct Report {
    pub by: GroupBy,
    pub groups: Vec<Group>,
    pub failed_logins: Vec<FailedLogins>,
    pub strings: Interner,
    pub counts: Counts,
    /// uid -> name, as the log itself gives them (first one wins).
    pub log_names: HashMap<u32, String>,
}

/// The hosts with sessions of several boots ([`Report::multi_boot_hosts`]).
#[derive(Debug, Default)]
pub struct MultiBoot(std::collections::HashSet<Sym>);

impl MultiBoot {
    /// Whether the report has sessions of more than one boot of `host`.
    pub fn has(&self, host: Sym) -> bool {
        self.0.contains(&host)
    }
}

/// (host, user tried, source address, program) of failed logins.
type FailedKey = (Sym, Option<String>, Option<String>, Option<String>);

/// A USER_CMD row waiting for the exec of its command.
#[derive(Debug, Clone, Copy)]
struct PendingCmd {
    time: Timestamp,
    /// A hash of the command line sudo logged (words joined by spaces).
    line: u64,
    /// Index in the group's `cmds`, when commands are kept.
    row: Option<u32>,
}

/// Makes room for one more command, growing by a quarter rather than
/// doubling: a report's commands are most of its memory, and doubling left
/// 40 % of their space unused (18 MB of a 1 GB log's report, issue 14).
/// Still geometric, so pushing stays amortised O(1).
fn grow(cmds: &mut Vec<Command>) {
    if cmds.len() == cmds.capacity() {
        cmds.reserve_exact(cmds.len() / 4 + 4);
    }
}

/// Gives back a closed session's unused room for commands (a tenth of their
/// space on average, with [`grow`]): later sessions' commands fill it. A
/// command that comes after the close grows the vector again.
fn fit(cmds: &mut Vec<Command>) {
    cmds.shrink_to_fit();
}

/// Builds a [`Report`] from events.
pub struct Builder {
    filter: Filter,
    by: GroupBy,
    keep: bool,
    strings: Interner,
    groups: Vec<Group>,
    /// Keyed by symbols and kernel-assigned ids (login uid, session id,
    /// pid), never by strings a user picks: hashed with [`IntMap`]'s
    /// multiply-rotate step rather than SipHash, once per record (issue 14).
    index: IntMap<GroupKey, u32>,
    counts: Counts,
    boots: Boots,
    /// (host, inferred boot number) -> interned label.
    boot_syms: IntMap<(Sym, u32), Sym>,
    /// (group, sudo's pid) -> its last USER_CMD.
    pending: IntMap<(u32, u32), PendingCmd>,
    failed: HashMap<FailedKey, FailedLogins>,
    log_names: IntMap<u32, String>,
    /// Slurm client commands run in login sessions, in input order.
    submits: Vec<Submit>,
    /// (host, pid) of job processes -> their job group (for job ends).
    job_pids: IntMap<(Sym, u32), u32>,
    /// (job group, host) pairs seen: a job's node list grows without a scan
    /// of it per command (a job on 1,000 nodes made every command of it
    /// walk 1,000 entries).
    job_nodes: std::collections::HashSet<(u32, Sym)>,
    /// The last host name interned, its symbol and its boots: records come
    /// from one host in long runs, and hashing its name again cost ~1 %
    /// (and comparing it again in the boot model ~1.7 %).
    last_host: Option<(Vec<u8>, Sym, HostIndex)>,
    /// The last boot label and its symbol, named and inferred (host,
    /// number): likewise the same for long runs of records.
    last_named: (String, Sym),
    last_inferred: (Sym, u32, Sym),
}

impl Builder {
    /// `keep_commands: false` counts commands without keeping them (summary).
    pub fn new(filter: Filter, by: GroupBy, keep_commands: bool) -> Self {
        Self {
            filter,
            by,
            keep: keep_commands,
            strings: Interner::default(),
            groups: Vec::new(),
            index: IntMap::default(),
            counts: Counts::default(),
            boots: Boots::default(),
            boot_syms: IntMap::default(),
            pending: IntMap::default(),
            failed: HashMap::new(),
            log_names: IntMap::default(),
            submits: Vec::new(),
            job_pids: IntMap::default(),
            job_nodes: Default::default(),
            last_host: None,
            last_named: (String::new(), NONE),
            last_inferred: (NONE, 0, NONE),
        }
    }

    pub fn add(&mut self, ev: &Record<'_>) {
        self.counts.events += 1;
        let (host, at) = match &self.last_host {
            Some((name, sym, at)) if name[..] == *ev.host.as_bytes() => (*sym, *at),
            _ => {
                let sym = self.strings.intern(ev.host.as_bytes());
                let at = self.boots.host(&ev.host);
                self.last_host = Some((ev.host.as_bytes().to_vec(), sym, at));
                (sym, at)
            }
        };
        let record = ev.record_type.as_deref().map(LoginRecord::from_name);
        let boot = self.boot_of(host, at, ev, record);
        if let (Some(auid), Some(name)) = (ev.login_uid(), ev.user.as_deref()) {
            self.learn_name(auid, name);
        }
        if let (Some(uid), Some(name)) = (ev.uid, ev.uid_name.as_deref()) {
            self.learn_name(uid, name);
        }
        match ev.kind {
            Kind::Exec | Kind::ExecFailed | Kind::Process => self.add_command(ev, host, boot),
            Kind::SessionStart | Kind::SessionEnd => self.add_session_record(ev, host, boot),
            Kind::Login => self.add_login(ev, host, boot, record),
            Kind::Loss => {
                self.counts.loss_records += 1;
                self.counts.lost_events += ev.count.unwrap_or(0);
            }
            Kind::Discrepancy => self.counts.discrepancies += 1,
            Kind::Unknown => self.counts.unknown_records += 1,
            Kind::Exit => {
                if let Some(gi) = ev.pid.and_then(|p| self.job_pids.remove(&(host, p))) {
                    let j = self.groups[gi as usize].job_mut();
                    j.last_exit = Some(j.last_exit.map_or(ev.time, |t| t.max(ev.time)));
                }
            }
            Kind::Tracer => {}
        }
    }

    fn learn_name(&mut self, uid: u32, name: &str) {
        // auditd writes `unknown(1001)` for a uid it could not name.
        if !name.is_empty() && name != "?" && !name.starts_with("unknown(") {
            self.log_names.entry(uid).or_insert_with(|| name.to_owned());
        }
    }

    /// The interned boot label of `ev` (see [`crate::sessions::boot`]).
    fn boot_of(
        &mut self,
        host: Sym,
        at: HostIndex,
        ev: &Record<'_>,
        record: Option<LoginRecord>,
    ) -> Sym {
        let fact = BootFact {
            time: ev.time,
            boot_id: ev.boot.as_deref(),
            record,
            serial: ev.serial,
            new_ses: (record == Some(LoginRecord::Login))
                .then(|| ev.session_id())
                .flatten(),
        };
        match self.boots.observe_at(at, &fact) {
            BootLabel::Named(id) => match &self.last_named {
                (name, sym) if *sym != NONE && name == id => *sym,
                _ => {
                    let sym = self.strings.intern(id.as_bytes());
                    self.last_named = (id.to_owned(), sym);
                    sym
                }
            },
            BootLabel::Inferred(n) => match self.last_inferred {
                (h, m, sym) if sym != NONE && (h, m) == (host, n) => sym,
                _ => {
                    let sym = match self.boot_syms.get(&(host, n)) {
                        Some(&s) => s,
                        None => {
                            let s = self.strings.intern(format!("#{n}").as_bytes());
                            self.boot_syms.insert((host, n), s);
                            s
                        }
                    };
                    self.last_inferred = (host, n, sym);
                    sym
                }
            },
        }
    }

    fn group_index(&mut self, key: GroupKey) -> u32 {
        *self.index.entry(key).or_insert_with(|| {
            self.groups.push(Group::new(key));
            (self.groups.len() - 1) as u32
        })
    }

    fn session_key(&self, ev: &Record<'_>, host: Sym, boot: Sym) -> Option<GroupKey> {
        let (Some(auid), Some(ses)) = (ev.login_uid(), ev.session_id()) else {
            return None;
        };
        (self.by == GroupBy::Session).then_some(GroupKey::Session {
            auid,
            host,
            boot,
            ses,
        })
    }

    /// tracer's own session_start / session_end records.
    fn add_session_record(&mut self, ev: &Record<'_>, host: Sym, boot: Sym) {
        let Some(key) = self.session_key(ev, host, boot) else {
            return;
        };
        let i = self.group_index(key);
        let g = &mut self.groups[i as usize];
        let l = &mut g.login;
        if ev.kind == Kind::SessionStart {
            l.started(ev.time);
        } else {
            l.close(ev.time, ev.reason.as_deref().unwrap_or("logout"));
            fit(&mut g.cmds);
        }
        if let Some(k) = ev.session_kind.as_deref().and_then(SessionKind::parse) {
            // session_end carries the tracker's final word.
            if l.kind == SessionKind::Unknown || ev.kind == Kind::SessionEnd {
                l.kind = k;
            }
        }
        if l.service.is_none() {
            l.service = ev.service.as_deref().map(str::to_owned);
        }
        if l.addr.is_none() {
            l.addr = ev
                .addr
                .as_deref()
                .filter(|a| !a.is_empty() && *a != "?")
                .map(str::to_owned);
            l.port = l.port.or(ev.port);
        }
        if l.tty.is_none() {
            l.tty = ev.tty.as_deref().and_then(normalize::tty);
        }
        if g.user.is_none() {
            g.user = ev.user.as_deref().map(str::to_owned);
        }
    }

    fn add_login(&mut self, ev: &Record<'_>, host: Sym, boot: Sym, record: Option<LoginRecord>) {
        let fact = LoginFact {
            time: ev.time,
            record,
            pid: ev.pid,
            auid: ev.login_uid(),
            ses: ev.session_id(),
            success: ev.res.as_deref().map(|r| r == "success"),
            exe: ev.exe.as_deref(),
            terminal: ev.terminal.as_deref(),
            tty: ev.tty.as_deref(),
            addr: ev.addr.as_deref(),
            port: ev.port,
            acct: ev.acct.as_deref(),
        };
        if let Some(f) = failed_attempt(&fact) {
            self.add_failed(ev, host, &f);
            return;
        }
        let Some(key) = self.session_key(ev, host, boot) else {
            return;
        };
        let i = self.group_index(key);
        let verdict = self.groups[i as usize].login.apply(&fact);
        match verdict {
            Verdict::Opened | Verdict::Own | Verdict::Closed => {
                let g = &mut self.groups[i as usize];
                if verdict == Verdict::Closed {
                    fit(&mut g.cmds);
                }
                if g.user.is_none() && record != Some(LoginRecord::Login) {
                    g.user = g.login.user.clone();
                }
                if let (Some(auid), Some(name)) = (fact.auid, g.login.user.clone()) {
                    self.learn_name(auid, &name);
                }
            }
            Verdict::Command => self.add_user_cmd(ev, i),
            Verdict::Nested | Verdict::Ignored => {
                let acct = ev.acct.as_deref().filter(|a| !a.is_empty() && *a != "?");
                let prog = ev.exe.as_deref().map(normalize::program);
                let sudo = matches!(prog, Some(b"sudo" | b"sudo-rs" | b"sudoedit"));
                // sudo authenticates the user who runs it: acct= of its
                // USER_AUTH/USER_ACCT names the record's uid.
                if let (
                    true,
                    Some(LoginRecord::UserAuth | LoginRecord::UserAcct),
                    Some(uid),
                    Some(a),
                ) = (sudo, record, ev.uid, acct)
                {
                    if fact.success == Some(true) {
                        self.learn_name(uid, a);
                    }
                }
                // sudo/su's credential and session records name the target
                // user (acct=); their authentication records do not.
                let names_target = matches!(
                    record,
                    Some(LoginRecord::CredRefr | LoginRecord::CredAcq | LoginRecord::UserStart)
                );
                let target = acct.filter(|_| names_target && verdict == Verdict::Nested);
                if let (Some(pid), Some(target)) = (ev.pid, target) {
                    if let Some(row) = self.pending.get(&(i, pid)).and_then(|p| p.row) {
                        let t = self.strings.intern(target.as_bytes());
                        let c = &mut self.groups[i as usize].cmds[row as usize];
                        let mut e = c.extra(&self.strings);
                        if e.target == NONE {
                            e.target = t;
                            c.set_extra(&mut self.strings, e);
                        }
                    }
                }
            }
        }
    }

    fn add_failed(&mut self, ev: &Record<'_>, host: Sym, f: &crate::sessions::FailedAttempt<'_>) {
        if self.by == GroupBy::Job
            || self.filter.selects_commands()
            || self.filter.session.is_some()
            || self.filter.user.is_some()
            || self.filter.host.as_deref().is_some_and(|h| h != ev.host)
            || self.filter.since.is_some_and(|s| ev.time < s)
            || self.filter.until.is_some_and(|u| ev.time >= u)
        {
            return;
        }
        let key = (
            host,
            f.user.map(str::to_owned),
            f.addr.map(str::to_owned),
            f.program.map(|p| String::from_utf8_lossy(p).into_owned()),
        );
        let e = self.failed.entry(key).or_insert_with(|| FailedLogins {
            host: ev.host.to_string(),
            user: f.user.map(str::to_owned),
            source: f.addr.map(str::to_owned),
            program: f.program.map(|p| String::from_utf8_lossy(p).into_owned()),
            failed_logins: 0,
            failed_auths: 0,
            first: ev.time,
            last: ev.time,
        });
        if f.login {
            e.failed_logins += 1;
        } else {
            e.failed_auths += 1;
        }
        e.first = e.first.min(ev.time);
        e.last = e.last.max(ev.time);
    }

    /// sudo's USER_CMD: a command row of the login that ran it.
    fn add_user_cmd(&mut self, ev: &Record<'_>, group: u32) {
        self.counts.user_cmds += 1;
        let cmd = ev.cmd.as_deref().unwrap_or("");
        let argv: Vec<Cow<'_, [u8]>> = cmd
            .split(' ')
            .filter(|a| !a.is_empty())
            .map(|a| Cow::Borrowed(a.as_bytes()))
            .collect();
        let failed = ev.res.as_deref().is_some_and(|r| r != "success");
        let view = CommandView {
            host: &ev.host,
            auid: ev.login_uid(),
            ses: ev.session_id(),
            time: ev.time,
            argv: &argv,
            exe: None,
            failed,
            job: None,
            job_owner: None,
        };
        if !self.filter.matches(&view) {
            return;
        }
        self.counts.selected += 1;
        let mut flags = USER_CMD;
        if failed {
            flags |= FAILED;
        }
        let row = if self.keep {
            let cwd = ev.cwd.as_deref().map_or(NONE, |c| self.strings.intern(c));
            let exe = ev.exe.as_deref().map_or(NONE, |e| self.strings.intern(e));
            let argv = self.strings.intern_argv(&argv);
            let mut c = Command {
                time: ev.time,
                pid: ev.pid.unwrap_or(NONE),
                ppid: ev.ppid.unwrap_or(NONE),
                uid: ev.uid.unwrap_or(NONE),
                auid: ev.auid.unwrap_or(UNSET),
                ses: ev.ses.unwrap_or(UNSET),
                argv,
                cwd,
                exe,
                extra: NONE,
                ret: 0,
                flags,
            };
            c.set_extra(
                &mut self.strings,
                Extra {
                    job: NONE,
                    step: NONE,
                    target: NONE,
                    euid: NONE,
                },
            );
            let g = &mut self.groups[group as usize];
            grow(&mut g.cmds);
            g.cmds.push(c);
            Some((g.cmds.len() - 1) as u32)
        } else {
            None
        };
        let top = if self.keep {
            NONE
        } else {
            let name = argv.first().map(|a| &a[..]).unwrap_or(b"?");
            self.strings.intern(normalize::program(name))
        };
        let g = &mut self.groups[group as usize];
        g.commands += 1;
        g.failed += u64::from(failed);
        g.first = Some(g.first.map_or(ev.time, |f| f.min(ev.time)));
        g.last = Some(g.last.map_or(ev.time, |l| l.max(ev.time)));
        if top != NONE {
            *g.top.entry(top).or_default() += 1;
        }
        if let Some(pid) = ev.pid {
            self.pending.insert(
                (group, pid),
                PendingCmd {
                    time: ev.time,
                    line: line_hash(&argv),
                    row,
                },
            );
        }
    }

    /// The USER_CMD this exec runs, if any: sudo's pid is the exec's parent
    /// (or the exec itself, for a sudo that execs in place), in the same
    /// session, within [`USER_CMD_MERGE_NS`]. The sudo exec itself
    /// (argv\[0\] `sudo`) is not the command.
    fn take_pending(&mut self, group: u32, ev: &Record<'_>, argv0: &[u8]) -> Option<PendingCmd> {
        if self.pending.is_empty() || normalize::program(argv0) == b"sudo" {
            return None;
        }
        let near = |p: &PendingCmd| {
            (-USER_CMD_MERGE_NS..=USER_CMD_MERGE_NS).contains(&(ev.time.0 - p.time.0))
        };
        for pid in [ev.ppid, ev.pid].into_iter().flatten() {
            if let Some(p) = self.pending.get(&(group, pid)).copied() {
                if near(&p) {
                    self.pending.remove(&(group, pid));
                    return Some(p);
                }
            }
        }
        // With a terminal, sudo runs the command from a monitor process that
        // never execs: the exec's parent is not sudo. Match the command line
        // instead, still in the same session and time window.
        let line = line_hash(ev.argv.as_deref().unwrap_or(&[]));
        let found = self
            .pending
            .iter()
            .filter(|((g, _), p)| *g == group && p.line == line && near(p))
            .min_by_key(|(_, p)| p.time)
            .map(|(k, p)| (*k, *p));
        let (k, p) = found?;
        self.pending.remove(&k);
        Some(p)
    }

    fn add_command(&mut self, ev: &Record<'_>, host: Sym, boot: Sym) {
        self.counts.execs += 1;
        let failed = ev.kind == Kind::ExecFailed || ev.ret.is_some_and(|r| r < 0);
        self.counts.failed_execs += u64::from(failed);
        let no_argv = Vec::new();
        let argv = ev.argv.as_ref().unwrap_or(&no_argv);
        // The job from the record's own fields, else (logs of tracer before
        // 0.3, cgroup v2 paths) from its cgroup path.
        let parsed;
        let (job, step, job_uid) = match ev.job.as_deref() {
            Some(id) => (Some(id), ev.job_step.as_deref(), ev.job_uid),
            None => {
                parsed = ev.cgroup.as_deref().and_then(job::from_path);
                match &parsed {
                    Some(j) => (Some(j.id.as_str()), j.step.as_deref(), j.uid),
                    None => (None, None, None),
                }
            }
        };
        if job.is_none()
            && ev
                .ppid
                .is_some_and(|p| self.job_pids.contains_key(&(host, p)))
        {
            self.counts.left_job += 1;
        }
        if let (Some(auid), Some(argv0)) = (ev.login_uid(), argv.first()) {
            if !failed && job.is_none() && job::is_submit(argv0) {
                self.submits.push(Submit {
                    time: ev.time,
                    auid,
                    host,
                    boot,
                    ses: ev.session_id().unwrap_or(UNSET),
                    argv: self.strings.intern_argv(argv),
                });
            }
        }
        let view = CommandView {
            host: &ev.host,
            auid: ev.login_uid(),
            ses: ev.session_id(),
            time: ev.time,
            argv,
            exe: ev.exe.as_deref(),
            failed,
            job,
            job_owner: job_uid,
        };
        if !self.filter.matches(&view) {
            return;
        }
        let step = step.map_or(NONE, |j| self.strings.intern(j.as_bytes()));
        let job = job.map_or(NONE, |j| self.strings.intern(j.as_bytes()));
        let key = match (self.by, ev.login_uid()) {
            (GroupBy::Job, _) if job == NONE => {
                self.counts.not_in_job += 1;
                return;
            }
            (GroupBy::Job, _) => GroupKey::Job { job },
            (GroupBy::Session, Some(auid)) => GroupKey::Session {
                auid,
                host,
                boot,
                ses: ev.ses.unwrap_or(UNSET),
            },
            // A job's processes have no login uid: the job is their session.
            (GroupBy::Session, None) if job != NONE => GroupKey::Job { job },
            (GroupBy::Session, None) => {
                // The unit, else the cgroup itself (`/`): "no cgroup
                // recorded" only when there was none.
                let cg = ev.cgroup.as_deref();
                let service = cg.and_then(normalize::unit).or(cg);
                let service = service.map_or(NONE, |s| self.strings.intern(s.as_bytes()));
                GroupKey::Unattributed { host, service }
            }
        };
        let gi = self.group_index(key);
        if let GroupKey::Job { .. } = key {
            let new_node = self.job_nodes.insert((gi, host));
            let j = self.groups[gi as usize].job_mut();
            if j.uid.is_none() {
                j.uid = job_uid.or(ev.uid.filter(|&u| u != 0 && u != UNSET));
            }
            if step != NONE && !j.steps.contains(&step) {
                j.steps.push(step);
            }
            if new_node {
                j.nodes.push(host);
            }
            if let Some(pid) = ev.pid {
                self.job_pids.insert((host, pid), gi);
            }
        }
        let argv0 = argv.first().map(|a| &a[..]).or(view.exe).unwrap_or(b"?");
        let merged = if matches!(key, GroupKey::Session { .. }) {
            self.take_pending(gi, ev, argv0)
        } else {
            None
        };
        if merged.is_none() {
            self.counts.selected += 1;
        } else {
            self.counts.user_cmds_merged += 1;
        }
        let top = if self.keep || merged.is_some() {
            NONE
        } else {
            self.strings.intern(normalize::program(argv0))
        };
        let mut flags = 0;
        if failed {
            flags |= FAILED;
        }
        if ev.truncated {
            flags |= TRUNCATED;
        }
        if ev.kind == Kind::Process {
            flags |= PREEXISTING;
        }
        flags |= match ev.via.as_deref() {
            Some("sudo") => VIA_SUDO,
            Some("su") => VIA_SU,
            Some("setuid") => VIA_SETUID,
            _ => 0,
        };
        let cmd = if self.keep {
            let mut sym =
                |b: &Option<Cow<'_, [u8]>>| b.as_deref().map_or(NONE, |b| self.strings.intern(b));
            let cwd = sym(&ev.cwd);
            let exe = sym(&ev.exe);
            let argv = self.strings.intern_argv(argv);
            let mut c = Command {
                time: ev.time,
                pid: ev.pid.unwrap_or(NONE),
                ppid: ev.ppid.unwrap_or(NONE),
                uid: ev.uid.unwrap_or(NONE),
                auid: ev.auid.unwrap_or(UNSET),
                ses: ev.ses.unwrap_or(UNSET),
                argv,
                cwd,
                exe,
                extra: NONE,
                ret: ev
                    .ret
                    .map_or(0, |r| r.clamp(i16::MIN.into(), i16::MAX.into()) as i16),
                flags,
            };
            let extra = Extra {
                job,
                step,
                target: NONE,
                euid: ev.euid.unwrap_or(NONE),
            };
            c.set_extra(&mut self.strings, extra);
            Some(c)
        } else {
            None
        };
        let g = &mut self.groups[gi as usize];
        if matches!(key, GroupKey::Session { .. }) {
            g.login.saw_process(ev.cgroup.as_deref(), ev.tty.as_deref());
        }
        match (merged.and_then(|p| p.row), cmd) {
            (Some(row), Some(mut c)) => {
                // One row: the exec's facts, sudo's cwd when the exec has none,
                // the USER_CMD's target and result.
                let old = g.cmds[row as usize];
                c.flags |= old.flags & (USER_CMD | FAILED);
                let target = old.target(&self.strings);
                if target != NONE {
                    let e = c.extra(&self.strings);
                    c.set_extra(&mut self.strings, Extra { target, ..e });
                }
                if c.cwd == NONE {
                    c.cwd = old.cwd;
                }
                c.time = old.time.min(c.time);
                g.cmds[row as usize] = c;
                if failed && !old.failed() {
                    g.failed += 1;
                }
            }
            (None, cmd) if merged.is_none() => {
                g.commands += 1;
                g.failed += u64::from(failed);
                g.first = Some(g.first.map_or(ev.time, |f| f.min(ev.time)));
                g.last = Some(g.last.map_or(ev.time, |l| l.max(ev.time)));
                if g.tty.is_none() && !matches!(key, GroupKey::Job { .. }) {
                    g.tty = ev
                        .tty
                        .as_deref()
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned);
                }
                if top != NONE {
                    *g.top.entry(top).or_default() += 1;
                }
                if let Some(c) = cmd {
                    grow(&mut g.cmds);
                    g.cmds.push(c);
                }
            }
            _ => {}
        }
    }

    /// Drops groups with nothing to show, orders groups and commands.
    pub fn finish(self) -> Report {
        let Builder {
            filter,
            by,
            strings,
            mut groups,
            mut counts,
            failed,
            log_names,
            boot_syms,
            submits,
            ..
        } = self;
        counts.boots = {
            let mut named: Vec<(Sym, Sym)> = groups
                .iter()
                .filter_map(|g| match g.key {
                    GroupKey::Session { host, boot, .. } => Some((host, boot)),
                    _ => None,
                })
                .collect();
            named.sort_unstable();
            named.dedup();
            named.len().max(boot_syms.len()) as u64
        };
        for g in &mut groups {
            if let GroupKey::Session { .. } = g.key {
                g.start = g.login.start;
                g.end = g.login.end;
                g.addr = g.login.addr.clone();
                g.port = g.login.port;
                if g.login.tty.is_some() {
                    g.tty = g.login.tty.clone();
                }
                if g.user.is_none() {
                    g.user = g.login.user.clone();
                }
            }
            if let GroupKey::Job { .. } = g.key {
                // In an order that does not depend on the input's (files
                // and the fleet's ClickHouse give the same report): nodes
                // by name, steps batch/extern/interactive then by number.
                let j = g.job_mut();
                j.nodes.sort_by(|a, b| strings.get(*a).cmp(strings.get(*b)));
                j.steps.sort_by_cached_key(|s| step_order(strings.get(*s)));
                g.start = g.first;
                g.end = match (g.last, g.job().last_exit) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        link_submissions(&mut groups, &strings, submits);
        let shown = |g: &Group| -> bool {
            if g.commands > 0 {
                return true;
            }
            let GroupKey::Session {
                auid, host, ses, ..
            } = g.key
            else {
                return false;
            };
            let Some(start) = g.start.or(g.end) else {
                return false;
            };
            !filter.selects_commands()
                && filter.matches_login(
                    &strings.str(host),
                    Some(auid),
                    (ses != UNSET).then_some(ses),
                )
                && filter.matches_span(start, g.end)
        };
        let host_of = |g: &Group| match g.key {
            GroupKey::Session { host, .. } | GroupKey::Unattributed { host, .. } => host,
            GroupKey::Job { .. } => g.job().nodes.first().copied().unwrap_or(NONE),
        };
        let mut order: Vec<usize> = (0..groups.len()).filter(|&i| shown(&groups[i])).collect();
        order.sort_by(|&a, &b| {
            let (ga, gb) = (&groups[a], &groups[b]);
            let rank = |g: &Group| match g.key {
                GroupKey::Session { auid, ses, .. } => {
                    (0, auid, g.start.or(g.first), ses, Vec::new())
                }
                GroupKey::Unattributed { service, .. } => {
                    (1, 0, None, 0, strings.get(service).to_vec())
                }
                // By session, a job sits with its owner's sessions, in time
                // order; jobs of no known owner come after every user's.
                GroupKey::Job { job } if by == GroupBy::Session => (
                    0,
                    g.job().uid.unwrap_or(UNSET),
                    g.first,
                    0,
                    job_sort_key(strings.get(job)),
                ),
                GroupKey::Job { job } => (2, 0, None, 0, job_sort_key(strings.get(job))),
            };
            let (ra, rb) = (rank(ga), rank(gb));
            (ra.0, ra.1, ra.2, strings.get(host_of(ga)), ra.3, &ra.4).cmp(&(
                rb.0,
                rb.1,
                rb.2,
                strings.get(host_of(gb)),
                rb.3,
                &rb.4,
            ))
        });
        // Into that order in place: a second vector of groups beside the
        // first was a fifth of a summary's peak memory (issue 14).
        let mut dest = vec![usize::MAX; groups.len()];
        for (k, &i) in order.iter().enumerate() {
            dest[i] = k;
        }
        let mut at = 0;
        groups.retain(|_| {
            at += 1;
            dest[at - 1] != usize::MAX
        });
        dest.retain(|&k| k != usize::MAX);
        for j in 0..groups.len() {
            while dest[j] != j {
                let k = dest[j];
                groups.swap(j, k);
                dest.swap(j, k);
            }
        }
        for g in &mut groups {
            // Input is nearly in time order already; a stable sort keeps
            // input order for equal times.
            g.cmds.sort_by_key(|c| c.time);
        }
        let out = groups;
        let mut failed_logins: Vec<FailedLogins> = failed.into_values().collect();
        failed_logins.sort_by(|a, b| {
            (&a.host, &a.user, &a.source, &a.program, a.first)
                .cmp(&(&b.host, &b.user, &b.source, &b.program, b.first))
        });
        Report {
            by,
            groups: out,
            failed_logins,
            strings,
            counts,
            log_names: log_names.into_iter().collect(),
        }
    }
}

impl Report {
    /// The hosts of which the report has sessions of more than one boot
    /// (their headers name the boot). Computed once per rendering: asking
    /// group by group walked every group for each one, quadratic in the
    /// sessions (16 % of a summary of 15,000 sessions, issue 14).
    pub fn multi_boot_hosts(&self) -> MultiBoot {
        let mut first: HashMap<Sym, Sym> = HashMap::new();
        let mut multi = std::collections::HashSet::new();
        for g in &self.groups {
            if let GroupKey::Session { host, boot, .. } = g.key {
                if *first.entry(host).or_insert(boot) != boot {
                    multi.insert(host);
                }
            }
        }
        MultiBoot(multi)
    }

    /// Keeps only the sessions (and failed logins) of the login user called
    /// `name`, per `uid_of`; `-u NAME` when the name is not a uid.
    pub fn retain_user(&mut self, name: &str, uid_of: impl Fn(&str) -> Option<u32>) {
        let uid = uid_of(name);
        self.retain_job_owner(uid);
        self.retain_groups(|g| match g.key {
            GroupKey::Session { auid, .. } => {
                g.user.as_deref() == Some(name) || (g.user.is_none() && Some(auid) == uid)
            }
            GroupKey::Job { .. } => true,
            GroupKey::Unattributed { .. } => false,
        });
        self.failed_logins
            .retain(|f| f.user.as_deref() == Some(name));
    }

    /// Keeps of the jobs what is `uid`'s: the jobs it owns, whole, and in
    /// other jobs only the commands it ran under its own login uid (a
    /// summary keeps no commands to tell: it keeps only the user's own
    /// jobs). A job's owner is known only once every record is read (the
    /// uid its cgroup names, else the non-root uid of its processes), so
    /// `--user` is decided here for jobs, not record by record.
    pub fn retain_job_owner(&mut self, uid: Option<u32>) {
        let mut dropped = 0;
        for g in &mut self.groups {
            if matches!(g.key, GroupKey::Job { .. })
                && (g.job().uid.is_none() || g.job().uid != uid)
            {
                let before = g.commands;
                g.cmds.retain(|c| Some(c.auid) == uid);
                g.commands = g.cmds.len() as u64;
                g.failed = g.cmds.iter().filter(|c| c.failed()).count() as u64;
                dropped += before - g.commands;
            }
        }
        self.counts.selected = self.counts.selected.saturating_sub(dropped);
        self.retain_groups(|g| match g.key {
            GroupKey::Job { .. } => g.job().uid.is_some() && g.job().uid == uid || g.commands > 0,
            _ => true,
        });
    }

    /// Keeps the groups `keep` accepts; the commands of the others are no
    /// longer counted as selected ("N of M commands shown").
    fn retain_groups(&mut self, keep: impl Fn(&Group) -> bool) {
        let mut dropped = 0;
        self.groups.retain(|g| {
            let k = keep(g);
            if !k {
                dropped += g.commands;
            }
            k
        });
        self.counts.selected = self.counts.selected.saturating_sub(dropped);
    }

    /// Keeps the sessions and jobs (`batch_job`) whose kind `keep` accepts
    /// (unattributed groups stay; `--by job` keeps every job).
    pub fn retain_kinds(&mut self, keep: impl Fn(SessionKind) -> bool) {
        let by = self.by;
        self.groups.retain(|g| match g.key {
            GroupKey::Session { .. } => keep(g.kind()),
            GroupKey::Job { .. } => by == GroupBy::Job || keep(g.kind()),
            GroupKey::Unattributed { .. } => true,
        });
    }
}

/// Sort key of a step name: Slurm's named steps first, then numbers in
/// numeric order, then anything else by bytes.
fn step_order(step: &[u8]) -> (u8, u64, Vec<u8>) {
    match step {
        b"batch" => (0, 0, Vec::new()),
        b"extern" => (1, 0, Vec::new()),
        b"interactive" => (2, 0, Vec::new()),
        _ => match std::str::from_utf8(step).ok().and_then(|s| s.parse().ok()) {
            Some(n) => (3, n, Vec::new()),
            None => (4, 0, step.to_vec()),
        },
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Links each job to the login session that most likely submitted it: the
/// earliest `sbatch`/`srun`/`salloc` of the job's owner, run in a login
/// session at most a week (and [`SUBMIT_SLACK_NS`] of clock skew) before
/// the job's first process, that no job with a smaller id took. Slurm
/// numbers jobs in submission order, so taking jobs by id and submissions
/// by time pairs them up; an `srun` that only made a step of an allocation
/// the user already had, or a rejected submission, can shift the pairing
/// (the report says "likely"). Slurm's own record (`scontrol show job`,
/// `sacct`) is authoritative where it is kept.
fn link_submissions(groups: &mut [Group], strings: &Interner, submits: Vec<Submit>) {
    if submits.is_empty() {
        return;
    }
    let mut jobs: Vec<usize> = (0..groups.len())
        .filter(|&i| matches!(groups[i].key, GroupKey::Job { .. }) && groups[i].job().uid.is_some())
        .collect();
    jobs.sort_by_cached_key(|&i| match groups[i].key {
        GroupKey::Job { job } => job_sort_key(strings.get(job)),
        _ => Vec::new(),
    });
    let mut submits = submits;
    submits.sort_by_key(|s| s.time);
    let mut picker = SubmitPicker::new(&submits);
    for i in jobs {
        let (Some(uid), Some(first)) = (groups[i].job().uid, groups[i].first) else {
            continue;
        };
        if let Some(k) = picker.pick(uid, first.0) {
            groups[i].job_mut().submit = Some(submits[k]);
        }
    }
}

/// For each job in turn, the earliest submission not taken yet by the
/// job's owner within [`SUBMIT_WINDOW_NS`] before its first process (and
/// [`SUBMIT_SLACK_NS`] after). Per owner, the submissions in time order
/// and, over them, "the next one not taken" with path halving: a scan of
/// every submission for every job was quadratic (10^10 steps for a
/// cluster's week of 100,000 jobs).
struct SubmitPicker {
    by_uid: HashMap<u32, OwnSubmits>,
}

/// One owner's submissions: (their times in order, their indices in the
/// caller's list, next-not-taken links: `next[k] == k` when not taken, one
/// slot past the end as a sentinel).
type OwnSubmits = (Vec<i64>, Vec<usize>, Vec<usize>);

impl SubmitPicker {
    /// `submits` in time order.
    fn new(submits: &[Submit]) -> Self {
        let mut by_uid: HashMap<u32, OwnSubmits> = HashMap::new();
        for (k, s) in submits.iter().enumerate() {
            let e = by_uid.entry(s.auid).or_default();
            e.0.push(s.time.0);
            e.1.push(k);
        }
        for e in by_uid.values_mut() {
            e.2 = (0..=e.0.len()).collect();
        }
        Self { by_uid }
    }

    /// Takes and returns the submission of `uid`'s job that began at
    /// `first` (ns), if there is one.
    fn pick(&mut self, uid: u32, first: i64) -> Option<usize> {
        let (times, index, next) = self.by_uid.get_mut(&uid)?;
        let from = times.partition_point(|&t| t < first.saturating_sub(SUBMIT_WINDOW_NS));
        // The first one not taken at or after `from` (path halving).
        let mut k = from;
        while next[k] != k {
            next[k] = next[next[k]];
            k = next[k];
        }
        if k == times.len() || times[k] > first.saturating_add(SUBMIT_SLACK_NS) {
            return None;
        }
        next[k] = k + 1;
        Some(index[k])
    }
}

/// A hash of a command line: its words joined by single spaces.
fn line_hash(argv: &[Cow<'_, [u8]>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            b' '.hash(&mut h);
        }
        h.write(a);
    }
    h.finish()
}

/// Numeric job ids sort numerically, others after them by bytes.
fn job_sort_key(job: &[u8]) -> Vec<u8> {
    match std::str::from_utf8(job)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => {
            let mut k = vec![0u8];
            k.extend_from_slice(&n.to_be_bytes());
            k
        }
        None => {
            let mut k = vec![1u8];
            k.extend_from_slice(job);
            k
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The picker takes what the scan of every submission for every
        /// job took (the reference below is that scan): submissions of a
        /// few owners at times around jobs', jobs in any order.
        #[test]
        fn submit_picker_agrees_with_a_full_scan(
            subs in proptest::collection::vec((0u32..3, 0i64..40), 0..40),
            jobs in proptest::collection::vec((0u32..4, 0i64..40), 0..30),
        ) {
            // Times in units of half the slack, so that windows overlap.
            let unit = SUBMIT_SLACK_NS / 2;
            let week = SUBMIT_WINDOW_NS / unit;
            let mut submits: Vec<Submit> = subs
                .iter()
                .map(|&(auid, t)| Submit {
                    time: Timestamp((t * week / 8) * unit),
                    auid,
                    host: NONE,
                    boot: NONE,
                    ses: 0,
                    argv: NONE,
                })
                .collect();
            submits.sort_by_key(|s| s.time);
            let mut taken = vec![false; submits.len()];
            let mut picker = SubmitPicker::new(&submits);
            for &(uid, t) in &jobs {
                let first = (t * week / 8) * unit + unit;
                let want = submits.iter().enumerate().position(|(k, s)| {
                    !taken[k]
                        && s.auid == uid
                        && s.time.0 <= first + SUBMIT_SLACK_NS
                        && s.time.0 >= first - SUBMIT_WINDOW_NS
                });
                if let Some(k) = want {
                    taken[k] = true;
                }
                proptest::prop_assert_eq!(picker.pick(uid, first), want);
            }
        }
    }

    fn build(lines: &[&str], filter: Filter, by: GroupBy) -> Report {
        let mut b = Builder::new(filter, by, true);
        for l in lines {
            b.add(&Record::from_json(l.as_bytes()).unwrap());
        }
        b.finish()
    }

    const LOGIN: &str = r#"{"type":"login","time":"2024-05-01T09:00:00Z","host":"h","source":"audit","auid":1000,"ses":7,"addr":"192.0.2.1","tty":"/dev/pts/4","detail":{"record_type":"USER_START"}}"#;
    const CMD: &str = r#"{"type":"exec","time":"2024-05-01T09:00:05Z","host":"h","source":"audit","auid":1000,"ses":7,"uid":0,"euid":0,"pid":9,"argv":["id"]}"#;
    const END: &str = r#"{"type":"login","time":"2024-05-01T09:10:00Z","host":"h","source":"audit","auid":1000,"ses":7,"detail":{"record_type":"USER_END"}}"#;
    const DAEMON: &str = r#"{"type":"exec","time":"2024-05-01T09:00:01Z","host":"h","source":"audit","auid":4294967295,"ses":4294967295,"pid":3,"argv":["x"],"cgroup":"/system.slice/foo.service"}"#;

    const SBATCH: &str = r#"{"type":"exec","time":"2024-05-01T09:00:03Z","host":"login1","source":"ebpf","auid":1000,"ses":7,"uid":1000,"pid":20,"argv":["sbatch","job.sh"]}"#;
    const JOB_A: &str = r#"{"type":"exec","time":"2024-05-01T09:00:04Z","host":"node1","source":"ebpf","auid":4294967295,"ses":4294967295,"uid":1000,"pid":30,"argv":["/bin/hostname"],"job":"11","job_step":"batch","job_uid":1000}"#;
    const JOB_B: &str = r#"{"type":"exec","time":"2024-05-01T09:00:05Z","host":"node2","source":"ebpf","auid":4294967295,"ses":4294967295,"uid":1000,"pid":31,"argv":["./sim"],"job":"11","job_step":"0","job_uid":1000}"#;
    const JOB_EXIT: &str = r#"{"type":"exit","time":"2024-05-01T09:00:09Z","host":"node2","source":"ebpf","auid":4294967295,"ses":4294967295,"uid":1000,"pid":31,"exit_code":0}"#;
    const V2_JOB: &str = r#"{"type":"exec","time":"2024-05-01T09:00:06Z","host":"node3","source":"ebpf","auid":4294967295,"ses":4294967295,"uid":1001,"pid":40,"argv":["id"],"cgroup":"/system.slice/slurmstepd.scope/job_12/step_0/user/task_0"}"#;

    #[test]
    fn jobs_are_sessions_of_their_owner_across_nodes() {
        let r = build(
            &[SBATCH, JOB_A, JOB_B, JOB_EXIT, V2_JOB, DAEMON],
            Filter::default(),
            GroupBy::Session,
        );
        let jobs: Vec<&Group> = r
            .groups
            .iter()
            .filter(|g| matches!(g.key, GroupKey::Job { .. }))
            .collect();
        assert_eq!(jobs.len(), 2, "{:?}", r.groups);
        let j = jobs[0];
        assert_eq!(j.kind(), SessionKind::Batch);
        assert_eq!(j.job().uid, Some(1000));
        assert_eq!(j.commands, 2, "both nodes' processes are one job");
        let names = |v: &[Sym]| {
            v.iter()
                .map(|&n| r.strings.str(n).into_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&j.job().nodes), ["node1", "node2"]);
        assert_eq!(names(&j.job().steps), ["batch", "0"]);
        assert_eq!(
            j.end.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T09:00:09.000000000Z"),
            "the job ends with its last process's exit"
        );
        let sub = j.job().submit.expect("linked to the sbatch");
        assert_eq!((sub.auid, sub.ses), (1000, 7));
        assert_eq!(r.strings.str(sub.host), "login1");
        // The v2 job: no uid in the path, owner from the process's uid, and
        // no submission of that user to link.
        assert_eq!(jobs[1].job().uid, Some(1001));
        assert!(jobs[1].job().submit.is_none());
        // The job sits right after its owner's session.
        let pos = |k: fn(&GroupKey) -> bool| r.groups.iter().position(|g| k(&g.key)).unwrap();
        assert!(
            pos(|k| matches!(k, GroupKey::Session { .. }))
                < pos(|k| matches!(k, GroupKey::Job { .. }))
        );
        assert!(matches!(
            r.groups.last().unwrap().key,
            GroupKey::Unattributed { .. }
        ));
    }

    #[test]
    fn a_child_outside_its_parents_job_is_counted() {
        let child = r#"{"type":"exec","time":"2024-05-01T09:00:06Z","host":"node1","source":"ebpf","auid":4294967295,"ses":4294967295,"uid":0,"pid":35,"ppid":30,"argv":["/bin/sh"]}"#;
        let r = build(&[JOB_A, child], Filter::default(), GroupBy::Session);
        assert_eq!(r.counts.left_job, 1);
        // Once the parent has exited, its pid says nothing more.
        let exit = r#"{"type":"exit","time":"2024-05-01T09:00:05Z","host":"node1","source":"ebpf","pid":30,"exit_code":0}"#;
        let r = build(&[JOB_A, exit, child], Filter::default(), GroupBy::Session);
        assert_eq!(r.counts.left_job, 0);
    }

    #[test]
    fn a_users_report_has_their_jobs() {
        let mut r = build(
            &[SBATCH, JOB_A, V2_JOB],
            Filter::default(),
            GroupBy::Session,
        );
        r.retain_user("alice", |n| (n == "alice").then_some(1000));
        assert_eq!(
            r.groups.len(),
            2,
            "alice's session and her job: {:?}",
            r.groups
        );
        let mut r = build(&[SBATCH, JOB_A, V2_JOB], Filter::default(), GroupBy::Job);
        r.retain_user("bob", |n| (n == "bob").then_some(1001));
        assert_eq!(r.groups.len(), 1);
        assert!(matches!(r.groups[0].key, GroupKey::Job { .. }));
    }

    #[test]
    fn a_uids_report_has_its_jobs() {
        // `--user 1000`: the filter keeps job processes (no login uid) until
        // the job's owner is known, then the report keeps the owner's jobs.
        let uid = |u: u32| Filter {
            user: Some(u),
            ..Filter::default()
        };
        for by in [GroupBy::Session, GroupBy::Job] {
            let mut r = build(&[SBATCH, JOB_A, JOB_B, V2_JOB], uid(1000), by);
            r.retain_job_owner(Some(1000));
            let jobs: Vec<String> = r
                .groups
                .iter()
                .filter_map(|g| match g.key {
                    GroupKey::Job { job } => Some(r.strings.str(job).into_owned()),
                    _ => None,
                })
                .collect();
            assert_eq!(jobs, ["11"], "{by:?}: {:?}", r.groups);
            let job = r.groups.iter().find(|g| g.job().uid.is_some()).unwrap();
            assert_eq!(job.commands, 2, "both nodes' commands");
            let sessions = r.groups.len() - jobs.len();
            let want = usize::from(by == GroupBy::Session);
            assert_eq!(sessions, want, "{by:?}: alice's login");
            // The v2 job's owner comes from its processes' uid.
            let mut r = build(&[SBATCH, JOB_A, V2_JOB], uid(1001), by);
            r.retain_job_owner(Some(1001));
            assert_eq!(r.groups.len(), 1, "{by:?}: bob's job alone: {:?}", r.groups);
            assert_eq!(r.groups[0].job().uid, Some(1001));
        }
    }

    #[test]
    fn audit_login_records_make_sessions() {
        let r = build(
            &[CMD, LOGIN, END, DAEMON],
            Filter::default(),
            GroupBy::Session,
        );
        assert_eq!(r.groups.len(), 2);
        let s = &r.groups[0];
        assert!(matches!(
            s.key,
            GroupKey::Session {
                auid: 1000,
                ses: 7,
                ..
            }
        ));
        assert_eq!(
            s.start.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T09:00:00.000000000Z")
        );
        assert_eq!(
            s.end.map(|t| t.to_rfc3339()).as_deref(),
            Some("2024-05-01T09:10:00.000000000Z")
        );
        assert_eq!(s.addr.as_deref(), Some("192.0.2.1"));
        assert_eq!(s.tty.as_deref(), Some("pts/4"));
        assert_eq!(s.cmds.len(), 1);
        let GroupKey::Unattributed { service, .. } = r.groups[1].key else {
            panic!()
        };
        assert_eq!(r.strings.get(service), b"foo.service");
    }

    #[test]
    fn sessions_without_commands_follow_the_filters() {
        let r = build(&[LOGIN, END], Filter::default(), GroupBy::Session);
        assert_eq!(r.groups.len(), 1);
        let r = build(
            &[LOGIN, END],
            Filter {
                failed: true,
                ..Filter::default()
            },
            GroupBy::Session,
        );
        assert!(r.groups.is_empty());
        let r = build(
            &[LOGIN, END],
            Filter {
                user: Some(1),
                ..Filter::default()
            },
            GroupBy::Session,
        );
        assert!(r.groups.is_empty());
    }

    #[test]
    fn tracer_boot_ids_keep_the_same_ses_apart() {
        let start = |boot: &str, t: &str| {
            format!(
                r#"{{"type":"tracer","time":"{t}","host":"h","source":"tracer","boot":"{boot}","detail":{{"status":"start"}}}}"#
            )
        };
        let ss = |t: &str| {
            format!(
                r#"{{"type":"session_start","time":"{t}","host":"h","source":"ebpf","auid":1000,"ses":3,"session_kind":"interactive","user":"alice"}}"#
            )
        };
        let lines = [
            start("b-one", "2024-05-01T08:00:00Z"),
            ss("2024-05-01T09:00:00Z"),
            start("b-two", "2024-05-02T08:00:00Z"),
            ss("2024-05-02T09:00:00Z"),
        ];
        let mut b = Builder::new(Filter::default(), GroupBy::Session, true);
        for l in &lines {
            b.add(&Record::from_json(l.as_bytes()).unwrap());
        }
        let r = b.finish();
        let boots: Vec<String> = r
            .groups
            .iter()
            .map(|g| match g.key {
                GroupKey::Session { boot, ses: 3, .. } => r.strings.str(boot).into_owned(),
                _ => panic!("{:?}", g.key),
            })
            .collect();
        assert_eq!(boots, ["b-one", "b-two"]);
        assert!(r
            .groups
            .iter()
            .all(|g| g.user.as_deref() == Some("alice") && g.kind() == SessionKind::Interactive));
    }

    #[test]
    fn summary_mode_keeps_no_commands() {
        let mut b = Builder::new(Filter::default(), GroupBy::Session, false);
        b.add(&Record::from_json(CMD.as_bytes()).unwrap());
        let r = b.finish();
        assert_eq!(r.groups[0].commands, 1);
        assert!(r.groups[0].cmds.is_empty());
        assert_eq!(r.groups[0].top.values().sum::<u64>(), 1);
    }
}
