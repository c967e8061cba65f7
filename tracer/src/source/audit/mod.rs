//! The audit backend: from the kernel's audit subsystem (netlink) or audit
//! log text to [`Event`]s.
//!
//! Record handling:
//! - [`parse`]: a pure line parser, `audit.log` text or netlink bodies to
//!   borrowed [`parse::Record`]s;
//! - [`coalesce`]: a state machine that groups records by event (node, serial,
//!   time) and turns finished events into [`Event`]s;
//! - [`reader`]: `audit.log` files / `ausearch -r` output to a stream of
//!   events, for `tracer report`.
//!
//! Kernel side:
//! - [`netlink`], [`receiver`], [`status`]: the NETLINK_AUDIT socket, the
//!   multicast/daemon receiver with counted losses, the audit status;
//! - [`rules`], [`rule_data`], [`syscalls`]: auditctl-syntax rules;
//! - [`live`]: the live source of `tracer run` (receiver + parser + coalescer).
//!
//! Both the live source and the report produce the same events, with
//! `source: Source::Audit`.
//!
//! [`Event`]: crate::event::Event

pub mod coalesce;
pub mod exec;
pub mod live;
pub mod login;
pub mod netlink;
pub mod parse;
pub mod reader;
pub mod receiver;
pub mod rtype;
pub mod rule_data;
pub mod rules;
pub mod status;
pub mod syscalls;
pub mod value;

pub use coalesce::{CoalesceStats, Coalescer, CoalescerConfig};
pub use parse::{parse_body, parse_line, ParseError, Record};
pub use reader::{AuditLogReader, BadLine, ReadError, ReadItem, ReaderConfig, ReaderStats};
pub use rtype::RecordType;
