//! Privileged: the exec program's job-cgroup walk on the real kernel,
//! without Slurm (`slurm_jobs.rs` runs the real thing). A cgroup shaped like
//! Slurm's is made by hand in the hierarchy tracer reads jobs from (the v1
//! freezer on this hybrid host, else the unified tree), a shell is moved
//! into it, and what it runs must carry the job, step and owner; with
//! `--exclude-unattributed` a job's processes (no login uid) are kept and
//! other unattributed ones dropped.

#![cfg(feature = "privileged")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::audit::AuditRestore;
use common::*;

/// A Slurm-shaped cgroup, removed on drop (after its processes are gone).
struct JobCgroup {
    /// Directories made, innermost last.
    made: Vec<PathBuf>,
    leaf: PathBuf,
}

impl JobCgroup {
    /// `/slurm/uid_<uid>/job_<job>/step_batch` in the v1 freezer, or
    /// `/system.slice/slurmstepd.scope/job_<job>/step_batch/user/task_0` on
    /// a cgroup v2-only host.
    fn make(uid: u32, job: u32) -> JobCgroup {
        let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
        let freezer = Path::new("/sys/fs/cgroup/freezer");
        let v1 = cgroups.lines().any(|l| l.contains(":freezer:")) && freezer.is_dir();
        Self::make_in(uid, job, v1)
    }

    /// In the v1 freezer (`v1`) or in the unified tree, wherever it is
    /// mounted (`/sys/fs/cgroup/unified` on hybrid hosts).
    fn make_in(uid: u32, job: u32, v1: bool) -> JobCgroup {
        let freezer = Path::new("/sys/fs/cgroup/freezer");
        let (root, parts): (PathBuf, Vec<String>) = if v1 {
            (
                freezer.into(),
                vec![
                    "slurm".into(),
                    format!("uid_{uid}"),
                    format!("job_{job}"),
                    "step_batch".into(),
                ],
            )
        } else {
            (
                unified_root(),
                vec![
                    "system.slice".into(),
                    "slurmstepd.scope".into(),
                    format!("job_{job}"),
                    "step_batch".into(),
                    "user".into(),
                    "task_0".into(),
                ],
            )
        };
        let mut made = Vec::new();
        let mut dir = root;
        for p in parts {
            dir.push(p);
            if !dir.exists() {
                std::fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                made.push(dir.clone());
            }
        }
        JobCgroup { made, leaf: dir }
    }
}

/// Where cgroup2 is mounted, from the mount table.
fn unified_root() -> PathBuf {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    mounts
        .lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == "cgroup2").then(|| PathBuf::from(f[1]))
        })
        .expect("a cgroup2 mount")
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        for d in self.made.iter().rev() {
            // The shell that was in it has exited; retry briefly while the
            // kernel lets go of it.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Runs `cmds` in a shell that first moves itself into `job`'s leaf.
fn run_in_job(job: &JobCgroup, cmds: &str) {
    let script = format!(
        "echo $$ > {}; {cmds}",
        job.leaf.join("cgroup.procs").display()
    );
    let st = Command::new("/bin/sh")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success(), "{script}: {st}");
}

/// The exec record whose argv holds `marker`.
fn exec_of(lines: &[serde_json::Value], marker: &str) -> Option<serde_json::Value> {
    lines
        .iter()
        .find(|l| l["type"] == "exec" && argv_of(l).iter().any(|a| a == marker))
        .cloned()
}

