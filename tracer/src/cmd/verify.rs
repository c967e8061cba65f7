//! `tracer verify`: check the log's hash chain. Exit 0 when intact, 1 when
//! tampering is found (each finding named by file:line), 2 on errors.

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::verify::VerifyArgs;
use crate::config;
use crate::sink::chain;
use crate::verify::verify;

pub fn run(a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    match check(a) {
        Ok(code) => Ok(code),
        Err(e) => {
            // Exit 1 means "tampering found": errors get 2.
            eprintln!("tracer: error: {e:#}");
            Ok(ExitCode::from(2))
        }
    }
}

fn check(a: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let cfg = config::load(a.config.as_deref())?.config;
    let key_path = a.chain_key.clone().unwrap_or(cfg.log.chain_key.clone());
    let key = chain::load_key(&key_path).context("tracer verify needs the chain key")?;
    let files = if a.files.is_empty() {
        let dir = cfg
            .log
            .file
            .parent()
            .map(|d| d.to_path_buf())
            .unwrap_or_default();
        let base = cfg
            .log
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        let base = base.unwrap_or_default();
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                crate::logread::rotation(&n).0 == base
            })
            .collect();
        v.sort();
        v
    } else {
        a.files.clone()
    };
    if files.is_empty() {
        anyhow::bail!("no log files to verify");
    }
    let out = verify(&key, &files)?;
    for f in &out.findings {
        println!("TAMPERED: {f}");
    }
    if !a.quiet {
        for n in &out.notes {
            println!("note: {n}");
        }
        if out.unsealed_before > 0 {
            println!(
                "note: {} line(s) before the first sealed record are not covered by the chain",
                out.unsealed_before
            );
        }
    }
    if out.records == 0 {
        println!(
            "tracer verify: no sealed records in {}",
            out.files.join(", ")
        );
        return Ok(ExitCode::from(1));
    }
    let range = match (out.first_seq, out.last_seq) {
        (Some(a), Some(b)) => format!("seq {a} to {b}"),
        _ => String::new(),
    };
    if out.findings.is_empty() {
        if !a.quiet {
            println!(
                "tracer verify: OK: {} records ({range}) in {} file(s), chain intact",
                out.records,
                out.files.len()
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "tracer verify: FAILED: {} finding(s) in {} records ({range})",
            out.findings.len(),
            out.records
        );
        Ok(ExitCode::from(1))
    }
}
