//! A seeded, deterministic generator of a realistic `audit.log` (what auditd
//! writes with `log_format = ENRICHED`, the default since audit 3.0, or
//! `RAW`, for tracer's exec rules on a busy login node) and of tracer's
//! JSON-lines log of the same execs.
//!
//! Shaped like real logs, because a benchmark on an unusual log measures the
//! log: ausearch is ten times slower on a RAW log of unknown uids (each one a
//! passwd lookup) than on an ENRICHED log of two busy users, which is what the
//! logs of real login nodes look like. So: two users do most of the work
//! (a handful of others log in now and then); ENRICHED records carry the
//! `\x1d`-separated interpretation trailer (`AUID="alice" UID=...`, `OUID=`
//! on PATH, `ARCH=`/`SYSCALL=` on SYSCALL); records of concurrent events
//! interleave (a shell pipeline's execs on several CPUs); some execs have a
//! BPRM_FCAPS record (file capabilities, e.g. ping).
//!
//! Sessions of many users: USER_AUTH, USER_ACCT, CRED_ACQ, LOGIN, USER_LOGIN,
//! USER_START ... USER_END, USER_LOGOUT, CRED_DISP; sudo with USER_CMD,
//! CRED_REFR, USER_START/USER_END; each exec as SYSCALL + EXECVE + CWD + PATH
//! (+ PATH for the interpreter) + PROCTITLE, and no EOE: the kernel sends one
//! after each event, but auditd does not write it to audit.log (none in the
//! real logs of Debian 12's auditd 3.0.9, RHEL 7 or CentOS 7 that tracer's
//! fixtures hold). Arguments are encoded as
//! the kernel does: quoted, or hex when they hold a space, a quote or a
//! control/non-ASCII byte, and split into `aN_len=`/`aN[i]=` pieces over
//! several EXECVE records when they are longer than the kernel's record limit.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};

use super::daemons::check_interrupt;

/// Changes whenever the logs it writes change (2: no EOE records), so that
/// kept logs of an older generator are not reused.
pub const VERSION: u32 = 2;

/// The name of uid `uid` in the generated log (`root` for 0).
fn user_name(uid: u32) -> &'static str {
    match uid {
        0 => "root",
        u32::MAX => "unset",
        u => USERS
            .get(u.wrapping_sub(1000) as usize)
            .copied()
            .unwrap_or("unknown"),
    }
}

/// splitmix64: tiny, fast, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Generated {
    pub audit_bytes: u64,
    pub audit_execs: u64,
    pub tracer_bytes: u64,
    pub tracer_execs: u64,
}

const HOST: &str = "login01";

/// auditd's `log_format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Records plus a `\x1d` trailer of interpreted ids (audit >= 3.0's default).
    Enriched,
    /// Records only.
    Raw,
}

/// The users: the first two are the busy ones.
const USERS: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
];

