//! What a SIGHUP may change in a running tracer. The reload resolves the
//! configuration again exactly as at start ([`super::resolve`], same flags),
//! then [`plan`] compares it with the running one key by key: keys in
//! [`LIVE`] take their new value, every other changed key keeps its running
//! value and is reported as needing a restart. [`LIVE`] is the only list: the
//! new configuration is built from the keys' values, not field by field.

use std::collections::BTreeMap;

use super::Config;

/// Keys (or whole sections, ending in `.`) that can change while tracer runs:
/// the sinks re-read them (`Sinks::reconfigure`) and the daemon reads
/// `daemon.heartbeat` at every tick. The log file's path, group and chain,
/// the capture backend and its limits, the kernel filters (frozen in the
/// programs' maps) and the status file are fixed for the run.
pub const LIVE: &[&str] = &[
    "log.max_size",
    "log.num_logs",
    "log.max_age",
    "log.flush",
    "log.freq",
    "log.space_left",
    "log.space_left_action",
    "log.admin_space_left",
    "log.admin_space_left_action",
    "log.disk_full_action",
    "syslog.",
    "daemon.heartbeat",
];

/// Keys (or sections) that `tracer run` never reads: `tracer ship` and
/// `tracer report` read them when they start. A change takes effect at their
/// next start, never needs a restart of `tracer run`, and is taken into the
/// running configuration so that `tracer status` shows the file's value.
pub const OTHER_COMMANDS: &[&str] = &["fleet."];

fn matches_any(list: &[&str], key: &str) -> bool {
    list.iter().any(|l| match l.strip_suffix('.') {
        Some(section) => key
            .strip_prefix(section)
            .is_some_and(|r| r.starts_with('.')),
        None => key == *l,
    })
}

/// Whether `key` can change while tracer runs.
pub fn is_live(key: &str) -> bool {
    matches_any(LIVE, key)
}

/// Whether `key` is read by other commands only ([`OTHER_COMMANDS`]).
pub fn is_for_other_commands(key: &str) -> bool {
    matches_any(OTHER_COMMANDS, key)
}

/// The outcome of comparing a newly resolved configuration with the running one.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The configuration to run with: the running one with the live changes.
    pub config: Config,
    /// Changed keys that take effect now.
    pub applied: Vec<String>,
    /// Changed keys that keep their running value until a restart.
    pub refused: Vec<Change>,
    /// Changed keys that only other commands read ([`OTHER_COMMANDS`]).
    pub elsewhere: Vec<String>,
}

/// A changed key that cannot change live.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    /// The value kept, and the one asked for (TOML; `none` when unset).
    pub running: String,
    pub wanted: String,
}

/// Applies the live keys of `new` to `running`. Fails (and nothing is
/// applied) only if the result does not read back as a configuration, which
/// would be a bug in a value type's printing.
pub fn plan(running: &Config, new: &Config) -> Result<Plan, String> {
    let old = flatten(running);
    let want = flatten(new);
    let mut keys: Vec<&String> = old.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut applied = Vec::new();
    let mut refused = Vec::new();
    let mut elsewhere = Vec::new();
    let mut table = toml::Value::try_from(running).expect("the configuration serializes");
    for key in keys {
        let (a, b) = (old.get(key), want.get(key));
        if a == b {
            continue;
        }
        if is_live(key) {
            set(&mut table, key, b.cloned());
            applied.push(key.clone());
        } else if is_for_other_commands(key) {
            set(&mut table, key, b.cloned());
            elsewhere.push(key.clone());
        } else {
            let show = |v: Option<&toml::Value>| v.map_or("none".to_string(), |v| v.to_string());
            refused.push(Change {
                key: key.clone(),
                running: show(a),
                wanted: show(b),
            });
        }
    }
    let mut config: Config = if applied.is_empty() && elsewhere.is_empty() {
        running.clone()
    } else {
        table
            .try_into()
            .map_err(|e| format!("applying {applied:?} {elsewhere:?}: {e}"))?
    };
    // Not file keys (set by flags, which a reload does not change).
    config.log.dir_policy = running.log.dir_policy;
    Ok(Plan {
        config,
        applied,
        refused,
        elsewhere,
    })
}

/// Dotted keys and their values.
fn flatten(c: &Config) -> BTreeMap<String, toml::Value> {
    fn walk(prefix: &str, v: toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            v => {
                out.insert(prefix.to_string(), v);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        "",
        toml::Value::try_from(c).expect("the configuration serializes"),
        &mut out,
    );
    out
}

/// Sets (or, with `None`, removes) dotted `key` in `table`.
fn set(table: &mut toml::Value, key: &str, v: Option<toml::Value>) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut t = table;
    for p in parts {
        let Some(tt) = t.as_table_mut() else { return };
        t = tt
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    if let Some(tt) = t.as_table_mut() {
        match v {
            Some(v) => {
                tt.insert(last.to_string(), v);
            }
            None => {
                tt.remove(last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Size, SyslogTarget};

    #[test]
    fn live_keys_apply_and_the_others_are_refused_with_both_values() {
        let a = Config::default();
        let mut b = a.clone();
        b.log.max_size = Size(1 << 20);
        b.capture.ring_size = Size(1 << 16);
        b.syslog.enabled = true;
        b.syslog.target = SyslogTarget::Udp("127.0.0.1:514".into());
        b.log.group = Some("adm".into());
        let p = plan(&a, &b).unwrap();
        assert_eq!(
            p.applied,
            vec!["log.max_size", "syslog.enabled", "syslog.target"]
        );
        let refused: Vec<&str> = p.refused.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(refused, vec!["capture.ring_size", "log.group"]);
        assert_eq!(p.refused[0].running, "\"32M\"");
        assert_eq!(p.refused[0].wanted, "\"64K\"");
        assert_eq!(p.refused[1].running, "none");
        assert_eq!(p.config.log.max_size, Size(1 << 20));
        assert!(p.config.syslog.enabled);
        assert_eq!(p.config.capture.ring_size, a.capture.ring_size, "kept");
        assert_eq!(p.config.log.group, None, "kept");
    }

    #[test]
    fn fleet_keys_are_for_other_commands() {
        let a = Config::default();
        let mut b = a.clone();
        b.fleet.url = Some("clickhouse://127.0.0.1:8123/tracer".into());
        b.fleet.report_from = b.fleet.url.clone();
        let p = plan(&a, &b).unwrap();
        assert!(p.applied.is_empty() && p.refused.is_empty(), "{p:?}");
        assert_eq!(p.elsewhere, vec!["fleet.report_from", "fleet.url"]);
        assert_eq!(p.config.fleet.url, b.fleet.url, "taken");
        assert!(is_for_other_commands("fleet.ca") && !is_for_other_commands("fleetx.ca"));
    }

    #[test]
    fn nothing_changed_is_nothing_applied() {
        let a = Config::default();
        let p = plan(&a, &a).unwrap();
        assert!(p.applied.is_empty() && p.refused.is_empty() && p.elsewhere.is_empty());
        assert_eq!(p.config, a);
    }

    #[test]
    fn sections_match_whole_names_only() {
        assert!(is_live("syslog.app_name"));
        assert!(!is_live("syslogx.app_name"));
        assert!(!is_live("syslog"));
        assert!(is_live("log.freq") && !is_live("log.file"));
    }
}
