//! The configuration pipeline, in ripgrep's low-level -> high-level shape:
//! the file is parsed, the flags ([`Flags`]) are laid over it, the merged
//! whole is checked once ([`super::check`]), and what comes out is
//! [`Settings`]: typed options for each part (the eBPF source with its kernel
//! filter, the audit source, the sinks, the daemon, the cross-check). Every
//! problem found names its key and where the value came from (`file:line`,
//! the flag, or the built-in default). `tracer run`, `--check-config` and the
//! SIGHUP reload all go through [`resolve`].

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::flags::FlagKeys;
use super::{check, locate, Backend, Config, DaemonConfig, Flags, DEFAULT_PATH};
use crate::source::audit::live::AuditOptions;
use crate::source::ebpf::EbpfOptions;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The configuration file, at this line.
    File { file: String, line: usize },
    /// A command-line flag (`--status-file`).
    Flag(&'static str),
    /// Neither: the built-in default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line } => write!(f, "{file}:{line}"),
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Default => f.write_str("default"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the offending value was set (more than one for a list that the
    /// file sets and a flag extends).
    pub origins: Vec<Origin>,
    /// The dotted key (`daemon.status_file`).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    /// `t.toml:12: key `log.max_size`: ...`, `--status-file: key ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, o) in self.origins.iter().enumerate() {
            if i > 0 {
                f.write_str(" and ")?;
            }
            write!(f, "{o}")?;
        }
        write!(f, ": key `{}`: {}", self.key, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    /// Every problem, one per line.
    #[error("{}", lines(.0))]
    Invalid(Vec<Problem>),
}

fn lines(p: &[Problem]) -> String {
    p.iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The problems found (none for a read error).
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            ConfigError::Read { .. } => &[],
        }
    }
}

/// The checked configuration of `tracer run`, split by the part it drives.
#[derive(Debug, Clone)]
pub struct Settings {
    pub backend: Backend,
    /// The eBPF source; its `filter` is the file's `[filter]` section (type
    /// and all) with the filter flags added.
    pub ebpf: EbpfOptions,
    pub audit: AuditOptions,
    /// Report the processes alive at start.
    pub proc_scan: bool,
    /// How long the cross-check waits for the other source's copy of an exec.
    pub check_window: Duration,
    /// The merged, checked configuration: the sinks read its `log` and
    /// `syslog` sections, the daemon its `daemon` section; `--check-config`
    /// prints it and a reload compares against it.
    pub config: Config,
    /// The file read (`None`: the default file does not exist).
    pub path: Option<PathBuf>,
    /// The flags, laid over the file again on reload.
    pub flags: Flags,
    /// Which keys the flags set, for `--check-config`.
    pub flag_keys: Vec<(String, Vec<&'static str>)>,
}

impl Settings {
    pub fn daemon(&self) -> &DaemonConfig {
        &self.config.daemon
    }

    /// The merged configuration as TOML, with a header saying where it came
    /// from (what `--check-config` prints).
    pub fn to_toml(&self) -> String {
        let mut out = match &self.path {
            Some(p) => format!("# effective configuration: {} and flags\n", p.display()),
            None => "# effective configuration: built-in defaults and flags\n".to_string(),
        };
        for (key, flags) in &self.flag_keys {
            out.push_str(&format!("# {key}: set by {}\n", flags.join(", ")));
        }
        out.push_str(&self.config.to_toml());
        out
    }
}

/// The configuration file (`explicit`, else the default one when it exists)
/// with `flags` laid over it, checked as a whole.
pub fn resolve(explicit: Option<&Path>, flags: &Flags) -> Result<Settings, ConfigError> {
    let (config, path, flag_keys) = build(explicit, Some(flags))?;
    let c = &config;
    Ok(Settings {
        backend: c.capture.backend,
        ebpf: EbpfOptions {
            filter: c.filter.clone(),
            argv_limit: c.capture.argv_limit,
            // Checked: at most RING_BYTES_MAX, a u32.
            ring_bytes: c.capture.ring_size.0 as u32,
            poll: Duration::from_millis(c.capture.poll_ms),
            jobs: c.capture.jobs,
        },
        audit: AuditOptions {
            daemon: flags.audit_daemon,
        },
        proc_scan: c.capture.proc_scan,
        check_window: Duration::from_secs(c.crosscheck.window.0),
        flag_keys: flag_keys.into_iter().collect(),
        config,
        path,
        flags: flags.clone(),
    })
}

/// The configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read; `None` when the default file does not exist.
    pub path: Option<PathBuf>,
}

