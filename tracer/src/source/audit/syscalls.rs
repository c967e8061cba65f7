//! Names for the numbers in audit rules: architectures (`-F arch=b64`),
//! syscalls (`-S execve`) and fields (`-F auid>=1000`). Small on purpose:
//! the syscalls tracer's rules use and their process-lifecycle neighbours,
//! for the architectures tracer runs on. Numbers come from the kernel's
//! syscall tables (arch/x86/entry/syscalls/syscall_{64,32}.tbl,
//! include/uapi/asm-generic/unistd.h, arch/arm/tools/syscall.tbl).

use netlink_packet_audit::constants::*;

const X86_64: &[(&str, u32)] = &[
    ("clone", 56),
    ("fork", 57),
    ("vfork", 58),
    ("execve", 59),
    ("exit", 60),
    ("exit_group", 231),
    ("execveat", 322),
    ("clone3", 435),
];
const I386: &[(&str, u32)] = &[
    ("exit", 1),
    ("fork", 2),
    ("execve", 11),
    ("clone", 120),
    ("vfork", 190),
    ("exit_group", 252),
    ("execveat", 358),
    ("clone3", 435),
];
const AARCH64: &[(&str, u32)] = &[
    ("exit", 93),
    ("exit_group", 94),
    ("clone", 220),
    ("execve", 221),
    ("execveat", 281),
    ("clone3", 435),
];
const ARM: &[(&str, u32)] = &[
    ("exit", 1),
    ("fork", 2),
    ("execve", 11),
    ("clone", 120),
    ("vfork", 190),
    ("exit_group", 248),
    ("execveat", 387),
    ("clone3", 435),
];

/// `AUDIT_ARCH_*` of this machine's 64-bit (`b64`) and 32-bit (`b32`) ABIs.
pub fn native_arches() -> (u32, u32) {
    if cfg!(target_arch = "aarch64") {
        (AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM)
    } else {
        (AUDIT_ARCH_X86_64, AUDIT_ARCH_I386)
    }
}

/// `b64`, `b32`, or an explicit architecture name or number.
pub fn arch_from_name(s: &str) -> Option<u32> {
    let (b64, b32) = native_arches();
    match s {
        "b64" => Some(b64),
        "b32" => Some(b32),
        "x86_64" => Some(AUDIT_ARCH_X86_64),
        "i386" | "i486" | "i586" | "i686" => Some(AUDIT_ARCH_I386),
        "aarch64" => Some(AUDIT_ARCH_AARCH64),
        "arm" | "armeb" | "armv7l" => Some(AUDIT_ARCH_ARM),
        _ => parse_u32(s),
    }
}

/// How auditctl -l writes an architecture.
pub fn arch_name(arch: u32) -> String {
    let (b64, b32) = native_arches();
    if arch == b64 {
        "b64".into()
    } else if arch == b32 {
        "b32".into()
    } else {
        format!("{arch:#x}")
    }
}

fn table(arch: u32) -> &'static [(&'static str, u32)] {
    match arch {
        AUDIT_ARCH_X86_64 => X86_64,
        AUDIT_ARCH_I386 => I386,
        AUDIT_ARCH_AARCH64 => AARCH64,
        AUDIT_ARCH_ARM => ARM,
        _ => &[],
    }
}

/// A syscall's number on `arch` (a name from the table, or a number).
pub fn syscall_nr(arch: u32, name: &str) -> Option<u32> {
    table(arch)
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, nr)| nr)
        .or_else(|| name.parse().ok())
}

/// A syscall's name on `arch`, or its number.
pub fn syscall_name(arch: u32, nr: u32) -> String {
    table(arch)
        .iter()
        .find(|&&(_, n)| n == nr)
        .map_or_else(|| nr.to_string(), |(name, _)| (*name).to_string())
}

/// What a field's value is, for parsing and printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// uid/gid-like: a number, with `unset`/`-1` meaning 4294967295.
    Id,
    /// A plain (possibly negative) number.
    Number,
    Arch,
    /// An absolute path (kernel string).
    Path,
    Key,
}

/// `-F` names tracer understands: (name, kernel field, kind).
pub const FIELDS: &[(&str, u32, FieldKind)] = &[
    ("arch", AUDIT_ARCH, FieldKind::Arch),
    ("pid", AUDIT_PID, FieldKind::Number),
    ("ppid", AUDIT_PPID, FieldKind::Number),
    ("uid", AUDIT_UID, FieldKind::Id),
    ("euid", AUDIT_EUID, FieldKind::Id),
    ("suid", AUDIT_SUID, FieldKind::Id),
    ("fsuid", AUDIT_FSUID, FieldKind::Id),
    ("gid", AUDIT_GID, FieldKind::Id),
    ("egid", AUDIT_EGID, FieldKind::Id),
    ("sgid", AUDIT_SGID, FieldKind::Id),
    ("fsgid", AUDIT_FSGID, FieldKind::Id),
    ("auid", AUDIT_LOGINUID, FieldKind::Id),
    ("loginuid", AUDIT_LOGINUID, FieldKind::Id),
    ("ses", AUDIT_SESSIONID, FieldKind::Id),
    ("sessionid", AUDIT_SESSIONID, FieldKind::Id),
    ("success", AUDIT_SUCCESS, FieldKind::Number),
    ("exit", AUDIT_EXIT, FieldKind::Number),
    ("exe", AUDIT_EXE, FieldKind::Path),
    ("path", AUDIT_WATCH, FieldKind::Path),
    ("key", AUDIT_FILTERKEY, FieldKind::Key),
];

pub fn field_by_name(name: &str) -> Option<(u32, FieldKind)> {
    FIELDS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, f, k)| (f, k))
}

/// The first (canonical) name of a kernel field.
pub fn field_name(field: u32) -> Option<(&'static str, FieldKind)> {
    FIELDS
        .iter()
        .find(|(_, f, _)| *f == field)
        .map(|&(n, _, k)| (n, k))
}

/// Decimal or `0x` hexadecimal.
pub fn parse_u32(s: &str) -> Option<u32> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_syscalls_resolve_on_both_abis() {
        assert_eq!(syscall_nr(AUDIT_ARCH_X86_64, "execve"), Some(59));
        assert_eq!(syscall_nr(AUDIT_ARCH_X86_64, "execveat"), Some(322));
        assert_eq!(syscall_nr(AUDIT_ARCH_I386, "execve"), Some(11));
        assert_eq!(syscall_nr(AUDIT_ARCH_I386, "execveat"), Some(358));
        assert_eq!(syscall_nr(AUDIT_ARCH_I386, "nosuch"), None);
        assert_eq!(syscall_name(AUDIT_ARCH_X86_64, 322), "execveat");
        assert_eq!(syscall_name(AUDIT_ARCH_X86_64, 9999), "9999");
    }
}
