//! `tracer check`: summarise the eBPF/audit cross-check of a run from its log.
//!
//! `tracer run --backend both` writes a `discrepancy` record for every exec
//! seen by one source only, or seen by both with different attribution, and
//! its cross-check counters in its `stop` record. This reads tracer logs
//! (rotated and gzip'd ones too, oldest first) and says whether the run's
//! capture was complete: matched execs, each kind of discrepancy, which are
//! explained by counted losses, and the losses themselves. Lines come
//! through [`crate::logread`] (capped, like the report's).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::{Body, DiscrepancyKind, Event, TracerStatus};
use crate::logread::{self, for_each_line, ByteCounter, InputError, InputSpec, MAX_JSON_LINE};

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct CheckSummary {
    /// Runs with a cross-check found (stop records carrying one).
    pub runs: u64,
    pub matched: u64,
    pub only_ebpf: u64,
    pub only_audit: u64,
    pub mismatched: u64,
    pub explained_by_loss: u64,
    pub at_shutdown: u64,
    /// Discrepancies not explained by a counted loss or the shutdown race.
    pub unexplained: u64,
    /// Counted losses, by source and cause.
    pub losses: BTreeMap<String, u64>,
    /// The unexplained discrepancies (the first 20), as written.
    pub samples: Vec<Event>,
    pub bad_lines: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("reading {file}: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
}

pub fn check(inputs: Vec<InputSpec>) -> Result<CheckSummary, CheckError> {
    let mut s = CheckSummary::default();
    let counter = ByteCounter::default();
    let mut opened = Vec::new();
    for spec in logread::rotation_order(inputs) {
        opened.push(logread::open(&spec, &counter, &mut 0)?);
    }
    for_each_line(opened, MAX_JSON_LINE, &mut |l| {
        if l.too_long.is_none() && l.text.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match serde_json::from_slice::<Event>(l.text) {
            Ok(e) if l.too_long.is_none() => observe(&mut s, e),
            _ => s.bad_lines += 1,
        }
    })
    .map_err(|(file, source)| CheckError::Read { file, source })?;
    Ok(s)
}

fn observe(s: &mut CheckSummary, e: Event) {
    match &e.body {
        Body::Discrepancy(d) => {
            match d.what {
                DiscrepancyKind::OnlyEbpf => s.only_ebpf += 1,
                DiscrepancyKind::OnlyAudit => s.only_audit += 1,
                DiscrepancyKind::Mismatch => s.mismatched += 1,
                DiscrepancyKind::Other(_) => return,
            }
            if d.explained_by_loss == Some(true) {
                s.explained_by_loss += 1;
            } else if d.at_shutdown {
                s.at_shutdown += 1;
            } else {
                s.unexplained += 1;
                if s.samples.len() < 20 {
                    s.samples.push(e);
                }
            }
        }
        Body::Loss(l) => {
            let key = format!("{}: {}", e.source.as_str(), l.cause);
            *s.losses.entry(key).or_default() += l.count.unwrap_or(0);
        }
        Body::Tracer(t) if t.status == TracerStatus::Stop => {
            let Some(c) = t.fields.get("crosscheck") else {
                return;
            };
            s.runs += 1;
            s.matched += c.get("matched").and_then(|v| v.as_u64()).unwrap_or(0);
        }
        _ => {}
    }
}

impl CheckSummary {
    pub fn render_text(&self) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "cross-checked runs: {}", self.runs);
        let _ = writeln!(o, "matched execs:      {}", self.matched);
        let _ = writeln!(o, "only eBPF saw:      {}", self.only_ebpf);
        let _ = writeln!(o, "only audit saw:     {}", self.only_audit);
        let _ = writeln!(o, "field mismatches:   {}", self.mismatched);
        let _ = writeln!(o, "explained by loss:  {}", self.explained_by_loss);
        let _ = writeln!(o, "at shutdown:        {}", self.at_shutdown);
        let _ = writeln!(o, "unexplained:        {}", self.unexplained);
        for (k, v) in &self.losses {
            let _ = writeln!(o, "lost ({k}): {v}");
        }
        if self.bad_lines > 0 {
            let _ = writeln!(o, "unreadable lines skipped: {}", self.bad_lines);
        }
        for d in &self.samples {
            let Body::Discrepancy(x) = &d.body else {
                continue;
            };
            let what = x.what.as_str();
            let argv: Vec<String> = x
                .exec
                .argv
                .iter()
                .flatten()
                .map(|a| crate::report::quote::quote_arg(a.as_slice()))
                .collect();
            let _ = writeln!(
                o,
                "  {} {what} pid {} auid {}: {}",
                d.time,
                d.task.pid.unwrap_or(0),
                d.task.auid.unwrap_or(0),
                argv.join(" ")
            );
        }
        let _ = writeln!(
            o,
            "{}",
            if self.unexplained == 0 {
                "verdict: complete (every discrepancy is explained)"
            } else {
                "verdict: DISCREPANCIES (an exec was seen by one source only, or attributed differently)"
            }
        );
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_discrepancies_and_stats() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"type":"discrepancy","time":"2026-01-01T00:00:00Z","source":"tracer","pid":5,"argv":["x"],"detail":{"kind":"only_ebpf","explained_by_loss":false}}"#, "\n",
                r#"{"type":"discrepancy","time":"2026-01-01T00:00:01Z","source":"tracer","detail":{"kind":"only_audit","explained_by_loss":true}}"#, "\n",
                r#"{"type":"loss","time":"2026-01-01T00:00:01Z","source":"audit","count":3,"cause":"audit: kernel lost counter"}"#, "\n",
                "junk\n",
                r#"{"type":"tracer","time":"2026-01-01T00:00:02Z","source":"tracer","detail":{"status":"stop","crosscheck":{"matched":10}}}"#, "\n",
            ),
        )
        .unwrap();
        let s = check(vec![InputSpec::Path(p)]).unwrap();
        assert_eq!(
            (s.runs, s.matched, s.only_ebpf, s.only_audit, s.unexplained),
            (1, 10, 1, 1, 1)
        );
        assert_eq!(s.losses["audit: audit_kernel_lost"], 3);
        assert_eq!(s.bad_lines, 1);
        assert!(s.render_text().contains("verdict: DISCREPANCIES"));
    }
}
