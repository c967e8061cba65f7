//! Formatting shared by the renderers: times, user names, the "ran as"
//! identity, argv, errno. Every string that came from the log passes through
//! [`super::quote`] here, so no renderer can forget to.

use std::cell::Cell;

use chrono::{Local, Offset, TimeZone};

use crate::event::rfc3339::{civil, date_time};
use crate::event::{Timestamp, UNSET};

use super::errno;
use super::model::{argv_iter, Command, Interner, NONE, USER_CMD};
use super::quote::{push_arg, quote_arg, sanitize};
use super::users::{NameSource, Names};

/// The zone times are shown in (text and CSV use local time by default;
/// JSON is always RFC 3339 UTC, like the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Local,
    Utc,
}

/// What renderers need besides the model.
#[derive(Debug, Clone)]
pub struct Ctx<'a> {
    pub names: &'a Names,
    pub zone: Zone,
    /// This machine's host name: names not from the log are marked for logs
    /// of other hosts.
    pub local_host: String,
    pub color: bool,
    /// (15-minute bucket, UTC offset in seconds) of the last local-time lookup:
    /// time-zone rules are looked up once per bucket, not once per command.
    offset_cache: Cell<(i64, i64)>,
}

impl<'a> Ctx<'a> {
    pub fn new(names: &'a Names, zone: Zone, color: bool) -> Self {
        Self {
            names,
            zone,
            local_host: crate::run::hostname(),
            color,
            offset_cache: Cell::new((i64::MIN, 0)),
        }
    }

    /// `2024-05-01 09:00:03`, in the report's zone.
    pub fn time(&self, t: Timestamp) -> String {
        let secs = t.secs();
        let offset = match self.zone {
            Zone::Utc => 0,
            Zone::Local => {
                let bucket = secs.div_euclid(900);
                let (b, off) = self.offset_cache.get();
                if b == bucket {
                    off
                } else {
                    let utc = t.to_datetime().naive_utc();
                    let off =
                        i64::from(Local.offset_from_utc_datetime(&utc).fix().local_minus_utc());
                    self.offset_cache.set((bucket, off));
                    off
                }
            }
        };
        civil_time(secs.saturating_add(offset))
    }

    pub fn zone_name(&self) -> String {
        match self.zone {
            Zone::Utc => "UTC".into(),
            Zone::Local => Local::now().format("%Z (UTC%:z)").to_string(),
        }
    }

    /// The user's name, sanitized, if known.
    pub fn name(&self, uid: u32) -> Option<String> {
        self.names.lookup(uid).map(|(n, _)| sanitize(n.as_bytes()))
    }

    /// The name of a session's login user and where it came from: the
    /// session's own (`log_name`, from its records), else [`Names`].
    pub fn session_user(&self, uid: u32, log_name: Option<&str>) -> Option<(String, NameSource)> {
        match log_name {
            Some(n) => Some((n.to_owned(), NameSource::Log)),
            None if uid == UNSET || uid == NONE => None,
            None => self.names.lookup(uid),
        }
    }

    /// `alice (uid 1000)`, or `uid 1000` when the name is unknown; a name
    /// that is not from the log, for a log of another (or an unknown) host,
    /// says where it came from: `bob (uid 1002; name from this machine's
    /// NSS, not from the log)`.
    pub fn user_label(&self, uid: u32, log_name: Option<&str>, host: &str) -> String {
        if uid == UNSET || uid == NONE {
            return "(no login uid)".into();
        }
        match self.session_user(uid, log_name) {
            Some((n, NameSource::Log)) => format!("{} (uid {uid})", sanitize(n.as_bytes())),
            Some((n, src)) if host != self.local_host => format!(
                "{} (uid {uid}; name from {}, not from the log)",
                sanitize(n.as_bytes()),
                match src {
                    NameSource::Passwd => "--passwd",
                    _ => "this machine's NSS",
                }
            ),
            Some((n, _)) => format!("{} (uid {uid})", sanitize(n.as_bytes())),
            None => format!("uid {uid}"),
        }
    }

