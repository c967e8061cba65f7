//! The free-space ladder, as auditd has it: below `space_left` a warning, below
//! `admin_space_left` the administrator's action; each fires once when free
//! space crosses its threshold downwards and re-arms when it is back above.
//! Pure state so that it is tested without filling a disk.

use std::io;
use std::path::Path;

use crate::config::Threshold;

/// A crossing of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    SpaceLeft,
    SpaceBack,
    AdminSpaceLeft,
    AdminSpaceBack,
}

#[derive(Debug, Default, Clone)]
pub struct Ladder {
    below_space_left: bool,
    below_admin: bool,
}

impl Ladder {
    /// Feeds one observation (`free` of `total` bytes available); returns the
    /// crossings, in the order they are to be acted on.
    pub fn observe(
        &mut self,
        free: u64,
        total: u64,
        space_left: Threshold,
        admin: Threshold,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        let low = free < space_left.bytes(total);
        let admin_low = free < admin.bytes(total);
        if low != self.below_space_left {
            self.below_space_left = low;
            steps.push(if low {
                Step::SpaceLeft
            } else {
                Step::SpaceBack
            });
        }
        if admin_low != self.below_admin {
            self.below_admin = admin_low;
            steps.push(if admin_low {
                Step::AdminSpaceLeft
            } else {
                Step::AdminSpaceBack
            });
        }
        steps
    }

    pub fn below_admin(&self) -> bool {
        self.below_admin
    }
}

/// (bytes available to us, total bytes) of the file system holding `dir`.
pub fn free_space(dir: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: statvfs is plain data; zero is a valid value for every field.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `s` a valid out-pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let unit = s.f_frsize as u64;
    Ok((s.f_bavail as u64 * unit, s.f_blocks as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_once_per_crossing_and_rearms() {
        let mut l = Ladder::default();
        let (sl, adm) = (Threshold::Bytes(100), Threshold::Percent(5.0));
        assert_eq!(l.observe(500, 1000, sl, adm), vec![]);
        assert_eq!(l.observe(90, 1000, sl, adm), vec![Step::SpaceLeft]);
        assert_eq!(l.observe(80, 1000, sl, adm), vec![]);
        assert_eq!(l.observe(40, 1000, sl, adm), vec![Step::AdminSpaceLeft]);
        assert!(l.below_admin());
        assert_eq!(l.observe(30, 1000, sl, adm), vec![]);
        assert_eq!(
            l.observe(900, 1000, sl, adm),
            vec![Step::SpaceBack, Step::AdminSpaceBack]
        );
        assert_eq!(
            l.observe(0, 1000, sl, adm),
            vec![Step::SpaceLeft, Step::AdminSpaceLeft]
        );
    }
}
