//! Kernel-side filters, userspace half: validate what the admin asked for,
//! lay it out for the programs (`tracer_common::config::Filter` in the
//! read-only config, plus the `COMM_FILTER` and `EXE_FILTER` maps), and
//! freeze the maps before the programs are attached so that nothing (not even
//! root with bpftool) can change the filters of a running tracer unseen.

use std::os::fd::{AsFd, AsRawFd};

use aya::maps::{lpm_trie::Key, HashMap, LpmTrie, MapData};
use aya::Ebpf;
use serde::{Deserialize, Serialize};
use tracer_common::config::{
    Filter, IdRange, COMM_FILTER_ENTRIES, EXE_FILTER_ENTRIES, EXE_PREFIX_MAX, FILTER_COMMS,
    FILTER_EXCLUDE_UNATTRIBUTED, FILTER_EXE_PREFIXES, FILTER_RANGES, TASK_COMM_LEN,
};
use tracer_common::maps;

/// What to drop in the kernel; empty: nothing. This is the configuration
/// file's `[filter]` section as parsed (command-line filter flags add to its
/// lists), and what the loader writes into the programs: one type from the
/// file to the maps, checked once by [`FilterSpec::problems`] against the
/// limits in `tracer_common::config`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FilterSpec {
    /// Drop execs whose auid is unset (daemons, cron before login, boot).
    pub exclude_unattributed: bool,
    /// When non-empty, only execs whose uid is in one of these ranges.
    #[serde(with = "id_ranges")]
    pub include_uids: Vec<IdRange>,
    #[serde(with = "id_ranges")]
    pub exclude_uids: Vec<IdRange>,
    /// When non-empty, only execs whose auid is in one of these ranges.
    #[serde(with = "id_ranges")]
    pub include_auids: Vec<IdRange>,
    #[serde(with = "id_ranges")]
    pub exclude_auids: Vec<IdRange>,
    /// Drop execs whose new comm (`task->comm`, at most 15 bytes) is one of these.
    pub exclude_comms: Vec<String>,
    /// Drop execs whose exe path starts with one of these.
    pub exclude_exe_prefixes: Vec<String>,
}

/// The longest comm: `TASK_COMM_LEN` less its NUL.
pub const MAX_COMM_LEN: usize = TASK_COMM_LEN - 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FilterError {
    #[error("`{value}` is not an id or an id range such as 1000-60000")]
    Range { value: String },
    #[error("filter.{field}: {message}")]
    Limit {
        field: &'static str,
        message: String,
    },
}

/// Parses `1000`, `1000-60000` (inclusive).
pub fn parse_range(s: &str) -> Result<IdRange, FilterError> {
    let bad = || FilterError::Range {
        value: s.to_string(),
    };
    let id = |x: &str| x.trim().parse::<u32>().map_err(|_| bad());
    let (lo, hi) = match s.trim().split_once('-') {
        Some((a, b)) => (id(a)?, id(b)?),
        None => (id(s)?, id(s)?),
    };
    if lo > hi {
        return Err(bad());
    }
    Ok(IdRange { lo, hi })
}

/// `1000-60000`, or `7` for a range of one id.
pub fn format_range(r: &IdRange) -> String {
    if r.lo == r.hi {
        r.lo.to_string()
    } else {
        format!("{}-{}", r.lo, r.hi)
    }
}

/// Serde for a list of id ranges: strings (`"1000-60000"`, `"0"`) or
/// integers in the file, strings when printed.
mod id_ranges {
    use serde::de::{self, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    use super::{format_range, parse_range, IdRange};

    pub fn serialize<S: Serializer>(v: &[IdRange], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(format_range))
    }

    struct One;
    impl Visitor<'_> for One {
        type Value = IdRange;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an id or a range such as \"1000-60000\"")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<IdRange, E> {
            parse_range(s).map_err(E::custom)
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<IdRange, E> {
            let id = u32::try_from(v).map_err(|_| E::custom(format!("{v} is not a 32-bit id")))?;
            Ok(IdRange { lo: id, hi: id })
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<IdRange, E> {
            self.visit_i64(i64::try_from(v).unwrap_or(-1))
        }
    }

    struct Elem(IdRange);
    impl<'de> serde::Deserialize<'de> for Elem {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(One).map(Elem)
        }
    }

    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = Vec<IdRange>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of ids or ranges such as [\"1000-60000\", 0]")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Vec<IdRange>, A::Error> {
            let mut out = Vec::new();
            while let Some(Elem(r)) = a.next_element()? {
                out.push(r);
            }
            Ok(out)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<IdRange>, D::Error> {
        d.deserialize_seq(List)
    }
}

impl FilterSpec {
    pub fn is_empty(&self) -> bool {
        *self == FilterSpec::default()
    }

