//! Bounded reads of kernel structures at offsets taken from the running
//! kernel's BTF (see `tracer_common::config::Offsets`), and the pieces of an
//! exec record that both the success and the failure path fill in.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_task, bpf_ktime_get_boot_ns, generated,
};
use tracer_common::{
    config::{Offsets, JOB_CGROUP_OFF, JOB_CGROUP_V1},
    event::{
        ExecEvent, CWD_DEPTH, CWD_MAX, FLAG_IN_JOB, FLAG_JOB_CGROUP_CUT, JOB_CGROUP_LEN, JOB_DEPTH,
        JOB_NAME_MAX,
    },
};

/// Longest single path component read (`NAME_MAX` + NUL).
const NAME_BUF: u32 = 256;

/// Reads a `T` at `base + off` from kernel memory.
///
/// # Safety
/// Any address is acceptable: `bpf_probe_read_kernel` faults safely; the caller
/// only promises that `T` is plain data.
#[inline(always)]
pub unsafe fn read<T: Copy>(base: u64, off: u32) -> Result<T, i64> {
    // SAFETY: see the function's contract; the helper checks the address.
    unsafe { aya_ebpf::helpers::bpf_probe_read_kernel((base + off as u64) as *const T) }
        .map_err(|e| e as i64)
}

/// How a program reads kernel memory: [`Probe`] (a `bpf_probe_read_kernel`
/// helper call per read: works on any pointer, in any program type) or
/// [`Direct`] (a plain load, which the verifier turns into an
/// exception-handled `PROBE_MEM` load: ~1 ns instead of a helper call). Direct
/// loads are only for `tp_btf` programs, on pointers the verifier knows the
/// BTF type of (the tracepoint's typed arguments and the pointers read from
/// them), at offsets it can check: the offsets are runtime values from BTF,
/// but constants to the verifier because they come from the frozen,
/// read-only `.rodata` (`CONFIG`).
pub trait Mem {
    /// Whether adjacent fields may be read as one wider value (one helper
    /// call instead of several; a direct load must match a field).
    const MERGE: bool;
    /// Whether reads are plain loads that only a BTF-typed pointer allows.
    const TYPED: bool;
    /// Reads a `T` at `base + off`.
    ///
    /// # Safety
    /// For [`Probe`], any address; for [`Direct`], `base` is a BTF-typed
    /// pointer (the verifier checks the access).
    unsafe fn rd<T: Copy>(base: u64, off: u32) -> Result<T, i64>;
}

/// Reads through `bpf_probe_read_kernel`.
pub struct Probe;

impl Mem for Probe {
    const MERGE: bool = true;
    const TYPED: bool = false;
    #[inline(always)]
    unsafe fn rd<T: Copy>(base: u64, off: u32) -> Result<T, i64> {
        // SAFETY: per the trait's contract.
        unsafe { read(base, off) }
    }
}

/// Plain loads from BTF-typed pointers (`tp_btf` programs only).
pub struct Direct;

impl Mem for Direct {
    const MERGE: bool = false;
    const TYPED: bool = true;
    #[inline(always)]
    unsafe fn rd<T: Copy>(base: u64, off: u32) -> Result<T, i64> {
        // SAFETY: per the trait's contract: the verifier accepts the load only
        // on a BTF-typed pointer at a field of matching size, and a faulting
        // load reads as zero.
        Ok(unsafe { core::ptr::read_volatile((base + off as u64) as *const T) })
    }
}

#[inline(always)]
pub fn current_task() -> u64 {
    // SAFETY: the helper has no preconditions.
    unsafe { bpf_get_current_task() }
}

