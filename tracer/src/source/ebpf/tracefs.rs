//! tracefs: make sure it is mounted, and read tracepoint formats.
//!
//! aya attaches tracepoints through the ids under
//! `<tracefs>/events/<category>/<name>/id`, and the record layout of each
//! tracepoint is in its `format` file. Minimal or container-ish systems often
//! boot without tracefs mounted, so tracer mounts it at the standard place
//! (`/sys/kernel/tracing`) when no tracefs is found.

use std::path::{Path, PathBuf};

/// The standard mount point (Linux >= 4.1).
pub const TRACEFS: &str = "/sys/kernel/tracing";
/// The legacy location under debugfs.
const DEBUGFS_TRACING: &str = "/sys/kernel/debug/tracing";

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error("tracefs is not mounted and mounting it at {path} failed: {source}")]
    Mount {
        path: String,
        source: std::io::Error,
    },
    #[error("can't read tracepoint format {path}: {source} (is the tracepoint available on this kernel?)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("tracepoint format {path} has no field `{field}`")]
    NoField { path: String, field: String },
    #[error("unexpected tracepoint layout: {0}")]
    Layout(String),
}

/// Returns the tracefs directory, mounting tracefs at [`TRACEFS`] if neither it
/// nor the debugfs location is available.
pub fn ensure_mounted() -> Result<PathBuf, TracefsError> {
    if let Some(p) = find() {
        return Ok(p);
    }
    let target = std::ffi::CString::new(TRACEFS).expect("no NUL in a constant");
    let fstype = std::ffi::CString::new("tracefs").expect("no NUL in a constant");
    // SAFETY: all pointers are valid NUL-terminated strings that outlive the
    // call; `data` may be null for tracefs.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(TracefsError::Mount {
            path: TRACEFS.into(),
            source: std::io::Error::last_os_error(),
        });
    }
    log::info!("mounted tracefs at {TRACEFS}");
    Ok(PathBuf::from(TRACEFS))
}

fn find() -> Option<PathBuf> {
    [TRACEFS, DEBUGFS_TRACING]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.join("events").is_dir())
}

/// A parsed tracepoint `format` file.
pub struct Format {
    path: String,
    fields: Vec<(String, u32)>,
}

impl Format {
    /// Byte offset of `field` in the tracepoint's record.
    pub fn offset(&self, field: &str) -> Result<u32, TracefsError> {
        self.fields
            .iter()
            .find(|(n, _)| n == field)
            .map(|(_, o)| *o)
            .ok_or_else(|| TracefsError::NoField {
                path: self.path.clone(),
                field: field.into(),
            })
    }
}

/// Reads `<tracefs>/events/<category>/<name>/format`.
pub fn format(category: &str, name: &str) -> Result<Format, TracefsError> {
    let root = ensure_mounted()?;
    let path = root.join("events").join(category).join(name).join("format");
    let text = std::fs::read_to_string(&path).map_err(|source| TracefsError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(parse_format(&path, &text))
}

/// Parses lines like
/// `\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;`.
pub fn parse_format(path: &Path, text: &str) -> Format {
    let mut fields = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("field:") else {
            continue;
        };
        let mut parts = rest.split(';');
        let decl = parts.next().unwrap_or("");
        let name = decl
            .split_whitespace()
            .last()
            .unwrap_or("")
            .split('[')
            .next()
            .unwrap_or("");
        let offset = parts
            .filter_map(|p| p.trim().strip_prefix("offset:"))
            .filter_map(|o| o.parse::<u32>().ok())
            .next();
        if let (false, Some(o)) = (name.is_empty(), offset) {
            fields.push((name.to_string(), o));
        }
    }
    Format {
        path: path.display().to_string(),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_format_file() {
        let text = "name: sched_process_exec\nID: 312\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\n\tfield:__data_loc char[] filename;\toffset:8;\tsize:4;\tsigned:0;\n\tfield:pid_t pid;\toffset:12;\tsize:4;\tsigned:1;\n\tfield:pid_t old_pid;\toffset:16;\tsize:4;\tsigned:1;\n";
        let f = parse_format(Path::new("x"), text);
        assert_eq!(f.offset("filename").unwrap(), 8);
        assert_eq!(f.offset("old_pid").unwrap(), 16);
        assert!(f.offset("nope").unwrap_err().to_string().contains("nope"));
    }
}
