//! `sched_process_exit`, as a raw tracepoint (its first argument is the
//! exiting task, the current one): fired from `do_exit()` for every exiting
//! task. Reported: thread-group leaders that exec'd since their fork (so their
//! exec was reported, or they were found in `/proc`), and session leaders
//! (where the login set the login uid: their exit ends the login). A record
//! then means "this process ended". Every other exit (threads, and forked
//! children that never exec'd: a shell's subshells, a server's workers) costs
//! only the early returns below, with no record and no map work. The record
//! is small: the pid, its start time, its login and its status (issue 13).

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_boot_ns},
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use tracer_common::{
    config::FILTER_EXCLUDE_UNATTRIBUTED,
    event::{EventHeader, ExitEvent, EXIT_FLAG_SESSION_LEADER},
    kind::{Counter, EventKind},
};

use crate::{
    filter::excluded_ids,
    maps::{config, count, wake_flags, EVENTS},
    task::{current_task, in_job, Direct, Mem, Probe},
};

/// `tp_btf` form: typed arguments, direct loads (see `task::Mem`).
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit_btf(ctx: BtfTracePointContext) -> u32 {
    match try_exit::<Direct>(ctx.arg(0)) {
        Ok(()) => 0,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    }
}

/// Raw tracepoint form, where `tp_btf` does not load: probe reads.
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(_ctx: RawTracePointContext) -> u32 {
    match try_exit::<Probe>(current_task()) {
        Ok(()) => 0,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    }
}

/// `task`: the exiting (current) task.
#[inline(always)]
fn try_exit<M: Mem>(task: u64) -> Result<(), i64> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (pid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    if pid != tid {
        return Ok(());
    }
    let o = &config().offsets;
    // SAFETY: reads go through `M` (faulting-safe either way).
    let ev = unsafe {
        // `self_exec_id` is bumped by every exec; a fork copies it and sets
        // the child's `parent_exec_id` to it. Equal: no exec since the fork.
        // (The low 32 bits suffice to tell them apart.)
        let execd = if o.task_self_exec_id == o.task_parent_exec_id + 8 {
            // u64 ids (5.7+).
            if M::MERGE {
                let ids = M::rd::<[u64; 2]>(task, o.task_parent_exec_id)?;
                ids[0] != ids[1]
            } else {
                M::rd::<u64>(task, o.task_self_exec_id)?
                    != M::rd::<u64>(task, o.task_parent_exec_id)?
            }
        } else {
            M::rd::<u32>(task, o.task_self_exec_id)? != M::rd::<u32>(task, o.task_parent_exec_id)?
        };
        let parent = M::rd::<u64>(task, o.task_real_parent)?;
        let (auid, ses) = if M::MERGE && o.task_sessionid == o.task_loginuid + 4 {
            let both = M::rd::<u64>(task, o.task_loginuid)?;
            (both as u32, (both >> 32) as u32)
        } else {
            (
                M::rd::<u32>(task, o.task_loginuid)?,
                M::rd::<u32>(task, o.task_sessionid)?,
            )
        };
        let parent_ses = M::rd::<u32>(parent, o.task_sessionid)?;
        if !execd && parent_ses == ses {
            return Ok(());
        }
        // The record is what the exit adds: the ids, comm and cgroup of the
        // process are in its exec record already (see `ExitEvent`).
        ExitEvent {
            header: EventHeader {
                kind: EventKind::Exit as u32,
                size: core::mem::size_of::<ExitEvent>() as u32,
                boot_ns: bpf_ktime_get_boot_ns(),
            },
            pid,
            auid,
            ses,
            exit_code: M::rd::<u32>(task, o.task_exit_code)?,
            flags: if parent_ses != ses {
                EXIT_FLAG_SESSION_LEADER
            } else {
                0
            },
            _pad: 0,
            start_boottime: M::rd::<u64>(task, o.task_start_boottime)?,
        }
    };
    // A job's processes have no login uid either: `exclude_unattributed`
    // keeps their exits as it keeps their execs (a job's last exit ends it).
    // The uid is read for the filter only, and not kept.
    let f = &config().filter;
    let maybe_job = f.flags & FILTER_EXCLUDE_UNATTRIBUTED != 0 && ev.auid == u32::MAX;
    if excluded_ids(
        f,
        bpf_get_current_uid_gid() as u32,
        ev.auid,
        maybe_job && in_job(task, o).unwrap_or(false),
    ) {
        count(Counter::FilteredExit);
        return Ok(());
    }
    let flags = wake_flags(core::mem::size_of::<ExitEvent>() as u64);
    match EVENTS.output::<ExitEvent>(ev, flags) {
        Ok(()) => count(Counter::Sent),
        Err(_) => count(Counter::RingbufFullExit),
    }
    Ok(())
}