/// (exe, comm, argument words to draw from).
const COMMANDS: &[(&str, &str, &[&str])] = &[
    (
        "/usr/bin/ls",
        "ls",
        &["-la", "-l", "--color=auto", "-h", "src", "data", "/scratch"],
    ),
    (
        "/usr/bin/cat",
        "cat",
        &["README.md", "job.out", "/etc/os-release", "results.csv"],
    ),
    (
        "/usr/bin/grep",
        "grep",
        &["-rn", "-i", "error", "TODO", "--include=*.py", "."],
    ),
    (
        "/usr/bin/git",
        "git",
        &[
            "status",
            "pull",
            "log",
            "--oneline",
            "commit",
            "-m",
            "push",
            "origin",
            "main",
        ],
    ),
    (
        "/usr/bin/python3.11",
        "python3",
        &[
            "train.py",
            "--epochs",
            "100",
            "-u",
            "analysis.py",
            "--config",
            "cfg.yaml",
        ],
    ),
    (
        "/usr/bin/vim.basic",
        "vim",
        &["main.c", "Makefile", "notes.txt", "run.sh"],
    ),
    (
        "/usr/bin/make",
        "make",
        &["-j8", "all", "clean", "install", "V=1"],
    ),
    (
        "/usr/bin/gcc-12",
        "gcc",
        &[
            "-O2",
            "-Wall",
            "-c",
            "main.c",
            "-o",
            "main.o",
            "-I/opt/include",
            "-lm",
        ],
    ),
    (
        "/usr/bin/ssh",
        "ssh",
        &["node012", "node044", "-o", "BatchMode=yes", "hostname"],
    ),
    (
        "/usr/bin/rsync",
        "rsync",
        &["-avz", "--progress", "results/", "archive:/data/"],
    ),
    (
        "/usr/bin/squeue",
        "squeue",
        &["-u", "--me", "-l", "--format=%i %j %T"],
    ),
    (
        "/usr/bin/sbatch",
        "sbatch",
        &["job.sh", "--array=1-100", "--time=01:00:00", "--mem=4G"],
    ),
    (
        "/usr/bin/tar",
        "tar",
        &[
            "-czf",
            "backup.tgz",
            "-xzf",
            "data.tar.gz",
            "-C",
            "/scratch",
        ],
    ),
    ("/usr/bin/bash", "bash", &["-c", "./run.sh", "-l"]),
    (
        "/usr/bin/find",
        "find",
        &[
            ".", "-name", "*.log", "-mtime", "+7", "-delete", "-type", "f",
        ],
    ),
];

const SUDO_COMMANDS: &[(&str, &str, &[&str])] = &[
    (
        "/usr/bin/systemctl",
        "systemctl",
        &["restart", "nginx", "status", "slurmd"],
    ),
    (
        "/usr/bin/apt-get",
        "apt-get",
        &["install", "-y", "htop", "update"],
    ),
    (
        "/usr/bin/journalctl",
        "journalctl",
        &["-u", "slurmd", "-n", "100", "--since", "today"],
    ),
    ("/usr/sbin/reboot", "reboot", &[]),
];

const ARGS_WITH_SPACES: &[&str] = &[
    "fix the off-by-one in the loader",
    "select * from runs where user = 'alice'",
    "say \"hello world\"",
    "for f in *.dat; do gzip \"$f\"; done",
    "My Documents/report final.pdf",
    "r\u{e9}sum\u{e9} \u{2014} draft",
];

/// The kernel's MAX_EXECVE_AUDIT_LEN.
const MAX_EXECVE: usize = 7500;

fn needs_hex(s: &str) -> bool {
    s.bytes().any(|b| b == b'"' || !(0x21..=0x7e).contains(&b))
}

fn hex(s: &[u8], out: &mut String) {
    for b in s {
        let _ = write!(out, "{b:02X}");
    }
}

