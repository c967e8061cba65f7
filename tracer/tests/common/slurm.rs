//! A real single-node Slurm for the job tests: Debian's `slurm-wlm` 22.05
//! (`xtask/setup.sh test`) with its own `munged`, `slurmctld` and `slurmd`,
//! configured and run entirely from a temp dir on 127.0.0.1 and free ports,
//! with the cgroup plugins a production cluster uses (`proctrack/cgroup`,
//! `task/cgroup`, `jobacct_gather/cgroup`), so that job processes land in the
//! same cgroup layout as on a real compute node. Everything is undone on drop,
//! on every path: jobs cancelled, the three daemons stopped by pid and waited
//! for, job processes left behind killed by pid, the `slurm_<node>` cgroups
//! removed.
//!
//! Callers hold [`super::global_lock`]: the daemons create cgroups in the
//! host's hierarchies and there must be only one such Slurm at a time.
//!
//! Workarounds and findings on the development VM (Debian 12, kernel 6.x,
//! hybrid cgroup host: v1 controllers at /sys/fs/cgroup/<controller>, an
//! empty v2 hierarchy at /sys/fs/cgroup/unified, this process's memory
//! cgroup nested at /process_api/...):
//! - cgroup/v2 is refused on a hybrid host (slurmd: "Hybrid mode is not
//!   supported"), so the plugin is chosen from the host: v2 only when
//!   /sys/fs/cgroup itself is a cgroup2 mount ([`CgroupVersion::of_host`]).
//! - The nested memory cgroup of the test process needs no workaround:
//!   Slurm's cgroup/v1 plugin creates `slurm_<node>` at the root of each v1
//!   hierarchy, and `ConstrainRAMSpace=yes` / `ConstrainDevices=yes` work.
//! - slurmd logs "mpi/pmix_v4: init: ... can not load PMIx library" at
//!   start even with `MpiDefault=none` (it probes every MPI plugin Debian
//!   ships; libpmix is not installed). Harmless: nothing here uses PMIx.
//! - Slurm leaves `slurm_<node>` (and, after a crash, `uid_N/job_N`) in the
//!   v1 hierarchies when slurmd stops; [`Drop`] removes them.
//! - The cgroup/v2 configuration (pure v2 hosts) is written but has not run
//!   here: this VM is hybrid. [`Slurm::start`] refuses to run when Slurm's
//!   cgroups already hold processes (another Slurm on the host), so Drop only
//!   ever kills what this Slurm started.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::daemon::free_port;

/// The cgroup plugin Slurm is configured with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CgroupVersion {
    V1,
    V2,
}

impl CgroupVersion {
    /// v2 when /sys/fs/cgroup is itself a cgroup2 mount (a pure v2 host);
    /// v1 on hybrid and legacy hosts, where slurmd refuses cgroup/v2.
    pub fn of_host() -> CgroupVersion {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let pure_v2 = mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[1] == "/sys/fs/cgroup" && f[2] == "cgroup2"
        });
        if pure_v2 {
            CgroupVersion::V2
        } else {
            CgroupVersion::V1
        }
    }

    fn plugin(self) -> &'static str {
        match self {
            CgroupVersion::V1 => "cgroup/v1",
            CgroupVersion::V2 => "cgroup/v2",
        }
    }
}

/// One job as `scontrol show job` reports it.
#[derive(Clone, Debug)]
pub struct JobInfo {
    pub id: u32,
    pub name: String,
    /// `UserId=NAME(UID)`: the uid.
    pub uid: u32,
    pub state: String,
}

/// A running single-node Slurm; stopped and cleaned up on drop.
pub struct Slurm {
    dir: tempfile::TempDir,
    /// The node's name: this host's short hostname, as slurmd finds itself.
    pub node: String,
    pub cgroup: CgroupVersion,
    munged: Option<Child>,
    slurmctld: Option<Child>,
    slurmd: Option<Child>,
}

const TERMINAL: &[&str] = &[
    "COMPLETED",
    "FAILED",
    "CANCELLED",
    "TIMEOUT",
    "NODE_FAIL",
    "OUT_OF_MEMORY",
    "PREEMPTED",
    "BOOT_FAIL",
    "DEADLINE",
];

fn short_hostname() -> Result<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // within it (or truncates, which the CStr search below handles).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        bail!("gethostname: {}", std::io::Error::last_os_error());
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let full = std::str::from_utf8(&buf[..end]).context("hostname is not UTF-8")?;
    Ok(full.split('.').next().unwrap_or(full).to_string())
}

