//! Shared support for tracer's integration tests: one place for what several
//! test files need (the tracer binary, a running tracer, a shell with its own
//! login uid, reading logs; `audit`, `daemon`, `slurm`, `ssh` for the privileged
//! ones).
//!
//! Privileged test files start with `#![cfg(feature = "privileged")]`, so a
//! plain `cargo test` leaves them out; `cargo xtask test` turns the feature on.
//! Privileged tests touch global kernel state (BPF programs, tracefs, audit
//! rules, the audit daemon pid, users, sshd), so every one of them holds
//! [`global_lock`] for its whole run: an exclusive `flock` shared by all test
//! binaries, not just the threads of one. They also fail, never skip, when not
//! run as root: in CI a skipped privileged test would hide a regression.
#![allow(dead_code)]

pub mod audit;
pub mod daemon;
pub mod slurm;
pub mod ssh;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const LOCK_PATH: &str = "/run/lock/tracer-global-test.lock";

/// Exclusive lock over global kernel state, held until dropped.
pub struct GlobalLock(File);

pub fn global_lock() -> GlobalLock {
    require_root();
    let _ = std::fs::create_dir_all("/run/lock");
    let f = File::options()
        .create(true)
        .append(true)
        .open(LOCK_PATH)
        .unwrap_or_else(|e| panic!("opening {LOCK_PATH}: {e}"));
    // SAFETY: `f` is an open file descriptor for the duration of the call.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(
        rc,
        0,
        "flock {LOCK_PATH}: {}",
        std::io::Error::last_os_error()
    );
    GlobalLock(f)
}

/// How long a tracer may take to start: 30 s, or `TRACER_TEST_START_SECS`
/// (the VM of `tests/vm/run.sh` emulates its CPU in software, where the
/// kernel's verifier alone takes tens of seconds on a busy host).
pub fn start_timeout_secs() -> u64 {
    std::env::var("TRACER_TEST_START_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this privileged test must run as root (it loads eBPF programs / changes audit state); \
         it fails rather than skips so that CI cannot pass without running it"
    );
}

pub fn tracer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tracer")
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A running `tracer run --output FILE`.
pub struct Tracer {
    child: Option<Child>,
    pub output: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tracer {
    /// Starts tracer and waits until it has written its start record (the
    /// programs are attached from then on).
    pub fn start(extra: &[&str]) -> Tracer {
        Self::start_with_env(extra, &[])
    }

    /// [`Tracer::start`] with extra environment variables.
    pub fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Tracer {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("events.jsonl");
        let child = Command::new(tracer_bin())
            .arg("run")
            .arg("--output")
            .arg(&output)
            // Not the real daemon's /run/tracer/status.json.
            .arg("--status-file")
            .arg(dir.path().join("status.json"))
            .args(extra)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning tracer");
        let mut t = Tracer {
            child: Some(child),
            output,
            _dir: dir,
        };
        let secs = start_timeout_secs();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if t.lines()
                .iter()
                .any(|l| l["type"] == "tracer" && l["detail"]["status"] == "start")
            {
                return t;
            }
            if let Some(status) = t.child.as_mut().unwrap().try_wait().unwrap() {
                let mut err = String::new();
                use std::io::Read;
                t.child
                    .as_mut()
                    .unwrap()
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .ok();
                panic!("tracer exited early ({status}): {err}");
            }
            assert!(
                Instant::now() < deadline,
                "tracer did not start within {secs} s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The tracer process's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The records written so far (complete lines only).
    pub fn lines(&self) -> Vec<Value> {
        read_jsonl(&self.output)
    }

    /// SIGINT, wait (bounded), and return every record written.
    pub fn stop(mut self) -> Vec<Value> {
        let mut child = self.child.take().unwrap();
        // SAFETY: kill with a pid we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("tracer did not stop within 20 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "tracer exited with {status}");
        let lines = self.lines();
        assert!(
            lines
                .iter()
                .any(|l| l["type"] == "tracer" && l["detail"]["status"] == "stop"),
            "no stop record: tracer did not shut down cleanly"
        );
        lines
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn read_jsonl(path: &Path) -> Vec<Value> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str(&l).ok())
        .collect()
}

/// Compiles the storm generator and its tiny static target (tests/storm/*.c)
/// into `dir`; returns (storm, tiny). Where `TRACER_TEST_STORM_BIN` names a
/// directory holding both already built (the VM of `tests/vm/run.sh` has no
/// compiler), they are copied from there instead.
pub fn build_storm(dir: &Path) -> (PathBuf, PathBuf) {
    let src = workspace_root().join("tests/storm");
    let storm = dir.join("storm");
    let tiny = dir.join("tiny");
    if let Some(pre) = std::env::var_os("TRACER_TEST_STORM_BIN") {
        for (out, name) in [(&storm, "storm"), (&tiny, "tiny")] {
            let from = Path::new(&pre).join(name);
            std::fs::copy(&from, out)
                .unwrap_or_else(|e| panic!("TRACER_TEST_STORM_BIN: {}: {e}", from.display()));
        }
        return (storm, tiny);
    }
    for (out, file, extra) in [
        (&storm, "storm.c", vec![]),
        (&tiny, "tiny.c", vec!["-static"]),
    ] {
        let st = Command::new("cc")
            .args(["-O2", "-o"])
            .arg(out)
            .args(&extra)
            .arg(src.join(file))
            .status()
            .expect("running cc (install build-essential)");
        assert!(st.success(), "compiling {file} failed");
    }
    (storm, tiny)
}

/// Events of one kind whose argv contains `marker`.
pub fn with_marker<'a>(lines: &'a [Value], kind: &str, marker: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["type"] == kind)
        .filter(|l| {
            l["argv"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.contains(marker)))
            })
        })
        .collect()
}

