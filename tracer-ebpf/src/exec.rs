//! The exec program: `sched_process_exec`, as a raw tracepoint
//! (`TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm
//! *bprm)`, fired from `exec_binprm()` once the new image is in place): one
//! record per successful exec. A raw tracepoint skips the perf trace record
//! that a classic tracepoint program is handed (the kernel copies the
//! filename into it first), and takes the exe from `bprm->filename`. argv is
//! read from the *new* process's memory (`mm->arg_start..arg_end`), so what
//! is logged is what runs, whatever another thread did to the caller's
//! buffers during the exec. Failed execs are in `failed.rs`; the helpers at
//! the end are shared with it.

use aya_ebpf::{
    helpers::generated,
    macros::{btf_tracepoint, raw_tracepoint},
    programs::{BtfTracePointContext, RawTracePointContext},
};
use tracer_common::{
    event::{
        ExecEvent, ARGV_CAP, CWD_MAX, EXE_MAX, FLAG_ARGC_FROM_STACK, FLAG_ARGV_TRUNCATED,
        FLAG_ARGV_UNREADABLE, FLAG_CWD_TRUNCATED, FLAG_EXE_TRUNCATED, FLAG_FILELESS, FLAG_IN_JOB,
    },
    kind::{Counter, EventKind},
};

use crate::{
    filter::{excluded_exec, excluded_ids},
    maps::{config, count, scratch, wake_flags, EVENTS, INFLIGHT},
    task::{fill_identity, write_cwd, Direct, Mem, Probe},
};

/// Size of the fixed part of an exec record.
pub const HDR: usize = core::mem::size_of::<ExecEvent>();

/// `tp_btf` form: typed arguments, direct loads (see `task::Mem`).
#[btf_tracepoint(function = "sched_process_exec")]
pub fn sched_process_exec_btf(ctx: BtfTracePointContext) -> u32 {
    match try_exec::<Direct>(ctx.arg(0), ctx.arg(1), ctx.arg(2)) {
        Ok(()) => 0,
        Err(e) => {
            count(Counter::ReadError);
            aya_log_ebpf::warn!(&ctx, "sched_process_exec: record not built: {}", e);
            0
        }
    }
}

/// Raw tracepoint form, where `tp_btf` does not load: probe reads.
#[raw_tracepoint(tracepoint = "sched_process_exec")]
pub fn sched_process_exec(ctx: RawTracePointContext) -> u32 {
    match try_exec::<Probe>(ctx.arg(0), ctx.arg(1), ctx.arg(2)) {
        Ok(()) => 0,
        Err(e) => {
            count(Counter::ReadError);
            // Rare (no scratch slot): worth a line in tracer's own log.
            aya_log_ebpf::warn!(&ctx, "sched_process_exec: record not built: {}", e);
            0
        }
    }
}

/// `task` (current), `old` (`old_pid`), `bprm`: the tracepoint's arguments.
#[inline(always)]
fn try_exec<M: Mem>(task: u64, old: u64, bprm: u64) -> Result<(), i64> {
    let cfg = config();
    let o = &cfg.offsets;
    let buf = scratch().ok_or(-1i64)?;
    let ev = buf.cast::<ExecEvent>();
    // SAFETY: `buf` is this CPU's scratch slot of SCRATCH_SIZE bytes; every
    // write below stays in it (bounds are explained at each step); reads of
    // kernel and user memory go through faulting-safe helpers.
    unsafe {
        (*ev).header.kind = EventKind::Exec as u32;
        (*ev).ret = 0;
        (*ev).flags = 0;
        if fill_identity::<M>(ev, task, o).is_err() {
            count(Counter::ReadError);
        }
        // `old_pid` is the tid that called exec (differs from the pid when a
        // non-leader thread execs).
        (*ev).tid = old as u32;
        if old as u32 != (*ev).pid {
            // Only with the tracepoint fallback for failed execs: the
            // thread's sys_enter entry is keyed by the old tid and will
            // never see its sys_exit under that key.
            let key = ((*ev).pid as u64) << 32 | old;
            let _ = INFLIGHT.remove(&key);
        }

        // 1. exe: `bprm->filename`.
        let mut pos = HDR;
        let name = M::rd::<u64>(bprm, o.bprm_filename).unwrap_or(0);
        let n = generated::bpf_probe_read_kernel_str(
            buf.add(pos).cast(),
            EXE_MAX as u32,
            name as *const _,
        );
        let exe_len = if n > 0 {
            (n as u32 - 1) & (EXE_MAX as u32 - 1)
        } else {
            0
        };
        if n >= EXE_MAX as i64 {
            (*ev).flags |= FLAG_EXE_TRUNCATED;
        }
        (*ev).exe_len = exe_len;
        if filtered(ev, buf.add(HDR), exe_len) {
            return Ok(());
        }
        pos += exe_len as usize;

        // 2. cwd, at most CWD_MAX bytes.
        pos = append_cwd::<M>(buf, ev, task, pos);

        // 3. argv from the new mm.
        let mm = M::rd::<u64>(task, o.task_mm).unwrap_or(0);
        let (mut start, mut end, mut stack) = (0u64, 0u64, 0u64);
        if mm != 0 {
            // start_stack, arg_start, arg_end are consecutive in every
            // kernel; one read when BTF says so here.
            if M::MERGE
                && o.mm_arg_start == o.mm_start_stack + 8
                && o.mm_arg_end == o.mm_start_stack + 16
            {
                if let Ok(v) = M::rd::<[u64; 3]>(mm, o.mm_start_stack) {
                    (stack, start, end) = (v[0], v[1], v[2]);
                }
            } else {
                start = M::rd::<u64>(mm, o.mm_arg_start).unwrap_or(0);
                end = M::rd::<u64>(mm, o.mm_arg_end).unwrap_or(0);
                stack = M::rd::<u64>(mm, o.mm_start_stack).unwrap_or(0);
            }
        }
        if mm != 0 {
            let file = M::rd::<u64>(mm, o.mm_exe_file).unwrap_or(0);
            let inode = if file != 0 {
                M::rd::<u64>(file, o.file_f_inode).unwrap_or(0)
            } else {
                0
            };
            if inode != 0 && M::rd::<u32>(inode, o.inode_nlink).unwrap_or(1) == 0 {
                (*ev).flags |= FLAG_FILELESS;
            }
        }
        let total = end.saturating_sub(start);
        (*ev).args_size = total as u32;
        // argc sits at the top of the new stack (`create_elf_tables()`).
        (*ev).argc = 0;
        if stack != 0 {
            if let Ok(argc) = aya_ebpf::helpers::bpf_probe_read_user(stack as *const u64) {
                (*ev).argc = argc as u32;
                (*ev).flags |= FLAG_ARGC_FROM_STACK;
            }
        }
        let mut want = total;
        let limit = if (cfg.argv_limit as usize) < ARGV_CAP {
            cfg.argv_limit as u64
        } else {
            ARGV_CAP as u64
        };
        if want > limit {
            want = limit;
            (*ev).flags |= FLAG_ARGV_TRUNCATED;
        }
        let want = want as u32 & (ARGV_CAP as u32 * 2 - 1);
        let want = if want > ARGV_CAP as u32 {
            ARGV_CAP as u32
        } else {
            want
        };
        let mut got = 0;
        if want > 0 {
            let r = generated::bpf_probe_read_user(buf.add(pos).cast(), want, start as *const _);
            if r == 0 {
                got = want;
            } else {
                (*ev).flags |= FLAG_ARGV_UNREADABLE;
            }
        }
        (*ev).argv_len = got;
        pos += got as usize;
        send(buf, pos)
    }
}

