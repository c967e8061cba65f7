//! What makes `tracer run` a service, kept out of `run.rs`'s capture loop:
//! heartbeats, the status file, configuration reload (SIGHUP) and the
//! capability drop. `run` calls [`Daemon::tick`] once a second,
//! [`Daemon::reload`] on SIGHUP and [`Daemon::stopped`] at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::caps;
use crate::config::{self, Config, Flags, Settings};
use crate::event::{Event, Timestamp, TracerStatus};
use crate::sink::Sinks;
use crate::status::{self, Rate, Status};

pub struct Daemon {
    /// The running configuration (what a reload compares against).
    cfg: Config,
    /// Resolved again, exactly as at start, on SIGHUP.
    config_path: Option<PathBuf>,
    flags: Flags,
    host: String,
    backend: String,
    started: Timestamp,
    last_heartbeat: Instant,
    rate: Rate,
    status_error_logged: bool,
}

impl Daemon {
    pub fn new(settings: &Settings, host: &str, backend: &str) -> Self {
        Self {
            cfg: settings.config.clone(),
            config_path: settings.path.clone(),
            flags: settings.flags.clone(),
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

    /// The running configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// SIGHUP: resolves the configuration again (the file, the same flags,
    /// the same check) and applies the keys that can change live; every other
    /// changed key keeps its running value, with a log line saying so. A
    /// configuration that does not resolve changes nothing. The record says
    /// what was applied and what needs a restart.
    pub fn reload(&mut self, sinks: &mut Sinks) -> Event {
        let new = match config::resolve(self.config_path.as_deref(), &self.flags) {
            Ok(s) => s,
            Err(e) => {
                let e = e.to_string().replace('\n', "; ");
                log::error!("reload: {e}; keeping the running configuration");
                return self.record(TracerStatus::ReloadFailed, serde_json::json!({"error": e}));
            }
        };
        let plan = match config::reload::plan(&self.cfg, &new.config) {
            Ok(p) => p,
            Err(e) => {
                log::error!("reload: {e}; keeping the running configuration");
                return self.record(TracerStatus::ReloadFailed, serde_json::json!({"error": e}));
            }
        };
        if let Err(e) = sinks.reconfigure(&plan.config) {
            log::error!("reload: {e}; keeping the running configuration");
            return self.record(
                TracerStatus::ReloadFailed,
                serde_json::json!({"error": e.to_string()}),
            );
        }
        for c in &plan.refused {
            log::warn!(
                "reload: {} cannot change while tracer runs; keeping {} (restart tracer to use {})",
                c.key,
                c.running,
                c.wanted
            );
        }
        if !plan.elsewhere.is_empty() {
            log::info!(
                "reload: {:?} changed: tracer run does not use them (tracer ship and tracer report read them when they start)",
                plan.elsewhere
            );
        }
        self.cfg = plan.config;
        let later: Vec<&str> = plan.refused.iter().map(|c| c.key.as_str()).collect();
        log::info!(
            "configuration reloaded; applied {:?}; needing a restart {later:?}",
            plan.applied
        );
        self.record(
            TracerStatus::Reload,
            serde_json::json!({
                "config": self.config_path,
                "reloaded": plan.applied,
                "needs_restart": later,
                "for_other_commands": plan.elsewhere,
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Flags, Size};

    fn write(p: &std::path::Path, text: &str) {
        std::fs::write(p, text).unwrap();
    }

    /// A reload that changes a live key (applied) and a key that cannot
    /// change while running (refused, old value kept), then one that does
    /// not resolve (nothing changes). No kernel needed: the sinks are the
    /// log file in a temporary directory.
    #[test]
    fn reload_applies_live_keys_and_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("tracer.toml");
        let base = format!(
            "[log]\nfile = \"{}\"\nchain = false\n[daemon]\nstatus_file = \"\"\n",
            dir.path().join("logs/tracer.log").display()
        );
        write(&cfg, &base);
        let flags = Flags {
            argv_limit: Some(4096),
            ..Default::default()
        };
        let settings = config::resolve(Some(&cfg), &flags).unwrap();
        let mut sinks = Sinks::open(&settings.config, "h").unwrap();
        let mut d = Daemon::new(&settings, "h", "audit");

        write(
            &cfg,
            &(base.replace("chain = false\n", "chain = false\nmax_size = \"1M\"\n")
                + "heartbeat = 7\n[capture]\nring_size = \"8M\"\n"),
        );
        let r = d.reload(&mut sinks);
        let detail =
            serde_json::from_str::<serde_json::Value>(&r.to_json()).unwrap()["detail"].clone();
        assert_eq!(detail["status"], "reload", "{detail}");
        assert_eq!(
            detail["reloaded"],
            serde_json::json!(["daemon.heartbeat", "log.max_size"])
        );
        assert_eq!(
            detail["needs_restart"],
            serde_json::json!(["capture.ring_size"])
        );
        assert_eq!(d.config().log.max_size, Size(1 << 20), "applied");
        assert_eq!(d.config().daemon.heartbeat, config::Secs(7), "applied");
        assert_eq!(d.config().capture.ring_size, Size(32 << 20), "kept");
        assert_eq!(
            d.config().capture.argv_limit,
            4096,
            "the flag still applies"
        );

        // Broken: nothing applied, the running configuration is kept.
        write(
            &cfg,
            &base.replace("[daemon]", "[daemon]\nheartbeat = 9\nbogus = 1"),
        );
        let before = d.config().clone();
        let r = d.reload(&mut sinks);
        let detail =
            serde_json::from_str::<serde_json::Value>(&r.to_json()).unwrap()["detail"].clone();
        assert_eq!(detail["status"], "reload_failed");
        let err = detail["error"].as_str().unwrap();
        assert!(err.contains(":6: key `daemon.bogus`"), "{err}");
        assert_eq!(*d.config(), before);

        // The new file is checked as a whole: a relative status file is
        // refused.
        write(
            &cfg,
            &base.replace("status_file = \"\"", "status_file = \"rel/s.json\""),
        );
        let r = d.reload(&mut sinks);
        let detail =
            serde_json::from_str::<serde_json::Value>(&r.to_json()).unwrap()["detail"].clone();
        assert_eq!(detail["status"], "reload_failed");
        assert!(
            detail["error"]
                .as_str()
                .unwrap()
                .contains("key `daemon.status_file`"),
            "{detail}"
        );
        sinks.close().unwrap();
    }
}
