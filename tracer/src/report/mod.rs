//! `tracer report`: who ran what, grouped by login user and session.
//!
//! The flow, one module per step:
//! [`input`] finds, orders (rotations oldest first), opens (gzip) and
//! recognises inputs -> [`source`] turns bytes into [`Event`](crate::event::Event)s (tracer JSON
//! lines here; raw audit through the audit parser) -> [`filter`] selects ->
//! [`model`] groups users -> sessions -> commands -> a renderer ([`text`],
//! [`json`], [`csv`], or [`summary`]) writes it, quoting every byte that came
//! from the log through [`quote`].
//!
//! [`run`] is the library entry point: the binary's `tracer report` only
//! turns flags into a [`Config`] and calls it.

pub mod cgroup;
pub mod csv;
pub mod display;
pub mod errno;
pub mod filter;
pub mod input;
pub mod intern;
pub mod json;
pub mod memo;
pub mod model;
pub mod progress;
pub mod quote;
pub mod record;
pub mod source;
pub mod stats;
pub mod summary;
pub mod text;
pub mod time;
pub mod users;

use std::io::{self, BufReader, Write};

use display::{Ctx, Zone};
use filter::Filter;
use input::{Concat, Detected, Format, InputError, InputSpec};
use model::{Builder, GroupBy, GroupKey};
use source::SourceError;
use stats::{BadLineAt, InputStats, Stats};
use users::UserDb;

/// The output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
    Csv,
}

/// A validated report request.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// In reading order (see [`input::rotation_order`]).
    pub inputs: Vec<InputSpec>,
    pub filter: Filter,
    pub by: GroupBy,
    pub format: OutputFormat,
    pub summary: bool,
    pub color: bool,
    pub zone: Zone,
    pub users: UserDb,
    /// Draw a progress bar on stderr (the caller checks it is a terminal).
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("{files}: {error}")]
    Source { files: String, error: SourceError },
    /// Writing the report failed; a closed pipe (`| head`) shows up here as
    /// `BrokenPipe`, which callers treat as success.
    #[error("can't write the report: {0}")]
    Write(io::Error),
}

impl ReportError {
    /// True when the reader of the output went away (`tracer report | head`).
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, ReportError::Write(e) if e.kind() == io::ErrorKind::BrokenPipe)
    }
}

