//! One log line -> one JSONEachRow row of the `events` table.
//!
//! The line is read as generic JSON, not as `Event`, so that the shipper
//! ships what a newer or older tracer wrote: unknown fields stay in `raw`,
//! known ones become columns. Values are passed through as written (a `pid`
//! that is not a number is the server's to refuse, and such a record is set
//! aside); only what ClickHouse 18.16 cannot parse itself is converted here:
//! the RFC 3339 time with nanoseconds (-> `time` seconds, `time_ns`, `date`)
//! and byte strings.
//!
//! Byte strings (`argv`, `exe`, `cwd`, `comm`): tracer's JSON writes each
//! byte that is not valid UTF-8 as the character U+10FF00+byte
//! ([`crate::bytes`]). The columns hold the exact bytes that ran, decoded
//! here: ClickHouse's JSON parser copies string bytes as they are, so the row
//! carries them raw (only `"`, `\` and control bytes escaped). `raw` keeps
//! the line as tracer wrote it, escapes and all.

use std::io::Write;

use serde_json::Value;

use crate::event::{Timestamp, UNSET};

/// Why a line is not shipped as a row (it is set aside instead).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RowError {
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object")]
    NotObject,
    #[error("no \"type\" string")]
    NoType,
    #[error("no RFC 3339 \"time\"")]
    NoTime,
    #[error("time {0} is outside 1970..2106, which ClickHouse's DateTime cannot hold")]
    TimeRange(String),
}

/// What the shipper needs to know about a line besides its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowInfo {
    pub seq: Option<u64>,
    pub time: Timestamp,
}

