//! Opening tracer's log files safely, and reading how the last run ended.
//!
//! The log is opened `O_APPEND` (each write(2) of whole records lands at the
//! end as one piece), `O_NOFOLLOW` (a user who could write the directory cannot
//! point the log at /etc/shadow with a symlink), `O_CLOEXEC`, and created mode
//! 0600 (0640 when a log group is configured): argv can hold secrets. The
//! directory is created 0750 (2750 with a group, so that files created in it
//! later inherit the group without CAP_CHOWN) and refused when it is not owned
//! by us or is writable by group or others.
//!
//! An explicit `tracer run --output FILE` ([`DirPolicy::ExplicitOutput`]) may
//! also go to a sticky directory that everyone can write, such as /tmp: there
//! the file is created exclusively (`O_EXCL`, `O_NOFOLLOW`) and an existing
//! one is appended to only when it is a regular file of ours with one link,
//! so another user cannot plant a file or a link for tracer to write into.
//! The service's configured log directory keeps the strict check.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::logread::tail::{Tail, TAIL};

#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("log file {path} is a symbolic link; refusing to follow it")]
    Symlink { path: String },
    #[error("can't open log file {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("log directory {path} {problem}; refusing to write logs there")]
    UnsafeDir { path: String, problem: String },
    #[error("log directory {path}: {source}")]
    Dir { path: String, source: io::Error },
    #[error(
        "log file {path} {problem}; refusing to append to it (remove it, or choose another file)"
    )]
    NotOurs { path: String, problem: String },
}

/// How the log's directory is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirPolicy {
    /// The service's log directory: ours, and writable by nobody else.
    #[default]
    Strict,
    /// An explicit `--output`: a sticky directory that others may write
    /// (owned by us or root, like /tmp) is accepted too.
    ExplicitOutput,
}

/// A sticky directory owned by `me` or root: others can create files in it
/// but not remove or rename ours.
fn shared_sticky(md: &std::fs::Metadata, me: u32) -> bool {
    md.is_dir() && md.mode() & 0o1000 != 0 && (md.uid() == me || md.uid() == 0)
}

/// The gid of group `name`.
pub fn group_id(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let c = CString::new(name).ok()?;
    // SAFETY: `group` is plain data (integers and pointers); all-zero is valid.
    let mut grp: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; 16 << 10];
    let mut out: *mut libc::group = std::ptr::null_mut();
    // SAFETY: every pointer is valid for the call; `buf` outlives it and the
    // result is only read for `gr_gid`, a plain integer.
    let rc = unsafe {
        libc::getgrnam_r(
            c.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut out,
        )
    };
    (rc == 0 && !out.is_null()).then_some(grp.gr_gid)
}

fn dir_err(dir: &Path) -> impl FnOnce(io::Error) -> LogFileError + '_ {
    move |source| LogFileError::Dir {
        path: dir.display().to_string(),
        source,
    }
}

/// Creates the log directory if needed and checks that nobody else can write
/// it, or (with [`DirPolicy::ExplicitOutput`]) that it is a shared sticky one.
/// Returns whether it is shared (others may create files in it).
pub fn prepare_dir(dir: &Path, gid: Option<u32>, policy: DirPolicy) -> Result<bool, LogFileError> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(dir)
            .map_err(dir_err(dir))?;
        if let Some(g) = gid {
            std::os::unix::fs::chown(dir, None, Some(g)).map_err(dir_err(dir))?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o2750))
                .map_err(dir_err(dir))?;
        }
    }
    let mut md = std::fs::metadata(dir).map_err(dir_err(dir))?;
    if let Some(g) = gid {
        if md.is_dir() && (md.gid() != g || md.mode() & 0o2000 == 0) && md.mode() & 0o022 == 0 {
            std::os::unix::fs::chown(dir, None, Some(g)).map_err(dir_err(dir))?;
            let mode = 0o2750;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
                .map_err(dir_err(dir))?;
            md = std::fs::metadata(dir).map_err(dir_err(dir))?;
        }
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if policy == DirPolicy::ExplicitOutput && md.mode() & 0o022 != 0 && shared_sticky(&md, me) {
        return Ok(true);
    }
    let unsafe_dir = |problem: String| LogFileError::UnsafeDir {
        path: dir.display().to_string(),
        problem,
    };
    if !md.is_dir() {
        return Err(unsafe_dir("is not a directory".into()));
    }
    if md.uid() != me {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, not by uid {me}",
            md.uid()
        )));
    }
    if md.mode() & 0o022 != 0 {
        let hint = if policy == DirPolicy::Strict && shared_sticky(&md, me) {
            " (a one-off `tracer run --output FILE` may write there; the configured log directory may not)"
        } else {
            ""
        };
        return Err(unsafe_dir(format!(
            "is writable by group or others (mode {:o}){hint}",
            md.mode() & 0o7777
        )));
    }
    Ok(false)
}

/// Opens (creating it, and its directory, if needed) the log file.
pub fn open_log(path: &Path) -> Result<File, LogFileError> {
    open_log_with(path, None, DirPolicy::Strict)
}

