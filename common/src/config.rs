//! What userspace writes into the programs before load (the read-only global
//! `CONFIG`).
//!
//! aya has no CO-RE for Rust programs, so the programs cannot carry relocations
//! for kernel structs. Instead userspace reads every offset they need from the
//! running kernel's BTF (`/sys/kernel/btf/vmlinux`) and the tracepoint formats
//! (`/sys/kernel/tracing/events/*/*/format`) at start-up and hands them over
//! here. No offset is ever compiled in.

use core::mem::size_of;

/// Byte offsets of the kernel struct fields the programs read. Nested fields are
/// resolved through anonymous structs/unions, so each is the offset from the
/// start of the named struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Offsets {
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_loginuid: u32,
    pub task_sessionid: u32,
    pub task_mm: u32,
    pub task_cred: u32,
    pub task_signal: u32,
    pub task_fs: u32,
    pub task_start_boottime: u32,
    pub task_exit_code: u32,
    pub cred_uid: u32,
    pub cred_euid: u32,
    pub cred_gid: u32,
    pub cred_egid: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    pub mm_start_stack: u32,
    pub signal_tty: u32,
    pub tty_name: u32,
    pub fs_pwd: u32,
    pub fs_root: u32,
    pub path_mnt: u32,
    pub path_dentry: u32,
    pub dentry_parent: u32,
    pub dentry_name: u32,
    pub qstr_name: u32,
    /// Offset of the embedded `struct vfsmount mnt` inside `struct mount`.
    pub mount_mnt: u32,
    pub mount_parent: u32,
    pub mount_mountpoint: u32,
    pub vfsmount_root: u32,
    pub mm_exe_file: u32,
    pub file_f_inode: u32,
    /// `inode.__i_nlink` (the link count; 0 for a memfd or a deleted file).
    pub inode_nlink: u32,
    /// `task_struct.self_exec_id` / `parent_exec_id`: equal in a process
    /// that never exec'd since its fork (the exit program skips those).
    pub task_self_exec_id: u32,
    pub task_parent_exec_id: u32,
    /// `linux_binprm.filename`: the path being executed (the exec program's
    /// exe, from the raw tracepoint's `bprm` argument).
    pub bprm_filename: u32,
    /// `struct pt_regs` registers that carry syscall arguments: the failed-exec
    /// programs read the caller's execve arguments from them (x86_64 ABI:
    /// di, si, dx; i386 `int 0x80` ABI: bx, cx, dx).
    pub regs_di: u32,
    pub regs_si: u32,
    pub regs_dx: u32,
    pub regs_bx: u32,
    pub regs_cx: u32,
    /// The batch-job cgroup walk (see [`JOB_CGROUP_V1`]): `task_struct.cgroups`
    /// (a `css_set *`), `cgroup_subsys_state.cgroup`, `css_set.dfl_cgrp`,
    /// `cgroup.kn`, and `kernfs_node`'s parent (`__parent` since 6.15) and
    /// `name`.
    pub task_cgroups: u32,
    pub css_cgroup: u32,
    pub css_set_dfl_cgrp: u32,
    pub cgroup_kn: u32,
    pub kn_parent: u32,
    pub kn_name: u32,
    /// Which cgroup the job walk reads: [`JOB_CGROUP_OFF`], [`JOB_CGROUP_V1`]
    /// (the css at `job_css` in the `css_set`: `subsys[freezer_cgrp_id]` on
    /// hosts where Slurm's proctrack/cgroup uses the v1 freezer) or
    /// [`JOB_CGROUP_V2`] (`dfl_cgrp`, the unified hierarchy).
    pub job_cgroup: u32,
    /// Byte offset in `css_set` of the css pointer read for [`JOB_CGROUP_V1`]
    /// (`subsys` + 8 * the subsystem's id from BTF's `enum cgroup_subsys_id`).
    pub job_css: u32,
}

/// [`Offsets::job_cgroup`]: no job cgroup walk.
pub const JOB_CGROUP_OFF: u32 = 0;
/// [`Offsets::job_cgroup`]: walk a v1 hierarchy's cgroup (hybrid and v1 hosts).
pub const JOB_CGROUP_V1: u32 = 1;
/// [`Offsets::job_cgroup`]: walk the unified (v2) hierarchy's cgroup.
pub const JOB_CGROUP_V2: u32 = 2;

/// Offsets of the fields in the syscall tracepoints' records, from their
/// `format` files (the last-resort failed-exec hooks).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointOffsets {
    /// Unused since the exec program became a raw tracepoint (kept so that
    /// the layout does not move).
    pub exec_filename: u32,
    pub exec_old_pid: u32,
    /// `sys_enter_execve` / `sys_enter_execveat`: `const char * filename`.
    pub enter_execve_filename: u32,
    /// `sys_enter_execve`: `const char *const * argv`.
    pub enter_execve_argv: u32,
    pub enter_execveat_filename: u32,
    pub enter_execveat_argv: u32,
    /// `sys_exit_execve*`: `long ret`.
    pub exit_ret: u32,
    pub _pad: u32,
}

