//! `tracer check` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// tracer logs of a `--backend both` run (rotated and .gz files too);
    /// default: /var/log/tracer/tracer.log*.
    pub inputs: Vec<PathBuf>,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}
