//! Prometheus text exposition (format 0.0.4) of the daemon's and the
//! shipper's counters: a file for node_exporter's textfile collector (the
//! usual way on clusters: no new port on every node), and, opt-in, a tiny
//! HTTP endpoint on a loopback address.
//!
//! The daemon's numbers come from its state file (`crate::status`), so the
//! metrics need no hook in the capture path.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::ship::ShipStatus;
use crate::status::Status;

fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, f64)]) {
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
    for (labels, v) in samples {
        out.push_str(&format!("{name}{labels} {v}\n"));
    }
}

fn label_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The exposition text.
pub fn render(daemon: Option<&Status>, ship: Option<&ShipStatus>) -> String {
    let mut out = String::new();
    if let Some(d) = daemon {
        let up = f64::from(u8::from(d.running && crate::status::pid_alive(d.pid)));
        metric(
            &mut out,
            "tracer_up",
            "gauge",
            "Whether the tracer daemon runs.",
            &[(String::new(), up)],
        );
        metric(
            &mut out,
            "tracer_events_total",
            "counter",
            "Records written by the daemon.",
            &[(String::new(), d.events_total as f64)],
        );
        metric(
            &mut out,
            "tracer_execs_total",
            "counter",
            "Execs recorded by the daemon.",
            &[(String::new(), d.execs_total as f64)],
        );
        metric(
            &mut out,
            "tracer_events_per_second",
            "gauge",
            "Records written per second, recently.",
            &[(String::new(), d.events_per_sec)],
        );
        let losses: Vec<(String, f64)> = d
            .losses
            .iter()
            .map(|(cause, n)| (format!("{{cause=\"{}\"}}", label_value(cause)), *n as f64))
            .collect();
        metric(
            &mut out,
            "tracer_lost_events_total",
            "counter",
            "Events lost, by cause (ring buffer overflow, audit backlog, disk full...).",
            &losses,
        );
    }
    if let Some(s) = ship {
        let server = format!("{{server=\"{}\"}}", label_value(&s.server));
        let one = |v: f64| vec![(server.clone(), v)];
        metric(
            &mut out,
            "tracer_ship_up",
            "gauge",
            "Whether the last exchange with ClickHouse succeeded.",
            &one(f64::from(u8::from(s.connected))),
        );
        metric(
            &mut out,
            "tracer_ship_records_total",
            "counter",
            "Records acknowledged by ClickHouse.",
            &one(s.shipped as f64),
        );
        metric(
            &mut out,
            "tracer_ship_rejected_total",
            "counter",
            "Records set aside (unreadable or refused by the server).",
            &one(s.rejected as f64),
        );
        metric(
            &mut out,
            "tracer_ship_retries_total",
            "counter",
            "Sends that failed and were retried.",
            &one(s.retries as f64),
        );
        metric(
            &mut out,
            "tracer_ship_seq_gaps_total",
            "counter",
            "Records gone from the log before they were shipped.",
            &one(s.seq_gaps as f64),
        );
        metric(
            &mut out,
            "tracer_ship_backlog_bytes",
            "gauge",
            "Bytes of log not yet acknowledged by ClickHouse.",
            &one(s.backlog_bytes as f64),
        );
        metric(
            &mut out,
            "tracer_ship_lag_seconds",
            "gauge",
            "Age of the last acknowledged record while records are pending; 0 when caught up.",
            &one(s.lag_seconds),
        );
    }
    out
}

/// Writes `text` to `path` atomically (node_exporter must never read half).
pub fn write_textfile(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// Serves `GET /metrics` with the latest text on `addr`, which must be a
/// loopback address (the metrics name users' activity rates).
pub fn serve(addr: SocketAddr, text: Arc<Mutex<String>>) -> std::io::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            "the metrics endpoint only listens on a loopback address (127.0.0.1, ::1)",
        ));
    }
    let l = TcpListener::bind(addr)?;
    let local = l.local_addr()?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for conn in l.incoming().flatten() {
                let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let mut r = BufReader::new(&conn);
                let mut first = String::new();
                if r.read_line(&mut first).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut h = String::new();
                while r.read_line(&mut h).is_ok_and(|n| n > 2) {
                    h.clear();
                }
                let ok = first.starts_with("GET /metrics ") || first.starts_with("GET / ");
                let body = if ok {
                    text.lock().map(|t| t.clone()).unwrap_or_default()
                } else {
                    "not found\n".into()
                };
                let head = format!(
                    "HTTP/1.1 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    if ok { "200 OK" } else { "404 Not Found" },
                    body.len()
                );
                let mut w = &conn;
                let _ = w.write_all(head.as_bytes()).and_then(|()| w.write_all(body.as_bytes()));
            }
        })?;
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_format() {
        let s = ShipStatus {
            server: "clickhouse://h:1/db".into(),
            shipped: 5,
            backlog_bytes: 100,
            lag_seconds: 2.5,
            connected: true,
            ..Default::default()
        };
        let t = render(None, Some(&s));
        assert!(t.contains("# TYPE tracer_ship_records_total counter\n"));
        assert!(t.contains("tracer_ship_records_total{server=\"clickhouse://h:1/db\"} 5\n"));
        assert!(t.contains("tracer_ship_lag_seconds{server=\"clickhouse://h:1/db\"} 2.5\n"));
        for line in t.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            v.parse::<f64>().unwrap();
        }
    }

    #[test]
    fn endpoint_serves_metrics_on_loopback_only() {
        let text = Arc::new(Mutex::new("x 1\n".to_string()));
        assert!(serve("0.0.0.0:0".parse().unwrap(), text.clone()).is_err());
        let addr = serve("127.0.0.1:0".parse().unwrap(), text).unwrap();
        let mut c = std::net::TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut c, &mut s).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK"), "{s}");
        assert!(s.ends_with("x 1\n"));
    }
}
