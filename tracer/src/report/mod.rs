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

pub mod csv;
pub mod display;
pub mod errno;
pub mod filter;
pub mod input;
pub mod intern;
pub mod json;
pub mod memo;
pub mod model;
pub mod par;
pub mod pretty;
pub mod progress;
pub mod quote;
pub mod record;
pub mod source;
pub mod stats;
pub mod summary;
pub mod text;
pub mod time;
pub mod users;

use std::io::{self, Write};

use display::{Ctx, Zone};
use filter::Filter;
use input::{Format, InputError, InputSpec};
use model::{Builder, GroupBy, GroupKey};
use stats::{BadLineAt, InputStats, Stats};
use users::{Names, UserDb};

use crate::sessions::SessionKind;

/// Which session kinds are shown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum KindSelect {
    /// Text: interactive logins and sessions of unknown kind; JSON and CSV:
    /// all, labelled.
    #[default]
    Default,
    /// `--all`.
    All,
    /// `--kind K` (repeatable).
    Only(Vec<SessionKind>),
}

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
    /// `--passwd FILE`, the second source of names (see [`users`]).
    pub users: UserDb,
    /// Ask this machine's NSS for names the log and `--passwd` lack.
    pub nss: bool,
    /// `-u NAME` when NAME is not a uid: matched after reading, against the
    /// names the log gives (then `--passwd`, then NSS).
    pub user_name: Option<String>,
    pub kinds: KindSelect,
    /// The host name of audit records without `node=` (`--host-name`);
    /// without it they have no host name.
    pub host_name: Option<String>,
    /// Draw a progress bar on stderr (the caller checks it is a terminal).
    pub progress: bool,
    /// How many threads read, in what chunks (the report is the same
    /// whatever they are).
    pub read: input::ReadOpts,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Input(#[from] InputError),
    /// Every line of an input was malformed: an empty report would say
    /// "nothing happened" where the log said something tracer could not read.
    #[error(
        "{files}: none of its {bad} line(s) could be read as a record (the warnings above say why)"
    )]
    NothingReadable { files: String, bad: u64 },
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
    let opened = input::open_all(&config.inputs, &counter, &mut total)?;
    let mut progress = progress::Progress::new(config.progress, total, counter);
    let mut builder = Builder::new(config.filter.clone(), config.by, !config.summary);

    // Consecutive inputs of one format are read as one stream.
    let (runs, empty) = input::runs(opened);
    for o in empty {
        stats.inputs.push(InputStats {
            name: o.name,
            format: "empty".into(),
            gzip: o.gzip,
            lines: 0,
        });
    }
    // Audit records without `node=` get no host name, or `--host-name`:
    // never this machine's, which may not be where the log was written.
    let host = config.host_name.clone().unwrap_or_default();
    let opts = config.read;
    for (format, files) in runs {
        read_run(
            format,
            files,
            &host,
            opts,
            &mut builder,
            &mut stats,
            &mut progress,
            warn,
        )?;
    }
    progress.finish();
    render_report(config, builder, stats, None, out, warn)
}

