//! One login's state and the rule that decides which records start and end
//! it ([`Login::apply`]). The caller keeps one [`Login`] per
//! (host, boot, ses) and hands it the login records of that session.
//!
//! Which process owns the login: the kernel's LOGIN record names the process
//! that received the new ses (sshd's per-connection process, login, cron's
//! child, `(systemd)`): its pid is the *leader*. Only the leader's
//! USER_START/USER_LOGIN/USER_END/USER_LOGOUT move the login's start and end.
//! Without a LOGIN record (the log begins mid-session), the first opening or
//! closing record by a program that owns logins (not sudo/su: see
//! [`super::kind::is_nested_program`]) makes its pid the leader.

use crate::event::Timestamp;

use super::kind::{is_nested_program, SessionKind};
use super::normalize::{program, tty};

/// The audit record types that matter to sessions, by their audit names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoginRecord {
    /// The kernel set a login uid and session id (pam_loginuid).
    Login,
    UserLogin,
    UserLogout,
    UserStart,
    UserEnd,
    UserAuth,
    UserAcct,
    CredAcq,
    CredRefr,
    CredDisp,
    /// sudo's account of a command.
    UserCmd,
    /// systemd-update-utmp at boot and shutdown.
    SystemBoot,
    SystemShutdown,
    /// auditd started or stopped (its own records; not a boot by itself).
    DaemonStart,
    DaemonEnd,
    Other,
}

impl LoginRecord {
    pub fn from_name(name: &str) -> Self {
        match name {
            "LOGIN" => Self::Login,
            "USER_LOGIN" => Self::UserLogin,
            "USER_LOGOUT" => Self::UserLogout,
            "USER_START" => Self::UserStart,
            "USER_END" => Self::UserEnd,
            "USER_AUTH" => Self::UserAuth,
            "USER_ACCT" => Self::UserAcct,
            "CRED_ACQ" => Self::CredAcq,
            "CRED_REFR" => Self::CredRefr,
            "CRED_DISP" => Self::CredDisp,
            "USER_CMD" => Self::UserCmd,
            "SYSTEM_BOOT" => Self::SystemBoot,
            "SYSTEM_SHUTDOWN" => Self::SystemShutdown,
            "DAEMON_START" => Self::DaemonStart,
            "DAEMON_END" | "DAEMON_ABORT" => Self::DaemonEnd,
            _ => Self::Other,
        }
    }

    /// A record that opens a session when its login process sends it.
    pub fn opens(self) -> bool {
        matches!(self, Self::Login | Self::UserLogin | Self::UserStart)
    }

    /// A record that closes a session when its login process sends it.
    pub fn closes(self) -> bool {
        matches!(self, Self::UserEnd | Self::UserLogout)
    }
}

/// One login record, as the session model sees it. `auid`/`ses` are `None`
/// when unset.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoginFact<'a> {
    pub time: Timestamp,
    pub record: Option<LoginRecord>,
    pub pid: Option<u32>,
    pub auid: Option<u32>,
    pub ses: Option<u32>,
    /// `res=`: `Some(false)` for a failure.
    pub success: Option<bool>,
    /// The sending program (`exe=`).
    pub exe: Option<&'a [u8]>,
    /// PAM's `terminal=` (`ssh`, `/dev/pts/1`, `cron`).
    pub terminal: Option<&'a str>,
    /// A normalised tty when the source already has one.
    pub tty: Option<&'a str>,
    pub addr: Option<&'a str>,
    pub port: Option<u16>,
    /// `acct=`: the login user on the login's own records, the *target* on
    /// sudo/su's.
    pub acct: Option<&'a str>,
}

/// What a record did to its login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It started the login (the first record that did).
    Opened,
    /// It is the login's own record: it may have moved start/end or added
    /// the address, but did not open or close it.
    Own,
    /// It ended the login (the leader's USER_END / USER_LOGOUT).
    Closed,
    /// Another process's record inside the login (sudo, su): ignored for
    /// start and end.
    Nested,
    /// sudo's USER_CMD: a command row for the caller.
    Command,
    /// A failed record, or one that says nothing about sessions.
    Ignored,
}

/// What is known of one login. Times are `None` until a record sets them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Login {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Why it ended, when known: `logout` (its login process said so, or
    /// every process is gone), `expired`, ...
    pub end_reason: Option<String>,
    /// The login process (see the module docs).
    pub leader: Option<u32>,
    pub kind: SessionKind,
    /// The login program's name (`sshd`, `cron`, `login`).
    pub service: Option<String>,
    pub addr: Option<String>,
    pub port: Option<u16>,
    pub tty: Option<String>,
    /// The login user's name from the login's own records (`acct=`).
    pub user: Option<String>,
}

