//! Gathers everything the programs need to know about this kernel: struct
//! offsets from BTF and, for the syscall-tracepoint fallback only, record
//! offsets from the tracepoints' format files.

use tracer_common::config::{
    Offsets, TracepointOffsets, JOB_CGROUP_OFF, JOB_CGROUP_V1, JOB_CGROUP_V2,
};

use super::btf::{Btf, BtfError};
use super::tracefs::{self, TracefsError};
use crate::config::JobHierarchy;

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
        task_cgroups: f("task_struct", "cgroups")?,
        css_cgroup: f("cgroup_subsys_state", "cgroup")?,
        css_set_dfl_cgrp: f("css_set", "dfl_cgrp")?,
        cgroup_kn: f("cgroup", "kn")?,
        // Renamed `__parent` in 6.15, when it became RCU-protected.
        kn_parent: f("kernfs_node", "__parent").or_else(|_| f("kernfs_node", "parent"))?,
        kn_name: f("kernfs_node", "name")?,
        job_cgroup: JOB_CGROUP_OFF,
        job_css: 0,
    })
}

/// Which cgroup hierarchy holds batch jobs here, from this process's
/// `/proc/self/cgroup` (`cgroups`): the v1 freezer when it is mounted as a
/// v1 hierarchy (cgroup v1 and hybrid hosts: Slurm's `proctrack/cgroup`
/// keeps every process of a step in its freezer cgroup), else the unified
/// hierarchy when there is one. Sets `o.job_cgroup` and `o.job_css`.
/// `want` (the `capture.jobs` setting) overrides the choice.
pub fn choose_job_hierarchy(
    btf: &Btf,
    want: JobHierarchy,
    cgroups: &str,
    o: &mut Offsets,
) -> &'static str {
    let v1_freezer = match want {
        JobHierarchy::Freezer => true,
        JobHierarchy::Unified => false,
        JobHierarchy::Off => {
            o.job_cgroup = JOB_CGROUP_OFF;
            return "none (capture.jobs = \"off\")";
        }
        JobHierarchy::Auto => cgroups.lines().any(|l| {
            let mut f = l.splitn(3, ':');
            let (id, ctl) = (f.next().unwrap_or(""), f.next().unwrap_or(""));
            id != "0" && ctl.split(',').any(|c| c == "freezer")
        }),
    };
    let subsys = btf.field_offset("css_set", "subsys").ok();
    let freezer = btf.enumerator("freezer_cgrp_id");
    match (v1_freezer, subsys, freezer) {
        (true, Some(subsys), Some(id)) if (0..64).contains(&id) => {
            o.job_cgroup = JOB_CGROUP_V1;
            o.job_css = subsys + 8 * id as u32;
            "cgroup v1 freezer"
        }
        _ if want == JobHierarchy::Unified || cgroups.lines().any(|l| l.starts_with("0::")) => {
            o.job_cgroup = JOB_CGROUP_V2;
            "cgroup v2"
        }
        _ => {
            o.job_cgroup = JOB_CGROUP_OFF;
            "none"
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `/proc/self/cgroup` of this VM (Debian 12, hybrid: v1 controllers
    /// plus a `0::` unified line) and of a pure cgroup v2 host.
    const HYBRID: &str = "9:name=systemd:/\n8:pids:/\n6:freezer:/slurm/uid_1003/job_1/step_batch\n3:cpuset:/\n0::/\n";
    const UNIFIED: &str = "0::/user.slice/user-1000.slice/session-3.scope\n";

    #[test]
    fn picks_the_freezer_on_hybrid_hosts_and_the_unified_tree_otherwise() {
        let Ok(btf) = Btf::from_sys() else {
            // The choice needs the kernel's enum values; CI runs on a host
            // with BTF (the privileged tests fail without it).
            eprintln!("no /sys/kernel/btf/vmlinux: choose_job_hierarchy not exercised");
            return;
        };
        let mut o = kernel_offsets(&btf).unwrap();
        assert_eq!(
            choose_job_hierarchy(&btf, JobHierarchy::Auto, HYBRID, &mut o),
            "cgroup v1 freezer"
        );
        assert_eq!(o.job_cgroup, JOB_CGROUP_V1);
        let id = btf.enumerator("freezer_cgrp_id").unwrap() as u32;
        assert_eq!(
            o.job_css,
            btf.field_offset("css_set", "subsys").unwrap() + 8 * id
        );
        assert_eq!(
            choose_job_hierarchy(&btf, JobHierarchy::Auto, UNIFIED, &mut o),
            "cgroup v2"
        );
        assert_eq!(o.job_cgroup, JOB_CGROUP_V2);
        assert_eq!(
            choose_job_hierarchy(&btf, JobHierarchy::Auto, "", &mut o),
            "none"
        );
        assert_eq!(o.job_cgroup, JOB_CGROUP_OFF);
        choose_job_hierarchy(&btf, JobHierarchy::Unified, HYBRID, &mut o);
        assert_eq!(o.job_cgroup, JOB_CGROUP_V2);
        choose_job_hierarchy(&btf, JobHierarchy::Freezer, UNIFIED, &mut o);
        assert_eq!(o.job_cgroup, JOB_CGROUP_V1);
        choose_job_hierarchy(&btf, JobHierarchy::Off, HYBRID, &mut o);
        assert_eq!(o.job_cgroup, JOB_CGROUP_OFF);
        assert!(o.kn_name != o.kn_parent);
    }
}