#[test]
fn job_processes_carry_their_job_and_survive_exclude_unattributed() {
    let _g = global_lock();
    let job = JobCgroup::make(4321, 987_654);
    let t = Tracer::start(&["--no-proc-scan", "--exclude-unattributed"]);
    // The shell moves itself into the job, then runs two marked commands;
    // the second exec is also unattributed but outside the job.
    run_in_job(
        &job,
        "/bin/echo tracer-job-inside; /usr/bin/true tracer-job-inside-2",
    );
    let st = Command::new("/bin/echo")
        .arg("tracer-job-outside")
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(400));
    let lines = t.stop();
    let marked = |m: &str| exec_of(&lines, m);
    for m in ["tracer-job-inside", "tracer-job-inside-2"] {
        let ev = marked(m).unwrap_or_else(|| {
            panic!("no exec of {m}: exclude_unattributed dropped a job process")
        });
        assert_eq!(ev["auid"], 4294967295u32, "{ev}");
        assert_eq!(ev["job"], "987654", "{ev}");
        assert_eq!(ev["job_step"], "batch", "{ev}");
        if job.leaf.starts_with("/sys/fs/cgroup/freezer") {
            assert_eq!(ev["job_uid"], 4321, "{ev}");
        }
    }
    assert!(
        marked("tracer-job-outside").is_none(),
        "an unattributed process in no job passed --exclude-unattributed"
    );
    // Their exits are kept too (a job's last exit ends it in the report).
    for m in ["tracer-job-inside", "tracer-job-inside-2"] {
        let ev = marked(m).unwrap();
        let exited = lines.iter().any(|l| {
            l["type"] == "exit"
                && l["pid"] == ev["pid"]
                && l["start_boottime"] == ev["start_boottime"]
        });
        assert!(
            exited,
            "no exit record of {m} (pid {}): exclude_unattributed dropped a job process's exit",
            ev["pid"]
        );
    }
    drop(job);
}

/// The audit backend has no cgroup in its records: the job comes from
/// `/proc/PID/cgroup` while the process runs, else from its parent's job.
/// The first command is still running when its record arrives; the second
/// exits at once, and its parent (the job's shell, as a batch script's is
/// while its commands run) gives the job.
#[test]
fn audit_backend_names_the_job_from_proc() {
    let _g = global_lock();
    let _restore = AuditRestore::capture();
    let job = JobCgroup::make(4322, 987_655);
    let t = Tracer::start(&["--backend", "audit", "--no-proc-scan"]);
    run_in_job(
        &job,
        "/bin/sleep 0.31; /bin/true tracer-audit-job-2; /bin/sleep 1.5",
    );
    std::thread::sleep(Duration::from_millis(500));
    let lines = t.stop();
    for m in ["0.31", "tracer-audit-job-2"] {
        let ev = exec_of(&lines, m).unwrap_or_else(|| panic!("no audit exec of {m}"));
        assert_eq!(ev["source"], "audit", "{ev}");
        assert_eq!(ev["job"], "987655", "{m}: {ev}");
        assert_eq!(ev["job_step"], "batch", "{m}: {ev}");
    }
    drop(job);
}

/// `capture.jobs = "unified"`: the walk of the unified tree, as on a cgroup
/// v2-only host (Slurm's cgroup/v2 layout, made by hand in the unified
/// mount, which a hybrid host has too): job and step from the path; no
/// owner in it (v2 names none), so no `job_uid`.
#[test]
fn the_unified_tree_walk_finds_v2_jobs() {
    let _g = global_lock();
    let job = JobCgroup::make_in(0, 987_656, false);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("t.toml");
    std::fs::write(&conf, "[capture]\njobs = \"unified\"\n").unwrap();
    let t = Tracer::start(&["--no-proc-scan", "--config", conf.to_str().unwrap()]);
    run_in_job(&job, "/bin/echo tracer-v2-job; /bin/sleep 0.01");
    std::thread::sleep(Duration::from_millis(400));
    let lines = t.stop();
    let ev =
        exec_of(&lines, "tracer-v2-job").unwrap_or_else(|| panic!("no exec of the v2 job's echo"));
    assert_eq!(ev["job"], "987656", "{ev}");
    assert_eq!(ev["job_step"], "batch", "{ev}");
    assert!(ev.get("job_uid").is_none(), "{ev}");
    drop(job);
}
