//! Syslog output: each record as one RFC 5424 (or RFC 3164) message whose MSG
//! is the JSON record, to the local socket (`/dev/log`), another unix datagram
//! socket, or a remote collector over UDP or TCP (octet-counting framing,
//! RFC 6587 section 3.4.1).
//!
//! Messages are formatted into one buffer per batch on the main thread and
//! handed to a sender thread over a bounded queue, so that a slow or absent
//! collector never stalls capture: when the queue is full or the collector is
//! unreachable the batch is dropped and counted (a `loss` record with cause
//! `syslog` in the other sinks).

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::config::{value::DEV_LOG, SyslogConfig, SyslogFormat, SyslogTarget};
use crate::event::{Body, Event, Kind};

/// Private enterprise number used in structured-data ids: 32473 is the one
/// IANA reserves for documentation (RFC 5612); sites may map it as they like.
pub const SD_ID: &str = "tracer@32473";
const QUEUE: usize = 64;

/// Messages of one batch: concatenated, with their end offsets.
#[derive(Default)]
struct Batch {
    data: Vec<u8>,
    ends: Vec<usize>,
}

pub struct Syslog {
    cfg: SyslogConfig,
    pid: u32,
    batch: Batch,
    tx: Option<SyncSender<Batch>>,
    thread: Option<JoinHandle<()>>,
    dropped: Arc<AtomicU64>,
    /// Records not delivered, over the whole run.
    pub lost: u64,
}

impl Syslog {
    pub fn start(cfg: &SyslogConfig) -> Syslog {
        let (tx, rx) = sync_channel(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let (target, d) = (cfg.target.clone(), dropped.clone());
        let thread = std::thread::Builder::new()
            .name("tracer-syslog".into())
            .spawn(move || sender(target, rx, d))
            .expect("spawning the syslog sender thread");
        Syslog {
            cfg: cfg.clone(),
            pid: std::process::id(),
            batch: Batch::default(),
            tx: Some(tx),
            thread: Some(thread),
            dropped,
            lost: 0,
        }
    }

    pub fn config(&self) -> &SyslogConfig {
        &self.cfg
    }

    /// Formats one record; `json` is its JSON line without the newline.
    pub fn push(&mut self, e: &Event, json: &[u8]) {
        let tcp = matches!(self.cfg.target, SyslogTarget::Tcp(_));
        let start = self.batch.data.len();
        let mut shortened;
        let mut json = json;
        let budget = self.cfg.max_message.0 as usize;
        if json.len() + 256 > budget {
            shortened = shorten(e, budget.saturating_sub(256));
            json = shortened.as_slice();
            if json.len() + 256 > budget {
                shortened.truncate(0);
                json = b"{}";
            }
        }
        let d = &mut self.batch.data;
        let hdr_at = d.len();
        format_header(d, &self.cfg, self.pid, e);
        if tcp {
            // Octet counting: `LEN SP MSG`; the header went in first, so move
            // the length in front of it.
            let len = d.len() - hdr_at + json.len();
            let mut num = [0u8; 24];
            let mut c = io::Cursor::new(&mut num[..]);
            let _ = write!(c, "{len} ");
            let n = c.position() as usize;
            d.splice(hdr_at..hdr_at, num[..n].iter().copied());
        }
        d.extend_from_slice(json);
        if !tcp {
            self.batch.ends.push(d.len());
        }
        debug_assert!(d.len() > start);
    }

    /// Hands the batch to the sender thread.
    pub fn flush(&mut self) {
        let b = std::mem::take(&mut self.batch);
        if b.data.is_empty() {
            return;
        }
        let n = count(&b);
        if let Some(tx) = &self.tx {
            match tx.try_send(b) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(n, Ordering::Relaxed);
                }
            }
        }
    }

    /// Records dropped since the last call.
    pub fn take_dropped(&mut self) -> u64 {
        let n = self.dropped.swap(0, Ordering::Relaxed);
        self.lost += n;
        n
    }

    /// Sends what is queued and stops the sender thread (bounded wait).
    pub fn close(&mut self) {
        self.flush();
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Syslog {
    fn drop(&mut self) {
        self.close();
    }
}

fn count(b: &Batch) -> u64 {
    if b.ends.is_empty() {
        // TCP: count the frames.
        let mut n = 0;
        let mut i = 0;
        while i < b.data.len() {
            let sp = b.data[i..].iter().position(|&c| c == b' ').unwrap_or(0);
            let len: usize = std::str::from_utf8(&b.data[i..i + sp])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(b.data.len());
            i += sp + 1 + len;
            n += 1;
        }
        n
    } else {
        b.ends.len() as u64
    }
}

fn severity(e: &Event) -> u8 {
    match e.kind() {
        Kind::Loss | Kind::Discrepancy => 4,
        Kind::Tracer => 5,
        _ => 6,
    }
}

/// `<PRI>1 TIMESTAMP HOST APP PID MSGID SD ` (RFC 5424) or
/// `<PRI>Mmm dd hh:mm:ss HOST APP[PID]: ` (RFC 3164).
fn format_header(d: &mut Vec<u8>, cfg: &SyslogConfig, pid: u32, e: &Event) {
    let pri = cfg.facility.0 as u32 * 8 + severity(e) as u32;
    let t = e.time.to_datetime();
    let host = if e.host.is_empty() {
        "-"
    } else {
        e.host.as_str()
    };
    let _ = match cfg.format {
        SyslogFormat::Rfc5424 => write!(
            d,
            "<{pri}>1 {} {host} {} {pid} {} ",
            t.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            cfg.app_name,
            e.kind().as_str()
        ),
        SyslogFormat::Rfc3164 => write!(
            d,
            "<{pri}>{} {host} {}[{pid}]: ",
            t.format("%b %e %H:%M:%S"),
            cfg.app_name
        ),
    };
    if cfg.format == SyslogFormat::Rfc5424 {
        if cfg.structured_data {
            let _ = write!(d, "[{SD_ID} type=\"{}\"", e.kind().as_str());
            for (k, v) in [
                ("pid", e.task.pid),
                ("uid", e.task.uid),
                ("auid", e.task.auid),
                ("ses", e.task.ses),
            ] {
                if let Some(v) = v {
                    let _ = write!(d, " {k}=\"{v}\"");
                }
            }
            d.extend_from_slice(b"] ");
        } else {
            d.extend_from_slice(b"- ");
        }
    }
}

/// The record with its argv cut until its JSON fits in `budget` bytes.
fn shorten(e: &Event, budget: usize) -> Vec<u8> {
    let mut e = e.clone();
    if let Some(x) = e.exec_mut() {
        x.truncated = true;
    }
    loop {
        let j = serde_json::to_vec(&e).unwrap_or_default();
        if j.len() <= budget {
            return j;
        }
        let argv = e.exec_mut().and_then(|x| x.argv.as_mut());
        match argv {
            Some(a) if a.len() > 1 => {
                a.truncate(a.len() / 2);
            }
            Some(a) if !a.is_empty() => a.clear(),
            _ => {
                if let Some(x) = e.exec_mut() {
                    x.argv = None;
                    x.cwd = None;
                }
                if let Body::Tracer(t) = &mut e.body {
                    t.fields.clear();
                }
                return serde_json::to_vec(&e).unwrap_or_default();
            }
        }
    }
}

enum Conn {
    Unix(UnixDatagram, String),
    Udp(UdpSocket),
    Tcp(TcpStream),
}

fn connect(t: &SyslogTarget) -> io::Result<Conn> {
    let timeout = Some(Duration::from_secs(5));
    match t {
        SyslogTarget::Local | SyslogTarget::Unix(_) => {
            let path = match t {
                SyslogTarget::Unix(p) => p.clone(),
                _ => DEV_LOG.to_string(),
            };
            let s = UnixDatagram::unbound()?;
            s.set_write_timeout(timeout)?;
            Ok(Conn::Unix(s, path))
        }
        SyslogTarget::Udp(a) => {
            let addr = a
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::other(format!("{a}: no address")))?;
            let bind = if addr.is_ipv6() {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = UdpSocket::bind(bind)?;
            s.connect(addr)?;
            Ok(Conn::Udp(s))
        }
        SyslogTarget::Tcp(a) => {
            let addr = a
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::other(format!("{a}: no address")))?;
            let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            s.set_write_timeout(timeout)?;
            s.set_nodelay(true)?;
            Ok(Conn::Tcp(s))
        }
    }
}

