//! The shipper's checkpoint: which file, how far, and the last `seq`
//! acknowledged by the server. Written after every acknowledged batch, by
//! write-to-temporary, fsync, rename, fsync of the directory, so a crash
//! leaves the old checkpoint or the new one, never half of either.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spool::FileId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub file: FileId,
    /// For people: the path the file had when the batch was read.
    pub path: PathBuf,
    /// The offset just after the last line of the acknowledged batch.
    pub offset: u64,
    /// The highest `seq` shipped (or set aside), if records carry one.
    pub seq: Option<u64>,
    /// Records acknowledged (or set aside) since the checkpoint was created.
    pub shipped: u64,
    pub rejected: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("checkpoint {path} is corrupt ({source}); move it away to ship the whole log again")]
    Corrupt {
        path: String,
        source: serde_json::Error,
    },
}

pub fn load(path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|source| CheckpointError::Corrupt {
                path: path.display().to_string(),
                source,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CheckpointError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

pub fn store(path: &Path, c: &Checkpoint) -> Result<(), CheckpointError> {
    let err = |source| CheckpointError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(err)?;
    let data = serde_json::to_vec(c).expect("checkpoint serializes");
    f.write_all(&data)
        .and_then(|()| f.sync_all())
        .map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("cp");
        assert_eq!(load(&p).unwrap(), None);
        let c = Checkpoint {
            file: FileId {
                dev: 1,
                ino: 2,
                head: 3,
            },
            path: "/x".into(),
            offset: 10,
            seq: Some(4),
            shipped: 5,
            rejected: 0,
        };
        store(&p, &c).unwrap();
        assert_eq!(load(&p).unwrap(), Some(c));
        std::fs::write(&p, "{").unwrap();
        assert!(matches!(load(&p), Err(CheckpointError::Corrupt { .. })));
    }
}
