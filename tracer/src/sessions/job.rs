//! Batch jobs: which Slurm job and step a process belongs to, and whose job
//! it is, from the kernel's cgroup membership.
//!
//! Why cgroups: a job's processes descend from `slurmd`/`slurmstepd`,
//! daemons with no login uid, so audit attribution (auid/ses) says nothing
//! about them. What does say is where Slurm put them: every process of a
//! step lives in that step's cgroup, made by root-owned `slurmstepd`, and a
//! user cannot move a process out of it (the cgroup files are root's). The
//! job's environment (`SLURM_JOB_ID`) is written by the user's own shell and
//! is never read here.
//!
//! The layouts, from the root of the hierarchy to the leaf (real samples in
//! `tests/fixtures/cgroup/`, with their sources):
//! - cgroup v1 (`CgroupPlugin=cgroup/v1`, the only choice on hybrid hosts):
//!   `/slurm/uid_1003/job_42/step_batch` in the freezer (proctrack/cgroup),
//!   with a `/task_0` leaf in cpuset/memory/devices (task/cgroup);
//!   `/slurm_<node>/...` when several slurmd run on one host;
//! - cgroup v2 (`cgroup/v2`): `/system.slice/slurmstepd.scope/job_42/
//!   step_0/user/task_0` for the user's processes, `.../step_0/slurm` for
//!   slurmstepd itself; `<node>_slurmstepd.scope` with several slurmd.
//!
//! Steps are `batch`, `extern`, `interactive` or a number; Slurm before
//! 20.11 wrote the batch and extern steps as numbers (4294967294 and
//! 4294967295), which are named here too.
//!
//! A component is only a job when a Slurm component (`slurm`, `slurm_*`,
//! `*slurmstepd.scope`) is above it, so another program's `job_7` cgroup is
//! not taken for a Slurm job.

use serde::Serialize;

/// A process's place in a batch job.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Job {
    /// The job id (`42`).
    pub id: String,
    /// The step: `batch`, `extern`, `interactive`, or its number.
    pub step: Option<String>,
    /// The uid the job belongs to, when the layout says (v1's `uid_N`).
    pub uid: Option<u32>,
}

/// The job of a cgroup path (`/slurm/uid_1003/job_42/step_batch`), if the
/// path is a Slurm job's.
pub fn from_path(path: &str) -> Option<Job> {
    scan(path.split('/').filter(|c| !c.is_empty()), false)
}

/// The job of the eBPF program's leaf-first, NUL-terminated component names
/// (`step_batch\0job_42\0uid_1003\0slurm\0`; the buffer may end in NULs).
/// `cut`: the walk stopped before the root, so the Slurm component that
/// proves the path is Slurm's may be missing: then a `job_N` with a `step_*`
/// under it is accepted on its own.
pub fn from_leaf_names(buf: &[u8], cut: bool) -> Option<Job> {
    let mut names: Vec<&str> = buf
        .split(|&b| b == 0)
        .take_while(|c| !c.is_empty())
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    names.reverse();
    let job = scan(names.iter().copied(), false);
    if job.is_some() || !cut {
        return job;
    }
    let j = scan(names.iter().copied(), true)?;
    j.step.is_some().then_some(j)
}

/// The job of a process from its `/proc/PID/cgroup`: the v1 freezer line
/// first (where proctrack/cgroup keeps every process of a step), then any
/// other line (cpuset, the unified `0::` line).
pub fn from_proc_cgroup(content: &str) -> Option<Job> {
    let lines = || {
        content.lines().filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, path) = (f.next()?, f.next()?, f.next()?);
            Some((ctl, path))
        })
    };
    lines()
        .filter(|(ctl, _)| ctl.split(',').any(|c| c == "freezer"))
        .chain(lines())
        .find_map(|(_, path)| from_path(path))
}

/// Root-to-leaf components; `any_root`: accept a job without a Slurm
/// component above it.
fn scan<'a>(parts: impl Iterator<Item = &'a str> + Clone, any_root: bool) -> Option<Job> {
    let mut slurm = any_root;
    let mut uid = None;
    let mut it = parts.peekable();
    while let Some(c) = it.next() {
        if c == "slurm" || c.starts_with("slurm_") || c.ends_with("slurmstepd.scope") {
            slurm = true;
            uid = None;
            continue;
        }
        if let Some(n) = c.strip_prefix("uid_") {
            uid = n.parse::<u32>().ok();
            continue;
        }
        let Some(id) = c.strip_prefix("job_") else {
            continue;
        };
        if !slurm || id.is_empty() || id.len() > 10 || !id.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let step = it
            .peek()
            .and_then(|s| s.strip_prefix("step_"))
            .and_then(step_name);
        return Some(Job {
            id: id.to_owned(),
            step,
            uid,
        });
    }
    None
}