/// Reads the inputs, writes the report to `out`, warnings to `warn`.
pub fn run(
    config: &Config,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<Stats, ReportError> {
    let mut stats = Stats::default();
    let counter = input::ByteCounter::default();
    let mut total = 0u64;
    let mut opened = Vec::new();
    for spec in &config.inputs {
        opened.push(input::open(spec, &counter, &mut total)?);
    }
    // A piece of a rotated log is still that log, even when its first lines
    // are junk (a rotation can cut anywhere): it takes the format of its
    // family. Only an input whose family says nothing either is refused.
    for i in 0..opened.len() {
        if opened[i].detected != Detected::Unknown {
            continue;
        }
        let family = config.inputs[i].family().0;
        let kin = family.as_ref().and_then(|f| {
            (0..opened.len())
                .filter(|&j| config.inputs[j].family().0.as_ref() == Some(f))
                .find_map(|j| match opened[j].detected {
                    Detected::Known(k) => Some(k),
                    _ => None,
                })
        });
        match kin {
            Some(k) => opened[i].detected = Detected::Known(k),
            None => {
                let path = opened.swap_remove(i).name;
                return Err(InputError::UnknownFormat { path }.into());
            }
        }
    }
    let mut progress = progress::Progress::new(config.progress, total, counter);
    let mut builder = Builder::new(config.filter.clone(), config.by, !config.summary);

    // Consecutive inputs of one format are read as one stream.
    let mut runs: Vec<(Format, Vec<input::Opened>)> = Vec::new();
    for o in opened {
        let Detected::Known(f) = o.detected else {
            stats.inputs.push(InputStats {
                name: o.name,
                format: "empty".into(),
                gzip: o.gzip,
                lines: 0,
            });
            continue;
        };
        match runs.last_mut() {
            Some((rf, v)) if *rf == f => v.push(o),
            _ => runs.push((f, vec![o])),
        }
    }
    for (format, files) in runs {
        read_run(format, files, &mut builder, &mut stats, &mut progress, warn)?;
    }
    progress.finish();

    let report = builder.finish();
    stats.counts = report.counts.clone();
    for g in &report.groups {
        match g.key {
            GroupKey::Session { .. } => stats.sessions += 1,
            GroupKey::Unattributed { .. } => stats.unattributed_groups += 1,
            GroupKey::Job { .. } => stats.jobs += 1,
        }
    }
    warn_totals(&stats, warn);

    let ctx = Ctx::new(&config.users, config.zone, config.color);
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let written = match (config.summary, config.format) {
        (true, f) => summary::render(&report, &stats, &ctx, f, &mut out),
        (false, OutputFormat::Text) => text::render(&report, &stats, &ctx, &mut out),
        (false, OutputFormat::Json) => json::render(&report, &stats, &ctx, &mut out),
        (false, OutputFormat::Csv) => csv::render(&report, &ctx, &mut out),
    };
    written
        .and_then(|()| out.flush())
        .map_err(ReportError::Write)?;
    Ok(stats)
}

/// Reads one run of same-format inputs into the builder.
fn read_run(
    format: Format,
    files: Vec<input::Opened>,
    builder: &mut Builder,
    stats: &mut Stats,
    progress: &mut progress::Progress,
    warn: &mut dyn Write,
) -> Result<(), ReportError> {
    let names: Vec<String> = files.iter().map(|o| o.name.clone()).collect();
    let gzip: Vec<bool> = files.iter().map(|o| o.gzip).collect();
    let concat = Concat::new(files.into_iter().map(|o| (o.name, o.reader)).collect());
    let map = concat.line_map();
    let reader = Box::new(BufReader::with_capacity(1 << 18, concat));
    let mut src = source::open_source(format, reader).map_err(|error| ReportError::Source {
        files: names.join(", "),
        error,
    })?;
    let mut n = 0u32;
    src.for_each_record(&mut |item| {
        match item {
            Ok(ev) => builder.add(&ev),
            Err(mut bad) => {
                let map = map.borrow();
                if map.is_cut(bad.line) {
                    stats.incomplete_events += 1;
                    bad.reason = format!(
                        "the file ends in the middle of this record ({})",
                        bad.reason
                    );
                }
                let (file, line) = map.locate(bad.line);
                stats.bad_lines += 1;
                if stats.bad_line_samples.len() < stats::MAX_SAMPLES {
                    let _ = writeln!(
                        warn,
                        "tracer: warning: {file}:{line}: skipped: {}",
                        quote::sanitize_str(&bad.reason)
                    );
                    stats.bad_line_samples.push(BadLineAt {
                        file: file.to_owned(),
                        line,
                        reason: bad.reason,
                    });
                }
            }
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(8192) {
            progress.tick();
        }
    });
    stats.incomplete_events += src.incomplete();
    let map = map.borrow();
    if let Some(e) = src.take_error() {
        let file = map
            .per_file()
            .last()
            .map(|f| f.0.clone())
            .unwrap_or_default();
        // Corrupt or cut compressed data: keep what was read, say so.
        if matches!(
            e.kind(),
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof | io::ErrorKind::InvalidInput
        ) {
            let _ = writeln!(warn, "tracer: warning: {file}: reading stopped early: {e}");
            stats.read_errors.push(format!("{file}: {e}"));
        } else {
            return Err(InputError::Read {
                path: file,
                error: e,
            }
            .into());
        }
    }
    for ((name, lines), gz) in map.per_file().into_iter().zip(gzip) {
        stats.inputs.push(InputStats {
            name,
            format: format.as_str().into(),
            gzip: gz,
            lines,
        });
    }
    Ok(())
}

fn warn_totals(stats: &Stats, warn: &mut dyn Write) {
    if stats.bad_lines > stats.bad_line_samples.len() as u64 {
        let more = stats.bad_lines - stats.bad_line_samples.len() as u64;
        let _ = writeln!(
            warn,
            "tracer: warning: ... and {more} more malformed lines skipped"
        );
    }
    if stats.incomplete_events > 0 {
        let _ = writeln!(
            warn,
            "tracer: warning: the input ended in the middle of {} event(s)",
            stats.incomplete_events
        );
    }
    if stats.counts.loss_records > 0 {
        let _ = writeln!(
            warn,
            "tracer: warning: the log records {} lost event(s) in {} loss record(s): this report is incomplete",
            stats.counts.lost_events, stats.counts.loss_records
        );
    }
}
