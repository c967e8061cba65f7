//! `tracer report --from clickhouse://HOST:PORT/DB`: the report over the
//! fleet's records.
//!
//! The report reads back the stored log lines (`raw`) in the order the node
//! wrote them (host, then `seq`) and feeds them to the same builder and
//! renderers as a file report, through the [`RecordSource`] seam: for the
//! same records the output is the same. Filters are pushed into SQL where
//! that can only drop records the builder would drop itself:
//!
//! - commands (`execs`: exec, exec_failed, process) by user (a batch job's
//!   processes, which have no login uid, by the job's owner), session,
//!   host, time range, `--failed` and `--job`; `--command` stays in Rust, on
//!   what SQL returned;
//! - login records (`sessions`, `logins`) by user, session and host only: a
//!   session that began before `--since` still needs its start; records with
//!   no login uid or session are never fetched (the model ignores them);
//! - failed logins (`failed_logins`), by host only: they have no login uid;
//! - tracer records that carry a boot id (a run's `start`, a file's head),
//!   so that sessions are told apart by boot as in a file report;
//! - other record types are not fetched at all: the report only counts
//!   them, and the counts come from one aggregate over `events` in the
//!   time range (deduplicated), which also gives "N of M commands".
//!
//! The one difference from a file report: the input is a time range of a
//! database, not a set of files, so the totals ("of M commands", lost
//! events) are those of the time range asked for (all time without
//! `--since`/`--until`), and the input is listed as the server URL.

use std::io::{self, BufRead, Write};

use super::client::{quote, ChError, Client};
use super::http::Body;
use super::schema::{self, EXEC_TYPES};
use crate::event::{Kind, Timestamp, UNSET};
use crate::report::filter::Filter;
use crate::report::model::{Counts, GroupBy};
use crate::report::record::Record;
use crate::report::source::{BadLine, RecordSource};
use crate::report::stats::{InputStats, Stats};
use crate::report::{Config, ReportError};

#[derive(Debug, thiserror::Error)]
pub enum FleetReportError {
    #[error(transparent)]
    Server(#[from] ChError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error("{server}: unexpected answer to the totals query: {line:?}")]
    Totals { server: String, line: String },
}

impl FleetReportError {
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, FleetReportError::Report(e) if e.is_broken_pipe())
    }
}

fn time_conds(f: &Filter) -> Vec<String> {
    let date = |t: Timestamp| quote(&t.to_datetime().format("%Y-%m-%d").to_string());
    let mut c = Vec::new();
    if let Some(s) = f.since {
        let s = Timestamp(s.0.max(0));
        c.push(format!("date >= {}", date(s)));
        c.push(format!("time >= {}", s.secs()));
        c.push(format!("time_ns >= {}", s.0));
    }
    if let Some(u) = f.until {
        let u = Timestamp(u.0.max(0));
        c.push(format!("date <= {}", date(u)));
        c.push(format!("time <= {}", u.secs()));
        c.push(format!("time_ns < {}", u.0));
    }
    c
}

/// The session and host conditions of `f`, after `user` (the condition
/// that stands for `--user` in the table at hand).
fn login_conds(f: &Filter, user: Option<String>) -> Vec<String> {
    let mut c: Vec<String> = user.into_iter().collect();
    if let Some(s) = f.session {
        c.push(format!("ses = {s}"));
    }
    if let Some(h) = &f.host {
        c.push(format!("host = {}", quote(h)));
    }
    c
}

fn and(c: &[String]) -> String {
    if c.is_empty() {
        "1".into()
    } else {
        c.join(" AND ")
    }
}

/// `--user UID` on commands: the user's own (login uid), and the processes
/// of batch jobs, which have none: those of a job whose cgroup names the
/// user (`job_uid`), of a job in which a process ran as the user (the owner
/// of a job whose layout names none, found by a subquery over every shard:
/// a job spans nodes), and old records with the job only in the cgroup
/// path. The builder then keeps the jobs the user owns, as for files.
fn exec_user_cond(db: &str, suffix: &str, u: u32) -> String {
    format!(
        "(auid = {u} OR auid = {UNSET} AND (job_uid = {u} \
         OR job_uid = {UNSET} AND job != '' AND job GLOBAL IN \
         (SELECT job FROM {db}.execs{suffix} WHERE auid = {UNSET} AND job_uid = {UNSET} AND job != '' AND uid = {u}) \
         OR job = '' AND cgroup LIKE {}))",
        quote("%/job\\_%")
    )
}

