//! The live audit source of `tracer run --backend audit|both`: the netlink
//! receiver's raw records, parsed and coalesced into [`Event`]s.
//!
//! [`Event`]: crate::event::Event
//!
//! What it changes in the kernel, and gives back on stop: it enables audit
//! when it was disabled (records only flow while `enabled=1`), and adds
//! tracer's exec rules (`rules/tracer.rules`) that the kernel does not have
//! yet. A site that already runs auditd keeps its daemon, its rules and its
//! log: tracer only listens on the multicast read-log group unless asked to be
//! the audit daemon itself (`--audit-daemon`, refused while one is registered).
//!
//! Events come out as [`Coalesced`] (or anything `From<Coalesced>`, such as
//! [`Event`]): execs stay compact [`ExecRecord`]s for the daemon's hot path
//! (`Pipeline::audit_exec`), which writes them without an owned `Event`.
//!
//! [`ExecRecord`]: super::exec::ExecRecord

use std::time::Duration;

use tokio::sync::mpsc;

use super::coalesce::{Coalesced, Coalescer, CoalescerConfig};
use super::netlink::{AuditSocket, NetlinkError};
use super::parse::parse_body;
use super::receiver::{
    AuditLoss, AuditReceiver, Batch, ItemRef, ReceiveMode, ReceiverHandle, ReceiverOptions,
};
use super::rule_data::KernelRule;
use super::rules::{parse_rules, Directive, SHIPPED_RULES, SHIPPED_RULES_ORIGIN};
use super::status::EnabledGuard;
use crate::event::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AuditOptions {
    /// Register as the audit daemon (unicast) instead of listening beside one.
    pub daemon: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditStartError {
    #[error("audit netlink: {0}")]
    Netlink(#[from] NetlinkError),
    #[error("tracer's shipped audit rules do not parse: {0}")]
    Rules(#[from] super::rules::RuleError),
    #[error("starting the audit reader thread: {0}")]
    Thread(std::io::Error),
}

pub struct AuditLive {
    rx: mpsc::Receiver<Batch>,
    handle: Option<ReceiverHandle>,
    coalescer: Coalescer,
    host: String,
    enabled: Option<EnabledGuard>,
    added_rules: Vec<KernelRule>,
    parse_errors: u64,
}

impl AuditLive {
    pub fn start(host: String, opts: AuditOptions) -> Result<Self, AuditStartError> {
        let receiver = AuditReceiver::open(ReceiverOptions {
            mode: if opts.daemon {
                ReceiveMode::Daemon
            } else {
                ReceiveMode::Multicast
            },
            ..ReceiverOptions::default()
        })?;
        let enabled = EnabledGuard::set(1)?;
        if enabled.changed() {
            log::info!(
                "audit: enabled kernel audit (was {}); restored on exit",
                enabled.previous()
            );
        }
        let mut sock = AuditSocket::open()?;
        let mut added_rules = Vec::new();
        for d in parse_rules(SHIPPED_RULES, SHIPPED_RULES_ORIGIN)? {
            if let Directive::Add(rule) = d.directive {
                if sock.add_rule(&rule)? {
                    added_rules.push(*rule);
                }
            }
        }
        if !added_rules.is_empty() {
            log::info!(
                "audit: added {} exec rule(s); removed on exit",
                added_rules.len()
            );
        }
        let (rx, handle) = receiver.spawn().map_err(AuditStartError::Thread)?;
        Ok(Self {
            rx,
            handle: Some(handle),
            coalescer: Coalescer::new(CoalescerConfig {
                host: host.clone(),
                ..CoalescerConfig::default()
            }),
            host,
            enabled: Some(enabled),
            added_rules,
            parse_errors: 0,
        })
    }

    /// Waits for the next batch of records and turns it into events. Returns
    /// false when the receiver has stopped.
    pub async fn recv<O: From<Coalesced>>(&mut self, out: &mut Vec<O>) -> bool {
        let Some(batch) = self.rx.recv().await else {
            return false;
        };
        self.take(&batch, out);
        true
    }

    fn take<O: From<Coalesced>>(&mut self, batch: &Batch, out: &mut Vec<O>) {
        self.parse_errors += coalesce_batch(&mut self.coalescer, batch, &self.host, out);
    }

    /// Closes events whose records stopped coming (no EOE).
    pub fn tick<O: From<Coalesced>>(&mut self, out: &mut Vec<O>) {
        self.coalescer.expire(Timestamp::now(), out);
    }

    /// Stops the receiver, emits what is still buffered, and gives back what
    /// was changed in the kernel.
    pub fn stop<O: From<Coalesced>>(&mut self, out: &mut Vec<O>) {
        if let Some(h) = self.handle.take() {
            if let Err(e) = h.stop() {
                log::warn!("audit: stopping the receiver: {e}");
            }
        }
        // Records already received: let the channel drain.
        while let Ok(batch) = self.rx.try_recv() {
            self.take(&batch, out);
        }
        self.coalescer.flush(out);
        self.restore();
    }

    fn restore(&mut self) {
        if !self.added_rules.is_empty() {
            match AuditSocket::open() {
                Ok(mut sock) => {
                    for r in self.added_rules.drain(..) {
                        if let Err(e) = sock.del_rule(&r) {
                            log::warn!("audit: removing an exec rule tracer added: {e}");
                        }
                    }
                }
                Err(e) => log::warn!("audit: removing the exec rules tracer added: {e}"),
            }
        }
        if let Some(g) = self.enabled.take() {
            if let Err(e) = g.restore() {
                log::warn!("audit: restoring the enabled flag: {e}");
            }
        }
    }

    /// Whether nothing is waiting for us: the kernel's audit backlog is empty
    /// and no batch is queued in the channel. (No batch arrived recently can
    /// also mean kauditd is behind under load; the cross-check must not take
    /// that for idleness.)
    pub fn is_idle(&self) -> bool {
        self.rx.is_empty() && super::status::AuditStatus::get().is_ok_and(|s| s.backlog == 0)
    }

    pub fn parse_errors(&self) -> u64 {
        self.parse_errors
    }
}

impl Drop for AuditLive {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            let _ = h.stop();
        }
        self.restore();
    }
}

/// Parses and coalesces a batch, its records borrowed from it; returns how
/// many records did not parse (counted, logged at debug level, skipped).
pub fn coalesce_batch<O: From<Coalesced>>(
    coalescer: &mut Coalescer,
    batch: &Batch,
    host: &str,
    out: &mut Vec<O>,
) -> u64 {
    let mut bad = 0;
    for item in batch.iter() {
        match item {
            ItemRef::Record { msg_type, body } => match parse_body(msg_type, body) {
                Ok(rec) => coalescer.push(&rec, out),
                Err(e) => {
                    bad += 1;
                    log::debug!("audit: unparsable record type {msg_type}: {e}");
                }
            },
            ItemRef::Loss(l) => out.push(loss(l, host)),
        }
    }
    bad
}

fn loss<O: From<Coalesced>>(l: &AuditLoss, host: &str) -> O {
    O::from(Coalesced::Event(Box::new(l.to_event(host))))
}

/// How long to wait for the audit receiver between ticks.
pub const RECV_TIMEOUT: Duration = Duration::from_millis(100);