    /// The identity a command ran as when it differs from its login user
    /// (or always, for commands with no login user): `root (uid 0)`,
    /// `root (euid 0, uid 1000)` for a setuid program.
    pub fn ran_as(&self, c: &Command, strings: &Interner) -> Option<String> {
        if let Some(target) = strings.get_opt(c.target(strings)) {
            let via = c.via().unwrap_or("sudo");
            return Some(format!("{} via {via}", sanitize(target)));
        }
        let (uid, euid) = (Command::opt(c.uid), Command::opt(c.euid(strings)));
        if c.flags & USER_CMD != 0 && euid.is_none() {
            return Some("via sudo".into());
        }
        let eff = euid.or(uid)?;
        let login = (c.auid != UNSET).then_some(c.auid);
        if login.is_some()
            && uid.is_none_or(|u| Some(u) == login)
            && euid.is_none_or(|e| Some(e) == login)
        {
            return None;
        }
        let name = self.name(eff).unwrap_or_else(|| format!("#{eff}"));
        let via = c.via().map_or(String::new(), |v| format!(" via {v}"));
        Some(match (uid, euid) {
            (Some(u), Some(e)) if u != e => format!("{name} (euid {e}, uid {u}){via}"),
            _ => format!("{name} (uid {eff}){via}"),
        })
    }

    /// The name of the effective user, for JSON/CSV `as_user`.
    pub fn ran_as_name(&self, c: &Command, strings: &Interner) -> Option<String> {
        if let Some(target) = strings.get_opt(c.target(strings)) {
            return Some(sanitize(target));
        }
        self.ran_as(c, strings)?;
        let eff = Command::opt(c.euid(strings)).or(Command::opt(c.uid))?;
        Some(self.name(eff).unwrap_or_else(|| eff.to_string()))
    }
}

/// The command line as it would be typed.
pub fn command_line(strings: &Interner, c: &Command) -> String {
    let packed = strings.argv(c.argv);
    let mut out = String::with_capacity(packed.len() + 8);
    for (i, a) in argv_iter(&packed).enumerate() {
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

/// A host name for text output: `(no host name)` when the log gave none
/// (an audit log without `node=`, read without `--host-name`).
pub fn host(strings: &Interner, sym: u32) -> String {
    match strings.get_opt(sym) {
        Some(h) if !h.is_empty() => sanitize(h),
        _ => "(no host name)".into(),
    }
}

/// An interned display string (host, service, job), sanitized.
pub fn text(strings: &Interner, sym: u32) -> String {
    sanitize(strings.get(sym))
}

/// `YYYY-MM-DD HH:MM:SS` of seconds since the epoch (no zone applied), with
/// Howard Hinnant's `civil_from_days`; much cheaper than strftime per row.
pub fn civil_time(secs: i64) -> String {
    let (y, m, d, rem) = civil(secs);
    if (0..=9999).contains(&y) {
        let mut b = date_time((y, m, d, rem));
        b[10] = b' ';
        // ASCII digits and separators: always UTF-8, never lossy.
        String::from_utf8_lossy(&b).into_owned()
    } else {
        // Outside years 0..=9999, `format!` writes another width.
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn civil_time_agrees_with_chrono(secs in -9_000_000_000i64..9_000_000_000) {
            let t = Timestamp::from_secs_nanos(secs, 0);
            prop_assert_eq!(civil_time(secs), t.to_datetime().format("%Y-%m-%d %H:%M:%S").to_string());
            let t = Timestamp::from_secs_nanos(secs, (secs.rem_euclid(1_000_000_000)) as u32);
            // The report writes times with the log writer's formatter.
            prop_assert_eq!(
                t.to_rfc3339(),
                t.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
            );
        }
    }

    #[test]
    fn local_time_agrees_with_chrono() {
        let names = Names::default();
        let ctx = Ctx::new(&names, Zone::Local, false);
        for secs in [
            0i64,
            1_714_554_000,
            1_711_846_800,
            1_729_990_800,
            1_700_000_000,
        ] {
            let t = Timestamp::from_secs_nanos(secs, 0);
            let want = t
                .to_datetime()
                .with_timezone(&Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string();
            assert_eq!(ctx.time(t), want);
        }
    }
}
