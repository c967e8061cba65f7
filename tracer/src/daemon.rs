//! What makes `tracer run` a service, kept out of `run.rs`'s capture loop:
//! heartbeats, the status file, configuration reload (SIGHUP) and the
//! capability drop. `run` calls [`Daemon::tick`] once a second,
//! [`Daemon::reload`] on SIGHUP and [`Daemon::stopped`] at the end.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::caps;
use crate::config::{self, Config, Overrides};
use crate::event::{Event, Timestamp, TracerStatus};
use crate::sink::Sinks;
use crate::status::{self, Rate, Status};

pub struct Daemon {
    cfg: Config,
    config_path: Option<PathBuf>,
    /// Whether a configuration file was read at start (see [`Overrides::apply`]).
    from_file: bool,
    overrides: Overrides,
    host: String,
    backend: String,
    started: Timestamp,
    last_heartbeat: Instant,
    rate: Rate,
    status_error_logged: bool,
}

impl Daemon {
    pub fn new(
        cfg: Config,
        config_path: Option<PathBuf>,
        overrides: Overrides,
        host: &str,
        backend: &str,
    ) -> Self {
        Self {
            cfg,
            from_file: config_path.is_some(),
            config_path,
            overrides,
            host: host.to_string(),
            backend: backend.to_string(),
            started: Timestamp::now(),
            last_heartbeat: Instant::now(),
            rate: Rate::new(Duration::from_secs(10)),
            status_error_logged: false,
        }
    }

    fn record(&self, status: TracerStatus, detail: serde_json::Value) -> Event {
        Event::tracer(&self.host, status, detail)
    }

    /// Drops the capabilities the rest of the run does not need; says so in a
    /// record (or why not).
    pub fn drop_capabilities(&self, audit_backend: bool) -> Option<Event> {
        if !self.cfg.daemon.drop_capabilities {
            return None;
        }
        let keep = caps::runtime_needs(audit_backend);
        Some(match caps::keep_only(&keep) {
            Ok(kept) => {
                log::info!("capabilities dropped; kept: {:?}", caps::names(kept));
                self.record(
                    TracerStatus::Capabilities,
                    serde_json::json!({"kept": caps::names(kept)}),
                )
            }
            Err(e) => {
                log::error!("dropping capabilities: {e}");
                self.record(
                    TracerStatus::Capabilities,
                    serde_json::json!({"error": e.to_string()}),
                )
            }
        })
    }

    /// Once a second: the status file; a heartbeat record when one is due.
    pub fn tick(&mut self, sinks: &Sinks, out: &mut Vec<Event>) {
        let st = sinks.stats();
        let rate = self.rate.sample(Instant::now(), st.records);
        self.write_status(sinks, rate, true);
        let every = self.cfg.daemon.heartbeat.0;
        if every > 0 && self.last_heartbeat.elapsed() >= Duration::from_secs(every) {
            self.last_heartbeat = Instant::now();
            let up = (Timestamp::now().0 - self.started.0) / 1_000_000_000;
            out.push(self.record(
                TracerStatus::Heartbeat,
                serde_json::json!({
                    "uptime_s": up,
                    "records": st.records,
                    "execs": st.execs,
                    "events_per_sec": (rate * 10.0).round() / 10.0,
                    "losses": st.losses,
                }),
            ));
        }
    }

    /// The state file says the daemon stopped cleanly.
    pub fn stopped(&mut self, sinks: &Sinks) {
        self.write_status(sinks, 0.0, false);
    }

