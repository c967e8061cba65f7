//! `tracer fleet init|prune` and `tracer ship`: flags -> checked settings ->
//! [`crate::fleet`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::fleet::{FleetArgs, FleetCommand, ShipArgs};
use crate::config::{Flags, Settings};
use crate::fleet::client::Client;
use crate::fleet::http::Timeouts;
use crate::fleet::url::{self, Endpoint};
use crate::fleet::{schema, ship};

/// The endpoint of `url` with credentials from `file`, or from the default
/// file when it exists, and for `https://` the CA certificates of `ca` (the
/// system bundle by default).
pub fn client(url: &str, file: Option<&Path>, ca: Option<&Path>) -> anyhow::Result<Client> {
    let mut ep = Endpoint::parse(url)?;
    ep.load_tls(ca)?;
    let default = PathBuf::from(url::DEFAULT_CREDENTIALS);
    let file = match file {
        Some(f) => Some(f.to_owned()),
        None => default.exists().then_some(default),
    };
    if let Some(f) = file {
        ep.credentials = Some(url::load_credentials(&f)?);
    }
    Ok(Client::new(ep))
}

pub fn fleet(a: &FleetArgs) -> anyhow::Result<()> {
    match &a.command {
        FleetCommand::Init {
            url,
            cluster,
            print,
            credentials,
            ca,
        } => {
            if *print {
                let ep = Endpoint::parse(url)?;
                for s in schema::create_statements(&ep.database, cluster.as_deref()) {
                    println!("{s};\n");
                }
                return Ok(());
            }
            let c = client(url, credentials.as_deref(), ca.as_deref())?;
            let r = schema::init(&c, cluster.as_deref())
                .with_context(|| format!("tracer fleet init {}", c.endpoint.display()))?;
            for col in &r.added_columns {
                println!("added column {col}");
            }
            println!(
                "{}: schema ready ({} statements)",
                c.endpoint.display(),
                r.statements
            );
            Ok(())
        }
        FleetCommand::Prune {
            url,
            keep_days,
            credentials,
            ca,
        } => {
            let c = client(url, credentials.as_deref(), ca.as_deref())?;
            let dropped = schema::prune(&c, *keep_days).context("tracer fleet prune")?;
            for d in &dropped {
                println!("dropped {d}");
            }
            println!("{} partition(s) dropped", dropped.len());
            Ok(())
        }
    }
}

/// The configuration file with the fleet flags laid over it, through the one
/// pipeline ([`crate::config::resolve`]): a bad value names its key and
/// whether the file (at its line) or a flag set it.
pub fn settings(explicit: Option<&Path>, flags: &Flags) -> anyhow::Result<Settings> {
    Ok(crate::config::resolve(explicit, flags)?)
}

/// The client for the checked `url` of `s`, with its credentials and CA.
pub fn client_of(s: &Settings, url: &str) -> anyhow::Result<Client> {
    let f = &s.config.fleet;
    client(url, f.credentials.as_deref(), f.ca.as_deref())
}

pub fn ship(a: &ShipArgs) -> anyhow::Result<()> {
    let flags = Flags {
        fleet_url: a.url.clone(),
        fleet_credentials: a.credentials.clone(),
        fleet_ca: a.ca.clone(),
        ship_log: a.log.clone(),
        ..Flags::default()
    };
    let s = settings(a.config.as_deref(), &flags).context("tracer ship")?;
    let Some(url) = s.config.fleet.url.clone() else {
        anyhow::bail!(
            "tracer ship: no ClickHouse server: give its URL (tracer ship clickhouse://HOST:8123/DB) or set fleet.url in {}",
            s.path
                .as_deref()
                .unwrap_or(Path::new(crate::config::DEFAULT_PATH))
                .display()
        );
    };
    let log_file = s.config.log.file.clone();
    let mut c = client_of(&s, &url)?;
    c.timeouts = Timeouts {
        connect: Duration::from_secs(5).min(Duration::from_secs(a.timeout.max(1))),
        io: Duration::from_secs(a.timeout.max(1)),
    };
    if a.batch_rows == 0 || a.batch_bytes < 4096 {
        anyhow::bail!("--batch-rows must be at least 1 and --batch-bytes at least 4096");
    }
    let mut cfg = ship::ShipConfig::new(c, log_file.clone(), a.state_dir.clone());
    cfg.batch_rows = a.batch_rows;
    cfg.batch_bytes = a.batch_bytes;
    cfg.flush_interval = Duration::from_millis(a.flush_ms);
    cfg.backoff_max = Duration::from_secs(a.backoff_max.max(1));
    cfg.status_file = Some(a.status_file.clone());
    cfg.daemon_status = Some(a.daemon_status.clone());
    cfg.metrics_textfile = a.metrics_textfile.clone();
    cfg.metrics_listen = a.metrics_listen;
    cfg.once = a.once;
    ship::install_signal_handlers();
    let mut s = ship::Shipper::new(cfg).context("tracer ship")?;
    log::info!("ship: {} -> {}", log_file.display(), s.status().server);
    s.run().context("tracer ship")?;
    let st = s.status();
    log::info!(
        "ship: stopped; {} record(s) shipped, {} set aside",
        st.shipped,
        st.rejected
    );
    Ok(())
}