/// Applies the kernel-side filters to a record whose identity and exe are
/// filled in; counts a drop.
///
/// # Safety
/// `ev` is a filled-in scratch record; `exe` is readable for `exe_len` bytes.
#[inline(always)]
pub unsafe fn filtered(ev: *const ExecEvent, exe: *const u8, exe_len: u32) -> bool {
    let f = &config().filter;
    if f.flags == 0
        && f.n_uid_include == 0
        && f.n_uid_exclude == 0
        && f.n_auid_include == 0
        && f.n_auid_exclude == 0
    {
        return false;
    }
    // SAFETY: per the contract.
    let drop = unsafe {
        excluded_ids(f, (*ev).uid, (*ev).auid, (*ev).flags & FLAG_IN_JOB != 0)
            || excluded_exec(f, &(*ev).comm, exe, exe_len)
    };
    if drop {
        count(Counter::Filtered);
    }
    drop
}

/// Appends the cwd at `pos`, records its length and flags, returns the new end.
///
/// # Safety
/// `buf` is a scratch slot; `pos <= HDR + EXE_MAX`; `task` is the current task
/// (BTF-typed for [`Direct`]).
#[inline(always)]
pub unsafe fn append_cwd<M: Mem>(buf: *mut u8, ev: *mut ExecEvent, task: u64, pos: usize) -> usize {
    let o = &config().offsets;
    // SAFETY: per the contract, `pos + CWD_MAX` is within the slot.
    unsafe {
        match write_cwd::<M>(buf.add(pos), task, o) {
            Ok((len, truncated)) => {
                if truncated {
                    (*ev).flags |= FLAG_CWD_TRUNCATED;
                }
                let len = len & (CWD_MAX as u32 * 2 - 1);
                let len = if len > CWD_MAX as u32 {
                    CWD_MAX as u32
                } else {
                    len
                };
                (*ev).cwd_len = len;
                pos + len as usize
            }
            Err(_) => {
                count(Counter::ReadError);
                (*ev).cwd_len = 0;
                (*ev).flags |= FLAG_CWD_TRUNCATED;
                pos
            }
        }
    }
}

/// Sets the record's size and copies `buf[..len]` to the ring buffer. Wakes the
/// reader only when it asked to be (idle) or the ring holds more than
/// `wakeup_bytes` (see `maps::wake_flags`); otherwise the reader finds the
/// record on its next timed poll.
///
/// # Safety
/// `buf` is a scratch slot holding an `ExecEvent` header; `len <= SCRATCH_SIZE`.
#[inline(always)]
pub unsafe fn send(buf: *mut u8, len: usize) -> Result<(), i64> {
    let len = len & (tracer_common::event::SCRATCH_SIZE.next_power_of_two() - 1);
    let len = if len > tracer_common::event::SCRATCH_SIZE {
        tracer_common::event::SCRATCH_SIZE
    } else {
        len
    };
    // SAFETY: per the contract.
    unsafe {
        (*buf.cast::<ExecEvent>()).header.size = len as u32;
        let data = core::slice::from_raw_parts(buf, len);
        match EVENTS.output::<[u8]>(data, wake_flags(len as u64)) {
            Ok(()) => count(Counter::Sent),
            Err(_) => count(Counter::RingbufFull),
        }
    }
    Ok(())
}
