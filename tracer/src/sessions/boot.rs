//! Which boot a record belongs to, per host. Audit session ids (and event
//! serials) start over at every boot, so a session is (host, boot, ses).
//!
//! The rule, in order:
//! 1. tracer's own log names the boot: a record carrying `boot` (tracer's
//!    start record, the head of every log file) sets the host's current boot;
//!    records without it belong to the last boot named for their host.
//! 2. Otherwise (raw audit logs, old tracer logs) boots are inferred from the
//!    log itself, per host. A new boot begins at:
//!    - a SYSTEM_BOOT record (systemd-update-utmp), unless the current boot
//!      has assigned no session yet (then it *is* that boot);
//!    - a LOGIN record whose new ses is not above the highest ses assigned in
//!      the current boot: the kernel's counter only grows within a boot;
//!    - a kernel event serial that goes back: after auditd's DAEMON_START,
//!      any serial below the highest seen; otherwise a drop to less than half
//!      of it by more than [`SERIAL_SLACK`] (serials of interleaved events
//!      differ by a few, never by thousands). auditd's own DAEMON_* records
//!      carry auditd's serials, not the kernel's, and are not counted; a
//!      DAEMON_START alone is an auditd restart, not a boot.
//!
//!    Each needs the record's time not to go back more than [`TIME_SLACK_NS`]
//!    behind the latest time of the current boot: a boot comes after the
//!    previous one; a record from the past is a log out of order, not a boot.
//!
//! A record older than the start of the current inferred boot (an exec event
//! the coalescer completed late: auditd writes no EOE to its log, so events
//! are closed by later records) belongs to the boot that was current at its
//! time, and does not count for detection.
//!
//! Inferred boots are numbered per host from 1 in reading order: the label
//! is `#N` (the report cannot know a real boot id the log does not record).

use std::collections::HashMap;

use crate::event::Timestamp;

use super::login::LoginRecord;

/// How far serials may go back without meaning a new boot.
pub const SERIAL_SLACK: u64 = 1000;

/// How far back in time a record may be and still start a new boot (clock
/// adjustments at boot).
pub const TIME_SLACK_NS: i64 = 300 * 1_000_000_000;

/// What the boot detector reads from one record.
#[derive(Debug, Clone, Copy, Default)]
pub struct BootFact<'a> {
    pub time: Timestamp,
    /// tracer's `boot` field.
    pub boot_id: Option<&'a str>,
    /// The audit record type, for login records.
    pub record: Option<LoginRecord>,
    /// The audit event serial.
    pub serial: Option<u64>,
    /// The ses a LOGIN record assigned.
    pub new_ses: Option<u32>,
}

#[derive(Debug, Default)]
struct HostBoots {
    /// The boot named by tracer, once one has been.
    named: Option<String>,
    inferred: u32,
    max_serial: Option<u64>,
    max_ses: Option<u32>,
    after_daemon_start: bool,
    latest: Option<Timestamp>,
    /// Start times of inferred boots 2, 3, ...
    starts: Vec<Timestamp>,
}

/// A record's boot: the id tracer recorded, or the number of an inferred one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BootLabel<'a> {
    Named(&'a str),
    Inferred(u32),
}

impl std::fmt::Display for BootLabel<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootLabel::Named(s) => f.write_str(s),
            BootLabel::Inferred(n) => write!(f, "#{n}"),
        }
    }
}

/// A host of a [`Boots`] (from [`Boots::host`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostIndex(usize);

/// Assigns records to boots (see the module docs).
#[derive(Debug, Default)]
pub struct Boots {
    /// Each host's state, in order of first appearance.
    hosts: Vec<(String, HostBoots)>,
    /// Host name -> index in `hosts`.
    index: HashMap<String, usize>,
    /// The index of the last host asked about: records come from one host
    /// in long runs, and hashing its name for every record (twice) was
    /// ~5 % of a report (issue 14).
    last: usize,
}

