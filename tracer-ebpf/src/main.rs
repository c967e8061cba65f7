//! tracer's eBPF programs. One file per hook family:
//! - `exec.rs`: `sched_process_exec` (successful execs);
//! - `failed.rs`: failed execs, from fexit (or kretprobe, or as a last resort
//!   syscall tracepoints) on the execve/execveat entry points;
//! - `exit.rs`: `sched_process_exit`;
//! - `maps.rs`: the maps and the config global;
//! - `task.rs`: bounded reads of `task_struct` and friends, at offsets handed
//!   over by userspace from the kernel's BTF.
#![no_std]
#![no_main]

mod exec;
mod exit;
mod failed;
mod filter;
mod maps;
mod task;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    // The verifier rejects any program that could reach this, so it is dead code
    // in a loaded program; `loop {}` keeps it well-typed.
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