impl Login {
    /// Applies one login record of this session.
    pub fn apply(&mut self, f: &LoginFact<'_>) -> Verdict {
        let Some(record) = f.record else {
            return Verdict::Ignored;
        };
        if record == LoginRecord::UserCmd {
            return Verdict::Command;
        }
        if f.success == Some(false) {
            return Verdict::Ignored;
        }
        let prog = f.exe.map(program);
        let nested_prog = prog.is_some_and(is_nested_program);
        let own = match (self.leader, f.pid) {
            (Some(l), Some(p)) => l == p,
            // The kernel's LOGIN names the leader even when another record
            // adopted one first (records out of order).
            _ if record == LoginRecord::Login => true,
            (Some(_), None) => !nested_prog && prog.is_none(),
            (None, _) => !nested_prog && (record.opens() || record.closes()),
        };
        if !own {
            return if record.opens() || record.closes() || nested_prog {
                Verdict::Nested
            } else {
                Verdict::Ignored
            };
        }
        if record == LoginRecord::Login || self.leader.is_none() {
            self.leader = f.pid.or(self.leader);
        }
        if let Some(p) = prog {
            if let Some(k) = SessionKind::of_program(p) {
                if self.kind == SessionKind::Unknown || record != LoginRecord::Login {
                    self.kind = k;
                }
                self.service = Some(String::from_utf8_lossy(p).into_owned());
            }
        }
        if self.kind == SessionKind::Unknown {
            if let Some(k) = f.terminal.and_then(SessionKind::of_terminal) {
                self.kind = k;
            }
        }
        if self.addr.is_none() {
            self.addr = f.addr.filter(|a| known(a)).map(str::to_owned);
            self.port = self.port.or(f.port);
        }
        if self.tty.is_none() {
            self.tty = f.tty.or(f.terminal).and_then(tty);
        }
        if self.user.is_none() && record != LoginRecord::Login {
            self.user = f.acct.filter(|a| known(a)).map(str::to_owned);
        }
        if record.opens() {
            let first = self.start.is_none();
            self.start = Some(self.start.map_or(f.time, |s| s.min(f.time)));
            self.keep_order();
            return if first { Verdict::Opened } else { Verdict::Own };
        }
        if record.closes() {
            self.close(f.time, "logout");
            return Verdict::Closed;
        }
        Verdict::Own
    }

    /// A process of the session was seen (an exec): classifies a session
    /// whose login records are missing.
    pub fn saw_process(&mut self, cgroup: Option<&str>, tty_name: Option<&str>) {
        if self.kind == SessionKind::Unknown {
            self.kind = SessionKind::of_process(cgroup, tty_name);
        }
        if self.tty.is_none() {
            self.tty = tty_name.and_then(tty);
        }
    }

    /// Ends the login at `time` (the latest end wins).
    pub fn close(&mut self, time: Timestamp, reason: &str) {
        self.end = Some(self.end.map_or(time, |e| e.max(time)));
        if self.end_reason.is_none() {
            self.end_reason = Some(reason.to_owned());
        }
        self.keep_order();
    }

    /// A start known from elsewhere (tracer's `session_start` record).
    pub fn started(&mut self, time: Timestamp) {
        self.start = Some(self.start.map_or(time, |s| s.min(time)));
        self.keep_order();
    }

    /// start <= end always: an end before the start (clocks, records out of
    /// order) is moved to the start.
    fn keep_order(&mut self) {
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if e < s {
                self.end = Some(s);
            }
        }
    }
}

fn known(s: &str) -> bool {
    !s.is_empty() && s != "?" && s != "(null)" && s != "(none)"
}

/// A failed login or authentication, for the failed-logins table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailedAttempt<'a> {
    /// The user name tried (`acct=`), when recorded.
    pub user: Option<&'a str>,
    pub addr: Option<&'a str>,
    pub program: Option<&'a [u8]>,
    /// USER_LOGIN (a failed login, as `aureport -l --failed` counts) or
    /// USER_AUTH (a failed authentication: a wrong password, for ssh or sudo).
    pub login: bool,
}

/// Whether `f` is a failed login (USER_LOGIN) or authentication (USER_AUTH).
pub fn failed_attempt<'a>(f: &LoginFact<'a>) -> Option<FailedAttempt<'a>> {
    let login = match f.record? {
        LoginRecord::UserLogin => true,
        LoginRecord::UserAuth => false,
        _ => return None,
    };
    (f.success == Some(false)).then_some(FailedAttempt {
        user: f.acct.filter(|a| known(a)),
        addr: f.addr.filter(|a| known(a)),
        program: f.exe.map(program),
        login,
    })
}

#[cfg(test)]
#[path = "login_tests.rs"]
mod tests;
