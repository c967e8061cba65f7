//! Exec programs.
//!
//! - `sched_process_exec` (tracepoint `sched/sched_process_exec`, fired from
//!   `exec_binprm()` once the new image is in place): one record per successful
//!   exec. argv is read from the *new* process's memory
//!   (`mm->arg_start..arg_end`), so what is logged is what runs, whatever
//!   another thread did to the caller's buffers during the exec.
//! - `sys_enter_execve{,at}` remember the user pointers of the call;
//!   `sys_exit_execve{,at}` report the call when it returned an error, reading
//!   the path and argv that were tried from the (unchanged) caller's memory.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    helpers::{bpf_get_current_pid_tgid, generated},
    macros::tracepoint,
    programs::TracePointContext,
    EbpfContext,
};
use tracer_common::{
    event::{
        ExecEvent, ARGV_CAP, CWD_MAX, EXE_MAX, FLAG_ARGC_FROM_STACK, FLAG_ARGV_TRUNCATED,
        FLAG_ARGV_UNREADABLE, FLAG_CWD_TRUNCATED, FLAG_EXE_TRUNCATED, FLAG_FILELESS, SCRATCH_SIZE,
    },
    kind::{Counter, EventKind},
};

use crate::{
    filter::{excluded_exec, excluded_ids},
    maps::{config, count, scratch, Inflight, EVENTS, INFLIGHT},
    task::{current_task, fill_identity, read, write_cwd},
};

const HDR: usize = core::mem::size_of::<ExecEvent>();
/// Most arguments read for a failed exec (whose argv is a user pointer array
/// that must be walked one pointer at a time; each step costs verifier
/// states). A longer argv is flagged truncated, and `argc` is then a lower
/// bound.
const FAILED_ARGS_MAX: u32 = 64;
/// Longest single argument copied for a failed exec.
const FAILED_ARG_MAX: u32 = 4096;

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    match try_exec(&ctx) {
        Ok(()) => 0,
        Err(e) => {
            count(Counter::ReadError);
            // Rare (no scratch slot): worth a line in tracer's own log.
            aya_log_ebpf::warn!(&ctx, "sched_process_exec: record not built: {}", e);
            0
        }
    }
}

