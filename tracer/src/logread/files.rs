//! Which files make a log, and in which order to read them.
//!
//! - With no input named, tracer's own log is `/var/log/tracer/tracer.log*`.
//! - Rotated files are read oldest first: `x.N` ... `x.2`, `x.1`, then `x`
//!   (whatever order they were named in), so time runs forward and an audit
//!   event split across a rotation is whole again. This is the inverse of the
//!   file sink's rotation (`sink::logfile::numbered`).

use std::path::{Path, PathBuf};

use super::open::InputError;

/// Where tracer writes its log, and so where readers look by default.
pub const DEFAULT_DIR: &str = "/var/log/tracer";
/// The base name of tracer's log within [`DEFAULT_DIR`].
pub const DEFAULT_BASE: &str = "tracer.log";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    Stdin,
    Path(PathBuf),
}

impl InputSpec {
    /// The rotation family (directory and base name: `/var/log/audit`,
    /// `audit.log` for `audit.log.3.gz`) and the rotation number; stdin has
    /// no family.
    pub fn family(&self) -> (Option<(PathBuf, String)>, u64) {
        match self {
            InputSpec::Stdin => (None, 0),
            InputSpec::Path(p) => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let name = name.unwrap_or_default();
                let (base, n) = rotation(&name);
                let dir = p.parent().map(Path::to_owned).unwrap_or_default();
                (Some((dir, base.to_owned())), n)
            }
        }
    }

    pub fn from_arg(arg: &Path) -> Self {
        if arg.as_os_str() == "-" {
            Self::Stdin
        } else {
            Self::Path(arg.to_owned())
        }
    }
    pub fn name(&self) -> String {
        match self {
            Self::Stdin => "<stdin>".into(),
            Self::Path(p) => p.display().to_string(),
        }
    }
}

/// tracer's logs in `dir`: `tracer.log` and its rotations, oldest first.
pub fn default_inputs(dir: &Path) -> Result<Vec<InputSpec>, InputError> {
    let none = || InputError::NoDefault {
        dir: dir.display().to_string(),
        base: DEFAULT_BASE.into(),
    };
    let entries = std::fs::read_dir(dir).map_err(|_| none())?;
    let mut found: Vec<InputSpec> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name == DEFAULT_BASE || rotation(&name).0 == DEFAULT_BASE && rotation(&name).1 > 0
        })
        .map(|e| InputSpec::Path(e.path()))
        .collect();
    if found.is_empty() {
        return Err(none());
    }
    found.sort_by_key(InputSpec::name);
    Ok(rotation_order(found))
}

/// Splits `x.log.3.gz` into (`x.log`, 3); a name with no rotation number
/// gets 0, and so sorts after its numbered rotations.
pub fn rotation(name: &str) -> (&str, u64) {
    let stem = name.strip_suffix(".gz").unwrap_or(name);
    if let Some((base, n)) = stem.rsplit_once('.') {
        if !base.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(n) = n.parse() {
                return (base, n);
            }
        }
    }
    (name, 0)
}

/// Reorders inputs so each rotation family (same directory and base name)
/// reads oldest first, at the place where the family first appears.
pub fn rotation_order(inputs: Vec<InputSpec>) -> Vec<InputSpec> {
    let keys: Vec<_> = inputs.iter().map(InputSpec::family).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    let family_pos = |i: usize| -> usize {
        match &keys[i].0 {
            None => i,
            Some(f) => keys
                .iter()
                .position(|k| k.0.as_ref() == Some(f))
                .unwrap_or(i),
        }
    };
    // Within a family: higher numbers (older) first, the base (0) last.
    order.sort_by_key(|&i| (family_pos(i), keys[i].1 == 0, std::cmp::Reverse(keys[i].1)));
    let mut slots: Vec<Option<InputSpec>> = inputs.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
