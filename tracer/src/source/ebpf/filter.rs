//! Kernel-side filters, userspace half: validate what the admin asked for,
//! lay it out for the programs (`tracer_common::config::Filter` in the
//! read-only config, plus the `COMM_FILTER` and `EXE_FILTER` maps), and
//! freeze the maps before the programs are attached so that nothing (not even
//! root with bpftool) can change the filters of a running tracer unseen.

use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, MapData};
use aya::Ebpf;
use tracer_common::config::{
    Filter, IdRange, EXE_PREFIX_MAX, FILTER_COMMS, FILTER_EXCLUDE_UNATTRIBUTED,
    FILTER_EXE_PREFIXES, FILTER_RANGES,
};
use tracer_common::maps;

/// What to drop in the kernel. Empty: nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterSpec {
    pub exclude_unattributed: bool,
    pub include_uids: Vec<IdRange>,
    pub exclude_uids: Vec<IdRange>,
    pub include_auids: Vec<IdRange>,
    pub exclude_auids: Vec<IdRange>,
    pub exclude_comms: Vec<String>,
    pub exclude_exe_prefixes: Vec<String>,
}

const MAX_MAP_ENTRIES: usize = 64;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("{what}: `{value}` is not an id or an id range like 1000-60000")]
    Range { what: &'static str, value: String },
    #[error("{what}: at most {FILTER_RANGES} ranges")]
    TooManyRanges { what: &'static str },
    #[error("exclude comm `{0}`: a comm is 1 to 15 bytes")]
    Comm(String),
    #[error(
        "exclude exe prefix `{0}`: must be an absolute path of at most {EXE_PREFIX_MAX} bytes"
    )]
    Prefix(String),
    #[error(
        "at most {MAX_MAP_ENTRIES} excluded comms and {MAX_MAP_ENTRIES} excluded exe prefixes"
    )]
    TooMany,
}

/// Parses `1000`, `1000-60000` (inclusive).
pub fn parse_range(what: &'static str, s: &str) -> Result<IdRange, FilterError> {
    let bad = || FilterError::Range {
        what,
        value: s.to_string(),
    };
    let (lo, hi) = match s.trim().split_once('-') {
        Some((a, b)) => (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        ),
        None => {
            let v = s.trim().parse().map_err(|_| bad())?;
            (v, v)
        }
    };
    if lo > hi {
        return Err(bad());
    }
    Ok(IdRange { lo, hi })
}

impl FilterSpec {
    pub fn is_empty(&self) -> bool {
        *self == FilterSpec::default()
    }

    /// Checks limits; returns the config part for the programs.
    pub fn to_kernel(&self) -> Result<Filter, FilterError> {
        let mut f = Filter::default();
        if self.exclude_unattributed {
            f.flags |= FILTER_EXCLUDE_UNATTRIBUTED;
        }
        let fill = |what, src: &[IdRange], dst: &mut [IdRange; FILTER_RANGES], n: &mut u32| {
            if src.len() > FILTER_RANGES {
                return Err(FilterError::TooManyRanges { what });
            }
            dst[..src.len()].copy_from_slice(src);
            *n = src.len() as u32;
            Ok(())
        };
        fill(
            "include uids",
            &self.include_uids,
            &mut f.uid_include,
            &mut f.n_uid_include,
        )?;
        fill(
            "exclude uids",
            &self.exclude_uids,
            &mut f.uid_exclude,
            &mut f.n_uid_exclude,
        )?;
        fill(
            "include auids",
            &self.include_auids,
            &mut f.auid_include,
            &mut f.n_auid_include,
        )?;
        fill(
            "exclude auids",
            &self.exclude_auids,
            &mut f.auid_exclude,
            &mut f.n_auid_exclude,
        )?;
        if self.exclude_comms.len() > MAX_MAP_ENTRIES
            || self.exclude_exe_prefixes.len() > MAX_MAP_ENTRIES
        {
            return Err(FilterError::TooMany);
        }
        for c in &self.exclude_comms {
            if c.is_empty() || c.len() > 15 {
                return Err(FilterError::Comm(c.clone()));
            }
        }
        for p in &self.exclude_exe_prefixes {
            if !p.starts_with('/') || p.len() > EXE_PREFIX_MAX {
                return Err(FilterError::Prefix(p.clone()));
            }
        }
        if !self.exclude_comms.is_empty() {
            f.flags |= FILTER_COMMS;
        }
        if !self.exclude_exe_prefixes.is_empty() {
            f.flags |= FILTER_EXE_PREFIXES;
        }
        Ok(f)
    }

