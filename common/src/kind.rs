//! Event kinds and counter slots. The numbers are part of the ABI: never renumber,
//! only append.

/// What a ring-buffer record is. Stored in [`crate::event::EventHeader::kind`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A successful exec, from the `sched_process_exec` raw tracepoint.
    Exec = 1,
    /// An execve/execveat that returned an error, from the syscall-level hooks
    /// (fexit / kretprobe on `__x64_sys_execve*`/`__ia32_compat_sys_execve*`,
    /// or the `syscalls/sys_exit_execve*` fallback).
    ExecFailed = 2,
    /// A process (thread-group leader) exited, from the `sched_process_exit`
    /// raw tracepoint.
    Exit = 3,
}

impl EventKind {
    pub const fn from_u32(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Exec),
            2 => Some(Self::ExecFailed),
            3 => Some(Self::Exit),
            _ => None,
        }
    }
}

/// Slots of the per-CPU `COUNTERS` array. Userspace sums them over CPUs.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// An exec or failed-exec record could not be written to the ring buffer (it
    /// was full): a lost exec.
    RingbufFull = 0,
    /// Reading kernel or user memory failed while building a record; the record
    /// was still sent, with the affected field empty.
    ReadError = 1,
    /// Records sent successfully.
    Sent = 2,
    /// An in-flight exec could not be remembered (map full), so its failure
    /// would go unreported.
    InflightFull = 3,
    /// An exit record could not be written to the ring buffer (it was full).
    RingbufFullExit = 4,
    /// An exec or failed exec dropped by a kernel-side filter (configured).
    Filtered = 5,
    /// An exit dropped by a kernel-side filter.
    FilteredExit = 6,
}

/// Number of slots in `COUNTERS`.
pub const COUNTER_SLOTS: u32 = 8;
