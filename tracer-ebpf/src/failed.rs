//! Failed execs: an execve/execveat that returned an error never reaches
//! `sched_process_exec`, and on kernels >= 6.8 the file is opened in
//! `alloc_bprm()`, before `bprm_execve()` and the LSM bprm hooks, so only a
//! hook on the system call itself sees ENOENT/EACCES/EBADF.
//!
//! Three ways to hook the syscall, in the order userspace tries them:
//! 1. `fexit` on the syscall entry points `__x64_sys_execve`,
//!    `__x64_sys_execveat`, `__ia32_compat_sys_execve` and
//!    `__ia32_compat_sys_execveat` (`long f(const struct pt_regs *regs)`):
//!    a BPF trampoline on four functions. Nothing else pays: unlike a
//!    `syscalls/*` tracepoint, it does not set `TIF_SYSCALL_TRACEPOINT` on
//!    every task (which taxes every system call of every process), and it
//!    sees the 32-bit (`int 0x80`) entry points, which the per-syscall
//!    tracepoints ignore on x86_64 (`ARCH_TRACE_IGNORE_COMPAT_SYSCALLS`).
//! 2. `kretprobe` on the same functions, where the kernel has no BPF
//!    trampolines; the caller's registers come from `bpf_task_pt_regs()`
//!    (5.15+). Before that, a kprobe at entry remembers the pointers in
//!    `INFLIGHT` from the syscall's pt_regs argument, and the kretprobe
//!    takes them (Debian 11's 5.10, where fexit on `__x64_sys_execveat` is
//!    refused too: its argument's BTF type is a forward declaration).
//! 3. `syscalls/sys_{enter,exit}_execve{,at}`, the last resort: the enter
//!    hook remembers the user pointers in `INFLIGHT` until the exit hook.
//!
//! Each returns at once when the call succeeded. On failure the old image is
//! still in place, so the path and argv are read from the caller's memory,
//! through the syscall argument registers of its saved `pt_regs` (offsets
//! from BTF, see `Offsets::regs_*`).

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, generated},
    macros::{fexit, kprobe, kretprobe, tracepoint},
    programs::{FExitContext, ProbeContext, RetProbeContext, TracePointContext},
};
use tracer_common::{
    event::{ExecEvent, EXE_MAX, FLAG_ARGV_TRUNCATED, FLAG_EXE_TRUNCATED, SCRATCH_SIZE},
    kind::{Counter, EventKind},
};

use crate::{
    exec::{append_cwd, filtered, send, HDR},
    maps::{config, count, scratch, Inflight, INFLIGHT},
    task::{current_task, fill_identity, read, Probe},
};

/// Most arguments read for a failed exec (whose argv is a user pointer array
/// that must be walked one pointer at a time; each step costs verifier
/// states). A longer argv is flagged truncated, and `argc` is then a lower
/// bound.
const FAILED_ARGS_MAX: u32 = 64;
/// Longest single argument copied for a failed exec.
const FAILED_ARG_MAX: u32 = 4096;

/// Which system call, in which ABI: where its path and argv are.
#[derive(Clone, Copy)]
enum Abi {
    /// `execve(filename=di, argv=si, envp=dx)`.
    X64Execve,
    /// `execveat(fd=di, filename=si, argv=dx, envp=r10, flags=r8)`.
    X64Execveat,
    /// i386 `execve(filename=bx, argv=cx, envp=dx)`, 32-bit pointers.
    Ia32Execve,
    /// i386 `execveat(fd=bx, filename=cx, argv=dx, envp=si, flags=di)`.
    Ia32Execveat,
}

/// What an exec was asked to run: user pointers, and their width.
#[derive(Clone, Copy)]
struct Call {
    filename: u64,
    argv: u64,
    /// argv is an array of 32-bit pointers.
    compat: bool,
}

/// Reads the call's arguments from the caller's saved user registers.
///
/// # Safety
/// Any `regs` is acceptable (reads fault safely).
#[inline(always)]
unsafe fn call_from_regs(regs: u64, abi: Abi) -> Call {
    let o = &config().offsets;
    // SAFETY: per the contract.
    let reg = |off: u32| unsafe { read::<u64>(regs, off) }.unwrap_or(0);
    match abi {
        Abi::X64Execve => Call {
            filename: reg(o.regs_di),
            argv: reg(o.regs_si),
            compat: false,
        },
        Abi::X64Execveat => Call {
            filename: reg(o.regs_si),
            argv: reg(o.regs_dx),
            compat: false,
        },
        Abi::Ia32Execve => Call {
            filename: reg(o.regs_bx) & 0xffff_ffff,
            argv: reg(o.regs_cx) & 0xffff_ffff,
            compat: true,
        },
        Abi::Ia32Execveat => Call {
            filename: reg(o.regs_cx) & 0xffff_ffff,
            argv: reg(o.regs_dx) & 0xffff_ffff,
            compat: true,
        },
    }
}

// --- 1. fexit: `long __x64_sys_execve(const struct pt_regs *regs)`; the
// context is `[regs, return value]`.

