//! Formatting shared by the renderers: times, user names, the "ran as"
//! identity, argv, errno. Every string that came from the log passes through
//! [`super::quote`] here, so no renderer can forget to.

use chrono::Local;

use crate::event::{Timestamp, UNSET};

use super::errno;
use super::model::{unpack_argv, Command, Interner, NONE};
use super::quote::{push_arg, quote_arg, sanitize};
use super::users::UserDb;

/// The zone times are shown in (text and CSV use local time by default;
/// JSON is always RFC 3339 UTC, like the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Local,
    Utc,
}

/// What renderers need besides the model.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub users: &'a UserDb,
    pub zone: Zone,
    pub color: bool,
}

impl Ctx<'_> {
    /// `2024-05-01 09:00:03`.
    pub fn time(&self, t: Timestamp) -> String {
        const F: &str = "%Y-%m-%d %H:%M:%S";
        match self.zone {
            Zone::Utc => t.to_datetime().format(F).to_string(),
            Zone::Local => t.to_datetime().with_timezone(&Local).format(F).to_string(),
        }
    }

    pub fn zone_name(&self) -> String {
        match self.zone {
            Zone::Utc => "UTC".into(),
            Zone::Local => Local::now().format("%Z (UTC%:z)").to_string(),
        }
    }

    /// The user's name, sanitized, if known.
    pub fn name(&self, uid: u32) -> Option<String> {
        self.users.name(uid).map(|n| sanitize(n.as_bytes()))
    }

    /// `alice (uid 1000)`, or `uid 1000` when the name is unknown.
    pub fn user_label(&self, uid: u32) -> String {
        if uid == UNSET || uid == NONE {
            return "(no login uid)".into();
        }
        match self.name(uid) {
            Some(n) => format!("{n} (uid {uid})"),
            None => format!("uid {uid}"),
        }
    }

    /// The identity a command ran as when it differs from its login user
    /// (or always, for commands with no login user): `root (uid 0)`,
    /// `root (euid 0, uid 1000)` for a setuid program.
    pub fn ran_as(&self, c: &Command) -> Option<String> {
        let (uid, euid) = (Command::opt(c.uid), Command::opt(c.euid));
        let eff = euid.or(uid)?;
        let login = (c.auid != UNSET).then_some(c.auid);
        if login.is_some()
            && uid.is_none_or(|u| Some(u) == login)
            && euid.is_none_or(|e| Some(e) == login)
        {
            return None;
        }
        let name = self.name(eff).unwrap_or_else(|| format!("#{eff}"));
        Some(match (uid, euid) {
            (Some(u), Some(e)) if u != e => format!("{name} (euid {e}, uid {u})"),
            _ => format!("{name} (uid {eff})"),
        })
    }

    /// The name of the effective user, for JSON/CSV `as_user`.
    pub fn ran_as_name(&self, c: &Command) -> Option<String> {
        self.ran_as(c)?;
        let eff = Command::opt(c.euid).or(Command::opt(c.uid))?;
        Some(self.name(eff).unwrap_or_else(|| eff.to_string()))
    }
}

/// The command line as it would be typed.
pub fn command_line(strings: &Interner, c: &Command) -> String {
    let mut out = String::new();
    for (i, a) in unpack_argv(strings.get(c.argv)).into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_arg(&mut out, a);
    }
    if out.is_empty() {
        // No argv recorded: fall back to the executable.
        if let Some(exe) = strings.get_opt(c.exe) {
            out = quote_arg(exe);
        }
    }
    out
}

/// A path (cwd, exe) quoted as it would be typed, or empty.
pub fn path(strings: &Interner, sym: u32) -> String {
    strings.get_opt(sym).map(quote_arg).unwrap_or_default()
}

/// The errno name of a failed command (`ENOENT`), or empty.
pub fn failure(c: &Command) -> String {
    if !c.failed() {
        return String::new();
    }
    if c.ret == 0 {
        return "failed".into();
    }
    errno::describe_ret(c.ret as i64)
}

/// An interned display string (host, service, job), sanitized.
pub fn text(strings: &Interner, sym: u32) -> String {
    sanitize(strings.get(sym))
}