fn tail(path: &Path, n: usize) -> String {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn checked(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
    }
    Ok(out)
}

/// SIGTERM, then wait (bounded), then SIGKILL.
fn stop_child(child: &mut Child, grace: Duration) {
    // SAFETY: kill on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The mount points of the cgroup v1 hierarchies (`type cgroup`).
fn v1_mounts() -> Vec<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == "cgroup").then(|| PathBuf::from(f[1]))
        })
        .collect()
}

/// Every cgroup directory under `root`, deepest first.
fn cgroup_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    stack.push(e.path());
                }
            }
        }
        out.push(d);
    }
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out
}

/// Slurm's top cgroups on this host: `slurm_<node>` (multiple-slurmd builds,
/// Debian's) or `slurm` in every v1 hierarchy; on a pure v2 host the stepd
/// scope, `<node>_slurmstepd.scope` or `slurmstepd.scope`, which also holds
/// the `slurmstepd infinity` process slurmd starts there.
fn slurm_roots(node: &str) -> Vec<PathBuf> {
    let mut cands = Vec::new();
    for m in v1_mounts() {
        cands.push(m.join(format!("slurm_{node}")));
        cands.push(m.join("slurm"));
    }
    let slice = Path::new("/sys/fs/cgroup/system.slice");
    cands.push(slice.join(format!("{node}_slurmstepd.scope")));
    cands.push(slice.join("slurmstepd.scope"));
    cands.into_iter().filter(|p| p.is_dir()).collect()
}