#[inline(always)]
fn on_fexit(ctx: &FExitContext, abi: Abi) -> u32 {
    let ret: i64 = ctx.arg(1);
    if ret >= 0 {
        return 0;
    }
    let regs: u64 = ctx.arg(0);
    // SAFETY: `regs` is the syscall's pt_regs argument; reads fault safely.
    report(unsafe { call_from_regs(regs, abi) }, ret);
    0
}

#[fexit(function = "__x64_sys_execve")]
pub fn fexit_x64_execve(ctx: FExitContext) -> u32 {
    on_fexit(&ctx, Abi::X64Execve)
}

#[fexit(function = "__x64_sys_execveat")]
pub fn fexit_x64_execveat(ctx: FExitContext) -> u32 {
    on_fexit(&ctx, Abi::X64Execveat)
}

#[fexit(function = "__ia32_compat_sys_execve")]
pub fn fexit_ia32_execve(ctx: FExitContext) -> u32 {
    on_fexit(&ctx, Abi::Ia32Execve)
}

#[fexit(function = "__ia32_compat_sys_execveat")]
pub fn fexit_ia32_execveat(ctx: FExitContext) -> u32 {
    on_fexit(&ctx, Abi::Ia32Execveat)
}

// --- 2. kretprobe on the same functions: the argument register is gone at
// return, so the caller's registers come from the task (5.15+).

#[inline(always)]
fn on_kretprobe(ctx: &RetProbeContext, abi: Abi) -> u32 {
    let ret: i64 = ctx.ret();
    if ret >= 0 {
        return 0;
    }
    // SAFETY: the helpers have no preconditions; `bpf_task_pt_regs` returns
    // the task's saved user registers (or 0), read through faulting-safe
    // helpers.
    let call = unsafe {
        let regs = generated::bpf_task_pt_regs(generated::bpf_get_current_task_btf()) as u64;
        call_from_regs(regs, abi)
    };
    report(call, ret);
    0
}

#[kretprobe(function = "__x64_sys_execve")]
pub fn kretprobe_x64_execve(ctx: RetProbeContext) -> u32 {
    on_kretprobe(&ctx, Abi::X64Execve)
}

#[kretprobe(function = "__x64_sys_execveat")]
pub fn kretprobe_x64_execveat(ctx: RetProbeContext) -> u32 {
    on_kretprobe(&ctx, Abi::X64Execveat)
}

#[kretprobe(function = "__ia32_compat_sys_execve")]
pub fn kretprobe_ia32_execve(ctx: RetProbeContext) -> u32 {
    on_kretprobe(&ctx, Abi::Ia32Execve)
}

#[kretprobe(function = "__ia32_compat_sys_execveat")]
pub fn kretprobe_ia32_execveat(ctx: RetProbeContext) -> u32 {
    on_kretprobe(&ctx, Abi::Ia32Execveat)
}

// --- 2b. Where the kretprobes above do not load (`bpf_task_pt_regs` is
// 5.15+): a kprobe at entry remembers the call's pointers, read from the
// syscall's pt_regs argument, and a kretprobe reports the call if it failed.

#[inline(always)]
fn on_kprobe_entry(ctx: &ProbeContext, abi: Abi) -> u32 {
    let regs: u64 = ctx.arg(0).unwrap_or(0);
    // SAFETY: `regs` is the syscall's pt_regs argument; reads fault safely.
    let call = unsafe { call_from_regs(regs, abi) };
    let key = bpf_get_current_pid_tgid();
    let entry = Inflight {
        filename: call.filename,
        argv: call.argv,
        compat: call.compat as u64,
    };
    if INFLIGHT.insert(&key, &entry, 0).is_err() {
        count(Counter::InflightFull);
    }
    0
}

#[inline(always)]
fn on_kretprobe_pair(ctx: &RetProbeContext) -> u32 {
    let key = bpf_get_current_pid_tgid();
    // SAFETY: as in `exit_exec`.
    let call = unsafe { INFLIGHT.get(&key).copied() };
    let _ = INFLIGHT.remove(&key);
    let ret: i64 = ctx.ret();
    if ret >= 0 {
        return 0;
    }
    if let Some(c) = call {
        report(
            Call {
                filename: c.filename,
                argv: c.argv,
                compat: c.compat != 0,
            },
            ret,
        );
    }
    0
}

#[kprobe(function = "__x64_sys_execve")]
pub fn kprobe_x64_execve(ctx: ProbeContext) -> u32 {
    on_kprobe_entry(&ctx, Abi::X64Execve)
}

#[kprobe(function = "__x64_sys_execveat")]
pub fn kprobe_x64_execveat(ctx: ProbeContext) -> u32 {
    on_kprobe_entry(&ctx, Abi::X64Execveat)
}

#[kprobe(function = "__ia32_compat_sys_execve")]
pub fn kprobe_ia32_execve(ctx: ProbeContext) -> u32 {
    on_kprobe_entry(&ctx, Abi::Ia32Execve)
}

