//! Where events come from: the eBPF programs, the audit subsystem, `/proc`.

pub mod audit;
pub mod cgroup;
pub mod ebpf;
pub mod procfs;
