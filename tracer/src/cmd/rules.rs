//! `tracer rules load|list|clear`: the edge between the CLI and
//! [`crate::source::audit::rules`].

use anyhow::{bail, Context};

use crate::cli::rules::{RulesArgs, RulesCommand};
use crate::source::audit::rule_data::TRACER_KEY_PREFIX;
use crate::source::audit::rules::{
    self, format_rule, parse_rules, SHIPPED_RULES, SHIPPED_RULES_ORIGIN,
};

pub fn run(args: &RulesArgs) -> anyhow::Result<()> {
    match &args.command {
        RulesCommand::Load { files } => {
            // Parse everything first: a typo in the last file changes nothing.
            let mut directives = Vec::new();
            if files.is_empty() {
                directives.extend(parse_rules(SHIPPED_RULES, SHIPPED_RULES_ORIGIN)?);
            }
            for f in files {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("can't read rules file {}", f.display()))?;
                directives.extend(parse_rules(&text, &f.display().to_string())?);
            }
            let r = rules::load(&directives).context("loading audit rules")?;
            println!(
                "{} rule(s) added, {} already present, {} deleted",
                r.added, r.present, r.deleted
            );
        }
        RulesCommand::List { all } => {
            let list = if *all {
                rules::list_all()
            } else {
                rules::list_owned()
            }
            .context("listing audit rules")?;
            if list.is_empty() {
                println!("No rules");
            }
            for r in &list {
                println!("{}", format_rule(r));
            }
        }
        RulesCommand::Clear { key } => {
            if let Some(k) = key {
                if !k.starts_with(TRACER_KEY_PREFIX) {
                    bail!("tracer only deletes rules keyed `{TRACER_KEY_PREFIX}*`, not `{k}`");
                }
            }
            let n = rules::clear(key.as_deref()).context("deleting tracer's audit rules")?;
            println!("{n} rule(s) deleted");
        }
    }
    Ok(())
}
