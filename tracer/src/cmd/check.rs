use std::path::Path;
use std::process::ExitCode;

use crate::check::check;
use crate::cli::check::CheckArgs;
use crate::logread::{default_inputs, InputSpec};

/// Exit status: 0 when every discrepancy is explained, 1 when not.
pub fn run(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let inputs = if args.inputs.is_empty() {
        default_inputs(Path::new(crate::logread::DEFAULT_DIR))?
    } else {
        args.inputs.iter().map(|p| InputSpec::from_arg(p)).collect()
    };
    let s = check(inputs)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
    } else {
        print!("{}", s.render_text());
    }
    Ok(if s.unexplained == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
