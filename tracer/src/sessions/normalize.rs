//! Normalisation of what identifies a session's context, in one place for
//! every source and the report: terminals, batch job ids and systemd units
//! from cgroup paths, and program names.

/// A terminal as tracer shows it: `pts/1`, `tty1`, `console`, `ttyS0`.
/// Accepts the kernel's SYSCALL form (`pts1`), PAM's `terminal=` (`/dev/pts/1`,
/// `pts/1`, `tty1`) and tracer's own (`pts/1`). Service names that PAM puts in
/// `terminal=` (`ssh`, `cron`, `systemd-user`) and "none" markers (`(none)`,
/// `?`, empty) are not terminals: `None`.
pub fn tty(raw: &str) -> Option<String> {
    let t = raw.strip_prefix("/dev/").unwrap_or(raw);
    if let Some(n) = t.strip_prefix("pts") {
        let n = n.strip_prefix('/').unwrap_or(n);
        if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
            return Some(format!("pts/{n}"));
        }
        return None;
    }
    let is_tty = (t.starts_with("tty") && t.len() > 3) || t == "console" || t.starts_with("hvc");
    (is_tty && t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'/')).then(|| t.to_owned())
}

/// The batch job id: the digits of the first cgroup component named
/// `job_<digits>` (Slurm: `/system.slice/slurmstepd.scope/job_4242/step_0`).
pub fn job_id(cgroup: &str) -> Option<&str> {
    cgroup.split('/').find_map(|p| {
        let id = p.strip_prefix("job_")?;
        (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
    })
}

/// The systemd unit that started a process: the first `*.service` component
/// (`/system.slice/cron.service` -> `cron.service`;
/// `/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope` ->
/// `user@1000.service`), else the last `*.scope` (`session-3.scope`).
pub fn unit(cgroup: &str) -> Option<&str> {
    let mut parts = cgroup.split('/').filter(|p| !p.is_empty());
    if let Some(s) = parts.clone().find(|p| p.ends_with(".service")) {
        return Some(s);
    }
    parts.rfind(|p| p.ends_with(".scope"))
}

/// The base name of an executable path (`/usr/sbin/sshd` -> `sshd`).
pub fn program(exe: &[u8]) -> &[u8] {
    exe.rsplit(|&b| b == b'/').next().unwrap_or(exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttys() {
        for (raw, want) in [
            ("pts1", Some("pts/1")),
            ("pts/12", Some("pts/12")),
            ("/dev/pts/3", Some("pts/3")),
            ("tty1", Some("tty1")),
            ("/dev/tty2", Some("tty2")),
            ("ttyS0", Some("ttyS0")),
            ("console", Some("console")),
            ("ssh", None),
            ("cron", None),
            ("(none)", None),
            ("?", None),
            ("", None),
            ("tty", None),
            ("pts", None),
            ("pts/x", None),
        ] {
            assert_eq!(tty(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn units_and_jobs() {
        assert_eq!(unit("/system.slice/cron.service"), Some("cron.service"));
        assert_eq!(
            unit("/user.slice/user-1000.slice/user@1000.service/app.slice/x.scope"),
            Some("user@1000.service")
        );
        assert_eq!(
            unit("/user.slice/user-1000.slice/session-3.scope"),
            Some("session-3.scope")
        );
        assert_eq!(unit("/"), None);
        assert_eq!(unit(""), None);
        assert_eq!(
            job_id("/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0"),
            Some("4242")
        );
        assert_eq!(job_id("/system.slice/cron.service"), None);
        assert_eq!(job_id("/x/job_/y"), None);
        assert_eq!(program(b"/usr/sbin/sshd"), b"sshd");
        assert_eq!(program(b"sshd"), b"sshd");
    }
}
