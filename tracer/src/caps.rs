//! Least privilege: once the programs are loaded and attached (and the audit
//! socket bound, the log opened), the daemon keeps only the capabilities its
//! remaining work needs ([`runtime_needs`]) and drops the rest from its
//! effective, permitted, inheritable, ambient and bounding sets.
//!
//! Raw `capget`/`capset`/`prctl` through `libc`: three system calls do not
//! justify a dependency.

use std::fmt;
use std::io;

/// Capability numbers (linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cap(pub u32);

impl Cap {
    pub const CHOWN: Cap = Cap(0);
    pub const DAC_OVERRIDE: Cap = Cap(1);
    pub const DAC_READ_SEARCH: Cap = Cap(2);
    pub const FOWNER: Cap = Cap(3);
    pub const SETPCAP: Cap = Cap(8);
    pub const SYS_PTRACE: Cap = Cap(19);
    pub const SYS_ADMIN: Cap = Cap(21);
    pub const SYS_RESOURCE: Cap = Cap(24);
    pub const AUDIT_CONTROL: Cap = Cap(30);
    pub const AUDIT_READ: Cap = Cap(37);
    pub const PERFMON: Cap = Cap(38);
    pub const BPF: Cap = Cap(39);

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "cap_chown",
            1 => "cap_dac_override",
            2 => "cap_dac_read_search",
            3 => "cap_fowner",
            8 => "cap_setpcap",
            19 => "cap_sys_ptrace",
            21 => "cap_sys_admin",
            24 => "cap_sys_resource",
            30 => "cap_audit_control",
            37 => "cap_audit_read",
            38 => "cap_perfmon",
            39 => "cap_bpf",
            _ => return None,
        })
    }
}

impl fmt::Display for Cap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "cap_{}", self.0),
        }
    }
}

/// A set of capabilities as the kernel's 64-bit mask (as in `/proc/PID/status`).
pub fn mask(caps: &[Cap]) -> u64 {
    caps.iter().fold(0, |m, c| m | 1u64 << c.0)
}

#[derive(Debug, thiserror::Error)]
pub enum CapsError {
    #[error("capget: {0}")]
    Get(io::Error),
    #[error("capset (keeping {keep}): {source}")]
    Set { keep: String, source: io::Error },
    #[error("clearing the ambient capabilities: {0}")]
    Ambient(io::Error),
}

/// What the daemon still needs after start-up, and why:
/// - `cap_sys_ptrace`: reading `/proc/PID/{environ,exe,cwd}` of other users'
///   processes (ptrace access checks), for login sources and the session
///   tracker;
/// - `cap_dac_read_search`: listing `/proc/PID/fd` of other users' processes
///   (mode 0500, owned by them), for ssh login sources;
/// - `cap_bpf`: only on kernels before 6.5, where every bpf(2) command, even a
///   lookup in a map we already hold (the loss counters), needs it while
///   `kernel.unprivileged_bpf_disabled` is set;
/// - `cap_audit_control`: only with the audit backend, which removes its rules
///   at stop.
///
/// Not kept: `cap_sys_admin` (tracefs is mounted), `cap_perfmon` (programs
/// are attached), `cap_sys_resource` (memlock was raised), `cap_audit_read`
/// (the multicast socket is bound: an open socket needs none), `cap_chown`
/// (the log directory is setgid to the log group, so new files get the group
/// by themselves), `cap_dac_override` (the log files are ours).
pub fn runtime_needs(audit_backend: bool) -> Vec<Cap> {
    let mut v = vec![Cap::DAC_READ_SEARCH, Cap::SYS_PTRACE];
    if !kernel_at_least(6, 5) {
        v.push(Cap::BPF);
    }
    if audit_backend {
        v.push(Cap::AUDIT_CONTROL);
    }
    v.sort();
    v
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    let rel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (a, b) = (it.next().unwrap_or(0), it.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

/// (effective, permitted, inheritable) of this thread.
pub fn current() -> Result<(u64, u64, u64), CapsError> {
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) v3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capget, &mut h, d.as_mut_ptr()) };
    if rc != 0 {
        return Err(CapsError::Get(io::Error::last_os_error()));
    }
    let join = |f: fn(&Data) -> u32| f(&d[0]) as u64 | (f(&d[1]) as u64) << 32;
    Ok((
        join(|x| x.effective),
        join(|x| x.permitted),
        join(|x| x.inheritable),
    ))
}

/// Keeps only `keep` (as far as we have them): the bounding set loses the
/// rest (when we may change it), the ambient set is cleared, and effective =
/// permitted = `keep`, inheritable empty. Returns the kept mask.
///
/// Threads started before this call keep their own sets: call it before
/// starting any (the tokio runtime here is single-threaded; the syslog sender
/// needs none).
pub fn keep_only(keep: &[Cap]) -> Result<u64, CapsError> {
    let want = mask(keep);
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(40)
        .min(63);
    let (_, permitted, _) = current()?;
    for c in 0..=last {
        if want & 1 << c != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments only.
        let inb = unsafe { libc::prctl(libc::PR_CAPBSET_READ, c as libc::c_ulong, 0, 0, 0) };
        if inb == 1 {
            // SAFETY: as above.
            let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, c as libc::c_ulong, 0, 0, 0) };
            if rc != 0 {
                log::debug!(
                    "can't drop {} from the bounding set: {}",
                    Cap(c),
                    io::Error::last_os_error()
                );
            }
        }
    }
    // SAFETY: prctl with integer arguments only.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 {
        return Err(CapsError::Ambient(io::Error::last_os_error()));
    }
    let set = want & permitted;
    let mut h = Header {
        version: VERSION_3,
        pid: 0,
    };
    let d = [
        Data {
            effective: set as u32,
            permitted: set as u32,
            inheritable: 0,
        },
        Data {
            effective: (set >> 32) as u32,
            permitted: (set >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: header and a two-element data array, as capset(2) v3 expects.
    let rc = unsafe { libc::syscall(libc::SYS_capset, &mut h, d.as_ptr()) };
    if rc != 0 {
        let names: Vec<String> = keep.iter().map(Cap::to_string).collect();
        return Err(CapsError::Set {
            keep: names.join(","),
            source: io::Error::last_os_error(),
        });
    }
    Ok(set)
}

/// The names of the capabilities in `m`.
pub fn names(m: u64) -> Vec<String> {
    (0..64)
        .filter(|c| m & 1u64 << c != 0)
        .map(|c| Cap(c).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_names() {
        assert_eq!(mask(&[Cap::CHOWN, Cap::BPF]), 1 | 1 << 39);
        assert_eq!(
            names(1 << 19 | 1 << 2),
            vec!["cap_dac_read_search", "cap_sys_ptrace"]
        );
        let n = runtime_needs(true);
        assert!(n.contains(&Cap::SYS_PTRACE) && n.contains(&Cap::AUDIT_CONTROL));
        assert!(!runtime_needs(false).contains(&Cap::SYS_ADMIN));
    }
}
