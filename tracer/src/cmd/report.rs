//! `tracer report`: flags -> [`crate::report::Config`] -> [`crate::report::run`] on stdout.
//! A closed stdout (`tracer report | head`) ends the report quietly with
//! success: Rust ignores SIGPIPE, so the write fails with `BrokenPipe`, which
//! is the reader's choice, not an error.

use std::io::{self, IsTerminal};

use anyhow::Context as _;

use crate::cli::report::{Env, ReportArgs};
use crate::report;

/// The ClickHouse server to read, if any: `--from`, else (without input
/// files) `fleet.report_from` of the configuration file; credentials and CA
/// from the flags, else from `[fleet]`. All of it goes through the one
/// configuration pipeline, so a bad value names its key and origin. Without
/// input files, `--from` or `--config`, an unreadable default file (a user
/// who may not read /etc/tracer/tracer.toml) means the default log files.
fn fleet_client(args: &ReportArgs) -> anyhow::Result<Option<crate::fleet::client::Client>> {
    if !args.inputs.is_empty() {
        return Ok(None);
    }
    let flags = crate::config::Flags {
        report_from: args.from.clone(),
        fleet_credentials: args.credentials.clone(),
        fleet_ca: args.ca.clone(),
        ..Default::default()
    };
    let s = match crate::config::resolve(args.config.as_deref(), &flags) {
        Ok(s) => s,
        Err(crate::config::ConfigError::Read { .. }) if args.config.is_none() => {
            return match &args.from {
                None => Ok(None),
                Some(url) => Ok(Some(crate::cmd::fleet::client(
                    url,
                    args.credentials.as_deref(),
                    args.ca.as_deref(),
                )?)),
            };
        }
        Err(e) => return Err(anyhow::Error::from(e).context("tracer report")),
    };
    match s.config.fleet.report_from.clone() {
        Some(url) => Ok(Some(crate::cmd::fleet::client_of(&s, &url)?)),
        None => Ok(None),
    }
}

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let env = Env {
        stdout_is_tty: io::stdout().is_terminal(),
        stderr_is_tty: io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        now: chrono::Local::now(),
    };
    let fleet = fleet_client(args)?;
    let config = if fleet.is_some() && args.from.is_none() {
        // Read from the fleet (the configuration file says so): no files.
        let mut a = args.clone();
        a.from = fleet.as_ref().map(|c| c.endpoint.display());
        a.to_config(&env)
    } else {
        args.to_config(&env)
    }
    .context("tracer report")?;
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    if let Some(client) = fleet {
        return match crate::fleet::query::run_report(&config, &client, &mut stdout, &mut stderr) {
            Ok(_) => Ok(()),
            Err(e) if e.is_broken_pipe() => Ok(()),
            Err(e) => Err(e).context("tracer report"),
        };
    }
    match report::run(&config, &mut stdout, &mut stderr) {
        Ok(_) => Ok(()),
        Err(e) if e.is_broken_pipe() => Ok(()),
        Err(e) => Err(e).context("tracer report"),
    }
}
