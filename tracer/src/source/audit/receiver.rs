//! Live audit records from the kernel, as raw `(type, body)` pairs and
//! counted losses, for `super::coalesce` to turn into events.
//!
//! Two ways to receive ([`ReceiveMode`]):
//! - **Multicast** (default): join `AUDIT_NLGRP_READLOG` (CAP_AUDIT_READ).
//!   A running auditd keeps its place and its log; tracer reads a copy.
//!   Records flow only while the kernel's `enabled` flag is 1; the receiver
//!   never changes it (see [`super::status::EnabledGuard`]).
//! - **Daemon**: register as the audit daemon (`AUDIT_SET` pid), only when
//!   none is registered or the registered one is dead, and give the pid back
//!   on drop. For machines without auditd, where the unicast path is more
//!   reliable (the kernel queues and retries for its daemon).
//!
//! Losses are counted, never fatal: a socket overrun (`ENOBUFS`) yields a
//! [`AuditLoss`] of unknown size; an increase of the kernel's `lost` counter
//! (polled every second) yields one with the increase. Note that the counter
//! is machine-wide and also counts drops that only hurt the unicast daemon.
//!
//! Tokio: [`AuditReceiver::spawn`] runs a dedicated blocking thread that
//! drains the socket and sends [`Batch`]es over a bounded `tokio::sync::mpsc`
//! channel. Per wake-up it waits for the socket to be readable, lets records
//! gather for [`ReceiverOptions::linger`] (one exec is ~7 records: without
//! it, each record or two cost a wake-up of this thread and of the daemon's
//! runtime, a batch and a write(2): issue 13), then takes everything queued
//! with `recvmmsg(2)`, [`RECV_MANY`] datagrams per call, into one buffer per
//! batch (no allocation per record). It does not linger while behind (the
//! last drain stopped at [`ReceiverOptions::batch_max`]). A thread rather than `AsyncFd`: draining promptly is what keeps
//! the socket from overrunning, and a thread is not delayed by whatever the
//! runtime's workers are busy with (sinks, JSON). If the consumer falls
//! behind, the channel fills, the thread blocks, the socket overruns and the
//! gap is counted, which is the honest outcome.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netlink_packet_audit::StatusMessage;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::netlink::{
    is_overrun, is_record_type, messages, AuditSocket, NetlinkError, RecvMany, RECV_MANY,
};
use super::status::{AuditStatus, AUDIT_STATUS_PID};
use crate::event::{Event, LossCause, Source, Timestamp};

/// Loss cause for a receive-buffer overrun.
pub const CAUSE_OVERRUN: LossCause = LossCause::SocketOverrun;
/// Loss cause for an increase of the kernel's `lost` counter.
pub const CAUSE_KERNEL_LOST: LossCause = LossCause::KernelBacklog;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReceiveMode {
    #[default]
    Multicast,
    Daemon,
}

#[derive(Debug, Clone)]
pub struct ReceiverOptions {
    pub mode: ReceiveMode,
    /// Receive buffer to ask for (`SO_RCVBUFFORCE`, else `SO_RCVBUF`).
    pub rcvbuf_bytes: usize,
    /// How often to compare the kernel's `lost` counter.
    pub lost_poll: Duration,
    /// Most items per batch.
    pub batch_max: usize,
    /// How long to let records gather once the socket is readable, before
    /// taking them all (bounds the added latency).
    pub linger: Duration,
    /// Batches the channel holds before the reader thread waits.
    pub channel_capacity: usize,
}

impl Default for ReceiverOptions {
    fn default() -> Self {
        Self {
            mode: ReceiveMode::Multicast,
            rcvbuf_bytes: 16 << 20,
            lost_poll: Duration::from_secs(1),
            batch_max: 2048,
            linger: Duration::from_millis(50),
            channel_capacity: 64,
        }
    }
}

/// One audit record: its type (1300 SYSCALL, 1309 EXECVE, 1320 EOE, ...)
/// and the text after the netlink header (`audit(1700000000.123:456): ...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub msg_type: u16,
    pub body: Vec<u8>,
}

