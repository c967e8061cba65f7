use anyhow::Context;

use crate::cli::run::RunArgs;
use crate::run::{run as run_tracer, RunConfig};

pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let cfg = RunConfig::from_args(args)?;
    if args.check_config {
        match &cfg.config_path {
            Some(p) => println!("# effective configuration: {} and flags", p.display()),
            None => println!("# effective configuration: built-in defaults and flags"),
        }
        print!("{}", cfg.config.to_toml());
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let summary = rt.block_on(run_tracer(cfg))?;
    log::info!("stopped; {} records written", summary.written);
    Ok(())
}
