use anyhow::Context;

use crate::cli::run::RunArgs;
use crate::run::{run as run_tracer, RunConfig};

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_args(args)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = rt.block_on(run_tracer(cfg))?;
    log::info!("stopped; {} records written", summary.written);
    Ok(())
}
