//! `tracer run`: resolve the configuration (file and flags, checked as a
//! whole), print it for `--check-config`, else capture until stopped.

use anyhow::Context;

use crate::cli::run::RunArgs;
use crate::config;
use crate::run::run as run_tracer;

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let settings = config::resolve(args.config.as_deref(), &args.flags())?;
    if args.check_config {
        print!("{}", settings.to_toml());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = rt.block_on(run_tracer(settings))?;
    log::info!("stopped; {} records written", summary.written);
    Ok(())
}
