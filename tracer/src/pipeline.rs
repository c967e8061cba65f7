//! What happens to records between a source and the sinks in `tracer run`:
//! cgroup paths and job ids are resolved, then the session tracker adds
//! session records and identity marks (`via`).
//!
//! Two ways through, with one output:
//! - [`Pipeline::write`] takes owned [`Event`]s (audit, `/proc`, the
//!   cross-check, tracer's own records: everything but the eBPF hot path);
//! - [`Pipeline::ebpf_record`] is the hot path for eBPF exec and exit
//!   records: it reads the ring-buffer bytes in place, gives the tracker a
//!   borrowed view ([`ProcView`], [`ExitView`]) and writes the JSON line
//!   from a borrowed [`WireRef`] into the sinks' reused line buffer. No
//!   `Event`, no allocation per record (the cgroup path is a cached
//!   `&str`, the time prefix is cached per second, strings are escaped as
//!   they are written).
//!
//! - [`Pipeline::audit_exec`] is the same for the audit backend's execs,
//!   from the coalescer's compact [`ExecRecord`] (strings in one buffer):
//!   the tracker gets a borrowed view, the line is written from a
//!   borrowed `WireRef`, no `Event` is made. `tests/audit_hot_path.rs`
//!   holds it byte-identical to the owned path on real audit logs.
//!
//! Both build the line with the same `WireRef` code ([`TaskRef`] and
//! [`ExecRef`] have every field of `Task` and `Exec`), and
//! `tests/ebpf_hot_path.rs` holds them byte-identical on a fixture of raw
//! records.
//!
//! [`TaskRef`]: crate::event::wire::TaskRef
//! [`ExecRef`]: crate::event::wire::ExecRef
//! [`ExecRecord`]: crate::source::audit::exec::ExecRecord

use crate::event::wire::{Argv, Cwd, ExecRef, TaskRef, WireRef};
use crate::event::{exec_kind, Event, Source};
use crate::session::{ExitView, LoginInfo, ProcView, SessionTracker};
use crate::sessions::job;
use crate::sink::{SinkError, Sinks};
use crate::source::audit::coalesce::Coalesced;
use crate::source::audit::exec::ExecRecord;
use crate::source::cgroup::{CgroupPaths, Jobs};
use crate::source::ebpf::decode::{tty_into, Decoder, Record, TTY_BUF};

pub struct Pipeline<L: LoginInfo> {
    pub tracker: SessionTracker<L>,
    pub cgroups: CgroupPaths,
    pub jobs: Jobs,
    /// Records the tracker made, waiting for the sink.
    pub out: Vec<Event>,
    /// An audit exec's arguments, NUL-separated (reused).
    argv: Vec<u8>,
}

impl<L: LoginInfo> Pipeline<L> {
    pub fn new(tracker: SessionTracker<L>, cgroups: CgroupPaths) -> Self {
        Self {
            tracker,
            cgroups,
            jobs: Jobs::default(),
            out: Vec::with_capacity(64),
            argv: Vec::with_capacity(4096),
        }
    }

    /// Owned events: resolves, tracks, writes everything (the tracker's
    /// records too) and flushes the sinks.
    pub fn write(&mut self, sink: &mut Sinks, batch: &mut Vec<Event>) -> Result<(), SinkError> {
        for e in batch.drain(..) {
            self.resolve_and_track(e);
        }
        if self.out.is_empty() {
            return Ok(());
        }
        for e in self.out.drain(..) {
            sink.write(&e)?;
        }
        sink.flush()
    }

    fn resolve_and_track(&mut self, mut e: Event) {
        if e.task.cgroup.is_none() {
            if let Some(id) = e.task.cgroup_id {
                e.task.cgroup = self.cgroups.path(id).map(str::to_string);
            }
        }
        self.jobs.fill(&mut e);
        self.tracker.observe(e, &mut self.out);
    }

    /// One owned event among hot-path records: what [`Self::write`] does
    /// with it, without the flush (the caller flushes at the end of the
    /// batch).
    pub fn owned(&mut self, e: Event, sink: &mut Sinks) -> Result<(), SinkError> {
        self.resolve_and_track(e);
        for e in self.out.drain(..) {
            sink.write(&e)?;
        }
        Ok(())
    }

    /// One coalesced audit event on the hot path: execs through
    /// [`Self::audit_exec`], the others as owned events. The caller flushes
    /// the sinks at the end of the batch. Only when [`Sinks::takes_lines`].
    pub fn audit(&mut self, c: Coalesced, sink: &mut Sinks) -> Result<(), SinkError> {
        match c {
            Coalesced::Exec(r) => self.audit_exec(&r, sink),
            Coalesced::Login(l) => self.owned(l.to_event(), sink),
            Coalesced::Event(e) => self.owned(*e, sink),
        }
    }

