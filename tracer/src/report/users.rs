//! uid <-> user name, read from a passwd file. The report reads the file
//! itself rather than calling `getpwuid_r` so that logs copied from another
//! node can be resolved with that node's passwd (`--passwd`), and so that tests
//! are independent of the machine. Users known only to LDAP/SSSD on the node
//! show as their uid; that is the price of not linking NSS.

use std::collections::HashMap;
use std::path::Path;

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
}
