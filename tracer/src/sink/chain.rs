//! Tamper evidence for the log file: every record carries `seq` and `chain`,
//! a keyed hash (HMAC-SHA256) chained to the previous record, so that
//! deleting, editing, reordering or inserting records can be detected by
//! `tracer verify` ([`crate::verify`]).
//!
//! The exact format (the README's "Tamper evidence" repeats it):
//!
//! ```text
//! {...the record's fields...[,"prev":"P"],"seq":N,"chain":"C"}
//! C = hex(HMAC-SHA256(key, P || B))
//! ```
//!
//! where `B` is the line from its `{` up to (not including) `,"chain":"`,
//! i.e. the record with `seq` (and `prev` when present) but without `chain`;
//! `P` is the previous record's `chain` as 64 lowercase hex characters, or 64
//! `0`s for the first record of a chain (`seq` 0). `seq` counts records
//! written to the file, by one, across rotations and restarts. The first
//! record tracer writes to a file (after opening it, or after a rotation)
//! also carries `"prev":"P"`, so each file can be checked on its own and the
//! join between two files (or two runs) is explicit.
//!
//! Sealing appends to the serialized record: one HMAC over ~400 bytes (about
//! a microsecond) and ~100 bytes per record. The key is 32 random bytes in a
//! root-only file ([`load_or_create_key`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::event::wire::json::uint as push_u64;

/// Where the key lives unless configured otherwise.
pub const DEFAULT_KEY: &str = "/var/lib/tracer/chain.key";
/// The `prev` of a chain's first record.
pub const GENESIS: [u8; 64] = [b'0'; 64];
/// What sealing adds to a record at most (`,"prev":"…","seq":N,"chain":"…"`).
pub const OVERHEAD: usize = 10 + 64 + 27 + 12 + 64 + 2;

const CHAIN_KEY: &[u8] = b",\"chain\":\"";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("chain key {path}: {source}")]
    Io { path: String, source: io::Error },
    #[error("chain key {path} {problem}")]
    Unsafe { path: String, problem: String },
}

/// The HMAC key, with the HMAC state after the key (its inner and outer
/// pad blocks) computed once: each record then costs only its own blocks.
#[derive(Clone)]
pub struct ChainKey(Hmac<Sha256>);

impl std::fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainKey(..)")
    }
}

impl ChainKey {
    pub fn from_bytes(b: [u8; 32]) -> Self {
        // HMAC takes keys of any length: this cannot fail.
        let m = <Hmac<Sha256> as Mac>::new_from_slice(&b).expect("HMAC takes any key");
        Self(m)
    }

    /// `hex(HMAC-SHA256(key, prev || body))`.
    pub fn mac(&self, prev: &[u8], body: &[u8]) -> [u8; 64] {
        let mut m = self.0.clone();
        m.update(prev);
        m.update(body);
        hex(&m.finalize().into_bytes())
    }
}

fn hex(b: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 64];
    for (i, &x) in b.iter().take(32).enumerate() {
        out[2 * i] = DIGITS[(x >> 4) as usize];
        out[2 * i + 1] = DIGITS[(x & 15) as usize];
    }
    out
}

fn key_err(path: &Path) -> impl Fn(io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Reads the key: a regular file (not a symbolic link) of exactly 32 bytes,
/// owned by us and unreadable by group and others.
pub fn load_key(path: &Path) -> Result<ChainKey, KeyError> {
    let unsafe_key = |problem: String| KeyError::Unsafe {
        path: path.display().to_string(),
        problem,
    };
    let mut f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                unsafe_key("is a symbolic link".into())
            } else {
                key_err(path)(e)
            }
        })?;
    let md = f.metadata().map_err(key_err(path))?;
    if !md.is_file() {
        return Err(unsafe_key("is not a regular file".into()));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if md.uid() != me {
        return Err(unsafe_key(format!(
            "is owned by uid {}, not {me}",
            md.uid()
        )));
    }
    if md.mode() & 0o077 != 0 {
        return Err(unsafe_key(format!(
            "is accessible to group or others (mode {:o}); want 0400",
            md.mode() & 0o7777
        )));
    }
    let mut k = [0u8; 32];
    let mut rest = Vec::new();
    f.read_exact(&mut k)
        .and_then(|()| f.read_to_end(&mut rest))
        .map_err(|_| unsafe_key("is not 32 bytes long".into()))?;
    if !rest.is_empty() {
        return Err(unsafe_key("is not 32 bytes long".into()));
    }
    Ok(ChainKey::from_bytes(k))
}

