pub mod netlink;
pub mod receiver;
pub mod rule_data;
pub mod rules;
pub mod status;
pub mod syscalls;
