//! The `tracer` binary: parse flags, dispatch, map errors to an exit code.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tracer",
    version,
    about = "Who ran what on a multi-user Linux node"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report who ran what, grouped by login user and session.
    Report(tracer::cli::report::ReportArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Report(args) => tracer::cmd::report::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "tracer: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
