//! Audit-state support for privileged tests: [`AuditRestore`] snapshots the
//! kernel's audit state and puts it back on drop (also when the test
//! panics), and [`Auditd`] runs a private auditd stopped by its pid.
//!
//! Use: `let _lock = global_lock(); let _audit = AuditRestore::capture();`
//! (in that order: the guard must drop before the lock is released).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tracer::source::audit::netlink::AuditSocket;
use tracer::source::audit::rule_data::KernelRule;
use tracer::source::audit::status::{self, AuditStatus};

/// Restores on drop: the rule set (deletes rules the test added, re-adds
/// rules it removed), the `enabled` flag and the backlog limit; stops any
/// [`Auditd`] handed to it with [`AuditRestore::own`] first.
pub struct AuditRestore {
    before: AuditStatus,
    rules: Vec<KernelRule>,
    daemons: Vec<Auditd>,
}

impl AuditRestore {
    pub fn capture() -> Self {
        let before = AuditStatus::get().expect("reading audit status");
        assert!(
            before.enabled != 2,
            "audit is locked (enabled=2): tests can't restore its state"
        );
        let rules = AuditSocket::open()
            .and_then(|mut s| s.list_rules())
            .expect("listing audit rules");
        Self {
            before,
            rules,
            daemons: Vec::new(),
        }
    }

    pub fn before(&self) -> &AuditStatus {
        &self.before
    }

    /// Stop this auditd (by pid) before restoring the rest.
    pub fn own(&mut self, d: Auditd) -> &Auditd {
        self.daemons.push(d);
        self.daemons.last().unwrap()
    }

    fn restore(&mut self) -> Result<(), String> {
        for d in self.daemons.drain(..) {
            d.stop();
        }
        let mut sock = AuditSocket::open().map_err(|e| e.to_string())?;
        let now = sock.list_rules().map_err(|e| e.to_string())?;
        for r in now.iter().filter(|r| !self.rules.contains(r)) {
            sock.del_rule(r)
                .map_err(|e| format!("deleting {r:?}: {e}"))?;
        }
        for r in self.rules.iter().filter(|r| !now.contains(r)) {
            sock.add_rule(r)
                .map_err(|e| format!("re-adding {r:?}: {e}"))?;
        }
        status::set_backlog_limit(self.before.backlog_limit).map_err(|e| e.to_string())?;
        status::set_enabled(self.before.enabled).map_err(|e| e.to_string())?;
        Ok(())
    }
}

impl Drop for AuditRestore {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            // Panicking again during a panic would abort and hide the first
            // failure; report loudly instead.
            eprintln!("!!! could not restore the kernel's audit state: {e}");
            if !std::thread::panicking() {
                panic!("could not restore the kernel's audit state: {e}");
            }
        }
    }
}

/// A private auditd (`auditd -n -s nochange -c DIR`) logging to `DIR/audit.log`,
/// without plugins. Stopped by its pid (SIGTERM, then SIGKILL) on drop.
pub struct Auditd {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
}

impl Auditd {
    /// Start it and wait (bounded) until the kernel has it as the daemon.
    pub fn start() -> Auditd {
        let dir = tempfile::tempdir().expect("tempdir");
        let plugins = dir.path().join("plugins.d");
        std::fs::create_dir(&plugins).unwrap();
        let conf = format!(
            "local_events = yes\nwrite_logs = yes\nlog_file = {log}\nlog_group = root\n\
             log_format = RAW\nflush = DATA\nmax_log_file = 0\nmax_log_file_action = IGNORE\n\
             space_left = 2\nspace_left_action = IGNORE\nadmin_space_left = 1\n\
             admin_space_left_action = IGNORE\ndisk_full_action = IGNORE\n\
             disk_error_action = IGNORE\nname_format = NONE\nplugin_dir = {plugins}\n",
            log = dir.path().join("audit.log").display(),
            plugins = plugins.display(),
        );
        std::fs::write(dir.path().join("auditd.conf"), conf).unwrap();
        let stderr = std::fs::File::create(dir.path().join("auditd.stderr")).unwrap();
        let child = Command::new("/sbin/auditd")
            .args(["-n", "-s", "nochange", "-c"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawning /sbin/auditd (package auditd)");
        let mut d = Auditd {
            child: Some(child),
            dir,
        };
        let pid = d.pid();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if AuditStatus::get().ok().map(|s| s.pid) == Some(pid) {
                return d;
            }
            if let Some(st) = d.child.as_mut().unwrap().try_wait().unwrap() {
                let err = std::fs::read_to_string(d.dir.path().join("auditd.stderr"));
                panic!("auditd exited early ({st}): {err:?}");
            }
            assert!(
                Instant::now() < deadline,
                "auditd did not register within 15 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    pub fn log_contains(&self, needle: &str) -> bool {
        contains(&self.log_path(), needle)
    }

    /// SIGTERM by pid, wait up to 10 s, then SIGKILL.
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signalling the pid of a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("auditd {} ignored SIGTERM for 10 s; killing it", child.id());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Auditd {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

fn contains(path: &Path, needle: &str) -> bool {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).contains(needle))
        .unwrap_or(false)
}
