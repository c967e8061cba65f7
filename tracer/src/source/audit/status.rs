//! The kernel's audit status (`auditctl -s`): read it, and change the
//! `enabled` flag, the backlog limit and the daemon pid in ways that can be
//! undone. Audit state is global to the machine, so every change here
//! returns what it replaced.

use netlink_packet_audit::StatusMessage;

use super::netlink::{AuditSocket, NetlinkError};

/// `struct audit_status.mask` bits (include/uapi/linux/audit.h).
pub const AUDIT_STATUS_ENABLED: u32 = 0x0001;
pub const AUDIT_STATUS_FAILURE: u32 = 0x0002;
pub const AUDIT_STATUS_PID: u32 = 0x0004;
pub const AUDIT_STATUS_RATE_LIMIT: u32 = 0x0008;
pub const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x0010;
pub const AUDIT_STATUS_BACKLOG_WAIT_TIME: u32 = 0x0020;
pub const AUDIT_STATUS_LOST: u32 = 0x0040;

/// `enabled` value that locks the configuration until reboot.
pub const AUDIT_LOCKED: u32 = 2;

/// A snapshot of `AUDIT_GET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditStatus {
    /// 0 off, 1 on, 2 on and locked.
    pub enabled: u32,
    /// What the kernel does on a critical error: 0 silent, 1 printk, 2 panic.
    pub failure: u32,
    /// The registered audit daemon's pid, 0 when none.
    pub pid: u32,
    pub rate_limit: u32,
    pub backlog_limit: u32,
    /// Records the kernel dropped since boot (a wrapping counter).
    pub lost: u32,
    pub backlog: u32,
    /// `AUDIT_FEATURE_BITMAP_*` bits.
    pub feature_bitmap: u32,
    pub backlog_wait_time: u32,
}

impl From<StatusMessage> for AuditStatus {
    fn from(s: StatusMessage) -> Self {
        Self {
            enabled: s.enabled,
            failure: s.failure,
            pid: s.pid,
            rate_limit: s.rate_limiting,
            backlog_limit: s.backlog_limit,
            lost: s.lost,
            backlog: s.backlog,
            feature_bitmap: s.feature_bitmap,
            backlog_wait_time: s.backlog_wait_time,
        }
    }
}

impl AuditStatus {
    /// Ask the kernel.
    pub fn get() -> Result<Self, NetlinkError> {
        Ok(AuditSocket::open()?.get_status()?.into())
    }

    /// A daemon is registered and its process still exists. The kernel
    /// forgets a dead daemon only when a send to it fails, so `pid` alone
    /// can name a process that is gone.
    pub fn daemon_alive(&self) -> bool {
        self.pid != 0 && pid_alive(self.pid)
    }
}

/// Whether a process with this pid exists (signal 0; EPERM means it does).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Set the kernel's `enabled` flag to 0 or 1; returns the previous value so
/// the caller can restore it. Refuses 2 (irreversible) and a locked kernel.
pub fn set_enabled(enabled: u32) -> Result<u32, NetlinkError> {
    let mut sock = AuditSocket::open()?;
    let before = sock.get_status()?.enabled;
    if before == AUDIT_LOCKED || enabled >= AUDIT_LOCKED {
        return Err(NetlinkError::Locked);
    }
    if before != enabled {
        let mut s = StatusMessage::new();
        s.enabled = enabled;
        sock.set_status(s, AUDIT_STATUS_ENABLED)?;
    }
    Ok(before)
}

/// Set the kernel's backlog limit; returns the previous value.
pub fn set_backlog_limit(limit: u32) -> Result<u32, NetlinkError> {
    let mut sock = AuditSocket::open()?;
    let before = sock.get_status()?.backlog_limit;
    if before != limit {
        let mut s = StatusMessage::new();
        s.backlog_limit = limit;
        sock.set_status(s, AUDIT_STATUS_BACKLOG_LIMIT)?;
    }
    Ok(before)
}

/// Turns audit on (or off) and puts the previous `enabled` value back when
/// dropped, unless [`EnabledGuard::keep`] was called. For `tracer run` and
/// for tests: multicast records only flow while `enabled` is 1.
#[must_use = "the previous value is restored when the guard is dropped"]
pub struct EnabledGuard {
    previous: u32,
    wanted: u32,
    armed: bool,
}

impl EnabledGuard {
    pub fn set(enabled: u32) -> Result<Self, NetlinkError> {
        let previous = set_enabled(enabled)?;
        Ok(Self {
            previous,
            wanted: enabled,
            armed: true,
        })
    }

    /// The value before [`EnabledGuard::set`].
    pub fn previous(&self) -> u32 {
        self.previous
    }

    /// Whether this guard changed anything.
    pub fn changed(&self) -> bool {
        self.previous != self.wanted
    }

    /// Leave the new value in place.
    pub fn keep(mut self) {
        self.armed = false;
    }

    /// Restore now and report failure (drop only logs it).
    pub fn restore(mut self) -> Result<(), NetlinkError> {
        self.armed = false;
        self.do_restore()
    }

    fn do_restore(&self) -> Result<(), NetlinkError> {
        if self.changed() {
            set_enabled(self.previous)?;
        }
        Ok(())
    }
}

impl Drop for EnabledGuard {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = self.do_restore() {
                log::error!("can't restore audit enabled={}: {e}", self.previous);
            }
        }
    }
}
