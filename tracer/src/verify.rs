//! `tracer verify`: checks the hash chain of tracer's log files
//! ([`crate::sink::chain`]) and says where it breaks.
//!
//! Files are read oldest first (the report's [`rotation_order`]), each line
//! checked against the one before it:
//! - `seq` must go up by one: a jump is a deletion (records missing), a step
//!   back is a reordering or a replay;
//! - `chain` must be the HMAC of the previous `chain` and this line: a
//!   mismatch is an edited record (or a forged one: without the key nobody
//!   can compute it);
//! - a record carrying `prev` (the first of each file and of each run) must
//!   name the last record before it;
//! - a line without a seal after the first sealed one was inserted or broken
//!   (a crash's partial line is accepted when the next record is the `gap`
//!   record tracer writes for it).
//!
//! What cannot be seen: records cut from the end of the newest file (nothing
//! follows them), except that a log whose last record is not a `stop` record
//! is said to be open-ended; and records cut from the start of the oldest
//! file, when it is not the start of the chain (seq 0) — its first record
//! then names a predecessor that is not among the files, which is reported
//! as a note. Root, holding the key, can rewrite everything.
//!
//! [`rotation_order`]: crate::logread::rotation_order
//!
//! Lines are read through [`crate::logread`], like the report's, so a line
//! number here is the one the report names.

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::path::PathBuf;

pub use crate::logread::At;
use crate::logread::{
    for_each_line, open, rotation_order, ByteCounter, InputError, InputSpec, Line, MAX_JSON_LINE,
};
use crate::sink::chain::{read_seal, ChainKey, GENESIS};

/// One sign of tampering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// `seq` jumps: records `from..=to` are missing before `at`.
    Deleted { at: At, from: u64, to: u64 },
    /// `seq` goes back (or repeats): the record is out of order or replayed.
    Reordered { at: At, seq: u64, after: u64 },
    /// The record's `chain` is not the HMAC of its content and predecessor.
    Edited { at: At, seq: u64 },
    /// The record's `prev` does not name the record before it.
    BrokenLink { at: At, seq: u64 },
    /// A line without a valid seal after sealing began.
    Unsealed { at: At },
    /// The first record of the oldest file has no `prev`: records before it
    /// were cut.
    HeadCut { at: At, seq: u64 },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Deleted { at, from, to } if from == to => {
                write!(f, "{at}: record seq {from} is missing (deleted) before this line")
            }
            Finding::Deleted { at, from, to } => write!(
                f,
                "{at}: records seq {from} to {to} ({} records) are missing (deleted) before this line",
                to - from + 1
            ),
            Finding::Reordered { at, seq, after } => write!(
                f,
                "{at}: record seq {seq} comes after seq {after}: records reordered or replayed"
            ),
            Finding::Edited { at, seq } => {
                write!(f, "{at}: record seq {seq} was edited (chain mismatch)")
            }
            Finding::BrokenLink { at, seq } => write!(
                f,
                "{at}: record seq {seq} does not continue the record before it (prev mismatch)"
            ),
            Finding::Unsealed { at } => write!(
                f,
                "{at}: line without a valid seq/chain seal (inserted or damaged)"
            ),
            Finding::HeadCut { at, seq } => write!(
                f,
                "{at}: the file starts at seq {seq} without `prev`: records before it were cut"
            ),
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub files: Vec<String>,
    pub records: u64,
    /// Unsealed lines before the first sealed record (written before
    /// chaining was turned on): not covered, not tampering.
    pub unsealed_before: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub findings: Vec<Finding>,
    /// What could not be checked, and crash leftovers that were accepted.
    pub notes: Vec<String>,
}

impl Outcome {
    pub fn intact(&self) -> bool {
        self.findings.is_empty() && self.records > 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("can't read {path}: {source}")]
    Read { path: String, source: io::Error },
}

struct Last {
    seq: u64,
    chain: [u8; 64],
    at: At,
}

/// Verifies `files` (any order; rotations are read oldest first).
pub fn verify(key: &ChainKey, files: &[PathBuf]) -> Result<Outcome, VerifyError> {
    let specs = rotation_order(files.iter().map(|p| InputSpec::Path(p.clone())).collect());
    let counter = ByteCounter::default();
    let mut opened = Vec::with_capacity(specs.len());
    let mut st = State {
        key,
        out: Outcome::default(),
        last: None,
        seen: HashSet::new(),
        last_is_stop: false,
        pending_partial: None,
        first_in_file: true,
        file: String::new(),
    };
    for spec in &specs {
        let o = open(spec, &counter, &mut 0)?;
        st.out.files.push(o.name.clone());
        opened.push(o);
    }
    for_each_line(opened, MAX_JSON_LINE, &mut |l| st.line(l))
        .map_err(|(path, source)| VerifyError::Read { path, source })?;
    if let Some(p) = st.pending_partial {
        st.out.notes.push(format!(
            "{p}: the log ends with a partial line (a crash, or tracer is writing)"
        ));
    }
    // A jump whose missing records all turned up elsewhere is a reordering,
    // already reported as such.
    st.out.findings.retain(|f| match f {
        Finding::Deleted { from, to, .. } => !(*from..=*to).all(|s| st.seen.contains(&s)),
        _ => true,
    });
    if let Some(l) = &st.last {
        st.out.last_seq = Some(l.seq);
        if !st.last_is_stop {
            st.out.notes.push(format!(
                "{}: the last record (seq {}) is not a stop record: tracer is still running or crashed, or records after it were cut (undetectable without a later record)",
                l.at, l.seq
            ));
        }
    }
    Ok(st.out)
}