/// The query that returns the records the report needs, in node order.
pub fn records_sql(db: &str, suffix: &str, f: &Filter, by: GroupBy) -> String {
    let mut exec = login_conds(f, f.user.map(|u| exec_user_cond(db, suffix, u)));
    exec.extend(time_conds(f));
    if f.failed {
        exec.push("(type = 'exec_failed' OR ret < 0)".into());
    }
    if let Some(j) = &f.job {
        // Records of tracer before 0.3 have the job only in the cgroup path.
        exec.push(format!(
            "(job = {0} OR cgroup LIKE {1})",
            quote(j),
            quote(&format!("%/job\\_{j}/%"))
        ));
    }
    exec.push(format!("type IN {EXEC_TYPES}"));
    let mut login = login_conds(f, f.user.map(|u| format!("auid = {u}")));
    login.push(format!("auid != {UNSET} AND ses != {UNSET}"));
    let cols = "host, seq, time_ns, line_hash, raw";
    let mut parts = vec![format!(
        "SELECT {cols} FROM {db}.execs{suffix} WHERE {}",
        and(&exec)
    )];
    if by == GroupBy::Session {
        for t in ["sessions", "logins"] {
            parts.push(format!(
                "SELECT {cols} FROM {db}.{t}{suffix} WHERE {}",
                and(&login)
            ));
        }
        let host: Vec<String> = f
            .host
            .iter()
            .map(|h| format!("host = {}", quote(h)))
            .collect();
        // Failed logins have no login uid yet; the report names them by
        // `acct`. (A record also in `logins` comes twice and is dropped as
        // an adjacent duplicate.)
        parts.push(format!(
            "SELECT {cols} FROM {db}.failed_logins{suffix} WHERE {}",
            and(&host)
        ));
        // The records that name the boot (a run's start, a file's head):
        // the report ties every later record of the host to that boot.
        let mut boot = host;
        boot.push("boot != ''".to_string());
        parts.push(format!(
            "SELECT {cols} FROM {db}.tracer_status{suffix} WHERE {}",
            and(&boot)
        ));
    }
    format!(
        "SELECT raw FROM ({}) ORDER BY host, seq, time_ns, line_hash FORMAT TSVRaw",
        parts.join(" UNION ALL ")
    )
}

/// The whole-range counters (see the module docs).
pub fn totals_sql(db: &str, suffix: &str, f: &Filter) -> String {
    format!(
        "SELECT type, count(), countIf(type IN {EXEC_TYPES} AND (type = 'exec_failed' OR ret < 0)), sum(count) \
         FROM (SELECT DISTINCT host, boot, seq, line_hash, type, ret, count FROM {db}.events{suffix} WHERE {}) \
         GROUP BY type ORDER BY type FORMAT TSV",
        and(&time_conds(f))
    )
}

fn parse_totals(server: &str, text: &str) -> Result<Counts, FleetReportError> {
    let mut c = Counts::default();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let bad = || FleetReportError::Totals {
            server: server.to_owned(),
            line: line.to_owned(),
        };
        let f: Vec<&str> = line.split('\t').collect();
        let [ty, n, failed, count] = f[..] else {
            return Err(bad());
        };
        let num = |s: &str| s.parse::<u64>().map_err(|_| bad());
        let (n, failed, count) = (num(n)?, num(failed)?, num(count)?);
        let kind: Kind = serde_json::from_value(serde_json::Value::String(ty.to_owned()))
            .unwrap_or(Kind::Unknown);
        c.events += n;
        match kind {
            Kind::Exec | Kind::ExecFailed | Kind::Process => {
                c.execs += n;
                c.failed_execs += failed;
            }
            Kind::Loss => {
                c.loss_records += n;
                c.lost_events += count;
            }
            Kind::Discrepancy => c.discrepancies += n,
            Kind::Unknown => c.unknown_records += n,
            _ => {}
        }
    }
    Ok(c)
}

/// Records streamed from a query, duplicates (a batch shipped twice, not yet
/// merged away) dropped: they are adjacent in the sort order.
pub struct Lines<R> {
    reader: R,
    buf: Vec<u8>,
    prev: Vec<u8>,
    n: u64,
    pub duplicates: u64,
    error: Option<io::Error>,
}

impl<R: BufRead> Lines<R> {
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            buf: Vec::new(),
            prev: Vec::new(),
            n: 0,
            duplicates: 0,
            error: None,
        }
    }
}

