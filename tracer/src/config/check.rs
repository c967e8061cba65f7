//! The one check of a configuration: every rule that needs more than a
//! value's type, run once on the merged result (file and flags), reporting
//! every problem rather than the first. The kernel-side limits come from
//! `tracer_common::config` (through [`FilterSpec::problems`] and its
//! `*_ok` functions), so that nothing here restates a limit the eBPF maps set.
//!
//! [`FilterSpec::problems`]: crate::source::ebpf::filter::FilterSpec::problems

use tracer_common::config::{argv_limit_ok, ring_bytes_ok, RING_BYTES_MAX, RING_BYTES_MIN};
use tracer_common::event::ARGV_CAP;

use super::{value::Size, Config, FlushMode};

/// The timed drain of the ring buffer: at least this often, in ms.
pub const POLL_MS_MAX: u64 = 10_000;
/// The longest cross-check window, in seconds: an exec waits this long in
/// memory for its other copy.
pub const CROSSCHECK_WINDOW_MAX: u64 = 300;
/// RFC 5424's APP-NAME: 1 to 48 printable ASCII characters.
pub const APP_NAME_MAX: usize = 48;
/// Below this a syslog message cannot hold a record's header.
pub const SYSLOG_MESSAGE_MIN: u64 = 1024;

/// A problem: the dotted key and what is wrong with its value.
pub type Found = (String, String);

/// Every problem of `c`, in key order of the file's sections.
pub fn problems(c: &Config) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    let mut bad = |key: &str, msg: String| out.push((key.to_string(), msg));

    let cap = &c.capture;
    if !argv_limit_ok(cap.argv_limit) {
        bad(
            "capture.argv_limit",
            format!("{} is not between 1 and {ARGV_CAP}", cap.argv_limit),
        );
    }
    if !ring_bytes_ok(cap.ring_size.0) {
        bad(
            "capture.ring_size",
            format!(
                "{} is not a power of two between {} and {}",
                cap.ring_size,
                Size(RING_BYTES_MIN.into()),
                Size(RING_BYTES_MAX.into())
            ),
        );
    }
    if cap.poll_ms == 0 || cap.poll_ms > POLL_MS_MAX {
        bad(
            "capture.poll_ms",
            format!("{} is not between 1 and {POLL_MS_MAX}", cap.poll_ms),
        );
    }

    let l = &c.log;
    if l.enabled && !l.file.is_absolute() {
        bad(
            "log.file",
            format!("{} is not an absolute path", l.file.display()),
        );
    }
    if !l.enabled && !l.stdout && !c.syslog.enabled {
        bad(
            "log.enabled",
            "no output: enable the log file, log.stdout or syslog".into(),
        );
    }
    if l.max_size.0 != 0 && l.num_logs == 0 {
        bad(
            "log.num_logs",
            "must be at least 1 when max_size is set".into(),
        );
    }
    if l.flush == FlushMode::Incremental && l.freq == 0 {
        bad(
            "log.freq",
            "must be at least 1 with flush = \"incremental\"".into(),
        );
    }
    if let Some(g) = &l.group {
        if crate::sink::file::group_id(g).is_none() {
            bad("log.group", format!("no such group: {g:?}"));
        }
    }
    if l.enabled && l.chain && !l.chain_key.is_absolute() {
        bad(
            "log.chain_key",
            format!("{} is not an absolute path", l.chain_key.display()),
        );
    }

    let s = &c.syslog;
    if s.app_name.is_empty()
        || s.app_name.len() > APP_NAME_MAX
        || !s.app_name.bytes().all(|b| (33..=126).contains(&b))
    {
        bad(
            "syslog.app_name",
            format!("must be 1 to {APP_NAME_MAX} printable ASCII characters without spaces"),
        );
    }
    if s.max_message.0 < SYSLOG_MESSAGE_MIN {
        bad(
            "syslog.max_message",
            format!("must be at least {}", Size(SYSLOG_MESSAGE_MIN)),
        );
    }

    let d = &c.daemon;
    if !d.status_file.as_os_str().is_empty() && !d.status_file.is_absolute() {
        bad(
            "daemon.status_file",
            format!(
                "{} is not an absolute path (or \"\" for none)",
                d.status_file.display()
            ),
        );
    }

    let w = c.crosscheck.window.0;
    if w == 0 || w > CROSSCHECK_WINDOW_MAX {
        bad(
            "crosscheck.window",
            format!(
                "{} is not between 1s and {CROSSCHECK_WINDOW_MAX}s",
                c.crosscheck.window
            ),
        );
    }

    for (field, msg) in c.filter.problems() {
        bad(&format!("filter.{field}"), msg);
    }

    let f = &c.fleet;
    for (key, url) in [("fleet.url", &f.url), ("fleet.report_from", &f.report_from)] {
        if let Some(Err(e)) = url.as_deref().map(crate::fleet::url::Endpoint::parse) {
            bad(key, e.to_string());
        }
    }
    for (key, path) in [("fleet.credentials", &f.credentials), ("fleet.ca", &f.ca)] {
        if let Some(p) = path.as_deref().filter(|p| !p.is_absolute()) {
            bad(key, format!("{} is not an absolute path", p.display()));
        }
    }
    out
}