/// [`open_log`] with a log group (files 0640 and owned by `gid`) and a
/// directory policy.
pub fn open_log_with(
    path: &Path,
    gid: Option<u32>,
    policy: DirPolicy,
) -> Result<File, LogFileError> {
    let mut shared = false;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        shared = prepare_dir(dir, gid, policy)?;
    }
    let mode = if gid.is_some() { 0o640 } else { 0o600 };
    let open = |create_new: bool| {
        let mut o = OpenOptions::new();
        o.append(true)
            .read(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
        if create_new {
            o.create_new(true);
        } else if !shared {
            o.create(true);
        }
        o.open(path)
    };
    // In a shared directory: create exclusively, else open what is there
    // without O_CREAT (which protected_regular refuses on others' files) and
    // check below that it is ours.
    let opened = if shared {
        match open(true) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => open(false),
            r => r,
        }
    } else {
        open(false)
    };
    let f = opened.map_err(|source| {
        if source.raw_os_error() == Some(libc::ELOOP) {
            LogFileError::Symlink {
                path: path.display().to_string(),
            }
        } else {
            LogFileError::Open {
                path: path.display().to_string(),
                source,
            }
        }
    })?;
    let open_err = |source| LogFileError::Open {
        path: path.display().to_string(),
        source,
    };
    let md = f.metadata().map_err(open_err)?;
    if !md.is_file() {
        return Err(LogFileError::Open {
            path: path.display().to_string(),
            source: io::Error::other("not a regular file"),
        });
    }
    if policy == DirPolicy::ExplicitOutput {
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        let not_ours = |problem: String| LogFileError::NotOurs {
            path: path.display().to_string(),
            problem,
        };
        if md.uid() != me {
            return Err(not_ours(format!(
                "is owned by uid {}, not by uid {me}",
                md.uid()
            )));
        }
        if md.nlink() != 1 {
            return Err(not_ours(format!("has {} hard links", md.nlink())));
        }
    }
    if let Some(g) = gid {
        if md.gid() != g {
            std::os::unix::fs::fchown(&f, None, Some(g)).map_err(open_err)?;
        }
    }
    if md.mode() & 0o777 != mode {
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(open_err)?;
    }
    Ok(f)
}

/// How the previous run left a log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// Empty or absent.
    Fresh,
    /// Its last record is tracer's `stop` record.
    Clean,
    /// It ends without a `stop` record (crash, SIGKILL, power loss); the time
    /// of the last complete record when it could be read.
    Unclean { last_time: Option<String> },
    /// It ended in the middle of a line (now terminated by a newline).
    Partial { last_time: Option<String> },
}

/// Reads how `f` ends. The last complete line is parsed; a last line without
/// its newline is reported as [`Ending::Partial`] (the caller terminates it).
/// The end is read by [`crate::logread::tail`], the reader's side of the log.
pub fn ending(f: &File) -> io::Result<Ending> {
    let tail = Tail::read(f, TAIL)?;
    if tail.is_empty() {
        return Ok(Ending::Fresh);
    }
    let partial = tail.partial();
    let last = tail
        .last_line()
        .and_then(|l| serde_json::from_slice::<serde_json::Value>(l).ok());
    let last_time = last
        .as_ref()
        .and_then(|v| v["time"].as_str().map(str::to_string));
    let stopped = last
        .as_ref()
        .is_some_and(|v| v["type"] == "tracer" && v["detail"]["status"] == "stop");
    Ok(if partial {
        Ending::Partial { last_time }
    } else if stopped {
        Ending::Clean
    } else {
        Ending::Unclean { last_time }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn creates_private_file_and_refuses_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.log");
        open_log(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let l = dir.path().join("link.log");
        std::os::unix::fs::symlink(&p, &l).unwrap();
        let e = open_log(&l).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
    }

    #[test]
    fn refuses_a_directory_others_can_write() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("logs");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_log(&d.join("t.log")).unwrap_err();
        assert!(e.to_string().contains("writable by group or others"), "{e}");
    }

    /// A sticky world-writable directory (like /tmp): refused for the
    /// service's log, accepted for an explicit `--output`, where the file is
    /// created 0600 and neither a link nor a hard-linked file is written to.
    #[test]
    fn an_explicit_output_may_go_to_a_sticky_shared_directory() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tmp");
        std::fs::create_dir(&d).unwrap();
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let p = d.join("x.jsonl");
        let e = open_log(&p).unwrap_err().to_string();
        assert!(
            e.contains("mode 1777") && e.contains("--output"),
            "the strict check says what would work: {e}"
        );
        let out = DirPolicy::ExplicitOutput;
        let mut f = open_log_with(&p, None, out).unwrap();
        f.write_all(b"one\n").unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o600);
        // Appending to our own file again is fine.
        let mut f = open_log_with(&p, None, out).unwrap();
        f.write_all(b"two\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one\ntwo\n");
        // A link planted by someone who can write the directory.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"precious\n").unwrap();
        let l = d.join("link.jsonl");
        std::os::unix::fs::symlink(&victim, &l).unwrap();
        let e = open_log_with(&l, None, out).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        let h = d.join("hard.jsonl");
        std::fs::hard_link(&victim, &h).unwrap();
        let e = open_log_with(&h, None, out).unwrap_err().to_string();
        assert!(e.contains("has 2 hard links"), "{e}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious\n");
        // Not sticky: still refused, whatever the policy.
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = open_log_with(&d.join("y.jsonl"), None, out).unwrap_err();
        assert!(e.to_string().contains("writable by group or others"), "{e}");
    }

    #[test]
    fn endings() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.log");
        let mut f = open_log(&p).unwrap();
        assert_eq!(ending(&f).unwrap(), Ending::Fresh);
        f.write_all(b"{\"type\":\"exec\",\"time\":\"T1\"}\n")
            .unwrap();
        assert_eq!(
            ending(&f).unwrap(),
            Ending::Unclean {
                last_time: Some("T1".into())
            }
        );
        f.write_all(b"{\"type\":\"tracer\",\"time\":\"T2\",\"detail\":{\"status\":\"stop\"}}\n")
            .unwrap();
        assert_eq!(ending(&f).unwrap(), Ending::Clean);
        f.write_all(b"{\"type\":\"ex").unwrap();
        assert_eq!(
            ending(&f).unwrap(),
            Ending::Partial {
                last_time: Some("T2".into())
            }
        );
    }
}
