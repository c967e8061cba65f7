//! The processes that were alive before tracer started, from `/proc`.
//!
//! Their execs happened before the programs were attached, so tracer emits one
//! `process` record per running process, with the same attribution fields as
//! an exec (auid and ses from `/proc/<pid>/loginuid` and `sessionid`). The scan
//! runs *after* attaching, so a process is either in the scan or its exec is
//! captured (or both); never neither.

use std::collections::HashSet;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::bytes::Bytes;
use crate::event::{Body, Event, Exec, Outcome, Source, Timestamp, UNSET};
use crate::source::ebpf::decode::split_args;

/// Scans `/proc` and returns a `process` record for each process still there.
pub fn scan(host: &str) -> Vec<Event> {
    scan_root(Path::new("/proc"), host)
}

pub fn scan_root(root: &Path, host: &str) -> Vec<Event> {
    let Ok(dir) = fs::read_dir(root) else {
        return Vec::new();
    };
    let now = Timestamp::now();
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = std::str::from_utf8(name.as_bytes())
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit mid-scan; whatever could be read is kept.
        if let Some(e) = read_process(&entry.path(), pid, host, now) {
            out.push(e);
        }
    }
    out.sort_by_key(|e| e.task.pid);
    out
}

/// Reads one `/proc/<pid>` directory. `None` when the process is gone or is a
/// kernel thread (no command line, no exe).
pub fn read_process(dir: &Path, pid: u32, host: &str, now: Timestamp) -> Option<Event> {
    let status = fs::read_to_string(dir.join("status")).ok()?;
    let cmdline = fs::read(dir.join("cmdline")).unwrap_or_default();
    let exe = fs::read_link(dir.join("exe")).ok();
    if cmdline.is_empty() && exe.is_none() {
        return None;
    }
    let mut e = Event::new(Source::Proc, now, host, Body::Process(Exec::default()));
    let mut x = Exec::default();
    let t = &mut e.task;
    t.pid = Some(pid);
    let ids = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let uids = ids("Uid:");
    let gids = ids("Gid:");
    t.uid = uids.first().copied();
    t.euid = uids.get(1).copied();
    t.gid = gids.first().copied();
    t.egid = gids.get(1).copied();
    t.ppid = ids("PPid:").first().copied();
    let num = |f: &str| -> Option<u32> {
        fs::read_to_string(dir.join(f))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .map(|v| if v < 0 { UNSET } else { v as u32 })
    };
    t.auid = num("loginuid");
    t.ses = num("sessionid");
    t.comm = fs::read(dir.join("comm"))
        .ok()
        .map(|c| Bytes(c.strip_suffix(b"\n").unwrap_or(&c).to_vec()));
    t.exe = exe.map(|p| Bytes(p.as_os_str().as_bytes().to_vec()));
    x.cwd = fs::read_link(dir.join("cwd"))
        .ok()
        .map(|p| Bytes(p.as_os_str().as_bytes().to_vec()));
    let argv = split_args(&cmdline);
    x.argc = Some(argv.len() as u32);
    x.argv = Some(argv);
    if let Ok(stat) = fs::read_to_string(dir.join("stat")) {
        let (tty_nr, start) = stat_fields(&stat);
        t.tty = Some(tty_from_nr(tty_nr));
        t.start_boottime = start.map(|ticks| ticks * (1_000_000_000 / clock_ticks()));
    }
    let cgroups = fs::read_to_string(dir.join("cgroup")).unwrap_or_default();
    t.cgroup = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| p.to_string());
    x.job = crate::sessions::job::from_proc_cgroup(&cgroups);
    x.outcome = Outcome::Success;
    e.body = Body::Process(x);
    Some(e)
}

/// The kernel's boot id: a random UUID chosen at every boot, so that records
/// (and audit session ids, which restart at boot) can be tied to one boot.
pub fn boot_id() -> Option<String> {
    let id = fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let id = id.trim();
    (!id.is_empty()).then(|| id.to_owned())
}

/// (tty_nr, starttime in clock ticks) from `/proc/<pid>/stat`. The comm field
/// may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn stat_fields(stat: &str) -> (u32, Option<u64>) {
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state(3) ppid(4) pgrp(5) session(6) tty_nr(7) ... starttime(22).
    let tty = f.get(4).and_then(|v| v.parse().ok()).unwrap_or(0);
    let start = f.get(19).and_then(|v| v.parse().ok());
    (tty, start)
}

