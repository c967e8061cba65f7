//! Gathers everything the programs need to know about this kernel: struct
//! offsets from BTF and, for the syscall-tracepoint fallback only, record
//! offsets from the tracepoints' format files.

use tracer_common::config::{Offsets, TracepointOffsets};

use super::btf::{Btf, BtfError};
use super::tracefs::{self, TracefsError};

/// Reads every struct offset the programs use. Fails naming the first field
/// this kernel lacks.
pub fn kernel_offsets(btf: &Btf) -> Result<Offsets, BtfError> {
    let f = |s: &str, m: &str| btf.field_offset(s, m);
    Ok(Offsets {
        task_tgid: f("task_struct", "tgid")?,
        task_real_parent: f("task_struct", "real_parent")?,
        task_loginuid: f("task_struct", "loginuid")?,
        task_sessionid: f("task_struct", "sessionid")?,
        task_mm: f("task_struct", "mm")?,
        task_cred: f("task_struct", "cred")?,
        task_signal: f("task_struct", "signal")?,
        task_fs: f("task_struct", "fs")?,
        task_start_boottime: f("task_struct", "start_boottime")?,
        task_exit_code: f("task_struct", "exit_code")?,
        cred_uid: f("cred", "uid")?,
        cred_euid: f("cred", "euid")?,
        cred_gid: f("cred", "gid")?,
        cred_egid: f("cred", "egid")?,
        mm_arg_start: f("mm_struct", "arg_start")?,
        mm_arg_end: f("mm_struct", "arg_end")?,
        mm_start_stack: f("mm_struct", "start_stack")?,
        signal_tty: f("signal_struct", "tty")?,
        tty_name: f("tty_struct", "name")?,
        fs_pwd: f("fs_struct", "pwd")?,
        fs_root: f("fs_struct", "root")?,
        path_mnt: f("path", "mnt")?,
        path_dentry: f("path", "dentry")?,
        dentry_parent: f("dentry", "d_parent")?,
        dentry_name: f("dentry", "d_name")?,
        qstr_name: f("qstr", "name")?,
        mount_mnt: f("mount", "mnt")?,
        mount_parent: f("mount", "mnt_parent")?,
        mount_mountpoint: f("mount", "mnt_mountpoint")?,
        vfsmount_root: f("vfsmount", "mnt_root")?,
        mm_exe_file: f("mm_struct", "exe_file")?,
        file_f_inode: f("file", "f_inode")?,
        inode_nlink: f("inode", "__i_nlink").or_else(|_| f("inode", "i_nlink"))?,
        task_self_exec_id: f("task_struct", "self_exec_id")?,
        task_parent_exec_id: f("task_struct", "parent_exec_id")?,
        bprm_filename: f("linux_binprm", "filename")?,
        regs_di: f("pt_regs", "di")?,
        regs_si: f("pt_regs", "si")?,
        regs_dx: f("pt_regs", "dx")?,
        regs_bx: f("pt_regs", "bx")?,
        regs_cx: f("pt_regs", "cx")?,
    })
}

/// Reads the record offsets of the syscall tracepoints, for the last-resort
/// failed-exec hooks (the other programs take typed arguments and need no
/// tracefs).
pub fn tracepoint_offsets() -> Result<TracepointOffsets, TracefsError> {
    let enter = tracefs::format("syscalls", "sys_enter_execve")?;
    let enter_at = tracefs::format("syscalls", "sys_enter_execveat")?;
    let exit = tracefs::format("syscalls", "sys_exit_execve")?;
    let exit_at = tracefs::format("syscalls", "sys_exit_execveat")?;
    let exit_ret = exit.offset("ret")?;
    if exit_at.offset("ret")? != exit_ret {
        // One program serves both exits; they have always shared a layout.
        return Err(TracefsError::Layout(
            "sys_exit_execve and sys_exit_execveat place `ret` differently".into(),
        ));
    }
    Ok(TracepointOffsets {
        exec_filename: 0,
        exec_old_pid: 0,
        enter_execve_filename: enter.offset("filename")?,
        enter_execve_argv: enter.offset("argv")?,
        enter_execveat_filename: enter_at.offset("filename")?,
        enter_execveat_argv: enter_at.offset("argv")?,
        exit_ret,
        _pad: 0,
    })
}
