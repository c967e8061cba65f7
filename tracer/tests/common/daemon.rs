//! Support for the daemon tests: a tracer started from a configuration file
//! and signalled by pid, a tmpfs mount and an rsyslogd that are undone on every
//! path (Drop), and reading a log with its rotated files.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::tracer_bin;

/// A `tracer run` started with the given arguments; killed (SIGKILL) on drop.
pub struct Daemon {
    child: Option<Child>,
    pub stderr: PathBuf,
}

impl Daemon {
    /// Starts tracer and waits until `log` holds `starts` start records.
    pub fn start(args: &[&str], log: &Path, starts: usize, stderr: &Path) -> Daemon {
        let child = Command::new(tracer_bin())
            .arg("run")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .expect("spawning tracer");
        let mut d = Daemon {
            child: Some(child),
            stderr: stderr.to_path_buf(),
        };
        let secs = super::start_timeout_secs();
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let n = count_status(&read_lines(log), "start");
            if n >= starts {
                return d;
            }
            if let Some(st) = d.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("tracer exited early ({st}): {}", d.stderr_text());
            }
            assert!(
                Instant::now() < deadline,
                "tracer did not start within {secs} s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill on a child we spawned and have not reaped.
        unsafe { libc::kill(self.pid() as i32, sig) };
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits (bounded) for the process to exit.
    pub fn wait(mut self, timeout: Duration) -> ExitStatus {
        let mut c = self.child.take().unwrap();
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = c.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                // Where it is stuck, before it is killed: every thread's
                // state and kernel stack, and gdb's backtraces if it is there.
                let threads = super::thread_dump(c.id());
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "tracer did not exit within {timeout:?}\n{threads}\nstderr:\n{}",
                    self.stderr_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGINT and a clean exit, within the 30 s `rules/tracer.service`
    /// gives it (`TimeoutStopSec`): its last fsync may wait that long for a
    /// disk that other processes keep busy.
    pub fn stop(self) {
        self.signal(libc::SIGINT);
        let err = self.stderr.clone();
        let st = self.wait(Duration::from_secs(30));
        assert!(
            st.success(),
            "tracer exited with {st}: {}",
            std::fs::read_to_string(err).unwrap_or_default()
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Every line of `path` (complete or not), without parsing.
pub fn raw_lines(path: &Path) -> Vec<String> {
    let Ok(data) = std::fs::read(path) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&data)
        .split_inclusive('\n')
        .map(str::to_string)
        .collect()
}

/// The records of `path` that parse.
pub fn read_lines(path: &Path) -> Vec<Value> {
    raw_lines(path)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `path.N` .. `path.1`, then `path`: the whole log, oldest first.
pub fn log_files(path: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    let mut n = 1;
    loop {
        let p = PathBuf::from(format!("{}.{n}", path.display()));
        if !p.exists() {
            break;
        }
        v.push(p);
        n += 1;
    }
    v.reverse();
    v.push(path.to_path_buf());
    v
}

pub fn count_status(lines: &[Value], status: &str) -> usize {
    lines
        .iter()
        .filter(|l| l["type"] == "tracer" && l["detail"]["status"] == status)
        .count()
}

/// `execs=N` from the storm generator's summary line.
pub fn storm_execs(stdout: &[u8]) -> u64 {
    String::from_utf8_lossy(stdout)
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("execs="))
        .and_then(|v| v.parse().ok())
        .expect("storm summary")
}

/// A tmpfs of `size` mounted at `dir` (mode 0750), unmounted on drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0750"))
            .arg("tmpfs")
            .arg(dir)
            .status()
            .unwrap();
        assert!(st.success(), "mounting a tmpfs at {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// A private rsyslogd (`-n -f CONF -i PIDFILE`), stopped by pid on drop.
pub struct Rsyslogd {
    child: Child,
}

impl Rsyslogd {
    pub fn start(conf: &Path, pidfile: &Path) -> Rsyslogd {
        let check = Command::new("rsyslogd")
            .arg("-N1")
            .arg("-f")
            .arg(conf)
            .output()
            .expect("running rsyslogd (install rsyslog: xtask/setup.sh test)");
        assert!(
            check.status.success(),
            "rsyslogd rejects the test configuration: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(conf)
            .arg("-i")
            .arg(pidfile)
            .stdin(Stdio::null())
            .spawn()
            .expect("starting rsyslogd");
        Rsyslogd { child }
    }
}

impl Drop for Rsyslogd {
    fn drop(&mut self) {
        // SAFETY: kill on a child we spawned and have not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP/UDP port free on 127.0.0.1 right now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    let u = std::net::UdpSocket::bind(("127.0.0.1", p));
    if u.is_err() {
        return free_port();
    }
    p
}

/// Waits until `f` holds, or panics with `what`.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