/// Fills the identity fields shared by exec and failed-exec records: ids,
/// audit attribution, parent, start time, cgroup, comm, tty and time stamp.
/// Adjacent fields are read together (loginuid and sessionid; the cred ids),
/// since each probe read is a helper call.
///
/// # Safety
/// `ev` must point to writable memory of at least `size_of::<ExecEvent>()`;
/// `task` is the current task.
#[inline(always)]
pub unsafe fn fill_identity<M: Mem>(ev: *mut ExecEvent, task: u64, o: &Offsets) -> Result<(), i64> {
    // SAFETY: all reads go through the faulting-safe helper; `ev` is valid per
    // the contract.
    unsafe {
        let pid_tgid = bpf_get_current_pid_tgid();
        (*ev).header.boot_ns = bpf_ktime_get_boot_ns();
        (*ev).pid = (pid_tgid >> 32) as u32;
        (*ev).tid = pid_tgid as u32;
        if M::MERGE && o.task_sessionid == o.task_loginuid + 4 {
            let both = M::rd::<u64>(task, o.task_loginuid)?;
            (*ev).auid = both as u32;
            (*ev).ses = (both >> 32) as u32;
        } else {
            (*ev).auid = M::rd::<u32>(task, o.task_loginuid)?;
            (*ev).ses = M::rd::<u32>(task, o.task_sessionid)?;
        }
        let parent = M::rd::<u64>(task, o.task_real_parent)?;
        (*ev).ppid = M::rd::<u32>(parent, o.task_tgid)?;
        (*ev).start_boottime = M::rd::<u64>(task, o.task_start_boottime)?;
        let cred = M::rd::<u64>(task, o.task_cred)?;
        // uid, gid, suid, sgid, euid, egid: consecutive in every kernel, but
        // the positions come from BTF; fall back to one read each otherwise.
        let (gi, ei, egi) = (
            o.cred_gid.wrapping_sub(o.cred_uid) / 4,
            o.cred_euid.wrapping_sub(o.cred_uid) / 4,
            o.cred_egid.wrapping_sub(o.cred_uid) / 4,
        );
        if M::MERGE && o.cred_uid % 4 == 0 && gi < 8 && ei < 8 && egi < 8 {
            let ids = M::rd::<[u32; 8]>(cred, o.cred_uid)?;
            (*ev).uid = ids[0];
            (*ev).gid = ids[gi as usize & 7];
            (*ev).euid = ids[ei as usize & 7];
            (*ev).egid = ids[egi as usize & 7];
        } else {
            (*ev).uid = M::rd::<u32>(cred, o.cred_uid)?;
            (*ev).euid = M::rd::<u32>(cred, o.cred_euid)?;
            (*ev).gid = M::rd::<u32>(cred, o.cred_gid)?;
            (*ev).egid = M::rd::<u32>(cred, o.cred_egid)?;
        }
        (*ev).cgroup_id = bpf_get_current_cgroup_id();
        // A failed walk leaves the names empty: the record is still worth
        // sending (userspace then says the job is unknown, not absent).
        let _ = write_job_cgroup(ev, task, o);
        (*ev).comm = bpf_get_current_comm().unwrap_or([0; 16]);
        (*ev).tty = [0; 32];
        let signal = M::rd::<u64>(task, o.task_signal)?;
        let tty = M::rd::<u64>(signal, o.signal_tty)?;
        if tty != 0 {
            let dst = core::ptr::addr_of_mut!((*ev).tty).cast::<core::ffi::c_void>();
            generated::bpf_probe_read_kernel_str(dst, 32, (tty + o.tty_name as u64) as *const _);
        }
    }
    Ok(())
}

/// Writes the names of the job cgroup's last [`JOB_DEPTH`] components, leaf
/// first, into `ev.job_cgroup` (see `tracer_common::event`), and sets
/// `FLAG_IN_JOB` when one is named `job_*`. Which hierarchy is walked is
/// userspace's choice (`Offsets::job_cgroup`): the v1 freezer on hybrid and
/// v1 hosts, where Slurm's proctrack/cgroup keeps a job's processes, else the
/// unified hierarchy. Always through probe reads: the chain crosses RCU
/// pointers that a `tp_btf` program may not load directly.
///
/// # Safety
/// `ev` must point to writable memory of at least `size_of::<ExecEvent>()`.
#[inline(always)]
pub unsafe fn write_job_cgroup(ev: *mut ExecEvent, task: u64, o: &Offsets) -> Result<(), i64> {
    // SAFETY: reads go through the faulting-safe helper; writes stay within
    // `job_cgroup` because `len <= JOB_CGROUP_LEN - JOB_NAME_MAX` before each
    // read of at most JOB_NAME_MAX bytes.
    unsafe {
        (*ev).job_cgroup = [0; JOB_CGROUP_LEN];
        if o.job_cgroup == JOB_CGROUP_OFF {
            return Ok(());
        }
        let mut kn = job_kn(task, o)?;
        let dst = core::ptr::addr_of_mut!((*ev).job_cgroup).cast::<u8>();
        let mut len: u32 = 0;
        for _ in 0..JOB_DEPTH {
            let parent = read::<u64>(kn, o.kn_parent)?;
            if parent == 0 {
                // `kn` is the hierarchy's root, which has no name to show.
                return Ok(());
            }
            if len > (JOB_CGROUP_LEN - JOB_NAME_MAX) as u32 {
                (*ev).flags |= FLAG_JOB_CGROUP_CUT;
                return Ok(());
            }
            let name = read::<u64>(kn, o.kn_name)?;
            let at = dst.add(len as usize);
            let n = generated::bpf_probe_read_kernel_str(
                at.cast(),
                JOB_NAME_MAX as u32,
                name as *const _,
            );
            if n <= 0 {
                return Err(n);
            }
            // A leaf that is a systemd unit (`session-3.scope`,
            // `cron.service`) is no job's: a job's leaf is `task_N`, `user`,
            // `slurm`, `step_*` or `job_*`. Stop there: most processes of a
            // cgroup v2 host cost one name read, not a walk to the root.
            if len == 0 && is_unit(at, n as u32) {
                *at = 0;
                return Ok(());
            }
            if n > 4
                && *at == b'j'
                && *at.add(1) == b'o'
                && *at.add(2) == b'b'
                && *at.add(3) == b'_'
            {
                (*ev).flags |= FLAG_IN_JOB;
            }
            len += (n as u32) & (JOB_NAME_MAX as u32 * 2 - 1);
            kn = parent;
        }
        if read::<u64>(kn, o.kn_parent)? != 0 {
            (*ev).flags |= FLAG_JOB_CGROUP_CUT;
        }
        Ok(())
    }
}

