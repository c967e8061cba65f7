//! The `NETLINK_AUDIT` socket: request/reply exchanges with the kernel
//! (status, rules) and the splitting of datagrams into netlink messages,
//! with the audit subsystem's length quirks.
//!
//! Neighbours: [`super::status`] and [`super::rules`] use [`AuditSocket`] for
//! their requests; [`super::receiver`] uses it to receive records. Record
//! bodies are handed out raw: `super::parse` turns them into fields.
//!
//! Quirks handled here (see kernel/audit.c, `audit_log_end()` and
//! `kauditd_send_multicast_skb()`; audit-userspace issue #78):
//! - records sent unicast to the audit daemon carry an `nlmsg_len` that
//!   excludes the 16-byte header, multicast copies carry the correct one. The
//!   kernel sends exactly one record per datagram, so a record's body is
//!   simply the rest of its datagram;
//! - rule replies may omit their alignment padding from `nlmsg_len`.

use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use netlink_packet_audit::constants::*;
use netlink_packet_audit::{AuditMessage, StatusMessage};
use netlink_packet_core::{
    Emitable, NetlinkDeserializable, NetlinkHeader, NLMSG_DONE, NLMSG_ERROR, NLMSG_OVERRUN,
    NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_sys::{protocols::NETLINK_AUDIT, Socket, SocketAddr};

use super::rule_data::{KernelRule, RuleDecodeError};

const NLMSG_HDRLEN: usize = 16;
/// Larger than any audit record (`MAX_AUDIT_MESSAGE_LENGTH` is 8970).
const RECV_BUF_LEN: usize = 64 * 1024;
/// Most datagrams one [`AuditSocket::recv_many`] takes (one `recvmmsg(2)`).
pub const RECV_MANY: usize = 32;
/// How long a request may wait for its reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// Errors of the audit netlink socket.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    #[error("can't open the audit netlink socket (NETLINK_AUDIT): {0}")]
    Open(#[source] io::Error),
    #[error("audit netlink {op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("the kernel refused audit {op}: {source}")]
    Kernel {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("no reply from the kernel to audit {op} within {REPLY_TIMEOUT:?}")]
    Timeout { op: &'static str },
    #[error("unexpected reply to audit {op}: {detail}")]
    Protocol { op: &'static str, detail: String },
    #[error(
        "an audit daemon is already registered (pid {pid}); tracer never replaces it: \
         use the multicast receiver (the default) instead"
    )]
    DaemonRegistered { pid: u32 },
    #[error("joining the audit read-log multicast group needs CAP_AUDIT_READ: {0}")]
    Multicast(#[source] io::Error),
    #[error("the audit configuration is locked (enabled=2) until reboot")]
    Locked,
    #[error(transparent)]
    Rule(#[from] RuleDecodeError),
}

impl NetlinkError {
    /// The errno the kernel answered with, for `Kernel` errors.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Kernel { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

/// One netlink message of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub msg_type: u16,
    pub flags: u16,
    pub seq: u32,
    pub payload: &'a [u8],
}

/// Split a datagram into messages. Never panics, whatever the kernel sent.
pub fn split_messages(data: &[u8]) -> Vec<Message<'_>> {
    messages(data).collect()
}

/// The messages of a datagram, without collecting them (the receiver's hot
/// path). Never panics, whatever the kernel sent.
pub fn messages(data: &[u8]) -> Messages<'_> {
    Messages { data, off: 0 }
}

/// Iterator of [`messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    data: &'a [u8],
    off: usize,
}

impl<'a> Iterator for Messages<'a> {
    type Item = Message<'a>;

    fn next(&mut self) -> Option<Message<'a>> {
        let data = self.data;
        if data.len().saturating_sub(self.off) < NLMSG_HDRLEN {
            return None;
        }
        let rest = &data[self.off..];
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let msg_type = u16::from_ne_bytes([rest[4], rest[5]]);
        let flags = u16::from_ne_bytes([rest[6], rest[7]]);
        let seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let msg_len = if is_record_type(msg_type) || len < NLMSG_HDRLEN || len > rest.len() {
            rest.len()
        } else {
            len
        };
        let mut payload = &rest[NLMSG_HDRLEN..msg_len];
        if is_record_type(msg_type) {
            while let [head @ .., 0] = payload {
                payload = head;
            }
        }
        self.off += (msg_len + 3) & !3;
        Some(Message {
            msg_type,
            flags,
            seq,
            payload,
        })
    }
}

/// Audit records (and user messages relayed by the kernel) start at 1100;
/// below are control messages (NLMSG_*, AUDIT_GET, AUDIT_LIST_RULES, ...),
/// except AUDIT_LOGIN (1006): the kernel's own record of a login uid being
/// set (`pam_loginuid`), which auditd logs as `type=LOGIN`.
pub fn is_record_type(msg_type: u16) -> bool {
    msg_type >= AUDIT_FIRST_USER_MSG || msg_type == AUDIT_LOGIN
}

