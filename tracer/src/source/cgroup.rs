//! cgroup v2 ids to paths, and the batch job of exec records.
//!
//! The eBPF programs record `bpf_get_current_cgroup_id()`, which is the inode
//! number of the cgroup's directory in the cgroup2 filesystem. Paths tell an
//! admin far more (`/system.slice/cron.service`, `/user.slice/user-1000.slice/
//! session-3.scope`, Slurm's `/system.slice/slurmstepd.scope/job_42/step_0`),
//! so ids are resolved by walking the hierarchy, cached, and the walk is
//! redone at most once per `rescan_interval` when an unknown id shows up.

use crate::hash::{IntMap, IntSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::event::{Body, Event, Job, Source};
use crate::sessions::job;

pub const CGROUP2_ROOT: &str = "/sys/fs/cgroup";

/// Where the cgroup2 hierarchy is mounted: `/sys/fs/cgroup` on unified
/// systems, `/sys/fs/cgroup/unified` on hybrid ones (from the mount table).
pub fn cgroup2_root() -> std::path::PathBuf {
    std::fs::read_to_string("/proc/self/mounts")
        .ok()
        .and_then(|m| {
            m.lines().find_map(|l| {
                let mut f = l.split_whitespace();
                let (_, dir, fstype) = (f.next()?, f.next()?, f.next()?);
                (fstype == "cgroup2").then(|| std::path::PathBuf::from(dir))
            })
        })
        .unwrap_or_else(|| CGROUP2_ROOT.into())
}

pub struct CgroupPaths {
    root: PathBuf,
    cache: IntMap<u64, String>,
    /// Ids that a walk made after they were first seen did not find: their
    /// cgroup is gone (ids are never reused), so asking again would only
    /// walk the hierarchy once a second for nothing.
    gone: IntSet<u64>,
    last_scan: Option<Instant>,
    rescan_interval: Duration,
}

impl CgroupPaths {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: IntMap::default(),
            gone: IntSet::default(),
            last_scan: None,
            rescan_interval: Duration::from_secs(1),
        }
    }

    /// Knows exactly `paths` and never walks a hierarchy (tests, replays).
    pub fn fixed(paths: impl IntoIterator<Item = (u64, String)>) -> Self {
        Self {
            root: PathBuf::new(),
            cache: paths.into_iter().collect(),
            gone: IntSet::default(),
            last_scan: Some(Instant::now()),
            rescan_interval: Duration::MAX,
        }
    }

    /// The path of cgroup `id` relative to the cgroup2 root (`/` for the root).
    pub fn path(&mut self, id: u64) -> Option<&str> {
        if !self.cache.contains_key(&id)
            && !self.gone.contains(&id)
            && self
                .last_scan
                .is_none_or(|t| t.elapsed() >= self.rescan_interval)
        {
            let complete = self.scan();
            if complete && !self.cache.contains_key(&id) {
                if self.gone.len() >= 100_000 {
                    self.gone.clear();
                }
                self.gone.insert(id);
            }
        }
        self.cache.get(&id).map(String::as_str)
    }

    /// Walks the hierarchy; `false` when a bound cut the walk short.
    fn scan(&mut self) -> bool {
        self.last_scan = Some(Instant::now());
        let mut complete = true;
        // Bounded: cgroup trees are small, but never walk without limit.
        let mut stack = vec![(self.root.clone(), 0usize)];
        let mut seen = 0usize;
        if self.cache.len() > 100_000 {
            self.cache.clear();
        }
        while let Some((dir, depth)) = stack.pop() {
            seen += 1;
            if seen > 200_000 {
                complete = false;
                break;
            }
            if let Ok(md) = std::fs::metadata(&dir) {
                let rel = dir.strip_prefix(&self.root).unwrap_or(Path::new(""));
                self.cache.insert(md.ino(), format!("/{}", rel.display()));
            }
            if depth >= 32 {
                complete = false;
                continue;
            }
            if let Ok(rd) = std::fs::read_dir(&dir) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push((e.path(), depth + 1));
                    }
                }
            }
        }
        complete
    }
}