    fn write_status(&mut self, sinks: &Sinks, rate: f64, running: bool) {
        let path = &self.cfg.daemon.status_file;
        if path.as_os_str().is_empty() {
            return;
        }
        let st = sinks.stats();
        let s = Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            running,
            backend: self.backend.clone(),
            started: self.started,
            updated: Timestamp::now(),
            events_per_sec: (rate * 10.0).round() / 10.0,
            events_total: st.records,
            execs_total: st.execs,
            losses: st.losses,
            log_file: sinks.log_path(),
            syslog: sinks.syslog_target(),
            config: self.config_path.clone(),
        };
        match status::write(path, &s) {
            Ok(()) => self.status_error_logged = false,
            Err(e) if !self.status_error_logged => {
                log::warn!("{e}");
                self.status_error_logged = true;
            }
            Err(_) => {}
        }
    }

    /// SIGHUP: re-reads the configuration file and applies what can change
    /// at run time; the record says what was applied and what needs a restart.
    pub fn reload(&mut self, sinks: &mut Sinks) -> Event {
        let loaded = match config::load(self.config_path.as_deref()) {
            Ok(l) => l,
            Err(e) => {
                log::error!("reload: {e}; keeping the running configuration");
                return self.record(
                    TracerStatus::ReloadFailed,
                    serde_json::json!({"error": e.to_string()}),
                );
            }
        };
        let mut new = loaded.config;
        self.overrides.apply(&mut new, self.from_file);
        let changed = changed_keys(&self.cfg, &new);
        let (now, later): (Vec<String>, Vec<String>) =
            changed.into_iter().partition(|k| reloadable(k));
        let mut applied = self.cfg.clone();
        applied.log.max_size = new.log.max_size;
        applied.log.num_logs = new.log.num_logs;
        applied.log.max_age = new.log.max_age;
        applied.log.flush = new.log.flush;
        applied.log.freq = new.log.freq;
        applied.log.space_left = new.log.space_left;
        applied.log.space_left_action = new.log.space_left_action;
        applied.log.admin_space_left = new.log.admin_space_left;
        applied.log.admin_space_left_action = new.log.admin_space_left_action;
        applied.log.disk_full_action = new.log.disk_full_action;
        applied.syslog = new.syslog.clone();
        applied.daemon.heartbeat = new.daemon.heartbeat;
        if let Err(e) = sinks.reconfigure(&applied) {
            log::error!("reload: {e}");
            return self.record(
                TracerStatus::ReloadFailed,
                serde_json::json!({"error": e.to_string()}),
            );
        }
        self.cfg = applied;
        log::info!("configuration reloaded; applied {now:?}; needing a restart {later:?}");
        self.record(
            TracerStatus::Reload,
            serde_json::json!({
                "config": self.config_path,
                "reloaded": now,
                "needs_restart": later,
            }),
        )
    }
}

/// Keys that take effect on SIGHUP.
pub fn reloadable(key: &str) -> bool {
    const NOW: &[&str] = &[
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
        "daemon.heartbeat",
    ];
    NOW.contains(&key) || key.starts_with("syslog.")
}

/// Dotted keys whose values differ between two configurations.
pub fn changed_keys(a: &Config, b: &Config) -> Vec<String> {
    fn flat(prefix: &str, v: toml::Value, out: &mut BTreeMap<String, toml::Value>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = if prefix.is_empty() {
                        k
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flat(&key, v, out);
                }
            }
            v => {
                out.insert(prefix.to_string(), v);
            }
        }
    }
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flat(
        "",
        toml::Value::try_from(a).expect("config to toml"),
        &mut fa,
    );
    flat(
        "",
        toml::Value::try_from(b).expect("config to toml"),
        &mut fb,
    );
    let mut keys: Vec<String> = fa.keys().chain(fb.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| fa.get(k) != fb.get(k));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_are_classified() {
        let a = Config::default();
        let mut b = a.clone();
        b.log.max_size = config::Size(1 << 20);
        b.capture.ring_size = config::Size(1 << 16);
        b.syslog.enabled = true;
        b.log.group = Some("adm".into());
        let k = changed_keys(&a, &b);
        assert_eq!(
            k,
            vec![
                "capture.ring_size",
                "log.group",
                "log.max_size",
                "syslog.enabled"
            ]
        );
        let (now, later): (Vec<_>, Vec<_>) = k.iter().partition(|k| reloadable(k));
        assert_eq!(now, vec!["log.max_size", "syslog.enabled"]);
        assert_eq!(later, vec!["capture.ring_size", "log.group"]);
    }
}
