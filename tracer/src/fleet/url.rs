//! Where the ClickHouse server is: `clickhouse://HOST[:PORT]/DB` (or
//! `http://…`, the same thing; `https://HOST[:PORT]/DB` for TLS, port 8443 by
//! default, the server's certificate checked against a CA file, see
//! [`super::tls`]), and the credentials file that goes with it.
//!
//! Credentials never sit in a URL, a command line or a unit file (all of
//! which other users can read): they come from a file that only its owner,
//! root, may read, with `user = NAME` and `password = SECRET` lines.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// ClickHouse's HTTP port.
pub const DEFAULT_PORT: u16 = 8123;
/// ClickHouse's HTTPS port (`https_port` in its config).
pub const DEFAULT_TLS_PORT: u16 = 8443;
/// Where `tracer ship` and `tracer report --from` look for credentials.
pub const DEFAULT_CREDENTIALS: &str = "/etc/tracer/clickhouse.credentials";

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("{url:?}: {problem} (expected clickhouse://HOST[:PORT]/DATABASE or https://HOST[:PORT]/DATABASE)")]
    Bad { url: String, problem: String },
    #[error("credentials file {path}: {problem}")]
    Credentials { path: String, problem: String },
}

#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ..)", self.user)
    }
}

/// One server and database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub credentials: Option<Credentials>,
    /// `https://`: TLS, with the server's certificate checked against
    /// `tls` (loaded by [`Endpoint::load_tls`] before the first request).
    pub secure: bool,
    pub tls: Option<super::tls::TlsConfig>,
}

impl Endpoint {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |problem: &str| UrlError::Bad {
            url: url.to_owned(),
            problem: problem.to_owned(),
        };
        let (rest, secure) = if let Some(r) = url.strip_prefix("clickhouse://") {
            (r, false)
        } else if let Some(r) = url.strip_prefix("http://") {
            (r, false)
        } else if let Some(r) = url.strip_prefix("https://") {
            (r, true)
        } else {
            return Err(bad("unknown scheme"));
        };
        let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
        let db = db.trim_end_matches('/');
        if authority.contains('@') {
            return Err(bad(
                "credentials belong in the credentials file, not the URL",
            ));
        }
        if db.is_empty() {
            return Err(bad("no database"));
        }
        if !db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad("the database name may only hold letters, digits and _"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad("bad port"))?)
            }
            _ if secure => (authority, DEFAULT_TLS_PORT),
            _ => (authority, DEFAULT_PORT),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            database: db.to_owned(),
            credentials: None,
            secure,
            tls: None,
        })
    }

    /// For `https://`: the CA certificates (PEM) that the server's
    /// certificate must chain to; `None`: the system's bundle
    /// ([`super::tls::SYSTEM_CA`]). Nothing for plain HTTP.
    pub fn load_tls(&mut self, ca: Option<&Path>) -> Result<(), super::tls::TlsError> {
        if self.secure {
            let ca = ca.unwrap_or(Path::new(super::tls::SYSTEM_CA));
            self.tls = Some(super::tls::TlsConfig::load(ca)?);
        }
        Ok(())
    }

    /// `clickhouse://host:port/db` (`https://…` with TLS), for messages and
    /// report inputs.
    pub fn display(&self) -> String {
        let scheme = if self.secure { "https" } else { "clickhouse" };
        format!("{scheme}://{}:{}/{}", self.host, self.port, self.database)
    }
}

/// Reads `user = …` / `password = …` from `path`, which must be a regular
/// file owned by root (or by the user running tracer) that neither group nor
/// others may read or write.
pub fn load_credentials(path: &Path) -> Result<Credentials, UrlError> {
    let err = |problem: String| UrlError::Credentials {
        path: path.display().to_string(),
        problem,
    };
    let meta = std::fs::symlink_metadata(path).map_err(|e| err(e.to_string()))?;
    if !meta.file_type().is_file() {
        return Err(err("is not a regular file".into()));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(err(format!(
            "mode {:o} lets others read it; chmod 600",
            meta.mode() & 0o777
        )));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != 0 && meta.uid() != me {
        return Err(err(format!("is owned by uid {}, not root", meta.uid())));
    }
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let (mut user, mut password) = (None, None);
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(err(format!("line {}: expected key = value", i + 1)));
        };
        let v = v.trim().trim_matches('"').to_owned();
        match k.trim() {
            "user" => user = Some(v),
            "password" => password = Some(v),
            k => return Err(err(format!("line {}: unknown key {k:?}", i + 1))),
        }
    }
    Ok(Credentials {
        user: user.ok_or_else(|| err("no `user = …` line".into()))?,
        password: password.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn parses_urls() {
        let e = Endpoint::parse("clickhouse://127.0.0.1:9123/tracer").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.database.as_str()),
            ("127.0.0.1", 9123, "tracer")
        );
        let e = Endpoint::parse("http://ch.example/fleet/").unwrap();
        assert_eq!((e.port, e.database.as_str()), (DEFAULT_PORT, "fleet"));
        let e = Endpoint::parse("clickhouse://[::1]:8124/db").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 8124));
        let e = Endpoint::parse("https://ch.example/fleet").unwrap();
        assert_eq!((e.port, e.secure), (DEFAULT_TLS_PORT, true));
        assert_eq!(e.display(), "https://ch.example:8443/fleet");
        assert!(!Endpoint::parse("clickhouse://x/db").unwrap().secure);
        for bad in [
            "ch://x/db",
            "clickhouse://x",
            "clickhouse://x:99999/db",
            "clickhouse://u:p@x/db",
            "clickhouse://x/db;drop",
            "https://x",
            "clickhouse:///db",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_must_be_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c");
        std::fs::write(&p, "# fleet\nuser = tracer\npassword = \"s3 cret\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load_credentials(&p)
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = load_credentials(&p).unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("tracer", "s3 cret")
        );
        assert!(!format!("{c:?}").contains("s3"));
        std::fs::write(&p, "usr = x\n").unwrap();
        assert!(load_credentials(&p).is_err());
    }
}