/// Fills in the batch job of exec records that their source could not give
/// one (see [`crate::sessions::job`]), in this order: the eBPF programs' own
/// reading of the job cgroup (already in the record); the record's cgroup v2
/// path; `/proc/PID/cgroup` while the process still runs (the audit
/// backend, whose records carry no cgroup); the parent's job, for a process
/// already gone whose parent tracer saw in a job (a job's children stay in
/// its cgroup: only root can move them out).
///
/// The parent's `/proc/PID/cgroup`, when read, is remembered for
/// [`PARENT_READ_FOR`]: a fork storm's children are gone before their
/// records arrive, and reading their (long-lived) parent's cgroup for each
/// of them was the largest part of the audit backend's CPU per exec
/// (issue 13; the kernel's `proc_cgroup_show` takes `css_set_lock`). Only
/// root moves a process to another cgroup, and Slurm moves a step's task
/// before it execs (the task itself is read first, while it runs).
#[derive(Default)]
pub struct Jobs {
    /// pid -> job of processes seen exec'ing in a job (bounded).
    by_pid: IntMap<u32, Job>,
    /// ppid -> when its cgroup was read, and the job it showed (bounded).
    parents: IntMap<u32, (Instant, Option<Job>)>,
}

/// Most processes remembered for the parent fallback.
const JOBS_REMEMBERED: usize = 65_536;
/// How long a parent's `/proc/PID/cgroup` reading is reused.
pub const PARENT_READ_FOR: Duration = Duration::from_secs(1);
/// Most parents' readings remembered.
const PARENTS_REMEMBERED: usize = 4096;

impl Jobs {
    pub fn fill(&mut self, e: &mut Event) {
        let (pid, ppid, source) = (e.task.pid, e.task.ppid, e.source);
        if let (Body::Exit(_), Some(pid)) = (&e.body, pid) {
            self.by_pid.remove(&pid);
            return;
        }
        let from_path = match e.exec() {
            Some(x) if x.job.is_none() => e.task.cgroup.as_deref().and_then(job::from_path),
            _ => None,
        };
        let Some(x) = e.exec_mut() else {
            return;
        };
        if x.job.is_none() {
            x.job = from_path;
        }
        // eBPF records carry the kernel's own walk; /proc records were read
        // from /proc/PID/cgroup already (and a process found there that is
        // in no job is in none, whatever its parent is).
        if x.job.is_none() && source != Source::Ebpf && source != Source::Proc {
            x.job = self.of_procs(pid, ppid);
        }
        self.remember(pid, x.job.as_ref());
    }

    /// The job [`Self::fill`] gives an audit exec (whose record has no
    /// cgroup), for the daemon's hot path, which has no `Event` to fill.
    pub fn of_audit_exec(&mut self, pid: Option<u32>, ppid: Option<u32>) -> Option<Job> {
        let j = self.of_procs(pid, ppid);
        self.remember(pid, j.as_ref());
        j
    }

    fn of_procs(&mut self, pid: Option<u32>, ppid: Option<u32>) -> Option<Job> {
        // The process itself, else (gone already) its parent as tracer
        // saw it, else its parent as /proc has it now (read at most once
        // per PARENT_READ_FOR): a child starts in its parent's cgroup and
        // only root can move it.
        if let Some(j) = pid.and_then(of_proc) {
            return Some(j);
        }
        let ppid = ppid?;
        if let Some(j) = self.by_pid.get(&ppid) {
            return Some(j.clone());
        }
        let now = Instant::now();
        if let Some((at, j)) = self.parents.get(&ppid) {
            if now.saturating_duration_since(*at) < PARENT_READ_FOR {
                return j.clone();
            }
        }
        let j = of_proc(ppid);
        if self.parents.len() >= PARENTS_REMEMBERED {
            self.parents
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < PARENT_READ_FOR);
            if self.parents.len() >= PARENTS_REMEMBERED {
                self.parents.clear();
            }
        }
        self.parents.insert(ppid, (now, j.clone()));
        j
    }

    fn remember(&mut self, pid: Option<u32>, job: Option<&Job>) {
        if let (Some(j), Some(pid)) = (job, pid) {
            if self.by_pid.len() >= JOBS_REMEMBERED {
                self.by_pid.clear();
            }
            self.by_pid.insert(pid, j.clone());
        }
    }
}

