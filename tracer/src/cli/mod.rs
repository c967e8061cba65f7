//! clap derive types only: the raw command-line flags of each subcommand,
//! and their one-step conversion into a validated library config.

pub mod report;
