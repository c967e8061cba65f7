//! Reading logs back: the inverse of [`crate::sink`], the one place that
//! knows how tracer's and auditd's logs are laid out on disk.
//!
//! - [`files`]: which files make a log and in which order (rotations oldest
//!   first, `tracer.log*` by default);
//! - [`open`](mod@open): opening one input, undoing gzip, recognising its format (and
//!   giving a rotated piece with junk at its start its family's format);
//! - [`lines`]: several inputs joined into one stream of capped lines, each
//!   named `file:line` ([`lines::for_each_line`] for `tracer check` and
//!   `tracer verify`);
//! - [`chunk`]: the same stream cut into chunks of whole lines and worked on
//!   by all cores, results in input order (the report);
//! - [`audit`]: raw audit chunks coalesced in parallel into exactly the
//!   events of a serial read;
//! - [`tail`]: the end of a log file (the file sink's resume).
//!
//! The report turns the lines into its records (`report::input`), `check`
//! into cross-check counters, `verify` into hash-chain findings; none of them
//! opens a file itself.

pub mod audit;
pub mod chunk;
pub mod files;
pub mod lines;
pub mod open;
pub mod tail;

pub use files::{default_inputs, rotation, rotation_order, InputSpec, DEFAULT_BASE, DEFAULT_DIR};
pub use lines::{for_each_line, At, Concat, Line, LineMap};
pub use open::{open, open_all, runs, ByteCounter, Detected, Format, InputError, Opened};

/// The longest line of tracer's log read as a record. Linux caps one exec's
/// arguments and environment at a few MiB, so a longer line is not something
/// tracer wrote.
pub const MAX_JSON_LINE: usize = 32 << 20;