/// The job `/proc/PID/cgroup` shows for a running process.
fn of_proc(pid: u32) -> Option<Job> {
    if let Ok(p) = libc::pid_t::try_from(pid) {
        // A process already gone (most of a fork storm's by the time its
        // records are read) costs the kernel a negative dentry per pid to
        // fail the open; kill(pid, 0) says ESRCH without one (issue 13).
        // SAFETY: signal 0 sends nothing; it only checks that `p` names a
        // process (p > 0 here: 0 and negatives mean process groups).
        if p > 0
            && unsafe { libc::kill(p, 0) } != 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
        {
            return None;
        }
    }
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|c| job::from_proc_cgroup(&c))
}

/// The systemd unit a cgroup path belongs to: see
/// [`crate::sessions::normalize::unit`], the one definition.
pub fn unit_of(path: &str) -> Option<&str> {
    crate::sessions::normalize::unit(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_and_units() {
        assert_eq!(unit_of("/system.slice/cron.service"), Some("cron.service"));
        assert_eq!(
            unit_of("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"),
            Some("user@1000.service")
        );
        assert_eq!(unit_of("/"), None);
    }

    #[test]
    fn jobs_come_from_the_path_else_the_parent_except_for_proc_records() {
        use crate::event::{Exec, Timestamp};
        let exec = |source: Source, pid: u32, ppid: u32, cgroup: Option<&str>| {
            let mut e = Event::new(source, Timestamp(1), "n1", Body::Exec(Exec::default()));
            e.task.pid = Some(pid);
            e.task.ppid = Some(ppid);
            e.task.cgroup = cgroup.map(Into::into);
            e
        };
        let job_of = |e: &Event| e.exec().and_then(|x| x.job.clone()).map(|j| j.id);
        let mut jobs = Jobs::default();
        // A pid that no /proc has (pid_max is at most 2^22).
        let (parent, child) = (u32::MAX - 10, u32::MAX - 9);
        let mut e = exec(
            Source::Ebpf,
            parent,
            1,
            Some("/system.slice/slurmstepd.scope/job_5/step_0/user/task_0"),
        );
        jobs.fill(&mut e);
        assert_eq!(job_of(&e).as_deref(), Some("5"), "from the cgroup path");
        // An audit record of the job's child (gone, no cgroup): the parent's.
        let mut e = exec(Source::Audit, child, parent, None);
        jobs.fill(&mut e);
        assert_eq!(job_of(&e).as_deref(), Some("5"), "from the parent");
        // A /proc record in no job stays in none, whatever its parent.
        let mut e = exec(Source::Proc, child + 1, parent, None);
        jobs.fill(&mut e);
        assert_eq!(job_of(&e), None);
        // The parent's exit forgets it.
        let mut x = Event::new(
            Source::Ebpf,
            Timestamp(2),
            "n1",
            Body::Exit(Default::default()),
        );
        x.task.pid = Some(parent);
        jobs.fill(&mut x);
        let mut e = exec(Source::Audit, child + 2, parent, None);
        jobs.fill(&mut e);
        assert_eq!(job_of(&e), None, "a gone parent's job");
    }

    #[test]
    fn resolves_ids_in_a_synthetic_hierarchy() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir
            .path()
            .join("system.slice/slurmstepd.scope/job_77/step_0");
        std::fs::create_dir_all(&job).unwrap();
        let ino = std::fs::metadata(&job).unwrap().ino();
        let mut c = CgroupPaths::new(dir.path());
        let p = c.path(ino).unwrap().to_string();
        assert_eq!(p, "/system.slice/slurmstepd.scope/job_77/step_0");
        assert_eq!(job::from_path(&p).map(|j| j.id).as_deref(), Some("77"));
        assert_eq!(c.path(u64::MAX - 1), None);
        // A gone id costs no further walk; a new cgroup is still found.
        c.rescan_interval = Duration::ZERO;
        assert_eq!(c.path(u64::MAX - 1), None);
        let walked = c.last_scan;
        assert_eq!(c.path(u64::MAX - 1), None);
        assert_eq!(c.last_scan, walked, "walked again for a gone cgroup");
        let step1 = job.with_file_name("step_1");
        std::fs::create_dir(&step1).unwrap();
        let ino = std::fs::metadata(&step1).unwrap().ino();
        assert_eq!(
            c.path(ino),
            Some("/system.slice/slurmstepd.scope/job_77/step_1")
        );
    }
}
