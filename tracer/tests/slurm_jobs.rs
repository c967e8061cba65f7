#![cfg(feature = "privileged")]
//! Privileged end to end with a real single-node Slurm (tests/common/slurm.rs):
//! a normal user submits a batch job (several commands and an `srun` step),
//! runs an interactive `srun`, and submits one more job from a real ssh login
//! (pam_loginuid, so the `sbatch` exec carries that login's auid and ses).
//! tracer's eBPF backend records it all; the checks read the raw log.
//!
//! The scenario and the parsed exec records ([`JobRun`], [`JobRun::execs`])
//! are kept apart from the assertions so that the job fields (`job`,
//! `job_step`, `job_uid`) and `tracer report --by job` can be checked on
//! the same run. A second test compares the real `/proc/PID/cgroup` of job
//! processes with `tests/fixtures/cgroup/` (and regenerates them with
//! `WRITE_FIXTURES=1`), so the unit-test fixtures stay what Slurm really does.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::slurm::{parse_job_id, parse_job_line, Slurm};
use common::ssh::SshServer;
use common::*;
use serde_json::Value;

/// The job user: a normal account created (and removed) by the ssh harness,
/// so it can also log in.
const USER: &str = "tracer-slurm-user";

const JOB_TIMEOUT: Duration = Duration::from_secs(60);

/// The commands of the scenario, by name, with their exact argv. Each is
/// unique in the run: the `srun` and `sbatch` client execs that carry the
/// same words have other argvs.
const MARKERS: &[(&str, &[&str])] = &[
    ("batch_echo", &["/bin/echo", "tracer-job-marker-1"]),
    ("batch_id", &["/usr/bin/id", "-u", USER]),
    ("batch_sleep", &["/bin/sleep", "0.21"]),
    ("step_echo", &["/bin/echo", "tracer-step-marker"]),
    (
        "interactive_echo",
        &["/bin/echo", "tracer-interactive-marker"],
    ),
    ("salloc_echo", &["/bin/echo", "tracer-salloc-marker"]),
    ("login_echo", &["/bin/echo", "tracer-login-marker"]),
    ("ssh_job_echo", &["/bin/echo", "tracer-ssh-job-marker"]),
];

/// The batch job: three commands in the batch step, one `srun` step.
fn batch_script() -> String {
    format!(
        "#!/bin/sh\n\
         /bin/echo tracer-job-marker-1\n\
         /usr/bin/id -u {USER}\n\
         /bin/sleep 0.21\n\
         /usr/bin/srun /bin/echo tracer-step-marker\n"
    )
}

const SSH_JOB_SCRIPT: &str = "#!/bin/sh\n/bin/echo tracer-ssh-job-marker\n";

/// What the scenario ran and what tracer recorded of it.
struct JobRun {
    lines: Vec<Value>,
    uid: u32,
    node: String,
    /// The batch job submitted with runuser (no login of its own).
    batch_job: u32,
    /// The job `srun` created for the interactive step.
    interactive_job: u32,
    /// The job `salloc` created; its shell ran in the interactive step.
    salloc_job: u32,
    /// The job submitted from the ssh login.
    ssh_job: u32,
    /// The audit session of that ssh login (from its `/bin/echo` exec).
    login_ses: u64,
}

impl JobRun {
    /// The exec records of [`MARKERS`], by marker name: the one exec whose
    /// argv is exactly the marker's. Panics naming the marker when it is
    /// missing or recorded more than once.
    fn execs(&self) -> BTreeMap<&'static str, &Value> {
        MARKERS
            .iter()
            .map(|(name, argv)| {
                let found = execs_with_argv(&self.lines, argv);
                assert_eq!(
                    found.len(),
                    1,
                    "{name}: exactly one exec of {argv:?}, found {}:\n{found:#?}\nall execs:\n{}",
                    found.len(),
                    exec_summary(&self.lines)
                );
                (*name, found[0])
            })
            .collect()
    }

    /// The exec record of `sbatch` run in the ssh login.
    fn login_sbatch(&self) -> &Value {
        let found: Vec<&Value> = self
            .lines
            .iter()
            .filter(|l| l["type"] == "exec")
            .filter(|l| {
                argv_of(l).first().is_some_and(|a| a.ends_with("sbatch"))
                    && argv_of(l).iter().any(|a| a == "tracer-ssh")
            })
            .collect();
        assert_eq!(found.len(), 1, "the login's sbatch exec: {found:#?}");
        found[0]
    }

    /// `tracer report --format json ARGS` over the recorded log.
    fn report_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--format", "json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.report(&all)).unwrap()
    }

    /// `tracer report ARGS` over the recorded log: its standard output.
    fn report(&self, args: &[&str]) -> String {
        report_lines(&self.lines, args)
    }
}