    /// One audit exec on the hot path: what [`Self::write`] does with
    /// [`ExecRecord::to_event`], without making it. The caller flushes the
    /// sinks at the end of the batch. Only when [`Sinks::takes_lines`].
    pub fn audit_exec(&mut self, r: &ExecRecord, sink: &mut Sinks) -> Result<(), SinkError> {
        // The arguments as the NUL-separated area `Argv::Raw` splits. The
        // kernel's arguments are C strings; one with a NUL (only from a
        // crafted hex value) takes the owned path rather than being split.
        self.argv.clear();
        for a in r.argv() {
            if a.contains(&0) {
                return self.owned(r.to_event(), sink);
            }
            self.argv.extend_from_slice(a);
            self.argv.push(0);
        }
        let host = r.host();
        let tty = r.tty();
        let user = r.user();
        let key = r.key();
        // Audit records carry no cgroup: the job from /proc, as `Jobs::fill`.
        let job = self.jobs.of_audit_exec(r.pid, r.ppid);
        let view = ProcView {
            kind: exec_kind(r.outcome),
            time: r.time,
            source: Source::Audit,
            host: &host,
            pid: r.pid,
            ppid: r.ppid,
            uid: r.uid,
            euid: r.euid,
            auid: r.auid,
            ses: r.ses,
            tty: tty.as_deref(),
            comm: r.comm(),
            cgroup: None,
            start_boottime: None,
        };
        let via = self.tracker.observe_process(&view, &mut self.out).flatten();
        // A session the exec opens goes before it.
        for e in self.out.drain(..) {
            sink.write(&e)?;
        }
        let task = TaskRef {
            pid: r.pid,
            ppid: r.ppid,
            uid: r.uid,
            euid: r.euid,
            gid: r.gid,
            egid: r.egid,
            auid: r.auid,
            ses: r.ses,
            tty: tty.as_deref(),
            comm: r.comm(),
            exe: r.exe(),
            ..TaskRef::default()
        };
        let exec = ExecRef {
            argv: Some(Argv::Raw(&self.argv)),
            cwd: r.cwd().map(Cwd::Owned),
            outcome: r.outcome,
            argc: r.argc,
            args_size: None,
            truncated: r.truncated,
            argv_missing: r.argv_missing,
            fileless: false,
            via: via.as_ref(),
            job: job.as_ref(),
            user: user.as_deref(),
            serial: Some(r.serial),
            key: key.as_deref(),
        };
        let w = WireRef::exec_record(r.time, &host, Source::Audit, task, exec);
        sink.write_wire(&w, true)
    }

    /// One eBPF record on the hot path: what [`Self::write`] does with the
    /// record's [`Decoder::owned`] event, without making it. The caller
    /// flushes the sinks at the end of the drain. Only when
    /// [`Sinks::takes_lines`].
    pub fn ebpf_record(
        &mut self,
        dec: &Decoder,
        r: Record<'_>,
        sink: &mut Sinks,
    ) -> Result<(), SinkError> {
        let host = dec.host.as_str();
        match r {
            Record::Exec(x) => {
                let ev = &x.ev;
                let time = dec.time(ev.header.boot_ns);
                let cgroup = self.cgroups.path(ev.cgroup_id);
                // The kernel's reading of the job cgroup, else the v2 path
                // (allocates only for a job's processes).
                let job = x.job().or_else(|| cgroup.and_then(job::from_path));
                let mut buf = [0u8; TTY_BUF];
                let tty = tty_into(&ev.tty, &mut buf);
                let outcome = x.outcome();
                let view = ProcView {
                    kind: exec_kind(outcome),
                    time,
                    source: Source::Ebpf,
                    host,
                    pid: Some(ev.pid),
                    ppid: Some(ev.ppid),
                    uid: Some(ev.uid),
                    euid: Some(ev.euid),
                    auid: Some(ev.auid),
                    ses: Some(ev.ses),
                    tty: Some(&tty),
                    comm: Some(x.comm()),
                    cgroup,
                    start_boottime: Some(ev.start_boottime),
                };
                let via = self.tracker.observe_process(&view, &mut self.out).flatten();
                // A session the exec opens goes before it.
                for e in self.out.drain(..) {
                    sink.write(&e)?;
                }
                let w = WireRef::exec_record(
                    time,
                    host,
                    Source::Ebpf,
                    x.task(&tty, cgroup),
                    x.exec(via.as_ref(), job.as_ref()),
                );
                sink.write_wire(&w, true)
            }
            Record::Exit(x) => {
                let ev = &x.ev;
                let time = dec.time(ev.header.boot_ns);
                let exit = x.exit();
                sink.write_wire(
                    &WireRef::exit_record(time, host, Source::Ebpf, x.task(), &exit),
                    false,
                )?;
                let view = ExitView {
                    time,
                    source: Source::Ebpf,
                    host,
                    pid: Some(ev.pid),
                    auid: Some(ev.auid),
                    ses: Some(ev.ses),
                    start_boottime: Some(ev.start_boottime),
                    session_leader: exit.session_leader,
                };
                // A session the exit ends goes after it.
                self.tracker.observe_exit(&view, &mut self.out);
                for e in self.out.drain(..) {
                    sink.write(&e)?;
                }
                Ok(())
            }
        }
    }
}