/// Builds the report from any [`source::RecordSource`] (records in input
/// order) rather than from files: the fleet report reads ClickHouse this
/// way. `inputs` describes what was read; `totals`, when given, replaces the
/// whole-input counters (records, execs, losses...) that the builder could
/// not count itself because filters were applied before the records reached
/// it; `selected` and the groups are always the builder's.
pub fn run_source(
    config: &Config,
    src: &mut dyn source::RecordSource,
    inputs: Vec<InputStats>,
    totals: Option<model::Counts>,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<Stats, ReportError> {
    let mut stats = Stats {
        inputs,
        ..Stats::default()
    };
    let mut builder = Builder::new(config.filter.clone(), config.by, !config.summary);
    src.for_each_record(&mut |item| match item {
        Ok(ev) => builder.add(&ev),
        Err(bad) => {
            stats.bad_lines += 1;
            if stats.bad_line_samples.len() < stats::MAX_SAMPLES {
                let _ = writeln!(
                    warn,
                    "tracer: warning: record {}: skipped: {}",
                    bad.line,
                    quote::sanitize_str(&bad.reason)
                );
                stats.bad_line_samples.push(BadLineAt {
                    file: String::new(),
                    line: bad.line,
                    reason: bad.reason,
                });
            }
        }
    });
    stats.incomplete_events += src.incomplete();
    if let Some(e) = src.take_error() {
        return Err(InputError::Read {
            path: stats
                .inputs
                .first()
                .map(|i| i.name.clone())
                .unwrap_or_default(),
            error: e,
        }
        .into());
    }
    render_report(config, builder, stats, totals, out, warn)
}

/// Finishes the model and writes it in the configured format.
fn render_report(
    config: &Config,
    builder: Builder,
    mut stats: Stats,
    totals: Option<model::Counts>,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> Result<Stats, ReportError> {
    let mut report = builder.finish();
    if let Some(t) = totals {
        // What the builder decides itself (selection, merging, boots) stays
        // its own; only whole-input counts come from the caller.
        report.counts = model::Counts {
            selected: report.counts.selected,
            not_in_job: report.counts.not_in_job,
            user_cmds: report.counts.user_cmds,
            user_cmds_merged: report.counts.user_cmds_merged,
            boots: report.counts.boots,
            ..t
        };
    }
    let names = Names::new(
        std::mem::take(&mut report.log_names),
        config.users.clone(),
        config.nss,
    );
    if let Some(uid) = config.filter.user {
        report.retain_job_owner(Some(uid));
    }
    if let Some(name) = &config.user_name {
        report.retain_user(name, |n| names.uid(n));
        if report.groups.is_empty() && report.failed_logins.is_empty() && names.uid(name).is_none()
        {
            let _ = writeln!(
                warn,
                "tracer: warning: no user {:?} in the log, the passwd file or this machine's NSS",
                quote::sanitize_str(name)
            );
        }
    }
    let before = report.groups.len();
    match &config.kinds {
        KindSelect::All => {}
        KindSelect::Only(kinds) => report.retain_kinds(|k| kinds.contains(&k)),
        KindSelect::Default if config.format == OutputFormat::Text || config.summary => {
            report.retain_kinds(SessionKind::shown_by_default)
        }
        KindSelect::Default => {}
    }
    stats.hidden_sessions = (before - report.groups.len()) as u64;
    stats.counts = report.counts.clone();
    for g in &report.groups {
        match g.key {
            GroupKey::Session { .. } => stats.sessions += 1,
            GroupKey::Unattributed { .. } => stats.unattributed_groups += 1,
            GroupKey::Job { .. } => stats.jobs += 1,
        }
    }
    warn_totals(&stats, warn);

    let ctx = Ctx::new(&names, config.zone, config.color);
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let threads = match config.read.threads {
        0 => crate::logread::chunk::available_cores(),
        n => n,
    };
    let written = match (config.summary, config.format) {
        (true, f) => summary::render(&report, &stats, &ctx, f, &mut out),
        (false, OutputFormat::Text) => text::render(&report, &stats, &ctx, threads, &mut out),
        (false, OutputFormat::Json) => json::render(&report, &stats, &ctx, threads, &mut out),
        (false, OutputFormat::Csv) => csv::render(&report, &ctx, threads, &mut out),
    };
    written
        .and_then(|()| out.flush())
        .map_err(ReportError::Write)?;
    Ok(stats)
}

/// Reads one run of same-format inputs into the builder.
#[allow(clippy::too_many_arguments)]
fn read_run(
    format: Format,
    files: Vec<input::Opened>,
    host: &str,
    opts: input::ReadOpts,
    builder: &mut Builder,
    stats: &mut Stats,
    progress: &mut progress::Progress,
    warn: &mut dyn Write,
) -> Result<(), ReportError> {
    let gzip: Vec<bool> = files.iter().map(|o| o.gzip).collect();
    let names = files
        .iter()
        .map(|o| o.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut n = 0u32;
    let bad_before = stats.bad_lines;
    let mut bad_lines: Vec<source::BadLine> = Vec::new();
    let end = input::read_stream(format, files, host, opts, &mut |item| {
        match item {
            Ok(ev) => builder.add(ev),
            // Located once the stream is read (the map is complete then);
            // warnings keep their order.
            Err(bad) => bad_lines.push(bad),
        }
        n = n.wrapping_add(1);
        if n.is_multiple_of(8192) {
            progress.tick();
        }
    });
    let map = &end.map;
    for mut bad in bad_lines {
        if map.is_cut(bad.line) {
            stats.incomplete_events += 1;
            if stats.incomplete_at.len() < stats::MAX_SAMPLES {
                stats.incomplete_at.push(map.at(bad.line).to_string());
            }
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
    stats.incomplete_events += end.incomplete;
    stats.unreadable_auid += end.unreadable_auid;
    if let (None, Some((t, serial))) = (&stats.unreadable_auid_at, end.unreadable_auid_first) {
        stats.unreadable_auid_at = Some(format!(
            "audit({}.{:03}:{serial})",
            t.secs(),
            t.subsec_nanos() / 1_000_000
        ));
    }
    let room = stats::MAX_SAMPLES.saturating_sub(stats.incomplete_at.len());
    stats.incomplete_at.extend(
        end.incomplete_lines
            .iter()
            .take(room)
            .map(|&l| map.at(l).to_string()),
    );
    if let Some(e) = end.error {
        let file = map.last_file();
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
    let mut lines_read = 0u64;
    for ((name, lines), gz) in map.per_file().into_iter().zip(gzip) {
        lines_read += lines;
        stats.inputs.push(InputStats {
            name,
            format: format.as_str().into(),
            gzip: gz,
            lines,
        });
    }
    // Every line malformed, not merely no event (a log of file watches, or
    // one cut in its only line, is read and reported empty).
    let bad = stats.bad_lines - bad_before;
    if bad > 0 && bad >= lines_read {
        warn_totals(stats, warn);
        return Err(ReportError::NothingReadable { files: names, bad });
    }
    Ok(())
}

fn warn_totals(stats: &Stats, warn: &mut dyn Write) {
    if stats.unreadable_auid > 0 {
        let _ = writeln!(
            warn,
            "tracer: warning: {} exec event(s) have an auid that is not a number (the first: {}): an \
             interpreted log, as `ausearch -i` or a converter writes names for ids? Their commands are listed \
             as unattributed; tracer reads audit.log as auditd writes it (RAW or ENRICHED)",
            stats.unreadable_auid,
            stats.unreadable_auid_at.as_deref().unwrap_or("?")
        );
    }
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
        for at in &stats.incomplete_at {
            let _ = writeln!(
                warn,
                "tracer: warning: {}: an event begins here and its file ends before it does",
                quote::sanitize_str(at)
            );
        }
    }
    if stats.counts.loss_records > 0 {
        let _ = writeln!(
            warn,
            "tracer: warning: the log records {} lost event(s) in {} loss record(s): this report is incomplete",
            stats.counts.lost_events, stats.counts.loss_records
        );
    }
}
