//! The value types of the configuration file: sizes (`"100M"`), thresholds
//! (`"75M"` or `"5%"`), durations (`"30d"`), syslog targets and facilities
//! (id ranges are the kernel filter's own type, parsed in
//! `source::ebpf::filter`). Each parses from a string (and, where it makes sense,
//! an integer) with a message that says what was expected, and prints back in
//! the same form, so `--check-config` shows what a user would write.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Deserializes `T` from a string (via `FromStr`) or an integer (via
/// `TryFrom<u64>`), keeping `T`'s own error message.
macro_rules! str_or_int {
    ($t:ty, $expecting:literal) => {
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $t;
                    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$t, E> {
                        s.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$t, E> {
                        <$t>::try_from(v).map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$t, E> {
                        let v = u64::try_from(v).map_err(|_| E::custom("must not be negative"))?;
                        <$t>::try_from(v).map_err(E::custom)
                    }
                }
                d.deserialize_any(V)
            }
        }
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

/// A size in bytes: an integer (bytes) or a string with a binary unit
/// (`"512K"`, `"100M"`, `"2G"`; `K` = 1024).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Size(pub u64);

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, mult) = match t.char_indices().last() {
            Some((i, 'K' | 'k')) => (&t[..i], 1u64 << 10),
            Some((i, 'M' | 'm')) => (&t[..i], 1 << 20),
            Some((i, 'G' | 'g')) => (&t[..i], 1 << 30),
            Some((i, 'T' | 't')) => (&t[..i], 1 << 40),
            _ => (t, 1),
        };
        num.trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(Size)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a size (a number of bytes, or e.g. \"512K\", \"100M\", \"2G\")"
                )
            })
    }
}

impl TryFrom<u64> for Size {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Ok(Size(v))
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
            if self.0 != 0 && self.0.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", self.0 >> shift);
            }
        }
        write!(f, "{}", self.0)
    }
}
str_or_int!(Size, "a size: bytes, or a string such as \"100M\"");

/// Free space below which something happens: a size, or a percentage of the
/// file system (`"5%"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Bytes(u64),
    Percent(f64),
}

impl Threshold {
    /// The threshold in bytes on a file system of `total` bytes.
    pub fn bytes(self, total: u64) -> u64 {
        match self {
            Threshold::Bytes(b) => b,
            Threshold::Percent(p) => (total as f64 * p / 100.0) as u64,
        }
    }
}

impl FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(p) = s.trim().strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(Threshold::Percent(v)),
                _ => Err(format!("{s:?} is not a percentage between 0% and 100%")),
            };
        }
        s.parse::<Size>()
            .map(|b| Threshold::Bytes(b.0))
            .map_err(|_| format!("{s:?} is not a free-space threshold (a size such as \"75M\", or a percentage such as \"5%\")"))
    }
}

impl TryFrom<u64> for Threshold {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Ok(Threshold::Bytes(v))
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Bytes(b) => Size(*b).fmt(f),
            Threshold::Percent(p) => write!(f, "{p}%"),
        }
    }
}
str_or_int!(
    Threshold,
    "a size such as \"75M\" or a percentage such as \"5%\""
);

/// A duration in whole seconds: an integer (seconds) or a string with a unit
/// (`"90s"`, `"15m"`, `"12h"`, `"30d"`, `"4w"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Secs(pub u64);

impl FromStr for Secs {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let (num, mult) = match t.char_indices().last() {
            Some((i, 's')) => (&t[..i], 1u64),
            Some((i, 'm')) => (&t[..i], 60),
            Some((i, 'h')) => (&t[..i], 3600),
            Some((i, 'd')) => (&t[..i], 86400),
            Some((i, 'w')) => (&t[..i], 7 * 86400),
            _ => (t, 1),
        };
        num.trim()
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(mult))
            .map(Secs)
            .ok_or_else(|| {
                format!(
                    "{s:?} is not a duration (seconds, or e.g. \"90s\", \"15m\", \"12h\", \"30d\")"
                )
            })
    }
}

impl TryFrom<u64> for Secs {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Ok(Secs(v))
    }
}

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, n) in [("w", 7 * 86400), ("d", 86400), ("h", 3600), ("m", 60)] {
            if self.0 != 0 && self.0.is_multiple_of(n) {
                return write!(f, "{}{unit}", self.0 / n);
            }
        }
        write!(f, "{}s", self.0)
    }
}
str_or_int!(Secs, "a duration: seconds, or a string such as \"30d\"");

/// Where syslog messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyslogTarget {
    /// The local syslog socket, `/dev/log` (unix datagram).
    Local,
    /// Another unix datagram socket (`unix:/path`).
    Unix(String),
    /// `udp://host:port`
    Udp(String),
    /// `tcp://host:port`, octet-counting framing (RFC 6587).
    Tcp(String),
}