/// The kernfs node of `task`'s cgroup in the job hierarchy userspace chose
/// (`Offsets::job_cgroup`, not [`JOB_CGROUP_OFF`]): through `task->cgroups`,
/// then the v1 controller's css or the unified tree's default cgroup.
#[inline(always)]
fn job_kn(task: u64, o: &Offsets) -> Result<u64, i64> {
    // SAFETY: every read goes through the faulting-safe probe helper.
    unsafe {
        let cset = read::<u64>(task, o.task_cgroups)?;
        let cgrp = if o.job_cgroup == JOB_CGROUP_V1 {
            let css = read::<u64>(cset, o.job_css)?;
            read::<u64>(css, o.css_cgroup)?
        } else {
            read::<u64>(cset, o.css_set_dfl_cgrp)?
        };
        read::<u64>(cgrp, o.cgroup_kn)
    }
}

/// Whether `task` runs in a batch job: a `job_*` component on the way from
/// its job-hierarchy cgroup (see [`write_job_cgroup`]) to the root, at most
/// [`JOB_DEPTH`] levels up. The exit program asks only for a process with no
/// login uid under `exclude_unattributed`, so that a job process's exit is
/// kept with its exec. Probe reads of the first four bytes of each name (a
/// shorter name ends in its NUL before them, so it never matches).
#[inline(always)]
pub fn in_job(task: u64, o: &Offsets) -> Result<bool, i64> {
    if o.job_cgroup == JOB_CGROUP_OFF {
        return Ok(false);
    }
    let mut kn = job_kn(task, o)?;
    // SAFETY: every read goes through the faulting-safe probe helper.
    unsafe {
        for _ in 0..JOB_DEPTH {
            let parent = read::<u64>(kn, o.kn_parent)?;
            if parent == 0 {
                return Ok(false);
            }
            let name = read::<u64>(kn, o.kn_name)?;
            if read::<[u8; 4]>(name, 0)? == *b"job_" {
                return Ok(true);
            }
            kn = parent;
        }
        Ok(false)
    }
}

/// Whether the NUL-terminated name of `n` bytes (NUL included) at `at`
/// ends in `.scope` or `.service`.
///
/// # Safety
/// `at` is readable for `JOB_NAME_MAX` bytes and `n <= JOB_NAME_MAX`.
#[inline(always)]
unsafe fn is_unit(at: *const u8, n: u32) -> bool {
    let ends = |suffix: &[u8]| -> bool {
        let k = suffix.len() as u32;
        if n < k + 2 {
            return false;
        }
        let start = n - 1 - k;
        let mut i = 0;
        while i < suffix.len() {
            let idx = (start + i as u32) as usize & (JOB_NAME_MAX - 1);
            // SAFETY: idx < JOB_NAME_MAX, within the caller's guarantee.
            if unsafe { *at.add(idx) } != suffix[i] {
                return false;
            }
            i += 1;
        }
        true
    };
    ends(b".scope") || ends(b".service")
}