impl<R: BufRead> RecordSource for Lines<R> {
    fn for_each_record(&mut self, f: &mut dyn FnMut(Result<Record<'_>, BadLine>)) {
        loop {
            self.buf.clear();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Ok(0) => return,
                Ok(_) => {}
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
            if self.buf.last() == Some(&b'\n') {
                self.buf.pop();
            }
            if self.buf == self.prev {
                self.duplicates += 1;
                continue;
            }
            if self.buf.starts_with(b"Code: ") {
                // The server failed midway and said so in the body.
                let msg = String::from_utf8_lossy(&self.buf).into_owned();
                self.error = Some(io::Error::other(format!("ClickHouse: {msg}")));
                return;
            }
            self.n += 1;
            match Record::from_json(&self.buf) {
                Ok(r) => f(Ok(r)),
                Err(e) => f(Err(BadLine {
                    line: self.n,
                    reason: format!("stored record is not a tracer record: {e}"),
                })),
            }
            std::mem::swap(&mut self.buf, &mut self.prev);
        }
    }
    fn incomplete(&self) -> u64 {
        0
    }
    fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

/// Which tables the report reads: the `_all` Distributed ones when they exist.
pub fn table_suffix(client: &Client) -> Result<&'static str, ChError> {
    Ok(if schema::has_distributed(client)? {
        "_all"
    } else {
        ""
    })
}

/// Runs the report of `config` (its inputs ignored) against `client`.
pub fn run_report(
    config: &Config,
    client: &Client,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<Stats, FleetReportError> {
    let db = &client.endpoint.database;
    let suffix = table_suffix(client)?;
    let server = client.endpoint.display();
    let totals = parse_totals(
        &server,
        &client.exec(&totals_sql(db, suffix, &config.filter))?,
    )?;
    let body: Body = client.query(&records_sql(db, suffix, &config.filter, config.by))?;
    let mut src = Lines::new(io::BufReader::with_capacity(1 << 18, body));
    let inputs = vec![InputStats {
        name: server,
        format: "clickhouse".into(),
        gzip: false,
        lines: totals.events,
    }];
    let stats = crate::report::run_source(config, &mut src, inputs, Some(totals), out, warn)?;
    if src.duplicates > 0 {
        log::debug!(
            "fleet report: {} duplicate record(s) skipped",
            src.duplicates
        );
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_pushed_into_sql() {
        let f = Filter {
            user: Some(1000),
            host: Some("n'1".into()),
            since: Some(Timestamp::from_secs_nanos(1714521600, 5)),
            failed: true,
            ..Filter::default()
        };
        let q = records_sql("fleet", "_all", &f, GroupBy::Session);
        assert!(q.contains(
            "FROM fleet.execs_all WHERE (auid = 1000 OR auid = 4294967295 AND (job_uid = 1000 "
        ));
        assert!(q.contains("job GLOBAL IN (SELECT job FROM fleet.execs_all WHERE auid = 4294967295 AND job_uid = 4294967295 AND job != '' AND uid = 1000)"));
        assert!(q.contains(r"OR job = '' AND cgroup LIKE '%/job\\_%')) AND host = 'n\'1' AND date >= '2024-05-01' AND time >= 1714521600 AND time_ns >= 1714521600000000005"));
        assert!(q.contains("(type = 'exec_failed' OR ret < 0)"));
        assert!(q.contains(
            "FROM fleet.sessions_all WHERE auid = 1000 AND host = 'n\\'1' AND auid != 4294967295"
        ));
        assert!(!q.contains("sessions_all WHERE auid = 1000 AND host = 'n\\'1' AND date"));
        assert!(q.ends_with("ORDER BY host, seq, time_ns, line_hash FORMAT TSVRaw"));
        let q = records_sql("fleet", "", &Filter::default(), GroupBy::Job);
        assert!(!q.contains("sessions"));
        let job = Filter {
            job: Some("7781".into()),
            ..Filter::default()
        };
        let q = records_sql("fleet", "", &job, GroupBy::Job);
        assert!(q.contains(r"WHERE (job = '7781' OR cgroup LIKE '%/job\\_7781/%') AND type IN"));
    }

    #[test]
    fn totals_map_record_types() {
        let t = "exec\t10\t2\t0\nexec_failed\t3\t3\t0\nloss\t2\t0\t7\nfuture\t1\t0\t0\ntracer\t4\t0\t0\n";
        let c = parse_totals("s", t).unwrap();
        assert_eq!((c.events, c.execs, c.failed_execs), (20, 13, 5));
        assert_eq!(
            (c.loss_records, c.lost_events, c.unknown_records),
            (2, 7, 1)
        );
        assert!(parse_totals("s", "exec\tx\n").is_err());
    }

    #[test]
    fn adjacent_duplicates_are_dropped() {
        let rec = r#"{"type":"exec","time":"2024-05-01T09:00:00Z","host":"h","source":"ebpf","pid":1,"argv":["ls"],"seq":1}"#;
        let rec2 = rec.replace("\"seq\":1", "\"seq\":2");
        let input = format!(
            "{rec}\n{rec}\n{rec2}\nCode: 241, e.displayText() = DB::Exception: Memory limit\n"
        );
        let mut src = Lines::new(input.as_bytes());
        let mut n = 0;
        src.for_each_record(&mut |r| {
            r.unwrap();
            n += 1;
        });
        assert_eq!((n, src.duplicates), (2, 1));
        assert!(src
            .take_error()
            .unwrap()
            .to_string()
            .contains("Memory limit"));
    }
}
