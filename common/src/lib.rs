//! The ABI between tracer's eBPF programs (`tracer-ebpf`) and its userspace (`tracer`).
//!
//! Everything here crosses the kernel boundary as raw bytes, so every type is
//! `#[repr(C)]`, `Copy`, built from fixed-width integers, and has no implicit
//! padding. Each layout is pinned with `const` assertions so a mismatch fails the
//! build instead of corrupting events in production. Userspace-only helpers
//! (aya `Pod` impls, decoding) live behind the `user` feature.
#![no_std]

pub mod config;
pub mod event;
pub mod kind;

#[cfg(feature = "user")]
pub mod user;

/// Names of the maps, shared so that both sides agree on them.
pub mod maps {
    /// The ring buffer that carries every event to userspace.
    pub const EVENTS: &str = "EVENTS";
    /// Per-CPU scratch space where a record is built before it is copied out.
    pub const SCRATCH: &str = "SCRATCH";
    /// Per-CPU counters (see [`crate::kind::Counter`]).
    pub const COUNTERS: &str = "COUNTERS";
    /// In-flight execve/execveat calls, keyed by pid_tgid, to report failures.
    pub const INFLIGHT: &str = "INFLIGHT";
    /// `comm` values whose execs are dropped (key: the 16-byte comm).
    pub const COMM_FILTER: &str = "COMM_FILTER";
    /// exe path prefixes whose execs are dropped (an LPM trie over path bytes).
    pub const EXE_FILTER: &str = "EXE_FILTER";
    /// One `u32`: non-zero while the reader is idle and asks to be woken by
    /// the next record (the program that sends it clears it).
    pub const WAKE: &str = "WAKE";
}

/// The name of the read-only global that holds [`config::Config`].
pub const CONFIG_GLOBAL: &str = "CONFIG";
