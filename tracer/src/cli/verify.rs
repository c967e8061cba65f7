//! `tracer verify` arguments.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Log files (`tracer.log`, `tracer.log.1`, ... in any order: rotations
    /// are checked oldest first). Default: the configured log file and its
    /// rotations.
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The chain key [default: `log.chain_key` of the configuration,
    /// /var/lib/tracer/chain.key].
    #[arg(long, value_name = "FILE")]
    pub chain_key: Option<PathBuf>,
    /// Configuration file (for the key and log paths) [default:
    /// /etc/tracer/tracer.toml when it exists].
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print only findings.
    #[arg(short, long)]
    pub quiet: bool,
}