pub const DEV_LOG: &str = "/dev/log";

impl FromStr for SyslogTarget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hostport = |rest: &str| -> Result<String, String> {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p != 0) => {
                    Ok(rest.to_string())
                }
                _ => Err(format!("{s:?}: expected HOST:PORT after the scheme")),
            }
        };
        if s == "local" {
            Ok(SyslogTarget::Local)
        } else if let Some(p) = s.strip_prefix("unix:") {
            if p.starts_with('/') {
                Ok(SyslogTarget::Unix(p.to_string()))
            } else {
                Err(format!(
                    "{s:?}: expected an absolute socket path after unix:"
                ))
            }
        } else if let Some(r) = s.strip_prefix("udp://") {
            hostport(r).map(SyslogTarget::Udp)
        } else if let Some(r) = s.strip_prefix("tcp://") {
            hostport(r).map(SyslogTarget::Tcp)
        } else {
            Err(format!(
                "{s:?} is not a syslog target (\"local\", \"unix:/path\", \"udp://host:port\" or \"tcp://host:port\")"
            ))
        }
    }
}

impl TryFrom<u64> for SyslogTarget {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Err(format!("{v} is not a syslog target"))
    }
}

impl fmt::Display for SyslogTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogTarget::Local => f.write_str("local"),
            SyslogTarget::Unix(p) => write!(f, "unix:{p}"),
            SyslogTarget::Udp(a) => write!(f, "udp://{a}"),
            SyslogTarget::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}
str_or_int!(
    SyslogTarget,
    "\"local\", \"unix:/path\", \"udp://host:port\" or \"tcp://host:port\""
);

/// Syslog facilities by their usual names (RFC 5424 section 6.2.1).
pub const FACILITIES: &[(&str, u8)] = &[
    ("kern", 0),
    ("user", 1),
    ("mail", 2),
    ("daemon", 3),
    ("auth", 4),
    ("syslog", 5),
    ("lpr", 6),
    ("news", 7),
    ("uucp", 8),
    ("cron", 9),
    ("authpriv", 10),
    ("ftp", 11),
    ("local0", 16),
    ("local1", 17),
    ("local2", 18),
    ("local3", 19),
    ("local4", 20),
    ("local5", 21),
    ("local6", 22),
    ("local7", 23),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facility(pub u8);

impl FromStr for Facility {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FACILITIES
            .iter()
            .find(|(n, _)| *n == s)
            .map(|&(_, c)| Facility(c))
            .ok_or_else(|| {
                let names: Vec<&str> = FACILITIES.iter().map(|(n, _)| *n).collect();
                format!(
                    "{s:?} is not a syslog facility (one of {})",
                    names.join(", ")
                )
            })
    }
}

impl TryFrom<u64> for Facility {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        Err(format!("{v}: give the facility by name, e.g. \"authpriv\""))
    }
}

impl fmt::Display for Facility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = FACILITIES
            .iter()
            .find(|&&(_, c)| c == self.0)
            .map_or("user", |(n, _)| n);
        f.write_str(name)
    }
}
str_or_int!(Facility, "a syslog facility name such as \"authpriv\"");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_thresholds_durations_round_trip() {
        assert_eq!("100M".parse::<Size>().unwrap(), Size(100 << 20));
        assert_eq!(Size(100 << 20).to_string(), "100M");
        assert_eq!(Size(1000).to_string(), "1000");
        assert!("10X".parse::<Size>().is_err());
        assert_eq!("5%".parse::<Threshold>().unwrap(), Threshold::Percent(5.0));
        assert_eq!("75M".parse::<Threshold>().unwrap().bytes(0), 75 << 20);
        assert_eq!(Threshold::Percent(10.0).bytes(1000), 100);
        assert!("120%".parse::<Threshold>().is_err());
        assert_eq!("30d".parse::<Secs>().unwrap(), Secs(30 * 86400));
        assert_eq!(Secs(90).to_string(), "90s");
        assert_eq!(Secs(3600).to_string(), "1h");
    }

    #[test]
    fn syslog_targets_and_facilities() {
        assert_eq!("local".parse::<SyslogTarget>(), Ok(SyslogTarget::Local));
        assert_eq!(
            "tcp://127.0.0.1:514".parse::<SyslogTarget>(),
            Ok(SyslogTarget::Tcp("127.0.0.1:514".into()))
        );
        assert!("udp://host".parse::<SyslogTarget>().is_err());
        assert!("http://x:1".parse::<SyslogTarget>().is_err());
        assert_eq!("local6".parse::<Facility>(), Ok(Facility(22)));
        assert_eq!(Facility(10).to_string(), "authpriv");
        assert!("nope".parse::<Facility>().is_err());
    }
}
