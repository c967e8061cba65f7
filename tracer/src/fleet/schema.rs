//! The ClickHouse schema, in the repo and nowhere else: created, or upgraded
//! by adding what is missing, by `tracer fleet init` ([`init`]), which can be
//! run again at any time.
//!
//! Only SQL that ClickHouse 18.16 (Debian 12) and current releases both
//! accept: no `DateTime64` (nanoseconds are a `UInt64` beside a `DateTime`),
//! no table `TTL` (retention drops whole daily partitions, [`prune`]), no
//! column codecs, no `LowCardinality`.
//!
//! - `events` holds every record the log holds, of any type, with the line as
//!   written (`raw`) beside its columns: the report reads `raw` back, so it
//!   sees exactly what a file report sees, whatever fields a newer tracer
//!   adds.
//! - `execs`, `sessions`, `logins`, `failed_logins`, `losses`,
//!   `tracer_status` are filled from `events` by materialized views, each
//!   with the same columns and a sort order for its questions: execs and
//!   sessions by login user then time ("what did alice do last week"), events
//!   by host ("what happened on node17").
//! - Every table is a `ReplacingMergeTree` partitioned by day whose sort key
//!   ends with the dedup key (host, boot, seq, line_hash): a batch sent twice
//!   (the shipper died between the server's ack and its checkpoint) collapses
//!   when parts merge, and readers drop the adjacent duplicates before that.
//!   `line_hash` (FNV-1a of the line) keeps two different records apart if a
//!   chain was ever restarted (a new key, an unchained log with no `seq`).
//! - With `--cluster NAME`, each table also gets `<table>_all`, a
//!   `Distributed` table over the shards of that cluster (sharded by host),
//!   which the report reads when it exists.

use super::client::{quote, ChError, Client};

/// The columns of every table, in order.
pub const COLUMNS: &[(&str, &str)] = &[
    ("date", "Date"),
    ("time", "DateTime"),
    ("time_ns", "UInt64"),
    ("host", "String"),
    ("boot", "String"),
    ("seq", "UInt64"),
    ("line_hash", "UInt64"),
    ("type", "String"),
    ("source", "String"),
    ("pid", "UInt32"),
    ("ppid", "UInt32"),
    ("uid", "UInt32"),
    ("euid", "UInt32"),
    ("auid", "UInt32"),
    ("ses", "UInt32"),
    ("tty", "String"),
    ("comm", "String"),
    ("exe", "String"),
    ("argv", "Array(String)"),
    ("cwd", "String"),
    ("ret", "Int64"),
    ("cgroup", "String"),
    ("job", "String"),
    ("job_step", "String"),
    ("job_uid", "UInt32"),
    ("via", "String"),
    ("count", "UInt64"),
    ("cause", "String"),
    ("addr", "String"),
    ("port", "UInt16"),
    ("record_type", "String"),
    ("result", "String"),
    ("acct", "String"),
    ("raw", "String"),
];

/// The table the shipper inserts into.
pub const EVENTS: &str = "events";

/// A table filled from `events` by a materialized view.
pub struct Derived {
    pub name: &'static str,
    /// Which records (a WHERE clause over `events`).
    pub filter: &'static str,
    /// The sort key's leading columns, before the dedup key.
    pub order: &'static str,
}

/// The record types the report reads as commands.
pub const EXEC_TYPES: &str = "('exec', 'exec_failed', 'process')";

pub const DERIVED: &[Derived] = &[
    Derived {
        name: "execs",
        filter: "type IN ('exec', 'exec_failed', 'process')",
        order: "auid, time",
    },
    Derived {
        name: "sessions",
        filter: "type IN ('session_start', 'session_end')",
        order: "auid, host, ses, time",
    },
    Derived {
        name: "logins",
        filter: "type = 'login'",
        order: "auid, host, time",
    },
    Derived {
        name: "failed_logins",
        filter: "type = 'login' AND result NOT IN ('', 'success')",
        order: "acct, time",
    },
    Derived {
        name: "losses",
        filter: "type = 'loss'",
        order: "host, time",
    },
    Derived {
        name: "tracer_status",
        filter: "type = 'tracer'",
        order: "host, time",
    },
];

const DEDUP_KEY: &str = "host, boot, seq, line_hash";

fn engine(order: &str) -> String {
    // The dedup key's columns, less those the order already leads with
    // (ClickHouse refuses a key that names a column twice).
    let lead: Vec<&str> = order.split(", ").filter(|c| !c.is_empty()).collect();
    let key = lead
        .iter()
        .copied()
        .chain(DEDUP_KEY.split(", ").filter(|c| !lead.contains(c)))
        .collect::<Vec<_>>()
        .join(", ");
    format!("ENGINE = ReplacingMergeTree() PARTITION BY date ORDER BY ({key})")
}

/// The statements that create what is missing, in order (for `--print`).
pub fn create_statements(db: &str, cluster: Option<&str>) -> Vec<String> {
    let cols = COLUMNS
        .iter()
        .map(|(n, t)| format!("    {n} {t}"))
        .collect::<Vec<_>>()
        .join(",\n");
    let mut v = vec![format!("CREATE DATABASE IF NOT EXISTS {db}")];
    v.push(format!(
        "CREATE TABLE IF NOT EXISTS {db}.{EVENTS} (\n{cols}\n) {}",
        engine("")
    ));
    for d in DERIVED {
        v.push(format!(
            "CREATE TABLE IF NOT EXISTS {db}.{} AS {db}.{EVENTS} {}",
            d.name,
            engine(d.order)
        ));
        v.push(view_statement(db, d));
    }
    if let Some(c) = cluster {
        for t in std::iter::once(EVENTS).chain(DERIVED.iter().map(|d| d.name)) {
            v.push(format!(
                "CREATE TABLE IF NOT EXISTS {db}.{t}_all AS {db}.{t} \
                 ENGINE = Distributed({c}, {db}, {t}, cityHash64(host))"
            ));
        }
    }
    v
}

