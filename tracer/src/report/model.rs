//! The report's model: login users -> sessions -> commands (or batch jobs ->
//! commands with `--by job`), built one [`Record`] (a borrowed view of an
//! `Event`) at a time.
//!
//! Memory: reading is streaming, but a grouped report must hold what it will
//! show, so the builder keeps every *selected* command, compactly: a
//! fixed-size [`Command`] (56 bytes) whose argv, cwd, exe and host are
//! interned once each in [`Interner`] (log lines repeat the same commands and
//! directories a lot). So memory is ~56 bytes per selected command plus each
//! distinct string once: about 75 MB for a 300 MB log of 770,000 execs all
//! selected. Filters run before anything is kept, and `--summary` keeps no
//! commands at all, only counters per session (a few MB for any input).
//! Sessions and their metadata are kept for the whole run (a few hundred
//! bytes each). Each group's commands live in their own vector and are
//! sorted by time (stably, so input order breaks ties) when finished.

use std::collections::HashMap;

use std::borrow::Cow;

use crate::event::{Kind, Timestamp, UNSET};

use super::cgroup;
use super::filter::{CommandView, Filter};
use super::record::Record;

pub use super::intern::{pack_argv, unpack_argv, Interner, Sym, NONE};

pub const FAILED: u8 = 1;
pub const TRUNCATED: u8 = 2;
/// Found running at tracer's start (`process` record), not seen exec'ing.
pub const PREEXISTING: u8 = 4;

/// One selected exec, 56 bytes. Numbers that may be unknown use [`NONE`].
#[derive(Debug, Clone, Copy)]
pub struct Command {
    pub time: Timestamp,
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub auid: u32,
    pub ses: u32,
    pub argv: Sym,
    pub cwd: Sym,
    pub exe: Sym,
    pub job: Sym,
    /// The negative errno of a failed exec (clamped to i16; errnos are < 4096).
    pub ret: i16,
    pub flags: u8,
}

const _: () = assert!(std::mem::size_of::<Command>() == 56);

impl Command {
    pub fn failed(&self) -> bool {
        self.flags & FAILED != 0
    }
    pub fn opt(n: u32) -> Option<u32> {
        (n != NONE).then_some(n)
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
    /// A login session; `ses` may be [`UNSET`] when only auid is known.
    Session {
        auid: u32,
        host: Sym,
        ses: u32,
    },
    /// Processes with no login uid, by systemd unit (or [`NONE`]).
    Unattributed {
        host: Sym,
        service: Sym,
    },
    Job {
        host: Sym,
        job: Sym,
    },
}

/// A session, an unattributed group or a job, with what is known about it.
#[derive(Debug, Clone)]
pub struct Group {
    pub key: GroupKey,
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
    pub commands: u64,
    pub failed: u64,
    /// Commands by the base name of argv\[0\] (`--summary` only).
    pub top: HashMap<Sym, u64>,
    /// The selected commands, in time order once finished.
    pub cmds: Vec<Command>,
}

impl Group {
    fn new(key: GroupKey) -> Self {
        Self {
            key,
            start: None,
            end: None,
            first: None,
            last: None,
            addr: None,
            port: None,
            tty: None,
            commands: 0,
            failed: 0,
            top: HashMap::new(),
            cmds: Vec::new(),
        }
    }
}

/// What the model counted while reading.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Counts {
    pub events: u64,
    pub execs: u64,
    pub failed_execs: u64,
    pub selected: u64,
    pub loss_records: u64,
    pub lost_events: u64,
    pub discrepancies: u64,
    pub unknown_records: u64,
    /// `--by job`: selected execs that ran in no job.
    pub not_in_job: u64,
}

/// The finished model, groups in display order.
#[derive(Debug)]
pub struct Report {
    pub by: GroupBy,
    pub groups: Vec<Group>,
    pub strings: Interner,
    pub counts: Counts,
}