fn execs_with_argv<'a>(lines: &'a [Value], argv: &[&str]) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "exec")
        .filter(|l| l["argv"].as_array().is_some_and(|a| a.len() == argv.len()))
        .filter(|l| argv_of(l) == argv)
        .collect()
}

/// One line per exec (pid, uid, auid, cgroup, argv), for failure messages.
fn exec_summary(lines: &[Value]) -> String {
    lines
        .iter()
        .filter(|l| l["type"] == "exec")
        .map(|l| {
            format!(
                "pid={} uid={} auid={} cgroup={} argv={}",
                l["pid"], l["uid"], l["auid"], l["cgroup"], l["argv"]
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn find_job(slurm: &Slurm, name: &str) -> u32 {
    let jobs = slurm.jobs().unwrap();
    let mine: Vec<_> = jobs.iter().filter(|j| j.name == name).collect();
    assert_eq!(mine.len(), 1, "one job named {name}: {jobs:?}");
    mine[0].id
}

/// Runs the scenario under tracer's eBPF backend: batch job, interactive
/// srun, a job submitted from an ssh login.
fn run_scenario() -> JobRun {
    let ssh = SshServer::start(&[USER], &[]);
    let t = Tracer::start(&["--backend", "ebpf", "--no-proc-scan"]);
    let slurm = Slurm::start().unwrap_or_else(|e| panic!("starting Slurm: {e:#}"));
    let uid = uid_of(USER);

    // The batch job, submitted without a login.
    let batch_job = slurm
        .sbatch_as_with(USER, &batch_script(), &["-J", "tracer-batch"])
        .unwrap_or_else(|e| panic!("sbatch: {e:#}"));
    let state = slurm.wait_job(batch_job, JOB_TIMEOUT).unwrap();
    let out = slurm.job_output(batch_job);
    assert_eq!(
        state,
        "COMPLETED",
        "batch job {batch_job}: {out}\n{}",
        slurm.logs()
    );
    assert_eq!(
        out,
        format!("tracer-job-marker-1\n{uid}\ntracer-step-marker\n"),
        "what the batch job printed"
    );

    // An interactive srun: a job of its own with one step.
    let o = slurm
        .srun_as(
            USER,
            &[
                "-J",
                "tracer-interactive",
                "/bin/echo",
                "tracer-interactive-marker",
            ],
        )
        .unwrap_or_else(|e| panic!("srun: {e:#}"));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "tracer-interactive-marker\n"
    );
    let interactive_job = find_job(&slurm, "tracer-interactive");
    assert_eq!(
        slurm.wait_job(interactive_job, JOB_TIMEOUT).unwrap(),
        "COMPLETED"
    );

    // salloc: the user's shell in the job's interactive step, a command
    // typed into it.
    let term = slurm
        .salloc_shell_as(
            USER,
            &["-J", "tracer-salloc"],
            "/bin/echo tracer-salloc-marker",
        )
        .unwrap_or_else(|e| panic!("salloc: {e:#}"));
    assert!(
        // A line of output, not the echo of the typed line; bash's terminal
        // escapes (bracketed paste) may precede it.
        term.lines()
            .any(|l| l.trim_end().ends_with("tracer-salloc-marker") && !l.contains("/bin/echo")),
        "the typed command's output: {term}"
    );
    let salloc_job = find_job(&slurm, "tracer-salloc");
    assert_eq!(
        slurm.wait_job(salloc_job, JOB_TIMEOUT).unwrap(),
        "COMPLETED"
    );

    // A job submitted from a real login session.
    let script = slurm.jobs_dir().join("ssh-job.sh");
    std::fs::write(&script, SSH_JOB_SCRIPT).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let login = ssh.login(
        USER,
        &format!(
            "/bin/echo tracer-login-marker; SLURM_CONF={conf} /usr/bin/sbatch --parsable -J tracer-ssh -o {jobs}/slurm-%j.out {script}",
            conf = slurm.conf().display(),
            jobs = slurm.jobs_dir().display(),
            script = script.display(),
        ),
    );
    let stdout = String::from_utf8_lossy(&login.stdout).to_string();
    assert!(
        login.status.success(),
        "ssh login with sbatch: {login:?}\nsshd: {}",
        ssh.log()
    );
    let ssh_job = parse_job_id(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        slurm.wait_job(ssh_job, JOB_TIMEOUT).unwrap(),
        "COMPLETED",
        "{}",
        slurm.logs()
    );
    assert_eq!(slurm.job_output(ssh_job), "tracer-ssh-job-marker\n");

    let node = slurm.node.clone();
    drop(slurm);
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let login_ses = execs_with_argv(&lines, &["/bin/echo", "tracer-login-marker"])
        .first()
        .and_then(|e| e["ses"].as_u64())
        .unwrap_or_else(|| panic!("the login's echo\n{}", exec_summary(&lines)));
    drop(ssh);
    JobRun {
        lines,
        uid,
        node,
        batch_job,
        interactive_job,
        salloc_job,
        ssh_job,
        login_ses,
    }
}

#[test]
fn ebpf_slurm_job_commands_are_recorded() {
    let _g = global_lock();
    let started = std::time::Instant::now();
    let run = run_scenario();
    let execs = run.execs();
    // Every command of the jobs ran as the job's user, and outside any
    // login: jobs descend from slurmd, which has no login uid.
    for name in [
        "batch_echo",
        "batch_id",
        "batch_sleep",
        "step_echo",
        "interactive_echo",
        "salloc_echo",
        "ssh_job_echo",
    ] {
        let e = execs[name];
        assert_eq!(e["uid"], run.uid, "{name} runs as the job user: {e}");
        assert_eq!(
            e["auid"],
            u32::MAX,
            "{name}: a job process has no login uid: {e}"
        );
    }
    // The login's commands carry the login's identity; its sbatch is the
    // exec that links the login to the job it submitted.
    let echo = execs["login_echo"];
    assert_eq!(echo["auid"], run.uid, "{echo}");
    let sbatch = run.login_sbatch();
    assert_eq!(sbatch["auid"], run.uid, "the login's sbatch: {sbatch}");
    assert_eq!(sbatch["ses"], run.login_ses, "the login's sbatch: {sbatch}");
    let mut jobs = vec![
        run.batch_job,
        run.interactive_job,
        run.salloc_job,
        run.ssh_job,
    ];
    jobs.sort_unstable();
    jobs.dedup();
    assert_eq!(jobs.len(), 4, "four jobs: {jobs:?}");
    assert!(!run.node.is_empty());
    // The report finds the sbatch in the user's login session.
    let doc = run.report_json(&["-u", USER]);
    let sessions = doc["sessions"].as_array().unwrap();
    let in_login = sessions.iter().any(|s| {
        s["ses"] == run.login_ses
            && s["commands"].as_array().is_some_and(|cs| {
                cs.iter().any(|c| {
                    c["command"]
                        .as_str()
                        .is_some_and(|x| x.contains("sbatch") && x.contains("tracer-ssh"))
                })
            })
    });
    assert!(in_login, "the login's sbatch in the report: {doc:#}");

    // Job identity, from the kernel's cgroup membership: every command of
    // every job carries its job, its step and (v1: the cgroup names it) its
    // owner; commands of the login carry none.
    let expect = [
        ("batch_echo", run.batch_job, "batch"),
        ("batch_id", run.batch_job, "batch"),
        ("batch_sleep", run.batch_job, "batch"),
        ("step_echo", run.batch_job, "0"),
        ("interactive_echo", run.interactive_job, "0"),
        ("salloc_echo", run.salloc_job, "interactive"),
        ("ssh_job_echo", run.ssh_job, "batch"),
    ];
    let v1 = host_layout() != "v2";
    for (name, job, step) in expect {
        let e = execs[name];
        assert_eq!(e["job"], job.to_string(), "{name}: {e}");
        assert_eq!(e["job_step"], step, "{name}: {e}");
        if v1 {
            assert_eq!(e["job_uid"], run.uid, "{name}: {e}");
        }
    }
    let login = execs["login_echo"];
    assert!(login.get("job").is_none(), "login_echo: {login}");

    // The report: each job is a batch_job session of its owner (found by
    // `-u`), with its steps, its node and its commands; the job submitted
    // from the ssh login is linked to that login.
    let jobs = doc["jobs"].as_array().expect("jobs in the report");
    let job_of = |id: u32| -> &Value {
        jobs.iter()
            .find(|j| j["job"].as_str() == Some(id.to_string().as_str()))
            .unwrap_or_else(|| panic!("job {id} in `report -u {USER}`: {doc:#}"))
    };
    let host = execs["batch_echo"]["host"].clone();
    let per_job: [(u32, &[&str], &[&str]); 4] = [
        (
            run.batch_job,
            &["batch_echo", "batch_id", "batch_sleep", "step_echo"],
            &["batch", "0"],
        ),
        (run.interactive_job, &["interactive_echo"], &["0"]),
        (run.salloc_job, &["salloc_echo"], &["interactive"]),
        (run.ssh_job, &["ssh_job_echo"], &["batch"]),
    ];
    for (id, markers, steps) in per_job {
        let j = job_of(id);
        assert_eq!(j["kind"], "batch_job", "{j:#}");
        assert_eq!(j["uid"], run.uid, "{j:#}");
        assert_eq!(j["user"], USER, "{j:#}");
        assert_eq!(j["nodes"], serde_json::json!([host]), "{j:#}");
        let got: Vec<&str> = j["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for s in steps {
            assert!(got.contains(s), "job {id}: step {s} in {got:?}");
        }
        let cmds = j["commands"].as_array().unwrap();
        for m in markers {
            let want = &execs[m]["argv"];
            let c = cmds
                .iter()
                .find(|c| &c["argv"] == want)
                .unwrap_or_else(|| panic!("job {id}: {m} among its commands: {j:#}"));
            assert_eq!(c["job"], id.to_string(), "{c:#}");
        }
        assert!(j["start"].is_string() && j["end"].is_string(), "{j:#}");
        assert!(j["start"].as_str() <= j["end"].as_str(), "{j:#}");
    }
    // The ancestry cross-check: no exec left the job its parent ran in.
    let all = run.report_json(&[]);
    assert!(all["stats"].get("left_job").is_none(), "{:#}", all["stats"]);
    let linked = &job_of(run.ssh_job)["submitted_from"];
    assert_eq!(
        linked["ses"], run.login_ses,
        "the ssh job's login: {linked:#}"
    );
    assert_eq!(linked["auid"], run.uid, "{linked:#}");
    assert_eq!(linked["link"], "likely", "{linked:#}");
    assert!(
        linked["argv"].as_array().unwrap()[0]
            .as_str()
            .unwrap()
            .ends_with("sbatch"),
        "{linked:#}"
    );
    // Submitted with runuser, outside any login: nothing to link.
    for id in [run.batch_job, run.interactive_job, run.salloc_job] {
        assert!(
            job_of(id)["submitted_from"].is_null(),
            "job {id}: {:#}",
            job_of(id)
        );
    }

    // `--by job --job N`: one job, every command of it with its step.
    let id = run.batch_job.to_string();
    let by_job = run.report_json(&["--by", "job", "--job", &id]);
    let only = by_job["jobs"].as_array().unwrap();
    assert_eq!(only.len(), 1, "{by_job:#}");
    let step_of = |m: &str| {
        only[0]["commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["argv"] == execs[m]["argv"])
            .map(|c| c["job_step"].clone())
    };
    assert_eq!(step_of("batch_echo"), Some(Value::from("batch")));
    assert_eq!(step_of("step_echo"), Some(Value::from("0")));
    assert_eq!(step_of("interactive_echo"), None, "another job's command");

    // `--kind batch_job`: the jobs alone, none of the login sessions.
    let kinds = run.report_json(&["--kind", "batch_job"]);
    let sessions = kinds["sessions"].as_array().map_or(0, Vec::len);
    assert_eq!(sessions, 0, "--kind batch_job kept sessions: {kinds:#}");
    let ids: BTreeSet<&str> = kinds["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["job"].as_str())
        .collect();
    let want: BTreeSet<String> = [
        run.batch_job,
        run.interactive_job,
        run.salloc_job,
        run.ssh_job,
    ]
    .iter()
    .map(u32::to_string)
    .collect();
    assert_eq!(ids, want.iter().map(String::as_str).collect(), "{kinds:#}");

    // CSV: a job's rows name its owner in the user column (its processes
    // have no login uid), with the job id, the step and the group kind.
    let csv = run.report(&["--format", "csv", "-u", USER]);
    let mut rows = csv.split("\r\n").filter(|r| !r.is_empty());
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (kind, user, auid, job, step, command) = (
        col("group_kind"),
        col("user"),
        col("auid"),
        col("job"),
        col("job_step"),
        col("command"),
    );
    let step_echo = argv_of(execs["step_echo"]).join(" ");
    let mut job_rows = 0;
    let mut step_echo_seen = false;
    for r in rows {
        // The scenario's cells hold no quotes or commas.
        let f: Vec<&str> = r.split(',').collect();
        assert_eq!(f.len(), header.len(), "CSV row {r:?}");
        if f[kind] != "job" {
            continue;
        }
        job_rows += 1;
        assert_eq!(f[user], USER, "CSV job row {r:?}");
        assert_eq!(f[auid], "", "CSV job row {r:?}");
        assert!(want.contains(f[job]), "CSV job row {r:?}");
        if f[command] == step_echo {
            step_echo_seen = true;
            assert_eq!(
                (f[job], f[step]),
                (id.as_str(), "0"),
                "CSV row of the srun step {r:?}"
            );
        }
    }
    assert!(job_rows >= 7, "{job_rows} CSV job rows:\n{csv}");
    assert!(step_echo_seen, "the srun step's echo in the CSV:\n{csv}");

    // Text by job: the job is a heading with its owner.
    let text = run.report(&["--by", "job", "--utc"]);
    assert!(
        text.lines()
            .any(|l| l.contains(&format!("batch job {} of ", run.batch_job)) && l.contains(USER)),
        "the batch job's heading with its owner in the text report:\n{text}"
    );
    eprintln!("scenario and checks took {:?}", started.elapsed());
}

/// The `scontrol show job -o` and `sbatch --parsable` parsers of the harness.
#[test]
fn slurm_harness_parsers() {
    let j = parse_job_line(
        "JobId=3 JobName=job-x.sh UserId=tracer-slurm(1001) GroupId=tracer-slurm(1001) \
         MCS_label=N/A Priority=1 JobState=COMPLETED Reason=None",
    )
    .unwrap();
    assert_eq!((j.id, j.name.as_str(), j.uid), (3, "job-x.sh", 1001));
    assert_eq!(j.state, "COMPLETED");
    assert!(parse_job_line("JobId=3 JobState=RUNNING").is_err());
    assert_eq!(parse_job_id("17;tracertest\n").unwrap(), 17);
    assert!(parse_job_id("sbatch: error").is_err());
}

/// How this host mounts cgroups, as the fixture names say it.
fn host_layout() -> &'static str {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
    let types: Vec<(String, String)> = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2).then(|| (f[1].to_string(), f[2].to_string()))
        })
        .collect();
    let v1 = types.iter().any(|(_, t)| t == "cgroup");
    let v2 = types.iter().any(|(_, t)| t == "cgroup2");
    match (v1, v2) {
        (true, true) => "hybrid",
        (true, false) => "legacy-v1",
        _ => "v2",
    }
}

/// The Slurm part of a `/proc/PID/cgroup`: controller list -> path, for the
/// lines Slurm placed (hierarchy ids and the host's own cgroups differ from
/// machine to machine), with the uid, job id and node name replaced.
fn slurm_layout(content: &str, node: &str) -> BTreeMap<String, String> {
    let digits = |s: &str, key: &str| -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find(key) {
            out.push_str(&rest[..i + key.len()]);
            rest = &rest[i + key.len()..];
            let n = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            if n > 0 {
                out.push('N');
            }
            rest = &rest[n..];
        }
        out.push_str(rest);
        out
    };
    content
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_id, ctrl, path) = (it.next()?, it.next()?, it.next()?);
            path.contains("slurm").then(|| {
                let p = path
                    .replace(&format!("slurm_{node}/"), "slurm_NODE/")
                    .replace(
                        &format!("/{node}_slurmstepd.scope"),
                        "/NODE_slurmstepd.scope",
                    );
                (ctrl.to_string(), digits(&digits(&p, "uid_"), "job_"))
            })
        })
        .collect()
}