/// A step's name as shown: Slurm's own names, numbers, and the pre-20.11
/// numeric batch/extern ids by name.
fn step_name(s: &str) -> Option<String> {
    match s {
        "batch" | "extern" | "interactive" => Some(s.to_owned()),
        "4294967294" => Some("batch".into()),
        "4294967295" => Some("extern".into()),
        _ if !s.is_empty()
            && s.len() <= 24
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'_') =>
        {
            Some(s.to_owned())
        }
        _ => None,
    }
}

/// What a process's job says about who it belongs to, for a record that
/// has no login uid: the job's uid when the layout names it, else the
/// process's own real uid when it is not root (v2 puts the user's tasks in
/// `.../user/`, slurmstepd, as root, in `.../slurm`).
pub fn owner(job: &Job, uid: Option<u32>) -> Option<u32> {
    job.uid.or(uid.filter(|&u| u != 0))
}

/// Whether `argv0` is a Slurm client that makes a job or a step: the
/// commands a job's "submitted from" link looks for.
pub fn is_submit(argv0: &[u8]) -> bool {
    let base = argv0.rsplit(|&b| b == b'/').next().unwrap_or(argv0);
    matches!(base, b"sbatch" | b"srun" | b"salloc")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, step: Option<&str>, uid: Option<u32>) -> Option<Job> {
        Some(Job {
            id: id.into(),
            step: step.map(Into::into),
            uid,
        })
    }

    #[test]
    fn v1_paths() {
        assert_eq!(
            from_path("/slurm/uid_1003/job_1/step_batch"),
            job("1", Some("batch"), Some(1003))
        );
        assert_eq!(
            from_path("/slurm/uid_1003/job_12/step_0/task_0"),
            job("12", Some("0"), Some(1003))
        );
        assert_eq!(
            from_path("/slurm_node7/uid_0/job_3/step_extern"),
            job("3", Some("extern"), Some(0))
        );
        assert_eq!(
            from_path("/slurm/uid_5/job_9/step_4294967294"),
            job("9", Some("batch"), Some(5))
        );
        assert_eq!(from_path("/slurm/uid_5/job_9"), job("9", None, Some(5)));
        assert_eq!(from_path("/slurm/system"), None);
    }

    #[test]
    fn v2_paths() {
        assert_eq!(
            from_path("/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0"),
            job("4242", Some("0"), None)
        );
        assert_eq!(
            from_path("/system.slice/n1_slurmstepd.scope/job_7/step_interactive/slurm"),
            job("7", Some("interactive"), None)
        );
    }

    #[test]
    fn other_job_cgroups_are_not_slurm_jobs() {
        assert_eq!(from_path("/x/job_7/step_0"), None);
        assert_eq!(
            from_path("/user.slice/user-1000.slice/session-3.scope"),
            None
        );
        assert_eq!(from_path("/slurm/uid_1/job_/step_0"), None);
        assert_eq!(from_path("/slurm/uid_1/job_12345678901/step_0"), None);
        assert_eq!(from_path(""), None);
    }

    #[test]
    fn leaf_first_names_from_the_kernel() {
        assert_eq!(
            from_leaf_names(b"step_batch\0job_42\0uid_1003\0slurm\0\0\0\0", false),
            job("42", Some("batch"), Some(1003))
        );
        // Cut before the Slurm component: a job with a step is still one.
        assert_eq!(
            from_leaf_names(b"task_0\0user\0step_0\0job_5\0", true),
            job("5", Some("0"), None)
        );
        assert_eq!(from_leaf_names(b"job_5\0", true), None);
        assert_eq!(from_leaf_names(b"", false), None);
        assert_eq!(from_leaf_names(b"step_0\0job_5\0x\0", false), None);
    }

    #[test]
    fn proc_cgroup_prefers_the_freezer() {
        let c = "12:freezer:/slurm/uid_1003/job_2/step_0\n4:cpuset:/slurm/uid_1003/job_2/step_0/task_0\n0::/\n";
        assert_eq!(from_proc_cgroup(c), job("2", Some("0"), Some(1003)));
        let v2 = "0::/system.slice/slurmstepd.scope/job_8/step_batch/user/task_0\n";
        assert_eq!(from_proc_cgroup(v2), job("8", Some("batch"), None));
        assert_eq!(from_proc_cgroup("0::/\n"), None);
        assert_eq!(from_proc_cgroup("garbage"), None);
    }

    /// Real `/proc/PID/cgroup` of Slurm job processes
    /// (`tracer/tests/fixtures/cgroup/`, sources in its SOURCES.md): what
    /// userspace reads for the audit backend and `process` records, and
    /// (through the leaf-first names the kernel walk would give for the
    /// hierarchy it reads) what the exec program sends.
    #[test]
    fn real_slurm_cgroups() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup");
        type Want = Option<(&'static str, Option<&'static str>, Option<u32>)>;
        let cases: &[(&str, Want)] = &[
            (
                "slurm22.05-debian12-hybrid-batch-stepd",
                Some(("1", None, Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-batch",
                Some(("1", Some("batch"), Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-extern-stepd",
                Some(("1", None, Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-interactive",
                Some(("2", Some("0"), Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-salloc-interactive",
                Some(("3", Some("interactive"), Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-step0",
                Some(("1", Some("0"), Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-step1-task0",
                Some(("1", Some("1"), Some(1001))),
            ),
            (
                "slurm22.05-debian12-hybrid-step1-task1",
                Some(("1", Some("1"), Some(1001))),
            ),
            (
                "v1-caviness-step0-task0",
                Some(("11811379", Some("0"), Some(2179))),
            ),
            (
                "v1-sonar-ex3-slurm21-step0",
                Some(("748468", Some("0"), Some(7319))),
            ),
            (
                "v1-sonar-interactive-devices-line",
                Some(("280678", Some("interactive"), Some(2101171))),
            ),
            (
                "v2-schedmd-docs-extern-task0",
                Some(("3385", Some("extern"), None)),
            ),
            (
                "v2-schedmd-docs-interactive-task0",
                Some(("3385", Some("interactive"), None)),
            ),
            ("v2-schedmd-docs-slurmd-manual-start", None),
            (
                "v2-schedmd-docs-step0-stepd",
                Some(("3385", Some("0"), None)),
            ),
            (
                "v2-schedmd-docs-step0-task0",
                Some(("3385", Some("0"), None)),
            ),
            ("v2-schedmd-docs-stepd-infinity", None),
            (
                "v2-sonar-fox-step0-task0",
                Some(("1392969", Some("0"), None)),
            ),
        ];
        for (name, want) in cases {
            let path = dir.join(format!("{name}.cgroup"));
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let want = want.map(|(id, step, uid)| Job {
                id: id.into(),
                step: step.map(Into::into),
                uid,
            });
            assert_eq!(from_proc_cgroup(&text), want, "{name}");
            // The kernel's view: the freezer line where there is one (v1),
            // else the unified line; the last JOB_DEPTH components, leaf
            // first, NUL-terminated.
            let line = text
                .lines()
                .find(|l| {
                    l.split(':')
                        .nth(1)
                        .is_some_and(|c| c.split(',').any(|c| c == "freezer"))
                })
                .or_else(|| text.lines().find(|l| l.starts_with("0::")));
            if let Some(line) = line {
                let path = line.splitn(3, ':').nth(2).unwrap();
                let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
                let cut = comps.len() > tracer_common::event::JOB_DEPTH;
                let mut buf = Vec::new();
                for c in comps.iter().rev().take(tracer_common::event::JOB_DEPTH) {
                    buf.extend_from_slice(c.as_bytes());
                    buf.push(0);
                }
                assert_eq!(
                    from_leaf_names(&buf, cut),
                    from_path(path),
                    "{name}: kernel view"
                );
            }
        }
    }

    #[test]
    fn owners_and_submitters() {
        let j = from_path("/slurm/uid_1003/job_1/step_batch").unwrap();
        assert_eq!(owner(&j, Some(0)), Some(1003));
        let v2 = from_path("/system.slice/slurmstepd.scope/job_1/step_0/slurm").unwrap();
        assert_eq!(owner(&v2, Some(0)), None);
        assert_eq!(owner(&v2, Some(1003)), Some(1003));
        assert!(is_submit(b"/usr/bin/sbatch"));
        assert!(is_submit(b"srun"));
        assert!(!is_submit(b"/usr/bin/squeue"));
    }
}