impl Boots {
    /// The boot label of a record of `host`.
    pub fn observe(&mut self, host: &str, f: &BootFact<'_>) -> BootLabel<'_> {
        let at = self.host(host);
        self.observe_at(at, f)
    }

    /// The index of `host`, for [`Boots::observe_at`]: a caller that
    /// already knows which host a record is from (the report's interned
    /// host) asks once per host, not once per record.
    pub fn host(&mut self, host: &str) -> HostIndex {
        let at = match self.hosts.get(self.last) {
            Some((name, _)) if name == host => self.last,
            _ => match self.index.get(host) {
                Some(&i) => i,
                None => {
                    self.hosts.push((host.to_owned(), HostBoots::default()));
                    self.index.insert(host.to_owned(), self.hosts.len() - 1);
                    self.hosts.len() - 1
                }
            },
        };
        self.last = at;
        HostIndex(at)
    }

    /// [`Boots::observe`] of a host found with [`Boots::host`].
    pub fn observe_at(&mut self, at: HostIndex, f: &BootFact<'_>) -> BootLabel<'_> {
        let h = &mut self.hosts[at.0].1;
        if let Some(id) = f.boot_id.filter(|b| !b.is_empty()) {
            if h.named.as_deref() != Some(id) {
                h.named = Some(id.to_owned());
            }
        }
        if let Some(id) = &h.named {
            return BootLabel::Named(id);
        }
        if h.inferred == 0 {
            h.inferred = 1;
        }
        if h.starts.last().is_some_and(|&s| f.time < s) {
            let n = h.starts.partition_point(|&s| s <= f.time);
            return BootLabel::Inferred(n as u32 + 1);
        }
        let mut new_boot = false;
        let daemon = matches!(
            f.record,
            Some(LoginRecord::DaemonStart | LoginRecord::DaemonEnd)
        );
        if f.record == Some(LoginRecord::SystemBoot) && h.max_ses.is_some() {
            new_boot = true;
        }
        if let (Some(ses), Some(max), Some(LoginRecord::Login)) = (f.new_ses, h.max_ses, f.record) {
            new_boot |= ses <= max;
        }
        if let (Some(s), Some(max), false) = (f.serial, h.max_serial, daemon) {
            let back = if h.after_daemon_start {
                s < max
            } else {
                s < max / 2 && max - s > SERIAL_SLACK
            };
            new_boot |= back;
        }
        if h.latest
            .is_some_and(|l| f.time.0 < l.0.saturating_sub(TIME_SLACK_NS))
        {
            new_boot = false;
        }
        if new_boot {
            h.inferred += 1;
            h.starts.push(f.time);
            h.max_serial = None;
            h.max_ses = None;
        }
        h.latest = Some(h.latest.map_or(f.time, |l| l.max(f.time)));
        if daemon {
            h.after_daemon_start = f.record == Some(LoginRecord::DaemonStart);
        } else if let Some(s) = f.serial {
            h.max_serial = Some(h.max_serial.map_or(s, |m| m.max(s)));
            h.after_daemon_start = false;
        }
        if f.record == Some(LoginRecord::Login) {
            if let Some(ses) = f.new_ses {
                h.max_ses = Some(h.max_ses.map_or(ses, |m| m.max(ses)));
            }
        }
        BootLabel::Inferred(h.inferred)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Labels(Boots);
    impl Labels {
        fn observe(&mut self, host: &str, f: &BootFact<'_>) -> String {
            self.0.observe(host, f).to_string()
        }
    }

    fn fact(record: Option<LoginRecord>, serial: u64, ses: Option<u32>) -> BootFact<'static> {
        BootFact {
            time: Timestamp(0),
            boot_id: None,
            record,
            serial: Some(serial),
            new_ses: ses,
        }
    }

    #[test]
    fn ses_restart_serial_drop_and_system_boot_start_boots() {
        let mut b = Labels::default();
        let login = Some(LoginRecord::Login);
        assert_eq!(b.observe("h", &fact(login, 100, Some(1))), "#1");
        assert_eq!(b.observe("h", &fact(None, 101, None)), "#1");
        assert_eq!(b.observe("h", &fact(login, 102, Some(2))), "#1");
        // Interleaved serials a little out of order: same boot.
        assert_eq!(b.observe("h", &fact(None, 99, None)), "#1");
        // ses starts over (serials happen to keep growing): new boot.
        assert_eq!(b.observe("h", &fact(login, 5000, Some(1))), "#2");
        // SYSTEM_BOOT in a boot that already had a login: new boot; a
        // following small serial belongs to it.
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::SystemBoot), 9000, None)),
            "#3"
        );
        assert_eq!(b.observe("h", &fact(login, 9010, Some(1))), "#3");
        // A big serial drop.
        assert_eq!(b.observe("h", &fact(None, 9020, None)), "#3");
        assert_eq!(b.observe("h", &fact(None, 3, None)), "#4");
        // SYSTEM_BOOT right after the inferred boundary: the same boot.
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::SystemBoot), 4, None)),
            "#4"
        );
        // DAEMON_START then any lower serial: a new boot; auditd's own
        // serial is not counted.
        assert_eq!(b.observe("h", &fact(login, 50, Some(3))), "#4");
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::DaemonStart), 7, None)),
            "#4"
        );
        assert_eq!(b.observe("h", &fact(None, 20, None)), "#5");
        // Other hosts are independent.
        assert_eq!(b.observe("g", &fact(login, 1, Some(9))), "#1");
    }

    #[test]
    fn late_records_belong_to_the_boot_of_their_time() {
        let mut b = Labels::default();
        let at = |s: i64, record, serial, ses| BootFact {
            time: Timestamp::from_secs_nanos(s, 0),
            record,
            serial: Some(serial),
            new_ses: ses,
            boot_id: None,
        };
        let login = Some(LoginRecord::Login);
        assert_eq!(b.observe("h", &at(100, login, 2_000_000, Some(7))), "#1");
        assert_eq!(
            b.observe("h", &at(5000, Some(LoginRecord::SystemBoot), 7, None)),
            "#2"
        );
        // An exec of boot 1 completed late, with a big serial: boot 1, and
        // no false boot when boot 2's small serials go on.
        assert_eq!(b.observe("h", &at(101, None, 2_000_001, None)), "#1");
        assert_eq!(b.observe("h", &at(5001, login, 20, Some(7))), "#2");
        assert_eq!(b.observe("h", &at(5002, None, 21, None)), "#2");
    }

    #[test]
    fn records_from_the_past_are_not_a_boot() {
        let mut b = Labels::default();
        let at = |s: i64, record, serial, ses| BootFact {
            time: Timestamp::from_secs_nanos(s, 0),
            record,
            serial: Some(serial),
            new_ses: ses,
            boot_id: None,
        };
        let login = Some(LoginRecord::Login);
        assert_eq!(b.observe("h", &at(10_000, login, 5000, Some(3))), "#1");
        // Earlier in time with a smaller ses: out of order, same boot.
        assert_eq!(b.observe("h", &at(5_000, login, 10, Some(1))), "#1");
        assert_eq!(
            b.observe("h", &at(5_000, Some(LoginRecord::SystemBoot), 9, None)),
            "#1"
        );
        // Later: a boot.
        assert_eq!(
            b.observe("h", &at(20_000, Some(LoginRecord::SystemBoot), 9, None)),
            "#2"
        );
    }

    #[test]
    fn auditd_restart_is_not_a_boot() {
        let mut b = Labels::default();
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::Login), 500, Some(4))),
            "#1"
        );
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::DaemonEnd), 9, None)),
            "#1"
        );
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::DaemonStart), 10, None)),
            "#1"
        );
        assert_eq!(b.observe("h", &fact(None, 510, None)), "#1");
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::Login), 511, Some(5))),
            "#1"
        );
    }

    #[test]
    fn named_boots_win() {
        let mut b = Labels::default();
        let named = BootFact {
            boot_id: Some("b1"),
            ..BootFact::default()
        };
        assert_eq!(b.observe("h", &named), "b1");
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::Login), 1, Some(1))),
            "b1"
        );
        assert_eq!(
            b.observe("h", &fact(Some(LoginRecord::Login), 1, Some(1))),
            "b1"
        );
        let named = BootFact {
            boot_id: Some("b2"),
            ..BootFact::default()
        };
        assert_eq!(b.observe("h", &named), "b2");
        assert_eq!(b.observe("h", &BootFact::default()), "b2");
    }
}
