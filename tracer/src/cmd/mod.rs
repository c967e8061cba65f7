//! The edges: one function per subcommand that wires a validated config to
//! the library, with `anyhow` for the error to print.

pub mod report;
