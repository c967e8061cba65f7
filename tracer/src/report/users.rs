//! uid <-> user name. A login uid is named, in order, from:
//! 1. the log itself (the login's own `acct=`, tracer's `user` field), so a
//!    log names the same people wherever it is read;
//! 2. `--passwd FILE` (the passwd of the node the log came from);
//! 3. this machine's NSS (`getpwuid_r`: files, SSSD, LDAP...), unless
//!    `--no-nss`.
//!
//! Names from 2 and 3 may be wrong for a log from another host: the report
//! marks them ([`NameSource`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};

/// A uid -> name table (first entry wins, as with getpwuid).
#[derive(Debug, Default, Clone)]
pub struct UserDb {
    by_uid: HashMap<u32, String>,
    by_name: HashMap<String, u32>,
}

impl UserDb {
    /// Parses passwd(5) text; malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut db = Self::default();
        for line in text.lines() {
            let mut f = line.split(':');
            let (Some(name), Some(_pw), Some(uid)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(uid) = uid.parse::<u32>() else {
                continue;
            };
            if name.is_empty() || name.starts_with('#') || name.starts_with('+') {
                continue;
            }
            db.by_uid.entry(uid).or_insert_with(|| name.to_owned());
            db.by_name.entry(name.to_owned()).or_insert(uid);
        }
        db
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let bytes = std::fs::read(path)?;
        Ok(Self::parse(&String::from_utf8_lossy(&bytes)))
    }

    pub fn name(&self, uid: u32) -> Option<&str> {
        self.by_uid.get(&uid).map(String::as_str)
    }

    pub fn uid(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }
}

/// Where a name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NameSource {
    Log,
    Passwd,
    Nss,
}

impl NameSource {
    pub fn as_str(self) -> &'static str {
        match self {
            NameSource::Log => "log",
            NameSource::Passwd => "passwd",
            NameSource::Nss => "nss",
        }
    }
}

/// The names the report uses, in the order of the module docs.
#[derive(Debug, Default)]
pub struct Names {
    pub log: HashMap<u32, String>,
    pub passwd: UserDb,
    pub nss: bool,
    /// Behind a lock: the JSON renderer's threads share the names.
    nss_cache: Mutex<HashMap<u32, Option<String>>>,
}

impl Names {
    pub fn new(log: HashMap<u32, String>, passwd: UserDb, nss: bool) -> Self {
        Self {
            log,
            passwd,
            nss,
            nss_cache: Mutex::default(),
        }
    }

    /// The name of `uid` and where it came from.
    pub fn lookup(&self, uid: u32) -> Option<(String, NameSource)> {
        if let Some(n) = self.log.get(&uid) {
            return Some((n.clone(), NameSource::Log));
        }
        if let Some(n) = self.passwd.name(uid) {
            return Some((n.to_owned(), NameSource::Passwd));
        }
        if !self.nss {
            return None;
        }
        let mut cache = self
            .nss_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        cache
            .entry(uid)
            .or_insert_with(|| nss_name(uid))
            .clone()
            .map(|n| (n, NameSource::Nss))
    }

    /// The uid called `name`: from the log, then passwd, then NSS.
    pub fn uid(&self, name: &str) -> Option<u32> {
        self.log
            .iter()
            .filter(|(_, n)| *n == name)
            .map(|(&u, _)| u)
            .min()
            .or_else(|| self.passwd.uid(name))
            .or_else(|| if self.nss { nss_uid(name) } else { None })
    }
}

/// `getpwuid_r(uid)`'s name, through this machine's NSS (blocking: the
/// report is not a hot path).
pub fn nss_name(uid: u32) -> Option<String> {
    crate::names::lookup(uid)
}

/// `getpwnam_r(name)`'s uid, through this machine's NSS.
pub fn nss_uid(name: &str) -> Option<u32> {
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: an all-zero passwd is a valid value of this plain C struct.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: cname is NUL-terminated; pw, buf and result are valid for
        // writes for the duration of the call; buf's length is passed.
        let rc = unsafe {
            libc::getpwnam_r(
                cname.as_ptr(),
                &mut pw,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() {
            return None;
        }
        return Some(pw.pw_uid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let db = UserDb::parse(
            "root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\ndup:x:1000:1:::\n",
        );
        assert_eq!(db.name(0), Some("root"));
        assert_eq!(db.name(1000), Some("alice"));
        assert_eq!(db.uid("dup"), Some(1000));
        assert_eq!(db.name(5), None);
    }

    #[test]
    fn the_log_names_first_then_passwd_then_nss() {
        let passwd = UserDb::parse("bob:x:1002:1002::/:/bin/sh\nroot:x:0:0::/:/bin/sh\n");
        let log = HashMap::from([(1002, "alice".to_owned())]);
        let n = Names::new(log, passwd, false);
        assert_eq!(n.lookup(1002), Some(("alice".into(), NameSource::Log)));
        assert_eq!(n.lookup(0), Some(("root".into(), NameSource::Passwd)));
        assert_eq!(n.lookup(77), None);
        assert_eq!(n.uid("alice"), Some(1002));
        assert_eq!(n.uid("bob"), Some(1002));
        // NSS: root is uid 0 on any machine.
        let n = Names::new(HashMap::new(), UserDb::default(), true);
        assert_eq!(n.lookup(0), Some(("root".into(), NameSource::Nss)));
        assert_eq!(n.uid("root"), Some(0));
        assert_eq!(nss_name(4_000_000_001), None);
    }
}