fn view_statement(db: &str, d: &Derived) -> String {
    format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{n}_mv TO {db}.{n} AS SELECT * FROM {db}.{EVENTS} WHERE {f}",
        n = d.name,
        f = d.filter
    )
}

/// What [`init`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InitReport {
    pub statements: usize,
    /// `table.column` added to an existing table.
    pub added_columns: Vec<String>,
}

/// Creates the database and tables, and adds columns that an older schema
/// lacks (then re-creates the views so they carry the new columns).
pub fn init(client: &Client, cluster: Option<&str>) -> Result<InitReport, ChError> {
    let db = client.endpoint.database.clone();
    let mut report = InitReport::default();
    if let Some(c) = cluster {
        if !c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ChError::Server {
                server: client.endpoint.display(),
                status: 0,
                code: 0,
                message: format!("bad cluster name {c:?}"),
            });
        }
    }
    // The CREATE DATABASE must not name the database in the request's
    // default database, which may not exist yet: statements are fully
    // qualified and the request carries none.
    let statements = create_statements(&db, cluster);
    // Upgrade before creating views: add missing columns to old tables.
    client.exec(&statements[0])?;
    report.statements += 1;
    let mut tables: Vec<String> = vec![EVENTS.into()];
    tables.extend(DERIVED.iter().map(|d| d.name.to_string()));
    if cluster.is_some() {
        let locals = tables.clone();
        tables.extend(locals.iter().map(|t| format!("{t}_all")));
    }
    for t in &tables {
        let have = client.exec(&format!(
            "SELECT name FROM system.columns WHERE database = {} AND table = {} FORMAT TSV",
            quote(&db),
            quote(t)
        ))?;
        let have: Vec<&str> = have.lines().collect();
        if have.is_empty() {
            continue;
        }
        let mut prev = None::<&str>;
        for (name, ty) in COLUMNS {
            if !have.contains(name) {
                let after = prev.map(|p| format!(" AFTER {p}")).unwrap_or_default();
                client.exec(&format!(
                    "ALTER TABLE {db}.{t} ADD COLUMN {name} {ty}{after}"
                ))?;
                report.added_columns.push(format!("{t}.{name}"));
            }
            prev = Some(name);
        }
    }
    if !report.added_columns.is_empty() {
        for d in DERIVED {
            client.exec(&format!("DROP TABLE IF EXISTS {db}.{}_mv", d.name))?;
        }
    }
    for s in &statements[1..] {
        client.exec(s)?;
        report.statements += 1;
    }
    Ok(report)
}

/// Whether the Distributed tables exist (the report then reads them).
pub fn has_distributed(client: &Client) -> Result<bool, ChError> {
    let n = client.exec(&format!(
        "SELECT count() FROM system.tables WHERE database = {} AND name = 'execs_all' FORMAT TSV",
        quote(&client.endpoint.database)
    ))?;
    Ok(n.trim() != "0")
}

/// Drops the daily partitions of every local table older than `keep_days`
/// days before today (UTC); returns the partitions dropped.
pub fn prune(client: &Client, keep_days: u32) -> Result<Vec<String>, ChError> {
    let db = client.endpoint.database.clone();
    let mut tables: Vec<&str> = vec![EVENTS];
    tables.extend(DERIVED.iter().map(|d| d.name));
    let list = tables
        .iter()
        .map(|t| quote(t))
        .collect::<Vec<_>>()
        .join(", ");
    let parts = client.exec(&format!(
        "SELECT DISTINCT table, partition FROM system.parts WHERE active AND database = {} \
         AND table IN ({list}) AND toDate(partition) < today() - {keep_days} \
         ORDER BY table, partition FORMAT TSV",
        quote(&db)
    ))?;
    let mut dropped = Vec::new();
    for line in parts.lines() {
        let Some((table, partition)) = line.split_once('\t') else {
            continue;
        };
        client.exec(&format!(
            "ALTER TABLE {db}.{table} DROP PARTITION {}",
            quote(partition.trim_matches('\''))
        ))?;
        dropped.push(format!("{table} {partition}"));
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_idempotent_and_qualified() {
        let s = create_statements("fleet", Some("two"));
        assert!(s.iter().all(|s| s.contains("IF NOT EXISTS")));
        assert!(s[1].contains("ORDER BY (host, boot, seq, line_hash)"));
        let losses = s.iter().find(|s| s.contains("fleet.losses AS")).unwrap();
        assert!(
            losses.contains("ORDER BY (host, time, boot, seq, line_hash)"),
            "{losses}"
        );
        assert!(s[1].contains("PARTITION BY date"));
        assert!(s.iter().any(|s| s.contains("fleet.execs_all")
            && s.contains("Distributed(two, fleet, execs, cityHash64(host))")));
        // Nothing 18.16 lacks.
        for st in &s {
            for bad in ["DateTime64", "TTL", "CODEC", "LowCardinality"] {
                assert!(!st.contains(bad), "{st}");
            }
        }
    }
}
