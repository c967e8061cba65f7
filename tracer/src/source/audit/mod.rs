//! The audit backend's record handling: from raw audit text to [`Event`]s.
//!
//! - [`parse`]: a pure line parser, `audit.log` text or netlink bodies to
//!   borrowed [`parse::Record`]s;
//! - [`coalesce`]: a state machine that groups records by event (node, serial,
//!   time) and turns finished events into [`Event`]s;
//! - [`reader`]: `audit.log` files / `ausearch -r` output to a stream of
//!   events, for `tracer report`.
//!
//! The netlink source (live capture) feeds [`parse::parse_body`] results into a
//! [`coalesce::Coalescer`]; the report reads files through
//! [`reader::AuditLogReader`]. Both produce the same events, with
//! `source: Source::Audit`.
//!
//! [`Event`]: crate::event::Event

pub mod coalesce;
pub mod exec;
pub mod login;
pub mod parse;
pub mod reader;
pub mod rtype;
pub mod value;

pub use coalesce::{CoalesceStats, Coalescer, CoalescerConfig};
pub use parse::{parse_body, parse_line, ParseError, Record};
pub use reader::{AuditLogReader, BadLine, ReadError, ReadItem, ReaderConfig, ReaderStats};
pub use rtype::RecordType;