fn try_exec(ctx: &TracePointContext) -> Result<(), i64> {
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
        if fill_identity(ev, o).is_err() {
            count(Counter::ReadError);
        }
        // The tracepoint's own `old_pid` is the tid that called exec.
        if let Ok(old) = ctx.read_at::<i32>(cfg.tp.exec_old_pid as usize) {
            (*ev).tid = old as u32;
            // A non-leader thread's exec: its sys_enter entry is keyed by the
            // old tid and will never see a sys_exit under that key.
            if old as u32 != (*ev).pid {
                let key = ((*ev).pid as u64) << 32 | old as u64;
                let _ = INFLIGHT.remove(&key);
            }
        }

        // 1. exe: the tracepoint's `__data_loc char[] filename` (low 16 bits:
        // offset from the record start, high 16: length).
        let mut pos = HDR;
        let loc = ctx
            .read_at::<u32>(cfg.tp.exec_filename as usize)
            .unwrap_or(0);
        let name = (ctx.as_ptr() as u64) + (loc & 0xffff) as u64;
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
        pos = append_cwd(buf, ev, pos);

        // 3. argv from the new mm.
        let task = current_task();
        let mm = read::<u64>(task, o.task_mm).unwrap_or(0);
        let (mut start, mut end, mut stack) = (0u64, 0u64, 0u64);
        if mm != 0 {
            start = read::<u64>(mm, o.mm_arg_start).unwrap_or(0);
            end = read::<u64>(mm, o.mm_arg_end).unwrap_or(0);
            stack = read::<u64>(mm, o.mm_start_stack).unwrap_or(0);
        }
        if mm != 0 {
            let file = read::<u64>(mm, o.mm_exe_file).unwrap_or(0);
            let inode = if file != 0 {
                read::<u64>(file, o.file_f_inode).unwrap_or(0)
            } else {
                0
            };
            if inode != 0 && read::<u32>(inode, o.inode_nlink).unwrap_or(1) == 0 {
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
unsafe fn filtered(ev: *const ExecEvent, exe: *const u8, exe_len: u32) -> bool {
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
        excluded_ids(f, (*ev).uid, (*ev).auid) || excluded_exec(f, &(*ev).comm, exe, exe_len)
    };
    if drop {
        count(Counter::Filtered);
    }
    drop
}

/// Appends the cwd at `pos`, records its length and flags, returns the new end.
///
/// # Safety
/// `buf` is a scratch slot; `pos <= HDR + EXE_MAX`.
#[inline(always)]
unsafe fn append_cwd(buf: *mut u8, ev: *mut ExecEvent, pos: usize) -> usize {
    let o = &config().offsets;
    // SAFETY: per the contract, `pos + CWD_MAX` is within the slot.
    unsafe {
        match write_cwd(buf.add(pos), o) {
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
/// reader only when the ring holds more than `wakeup_bytes`; otherwise the reader
/// finds the record on its next timed poll.
///
/// # Safety
/// `buf` is a scratch slot holding an `ExecEvent` header; `len <= SCRATCH_SIZE`.
#[inline(always)]
unsafe fn send(buf: *mut u8, len: usize) -> Result<(), i64> {
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
        let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
        let flags = if pending + len as u64 >= config().wakeup_bytes as u64 {
            BPF_RB_FORCE_WAKEUP
        } else {
            BPF_RB_NO_WAKEUP
        };
        match EVENTS.output::<[u8]>(data, flags as u64) {
            Ok(()) => count(Counter::Sent),
            Err(_) => count(Counter::RingbufFull),
        }
    }
    Ok(())
}

#[tracepoint]
pub fn sys_enter_execve(ctx: TracePointContext) -> u32 {
    let tp = &config().tp;
    remember(&ctx, tp.enter_execve_filename, tp.enter_execve_argv);
    0
}

#[tracepoint]
pub fn sys_enter_execveat(ctx: TracePointContext) -> u32 {
    let tp = &config().tp;
    remember(&ctx, tp.enter_execveat_filename, tp.enter_execveat_argv);
    0
}

#[inline(always)]
fn remember(ctx: &TracePointContext, filename_off: u32, argv_off: u32) {
    // SAFETY: the offsets come from this tracepoint's format file.
    let (filename, argv) = unsafe {
        (
            ctx.read_at::<u64>(filename_off as usize).unwrap_or(0),
            ctx.read_at::<u64>(argv_off as usize).unwrap_or(0),
        )
    };
    let key = bpf_get_current_pid_tgid();
    if INFLIGHT
        .insert(&key, &Inflight { filename, argv }, 0)
        .is_err()
    {
        count(Counter::InflightFull);
    }
}

#[tracepoint]
pub fn sys_exit_execve(ctx: TracePointContext) -> u32 {
    exit_exec(&ctx)
}

#[tracepoint]
pub fn sys_exit_execveat(ctx: TracePointContext) -> u32 {
    exit_exec(&ctx)
}

#[inline(always)]
fn exit_exec(ctx: &TracePointContext) -> u32 {
    let key = bpf_get_current_pid_tgid();
    // SAFETY: the pointer from the map is valid until the map entry changes,
    // and only this thread touches this key.
    let call = unsafe { INFLIGHT.get(&key).copied() };
    let _ = INFLIGHT.remove(&key);
    // SAFETY: the offset comes from the tracepoint's format file.
    let ret = unsafe { ctx.read_at::<i64>(config().tp.exit_ret as usize) }.unwrap_or(0);
    if ret >= 0 {
        return 0;
    }
    if let Some(call) = call {
        if try_failed(call, ret).is_err() {
            count(Counter::ReadError);
        }
    }
    0
}

fn try_failed(call: Inflight, ret: i64) -> Result<(), i64> {
    let o = &config().offsets;
    let limit = config().argv_limit;
    let buf = scratch().ok_or(-1i64)?;
    let ev = buf.cast::<ExecEvent>();
    // SAFETY: as in `try_exec`: every write stays within the scratch slot; the
    // bounds are checked before each variable-offset write.
    unsafe {
        (*ev).header.kind = EventKind::ExecFailed as u32;
        (*ev).ret = ret as i32;
        (*ev).flags = 0;
        if fill_identity(ev, o).is_err() {
            count(Counter::ReadError);
        }
        let mut pos = HDR;
        let n = generated::bpf_probe_read_user_str(
            buf.add(pos).cast(),
            EXE_MAX as u32,
            call.filename as *const _,
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
        pos = append_cwd(buf, ev, pos);

        // argv: walk the user pointer array, NUL-terminated strings.
        let argv_start = pos;
        let mut used: u32 = 0;
        let mut argc: u32 = 0;
        let mut truncated = false;
        if call.argv != 0 {
            for i in 0..FAILED_ARGS_MAX {
                let p = match aya_ebpf::helpers::bpf_probe_read_user(
                    (call.argv + 8 * i as u64) as *const u64,
                ) {
                    Ok(p) => p,
                    Err(_) => break,
                };
                if p == 0 {
                    break;
                }
                argc += 1;
                // Bound the absolute offset right where it is used, so the
                // verifier sees `off + FAILED_ARG_MAX <= SCRATCH_SIZE`.
                let off = argv_start + used as usize;
                if used + FAILED_ARG_MAX > limit || off > SCRATCH_SIZE - FAILED_ARG_MAX as usize {
                    truncated = true;
                    break;
                }
                let n = generated::bpf_probe_read_user_str(
                    buf.add(off).cast(),
                    FAILED_ARG_MAX,
                    p as *const _,
                );
                if n <= 0 {
                    break;
                }
                used += (n as u32) & (FAILED_ARG_MAX * 2 - 1);
            }
        }
        if truncated || argc == FAILED_ARGS_MAX {
            (*ev).flags |= FLAG_ARGV_TRUNCATED;
        }
        (*ev).argc = argc;
        (*ev).args_size = used;
        (*ev).argv_len = used;
        pos = argv_start + used as usize;
        send(buf, pos)
    }
}