/// Builds a [`Report`] from events.
pub struct Builder {
    filter: Filter,
    by: GroupBy,
    keep: bool,
    strings: Interner,
    groups: Vec<Group>,
    index: HashMap<GroupKey, u32>,
    counts: Counts,
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
            index: HashMap::new(),
            counts: Counts::default(),
        }
    }

    pub fn add(&mut self, ev: &Record<'_>) {
        self.counts.events += 1;
        match ev.kind {
            Kind::Exec | Kind::ExecFailed | Kind::Process => self.add_command(ev),
            Kind::SessionStart | Kind::SessionEnd | Kind::Login => self.add_login(ev),
            Kind::Loss => {
                self.counts.loss_records += 1;
                self.counts.lost_events += ev.count.unwrap_or(0);
            }
            Kind::Discrepancy => self.counts.discrepancies += 1,
            Kind::Unknown => self.counts.unknown_records += 1,
            Kind::Exit | Kind::Tracer => {}
        }
    }

    fn group(&mut self, key: GroupKey) -> &mut Group {
        let i = *self.index.entry(key).or_insert_with(|| {
            self.groups.push(Group::new(key));
            (self.groups.len() - 1) as u32
        });
        &mut self.groups[i as usize]
    }

    fn add_login(&mut self, ev: &Record<'_>) {
        let (Some(auid), Some(ses)) = (ev.login_uid(), ev.session_id()) else {
            return;
        };
        if self.by == GroupBy::Job {
            return;
        }
        let record = ev.record_type.as_deref();
        let (starts, ends) = match ev.kind {
            Kind::SessionStart => (true, false),
            Kind::SessionEnd => (false, true),
            _ => match record {
                Some("USER_LOGIN" | "USER_START") => (true, false),
                Some("USER_END" | "USER_LOGOUT") => (false, true),
                _ => (false, false),
            },
        };
        let host = self.strings.intern(ev.host.as_bytes());
        let g = self.group(GroupKey::Session { auid, host, ses });
        if starts {
            g.start = Some(g.start.map_or(ev.time, |s| s.min(ev.time)));
        }
        if ends {
            g.end = Some(g.end.map_or(ev.time, |e| e.max(ev.time)));
        }
        if g.addr.is_none() {
            g.addr = ev
                .addr
                .as_deref()
                .filter(|a| !a.is_empty() && *a != "?")
                .map(str::to_owned);
            g.port = g.port.or(ev.port);
        }
        if g.tty.is_none() {
            g.tty = ev
                .tty
                .as_deref()
                .filter(|t| !t.is_empty() && *t != "?" && *t != "(none)")
                .map(str::to_owned);
        }
    }

    fn add_command(&mut self, ev: &Record<'_>) {
        self.counts.execs += 1;
        let failed = ev.kind == Kind::ExecFailed || ev.ret.is_some_and(|r| r < 0);
        self.counts.failed_execs += u64::from(failed);
        let no_argv = Vec::new();
        let argv = ev.argv.as_ref().unwrap_or(&no_argv);
        let job = ev.cgroup.as_deref().and_then(cgroup::job_id);
        let view = CommandView {
            host: &ev.host,
            auid: ev.login_uid(),
            ses: ev.session_id(),
            time: ev.time,
            argv,
            exe: ev.exe.as_deref(),
            failed,
            job,
        };
        if !self.filter.matches(&view) {
            return;
        }
        let host = self.strings.intern(ev.host.as_bytes());
        let job = job.map_or(NONE, |j| self.strings.intern(j.as_bytes()));
        let key = match (self.by, ev.login_uid()) {
            (GroupBy::Job, _) if job == NONE => {
                self.counts.not_in_job += 1;
                return;
            }
            (GroupBy::Job, _) => GroupKey::Job { host, job },
            (GroupBy::Session, Some(auid)) => GroupKey::Session {
                auid,
                host,
                ses: ev.ses.unwrap_or(UNSET),
            },
            (GroupBy::Session, None) => {
                let service = ev.cgroup.as_deref().and_then(cgroup::service);
                let service = service.map_or(NONE, |s| self.strings.intern(s.as_bytes()));
                GroupKey::Unattributed { host, service }
            }
        };
        self.counts.selected += 1;
        let top = if self.keep {
            NONE
        } else {
            let name = argv.first().map(|a| &a[..]).or(view.exe).unwrap_or(b"?");
            let base = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
            self.strings.intern(base)
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
        let cmd = if self.keep {
            let mut sym =
                |b: &Option<Cow<'_, [u8]>>| b.as_deref().map_or(NONE, |b| self.strings.intern(b));
            let cwd = sym(&ev.cwd);
            let exe = sym(&ev.exe);
            let argv = self.strings.intern(&pack_argv(argv));
            Some(Command {
                time: ev.time,
                pid: ev.pid.unwrap_or(NONE),
                ppid: ev.ppid.unwrap_or(NONE),
                uid: ev.uid.unwrap_or(NONE),
                euid: ev.euid.unwrap_or(NONE),
                auid: ev.auid.unwrap_or(UNSET),
                ses: ev.ses.unwrap_or(UNSET),
                argv,
                cwd,
                exe,
                job,
                ret: ev
                    .ret
                    .map_or(0, |r| r.clamp(i16::MIN.into(), i16::MAX.into()) as i16),
                flags,
            })
        } else {
            None
        };
        let g = self.group(key);
        g.commands += 1;
        g.failed += u64::from(failed);
        g.first = Some(g.first.map_or(ev.time, |f| f.min(ev.time)));
        g.last = Some(g.last.map_or(ev.time, |l| l.max(ev.time)));
        if g.tty.is_none() {
            g.tty = ev
                .tty
                .as_deref()
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
        }
        if top != NONE {
            *g.top.entry(top).or_default() += 1;
        }
        g.cmds.extend(cmd);
    }

    /// Drops groups with nothing to show, orders groups and commands.
    pub fn finish(self) -> Report {
        let Builder {
            filter,
            by,
            strings,
            mut groups,
            counts,
            ..
        } = self;
        let shown = |g: &Group| -> bool {
            if g.commands > 0 {
                return true;
            }
            let GroupKey::Session { auid, host, ses } = g.key else {
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
        let host_of = |k: &GroupKey| match *k {
            GroupKey::Session { host, .. }
            | GroupKey::Unattributed { host, .. }
            | GroupKey::Job { host, .. } => host,
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
                GroupKey::Job { job, .. } => (2, 0, None, 0, job_sort_key(strings.get(job))),
            };
            let (ra, rb) = (rank(ga), rank(gb));
            (ra.0, ra.1, ra.2, strings.get(host_of(&ga.key)), ra.3, &ra.4).cmp(&(
                rb.0,
                rb.1,
                rb.2,
                strings.get(host_of(&gb.key)),
                rb.3,
                &rb.4,
            ))
        });
        let mut out: Vec<Group> = Vec::with_capacity(order.len());
        for i in order {
            let mut g = std::mem::replace(
                &mut groups[i],
                Group::new(GroupKey::Job {
                    host: NONE,
                    job: NONE,
                }),
            );
            // Input is nearly in time order already; a stable sort keeps
            // input order for equal times.
            g.cmds.sort_by_key(|c| c.time);
            out.push(g);
        }
        Report {
            by,
            groups: out,
            strings,
            counts,
        }
    }
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
        assert_eq!(s.tty.as_deref(), Some("/dev/pts/4"));
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
    fn summary_mode_keeps_no_commands() {
        let mut b = Builder::new(Filter::default(), GroupBy::Session, false);
        b.add(&Record::from_json(CMD.as_bytes()).unwrap());
        let r = b.finish();
        assert_eq!(r.groups[0].commands, 1);
        assert!(r.groups[0].cmds.is_empty());
        assert_eq!(r.groups[0].top.values().sum::<u64>(), 1);
    }
}
