//! tracer: who ran what on a multi-user Linux node, from login to logout.
//!
//! Data flows one way: kernel -> [`source`] -> [`event::Event`] -> [`sink`]; the
//! report reads the sinks' output (or raw audit logs through the same parser)
//! back into `Event`s. `main.rs` only wires these together.

pub mod bytes;
pub mod caps;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod crosscheck;
pub mod daemon;
pub mod event;
pub mod fleet;
pub mod hash;
pub mod logread;
pub mod names;
pub mod pipeline;
pub mod report;
pub mod run;
pub mod session;
pub mod sessions;
pub mod sink;
pub mod source;
pub mod status;
pub mod verify;