// Limits the kernel side imposes. The eBPF maps are sized by them and
// userspace's configuration check refuses what exceeds them, so that
// `tracer run --check-config` catches what loading would refuse. Write a limit
// here and nowhere else.

/// Most ranges in each uid/auid list of [`Filter`].
pub const FILTER_RANGES: usize = 8;
/// Longest exe prefix in the `EXE_FILTER` LPM trie, in bytes.
pub const EXE_PREFIX_MAX: usize = 256;
/// Entries of the `EXE_FILTER` LPM trie: the most excluded exe prefixes.
pub const EXE_FILTER_ENTRIES: u32 = 64;
/// Entries of the `COMM_FILTER` hash map: the most excluded comms.
pub const COMM_FILTER_ENTRIES: u32 = 64;
/// The kernel's `TASK_COMM_LEN`: a comm is at most this minus one bytes, and
/// the `COMM_FILTER` key is this many bytes, zero-padded.
pub const TASK_COMM_LEN: usize = 16;
/// Smallest `EVENTS` ring buffer: one page (the kernel wants a power of two
/// and a multiple of the page size).
pub const RING_BYTES_MIN: u32 = 4096;
/// Largest `EVENTS` ring buffer userspace asks for.
pub const RING_BYTES_MAX: u32 = 1 << 31;

/// Whether `v` is a valid [`Config::argv_limit`]: 1 to [`crate::event::ARGV_CAP`].
pub const fn argv_limit_ok(v: u32) -> bool {
    v >= 1 && v as usize <= crate::event::ARGV_CAP
}

/// Whether `v` is a valid size of the `EVENTS` ring buffer: a power of two
/// between [`RING_BYTES_MIN`] and [`RING_BYTES_MAX`].
pub const fn ring_bytes_ok(v: u64) -> bool {
    v.is_power_of_two() && v >= RING_BYTES_MIN as u64 && v <= RING_BYTES_MAX as u64
}

/// [`Filter::flags`]: drop execs (and exits) of processes without a login uid.
pub const FILTER_EXCLUDE_UNATTRIBUTED: u32 = 1 << 0;
/// [`Filter::flags`]: the `COMM_FILTER` map has entries (look it up).
pub const FILTER_COMMS: u32 = 1 << 1;
/// [`Filter::flags`]: the `EXE_FILTER` map has entries (look it up).
pub const FILTER_EXE_PREFIXES: u32 = 1 << 2;

/// An inclusive id range.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdRange {
    pub lo: u32,
    pub hi: u32,
}

/// Kernel-side filters: what a busy node drops before it crosses into
/// userspace. Filtered execs are counted (`Counter::Filtered`), not lost.
/// An include list, when not empty, keeps only ids inside it; an exclude list
/// drops ids inside it. uid is the real uid of the process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub flags: u32,
    pub n_uid_include: u32,
    pub n_uid_exclude: u32,
    pub n_auid_include: u32,
    pub n_auid_exclude: u32,
    pub _pad: u32,
    pub uid_include: [IdRange; FILTER_RANGES],
    pub uid_exclude: [IdRange; FILTER_RANGES],
    pub auid_include: [IdRange; FILTER_RANGES],
    pub auid_exclude: [IdRange; FILTER_RANGES],
}

/// The whole configuration of the programs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// Most argv bytes captured per exec; at most [`crate::event::ARGV_CAP`].
    pub argv_limit: u32,
    /// Unread bytes in the ring buffer above which a record wakes the reader.
    /// Below it records are written without a wake-up (`BPF_RB_NO_WAKEUP`) and
    /// the reader polls on a timer: a wake-up per event costs ~7 µs per exec.
    pub wakeup_bytes: u32,
    pub offsets: Offsets,
    pub tp: TracepointOffsets,
    pub filter: Filter,
}

/// The default capture limit for argv, in bytes.
pub const DEFAULT_ARGV_LIMIT: u32 = 32 * 1024;

const _: () = {
    assert!(size_of::<Offsets>() == 49 * 4);
    assert!(size_of::<TracepointOffsets>() == 8 * 4);
    assert!(size_of::<Filter>() == 24 + 4 * FILTER_RANGES * 8);
    assert!(size_of::<Config>() == 8 + 49 * 4 + 32 + size_of::<Filter>());
    assert!(argv_limit_ok(DEFAULT_ARGV_LIMIT));
    assert!(RING_BYTES_MIN.is_power_of_two() && RING_BYTES_MAX.is_power_of_two());
};
