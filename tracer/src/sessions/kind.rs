//! What a session is: an interactive login, a cron job, a systemd user
//! manager, or another service. Decided from the login process's program
//! (`exe=` of its PAM records) when the log has it, else from PAM's
//! `terminal=`, else (tracer's live tracker, eBPF source) from the cgroup and
//! terminal of its first process.

use super::normalize::{program, tty, unit};

/// The kind of a session. `Batch` is a batch job's (a Slurm job is the
/// session of its processes: [`super::job`]); the report gives it to job
/// groups, never to a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum SessionKind {
    /// A person logged in: sshd, login (console), a display manager.
    Interactive,
    /// cron/anacron running a job for a user.
    Cron,
    /// `systemd --user`, the per-user service manager.
    SystemdUser,
    /// Any other PAM service that opened a session (atd, vsftpd, run0...).
    Service,
    /// A batch job (Slurm): its processes, by job (see [`super::job`]).
    Batch,
    /// Nothing in the log says (commands seen, no login record).
    #[default]
    Unknown,
}

impl SessionKind {
    pub const ALL: [SessionKind; 6] = [
        SessionKind::Interactive,
        SessionKind::Cron,
        SessionKind::SystemdUser,
        SessionKind::Service,
        SessionKind::Batch,
        SessionKind::Unknown,
    ];

    /// The name used in JSON (`kind`), on the command line (`--kind`) and in
    /// tracer's session records.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Interactive => "interactive",
            SessionKind::Cron => "cron",
            SessionKind::SystemdUser => "user_manager",
            SessionKind::Service => "service",
            SessionKind::Batch => "batch_job",
            SessionKind::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Shown by the text report without `--all`: logins by people, and
    /// sessions nothing says are anything else.
    pub fn shown_by_default(self) -> bool {
        matches!(
            self,
            SessionKind::Interactive | SessionKind::Batch | SessionKind::Unknown
        )
    }

    /// The kind of session a login program opens, `None` when the program
    /// says nothing (or is one that never owns a login: sudo, su).
    pub fn of_program(exe: &[u8]) -> Option<Self> {
        let p = program(exe);
        Some(match p {
            b"sshd"
            | b"sshd-session"
            | b"login"
            | b"gdm-session-worker"
            | b"gdm"
            | b"lightdm"
            | b"sddm"
            | b"sddm-helper"
            | b"xrdp-sesman"
            | b"xrdp"
            | b"cockpit-session"
            | b"in.telnetd"
            | b"telnetd"
            | b"in.rlogind"
            | b"rlogind"
            | b"mingetty"
            | b"agetty"
            | b"dropbear"
            | b"kdm"
            | b"xdm"
            | b"slim" => SessionKind::Interactive,
            b"cron" | b"crond" | b"anacron" | b"fcron" | b"cronie" => SessionKind::Cron,
            b"systemd" => SessionKind::SystemdUser,
            _ if is_nested_program(p) => return None,
            _ => SessionKind::Service,
        })
    }

    /// From PAM's `terminal=` when the program is unknown.
    pub fn of_terminal(terminal: &str) -> Option<Self> {
        match terminal {
            "ssh" | "sshd" => Some(SessionKind::Interactive),
            "cron" => Some(SessionKind::Cron),
            "systemd-user" | "systemd" => Some(SessionKind::SystemdUser),
            t if tty(t).is_some() => Some(SessionKind::Interactive),
            _ => None,
        }
    }

    /// From a process of the session (eBPF source: no login records): its
    /// cgroup and terminal.
    pub fn of_process(cgroup: Option<&str>, tty_name: Option<&str>) -> Self {
        let u = cgroup.and_then(unit).unwrap_or("");
        if u.starts_with("user@") {
            return SessionKind::SystemdUser;
        }
        if matches!(u, "cron.service" | "crond.service" | "anacron.service") {
            return SessionKind::Cron;
        }
        if tty_name.is_some_and(|t| tty(t).is_some()) || u.starts_with("session-") {
            return SessionKind::Interactive;
        }
        if u.ends_with(".service") {
            return SessionKind::Service;
        }
        SessionKind::Unknown
    }
}

/// Programs that run inside someone's login as another identity and whose
/// PAM records (USER_START, USER_END...) belong to *that* login: they never
/// start or end it.
pub fn is_nested_program(p: &[u8]) -> bool {
    matches!(
        p,
        b"sudo"
            | b"sudoedit"
            | b"sudo-rs"
            | b"su"
            | b"su-rs"
            | b"runuser"
            | b"pkexec"
            | b"doas"
            | b"run0"
            | b"polkit-agent-helper-1"
            | b"newgrp"
            | b"sg"
            | b"passwd"
            | b"chsh"
            | b"chfn"
    )
}

impl std::fmt::Display for SessionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_programs_terminals_and_processes() {
        assert_eq!(
            SessionKind::of_program(b"/usr/sbin/sshd"),
            Some(SessionKind::Interactive)
        );
        assert_eq!(
            SessionKind::of_program(b"/usr/sbin/cron"),
            Some(SessionKind::Cron)
        );
        assert_eq!(
            SessionKind::of_program(b"/usr/lib/systemd/systemd"),
            Some(SessionKind::SystemdUser)
        );
        assert_eq!(SessionKind::of_program(b"/usr/bin/sudo"), None);
        assert_eq!(
            SessionKind::of_program(b"/usr/sbin/atd"),
            Some(SessionKind::Service)
        );
        assert_eq!(
            SessionKind::of_terminal("ssh"),
            Some(SessionKind::Interactive)
        );
        assert_eq!(
            SessionKind::of_terminal("/dev/tty1"),
            Some(SessionKind::Interactive)
        );
        assert_eq!(SessionKind::of_terminal("cron"), Some(SessionKind::Cron));
        assert_eq!(SessionKind::of_terminal("?"), None);
        assert_eq!(
            SessionKind::of_process(
                Some("/user.slice/user-0.slice/user@0.service/init.scope"),
                None
            ),
            SessionKind::SystemdUser
        );
        assert_eq!(
            SessionKind::of_process(Some("/system.slice/cron.service"), None),
            SessionKind::Cron
        );
        assert_eq!(
            SessionKind::of_process(Some("/user.slice/user-1.slice/session-4.scope"), None),
            SessionKind::Interactive
        );
        assert_eq!(
            SessionKind::of_process(None, Some("pts/0")),
            SessionKind::Interactive
        );
        assert_eq!(SessionKind::of_process(None, None), SessionKind::Unknown);
        for k in SessionKind::ALL {
            assert_eq!(SessionKind::parse(k.as_str()), Some(k));
        }
    }
}
