//! `tracer status` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The daemon's state file [default: daemon.status_file of the
    /// configuration, else /run/tracer/status.json].
    #[arg(long, value_name = "FILE")]
    pub status_file: Option<PathBuf>,
    /// Configuration file to take `daemon.status_file` from.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the state file's JSON (with `state` added) instead of text.
    #[arg(long)]
    pub json: bool,
}
