//! A small blocking HTTP/1.1 client for ClickHouse's HTTP interface: one
//! request per connection (`Connection: close`), Basic authentication,
//! timeouts on connect, read and write, and a response body that is read as a
//! stream (chunked or not), so a large query result is never held whole.
//!
//! Why hand-written: the shipper sends a handful of POSTs per second to one
//! server; a client crate (with hyper and tokio-rustls) would more than
//! double the build for that. HTTPS is the same exchange over a rustls
//! stream ([`super::tls`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::url::Endpoint;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The server could not be reached or the exchange broke off: worth a
    /// retry later.
    #[error("{addr}: {what}: {source}")]
    Io {
        addr: String,
        what: &'static str,
        source: io::Error,
    },
    #[error("{addr}: malformed HTTP response: {what}")]
    Protocol { addr: String, what: String },
    #[error("{addr}: {source}")]
    Tls {
        addr: String,
        source: super::tls::TlsError,
    },
}

/// The connection: plain TCP or TLS over it.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A response whose body has not been read yet.
pub struct Response {
    pub status: u16,
    pub body: Body,
}

impl Response {
    /// Reads the whole body (at most `limit` bytes; the rest is dropped).
    pub fn text(mut self, limit: usize) -> String {
        let mut v = Vec::new();
        let _ = (&mut self.body).take(limit as u64).read_to_end(&mut v);
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// Timeouts for one exchange.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub io: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            io: Duration::from_secs(60),
        }
    }
}

/// POSTs `body` to `path_query` (already URL-encoded) on `ep`.
pub fn post(
    ep: &Endpoint,
    path_query: &str,
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    let addr = format!("{}:{}", ep.host, ep.port);
    let io_err = |what: &'static str| {
        let addr = addr.clone();
        move |source| HttpError::Io { addr, what, source }
    };
    let sock = addr
        .to_socket_addrs()
        .map_err(io_err("resolving"))?
        .next()
        .ok_or_else(|| HttpError::Io {
            addr: addr.clone(),
            what: "resolving",
            source: io::Error::new(io::ErrorKind::NotFound, "no address"),
        })?;
    let stream = TcpStream::connect_timeout(&sock, t.connect).map_err(io_err("connecting"))?;
    stream
        .set_read_timeout(Some(t.io))
        .and_then(|()| stream.set_write_timeout(Some(t.io)))
        .map_err(io_err("setting timeouts"))?;
    let _ = stream.set_nodelay(true);
    let mut stream = if ep.secure {
        let tls = ep.tls.as_ref().ok_or_else(|| HttpError::Tls {
            addr: addr.clone(),
            source: super::tls::TlsError::Setup("no CA loaded for this https:// endpoint".into()),
        })?;
        let conn = tls.connect(&ep.host).map_err(|source| HttpError::Tls {
            addr: addr.clone(),
            source,
        })?;
        Conn::Tls(Box::new(rustls::StreamOwned::new(conn, stream)))
    } else {
        Conn::Plain(stream)
    };
    let mut head = format!(
        "POST {path_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(c) = &ep.credentials {
        head.push_str("Authorization: Basic ");
        head.push_str(&base64(format!("{}:{}", c.user, c.password).as_bytes()));
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    // One write for small requests: with TLS each write is a record.
    let sent = if body.len() <= 64 << 10 {
        let mut all = Vec::with_capacity(head.len() + body.len());
        all.extend_from_slice(head.as_bytes());
        all.extend_from_slice(body);
        stream.write_all(&all)
    } else {
        stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body))
    };
    sent.and_then(|()| stream.flush())
        .map_err(io_err("sending the request"))?;
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let mut line = String::new();
    r.read_line(&mut line)
        .map_err(io_err("reading the response"))?;
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| HttpError::Protocol {
            addr: addr.clone(),
            what: format!("status line {:?}", line.trim_end()),
        })?;
    let mut chunked = false;
    let mut length = None;
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .map_err(io_err("reading the response"))?;
        if n == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            let (k, v) = (k.trim(), v.trim());
            if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<u64>().ok();
            }
        }
    }
    let body = if chunked {
        Body::Chunked {
            r,
            left: 0,
            done: false,
        }
    } else {
        Body::Plain(r, length.unwrap_or(u64::MAX))
    };
    Ok(Response { status, body })
}

/// A response body: read it with [`Read`] or [`BufRead`].
pub enum Body {
    /// Until the length or end of stream.
    Plain(BufReader<Conn>, u64),
    Chunked {
        r: BufReader<Conn>,
        left: u64,
        done: bool,
    },
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = {
            let avail = self.fill_buf()?;
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Body {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Body::Plain(r, left) => {
                if *left == 0 {
                    return Ok(&[]);
                }
                let b = r.fill_buf()?;
                let n = (b.len() as u64).min(*left) as usize;
                Ok(&b[..n])
            }
            Body::Chunked { r, left, done } => {
                if *done {
                    return Ok(&[]);
                }
                if *left == 0 {
                    let mut line = String::new();
                    // The CRLF that ends the previous chunk, then the size.
                    loop {
                        line.clear();
                        if r.read_line(&mut line)? == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "response ends inside a chunk",
                            ));
                        }
                        if !line.trim().is_empty() {
                            break;
                        }
                    }
                    let size = line.trim().split(';').next().unwrap_or("");
                    let size = u64::from_str_radix(size, 16).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::InvalidData,
                            format!("bad chunk size {:?}", line.trim()),
                        )
                    })?;
                    if size == 0 {
                        *done = true;
                        return Ok(&[]);
                    }
                    *left = size;
                }
                let b = r.fill_buf()?;
                if b.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "response ends inside a chunk",
                    ));
                }
                let n = (b.len() as u64).min(*left) as usize;
                Ok(&b[..n])
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        match self {
            Body::Plain(r, left) => {
                r.consume(amt);
                *left -= amt as u64;
            }
            Body::Chunked { r, left, .. } => {
                r.consume(amt);
                *left -= amt as u64;
            }
        }
    }
}

/// Percent-encodes a query-string value.
pub fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn base64(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"tracer:s3cret"), "dHJhY2VyOnMzY3JldA==");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("INSERT INTO a.b"), "INSERT%20INTO%20a.b");
        assert_eq!(encode_query("x='é'"), "x%3D%27%C3%A9%27");
    }
}
