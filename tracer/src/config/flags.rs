//! The command-line half of the configuration, as plain values (ripgrep's
//! "low-level args"): what `tracer run`'s flags say, before anything is
//! checked. The CLI fills a [`Flags`]; [`Flags::merge`] lays it over the file
//! and records which keys each flag set, so that a problem found by the one
//! check names the flag that caused it. `config` knows nothing of clap.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{value::Size, Backend, Config};
use crate::source::ebpf::filter::parse_range;

/// `tracer run`'s configuration flags (`None`, `false`, empty: not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub backend: Option<Backend>,
    /// `-` means standard output.
    pub output: Option<PathBuf>,
    pub argv_limit: Option<u32>,
    pub ring_size: Option<u32>,
    pub poll_ms: Option<u64>,
    pub no_proc_scan: bool,
    pub status_file: Option<PathBuf>,
    pub chain_key: Option<PathBuf>,
    /// Audit backend: register as the audit daemon. Flag only.
    pub audit_daemon: bool,
    pub exclude_unattributed: bool,
    /// Id ranges as typed (`1000-60000`), added to the file's lists.
    pub include_uid: Vec<String>,
    pub exclude_uid: Vec<String>,
    pub include_auid: Vec<String>,
    pub exclude_auid: Vec<String>,
    pub exclude_comm: Vec<String>,
    pub exclude_exe_prefix: Vec<String>,
    /// `tracer ship URL`.
    pub fleet_url: Option<String>,
    /// `tracer report --from URL`.
    pub report_from: Option<String>,
    /// `--credentials FILE` of `tracer ship` / `tracer report`.
    pub fleet_credentials: Option<PathBuf>,
    /// `--ca FILE` of `tracer ship` / `tracer report`.
    pub fleet_ca: Option<PathBuf>,
    /// `tracer ship --log FILE`: the log it ships.
    pub ship_log: Option<PathBuf>,
}

/// Which flags set each dotted key (a list key can be set by the file and
/// extended by a flag).
pub type FlagKeys = BTreeMap<String, Vec<&'static str>>;

impl Flags {
    /// Lays the flags over `c`. `from_file` says whether a file was read:
    /// without one and without `--output`, events go to standard output as an
    /// interactive `tracer run` always did. Returns the keys each flag set and
    /// the flag values that do not parse (`(key, flag, message)`).
    pub fn merge(
        &self,
        c: &mut Config,
        from_file: bool,
    ) -> (FlagKeys, Vec<(String, &'static str, String)>) {
        let mut keys = FlagKeys::new();
        let mut bad = Vec::new();
        let mut set = |key: &str, flag: &'static str| {
            keys.entry(key.to_string()).or_default().push(flag);
        };
        if let Some(b) = self.backend {
            c.capture.backend = b;
            set("capture.backend", "--backend");
        }
        match &self.output {
            Some(p) if p.as_os_str() == "-" => {
                c.log.enabled = false;
                c.log.stdout = true;
                set("log.enabled", "--output");
                set("log.stdout", "--output");
            }
            Some(p) => {
                c.log.enabled = true;
                c.log.stdout = false;
                c.log.file = absolute(p);
                c.log.dir_policy = crate::sink::file::DirPolicy::ExplicitOutput;
                set("log.enabled", "--output");
                set("log.stdout", "--output");
                set("log.file", "--output");
            }
            None if !from_file => {
                c.log.enabled = false;
                c.log.stdout = true;
            }
            None => {}
        }
        if let Some(v) = self.argv_limit {
            c.capture.argv_limit = v;
            set("capture.argv_limit", "--argv-limit");
        }
        if let Some(v) = self.ring_size {
            c.capture.ring_size = Size(v.into());
            set("capture.ring_size", "--ring-size");
        }
        if let Some(v) = self.poll_ms {
            c.capture.poll_ms = v;
            set("capture.poll_ms", "--poll-ms");
        }
        if self.no_proc_scan {
            c.capture.proc_scan = false;
            set("capture.proc_scan", "--no-proc-scan");
        }
        if let Some(p) = &self.status_file {
            // Not made absolute: the daemon may chdir, and a relative state
            // file is refused by the check, naming this flag.
            c.daemon.status_file = p.clone();
            set("daemon.status_file", "--status-file");
        }
        if let Some(p) = &self.chain_key {
            c.log.chain_key = absolute(p);
            set("log.chain_key", "--chain-key");
        }
        if let Some(u) = &self.fleet_url {
            c.fleet.url = Some(u.clone());
            set("fleet.url", "URL");
        }
        if let Some(u) = &self.report_from {
            c.fleet.report_from = Some(u.clone());
            set("fleet.report_from", "--from");
        }
        if let Some(p) = &self.fleet_credentials {
            c.fleet.credentials = Some(absolute(p));
            set("fleet.credentials", "--credentials");
        }
        if let Some(p) = &self.fleet_ca {
            c.fleet.ca = Some(absolute(p));
            set("fleet.ca", "--ca");
        }
        if let Some(p) = &self.ship_log {
            c.log.file = absolute(p);
            set("log.file", "--log");
        }
        let f = &mut c.filter;
        if self.exclude_unattributed {
            f.exclude_unattributed = true;
            set("filter.exclude_unattributed", "--exclude-unattributed");
        }
        for (key, flag, list, given) in [
            (
                "filter.include_uids",
                "--include-uid",
                &mut f.include_uids,
                &self.include_uid,
            ),
            (
                "filter.exclude_uids",
                "--exclude-uid",
                &mut f.exclude_uids,
                &self.exclude_uid,
            ),
            (
                "filter.include_auids",
                "--include-auid",
                &mut f.include_auids,
                &self.include_auid,
            ),
            (
                "filter.exclude_auids",
                "--exclude-auid",
                &mut f.exclude_auids,
                &self.exclude_auid,
            ),
        ] {
            for r in given {
                match parse_range(r) {
                    Ok(r) => list.push(r),
                    Err(e) => bad.push((key.to_string(), flag, e.to_string())),
                }
            }
            if !given.is_empty() {
                set(key, flag);
            }
        }
        for (key, flag, list, given) in [
            (
                "filter.exclude_comms",
                "--exclude-comm",
                &mut f.exclude_comms,
                &self.exclude_comm,
            ),
            (
                "filter.exclude_exe_prefixes",
                "--exclude-exe-prefix",
                &mut f.exclude_exe_prefixes,
                &self.exclude_exe_prefix,
            ),
        ] {
            list.extend(given.iter().cloned());
            if !given.is_empty() {
                set(key, flag);
            }
        }
        (keys, bad)
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}