    /// Fills the filter maps of a loaded (not yet attached) object and freezes
    /// them.
    pub fn populate(&self, bpf: &mut Ebpf) -> Result<(), String> {
        {
            let map = bpf
                .map_mut(maps::COMM_FILTER)
                .ok_or("map COMM_FILTER missing")?;
            let mut comms: HashMap<&mut MapData, [u8; 16], u8> =
                HashMap::try_from(map).map_err(|e| format!("COMM_FILTER: {e}"))?;
            for c in &self.exclude_comms {
                let mut k = [0u8; 16];
                k[..c.len()].copy_from_slice(c.as_bytes());
                comms
                    .insert(k, 1, 0)
                    .map_err(|e| format!("COMM_FILTER insert {c}: {e}"))?;
            }
        }
        {
            let map = bpf
                .map_mut(maps::EXE_FILTER)
                .ok_or("map EXE_FILTER missing")?;
            let mut trie: LpmTrie<&mut MapData, [u8; EXE_PREFIX_MAX], u8> =
                LpmTrie::try_from(map).map_err(|e| format!("EXE_FILTER: {e}"))?;
            for p in &self.exclude_exe_prefixes {
                let mut data = [0u8; EXE_PREFIX_MAX];
                data[..p.len()].copy_from_slice(p.as_bytes());
                trie.insert(&Key::new(p.len() as u32 * 8, data), 1, 0)
                    .map_err(|e| format!("EXE_FILTER insert {p}: {e}"))?;
            }
        }
        for name in [maps::COMM_FILTER, maps::EXE_FILTER] {
            let map = bpf.map(name).ok_or_else(|| format!("map {name} missing"))?;
            let data: &MapData = match map {
                aya::maps::Map::HashMap(d) | aya::maps::Map::LpmTrie(d) => d,
                _ => return Err(format!("map {name} has an unexpected type")),
            };
            freeze(data.fd().as_fd().as_raw_fd()).map_err(|e| format!("freezing {name}: {e}"))?;
        }
        Ok(())
    }
}

/// `BPF_MAP_FREEZE` (Linux 5.2): the map can no longer be changed from
/// userspace. aya does this for `.rodata` only.
fn freeze(fd: i32) -> std::io::Result<()> {
    const BPF_MAP_FREEZE: libc::c_long = 22;
    // bpf_attr for MAP_FREEZE: { u32 map_fd; } padded; the kernel checks that
    // the unused tail is zero.
    let mut attr = [0u8; 128];
    attr[..4].copy_from_slice(&(fd as u32).to_ne_bytes());
    // SAFETY: `attr` is a valid, zero-padded bpf_attr of the size passed.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, BPF_MAP_FREEZE, attr.as_mut_ptr(), attr.len()) };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("x", "1000-60000"),
            Ok(IdRange {
                lo: 1000,
                hi: 60000
            })
        );
        assert_eq!(parse_range("x", " 7 "), Ok(IdRange { lo: 7, hi: 7 }));
        assert!(parse_range("x", "9-1").is_err());
        let e = parse_range("exclude uids", "abc").unwrap_err().to_string();
        assert!(e.contains("exclude uids") && e.contains("abc"), "{e}");
    }

    #[test]
    fn limits_are_checked() {
        let mut s = FilterSpec {
            exclude_uids: vec![IdRange { lo: 1, hi: 2 }; 9],
            ..Default::default()
        };
        assert!(s.to_kernel().is_err());
        s.exclude_uids.truncate(2);
        let f = s.to_kernel().unwrap();
        assert_eq!(f.n_uid_exclude, 2);
        s.exclude_comms = vec!["a-very-long-command-name".into()];
        assert!(matches!(s.to_kernel(), Err(FilterError::Comm(_))));
        s.exclude_comms = vec!["cron".into()];
        s.exclude_exe_prefixes = vec!["relative/".into()];
        assert!(matches!(s.to_kernel(), Err(FilterError::Prefix(_))));
        s.exclude_exe_prefixes = vec!["/usr/lib/".into()];
        let f = s.to_kernel().unwrap();
        assert_eq!(f.flags, FILTER_COMMS | FILTER_EXE_PREFIXES);
    }
}