/// The file alone, checked (for the subcommands that only read it: `status`,
/// `verify`). A missing default file gives the built-in defaults; a missing
/// explicit one is an error.
pub fn load(explicit: Option<&Path>) -> Result<Loaded, ConfigError> {
    let (config, path, _) = build(explicit, None)?;
    Ok(Loaded { config, path })
}

/// Parses and checks one file's text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
    let src = Source { text, file };
    let config = src.parse()?;
    let problems = src.locate(check::problems(&config), &FlagKeys::new());
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

/// A file's text and name, to place problems at their line.
struct Source<'a> {
    text: &'a str,
    file: &'a str,
}

impl Source<'_> {
    fn parse(&self) -> Result<Config, ConfigError> {
        toml::from_str(self.text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let (line, key) = locate::key_at(self.text, span.start);
            ConfigError::Invalid(vec![Problem {
                origins: vec![Origin::File {
                    file: self.file.to_string(),
                    line,
                }],
                key,
                message: e.message().trim().to_string(),
            }])
        })
    }

    /// Where each problem's key was set: the flags that set it, the file's
    /// line, or the default.
    fn locate(&self, found: Vec<check::Found>, flag_keys: &FlagKeys) -> Vec<Problem> {
        found
            .into_iter()
            .map(|(key, message)| {
                let mut origins = Vec::new();
                // A key written inside an inline table is placed at the table.
                let line = locate::line_of_key(self.text, &key).or_else(|| {
                    let (table, _) = key.rsplit_once('.')?;
                    locate::line_of_key(self.text, table)
                });
                if let Some(line) = line {
                    origins.push(Origin::File {
                        file: self.file.to_string(),
                        line,
                    });
                }
                for f in flag_keys.get(&key).into_iter().flatten() {
                    // A flag that replaces the value hides the file's line.
                    if !is_list(&key) {
                        origins.retain(|o| !matches!(o, Origin::File { .. }));
                    }
                    origins.push(Origin::Flag(f));
                }
                if origins.is_empty() {
                    origins.push(Origin::Default);
                }
                Problem {
                    origins,
                    key,
                    message,
                }
            })
            .collect()
    }
}

/// Keys whose flags add to the file's value rather than replace it.
fn is_list(key: &str) -> bool {
    key.starts_with("filter.") && key != "filter.exclude_unattributed"
}

type Built = (Config, Option<PathBuf>, FlagKeys);

/// Reads the file, lays `flags` over it (when given), checks the result.
fn build(explicit: Option<&Path>, flags: Option<&Flags>) -> Result<Built, ConfigError> {
    let path = explicit.unwrap_or(Path::new(DEFAULT_PATH));
    let (text, read) = match std::fs::read_to_string(path) {
        Ok(t) => (t, Some(path.to_path_buf())),
        Err(e) if explicit.is_none() && e.kind() == std::io::ErrorKind::NotFound => {
            (String::new(), None)
        }
        Err(source) => {
            return Err(ConfigError::Read {
                file: path.display().to_string(),
                source,
            })
        }
    };
    let name = path.display().to_string();
    let src = Source {
        text: &text,
        file: &name,
    };
    let mut problems = Vec::new();
    let mut config = match src.parse() {
        Ok(c) => Some(c),
        Err(ConfigError::Invalid(p)) => {
            problems.extend(p);
            None
        }
        Err(e) => return Err(e),
    };
    let mut flag_keys = FlagKeys::new();
    if let Some(flags) = flags {
        // Flags are merged (and their own values parsed) even when the file
        // does not parse, so that every problem is reported in one go.
        let parsed = config.is_some();
        let mut base = config.take().unwrap_or_default();
        let (keys, bad) = flags.merge(&mut base, read.is_some());
        for (key, flag, message) in bad {
            problems.push(Problem {
                origins: vec![Origin::Flag(flag)],
                key,
                message,
            });
        }
        flag_keys = keys;
        if parsed {
            config = Some(base);
        }
    }
    // A file that does not parse cannot be checked further.
    let Some(config) = config else {
        return Err(ConfigError::Invalid(problems));
    };
    problems.extend(src.locate(check::problems(&config), &flag_keys));
    if !problems.is_empty() {
        return Err(ConfigError::Invalid(problems));
    }
    Ok((config, read, flag_keys))
}