/// What `verify` carries from one line to the next.
struct State<'k> {
    key: &'k ChainKey,
    out: Outcome,
    last: Option<Last>,
    seen: HashSet<u64>,
    last_is_stop: bool,
    /// A line that is not JSON at all (a crash's partial line?), waiting to
    /// see whether the next record is the `gap` record for it.
    pending_partial: Option<At>,
    first_in_file: bool,
    file: String,
}

impl State<'_> {
    fn line(&mut self, l: Line<'_>) {
        if l.at.file != self.file {
            self.file = l.at.file.clone();
            self.first_in_file = true;
        }
        let at = l.at;
        let line = l.text;
        if l.too_long.is_some() && self.last.is_some() {
            // Far longer than any record tracer writes.
            self.out.findings.push(Finding::Unsealed { at });
            return;
        }
        let Some(seal) = read_seal(line) else {
            if self.last.is_none() {
                self.out.unsealed_before += 1;
            } else if serde_json::from_slice::<serde_json::Value>(line).is_ok() {
                // A whole record without a seal: inserted (or its seal
                // was stripped).
                self.out.findings.push(Finding::Unsealed { at });
            } else if let Some(p) = self.pending_partial.replace(at) {
                self.out.findings.push(Finding::Unsealed { at: p });
            }
            return;
        };
        self.out.records += 1;
        let body = &line[..seal.body_len];
        let status = tracer_status(line);
        if let Some(p) = self.pending_partial.take() {
            if status == Some(("gap".into(), Some("partial_line".into()))) {
                self.out.notes.push(format!(
                    "{p}: partial line left by a crash (the next record is tracer's gap record for it)"
                ));
            } else {
                self.out.findings.push(Finding::Unsealed { at: p });
            }
        }
        self.last_is_stop = matches!(&status, Some((s, _)) if s == "stop");
        self.out.first_seq.get_or_insert(seal.seq);
        let reused = !self.seen.insert(seal.seq);
        match &self.last {
            None => {
                let prev = match seal.prev {
                    Some(p) => p,
                    None if seal.seq == 0 => GENESIS,
                    None => {
                        self.out.findings.push(Finding::HeadCut {
                            at: at.clone(),
                            seq: seal.seq,
                        });
                        self.last = Some(Last {
                            seq: seal.seq,
                            chain: seal.chain,
                            at,
                        });
                        self.first_in_file = false;
                        return;
                    }
                };
                if seal.seq > 0 {
                    self.out.notes.push(format!(
                        "{at}: the chain starts at seq {} here; records before it are not among the files (deleted by retention?)",
                        seal.seq
                    ));
                } else if prev != GENESIS {
                    self.out.findings.push(Finding::BrokenLink {
                        at: at.clone(),
                        seq: seal.seq,
                    });
                }
                if self.key.mac(&prev, body) != seal.chain {
                    self.out.findings.push(Finding::Edited {
                        at: at.clone(),
                        seq: seal.seq,
                    });
                }
            }
            Some(l) => {
                let expect = l.seq.wrapping_add(1);
                if seal.seq == expect && !reused {
                    if let Some(p) = seal.prev {
                        if p != l.chain {
                            self.out.findings.push(Finding::BrokenLink {
                                at: at.clone(),
                                seq: seal.seq,
                            });
                        }
                    }
                    if self.key.mac(&seal.prev.unwrap_or(l.chain), body) != seal.chain {
                        self.out.findings.push(Finding::Edited {
                            at: at.clone(),
                            seq: seal.seq,
                        });
                    }
                } else if seal.seq > expect && !reused {
                    self.out.findings.push(Finding::Deleted {
                        at: at.clone(),
                        from: expect,
                        to: seal.seq - 1,
                    });
                    // The content can still be checked when the record
                    // names its predecessor.
                    if let Some(p) = seal.prev {
                        if self.key.mac(&p, body) != seal.chain {
                            self.out.findings.push(Finding::Edited {
                                at: at.clone(),
                                seq: seal.seq,
                            });
                        }
                    }
                } else {
                    self.out.findings.push(Finding::Reordered {
                        at: at.clone(),
                        seq: seal.seq,
                        after: l.seq,
                    });
                }
                if self.first_in_file && seal.prev.is_none() {
                    self.out.notes.push(format!(
                        "{at}: the file's first record has no `prev`: its start may have been cut"
                    ));
                }
            }
        }
        self.first_in_file = false;
        self.last = Some(Last {
            seq: seal.seq,
            chain: seal.chain,
            at,
        });
    }
}

/// `detail.status` and `detail.reason` of a `tracer` record.
fn tracer_status(line: &[u8]) -> Option<(String, Option<String>)> {
    // Cheap test first: `type` is serialized first.
    if !line.starts_with(b"{\"type\":\"tracer\"") {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    let d = v.get("detail")?;
    Some((
        d.get("status")?.as_str()?.to_owned(),
        d.get("reason").and_then(|r| r.as_str()).map(str::to_owned),
    ))
}
