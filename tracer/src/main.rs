//! The `tracer` binary: parse arguments, set up logging, dispatch, map errors
//! to exit codes. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;
use tracer::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp_millis()
        .init();
    let result = match cli.command {
        Command::Run(args) => tracer::cmd::run::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Rules(args) => tracer::cmd::rules::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Report(args) => tracer::cmd::report::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Status(args) => tracer::cmd::status::status(&args),
        Command::Check(args) => tracer::cmd::check::run(&args),
        Command::Verify(args) => tracer::cmd::verify::run(&args),
        Command::Ship(args) => tracer::cmd::fleet::ship(&args).map(|()| ExitCode::SUCCESS),
        Command::Fleet(args) => tracer::cmd::fleet::fleet(&args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            use std::io::Write;
            // A closed stderr must not turn an error into a panic.
            let _ = writeln!(std::io::stderr(), "tracer: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