/// FNV-1a, 64 bits: the `line_hash` column.
pub fn line_hash(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &x in b {
        h ^= u64::from(x);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const NUMBERS: &[&str] = &["pid", "ppid", "uid", "euid", "ret", "count", "port"];
const STRINGS: &[&str] = &[
    "host", "boot", "type", "source", "tty", "cgroup", "job", "job_step", "via", "cause", "addr",
];
const BYTES: &[&str] = &["comm", "exe", "cwd"];

/// Appends the row for `line` (no newline) to `out`, with a newline.
pub fn append_row(line: &[u8], out: &mut Vec<u8>) -> Result<RowInfo, RowError> {
    let v: Value = serde_json::from_slice(line).map_err(|e| RowError::NotJson(e.to_string()))?;
    let Value::Object(m) = v else {
        return Err(RowError::NotObject);
    };
    if !m.get("type").is_some_and(Value::is_string) {
        return Err(RowError::NoType);
    }
    let time = m
        .get("time")
        .and_then(Value::as_str)
        .and_then(Timestamp::parse_rfc3339)
        .ok_or(RowError::NoTime)?;
    let secs = time.secs();
    if !(0..=i64::from(u32::MAX)).contains(&secs) {
        return Err(RowError::TimeRange(time.to_rfc3339()));
    }
    let start = out.len();
    let date = time.to_datetime().format("%Y-%m-%d");
    let _ = write!(
        out,
        "{{\"date\":\"{date}\",\"time\":{secs},\"time_ns\":{},\"line_hash\":{}",
        time.0,
        line_hash(line)
    );
    let seq = m.get("seq");
    if let Some(s) = seq.filter(|s| !s.is_null()) {
        push_value(out, "seq", s);
    }
    for k in NUMBERS.iter().chain(STRINGS) {
        if let Some(v) = m.get(*k).filter(|v| !v.is_null()) {
            push_value(out, k, v);
        }
    }
    for k in ["auid", "ses", "job_uid"] {
        match m.get(k).filter(|v| !v.is_null()) {
            Some(v) => push_value(out, k, v),
            None => {
                let _ = write!(out, ",\"{k}\":{UNSET}");
            }
        }
    }
    for k in BYTES {
        match m.get(*k) {
            Some(Value::String(s)) => {
                push_key(out, k);
                push_bytes(out, &crate::bytes::decode(s));
            }
            Some(Value::Null) | None => {}
            Some(v) => push_value(out, k, v),
        }
    }
    match m.get("argv") {
        Some(Value::Array(a)) if a.iter().all(Value::is_string) => {
            push_key(out, "argv");
            out.push(b'[');
            for (i, s) in a.iter().filter_map(Value::as_str).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_bytes(out, &crate::bytes::decode(s));
            }
            out.push(b']');
        }
        Some(Value::Null) | None => {}
        Some(v) => push_value(out, "argv", v),
    }
    if let Some(Value::Object(d)) = m.get("detail") {
        for (col, key) in [
            ("record_type", "record_type"),
            ("result", "res"),
            ("acct", "acct"),
        ] {
            if let Some(Value::String(s)) = d.get(key) {
                push_key(out, col);
                push_bytes(out, s.as_bytes());
            }
        }
    }
    push_key(out, "raw");
    push_bytes(out, line);
    out.extend_from_slice(b"}\n");
    debug_assert!(out.len() > start);
    Ok(RowInfo {
        seq: seq.and_then(Value::as_u64),
        time,
    })
}

fn push_key(out: &mut Vec<u8>, k: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(k.as_bytes());
    out.extend_from_slice(b"\":");
}

fn push_value(out: &mut Vec<u8>, k: &str, v: &Value) {
    push_key(out, k);
    // Writing a Value to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// A JSON string holding exactly `b` as ClickHouse reads it.
fn push_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c if c < 0x20 || c == 0x7f => {
                let _ = write!(out, "\\u{c:04x}");
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden line in the log's wire format (as tracer writes it).
    const EXEC: &str = r#"{"type":"exec","time":"2024-05-01T09:00:00.123456789Z","host":"n1","source":"ebpf","pid":42,"ppid":1,"uid":1000,"auid":1000,"ses":3,"exe":"/bin/echo","argv":["echo","a\"b","x\udbff\udfffy"],"cwd":"/home/a","seq":7,"chain":"00"}"#;

    fn row(line: &str) -> Value {
        let mut out = Vec::new();
        append_row(line.as_bytes(), &mut out).unwrap();
        assert_eq!(out.last(), Some(&b'\n'));
        // serde_json refuses the raw 0xff, so compare lossily.
        serde_json::from_str(&String::from_utf8_lossy(&out)).unwrap()
    }

    #[test]
    fn exec_line_to_row() {
        let r = row(EXEC);
        assert_eq!(r["date"], "2024-05-01");
        assert_eq!(r["time"], 1714554000u64);
        assert_eq!(r["time_ns"], 1714554000123456789u64);
        assert_eq!(r["seq"], 7);
        assert_eq!(r["pid"], 42);
        assert_eq!(r["auid"], 1000);
        assert_eq!(r["argv"][1], "a\"b");
        assert_eq!(r["raw"], EXEC);
        assert!(r.get("chain").is_none());
    }

    #[test]
    fn argv_holds_exact_bytes() {
        // U+10FFFF stands for byte 0xff.
        let mut out = Vec::new();
        append_row(EXEC.as_bytes(), &mut out).unwrap();
        let needle = b"\"x\xffy\"";
        assert!(out.windows(needle.len()).any(|w| w == needle));
    }

    #[test]
    fn absent_login_ids_are_unset_not_root() {
        let r =
            row(r#"{"type":"tracer","time":"2024-05-01T09:00:00Z","host":"n1","source":"tracer"}"#);
        assert_eq!(r["auid"], UNSET);
        assert_eq!(r["ses"], UNSET);
        assert!(r.get("seq").is_none());
    }

    #[test]
    fn login_detail_columns() {
        let r = row(
            r#"{"type":"login","time":"2024-05-01T09:00:00Z","host":"n1","source":"audit","detail":{"acct":"alice","record_type":"USER_AUTH","res":"failed"}}"#,
        );
        assert_eq!(r["record_type"], "USER_AUTH");
        assert_eq!(r["result"], "failed");
        assert_eq!(r["acct"], "alice");
    }

    #[test]
    fn bad_lines_are_refused_with_a_reason() {
        let mut out = Vec::new();
        for (line, want) in [
            ("nope", "not JSON"),
            ("[1]", "not a JSON object"),
            (r#"{"time":"2024-05-01T09:00:00Z"}"#, "type"),
            (r#"{"type":"exec","time":"yesterday"}"#, "time"),
            (r#"{"type":"exec","time":"1960-01-01T00:00:00Z"}"#, "1970"),
        ] {
            let e = append_row(line.as_bytes(), &mut out).unwrap_err();
            assert!(e.to_string().contains(want), "{line}: {e}");
        }
        assert!(out.is_empty());
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(line_hash(b""), 0xcbf29ce484222325);
        assert_eq!(line_hash(b"a"), 0xaf63dc4c8601ec8c);
    }
}