/// RFC 3339 with nanoseconds, UTC, from Unix ns (days-from-civil inverse).
pub fn rfc3339(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

struct Gen<A: Write, T: Write> {
    rng: Rng,
    audit: A,
    tracer: T,
    /// Unix time in ns.
    now: i64,
    serial: u64,
    next_pid: u32,
    counts: Generated,
    line: String,
    style: Style,
    /// Exec events generated but not yet written: their records are
    /// interleaved with the next ones' (concurrent events on other CPUs).
    inflight: Vec<Vec<String>>,
}

struct Login {
    user: String,
    uid: u32,
    ses: u32,
    tty: u32,
    shell_pid: u32,
    addr: String,
}

impl<A: Write, T: Write> Gen<A, T> {
    fn stamp(&mut self) -> String {
        self.now += 200_000 + self.rng.below(20_000_000) as i64;
        self.serial += 1;
        format!(
            "audit({}.{:03}:{})",
            self.now / 1_000_000_000,
            self.now % 1_000_000_000 / 1_000_000,
            self.serial
        )
    }

    fn emit(&mut self, s: &str) -> Result<()> {
        self.flush_inflight()?;
        self.write_raw(s)
    }

    fn write_raw(&mut self, s: &str) -> Result<()> {
        self.audit.write_all(s.as_bytes())?;
        self.counts.audit_bytes += s.len() as u64;
        Ok(())
    }

    /// Writes the in-flight exec events, their records interleaved at random
    /// (each event's own records stay in order, as the kernel emits them).
    fn flush_inflight(&mut self) -> Result<()> {
        let mut events: Vec<std::collections::VecDeque<String>> =
            self.inflight.drain(..).map(Into::into).collect();
        while !events.is_empty() {
            let i = self.rng.below(events.len() as u64) as usize;
            if let Some(rec) = events[i].pop_front() {
                self.audit.write_all(rec.as_bytes())?;
                self.counts.audit_bytes += rec.len() as u64;
            }
            if events[i].is_empty() {
                events.swap_remove(i);
            }
        }
        Ok(())
    }

    /// The ENRICHED trailer naming `ids` (field, uid), empty for RAW.
    fn names(&self, ids: &[(&str, u32)]) -> String {
        if self.style == Style::Raw {
            return String::new();
        }
        let mut t = String::from("\u{1d}");
        for (i, (k, v)) in ids.iter().enumerate() {
            if i > 0 {
                t.push(' ');
            }
            let _ = write!(t, "{k}=\"{}\"", user_name(*v));
        }
        t
    }

    fn user_msg(&mut self, kind: &str, pid: u32, l: &Login, uid: u32, msg: &str) -> Result<()> {
        let st = self.stamp();
        let names = self.names(&[("UID", uid), ("AUID", l.uid)]);
        let s = format!(
            "type={kind} msg={st}: pid={pid} uid={uid} auid={} ses={} subj=unconfined msg='{msg}'{names}\n",
            l.uid, l.ses
        );
        self.emit(&s)
    }

    fn session(&mut self, ses: u32) -> Result<()> {
        // Two busy users, the others now and then.
        let u = if self.rng.pct(85) {
            self.rng.below(2)
        } else {
            2 + self.rng.below(USERS.len() as u64 - 2)
        } as u32;
        let (user, uid) = (USERS[u as usize].to_string(), 1000 + u);
        let sshd = self.pid();
        let addr = format!(
            "10.{}.{}.{}",
            self.rng.below(4),
            self.rng.below(256),
            1 + self.rng.below(254)
        );
        let l = Login {
            user,
            uid,
            ses,
            tty: self.rng.below(64) as u32,
            shell_pid: 0,
            addr,
        };
        let unset = Login {
            user: l.user.clone(),
            uid: u32::MAX,
            ses: u32::MAX,
            tty: l.tty,
            shell_pid: 0,
            addr: l.addr.clone(),
        };
        let sshd_tail = format!(
            "exe=\"/usr/sbin/sshd\" hostname={a} addr={a} terminal=ssh res=success",
            a = l.addr
        );
        self.user_msg(
            "USER_AUTH",
            sshd,
            &unset,
            0,
            &format!(
                "op=PAM:authentication grantors=pam_unix acct=\"{}\" {sshd_tail}",
                l.user
            ),
        )?;
        self.user_msg(
            "USER_ACCT",
            sshd,
            &unset,
            0,
            &format!(
                "op=PAM:accounting grantors=pam_permit acct=\"{}\" {sshd_tail}",
                l.user
            ),
        )?;
        self.user_msg(
            "CRED_ACQ",
            sshd,
            &unset,
            0,
            &format!(
                "op=PAM:setcred grantors=pam_permit acct=\"{}\" {sshd_tail}",
                l.user
            ),
        )?;
        let st = self.stamp();
        let names = if self.style == Style::Enriched {
            format!("\u{1d}UID=\"root\" OLD-AUID=\"unset\" AUID=\"{}\"", l.user)
        } else {
            String::new()
        };
        self.emit(&format!(
            "type=LOGIN msg={st}: pid={sshd} uid=0 subj=unconfined old-auid=4294967295 auid={} tty=(none) old-ses=4294967295 ses={} res=1{names}\n",
            l.uid, l.ses
        ))?;
        self.user_msg("USER_START", sshd, &l, 0, &format!("op=PAM:session_open grantors=pam_loginuid,pam_keyinit,pam_permit,pam_umask,pam_unix,pam_systemd,pam_mail,pam_limits,pam_env acct=\"{}\" {sshd_tail}", l.user))?;
        self.user_msg("USER_LOGIN", sshd, &l, 0, &format!("op=login id={} exe=\"/usr/sbin/sshd\" hostname={a} addr={a} terminal=/dev/pts/{} res=success", l.uid, l.tty, a = l.addr))?;
        let mut l = l;
        l.shell_pid = self.pid();
        let shell_argv = Some(vec!["-bash".to_string()]);
        self.exec(
            &l,
            l.shell_pid,
            sshd,
            ("/usr/bin/bash", "bash", &[]),
            false,
            shell_argv,
        )?;
        let n = 5 + self.rng.below(60);
        for _ in 0..n {
            if self.rng.pct(8) {
                self.sudo(&l)?;
            } else {
                let c = *self.rng.pick(COMMANDS);
                let pid = self.pid();
                self.exec(&l, pid, l.shell_pid, c, false, None)?;
            }
        }
        let tail = format!("acct=\"{}\" {sshd_tail}", l.user);
        self.user_msg("USER_END", sshd, &l, 0, &format!("op=PAM:session_close grantors=pam_loginuid,pam_keyinit,pam_permit,pam_umask,pam_unix,pam_systemd,pam_mail,pam_limits,pam_env {tail}"))?;
        self.user_msg("USER_LOGOUT", sshd, &l, 0, &format!("op=login id={} exe=\"/usr/sbin/sshd\" hostname={a} addr={a} terminal=/dev/pts/{} res=success", l.uid, l.tty, a = l.addr))?;
        self.user_msg(
            "CRED_DISP",
            sshd,
            &l,
            0,
            &format!("op=PAM:setcred grantors=pam_permit {tail}"),
        )
    }

    fn sudo(&mut self, l: &Login) -> Result<()> {
        let c = *self.rng.pick(SUDO_COMMANDS);
        let sudo = self.pid();
        let cmdline = std::iter::once(c.0.to_string())
            .chain(
                c.2.iter()
                    .take(self.rng.below(3) as usize)
                    .map(|s| s.to_string()),
            )
            .collect::<Vec<_>>()
            .join(" ");
        let mut hexcmd = String::new();
        hex(cmdline.as_bytes(), &mut hexcmd);
        let sudo_argv: Vec<String> = std::iter::once("sudo".to_string())
            .chain(cmdline.split(' ').map(String::from))
            .collect();
        let sudo_exe = ("/usr/bin/sudo", "sudo", &[][..]);
        self.exec(l, sudo, l.shell_pid, sudo_exe, false, Some(sudo_argv))?;
        let tty = format!("terminal=/dev/pts/{} res=success", l.tty);
        self.user_msg(
            "USER_CMD",
            sudo,
            l,
            l.uid,
            &format!(
                "cwd=\"/home/{}\" cmd={hexcmd} exe=\"/usr/bin/sudo\" {tty}",
                l.user
            ),
        )?;
        self.user_msg("CRED_REFR", sudo, l, 0, &format!("op=PAM:setcred grantors=pam_permit acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? {tty}"))?;
        self.user_msg("USER_START", sudo, l, 0, &format!("op=PAM:session_open grantors=pam_limits,pam_permit,pam_unix acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? {tty}"))?;
        let pid = self.pid();
        let argv: Vec<String> = cmdline.split(' ').map(String::from).collect();
        self.exec(l, pid, sudo, c, true, Some(argv))?;
        self.user_msg("USER_END", sudo, l, 0, &format!("op=PAM:session_close grantors=pam_limits,pam_permit,pam_unix acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? {tty}"))?;
        self.user_msg("CRED_DISP", sudo, l, 0, &format!("op=PAM:setcred grantors=pam_permit acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? {tty}"))
    }

    fn pid(&mut self) -> u32 {
        self.next_pid = if self.next_pid >= 4_000_000 {
            1000
        } else {
            self.next_pid + 1 + self.rng.below(3) as u32
        };
        self.next_pid
    }

    fn argv(&mut self, c: (&str, &str, &[&str])) -> Vec<String> {
        let mut argv = vec![c.1.to_string()];
        let n = if c.2.is_empty() { 0 } else { self.rng.below(6) };
        for _ in 0..n {
            argv.push(self.rng.pick(c.2).to_string());
        }
        if self.rng.pct(10) {
            argv.push(self.rng.pick(ARGS_WITH_SPACES).to_string());
        }
        if self.rng.pct(2) {
            // A long argument (a generated include list or a pasted blob):
            // split by the kernel when past its record limit.
            let len = 2_000 + self.rng.below(8_000) as usize;
            let mut s = String::with_capacity(len + 16);
            while s.len() < len {
                let _ = write!(s, "-I/opt/pkg/{}/include:", self.rng.below(100_000));
            }
            if self.rng.pct(30) {
                s.push_str(" with spaces");
            }
            argv.push(s);
        }
        if self.rng.pct(2) {
            argv.push("tab\there".into());
        }
        argv
    }

    /// One exec: the audit event and tracer's record.
    fn exec(
        &mut self,
        l: &Login,
        pid: u32,
        ppid: u32,
        c: (&str, &str, &[&str]),
        root: bool,
        argv: Option<Vec<String>>,
    ) -> Result<()> {
        check_interrupt()?;
        let argv = argv.unwrap_or_else(|| self.argv(c));
        let failed = self.rng.pct(2);
        let (exe, comm) = if failed {
            ("/usr/bin/nonexistent-tool", "bash")
        } else {
            (c.0, c.1)
        };
        let uid = if root { 0 } else { l.uid };
        let gid = if root { 0 } else { l.uid };
        let cwd = format!(
            "/home/{}/{}",
            l.user,
            if self.rng.pct(50) { "src" } else { "work" }
        );
        let st = self.stamp();
        let mut s = std::mem::take(&mut self.line);
        s.clear();
        let sys_names = if self.style == Style::Enriched {
            let mut t = String::from("\u{1d}ARCH=x86_64 SYSCALL=execve");
            t.push(' ');
            t.push_str(
                &self.names(&[
                    ("AUID", l.uid),
                    ("UID", uid),
                    ("GID", gid),
                    ("EUID", uid),
                    ("SUID", uid),
                    ("FSUID", uid),
                    ("EGID", gid),
                    ("SGID", gid),
                    ("FSGID", gid),
                ])[1..],
            );
            t
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "type=SYSCALL msg={st}: arch=c000003e syscall=59 success={} exit={} a0={:x} a1={:x} a2={:x} a3=0 items={} ppid={ppid} pid={pid} auid={} uid={uid} gid={gid} euid={uid} suid={uid} fsuid={uid} egid={gid} sgid={gid} fsgid={gid} tty=pts{} ses={} comm=\"{}\" exe=\"{}\" subj=unconfined key=\"tracer_exec\"{sys_names}",
            if failed { "no" } else { "yes" },
            if failed { -2 } else { 0 },
            0x55d0_0000_0000u64 + self.rng.below(1 << 32),
            0x55d0_0000_0000u64 + self.rng.below(1 << 32),
            0x55d0_0000_0000u64 + self.rng.below(1 << 32),
            if failed { 1 } else { 2 },
            l.uid,
            l.tty,
            l.ses,
            if failed { "bash" } else { comm },
            if failed { "/usr/bin/bash" } else { exe },
        );
        if !failed && self.rng.pct(3) {
            let _ = writeln!(
                s,
                "type=BPRM_FCAPS msg={st}: fver=2 fp=0000000000002000 fi=0000000000000000 fe=0 old_pp=0000000000000000 old_pi=0000000000000000 old_pe=0000000000000000 old_pa=0000000000000000 pp=0000000000002000 pi=0000000000000000 pe=0000000000000000 pa=0000000000000000 frootid=0"
            );
        }
        if !failed {
            self.execve_records(&st, &argv, &mut s);
        }
        let _ = writeln!(s, "type=CWD msg={st}: cwd=\"{cwd}\"");
        let inode = 100_000 + self.rng.below(9_000_000);
        let root_names = self.names(&[("OUID", 0), ("OGID", 0)]);
        let _ = writeln!(
            s,
            "type=PATH msg={st}: item=0 name=\"{exe}\" {} dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype={} cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0{root_names}",
            if failed { "".to_string() } else { format!("inode={inode}") },
            if failed { "UNKNOWN" } else { "NORMAL" }
        );
        if !failed {
            let _ = writeln!(
                s,
                "type=PATH msg={st}: item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=1837 dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0{root_names}"
            );
        }
        // PROCTITLE: the caller's (on failure) or new argv, NUL-joined, hex, at most 128 bytes.
        let title = if failed {
            "-bash".to_string()
        } else {
            argv.join("\0")
        };
        let t = &title.as_bytes()[..title.len().min(128)];
        s.push_str("type=PROCTITLE msg=");
        s.push_str(&st);
        s.push_str(": proctitle=");
        if needs_hex(std::str::from_utf8(t).unwrap_or(" ")) {
            hex(t, &mut s);
        } else {
            let _ = write!(s, "\"{}\"", String::from_utf8_lossy(t));
        }
        s.push('\n');
        // One event's records, kept back to interleave with the next exec's
        // (up to three in flight, as on a busy multi-CPU node).
        let event: Vec<String> = s.split_inclusive('\n').map(String::from).collect();
        self.inflight.push(event);
        if self.inflight.len() >= 3 || !self.rng.pct(40) {
            self.flush_inflight()?;
        }
        self.line = s;
        self.counts.audit_execs += 1;

        // tracer's record of the same exec.
        let time_ns = self.now + 123_456;
        let mut j = String::with_capacity(512);
        let q = |v: &str| serde_json::to_string(v).unwrap_or_default();
        let _ = write!(
            j,
            "{{\"type\":\"{}\",\"time\":\"{}\",\"host\":\"{HOST}\",\"source\":\"ebpf\",\"pid\":{pid},\"ppid\":{ppid},\"uid\":{uid},\"euid\":{uid},\"gid\":{gid},\"egid\":{gid},\"auid\":{},\"ses\":{},\"tty\":\"pts/{}\",\"comm\":{},\"exe\":{},\"argv\":[",
            if failed { "exec_failed" } else { "exec" },
            rfc3339(time_ns),
            l.uid,
            l.ses,
            l.tty,
            q(comm),
            q(exe),
        );
        let argv_shown: &[String] = if failed { &argv[..1] } else { &argv };
        for (i, a) in argv_shown.iter().enumerate() {
            if i > 0 {
                j.push(',');
            }
            j.push_str(&q(a));
        }
        let size: usize = argv.iter().map(|a| a.len() + 1).sum();
        let _ = writeln!(
            j,
            "],\"cwd\":{},\"ret\":{},\"argc\":{},\"args_size\":{size},\"cgroup_id\":{},\"start_boottime\":{}}}",
            q(&cwd),
            if failed { -2 } else { 0 },
            argv.len(),
            5000 + l.ses,
            time_ns - 1_700_000_000_000_000_000
        );
        self.tracer.write_all(j.as_bytes())?;
        self.counts.tracer_bytes += j.len() as u64;
        self.counts.tracer_execs += 1;
        Ok(())
    }

    /// EXECVE records the way `audit_log_execve_info` writes them.
    fn execve_records(&mut self, st: &str, argv: &[String], s: &mut String) {
        let head = format!("type=EXECVE msg={st}:");
        let mut rec = format!("{head} argc={}", argv.len());
        let flush = |rec: &mut String, s: &mut String| {
            s.push_str(rec);
            s.push('\n');
            rec.clear();
            rec.push_str(&head);
        };
        for (i, a) in argv.iter().enumerate() {
            let enc = needs_hex(a);
            let full = if enc { a.len() * 2 } else { a.len() + 2 };
            if full + 16 <= MAX_EXECVE {
                if rec.len() + full + 8 > MAX_EXECVE {
                    flush(&mut rec, s);
                }
                let _ = write!(rec, " a{i}=");
                if enc {
                    hex(a.as_bytes(), &mut rec);
                } else {
                    let _ = write!(rec, "\"{a}\"");
                }
                continue;
            }
            // Split: `aN_len=` then pieces `aN[k]=`, each in its own record.
            if rec.len() > head.len() {
                flush(&mut rec, s);
            }
            let _ = write!(rec, " a{i}_len={}", if enc { a.len() * 2 } else { a.len() });
            let piece = if enc {
                MAX_EXECVE / 2 - 64
            } else {
                MAX_EXECVE - 64
            };
            for (k, chunk) in a.as_bytes().chunks(piece).enumerate() {
                let _ = write!(rec, " a{i}[{k}]=");
                if enc {
                    hex(chunk, &mut rec);
                } else {
                    let _ = write!(rec, "\"{}\"", String::from_utf8_lossy(chunk));
                }
                flush(&mut rec, s);
            }
        }
        if rec.len() > head.len() {
            s.push_str(&rec);
            s.push('\n');
        }
    }
}

/// Writes both logs until the audit log reaches `target_bytes`.
pub fn generate(
    audit: &Path,
    tracer: &Path,
    target_bytes: u64,
    seed: u64,
    style: Style,
) -> Result<Generated> {
    let a =
        std::fs::File::create(audit).with_context(|| format!("creating {}", audit.display()))?;
    let t =
        std::fs::File::create(tracer).with_context(|| format!("creating {}", tracer.display()))?;
    let mut g = Gen {
        rng: Rng(seed),
        audit: BufWriter::with_capacity(1 << 20, a),
        tracer: BufWriter::with_capacity(1 << 20, t),
        now: 1_763_000_000_000_000_000,
        serial: 1000,
        next_pid: 1000,
        counts: Generated::default(),
        line: String::new(),
        style,
        inflight: Vec::new(),
    };
    let mut ses = 1;
    while g.counts.audit_bytes < target_bytes {
        g.session(ses)?;
        ses += 1;
    }
    g.flush_inflight()?;
    g.audit.flush()?;
    g.tracer.flush()?;
    Ok(g.counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_700_000_000_000_000_005),
            "2023-11-14T22:13:20.000000005Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn split_and_hex_args() {
        let mut g = Gen {
            rng: Rng(1),
            audit: Vec::new(),
            tracer: Vec::new(),
            now: 0,
            serial: 0,
            next_pid: 1,
            counts: Generated::default(),
            line: String::new(),
            style: Style::Raw,
            inflight: Vec::new(),
        };
        let mut s = String::new();
        let long = "x".repeat(10_000);
        g.execve_records("audit(1.000:1)", &["ls".into(), "a b".into(), long], &mut s);
        let lines: Vec<&str> = s.lines().collect();
        assert!(
            lines[0].contains("argc=3 a0=\"ls\" a1=612062"),
            "{}",
            lines[0]
        );
        assert!(
            lines[1].contains(" a2_len=10000 a2[0]=\"xxx"),
            "{}",
            &lines[1][..80]
        );
        assert!(lines[2].contains(" a2[1]=\"xxx"));
        assert!(lines.iter().all(|l| l.len() <= MAX_EXECVE + 64));
    }
}

#[cfg(test)]
mod sample {
    /// `cargo test -p xtask -- --ignored generate_sample` writes a sample
    /// (2 MB, or $AUDITGEN_MB) to $AUDITGEN_DIR (default /tmp), ENRICHED
    /// (or RAW with AUDITGEN_RAW=1), for eyeballing, `ausearch -if` and
    /// profiling.
    #[test]
    #[ignore]
    fn generate_sample() {
        let dir = std::env::var("AUDITGEN_DIR").unwrap_or_else(|_| "/tmp".into());
        let dir = std::path::Path::new(&dir);
        let mb: u64 = std::env::var("AUDITGEN_MB")
            .ok()
            .and_then(|m| m.parse().ok())
            .unwrap_or(2);
        let style = if std::env::var_os("AUDITGEN_RAW").is_some() {
            super::Style::Raw
        } else {
            super::Style::Enriched
        };
        let g = super::generate(
            &dir.join("auditgen.log"),
            &dir.join("auditgen.jsonl"),
            mb << 20,
            1,
            style,
        )
        .unwrap();
        assert!(g.audit_execs > 100);
    }
}
