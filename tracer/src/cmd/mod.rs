//! The edge of each command: build the checked configuration, run, and turn
//! errors into `anyhow` with context for `main`.

pub mod check;
pub mod fleet;
pub mod report;
pub mod rules;
pub mod run;
pub mod status;
pub mod verify;