/// Pids in Slurm's cgroups.
fn pids_in_cgroups(node: &str) -> Vec<i32> {
    let mut pids = Vec::new();
    for root in slurm_roots(node) {
        for d in cgroup_dirs(&root) {
            let procs = std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// Removes Slurm's empty cgroups, deepest first (rmdir only succeeds on
/// empty cgroups, so nothing still in use is touched).
fn remove_cgroups(node: &str) {
    for root in slurm_roots(node) {
        for d in cgroup_dirs(&root) {
            let _ = std::fs::remove_dir(&d);
        }
    }
}

impl Slurm {
    /// Writes a munge key and the Slurm configuration into a temp dir, starts
    /// munged, slurmctld and slurmd, and waits until the node is idle.
    pub fn start() -> Result<Slurm> {
        let dir = tempfile::Builder::new()
            .prefix("tracer-slurm-")
            .tempdir()
            .context("creating the Slurm temp dir")?;
        let node = short_hostname()?;
        // Processes in Slurm's cgroups before we start are another Slurm's
        // (a real one, or a run killed before its Drop): never touch them.
        let others = pids_in_cgroups(&node);
        if !others.is_empty() {
            bail!(
                "processes {others:?} are already in Slurm's cgroups ({:?}): another Slurm \
                 runs on this host; stop it first",
                slurm_roots(&node)
            );
        }
        // Empty leftovers of an interrupted earlier run would confuse slurmd.
        remove_cgroups(&node);
        let mut s = Slurm {
            dir,
            node,
            cgroup: CgroupVersion::of_host(),
            munged: None,
            slurmctld: None,
            slurmd: None,
        };
        let d = s.dir.path().to_path_buf();
        // Job users read slurm.conf and reach the munge socket through here;
        // batch output goes to jobs/, writable by all (sticky, like /tmp).
        set_mode(&d, 0o755)?;
        for sub in ["munge", "state", "spool", "log"] {
            std::fs::create_dir(d.join(sub))?;
            set_mode(&d.join(sub), 0o755)?;
        }
        std::fs::create_dir(d.join("jobs"))?;
        set_mode(&d.join("jobs"), 0o1777)?;

        // munged refuses a key readable by others.
        let key = d.join("munge/munge.key");
        let mut bytes = vec![0u8; 1024];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
            .context("reading /dev/urandom for the munge key")?;
        std::fs::write(&key, &bytes)?;
        set_mode(&key, 0o400)?;
        let munged = Command::new("munged")
            .arg("--foreground")
            .arg(format!("--key-file={}", key.display()))
            .arg(format!("--socket={}", s.socket().display()))
            .arg(format!(
                "--pid-file={}",
                d.join("munge/munged.pid").display()
            ))
            .arg(format!(
                "--seed-file={}",
                d.join("munge/munged.seed").display()
            ))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(s.log("munged"))?)
            .spawn()
            .context("starting munged (install munge: xtask/setup.sh test)")?;
        s.munged = Some(munged);
        s.wait_until(
            "munged to create its socket",
            Duration::from_secs(10),
            |s| Ok(s.socket().exists()),
        )?;

        s.write_conf()?;
        let ctld = Command::new("slurmctld")
            .args(["-D", "-i", "-f"])
            .arg(s.conf())
            .env("SLURM_CONF", s.conf())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log/slurmctld.stderr"))?)
            .spawn()
            .context("starting slurmctld (install slurmctld: xtask/setup.sh test)")?;
        s.slurmctld = Some(ctld);
        s.wait_until("slurmctld to answer", Duration::from_secs(20), |s| {
            Ok(s.command("scontrol").arg("ping").output()?.status.success())
        })?;
        let slurmd = Command::new("slurmd")
            .args(["-D", "-f"])
            .arg(s.conf())
            .env("SLURM_CONF", s.conf())
            // cgroup/v2: with INVOCATION_ID set, slurmd believes systemd
            // gave it a cgroup of its own (cgroup_v2.html, "manual startup").
            .env_remove("INVOCATION_ID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("log/slurmd.stderr"))?)
            .spawn()
            .context("starting slurmd (install slurmd: xtask/setup.sh test)")?;
        s.slurmd = Some(slurmd);
        s.wait_until(
            "the node to be idle in sinfo",
            Duration::from_secs(30),
            |s| {
                let out = s
                    .command("sinfo")
                    .args(["-h", "-n", &s.node, "-o", "%t"])
                    .output()?;
                Ok(String::from_utf8_lossy(&out.stdout).trim() == "idle")
            },
        )?;
        Ok(s)
    }

    /// Polls `f` until it holds; on timeout (or a daemon exiting) the error
    /// carries the tails of the daemons' logs.
    fn wait_until(
        &mut self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&Slurm) -> Result<bool>,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if f(self).unwrap_or(false) {
                return Ok(());
            }
            let mut exited = None;
            for (name, c) in [
                ("munged", &mut self.munged),
                ("slurmctld", &mut self.slurmctld),
                ("slurmd", &mut self.slurmd),
            ] {
                if let Some(st) = c.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                    *c = None;
                    exited = Some((name, st));
                }
            }
            if let Some((name, st)) = exited {
                bail!(
                    "{name} exited ({st}) while waiting for {what}\n{}",
                    self.logs()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every daemon's log, for error messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in [
            "munged",
            "slurmctld",
            "slurmctld.stderr",
            "slurmd",
            "slurmd.stderr",
        ] {
            let p = self.log(name);
            out.push_str(&format!("--- {} ---\n{}\n", p.display(), tail(&p, 25)));
        }
        out
    }

    fn log(&self, name: &str) -> PathBuf {
        let file = if name.ends_with(".stderr") {
            name.to_string()
        } else {
            format!("{name}.log")
        };
        self.dir.path().join("log").join(file)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("munge/munge.socket")
    }

    /// The slurm.conf every command must use (`SLURM_CONF`).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    /// The environment a Slurm client needs: `SLURM_CONF`.
    pub fn conf_env(&self) -> Vec<(String, String)> {
        vec![("SLURM_CONF".into(), self.conf().display().to_string())]
    }

    /// A world-writable (sticky) directory for job scripts and output.
    pub fn jobs_dir(&self) -> PathBuf {
        self.dir.path().join("jobs")
    }

    /// A Slurm client command run as root with this cluster's configuration.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", self.conf()).stdin(Stdio::null());
        c
    }

    /// A Slurm client command run as `user` (runuser, so no login session and
    /// no login uid of its own), with this cluster's configuration, in
    /// [`Slurm::jobs_dir`].
    ///
    /// `SHELL`, `HOME`, `USER` and `LOGNAME` come from the user's passwd
    /// entry, as a login sets them: `runuser -u` passes the caller's `SHELL`
    /// through, and a CI runner may have none, so salloc's interactive step
    /// (`srun ... --pty $SHELL`) would have no command to run.
    pub fn command_as(&self, user: &str, program: &str) -> Command {
        let (home, shell) = passwd_home_shell(user);
        let mut c = Command::new("runuser");
        c.args(["-u", user, "--", "env"])
            .arg(format!("SHELL={shell}"))
            .arg(format!("HOME={home}"))
            .arg(format!("USER={user}"))
            .arg(format!("LOGNAME={user}"))
            .arg(format!("SLURM_CONF={}", self.conf().display()))
            .arg(program)
            .current_dir(self.jobs_dir())
            .stdin(Stdio::null());
        c
    }

    fn write_conf(&self) -> Result<()> {
        let d = self.dir.path();
        // slurmd -C: this node's real CPUs, sockets, cores and memory.
        let out = checked(Command::new("slurmd").arg("-C"))?;
        let hw = String::from_utf8_lossy(&out.stdout);
        let node_line = hw
            .lines()
            .find(|l| l.starts_with("NodeName="))
            .ok_or_else(|| anyhow!("slurmd -C printed no NodeName line: {hw}"))?;
        // slurmd -C names the node after the hostname already; keep its
        // hardware fields and pin the address to loopback.
        let hw_fields: Vec<&str> = node_line
            .split_whitespace()
            .filter(|f| !f.starts_with("NodeName="))
            .collect();
        let (ctld_port, d_port) = (free_port(), free_port());
        let node = &self.node;
        let conf = format!(
            "# Written by tracer/tests/common/slurm.rs for one test run.\n\
             ClusterName=tracertest\n\
             SlurmctldHost={node}(127.0.0.1)\n\
             SlurmUser=root\n\
             SlurmdUser=root\n\
             AuthType=auth/munge\n\
             CredType=cred/munge\n\
             AuthInfo=socket={sock}\n\
             SlurmctldPort={ctld_port}\n\
             SlurmdPort={d_port}\n\
             StateSaveLocation={d}/state\n\
             SlurmdSpoolDir={d}/spool\n\
             SlurmctldPidFile={d}/state/slurmctld.pid\n\
             SlurmdPidFile={d}/spool/slurmd.pid\n\
             SlurmctldLogFile={ctld_log}\n\
             SlurmdLogFile={d_log}\n\
             SlurmdDebug=info\n\
             SlurmctldDebug=info\n\
             # Job processes in Slurm's own cgroups, as on a real compute node.\n\
             ProctrackType=proctrack/cgroup\n\
             TaskPlugin=task/cgroup\n\
             JobAcctGatherType=jobacct_gather/cgroup\n\
             # An extern step per job (what pam_slurm_adopt adopts ssh logins into).\n\
             PrologFlags=contain\n\
             # salloc runs the user's shell in the job's interactive step on the\n\
             # node (opt-in in slurm.conf, as many sites set it).\n\
             LaunchParameters=use_interactive_step\n\
             SchedulerType=sched/builtin\n\
             SelectType=select/cons_tres\n\
             SelectTypeParameters=CR_Core\n\
             ReturnToService=2\n\
             MpiDefault=none\n\
             AccountingStorageType=accounting_storage/none\n\
             # Finished jobs stay in scontrol show job for the test's lifetime.\n\
             MinJobAge=3600\n\
             NodeName={node} NodeAddr=127.0.0.1 {hw} State=UNKNOWN\n\
             PartitionName=test Nodes={node} Default=YES MaxTime=INFINITE State=UP\n",
            sock = self.socket().display(),
            d = d.display(),
            ctld_log = self.log("slurmctld").display(),
            d_log = self.log("slurmd").display(),
            hw = hw_fields.join(" "),
        );
        std::fs::write(self.conf(), conf)?;
        let mut cgroup = format!(
            "CgroupPlugin={}\n\
             CgroupMountpoint=/sys/fs/cgroup\n\
             ConstrainCores=yes\n\
             ConstrainRAMSpace=yes\n\
             ConstrainDevices=yes\n",
            self.cgroup.plugin()
        );
        if self.cgroup == CgroupVersion::V2 {
            // Not exercised on the development VM (hybrid host). slurmd asks
            // systemd over D-Bus for its stepd scope; a test host may have no
            // systemd as PID 1 or no D-Bus, and then plain mkdir is what
            // Slurm's cgroup_v2.html recommends for such systems.
            cgroup.push_str("IgnoreSystemdOnFailure=yes\n");
        }
        std::fs::write(d.join("cgroup.conf"), cgroup)?;
        set_mode(&self.conf(), 0o644)?;
        set_mode(&d.join("cgroup.conf"), 0o644)?;
        Ok(())
    }

    /// Submits `script` (written to a file in [`Slurm::jobs_dir`]) with
    /// `sbatch --parsable` as `user`; returns the job id. The job's output
    /// goes to `jobs/slurm-<id>.out` ([`Slurm::job_output`]).
    pub fn sbatch_as(&self, user: &str, script: &str) -> Result<u32> {
        self.sbatch_as_with(user, script, &[])
    }

    /// [`Slurm::sbatch_as`] with extra sbatch options (`-n2`, `-J NAME`).
    pub fn sbatch_as_with(&self, user: &str, script: &str, opts: &[&str]) -> Result<u32> {
        let path = tempfile::Builder::new()
            .prefix("job-")
            .suffix(".sh")
            .tempfile_in(self.jobs_dir())?
            .into_temp_path()
            .keep()?;
        std::fs::write(&path, script)?;
        set_mode(&path, 0o755)?;
        let out = checked(
            self.command_as(user, "sbatch")
                .arg("--parsable")
                .arg("-o")
                .arg(self.jobs_dir().join("slurm-%j.out"))
                .args(opts)
                .arg(&path),
        )?;
        parse_job_id(&String::from_utf8_lossy(&out.stdout))
    }

    /// Runs `srun ARGS` as `user` (an interactive job of its own) and
    /// returns its output; an error if srun fails.
    pub fn srun_as(&self, user: &str, args: &[&str]) -> Result<Output> {
        checked(self.command_as(user, "srun").args(args))
    }

    /// Runs `salloc OPTS` as `user` on a pseudo-terminal (`script`), the way a
    /// user types it: with `LaunchParameters=use_interactive_step` salloc
    /// starts the user's shell in the job's `interactive` step on the node.
    /// Once the shell prompts, `commands` are typed, then `exit`. Returns
    /// everything the terminal showed. `opts` are passed through a shell
    /// command line, so they must not need quoting.
    pub fn salloc_shell_as(&self, user: &str, opts: &[&str], commands: &str) -> Result<String> {
        use std::io::{Read, Write};
        use std::sync::{Arc, Mutex};
        let mut child = self
            .command_as(user, "script")
            .arg("-qec")
            .arg(format!("salloc {}", opts.join(" ")))
            .arg("/dev/null")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("running script(1) for salloc (util-linux)")?;
        let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
        let mut out = child.stdout.take().expect("piped stdout");
        let reader = {
            let seen = Arc::clone(&seen);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = out.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        let text =
            |seen: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&seen.lock().unwrap()).to_string();
        // The shell is reading once it has printed a prompt after salloc's
        // "ready for job" (input typed before that may be flushed when
        // salloc sets up the terminal).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = text(&seen);
            if t.find("ready for job")
                .is_some_and(|i| t[i..].contains("$ "))
            {
                break;
            }
            if child.try_wait()?.is_some() || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "salloc's shell did not prompt within 30 s; the terminal showed:\n{t}\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut stdin = child.stdin.take().expect("piped stdin");
        stdin.write_all(format!("{commands}\nexit\n").as_bytes())?;
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = child.try_wait()? {
                break st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "salloc did not end within 30 s of exit; the terminal showed:\n{}",
                    text(&seen)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        drop(stdin);
        let _ = reader.join();
        let t = text(&seen);
        if !status.success() {
            bail!("salloc exited with {status}; the terminal showed:\n{t}");
        }
        Ok(t)
    }

    /// Waits until job `id` has ended; returns its final state (`COMPLETED`,
    /// `FAILED`, ...). On timeout the error carries the daemons' logs.
    pub fn wait_job(&self, id: u32, timeout: Duration) -> Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(j) = self.jobs()?.into_iter().find(|j| j.id == id) {
                if TERMINAL.contains(&j.state.as_str()) {
                    return Ok(j.state);
                }
            } else {
                bail!("job {id} is not known to slurmctld");
            }
            if Instant::now() > deadline {
                bail!("job {id} did not end within {timeout:?}\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every job slurmctld knows (`scontrol show job -o`; finished jobs stay
    /// for `MinJobAge`).
    pub fn jobs(&self) -> Result<Vec<JobInfo>> {
        let out = self
            .command("scontrol")
            .args(["show", "job", "-o"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            bail!(
                "scontrol show job: {}{text}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        text.lines()
            .filter(|l| l.starts_with("JobId="))
            .map(parse_job_line)
            .collect()
    }

    /// The batch output of job `id` (`jobs/slurm-<id>.out`).
    pub fn job_output(&self, id: u32) -> String {
        std::fs::read_to_string(self.jobs_dir().join(format!("slurm-{id}.out"))).unwrap_or_default()
    }

    /// Cancels every job, waits (bounded) for them to end.
    fn cancel_all(&self) {
        let Ok(jobs) = self.jobs() else { return };
        let live: Vec<String> = jobs
            .iter()
            .filter(|j| !TERMINAL.contains(&j.state.as_str()))
            .map(|j| j.id.to_string())
            .collect();
        if live.is_empty() {
            return;
        }
        let _ = self.command("scancel").args(&live).output();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let done = self
                .jobs()
                .is_ok_and(|js| js.iter().all(|j| TERMINAL.contains(&j.state.as_str())));
            if done {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Slurm {
    fn drop(&mut self) {
        if self.slurmctld.is_some() && self.slurmd.is_some() {
            self.cancel_all();
        }
        if let Some(mut c) = self.slurmd.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
        // slurmstepd outlives slurmd; whatever is still in the job cgroups
        // was started by this Slurm.
        for _ in 0..3 {
            let pids = pids_in_cgroups(&self.node);
            if pids.is_empty() {
                break;
            }
            for p in pids {
                // SAFETY: kill has no memory-safety preconditions; these pids
                // were read from this Slurm's own job cgroups just now.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        if let Some(mut c) = self.slurmctld.take() {
            stop_child(&mut c, Duration::from_secs(10));
        }
        if let Some(mut c) = self.munged.take() {
            stop_child(&mut c, Duration::from_secs(5));
        }
        remove_cgroups(&self.node);
    }
}

fn set_mode(p: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("chmod {mode:o} {}", p.display()))
}

/// `sbatch --parsable` prints `ID` or `ID;CLUSTER`.
pub fn parse_job_id(out: &str) -> Result<u32> {
    let first = out.trim().split(';').next().unwrap_or_default();
    first
        .parse()
        .with_context(|| format!("sbatch --parsable printed {out:?}, not a job id"))
}

/// One line of `scontrol show job -o`.
pub fn parse_job_line(line: &str) -> Result<JobInfo> {
    let field = |k: &str| -> Result<&str> {
        line.split_whitespace()
            .find_map(|f| f.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
            .ok_or_else(|| anyhow!("no {k}= in scontrol line {line:?}"))
    };
    let user = field("UserId")?;
    let uid = user
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| anyhow!("UserId={user} has no (uid)"))?;
    Ok(JobInfo {
        id: field("JobId")?.parse().context("JobId")?,
        name: field("JobName")?.to_string(),
        uid,
        state: field("JobState")?.to_string(),
    })
}

/// Creates the unix user `name` if it does not exist (a normal account with
/// a home, like a cluster user); removed on drop only if this created it.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    created: bool,
}

impl TestUser {
    pub fn ensure(name: &str) -> Result<TestUser> {
        let exists = Command::new("id")
            .arg("-u")
            .arg(name)
            .output()?
            .status
            .success();
        if !exists {
            checked(Command::new("useradd").args(["-m", "-s", "/bin/bash", name]))?;
        }
        let out = checked(Command::new("id").arg("-u").arg(name))?;
        let uid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .with_context(|| format!("id -u {name}"))?;
        Ok(TestUser {
            name: name.to_string(),
            uid,
            created: !exists,
        })
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.created {
            let _ = Command::new("userdel").args(["-r", &self.name]).output();
        }
    }
}

/// The home directory and login shell of `user` from the passwd database
/// (`getent`, so NSS users count too); `/` and `/bin/sh` when the entry has
/// none, as login(1) does.
fn passwd_home_shell(user: &str) -> (String, String) {
    let out = Command::new("getent")
        .args(["passwd", user])
        .output()
        .unwrap_or_else(|e| panic!("getent passwd {user}: {e}"));
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    let f: Vec<&str> = line.trim_end().split(':').collect();
    assert!(f.len() == 7, "getent passwd {user} printed {line:?}");
    let home = if f[5].is_empty() { "/" } else { f[5] };
    let shell = if f[6].is_empty() { "/bin/sh" } else { f[6] };
    (home.to_string(), shell.to_string())
}
