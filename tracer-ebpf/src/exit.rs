//! `sched/sched_process_exit`: fired from `do_exit()` for every exiting task.
//! Only thread-group leaders are reported, so that a record means "this process
//! ended" and a session's end can be known when its last process is gone.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{
        bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
        bpf_get_current_uid_gid, bpf_ktime_get_boot_ns,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use tracer_common::{
    event::{EventHeader, ExitEvent, EXIT_FLAG_SESSION_LEADER},
    kind::{Counter, EventKind},
};

use crate::{
    filter::excluded_ids,
    maps::{config, count, EVENTS},
    task::{current_task, read},
};

#[tracepoint]
pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
    match try_exit() {
        Ok(()) => 0,
        Err(_) => {
            count(Counter::ReadError);
            0
        }
    }
}

fn try_exit() -> Result<(), i64> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let (pid, tid) = ((pid_tgid >> 32) as u32, pid_tgid as u32);
    if pid != tid {
        return Ok(());
    }
    let o = &config().offsets;
    let task = current_task();
    // SAFETY: reads go through the faulting-safe helper.
    let ev = unsafe {
        let parent = read::<u64>(task, o.task_real_parent)?;
        let ses = read::<u32>(task, o.task_sessionid)?;
        let parent_ses = read::<u32>(parent, o.task_sessionid)?;
        ExitEvent {
            header: EventHeader {
                kind: EventKind::Exit as u32,
                size: core::mem::size_of::<ExitEvent>() as u32,
                boot_ns: bpf_ktime_get_boot_ns(),
            },
            pid,
            ppid: read::<u32>(parent, o.task_tgid)?,
            auid: read::<u32>(task, o.task_loginuid)?,
            ses,
            uid: bpf_get_current_uid_gid() as u32,
            exit_code: read::<u32>(task, o.task_exit_code)?,
            flags: if parent_ses != ses {
                EXIT_FLAG_SESSION_LEADER
            } else {
                0
            },
            _pad: 0,
            start_boottime: read::<u64>(task, o.task_start_boottime)?,
            cgroup_id: bpf_get_current_cgroup_id(),
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        }
    };
    if excluded_ids(&config().filter, ev.uid, ev.auid) {
        count(Counter::FilteredExit);
        return Ok(());
    }
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    let flags = if pending >= config().wakeup_bytes as u64 {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    match EVENTS.output::<ExitEvent>(ev, flags as u64) {
        Ok(()) => count(Counter::Sent),
        Err(_) => count(Counter::RingbufFullExit),
    }
    Ok(())
}
