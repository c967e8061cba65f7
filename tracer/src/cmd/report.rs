//! `tracer report`: flags -> [`crate::report::Config`] -> [`crate::report::run`] on stdout.
//! A closed stdout (`tracer report | head`) ends the report quietly with
//! success: Rust ignores SIGPIPE, so the write fails with `BrokenPipe`, which
//! is the reader's choice, not an error.

use std::io::{self, IsTerminal};

use anyhow::Context as _;

use crate::cli::report::{Env, ReportArgs};
use crate::report;

pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let env = Env {
        stdout_is_tty: io::stdout().is_terminal(),
        stderr_is_tty: io::stderr().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        now: chrono::Local::now(),
    };
    let config = args.to_config(&env).context("tracer report")?;
    let mut stdout = io::stdout().lock();
    let mut stderr = io::stderr().lock();
    if let Some(url) = &args.from {
        let client = crate::cmd::fleet::client(url, args.credentials.as_deref())?;
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