/// Reads the key, creating it (32 bytes from the kernel's CSPRNG, mode 0400,
/// its directory 0700) when it does not exist.
pub fn load_or_create_key(path: &Path) -> Result<ChainKey, KeyError> {
    match load_key(path) {
        Err(KeyError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        r => return r,
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(key_err(path))?;
        }
    }
    let mut k = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut r| r.read_exact(&mut k))
        .map_err(key_err(path))?;
    let mut f = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o400)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        // Another tracer created it meanwhile (let it finish writing).
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::thread::sleep(std::time::Duration::from_millis(50));
            return load_key(path);
        }
        Err(e) => return Err(key_err(path)(e)),
    };
    f.write_all(&k)
        .and_then(|()| f.sync_all())
        .map_err(key_err(path))?;
    log::info!("created the log chain key {}", path.display());
    Ok(ChainKey::from_bytes(k))
}

/// Where a chain stands: the next `seq` and the last `chain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainState {
    pub next_seq: u64,
    pub prev: [u8; 64],
}

impl ChainState {
    pub const GENESIS: ChainState = ChainState {
        next_seq: 0,
        prev: GENESIS,
    };
}

/// The `seq`, `prev` and `chain` of a sealed line, and where its body ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub seq: u64,
    pub prev: Option<[u8; 64]>,
    pub chain: [u8; 64],
    /// Length of `B`, the hashed part of the line.
    pub body_len: usize,
}

fn hex64(s: &str) -> Option<[u8; 64]> {
    let b = s.as_bytes();
    if b.len() != 64 || !b.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut out = [0u8; 64];
    out.copy_from_slice(b);
    Some(out)
}

/// Reads the seal of one line (without its newline): `None` when the line
/// is not a JSON object ending in `,"chain":"<64 hex>"}` with a `seq`.
pub fn read_seal(line: &[u8]) -> Option<Seal> {
    #[derive(serde::Deserialize)]
    struct Fields {
        seq: Option<u64>,
        prev: Option<String>,
        chain: Option<String>,
    }
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() < CHAIN_KEY.len() + 66 || !line.ends_with(b"\"}") {
        return None;
    }
    let body_len = line.len() - 66 - CHAIN_KEY.len();
    if &line[body_len..body_len + CHAIN_KEY.len()] != CHAIN_KEY {
        return None;
    }
    let f: Fields = serde_json::from_slice(line).ok()?;
    let chain = hex64(f.chain.as_deref()?)?;
    if chain[..] != line[body_len + CHAIN_KEY.len()..line.len() - 2] {
        return None;
    }
    let prev = match f.prev {
        Some(p) => Some(hex64(&p)?),
        None => None,
    };
    Some(Seal {
        seq: f.seq?,
        prev,
        chain,
        body_len,
    })
}

/// Where the chain of a log file stands: from its last sealed line (looking
/// at most at its last 4 MiB). `None` when it has none.
pub fn last_state(f: &File) -> io::Result<Option<ChainState>> {
    use crate::logread::tail::{Tail, TAIL};
    let tail = Tail::read(f, TAIL)?;
    Ok(tail
        .bytes()
        .split(|&b| b == b'\n')
        .rev()
        .find_map(read_seal)
        .map(|s| ChainState {
            next_seq: s.seq.saturating_add(1),
            prev: s.chain,
        }))
}

/// Seals records for one log file, keeping what was written (committed)
/// apart from what is only buffered, so that records dropped from the buffer
/// (a full disk) do not leave a hole in `seq`.
#[derive(Debug, Clone)]
pub struct Sealer {
    key: ChainKey,
    head: ChainState,
    head_new_file: bool,
    committed: ChainState,
    committed_new_file: bool,
}

impl Sealer {
    /// Continues from `state` (the end of the existing log), in a file whose
    /// next record is the first this run writes to it.
    pub fn new(key: ChainKey, state: ChainState) -> Self {
        Self {
            key,
            head: state,
            head_new_file: true,
            committed: state,
            committed_new_file: true,
        }
    }

