//! Opening tracer's log files safely.
//!
//! The log is opened `O_APPEND` (concurrent writers and crashes never
//! interleave partial records in the middle of the file), `O_NOFOLLOW` (a user
//! who can write the directory cannot point the log at /etc/shadow with a
//! symlink), `O_CLOEXEC`, and created mode 0600: argv can hold secrets.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum LogFileError {
    #[error("log file {path} is a symbolic link; refusing to follow it")]
    Symlink { path: String },
    #[error("can't open log file {path}: {source}")]
    Open { path: String, source: io::Error },
}

/// Opens (creating it and its directory, mode 0750, if needed) the log file.
pub fn open_log(path: &Path) -> Result<File, LogFileError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o750)
                .create(dir)
                .map_err(|source| LogFileError::Open {
                    path: dir.display().to_string(),
                    source,
                })?;
        }
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|source| {
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
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

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
}