/// `AUDIT_LOGIN` in `<linux/audit.h>`.
const AUDIT_LOGIN: u16 = 1006;

/// The negative errno of an `NLMSG_ERROR` payload (0 for an ack), if readable.
fn error_code(payload: &[u8]) -> Option<i32> {
    payload
        .get(..4)
        .and_then(|b| b.try_into().ok())
        .map(i32::from_ne_bytes)
}

/// What a reply handler wants next.
enum Flow<T> {
    More,
    Done(T),
}

/// A record that arrived while waiting for a reply (daemon mode only).
pub type RawMessage = (u16, Vec<u8>);

/// Reused room for the datagrams of one [`AuditSocket::recv_many`]:
/// [`RECV_MANY`] slots of 64 KiB, allocated once (pages the kernel never
/// writes stay untouched).
pub struct RecvMany {
    data: Vec<u8>,
    lens: [usize; RECV_MANY],
    n: usize,
}

impl Default for RecvMany {
    fn default() -> Self {
        Self {
            data: vec![0; RECV_MANY * RECV_BUF_LEN],
            lens: [0; RECV_MANY],
            n: 0,
        }
    }
}

impl RecvMany {
    /// The datagrams of the last receive, in order.
    pub fn datagrams(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.lens[..self.n]
            .iter()
            .enumerate()
            .map(|(i, &len)| &self.data[i * RECV_BUF_LEN..i * RECV_BUF_LEN + len])
    }
}

/// A `NETLINK_AUDIT` socket.
pub struct AuditSocket {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    /// Records received while waiting for a reply, oldest first.
    pub(crate) stash: Vec<RawMessage>,
}

