//! Records written by the eBPF programs into the `EVENTS` ring buffer.
//!
//! A record is a fixed header struct followed by a variable payload whose
//! segment lengths are in the header. Only the bytes actually captured are sent,
//! so a `true` with no arguments costs ~200 bytes of ring space, not the
//! worst case.
//!
//! [`ExecEvent`] payload, in this order:
//! 1. `exe_len` bytes: the path that was executed (no NUL).
//! 2. `cwd_len` bytes: the working directory as path components from the leaf up
//!    to the root, each followed by a NUL (`"src\0proj\0home\0"` for
//!    `/home/proj/src`); userspace reverses them. An empty segment is `/`.
//! 3. `argv_len` bytes: the raw argument area of the new process
//!    (`mm->arg_start..`), NUL-separated, exactly as the kernel holds it.
//!
//! [`ExecEvent::job_cgroup`] holds the names of the last [`JOB_DEPTH`]
//! components of the process's batch-job cgroup (see
//! `tracer_common::config::JOB_CGROUP_V1`), leaf first, each NUL-terminated:
//! `"step_batch\0job_42\0uid_1003\0slurm\0"` for
//! `/slurm/uid_1003/job_42/step_batch`. It is read in the kernel at the exec
//! because job cgroups live only as long as the job: a userspace lookup after
//! the fact misses short jobs.

use core::mem::{offset_of, size_of};

/// Longest exe path captured, in bytes (`PATH_MAX`).
pub const EXE_MAX: usize = 4096;
/// Longest cwd captured, in bytes (`PATH_MAX`).
pub const CWD_MAX: usize = 4096;
/// Most path components walked for the cwd before giving up (flagged truncated).
pub const CWD_DEPTH: usize = 48;
/// The most argv bytes any configuration may capture (the scratch buffer size).
/// A power of two, so that masking with `ARGV_CAP - 1` bounds a length for the
/// verifier.
pub const ARGV_CAP: usize = 128 * 1024;
/// Size of one per-CPU scratch slot: the largest record that can be built,
/// plus slack so that the verifier's (looser than real) bounds on the
/// variable offsets of each segment still fall inside the slot.
pub const SCRATCH_SIZE: usize =
    size_of::<ExecEvent>() + EXE_MAX + CWD_MAX + ARGV_CAP + SCRATCH_SLACK;
const SCRATCH_SLACK: usize = 2 * EXE_MAX + 2 * CWD_MAX;

/// `ExecEvent::flags`: the argument area was longer than the capture limit.
pub const FLAG_ARGV_TRUNCATED: u32 = 1 << 0;
/// `ExecEvent::flags`: the exe path was longer than [`EXE_MAX`].
pub const FLAG_EXE_TRUNCATED: u32 = 1 << 1;
/// `ExecEvent::flags`: the cwd was deeper than [`CWD_DEPTH`] or longer than [`CWD_MAX`].
pub const FLAG_CWD_TRUNCATED: u32 = 1 << 2;
/// `ExecEvent::flags`: reading the argument area failed (unmapped or unreadable page).
pub const FLAG_ARGV_UNREADABLE: u32 = 1 << 3;
/// `ExecEvent::flags`: `argc` was read from the new process's stack (`mm->start_stack`).
/// Without it, userspace counts the NULs in the captured area.
pub const FLAG_ARGC_FROM_STACK: u32 = 1 << 4;
/// `ExecEvent::flags`: the executable has no link in any filesystem
/// (`mm->exe_file`'s inode has `i_nlink == 0`): a `memfd_create` binary, or
/// one deleted after it was opened. The classic way to run code file-less.
pub const FLAG_FILELESS: u32 = 1 << 5;

/// `ExitEvent::flags`: the process was the leader of its audit session: its
/// parent had another session id (it is where `pam_loginuid` set the login
/// uid, e.g. sshd's privileged per-login process). Its exit ends the login.
pub const EXIT_FLAG_SESSION_LEADER: u32 = 1 << 0;

/// `ExecEvent::flags`: a component of the job cgroup is named `job_*`: the
/// process runs in a batch job (the kernel-side `exclude_unattributed` filter
/// keeps it although it has no login uid).
pub const FLAG_IN_JOB: u32 = 1 << 6;
/// `ExecEvent::flags`: the job cgroup was deeper than [`JOB_DEPTH`] or its
/// names longer than [`JOB_CGROUP_LEN`]: `job_cgroup` holds the leaf end.
pub const FLAG_JOB_CGROUP_CUT: u32 = 1 << 7;