    pub fn state(&self) -> ChainState {
        self.head
    }

    /// Appends `line` (one serialized record, `{...}` with or without `\n`),
    /// sealed, with a `\n`, to `out`.
    pub fn seal_into(&mut self, line: &[u8], out: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let start = out.len();
        match line.strip_suffix(b"}") {
            Some(open) if open.len() > 1 => out.extend_from_slice(open),
            // Not an object with fields: cannot happen for an Event; keep
            // the bytes as a string so the line stays one JSON object.
            _ => {
                out.extend_from_slice(b"{\"unsealable\":");
                let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(line));
            }
        }
        if self.head_new_file {
            out.extend_from_slice(b",\"prev\":\"");
            out.extend_from_slice(&self.head.prev);
            out.push(b'"');
            self.head_new_file = false;
        }
        out.extend_from_slice(b",\"seq\":");
        push_u64(out, self.head.next_seq);
        let chain = self.key.mac(&self.head.prev, &out[start..]);
        out.extend_from_slice(CHAIN_KEY);
        out.extend_from_slice(&chain);
        out.extend_from_slice(b"\"}\n");
        self.head = ChainState {
            next_seq: self.head.next_seq + 1,
            prev: chain,
        };
    }

    /// Everything sealed so far reached the file.
    pub fn commit(&mut self) {
        self.committed = self.head;
        self.committed_new_file = self.head_new_file;
    }

    /// Records sealed since the last commit were dropped.
    pub fn rollback(&mut self) {
        self.head = self.committed;
        self.head_new_file = self.committed_new_file;
    }

    /// The next record goes to a new file (after a rotation).
    pub fn new_file(&mut self) {
        self.head_new_file = true;
        self.committed_new_file = true;
    }
}

/// The key path: configured, or [`DEFAULT_KEY`].
pub fn key_path(configured: Option<&Path>) -> PathBuf {
    configured.map_or_else(|| PathBuf::from(DEFAULT_KEY), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ChainKey {
        ChainKey::from_bytes([7; 32])
    }

    #[test]
    fn sealed_lines_read_back_and_chain() {
        let mut s = Sealer::new(key(), ChainState::GENESIS);
        let mut out = Vec::new();
        s.seal_into(
            b"{\"type\":\"exec\",\"argv\":[\",\\\"chain\\\":\\\"\"]}\n",
            &mut out,
        );
        s.seal_into(b"{\"type\":\"exit\"}\n", &mut out);
        let lines: Vec<&[u8]> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(lines.len(), 2);
        let a = read_seal(lines[0]).unwrap();
        let b = read_seal(lines[1]).unwrap();
        assert_eq!((a.seq, a.prev, b.seq, b.prev), (0, Some(GENESIS), 1, None));
        assert_eq!(key().mac(&GENESIS, &lines[0][..a.body_len]), a.chain);
        assert_eq!(key().mac(&a.chain, &lines[1][..b.body_len]), b.chain);
        let v: serde_json::Value = serde_json::from_slice(lines[0]).unwrap();
        assert_eq!(v["argv"][0], ",\"chain\":\"");
    }

    #[test]
    fn decimal_seq() {
        for v in [0u64, 9, 10, 1234567, u64::MAX] {
            let mut out = b"x".to_vec();
            push_u64(&mut out, v);
            assert_eq!(out, format!("x{v}").into_bytes());
        }
    }

    #[test]
    fn rollback_forgets_unwritten_records() {
        let mut s = Sealer::new(key(), ChainState::GENESIS);
        let mut out = Vec::new();
        s.seal_into(b"{\"a\":1}", &mut out);
        s.commit();
        let after_first = s.state();
        s.seal_into(b"{\"a\":2}", &mut out);
        s.rollback();
        assert_eq!(s.state(), after_first);
    }

    #[test]
    fn key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/chain.key");
        let k = load_or_create_key(&p).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o400);
        assert_eq!(load_key(&p).unwrap().mac(b"p", b"b"), k.mac(b"p", b"b"));
        let l = dir.path().join("link");
        std::os::unix::fs::symlink(&p, &l).unwrap();
        assert!(load_key(&l)
            .unwrap_err()
            .to_string()
            .contains("symbolic link"));
    }
}