/// The real `/proc/PID/cgroup` of job processes (batch step, numbered steps
/// with one and two tasks, the batch and extern slurmstepd, an interactive
/// srun, a shell in salloc's interactive step) match `tests/fixtures/cgroup/slurm22.05-debian12-<layout>-*.cgroup`
/// in what Slurm placed; `WRITE_FIXTURES=1` records them from this host.
#[test]
fn slurm_job_cgroups_match_fixtures() {
    let _g = global_lock();
    let user = common::slurm::TestUser::ensure("tracer-slurm-fixture").unwrap();
    let slurm = Slurm::start().unwrap_or_else(|e| panic!("starting Slurm: {e:#}"));
    let out = slurm.jobs_dir().join("cg");
    std::fs::create_dir(&out).unwrap();
    std::fs::set_permissions(&out, std::os::unix::fs::PermissionsExt::from_mode(0o1777)).unwrap();
    let o = out.display();
    let script = format!(
        "#!/bin/sh\n\
         cat /proc/self/cgroup > {o}/batch.cgroup\n\
         /usr/bin/srun -n1 /bin/sh -c 'cat /proc/self/cgroup > {o}/step0.cgroup'\n\
         /usr/bin/srun -n2 /bin/sh -c 'cat /proc/self/cgroup > {o}/step1-task$SLURM_PROCID.cgroup'\n\
         touch {o}/ready\n\
         i=0; while [ ! -e {o}/go ] && [ $i -lt 300 ]; do /bin/sleep 0.1; i=$((i+1)); done\n"
    );
    let job = slurm
        .sbatch_as_with(&user.name, &script, &["-n2", "-J", "tracer-cgroups"])
        .unwrap_or_else(|e| panic!("sbatch: {e:#}"));
    common::daemon::wait_for("the job's steps", JOB_TIMEOUT, || {
        out.join("ready").exists()
    });
    // The job's slurmstepds, found through the job's own cgroup (the freezer
    // one on v1: proctrack/cgroup keeps every process of the job there).
    let mut stepds = BTreeMap::new();
    for p in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        for step in ["batch", "extern"] {
            if cmd.trim() == format!("slurmstepd: [{job}.{step}]") {
                let cg = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
                stepds.insert(format!("{step}-stepd"), cg);
            }
        }
    }
    std::fs::write(out.join("go"), "").unwrap();
    assert_eq!(
        slurm.wait_job(job, JOB_TIMEOUT).unwrap(),
        "COMPLETED",
        "{}",
        slurm.logs()
    );
    let inter = slurm
        .srun_as(&user.name, &["/bin/cat", "/proc/self/cgroup"])
        .unwrap_or_else(|e| panic!("srun: {e:#}"));

    let typed = format!("cat /proc/self/cgroup > {o}/salloc-interactive.cgroup");
    slurm
        .salloc_shell_as(&user.name, &["-J", "tracer-salloc"], &typed)
        .unwrap_or_else(|e| panic!("salloc: {e:#}"));

    let mut live: BTreeMap<String, String> = stepds;
    for case in [
        "batch",
        "step0",
        "step1-task0",
        "step1-task1",
        "salloc-interactive",
    ] {
        let c = std::fs::read_to_string(out.join(format!("{case}.cgroup")))
            .unwrap_or_else(|e| panic!("{case}.cgroup from the job: {e}"));
        live.insert(case.to_string(), c);
    }
    live.insert(
        "interactive".to_string(),
        String::from_utf8(inter.stdout).unwrap(),
    );
    assert_eq!(live.len(), 8, "every case recorded: {:?}", live.keys());

    let dir = workspace_root().join("tracer/tests/fixtures/cgroup");
    let layout = host_layout();
    for (case, content) in &live {
        let path = dir.join(format!("slurm22.05-debian12-{layout}-{case}.cgroup"));
        if std::env::var_os("WRITE_FIXTURES").is_some() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, content).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; no fixture for a {layout} host: record them with WRITE_FIXTURES=1 \
                 and say where they came from in SOURCES.md",
                path.display()
            )
        });
        let (got, want) = (
            slurm_layout(content, &slurm.node),
            slurm_layout(&want, &slurm.node),
        );
        assert!(!got.is_empty(), "{case}: no Slurm cgroup in {content}");
        assert_eq!(
            got,
            want,
            "{case}: the live layout differs from {}",
            path.display()
        );
    }
}

#[test]
fn slurm_layout_normalises_ids_and_node() {
    let v1 = "6:freezer:/slurm_vm/uid_1001/job_12/step_batch\n5:devices:/\n\
              4:memory:/slurm_vm/uid_1001/job_12/step_batch/task_0\n";
    let l = slurm_layout(v1, "vm");
    assert_eq!(l.len(), 2);
    assert_eq!(l["freezer"], "/slurm_NODE/uid_N/job_N/step_batch");
    assert_eq!(l["memory"], "/slurm_NODE/uid_N/job_N/step_batch/task_0");
    let v2 = "0::/system.slice/cn1_slurmstepd.scope/job_840392/step_0/user/task_0\n";
    assert_eq!(
        slurm_layout(v2, "cn1")[""],
        "/system.slice/NODE_slurmstepd.scope/job_N/step_0/user/task_0"
    );
}