/// The ppid from `/proc/<pid>/stat` (field 4).
pub fn stat_ppid(stat: &str) -> Option<u32> {
    let rest = stat.rsplit_once(')').map(|(_, r)| r)?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// A tty name from `tty_nr` (major 136-143: `pts/N`; major 4: `ttyN`).
pub fn tty_from_nr(nr: u32) -> String {
    let major = (nr >> 8) & 0xfff;
    let minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
    match major {
        0 => String::new(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => format!("{major}:{minor}"),
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let stat = "42 (a) b (c)) S 1 42 42 34817 42 4194304 0 0 0 0 0 0 0 0 20 0 1 0 12345 0 0";
        let (tty, start) = stat_fields(stat);
        assert_eq!(tty, 34817);
        assert_eq!(start, Some(12345));
        assert_eq!(stat_ppid(stat), Some(1));
        assert_eq!(tty_from_nr(34817), "pts/1");
    }

    #[test]
    fn session_members_are_found_by_loginuid_and_sessionid() {
        let root = tempfile::tempdir().unwrap();
        let proc = |pid: u32, auid: &str, ses: &str, state: &str| {
            let d = root.path().join(pid.to_string());
            fs::create_dir(&d).unwrap();
            fs::write(d.join("loginuid"), auid).unwrap();
            fs::write(d.join("sessionid"), ses).unwrap();
            fs::write(d.join("stat"), format!("{pid} (sh) {state} 1 1 1 0")).unwrap();
        };
        proc(10, "1000", "7", "S");
        proc(11, "1000", "8", "S");
        proc(12, "1001", "7", "S");
        proc(13, "1000", "7", "Z");
        proc(14, "1000\n", "7\n", "R");
        assert_eq!(session_members_in(root.path(), 1000, 7), vec![10, 14]);
        assert!(session_members_in(root.path(), 5, 5).is_empty());
    }

    #[test]
    fn scans_this_process() {
        let me = std::process::id();
        let e = read_process(Path::new(&format!("/proc/{me}")), me, "h", Timestamp(0)).unwrap();
        assert_eq!(e.kind(), crate::event::Kind::Process);
        let loginuid: i64 = fs::read_to_string("/proc/self/loginuid")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            e.task.auid,
            Some(if loginuid < 0 { UNSET } else { loginuid as u32 })
        );
        assert!(!e.exec().unwrap().argv.as_ref().unwrap().is_empty());
    }
}

/// The remote address and port of an established TCP connection held by
/// `pid` (the first one found), from its fds and `/proc/net/tcp{,6}`.
pub fn tcp_peer(pid: u32) -> Option<(String, u16)> {
    let mut inodes = HashSet::new();
    for fd in fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if let Ok(l) = fs::read_link(fd.path()) {
            let l = l.to_string_lossy();
            if let Some(i) = l.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                if let Ok(i) = i.parse::<u64>() {
                    inodes.insert(i);
                }
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 || f[3] != "01" {
                continue;
            }
            if f[9]
                .parse::<u64>()
                .ok()
                .is_some_and(|i| inodes.contains(&i))
            {
                return parse_proc_net_addr(f[2]);
            }
        }
    }
    None
}

/// `0100007F:A2C4` (IPv4) or 32 hex digits (IPv6, four little-endian words)
/// then `:PORT`, as in `/proc/net/tcp{,6}`.
pub fn parse_proc_net_addr(s: &str) -> Option<(String, u16)> {
    let (addr, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip: std::net::IpAddr = match addr.len() {
        8 => std::net::Ipv4Addr::from(u32::from_str_radix(addr, 16).ok()?.swap_bytes()).into(),
        32 => {
            let mut b = [0u8; 16];
            for w in 0..4 {
                let v = u32::from_str_radix(&addr[w * 8..w * 8 + 8], 16).ok()?;
                b[w * 4..w * 4 + 4].copy_from_slice(&v.to_le_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(b);
            match v6.to_ipv4_mapped() {
                Some(v4) => v4.into(),
                None => v6.into(),
            }
        }
        _ => return None,
    };
    Some((ip.to_string(), port))
}

#[cfg(test)]
mod net_tests {
    use super::*;

    #[test]
    fn proc_net_addresses() {
        assert_eq!(
            parse_proc_net_addr("0100007F:0016"),
            Some(("127.0.0.1".into(), 22))
        );
        assert_eq!(
            parse_proc_net_addr("0000000000000000FFFF00000100007F:A2C4"),
            Some(("127.0.0.1".into(), 0xA2C4))
        );
        assert_eq!(
            parse_proc_net_addr("00000000000000000000000001000000:0016"),
            Some(("::1".into(), 22))
        );
        assert_eq!(parse_proc_net_addr("zz:1"), None);
    }
}

/// Whether `pid` exists and is not a zombie.
/// The live processes of audit session `ses` of login uid `auid`: every
/// `/proc/<pid>` whose `loginuid` and `sessionid` say so. A background job
/// forked by a login and not (yet) exec'd is in no exec record; only this
/// tells that the login still has it.
pub fn session_members(auid: u32, ses: u32) -> Vec<u32> {
    session_members_in(Path::new("/proc"), auid, ses)
}

pub fn session_members_in(root: &Path, auid: u32, ses: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir(root) else {
        return Vec::new();
    };
    let read = |p: &Path, f: &str| -> Option<u32> {
        fs::read_to_string(p.join(f)).ok()?.trim().parse().ok()
    };
    let mut out: Vec<u32> = dir
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path();
            (read(&p, "sessionid") == Some(ses) && read(&p, "loginuid") == Some(auid))
                .then_some(pid)
        })
        .filter(|&pid| alive_in(root, pid))
        .collect();
    out.sort_unstable();
    out
}

pub fn alive(pid: u32) -> bool {
    alive_in(Path::new("/proc"), pid)
}

fn alive_in(root: &Path, pid: u32) -> bool {
    fs::read_to_string(root.join(pid.to_string()).join("stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| !r.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}