/// Records that were lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLoss {
    pub time: Timestamp,
    /// `None` when the size of the gap is unknown (socket overrun).
    pub count: Option<u64>,
    pub cause: LossCause,
}

impl AuditLoss {
    /// The `loss` event for the log.
    pub fn to_event(&self, host: &str) -> Event {
        Event::loss(
            Source::Audit,
            self.time,
            host,
            self.count,
            self.cause.clone(),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditItem {
    Record(RawRecord),
    Loss(AuditLoss),
}

/// Items received together: record bodies in one buffer, in arrival order.
#[derive(Debug, Default)]
pub struct Batch {
    data: Vec<u8>,
    items: Vec<Slot>,
}

#[derive(Debug)]
enum Slot {
    Record {
        msg_type: u16,
        start: usize,
        end: usize,
    },
    Loss(AuditLoss),
}

/// One item of a [`Batch`], borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemRef<'a> {
    Record { msg_type: u16, body: &'a [u8] },
    Loss(&'a AuditLoss),
}

impl Batch {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn push_record(&mut self, msg_type: u16, body: &[u8]) {
        let start = self.data.len();
        self.data.extend_from_slice(body);
        self.items.push(Slot::Record {
            msg_type,
            start,
            end: self.data.len(),
        });
    }

    pub fn push_loss(&mut self, loss: AuditLoss) {
        self.items.push(Slot::Loss(loss));
    }

    /// The items, in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = ItemRef<'_>> + '_ {
        self.items.iter().map(|s| match s {
            Slot::Record {
                msg_type,
                start,
                end,
            } => ItemRef::Record {
                msg_type: *msg_type,
                body: &self.data[*start..*end],
            },
            Slot::Loss(l) => ItemRef::Loss(l),
        })
    }

    /// The items as owned values.
    pub fn into_items(self) -> Vec<AuditItem> {
        self.iter()
            .map(|i| match i {
                ItemRef::Record { msg_type, body } => AuditItem::Record(RawRecord {
                    msg_type,
                    body: body.to_vec(),
                }),
                ItemRef::Loss(l) => AuditItem::Loss(l.clone()),
            })
            .collect()
    }

    /// Adds the messages of one datagram (records, overrun notices).
    pub fn push_datagram(&mut self, data: &[u8]) {
        for m in messages(data) {
            if is_record_type(m.msg_type) {
                self.push_record(m.msg_type, m.payload);
            } else if is_overrun(&m) {
                self.push_loss(overrun());
            } else {
                // Acks, NLMSG_DONE, stray replies: not records.
                log::trace!("audit: ignoring control message type {}", m.msg_type);
            }
        }
    }
}

/// A receiving audit socket, used directly (blocking) or via [`Self::spawn`].
pub struct AuditReceiver {
    sock: AuditSocket,
    control: AuditSocket,
    opts: ReceiverOptions,
    registered: bool,
    last_lost: u32,
    next_poll: Instant,
    rx: RecvMany,
    /// The last drain stopped at `batch_max`: more is queued.
    behind: bool,
}

impl AuditReceiver {
    pub fn open(opts: ReceiverOptions) -> Result<Self, NetlinkError> {
        let mut control = AuditSocket::open()?;
        let status = AuditStatus::from(control.get_status()?);
        let sock = AuditSocket::open()?;
        match sock.set_rcvbuf(opts.rcvbuf_bytes) {
            Ok(n) => log::debug!("audit socket receive buffer: {n} bytes"),
            Err(e) => log::warn!("can't grow the audit socket receive buffer: {e}"),
        }
        let mut me = Self {
            sock,
            control,
            registered: false,
            last_lost: status.lost,
            next_poll: Instant::now() + opts.lost_poll,
            opts,
            rx: RecvMany::default(),
            behind: false,
        };
        match me.opts.mode {
            ReceiveMode::Multicast => me.sock.join_readlog()?,
            ReceiveMode::Daemon => {
                if status.daemon_alive() {
                    return Err(NetlinkError::DaemonRegistered { pid: status.pid });
                }
                let mut s = StatusMessage::new();
                s.pid = std::process::id();
                match me.sock.set_status(s, AUDIT_STATUS_PID) {
                    Ok(()) => me.registered = true,
                    // The kernel refuses to replace a live daemon (EEXIST)
                    // even if one registered after our check.
                    Err(e) if e.errno() == Some(libc::EEXIST) => {
                        let pid = AuditStatus::get().map(|s| s.pid).unwrap_or(0);
                        return Err(NetlinkError::DaemonRegistered { pid });
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(me)
    }

    pub fn mode(&self) -> ReceiveMode {
        self.opts.mode
    }

    /// Wait up to `timeout` for records; returns as soon as some arrived
    /// (after [`ReceiverOptions::linger`], up to `batch_max` items), or an
    /// empty batch on timeout.
    pub fn recv_batch(&mut self, timeout: Duration) -> Result<Vec<AuditItem>, NetlinkError> {
        let mut batch = Batch::default();
        self.recv_into(&mut batch, timeout)?;
        Ok(batch.into_items())
    }

    /// [`Self::recv_batch`] into `batch` (appended), without owned items.
    pub fn recv_into(&mut self, batch: &mut Batch, timeout: Duration) -> Result<(), NetlinkError> {
        for (msg_type, body) in std::mem::take(&mut self.sock.stash) {
            batch.push_record(msg_type, &body);
        }
        let deadline = Instant::now() + timeout;
        loop {
            self.poll_lost(batch);
            if !batch.is_empty() || self.behind {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(());
            }
            let wait = deadline.min(self.next_poll).saturating_duration_since(now);
            match self.sock.wait_readable(wait) {
                Ok(true) => {
                    // Let the rest of the event (and the next ones) arrive.
                    if !self.opts.linger.is_zero() {
                        std::thread::sleep(self.opts.linger);
                    }
                    break;
                }
                Ok(false) => {}
                Err(source) => {
                    return Err(NetlinkError::Io {
                        op: "receive",
                        source,
                    })
                }
            }
        }
        self.drain(batch)
    }

    /// Takes what is queued, up to `batch_max` items.
    fn drain(&mut self, batch: &mut Batch) -> Result<(), NetlinkError> {
        self.behind = false;
        loop {
            if batch.len() + RECV_MANY > self.opts.batch_max.max(RECV_MANY) {
                self.behind = true;
                return Ok(());
            }
            match self.sock.recv_many(&mut self.rx) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    for d in self.rx.datagrams() {
                        batch.push_datagram(d);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => batch.push_loss(overrun()),
                Err(source) => {
                    return Err(NetlinkError::Io {
                        op: "receive",
                        source,
                    })
                }
            }
        }
    }

    fn poll_lost(&mut self, batch: &mut Batch) {
        if Instant::now() < self.next_poll {
            return;
        }
        self.next_poll = Instant::now() + self.opts.lost_poll;
        match self.control.get_status() {
            Ok(s) => {
                let delta = s.lost.wrapping_sub(self.last_lost);
                self.last_lost = s.lost;
                if delta != 0 {
                    batch.push_loss(AuditLoss {
                        time: Timestamp::now(),
                        count: Some(delta.into()),
                        cause: CAUSE_KERNEL_LOST,
                    });
                }
            }
            Err(e) => log::warn!("can't read the kernel's audit lost counter: {e}"),
        }
    }

    /// Give the daemon pid back now (also done on drop).
    pub fn release(&mut self) -> Result<(), NetlinkError> {
        if !self.registered {
            return Ok(());
        }
        self.registered = false;
        // Only the registered process may unregister; records that arrive
        // meanwhile are dropped with the socket.
        self.sock.set_status(StatusMessage::new(), AUDIT_STATUS_PID)
    }

    /// Run on a dedicated thread (named `audit-netlink`). Batches arrive on
    /// the returned channel; it closes when the thread ends (stop, error, or
    /// the channel's receiver dropped). [`ReceiverHandle::stop`] returns
    /// the thread's error, if any.
    pub fn spawn(mut self) -> std::io::Result<(mpsc::Receiver<Batch>, ReceiverHandle)> {
        let (tx, rx) = mpsc::channel(self.opts.channel_capacity.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("audit-netlink".into())
            .spawn(move || -> Result<(), NetlinkError> {
                'run: while !flag.load(Ordering::Relaxed) {
                    let mut batch = Batch::default();
                    self.recv_into(&mut batch, Duration::from_millis(200))?;
                    // try_send in a loop rather than blocking_send, so that a
                    // stop request is seen even while the channel is full.
                    while !batch.is_empty() {
                        match tx.try_send(batch) {
                            Ok(()) => break,
                            Err(TrySendError::Full(b)) if !flag.load(Ordering::Relaxed) => {
                                batch = b;
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            Err(_) => break 'run,
                        }
                    }
                }
                self.release()
            })?;
        Ok((
            rx,
            ReceiverHandle {
                stop,
                thread: Some(thread),
            },
        ))
    }
}

fn overrun() -> AuditLoss {
    AuditLoss {
        time: Timestamp::now(),
        count: None,
        cause: CAUSE_OVERRUN,
    }
}

impl Drop for AuditReceiver {
    fn drop(&mut self) {
        if let Err(e) = self.release() {
            log::error!("can't give the audit daemon pid back: {e}");
        }
    }
}

/// Stops the reader thread (within ~250 ms: the 200 ms wait plus the linger) when dropped or on [`Self::stop`].
pub struct ReceiverHandle {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<(), NetlinkError>>>,
}

impl ReceiverHandle {
    /// Stop the thread and return how it ended. Blocks up to ~250 ms (call
    /// from `spawn_blocking` inside a runtime if that matters).
    pub fn stop(mut self) -> Result<(), NetlinkError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(NetlinkError::Protocol {
                op: "receive",
                detail: "the audit reader thread panicked".into(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for ReceiverHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::netlink::tests::datagram;
    use super::*;

    #[test]
    fn a_batch_keeps_records_and_losses_in_arrival_order() {
        let mut b = Batch::default();
        // Multicast (length with header, NUL-terminated), unicast (length
        // without header), an overrun notice, an ack (ignored).
        b.push_datagram(&datagram(16 + 6, 1300, b"a=1 b\0"));
        b.push_datagram(&datagram(3, 1309, b"c=2"));
        b.push_datagram(&datagram(16, libc::NLMSG_OVERRUN as u16, b""));
        b.push_datagram(&datagram(20, libc::NLMSG_ERROR as u16, &[0; 4]));
        b.push_loss(AuditLoss {
            time: Timestamp(5),
            count: Some(3),
            cause: CAUSE_KERNEL_LOST,
        });
        b.push_datagram(&datagram(16 + 2, 1320, b"\0\0"));
        // Garbage shorter than a header: nothing, no panic.
        b.push_datagram(&[1, 2, 3]);
        let items: Vec<ItemRef<'_>> = b.iter().collect();
        assert_eq!(items.len(), 5);
        assert_eq!(
            items[0],
            ItemRef::Record {
                msg_type: 1300,
                body: b"a=1 b"
            }
        );
        assert_eq!(
            items[1],
            ItemRef::Record {
                msg_type: 1309,
                body: b"c=2"
            }
        );
        assert!(
            matches!(items[2], ItemRef::Loss(l) if l.cause == CAUSE_OVERRUN && l.count.is_none())
        );
        assert!(matches!(items[3], ItemRef::Loss(l) if l.count == Some(3)));
        assert_eq!(
            items[4],
            ItemRef::Record {
                msg_type: 1320,
                body: b""
            }
        );
        let owned = b.into_items();
        assert_eq!(
            owned[1],
            AuditItem::Record(RawRecord {
                msg_type: 1309,
                body: b"c=2".to_vec()
            })
        );
        assert!(matches!(owned[3], AuditItem::Loss(_)));
    }
}
