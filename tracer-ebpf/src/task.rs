//! Bounded reads of kernel structures at offsets taken from the running
//! kernel's BTF (see `tracer_common::config::Offsets`), and the pieces of an
//! exec record that both the success and the failure path fill in.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
    bpf_get_current_task, bpf_ktime_get_boot_ns, generated,
};
use tracer_common::{
    config::Offsets,
    event::{ExecEvent, CWD_DEPTH, CWD_MAX},
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
pub unsafe fn fill_identity(ev: *mut ExecEvent, task: u64, o: &Offsets) -> Result<(), i64> {
    // SAFETY: all reads go through the faulting-safe helper; `ev` is valid per
    // the contract.
    unsafe {
        let pid_tgid = bpf_get_current_pid_tgid();
        (*ev).header.boot_ns = bpf_ktime_get_boot_ns();
        (*ev).pid = (pid_tgid >> 32) as u32;
        (*ev).tid = pid_tgid as u32;
        if o.task_sessionid == o.task_loginuid + 4 {
            let both = read::<u64>(task, o.task_loginuid)?;
            (*ev).auid = both as u32;
            (*ev).ses = (both >> 32) as u32;
        } else {
            (*ev).auid = read::<u32>(task, o.task_loginuid)?;
            (*ev).ses = read::<u32>(task, o.task_sessionid)?;
        }
        let parent = read::<u64>(task, o.task_real_parent)?;
        (*ev).ppid = read::<u32>(parent, o.task_tgid)?;
        (*ev).start_boottime = read::<u64>(task, o.task_start_boottime)?;
        let cred = read::<u64>(task, o.task_cred)?;
        // uid, gid, suid, sgid, euid, egid: consecutive in every kernel, but
        // the positions come from BTF; fall back to one read each otherwise.
        let (gi, ei, egi) = (
            o.cred_gid.wrapping_sub(o.cred_uid) / 4,
            o.cred_euid.wrapping_sub(o.cred_uid) / 4,
            o.cred_egid.wrapping_sub(o.cred_uid) / 4,
        );
        if o.cred_uid % 4 == 0 && gi < 8 && ei < 8 && egi < 8 {
            let ids = read::<[u32; 8]>(cred, o.cred_uid)?;
            (*ev).uid = ids[0];
            (*ev).gid = ids[gi as usize & 7];
            (*ev).euid = ids[ei as usize & 7];
            (*ev).egid = ids[egi as usize & 7];
        } else {
            (*ev).uid = read::<u32>(cred, o.cred_uid)?;
            (*ev).euid = read::<u32>(cred, o.cred_euid)?;
            (*ev).gid = read::<u32>(cred, o.cred_gid)?;
            (*ev).egid = read::<u32>(cred, o.cred_egid)?;
        }
        (*ev).cgroup_id = bpf_get_current_cgroup_id();
        (*ev).comm = bpf_get_current_comm().unwrap_or([0; 16]);
        (*ev).tty = [0; 32];
        let signal = read::<u64>(task, o.task_signal)?;
        let tty = read::<u64>(signal, o.signal_tty)?;
        if tty != 0 {
            let dst = core::ptr::addr_of_mut!((*ev).tty).cast::<core::ffi::c_void>();
            generated::bpf_probe_read_kernel_str(dst, 32, (tty + o.tty_name as u64) as *const _);
        }
    }
    Ok(())
}

/// Writes the working directory of `task` (the current task) at `dst` as NUL-terminated
/// components from the leaf up (see `tracer_common::event`), stopping at the
/// task's root. Returns the bytes written and whether it was cut short.
///
/// The walk mirrors `d_path()`: climb `d_parent` until the dentry is the root of
/// its mount, then continue from the mountpoint in the parent mount.
///
/// # Safety
/// `dst` must be writable for `CWD_MAX` bytes.
#[inline(always)]
pub unsafe fn write_cwd(dst: *mut u8, task: u64, o: &Offsets) -> Result<(u32, bool), i64> {
    // SAFETY: reads go through the faulting-safe helper; writes stay within
    // `dst[..CWD_MAX]` because `len <= CWD_MAX - NAME_BUF` before every write.
    unsafe {
        let fs = read::<u64>(task, o.task_fs)?;
        let root_mnt = read::<u64>(fs, o.fs_root + o.path_mnt)?;
        let root_dentry = read::<u64>(fs, o.fs_root + o.path_dentry)?;
        let mut vfsmnt = read::<u64>(fs, o.fs_pwd + o.path_mnt)?;
        let mut dentry = read::<u64>(fs, o.fs_pwd + o.path_dentry)?;
        let mut mnt = vfsmnt - o.mount_mnt as u64;
        // Read once per mount crossed, not once per component.
        let mut mnt_root = read::<u64>(vfsmnt, o.vfsmount_root)?;
        let mut len: u32 = 0;
        for _ in 0..CWD_DEPTH {
            if dentry == root_dentry && vfsmnt == root_mnt {
                return Ok((len, false));
            }
            let parent = read::<u64>(dentry, o.dentry_parent)?;
            if dentry == mnt_root || dentry == parent {
                let mnt_parent = read::<u64>(mnt, o.mount_parent)?;
                if mnt_parent == mnt {
                    // The root of the mount namespace.
                    return Ok((len, false));
                }
                dentry = read::<u64>(mnt, o.mount_mountpoint)?;
                mnt = mnt_parent;
                vfsmnt = mnt + o.mount_mnt as u64;
                mnt_root = read::<u64>(vfsmnt, o.vfsmount_root)?;
                continue;
            }
            if len > (CWD_MAX as u32) - NAME_BUF {
                return Ok((len, true));
            }
            let name = read::<u64>(dentry, o.dentry_name + o.qstr_name)?;
            let n = generated::bpf_probe_read_kernel_str(
                dst.add(len as usize).cast(),
                NAME_BUF,
                name as *const _,
            );
            if n <= 0 {
                return Err(n);
            }
            len += (n as u32) & (NAME_BUF * 2 - 1);
            dentry = parent;
        }
        Ok((len, true))
    }
}