impl AuditSocket {
    /// A socket for requests; it receives no records unless it joins the
    /// multicast group or registers as the audit daemon.
    pub fn open() -> Result<Self, NetlinkError> {
        let mut sock = Socket::new(NETLINK_AUDIT).map_err(NetlinkError::Open)?;
        sock.bind(&SocketAddr::new(0, 0))
            .map_err(NetlinkError::Open)?;
        Ok(Self {
            sock,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUF_LEN),
            stash: Vec::new(),
        })
    }

    /// Join `AUDIT_NLGRP_READLOG` (needs CAP_AUDIT_READ).
    pub fn join_readlog(&self) -> Result<(), NetlinkError> {
        self.sock
            .add_membership(AUDIT_NLGRP_READLOG)
            .map_err(NetlinkError::Multicast)
    }

    /// Grow the receive buffer to `bytes`: `SO_RCVBUFFORCE` (root, ignores
    /// `rmem_max`), else `SO_RCVBUF`. Returns the size the kernel reports.
    pub fn set_rcvbuf(&self, bytes: usize) -> io::Result<usize> {
        let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        let fd = self.sock.as_raw_fd();
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
            // SAFETY: `fd` is a valid socket owned by `self.sock`; the value
            // pointer and length describe a live `c_int`.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    &size as *const libc::c_int as *const libc::c_void,
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                return self.sock.get_rx_buf_sz();
            }
        }
        Err(io::Error::last_os_error())
    }

    /// Wait up to `timeout` for one datagram. `Ok(None)` on timeout;
    /// `ENOBUFS` (the socket overran) is returned as an error for the caller
    /// to count.
    pub fn recv_datagram(&mut self, timeout: Duration) -> io::Result<Option<&[u8]>> {
        if !self.wait_readable(timeout)? {
            return Ok(None);
        }
        self.buf.clear();
        match self.sock.recv(&mut self.buf, libc::MSG_DONTWAIT) {
            Ok(_) => Ok(Some(&self.buf)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Wait until the socket is readable (up to `timeout`): `Ok(false)` on
    /// timeout or signal.
    pub fn wait_readable(&self, timeout: Duration) -> io::Result<bool> {
        let mut pfd = libc::pollfd {
            fd: self.sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pfd` is one valid pollfd and nfds is 1.
        let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::Interrupted => Ok(false),
                _ => Err(e),
            };
        }
        Ok(rc > 0)
    }

    /// Takes up to [`RECV_MANY`] datagrams that are already queued, without
    /// waiting, in one `recvmmsg(2)`: `Ok(0)` when none is. `ENOBUFS` (the
    /// socket overran) is returned as an error for the caller to count.
    pub fn recv_many(&self, buf: &mut RecvMany) -> io::Result<usize> {
        buf.n = 0;
        let base = buf.data.as_mut_ptr();
        let mut iov: [libc::iovec; RECV_MANY] = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; RECV_MANY];
        // SAFETY: mmsghdr is plain old data; all-zero is a valid value
        // (null name, no control data), the iovecs are set below.
        let mut hdrs: [libc::mmsghdr; RECV_MANY] = unsafe { std::mem::zeroed() };
        for (i, (v, h)) in iov.iter_mut().zip(hdrs.iter_mut()).enumerate() {
            // SAFETY: `i * RECV_BUF_LEN` is within `buf.data`, which holds
            // RECV_MANY slots of RECV_BUF_LEN bytes.
            v.iov_base = unsafe { base.add(i * RECV_BUF_LEN) }.cast();
            v.iov_len = RECV_BUF_LEN;
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `hdrs` holds RECV_MANY headers, each pointing at one iovec
        // of `iov` describing a disjoint RECV_BUF_LEN slot of `buf.data`;
        // all of them outlive the call. No timeout pointer.
        let rc = unsafe {
            libc::recvmmsg(
                self.sock.as_raw_fd(),
                hdrs.as_mut_ptr(),
                RECV_MANY as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(e),
            };
        }
        let n = (rc as usize).min(RECV_MANY);
        for (len, h) in buf.lens.iter_mut().zip(&hdrs).take(n) {
            // A datagram longer than its slot is cut to the slot (as the
            // single `recv` of `recv_datagram` cuts it to its buffer).
            *len = (h.msg_len as usize).min(RECV_BUF_LEN);
        }
        buf.n = n;
        Ok(n)
    }

    fn send(
        &mut self,
        op: &'static str,
        msg_type: u16,
        payload: &[u8],
    ) -> Result<u32, NetlinkError> {
        self.seq = self.seq.wrapping_add(1);
        let len = NLMSG_HDRLEN + payload.len();
        let mut pkt = Vec::with_capacity(len);
        pkt.extend_from_slice(&(len as u32).to_ne_bytes());
        pkt.extend_from_slice(&msg_type.to_ne_bytes());
        pkt.extend_from_slice(&(NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        pkt.extend_from_slice(&self.seq.to_ne_bytes());
        pkt.extend_from_slice(&0u32.to_ne_bytes());
        pkt.extend_from_slice(payload);
        self.sock
            .send_to(&pkt, &SocketAddr::new(0, 0), 0)
            .map_err(|source| NetlinkError::Io { op, source })?;
        Ok(self.seq)
    }

    /// Read replies to `seq` until `handle` is done. Acks are passed as
    /// `NLMSG_ERROR` messages with code 0; nonzero codes end the wait with
    /// an error. Records met on the way are stashed.
    fn wait<T>(
        &mut self,
        op: &'static str,
        seq: u32,
        mut handle: impl FnMut(&Message<'_>) -> Result<Flow<T>, NetlinkError>,
    ) -> Result<T, NetlinkError> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NetlinkError::Timeout { op });
            }
            let mut stash = Vec::new();
            let mut result = None;
            match self.recv_datagram(left) {
                Ok(None) => continue,
                Ok(Some(data)) => {
                    for m in split_messages(data) {
                        if is_record_type(m.msg_type) {
                            stash.push((m.msg_type, m.payload.to_vec()));
                            continue;
                        }
                        if m.seq != seq || result.is_some() {
                            continue;
                        }
                        if m.msg_type == NLMSG_ERROR {
                            let code = error_code(m.payload).ok_or(NetlinkError::Protocol {
                                op,
                                detail: "short NLMSG_ERROR".into(),
                            })?;
                            if code != 0 {
                                let source = io::Error::from_raw_os_error(code.saturating_neg());
                                result = Some(Err(NetlinkError::Kernel { op, source }));
                                continue;
                            }
                        }
                        if let Flow::Done(t) = handle(&m)? {
                            result = Some(Ok(t));
                        }
                    }
                }
                // ENOBUFS on a request socket can only lose records (daemon
                // mode); the receiver's lost-counter poll accounts for them.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(source) => return Err(NetlinkError::Io { op, source }),
            }
            self.stash.append(&mut stash);
            if let Some(r) = result {
                return r;
            }
        }
    }

    /// `AUDIT_GET`.
    pub fn get_status(&mut self) -> Result<StatusMessage, NetlinkError> {
        let op = "status (AUDIT_GET)";
        let seq = self.send(op, AUDIT_GET, &[])?;
        self.wait(op, seq, |m| {
            if m.msg_type != AUDIT_GET {
                return Ok(Flow::More);
            }
            let mut header = NetlinkHeader::default();
            header.message_type = AUDIT_GET;
            match AuditMessage::deserialize(&header, m.payload) {
                Ok(AuditMessage::GetStatus(Some(s))) => Ok(Flow::Done(s)),
                other => Err(NetlinkError::Protocol {
                    op,
                    detail: format!("{other:?}"),
                }),
            }
        })
    }

    /// `AUDIT_SET` of the fields selected by `mask` (`AUDIT_STATUS_*`).
    pub fn set_status(&mut self, mut status: StatusMessage, mask: u32) -> Result<(), NetlinkError> {
        let op = "set status (AUDIT_SET)";
        status.mask = mask;
        let mut payload = vec![0u8; status.buffer_len()];
        status.emit(&mut payload);
        let seq = self.send(op, AUDIT_SET, &payload)?;
        self.wait(op, seq, ack)
    }

    /// `AUDIT_ADD_RULE`. `Ok(false)` when the kernel already has this rule.
    pub fn add_rule(&mut self, rule: &KernelRule) -> Result<bool, NetlinkError> {
        let op = "add rule (AUDIT_ADD_RULE)";
        let seq = self.send(op, AUDIT_ADD_RULE, &rule.encode())?;
        match self.wait(op, seq, ack) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `AUDIT_DEL_RULE`. `Ok(false)` when the kernel has no such rule.
    pub fn del_rule(&mut self, rule: &KernelRule) -> Result<bool, NetlinkError> {
        let op = "delete rule (AUDIT_DEL_RULE)";
        let seq = self.send(op, AUDIT_DEL_RULE, &rule.encode())?;
        match self.wait(op, seq, ack) {
            Ok(()) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENOENT) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `AUDIT_LIST_RULES`: every rule of every list, in kernel order.
    pub fn list_rules(&mut self) -> Result<Vec<KernelRule>, NetlinkError> {
        let op = "list rules (AUDIT_LIST_RULES)";
        let seq = self.send(op, AUDIT_LIST_RULES, &[])?;
        let mut rules = Vec::new();
        let mut bad = None;
        self.wait(op, seq, |m| match m.msg_type {
            AUDIT_LIST_RULES => {
                match KernelRule::decode(m.payload) {
                    Ok(r) => rules.push(r),
                    Err(e) => bad = Some(e),
                }
                Ok(Flow::More)
            }
            NLMSG_DONE => Ok(Flow::Done(())),
            _ => Ok(Flow::More),
        })?;
        match bad {
            Some(e) => Err(e.into()),
            None => Ok(rules),
        }
    }
}

fn ack(m: &Message<'_>) -> Result<Flow<()>, NetlinkError> {
    Ok(match m.msg_type {
        NLMSG_ERROR => Flow::Done(()),
        _ => Flow::More,
    })
}

/// The kernel reports a datagram it could not deliver in full.
pub fn is_overrun(m: &Message<'_>) -> bool {
    m.msg_type == NLMSG_OVERRUN
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One netlink message as the kernel sends it: `len` as nlmsg_len (the
    /// kernel's unicast and multicast differ), the type, no flags/seq/pid.
    pub(crate) fn datagram(len: u32, msg_type: u16, body: &[u8]) -> Vec<u8> {
        let mut d = Vec::new();
        d.extend_from_slice(&len.to_ne_bytes());
        d.extend_from_slice(&msg_type.to_ne_bytes());
        d.extend_from_slice(&[0; 10]);
        d.extend_from_slice(body);
        d
    }

    #[test]
    fn unicast_record_length_quirk() {
        let body = b"audit(1.2:3): arch=c000003e syscall=59";
        // Unicast: nlmsg_len excludes the header.
        let d = datagram(body.len() as u32, AUDIT_SYSCALL, body);
        let m = split_messages(&d);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].payload, body);
        // Multicast: correct length; trailing NULs are dropped.
        let mut b = body.to_vec();
        b.extend_from_slice(&[0, 0]);
        let d = datagram(16 + b.len() as u32, AUDIT_SYSCALL, &b);
        assert_eq!(split_messages(&d)[0].payload, body);
    }

    #[test]
    fn the_kernels_login_record_is_a_record() {
        assert!(is_record_type(1006), "AUDIT_LOGIN");
        assert!(is_record_type(1100) && is_record_type(1300));
        for control in [2, 1000, 1001, 1002, 1005, 1011, 1099] {
            assert!(!is_record_type(control), "{control}");
        }
    }

    #[test]
    fn control_messages_are_walked_with_alignment() {
        let mut d = datagram(16 + 5, AUDIT_LIST_RULES, b"abcde");
        d.extend_from_slice(&[0, 0, 0]);
        d.extend_from_slice(&datagram(20, NLMSG_DONE, &[0; 4]));
        let m = split_messages(&d);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].payload, b"abcde");
        assert_eq!(m[1].msg_type, NLMSG_DONE);
    }

    #[test]
    fn garbage_never_panics() {
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = split_messages(&junk);
        }
        let d = datagram(u32::MAX, AUDIT_GET, b"xx");
        assert_eq!(split_messages(&d)[0].payload, b"xx");
    }
}