/// Writes the working directory of `task` (the current task) at `dst` as NUL-terminated
/// components from the leaf up (see `tracer_common::event`), stopping at the
/// task's root. Returns the bytes written and whether it was cut short.
///
/// The walk mirrors `d_path()`: climb `d_parent` until the dentry is the root of
/// its mount, then continue from the mountpoint in the parent mount. Through
/// `M` up to the first mount crossed: with [`Direct`], the task's `fs`, its
/// root and pwd, and every `d_parent`/`d_name` of the pwd's own mount are
/// plain loads, and only the names cost a helper call. From a crossing on
/// the walk is [`Probe`] reads: `struct mount` is reached by subtracting
/// `mount_mnt` from a `vfsmount` pointer, which the verifier cannot type.
///
/// # Safety
/// `dst` must be writable for `CWD_MAX` bytes; for [`Direct`], `task` is the
/// BTF-typed current task.
#[inline(always)]
pub unsafe fn write_cwd<M: Mem>(dst: *mut u8, task: u64, o: &Offsets) -> Result<(u32, bool), i64> {
    // SAFETY: reads go through `M` or the faulting-safe helper; `walk` keeps
    // its writes within `dst[..CWD_MAX]`.
    unsafe {
        let fs = M::rd::<u64>(task, o.task_fs)?;
        let vfsmnt = M::rd::<u64>(fs, o.fs_pwd + o.path_mnt)?;
        let mut w = Walk {
            root_mnt: M::rd::<u64>(fs, o.fs_root + o.path_mnt)?,
            root_dentry: M::rd::<u64>(fs, o.fs_root + o.path_dentry)?,
            dentry: M::rd::<u64>(fs, o.fs_pwd + o.path_dentry)?,
            vfsmnt,
            mnt_root: M::rd::<u64>(vfsmnt, o.vfsmount_root)?,
            len: 0,
        };
        if M::TYPED {
            if let Some(done) = walk::<M>(dst, &mut w, o, true)? {
                return Ok(done);
            }
        }
        walk::<Probe>(dst, &mut w, o, false).map(|d| d.unwrap_or((w.len, true)))
    }
}

/// Where a cwd walk stands (see [`write_cwd`]).
struct Walk {
    root_mnt: u64,
    root_dentry: u64,
    dentry: u64,
    vfsmnt: u64,
    /// `vfsmnt->mnt_root`, read once per mount crossed.
    mnt_root: u64,
    len: u32,
}

/// Climbs from `w.dentry` for at most `CWD_DEPTH` steps (components and
/// mount crossings); returns the result once the walk ends, or `None` at the
/// first mount crossing when `stop_at_mount` (the crossing is then left to
/// the caller's next walk, which has a budget of its own: the byte bound is
/// `CWD_MAX` either way).
///
/// # Safety
/// As for [`write_cwd`]; `w` comes from it.
#[inline(always)]
unsafe fn walk<M: Mem>(
    dst: *mut u8,
    w: &mut Walk,
    o: &Offsets,
    stop_at_mount: bool,
) -> Result<Option<(u32, bool)>, i64> {
    // SAFETY: writes stay within `dst[..CWD_MAX]` because `len <= CWD_MAX -
    // NAME_BUF` before every write; reads go through `M` or the helper.
    unsafe {
        for _ in 0..CWD_DEPTH {
            if w.dentry == w.root_dentry && w.vfsmnt == w.root_mnt {
                return Ok(Some((w.len, false)));
            }
            let parent = M::rd::<u64>(w.dentry, o.dentry_parent)?;
            if w.dentry == w.mnt_root || w.dentry == parent {
                if stop_at_mount {
                    return Ok(None);
                }
                let mnt = w.vfsmnt - o.mount_mnt as u64;
                let mnt_parent = read::<u64>(mnt, o.mount_parent)?;
                if mnt_parent == mnt {
                    // The root of the mount namespace.
                    return Ok(Some((w.len, false)));
                }
                w.dentry = read::<u64>(mnt, o.mount_mountpoint)?;
                w.vfsmnt = mnt_parent + o.mount_mnt as u64;
                w.mnt_root = read::<u64>(w.vfsmnt, o.vfsmount_root)?;
                continue;
            }
            if w.len > (CWD_MAX as u32) - NAME_BUF {
                return Ok(Some((w.len, true)));
            }
            let name = M::rd::<u64>(w.dentry, o.dentry_name + o.qstr_name)?;
            let n = generated::bpf_probe_read_kernel_str(
                dst.add(w.len as usize).cast(),
                NAME_BUF,
                name as *const _,
            );
            if n <= 0 {
                return Err(n);
            }
            w.len += (n as u32) & (NAME_BUF * 2 - 1);
            w.dentry = parent;
        }
        Ok(Some((w.len, true)))
    }
}
