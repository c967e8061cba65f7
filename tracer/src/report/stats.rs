//! What the report read and skipped: shown at the end of text output, as
//! `stats` in JSON, and as warnings on stderr. Nothing is dropped silently.

use serde::Serialize;

use super::model::Counts;

/// At most this many bad lines are listed by location; all are counted.
pub const MAX_SAMPLES: usize = 20;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub inputs: Vec<InputStats>,
    #[serde(flatten)]
    pub counts: Counts,
    /// Groups shown: sessions, unattributed groups, jobs.
    pub sessions: u64,
    pub unattributed_groups: u64,
    pub jobs: u64,
    /// Sessions of kinds the text report hides by default (or not asked for
    /// with `--kind`).
    pub hidden_sessions: u64,
    /// Lines that were not a record (each also a warning).
    pub bad_lines: u64,
    /// The first [`MAX_SAMPLES`] of them.
    pub bad_line_samples: Vec<BadLineAt>,
    /// Events the input stopped in the middle of.
    pub incomplete_events: u64,
    /// Where the first [`MAX_SAMPLES`] of them began (`file:line` of their
    /// first record), in input order: a file cut by a crash, a rotation or
    /// a copy names the place to look.
    #[serde(rename = "incomplete_event_at", skip_serializing_if = "Vec::is_empty")]
    pub incomplete_at: Vec<String>,
    /// Inputs whose reading stopped early (corrupt or cut gzip data).
    pub read_errors: Vec<String>,
    /// Audit exec events whose `auid=` is a name rather than a number (an
    /// interpreted log): listed as unattributed, and warned about.
    #[serde(skip_serializing_if = "is_zero")]
    pub unreadable_auid: u64,
    /// The first of them, as `audit(SECS.MSEC:SERIAL)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable_auid_at: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct InputStats {
    pub name: String,
    /// `tracer_json`, `audit`, or `empty`.
    pub format: String,
    pub gzip: bool,
    pub lines: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BadLineAt {
    pub file: String,
    pub line: u64,
    pub reason: String,
}