/// Bytes of [`ExecEvent::job_cgroup`].
pub const JOB_CGROUP_LEN: usize = 128;
/// Longest job-cgroup component name read (NUL included); longer ones are cut
/// (Slurm's are at most 16 bytes: `step_interactive`, `job_4294967294`).
pub const JOB_NAME_MAX: usize = 32;
/// Most job-cgroup components walked from the leaf (Slurm v2:
/// `task_0/user/step_0/job_N/slurmstepd.scope/system.slice`).
pub const JOB_DEPTH: usize = 6;

/// Common start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct EventHeader {
    /// A [`crate::kind::EventKind`].
    pub kind: u32,
    /// Total size of the record, header and payload included.
    pub size: u32,
    /// `bpf_ktime_get_boot_ns()` when the record was made.
    pub boot_ns: u64,
}

/// An exec, successful (`sched_process_exec`) or failed (`sys_exit_execve*`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExecEvent {
    pub header: EventHeader,
    /// Thread-group id after the exec (the process id).
    pub pid: u32,
    /// The thread that called exec. Differs from `pid` when a non-leader thread
    /// execs (the kernel's `old_pid`).
    pub tid: u32,
    /// `real_parent->tgid`.
    pub ppid: u32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    /// Audit login uid (`task_struct.loginuid`); `u32::MAX` when unset.
    pub auid: u32,
    /// Audit session id (`task_struct.sessionid`); `u32::MAX` when unset.
    pub ses: u32,
    /// 0 for a successful exec, the negative errno for a failed one.
    pub ret: i32,
    /// The real argument count, even when the capture is truncated.
    pub argc: u32,
    /// The real size of the argument area in bytes, even when truncated.
    pub args_size: u32,
    pub exe_len: u32,
    pub argv_len: u32,
    pub cwd_len: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// cgroup v2 id of the process (`bpf_get_current_cgroup_id`).
    pub cgroup_id: u64,
    /// `task_struct.start_boottime`: with `pid`, identifies the process uniquely
    /// across pid reuse; matches field 22 of `/proc/<pid>/stat` in clock ticks.
    pub start_boottime: u64,
    pub comm: [u8; 16],
    /// `signal->tty->name` (e.g. `pts3`, `tty1`), NUL-padded; empty without a tty.
    pub tty: [u8; 32],
    /// Job cgroup component names, leaf first (see the module docs); empty
    /// when the walk is off or the process is in the hierarchy's root.
    pub job_cgroup: [u8; JOB_CGROUP_LEN],
}

/// A thread-group leader exited (`sched_process_exit`). Only what the exit
/// adds to its exec's record: the process is known by `pid` and
/// `start_boottime`, its ids, comm and cgroup are in its exec record (or its
/// `/proc` record), so the exit program reads no creds, parent or cgroup for
/// it, and the log line stays short (issue 13).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ExitEvent {
    pub header: EventHeader,
    pub pid: u32,
    pub auid: u32,
    pub ses: u32,
    /// `task_struct.exit_code` in wait(2) status form: `code << 8 | signal`.
    pub exit_code: u32,
    /// `EXIT_FLAG_*` bits.
    pub flags: u32,
    pub _pad: u32,
    pub start_boottime: u64,
}

// The layouts are ABI: pin them so that a change that adds padding or moves a
// field fails the build on both sides.
const _: () = {
    assert!(size_of::<EventHeader>() == 16);
    assert!(size_of::<ExecEvent>() == 144 + JOB_CGROUP_LEN);
    assert!(offset_of!(ExecEvent, job_cgroup) == 144);
    assert!(JOB_CGROUP_LEN >= JOB_NAME_MAX * 2);
    assert!(offset_of!(ExecEvent, pid) == 16);
    assert!(offset_of!(ExecEvent, ses) == 48);
    assert!(offset_of!(ExecEvent, flags) == 76);
    assert!(offset_of!(ExecEvent, cgroup_id) == 80);
    assert!(offset_of!(ExecEvent, start_boottime) == 88);
    assert!(offset_of!(ExecEvent, comm) == 96);
    assert!(offset_of!(ExecEvent, tty) == 112);
    assert!(size_of::<ExecEvent>().is_multiple_of(8));
    assert!(size_of::<ExitEvent>() == 48);
    assert!(offset_of!(ExitEvent, start_boottime) == 40);
    assert!(ARGV_CAP.is_power_of_two());
    assert!(EXE_MAX.is_power_of_two());
    assert!(CWD_MAX.is_power_of_two());
};