pub fn proc_u32(pid: u32, file: &str) -> u32 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .unwrap()
        .trim()
        .parse::<i64>()
        .map(|v| v as u32)
        .unwrap()
}

/// An event's argv as strings.
pub fn argv_of(e: &Value) -> Vec<String> {
    e["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// What a shell that set its own login uid saw of itself, and the output of
/// what it ran.
#[derive(Debug)]
pub struct Attributed {
    pub pid: u32,
    pub auid: u32,
    pub ses: u32,
    pub stdout: String,
}

/// Runs `script` in `/bin/sh -c` after the shell has set its loginuid to
/// `auid` (it starts a new audit session); returns the shell's pid and the
/// auid and ses it read back from /proc/self. End `script` with `exec CMD`
/// to have CMD run as that pid. The ids go out on stderr's first line, so
/// stdout is the script's own.
pub fn run_attributed(auid: u32, script: &str) -> Attributed {
    let full = format!(
        "echo {auid} > /proc/self/loginuid || exit 9\n\
         read l < /proc/self/loginuid; read s < /proc/self/sessionid\n\
         echo \"$$ $l $s\" >&2\n{script}"
    );
    let out = Command::new("/bin/sh")
        .args(["-c", &full])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let v: Vec<u32> = err
        .lines()
        .next()
        .unwrap_or_default()
        .split(' ')
        .map(|x| {
            x.parse()
                .unwrap_or_else(|_| panic!("ids line of {script}: {err}"))
        })
        .collect();
    assert_eq!(v.len(), 3, "ids line of {script}: {err}");
    assert_eq!(v[1], auid, "the shell's loginuid was set");
    Attributed {
        pid: v[0],
        auid: v[1],
        ses: v[2],
        stdout: String::from_utf8(out.stdout).unwrap(),
    }
}

/// The uid of `user` (`id -u`).
pub fn uid_of(user: &str) -> u32 {
    let out = Command::new("id").args(["-u", user]).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no uid for {user}"))
}

/// `tracer report --no-progress ARGS` over recorded log lines (written to a
/// temporary file): its standard output; panics naming ARGS when it fails.
pub fn report_lines(lines: &[Value], args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tracer.log");
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&p, body).unwrap();
    let out = Command::new(tracer_bin())
        .args(["report", "--no-progress"])
        .args(args)
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tracer report {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// What every thread of `pid` is doing: name, state, wait channel and kernel
/// stack from /proc, then `gdb`'s user-space backtraces when gdb is
/// installed. For the failure message of a process that does not exit.
pub fn thread_dump(pid: u32) -> String {
    let mut out = String::new();
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    for t in tasks {
        let read = |f: &str| std::fs::read_to_string(t.join(f)).unwrap_or_default();
        let stat = read("stat");
        let state = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').next())
            .unwrap_or("?");
        out.push_str(&format!(
            "thread {} ({}) state {state} wchan {}\n{}",
            t.file_name().unwrap_or_default().to_string_lossy(),
            read("comm").trim(),
            read("wchan"),
            read("stack")
        ));
    }
    if let Ok(o) = Command::new("gdb")
        .args([
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt",
        ])
        .stdin(Stdio::null())
        .output()
    {
        out.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    out
}