    /// Every way this exceeds what the kernel side can hold: `(field,
    /// message)`, the field being the key in the `[filter]` section. The only
    /// check of the filter: the configuration check and [`Self::to_kernel`]
    /// both use it.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        for (field, list) in [
            ("include_uids", &self.include_uids),
            ("exclude_uids", &self.exclude_uids),
            ("include_auids", &self.include_auids),
            ("exclude_auids", &self.exclude_auids),
        ] {
            if list.len() > FILTER_RANGES {
                out.push((
                    field,
                    format!(
                        "{} ranges; the kernel-side filter holds at most {FILTER_RANGES}",
                        list.len()
                    ),
                ));
            }
        }
        if self.exclude_comms.len() > COMM_FILTER_ENTRIES as usize {
            out.push((
                "exclude_comms",
                format!(
                    "{} names; the kernel-side filter holds at most {COMM_FILTER_ENTRIES}",
                    self.exclude_comms.len()
                ),
            ));
        }
        for c in &self.exclude_comms {
            if c.is_empty() || c.len() > MAX_COMM_LEN || c.contains('\0') {
                out.push((
                    "exclude_comms",
                    format!("{c:?}: a comm is 1 to {MAX_COMM_LEN} bytes, without NUL"),
                ));
            }
        }
        if self.exclude_exe_prefixes.len() > EXE_FILTER_ENTRIES as usize {
            out.push((
                "exclude_exe_prefixes",
                format!(
                    "{} prefixes; the kernel-side filter holds at most {EXE_FILTER_ENTRIES}",
                    self.exclude_exe_prefixes.len()
                ),
            ));
        }
        for p in &self.exclude_exe_prefixes {
            if !p.starts_with('/') || p.len() > EXE_PREFIX_MAX || p.contains('\0') {
                out.push((
                    "exclude_exe_prefixes",
                    format!(
                        "{p:?}: a prefix is an absolute path of at most {EXE_PREFIX_MAX} bytes"
                    ),
                ));
            }
        }
        out
    }

    /// The config part for the programs; refuses what [`Self::problems`]
    /// finds (a checked configuration has none).
    pub fn to_kernel(&self) -> Result<Filter, FilterError> {
        if let Some((field, message)) = self.problems().into_iter().next() {
            return Err(FilterError::Limit { field, message });
        }
        let mut f = Filter::default();
        if self.exclude_unattributed {
            f.flags |= FILTER_EXCLUDE_UNATTRIBUTED;
        }
        let fill = |src: &[IdRange], dst: &mut [IdRange; FILTER_RANGES], n: &mut u32| {
            dst[..src.len()].copy_from_slice(src);
            *n = src.len() as u32;
        };
        fill(&self.include_uids, &mut f.uid_include, &mut f.n_uid_include);
        fill(&self.exclude_uids, &mut f.uid_exclude, &mut f.n_uid_exclude);
        fill(
            &self.include_auids,
            &mut f.auid_include,
            &mut f.n_auid_include,
        );
        fill(
            &self.exclude_auids,
            &mut f.auid_exclude,
            &mut f.n_auid_exclude,
        );
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
            let mut comms: HashMap<&mut MapData, [u8; TASK_COMM_LEN], u8> =
                HashMap::try_from(map).map_err(|e| format!("COMM_FILTER: {e}"))?;
            for c in &self.exclude_comms {
                let mut k = [0u8; TASK_COMM_LEN];
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
            parse_range("1000-60000"),
            Ok(IdRange {
                lo: 1000,
                hi: 60000
            })
        );
        assert_eq!(parse_range(" 7 "), Ok(IdRange { lo: 7, hi: 7 }));
        assert!(parse_range("9-1").is_err());
        let e = parse_range("abc").unwrap_err().to_string();
        assert!(e.contains("abc"), "{e}");
        assert_eq!(format_range(&IdRange { lo: 3, hi: 9 }), "3-9");
        assert_eq!(format_range(&IdRange { lo: 3, hi: 3 }), "3");
    }

    #[test]
    fn limits_are_the_kernels() {
        let mut s = FilterSpec {
            exclude_uids: vec![IdRange { lo: 1, hi: 2 }; FILTER_RANGES + 1],
            ..Default::default()
        };
        assert!(matches!(
            s.to_kernel(),
            Err(FilterError::Limit {
                field: "exclude_uids",
                ..
            })
        ));
        s.exclude_uids.truncate(2);
        let f = s.to_kernel().unwrap();
        assert_eq!(f.n_uid_exclude, 2);
        s.exclude_comms = vec!["a-very-long-command-name".into()];
        assert_eq!(s.problems()[0].0, "exclude_comms");
        s.exclude_comms = vec!["x".repeat(MAX_COMM_LEN)];
        assert!(s.problems().is_empty());
        s.exclude_exe_prefixes = vec!["relative/".into()];
        assert_eq!(s.problems()[0].0, "exclude_exe_prefixes");
        // The trie's key holds EXE_PREFIX_MAX bytes: that long is fine, one
        // more is not.
        s.exclude_exe_prefixes = vec![format!("/{}", "a".repeat(EXE_PREFIX_MAX - 1))];
        assert!(s.problems().is_empty());
        s.exclude_exe_prefixes = vec![format!("/{}", "a".repeat(EXE_PREFIX_MAX))];
        assert_eq!(s.problems().len(), 1);
        s.exclude_exe_prefixes = vec!["/p".into(); EXE_FILTER_ENTRIES as usize];
        assert!(s.problems().is_empty());
        s.exclude_exe_prefixes.push("/q".into());
        assert_eq!(s.problems().len(), 1);
        s.exclude_exe_prefixes = vec!["/usr/lib/".into()];
        let f = s.to_kernel().unwrap();
        assert_eq!(f.flags, FILTER_COMMS | FILTER_EXE_PREFIXES);
    }

    #[test]
    fn the_file_form_round_trips() {
        let s: FilterSpec =
            toml::from_str("include_uids = [\"1000-60000\", 0]\nexclude_comms = [\"cron\"]\n")
                .unwrap();
        assert_eq!(
            s.include_uids,
            vec![
                IdRange {
                    lo: 1000,
                    hi: 60000
                },
                IdRange { lo: 0, hi: 0 }
            ]
        );
        let text = toml::to_string(&s).unwrap();
        assert!(
            text.contains("include_uids = [\"1000-60000\", \"0\"]"),
            "{text}"
        );
        assert_eq!(toml::from_str::<FilterSpec>(&text).unwrap(), s);
        assert!(toml::from_str::<FilterSpec>("exclude_uids = [-1]").is_err());
    }
}
