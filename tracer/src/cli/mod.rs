//! Command-line types only (clap derive): the raw flags of each subcommand.
//! Each is turned into a checked configuration in one step (`config::Settings`,
//! `report::Config`, ...) before anything runs.
//!
//! Their doc comments are the `--help` text, written for admins
//! (`HOST[:PORT]`, `[fleet]`), not rustdoc links.
#![allow(rustdoc::broken_intra_doc_links)]

pub mod check;
pub mod fleet;
pub mod report;
pub mod rules;
pub mod run;
pub mod status;
pub mod verify;

use clap::{Parser, Subcommand};

/// tracer: who ran what on this node, from login to logout.
#[derive(Debug, Parser)]
#[command(name = "tracer", version, about, long_about = None)]
pub struct Cli {
    /// More diagnostics on stderr (-v: debug, -vv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Capture every exec on this node and write JSON lines.
    Run(run::RunArgs),
    /// Report who ran what, grouped by login user and session.
    Report(report::ReportArgs),
    /// Summarise the eBPF/audit cross-check of `run --backend both` logs
    /// (exit 1 on unexplained discrepancies).
    Check(check::CheckArgs),
    /// Manage tracer's audit rules (only rules keyed `tracer*`).
    Rules(rules::RulesArgs),
    /// Show what the running daemon is doing (from its state file).
    Status(status::StatusArgs),
    /// Check the tamper-evident hash chain of tracer's log files.
    Verify(verify::VerifyArgs),
    /// Ship this node's log to ClickHouse (the fleet database).
    Ship(fleet::ShipArgs),
    /// Set up the fleet database in ClickHouse (schema, retention).
    Fleet(fleet::FleetArgs),
}
