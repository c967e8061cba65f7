//! The cluster view: every node's records in ClickHouse, and the report
//! across the fleet.
//!
//! ```text
//! node: tracer run -> tracer.log* (the spool) -> tracer ship ──HTTP──> ClickHouse shard(s)
//!                                                                       │ events + views
//! anywhere: tracer report --from clickhouse://HOST:PORT/DB  <───────────┘ (Distributed *_all)
//! ```
//!
//! - [`schema`]: the tables and `tracer fleet init` / `prune`;
//! - [`row`]: a log line -> a JSONEachRow row (exact argv bytes);
//! - [`spool`], [`checkpoint`], [`ship`]: the shipper;
//! - [`query`]: the report's [`RecordSource`](crate::report::source::RecordSource) over ClickHouse;
//! - [`metrics`]: Prometheus text for node_exporter and an opt-in endpoint;
//! - [`client`], [`http`], [`tls`], [`url`]: talking to the server (HTTP or HTTPS).
//!
//! Nothing here reads `Event` itself: the shipper ships JSON lines as the
//! sink wrote them and the report reads them back, so the wire format is the
//! only contract with the rest of tracer.

pub mod checkpoint;
pub mod client;
pub mod http;
pub mod metrics;
pub mod query;
pub mod row;
pub mod schema;
pub mod ship;
pub mod spool;
pub mod tls;
pub mod url;
