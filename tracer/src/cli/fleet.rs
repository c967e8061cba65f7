//! `tracer fleet` and `tracer ship` flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// Server-side set-up of the fleet database.
#[derive(Debug, Args)]
pub struct FleetArgs {
    #[command(subcommand)]
    pub command: FleetCommand,
}

#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Create the database and tables, or add what an older schema lacks (idempotent).
    Init {
        /// clickhouse://HOST[:PORT]/DATABASE or https://HOST[:PORT]/DATABASE
        url: String,
        /// Also create `<table>_all` Distributed tables over this cluster (from the server's remote_servers).
        #[arg(long, value_name = "NAME")]
        cluster: Option<String>,
        /// Print the statements instead of running them.
        #[arg(long)]
        print: bool,
        /// user = / password = file (mode 600) [default: /etc/tracer/clickhouse.credentials if it exists]
        #[arg(long, value_name = "FILE")]
        credentials: Option<PathBuf>,
        /// CA certificates (PEM) for an https:// URL [default: the system bundle]
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
    /// Drop daily partitions older than DAYS days (retention).
    Prune {
        url: String,
        #[arg(long, value_name = "DAYS")]
        keep_days: u32,
        #[arg(long, value_name = "FILE")]
        credentials: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
    },
}

/// Ship this node's log to ClickHouse (runs until stopped).
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// clickhouse://HOST[:PORT]/DATABASE or https://HOST[:PORT]/DATABASE of
    /// this node's shard [default: fleet.url of the configuration file].
    pub url: Option<String>,
    /// The configuration file (its [fleet] section and log.file) [default:
    /// /etc/tracer/tracer.toml if it exists].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The log file tracer run writes (its rotations .1, .2, ... are read
    /// first) [default: log.file of the configuration file, /var/log/tracer/tracer.log].
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Checkpoint and set-aside records.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/tracer/ship")]
    pub state_dir: PathBuf,
    /// user = / password = file (mode 600) [default: fleet.credentials, else
    /// /etc/tracer/clickhouse.credentials if it exists]
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// CA certificates (PEM) for an https:// URL [default: fleet.ca, else the system bundle]
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Most records per INSERT.
    #[arg(long, default_value_t = 20_000)]
    pub batch_rows: usize,
    /// Most bytes per INSERT (bounds memory).
    #[arg(long, default_value_t = 16 << 20)]
    pub batch_bytes: usize,
    /// Send a partial batch once it is this old (milliseconds).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub flush_ms: u64,
    /// Longest wait between retries while the server is down (seconds).
    #[arg(long, default_value_t = 30, value_name = "S")]
    pub backoff_max: u64,
    /// Per-request timeout (seconds): a slower server counts as down.
    #[arg(long, default_value_t = 60, value_name = "S")]
    pub timeout: u64,
    /// The shipper's state file, shown by `tracer status`.
    #[arg(long, value_name = "FILE", default_value = "/run/tracer/ship.json")]
    pub status_file: PathBuf,
    /// The daemon's state file, for the metrics.
    #[arg(long, value_name = "FILE", default_value = "/run/tracer/status.json")]
    pub daemon_status: PathBuf,
    /// Write Prometheus metrics here for node_exporter's textfile collector
    /// (e.g. /var/lib/prometheus/node-exporter/tracer.prom).
    #[arg(long, value_name = "FILE")]
    pub metrics_textfile: Option<PathBuf>,
    /// Serve Prometheus metrics at http://ADDR/metrics (loopback only, e.g. 127.0.0.1:9465).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Exit once the log is shipped instead of following it.
    #[arg(long)]
    pub once: bool,
}
