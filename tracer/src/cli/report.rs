//! `tracer report` flags ([`ReportArgs`]) and their conversion into a checked
//! [`Config`] in one step ([`ReportArgs::to_config`]): times parsed, user
//! names resolved, inputs found and put in rotation order.

use std::path::PathBuf;

use chrono::{DateTime, Local};

use crate::report::display::Zone;
use crate::report::filter::{CommandPattern, Filter};
use crate::report::input::{self, InputError, InputSpec};
use crate::report::model::GroupBy;
use crate::report::time::{parse_time, TimeError};
use crate::report::users::UserDb;
use crate::report::{Config, KindSelect, OutputFormat};
use crate::sessions::SessionKind;

fn parse_kind(s: &str) -> Result<SessionKind, String> {
    SessionKind::parse(s).ok_or_else(|| {
        let all: Vec<&str> = SessionKind::ALL.iter().map(|k| k.as_str()).collect();
        format!("unknown session kind {s:?}; one of: {}", all.join(", "))
    })
}

/// Who ran what: commands grouped by login user and session.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Times for --since/--until: RFC 3339, YYYY-MM-DD, 'YYYY-MM-DD HH:MM[:SS]' (local time), \
today, yesterday, now, or 30m / 1h / 2d (that long ago). --since is inclusive, --until exclusive.\n\
--command PATTERN: with * ? or [ ] a glob that must match argv[0], the executable, either's base name, \
or the whole command line; otherwise a substring of the command line or the executable."
)]
pub struct ReportArgs {
    /// tracer logs (JSON lines), audit.log files, or '-' for stdin (e.g. `ausearch -r` output);
    /// gzip and rotated files (x.N ... x.1, x) are handled. Default: /var/log/tracer/tracer.log*
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    pub format: FormatArg,
    /// Counts per user and session (commands, failed, first/last, top commands) instead of commands.
    #[arg(long)]
    pub summary: bool,
    /// Only this login user (audit login uid), by uid or by name: a name the
    /// log gives (login records' acct=, tracer's user field), else from --passwd, else NSS.
    #[arg(long, short = 'u', value_name = "NAME|UID")]
    pub user: Option<String>,
    /// Show every session kind in text output (cron, systemd --user, services), not only logins.
    #[arg(long)]
    pub all: bool,
    /// Only sessions of this kind: interactive, cron, user_manager, service, batch_job, unknown (repeatable).
    #[arg(long, value_name = "KIND", value_parser = parse_kind)]
    pub kind: Vec<SessionKind>,
    /// The host name of audit records without node= (default: none; never this machine's).
    #[arg(long, value_name = "NAME")]
    pub host_name: Option<String>,
    /// Only this audit session id.
    #[arg(long, value_name = "N")]
    pub session: Option<u32>,
    /// Only this host (as recorded in the log).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,
    /// Only commands at or after this time.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only commands before this time.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only commands matching this substring or glob (see below).
    #[arg(long, value_name = "PATTERN")]
    pub command: Option<String>,
    /// Only failed execs.
    #[arg(long)]
    pub failed: bool,
    /// Only commands run inside this batch job (a job_NNN component of its cgroup path).
    #[arg(long, value_name = "ID")]
    pub job: Option<String>,
    /// Group commands by login session or by batch job.
    #[arg(long, value_enum, default_value_t = ByArg::Session)]
    pub by: ByArg,
    /// Colour in text output.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    pub color: ColorArg,
    /// Show times in UTC instead of local time (JSON is always UTC).
    #[arg(long)]
    pub utc: bool,
    /// Name users the log does not name with this passwd file (that of the node the log came from).
    #[arg(long, value_name = "FILE")]
    pub passwd: Option<PathBuf>,
    /// Don't ask this machine's NSS (passwd, SSSD, LDAP) for names the log and --passwd lack.
    #[arg(long)]
    pub no_nss: bool,
    /// Never draw a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Read the fleet's records from ClickHouse (clickhouse://HOST:PORT/DB or
    /// https://HOST:PORT/DB) instead of files [default without INPUTs:
    /// fleet.report_from of the configuration file, if set].
    #[arg(long, value_name = "URL", conflicts_with = "inputs")]
    pub from: Option<String>,
    /// ClickHouse credentials file (user = / password =, mode 600) [default:
    /// fleet.credentials, else /etc/tracer/clickhouse.credentials if it exists].
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub credentials: Option<PathBuf>,
    /// CA certificates (PEM) for an https:// URL [default: fleet.ca, else the system bundle].
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub ca: Option<PathBuf>,
    /// The configuration file whose [fleet] section says where the fleet is
    /// (read only without INPUTs) [default: /etc/tracer/tracer.toml if it exists].
    #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
    pub config: Option<PathBuf>,
    /// Threads reading the logs (0: one per core). The report is the same
    /// whatever the number.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ByArg {
    Session,
    Job,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// What the conversion needs to know about the process's surroundings.
#[derive(Debug, Clone)]
pub struct Env {
    pub stdout_is_tty: bool,
    pub stderr_is_tty: bool,
    pub no_color: bool,
    pub now: DateTime<Local>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Time(#[from] TimeError),
    #[error("bad user {0:?}: give a name or a uid")]
    UnknownUser(String),
    #[error("can't read passwd file {path}: {error}")]
    Passwd { path: String, error: std::io::Error },
    #[error(transparent)]
    Input(#[from] InputError),
}

impl ReportArgs {
    pub fn to_config(&self, env: &Env) -> Result<Config, ConfigError> {
        let users = match &self.passwd {
            None => UserDb::default(),
            Some(p) => UserDb::load(p).map_err(|error| ConfigError::Passwd {
                path: p.display().to_string(),
                error,
            })?,
        };
        // A name is matched after reading, against the names the log gives.
        let (user, user_name) = match &self.user {
            None => (None, None),
            Some(u) => match u.parse::<u32>() {
                Ok(uid) => (Some(uid), None),
                Err(_) if u.is_empty() => return Err(ConfigError::UnknownUser(u.clone())),
                Err(_) => (None, Some(u.clone())),
            },
        };
        let time = |t: &Option<String>| t.as_deref().map(|s| parse_time(s, &env.now)).transpose();
        let filter = Filter {
            user,
            session: self.session,
            host: self.host.clone(),
            since: time(&self.since)?,
            until: time(&self.until)?,
            command: self.command.as_deref().map(CommandPattern::new),
            failed: self.failed,
            job: self.job.clone(),
        };
        let inputs = if self.from.is_some() {
            Vec::new()
        } else if self.inputs.is_empty() {
            input::default_inputs(input::DEFAULT_DIR.as_ref())?
        } else {
            input::rotation_order(self.inputs.iter().map(|p| InputSpec::from_arg(p)).collect())
        };
        let format = match self.format {
            FormatArg::Text => OutputFormat::Text,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Csv => OutputFormat::Csv,
        };
        let color = format == OutputFormat::Text
            && match self.color {
                ColorArg::Always => true,
                ColorArg::Never => false,
                ColorArg::Auto => env.stdout_is_tty && !env.no_color,
            };
        Ok(Config {
            inputs,
            filter,
            by: match self.by {
                ByArg::Session => GroupBy::Session,
                ByArg::Job => GroupBy::Job,
            },
            format,
            summary: self.summary,
            color,
            zone: if self.utc { Zone::Utc } else { Zone::Local },
            users,
            nss: !self.no_nss,
            user_name,
            kinds: if self.all {
                KindSelect::All
            } else if self.kind.is_empty() {
                KindSelect::Default
            } else {
                KindSelect::Only(self.kind.clone())
            },
            host_name: self.host_name.clone(),
            progress: env.stderr_is_tty && !self.no_progress,
            read: crate::report::input::ReadOpts {
                threads: self.threads,
                ..Default::default()
            },
        })
    }
}
