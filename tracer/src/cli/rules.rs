//! `tracer rules ...`: clap types only; [`crate::cmd::rules`] does the work.

use std::path::PathBuf;

/// Manage tracer's audit rules (only rules keyed `tracer*`).
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    #[command(subcommand)]
    pub command: RulesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// Load rules files in auditctl syntax (default: tracer's shipped rules).
    /// Loading a rule the kernel already has is not an error.
    Load {
        /// Rules files; none means the built-in rules/tracer.rules.
        files: Vec<PathBuf>,
    },
    /// Print rules like `auditctl -l` (tracer's only, unless --all).
    List {
        /// Print every rule in the kernel, not only tracer's.
        #[arg(long)]
        all: bool,
    },
    /// Delete tracer's rules; other rules are never touched.
    Clear {
        /// Only the rules with this key (which must start with `tracer`).
        #[arg(short, long)]
        key: Option<String>,
    },
}