fn send(c: &mut Conn, b: &Batch) -> io::Result<()> {
    let mut start = 0;
    match c {
        Conn::Tcp(s) => return s.write_all(&b.data),
        Conn::Unix(s, path) => {
            for &end in &b.ends {
                s.send_to(&b.data[start..end], &*path)?;
                start = end;
            }
        }
        Conn::Udp(s) => {
            for &end in &b.ends {
                s.send(&b.data[start..end])?;
                start = end;
            }
        }
    }
    Ok(())
}

/// The sender thread: connects lazily, reconnects after an error (at most
/// once a second), drops and counts what cannot be sent.
fn sender(target: SyslogTarget, rx: Receiver<Batch>, dropped: Arc<AtomicU64>) {
    // Sockets need no capability: this thread gives up all of its own (it may
    // start before the main thread drops its own).
    if let Err(e) = crate::caps::keep_only(&[]) {
        log::debug!("syslog sender: dropping capabilities: {e}");
    }
    let mut conn: Option<Conn> = None;
    let mut last_attempt: Option<Instant> = None;
    let mut reported = false;
    while let Ok(b) = rx.recv() {
        if conn.is_none() && last_attempt.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            last_attempt = Some(Instant::now());
            match connect(&target) {
                Ok(c) => {
                    conn = Some(c);
                    reported = false;
                }
                Err(e) if !reported => {
                    log::warn!("syslog {target}: {e}");
                    reported = true;
                }
                Err(_) => {}
            }
        }
        let sent = match conn.as_mut() {
            Some(c) => match send(c, &b) {
                Ok(()) => true,
                Err(e) => {
                    if !reported {
                        log::warn!("syslog {target}: {e}");
                        reported = true;
                    }
                    conn = None;
                    false
                }
            },
            None => false,
        };
        if !sent {
            dropped.fetch_add(count(&b), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[path = "syslog_tests.rs"]
mod tests;
