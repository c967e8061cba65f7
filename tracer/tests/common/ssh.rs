//! A real login for end-to-end tests: Debian's OpenSSH server on 127.0.0.1 and
//! a free port, with its stock PAM stack (so `pam_loginuid` sets the login uid
//! and a fresh audit session id), test users with keys, and the real `ssh`
//! client. Everything is undone on drop, on every path: users removed, the
//! sudoers file deleted, sshd stopped by its pid.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct SshServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    users: Vec<String>,
    sudoers: Option<PathBuf>,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl SshServer {
    /// Creates `users` (the first ones listed in `sudoers` may `sudo -n`
    /// anything) and starts sshd.
    pub fn start(users: &[&str], sudoers: &[&str]) -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        let mut s = SshServer {
            child: None,
            port: free_port(),
            dir,
            users: Vec::new(),
            sudoers: None,
        };
        let key = s.dir.path().join("id_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        let pubkey = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        for u in users {
            // A leftover from an interrupted earlier run is removed first.
            let _ = Command::new("userdel").args(["-r", u]).output();
            run(Command::new("useradd").args(["-m", "-s", "/bin/bash", u]));
            s.users.push(u.to_string());
            let home = PathBuf::from(format!("/home/{u}"));
            let ssh = home.join(".ssh");
            std::fs::create_dir_all(&ssh).unwrap();
            std::fs::write(ssh.join("authorized_keys"), &pubkey).unwrap();
            run(Command::new("chown")
                .args(["-R", &format!("{u}:{u}")])
                .arg(&ssh));
            run(Command::new("chmod").args(["700"]).arg(&ssh));
            // The stock PAM stack refuses accounts that are locked (no password
            // set); an unusable-but-valid hash unlocks them for key logins.
            run(Command::new("usermod").args(["-p", "*", u]));
        }
        if !sudoers.is_empty() {
            let path = PathBuf::from("/etc/sudoers.d/tracer-e2e-test");
            let body: String = sudoers
                .iter()
                .map(|u| format!("{u} ALL=(ALL) NOPASSWD: ALL\n"))
                .collect();
            std::fs::write(&path, body).unwrap();
            run(Command::new("chmod").arg("0440").arg(&path));
            s.sudoers = Some(path);
        }
        let host_key = s.dir.path().join("host_ed25519");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&host_key));
        let cfg = s.dir.path().join("sshd_config");
        std::fs::write(
            &cfg,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {hk}\nPidFile {pid}\nUsePAM yes\n\
                 PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nPermitRootLogin no\nStrictModes no\n\
                 LogLevel VERBOSE\n",
                port = s.port,
                hk = host_key.display(),
                pid = s.dir.path().join("sshd.pid").display(),
            ),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(s.dir.path().join("sshd.log")).unwrap())
            .spawn()
            .expect("starting /usr/sbin/sshd (install openssh-server)");
        s.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", s.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not listen: {}",
                s.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    pub fn key(&self) -> PathBuf {
        self.dir.path().join("id_ed25519")
    }

    /// Logs in as `user` with the real ssh client, runs `command` in the
    /// login shell, logs out. Returns the output.
    pub fn login(&self, user: &str, command: &str) -> Output {
        Command::new("ssh")
            .args([
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "ConnectTimeout=10",
                "-i",
            ])
            .arg(self.key())
            .args(["-p", &self.port.to_string()])
            .arg(format!("{user}@127.0.0.1"))
            .arg(command)
            .stdin(Stdio::null())
            .output()
            .expect("running ssh")
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SshServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: a pid we spawned and have not reaped.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(p) = self.sudoers.take() {
            let _ = std::fs::remove_file(p);
        }
        for u in self.users.drain(..) {
            // Session processes of the user may linger a moment after logout.
            let _ = Command::new("pkill").args(["-KILL", "-u", &u]).output();
            let _ = Command::new("userdel").args(["-r", &u]).output();
        }
    }
}