#[kprobe(function = "__ia32_compat_sys_execveat")]
pub fn kprobe_ia32_execveat(ctx: ProbeContext) -> u32 {
    on_kprobe_entry(&ctx, Abi::Ia32Execveat)
}

#[kretprobe(function = "__x64_sys_execve")]
pub fn kretprobe_pair_x64_execve(ctx: RetProbeContext) -> u32 {
    on_kretprobe_pair(&ctx)
}

#[kretprobe(function = "__x64_sys_execveat")]
pub fn kretprobe_pair_x64_execveat(ctx: RetProbeContext) -> u32 {
    on_kretprobe_pair(&ctx)
}

#[kretprobe(function = "__ia32_compat_sys_execve")]
pub fn kretprobe_pair_ia32_execve(ctx: RetProbeContext) -> u32 {
    on_kretprobe_pair(&ctx)
}

#[kretprobe(function = "__ia32_compat_sys_execveat")]
pub fn kretprobe_pair_ia32_execveat(ctx: RetProbeContext) -> u32 {
    on_kretprobe_pair(&ctx)
}

// --- 3. syscall tracepoints (last resort; 64-bit calls only). First the
// exit hooks alone, reading the arguments from the task's saved user
// registers like the kretprobes (5.15+); where the verifier refuses
// `bpf_task_pt_regs` there, enter hooks remember the pointers until exit.

#[inline(always)]
fn on_sys_exit(ctx: &TracePointContext, abi: Abi) -> u32 {
    // SAFETY: the offset comes from the tracepoint's format file.
    let ret = unsafe { ctx.read_at::<i64>(config().tp.exit_ret as usize) }.unwrap_or(0);
    if ret >= 0 {
        return 0;
    }
    // SAFETY: as in `on_kretprobe`.
    let call = unsafe {
        let regs = generated::bpf_task_pt_regs(generated::bpf_get_current_task_btf()) as u64;
        call_from_regs(regs, abi)
    };
    report(call, ret);
    0
}

#[tracepoint]
pub fn sys_exit_execve_regs(ctx: TracePointContext) -> u32 {
    on_sys_exit(&ctx, Abi::X64Execve)
}

#[tracepoint]
pub fn sys_exit_execveat_regs(ctx: TracePointContext) -> u32 {
    on_sys_exit(&ctx, Abi::X64Execveat)
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
        .insert(
            &key,
            &Inflight {
                filename,
                argv,
                compat: 0,
            },
            0,
        )
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
        report(
            Call {
                filename: call.filename,
                argv: call.argv,
                compat: false,
            },
            ret,
        );
    }
    0
}

// --- The record.

#[inline(always)]
fn report(call: Call, ret: i64) {
    if try_failed(call, ret).is_err() {
        count(Counter::ReadError);
    }
}

/// Reads the `i`-th pointer of a user argv array.
///
/// # Safety
/// Any address is acceptable (the read faults safely).
#[inline(always)]
unsafe fn argv_ptr(call: &Call, i: u32) -> Result<u64, i64> {
    // SAFETY: per the contract.
    unsafe {
        if call.compat {
            aya_ebpf::helpers::bpf_probe_read_user((call.argv + 4 * i as u64) as *const u32)
                .map(|p| p as u64)
        } else {
            aya_ebpf::helpers::bpf_probe_read_user((call.argv + 8 * i as u64) as *const u64)
        }
    }
    .map_err(|e| e as i64)
}

fn try_failed(call: Call, ret: i64) -> Result<(), i64> {
    let o = &config().offsets;
    let limit = config().argv_limit;
    let buf = scratch().ok_or(-1i64)?;
    let ev = buf.cast::<ExecEvent>();
    let task = current_task();
    // SAFETY: every write stays within the scratch slot; the bounds are
    // checked before each variable-offset write; reads of kernel and user
    // memory go through faulting-safe helpers.
    unsafe {
        (*ev).header.kind = EventKind::ExecFailed as u32;
        (*ev).ret = ret as i32;
        (*ev).flags = 0;
        if fill_identity::<Probe>(ev, task, o).is_err() {
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
        pos = append_cwd::<Probe>(buf, ev, task, pos);

        // argv: walk the user pointer array, NUL-terminated strings.
        let argv_start = pos;
        let mut used: u32 = 0;
        let mut argc: u32 = 0;
        let mut truncated = false;
        if call.argv != 0 {
            for i in 0..FAILED_ARGS_MAX {
                let p = match argv_ptr(&call, i) {
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
                // The length with its NUL; but some kernels return 0 for an
                // empty string (their `strncpy_from_user_nofault()` counts the
                // NUL only in a non-empty length: Debian 12's 6.1, seen in a
                // VM by `tests/vm/run.sh`; falcosecurity/libs#866). An empty
                // argument is still one, whose NUL the copy did write. 0
                // becomes 1 without a branch: a branch here doubles the
                // verifier's states per argument, past its limit.
                if n < 0 {
                    break;
                }
                let n = n + (((n - 1) >> 63) & 1);
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
