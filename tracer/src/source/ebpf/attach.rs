//! Attaching tracer's programs, with the fallbacks of the failed-exec hooks.
//!
//! The exec and exit programs are `tp_btf` (else raw) tracepoints on
//! `sched_process_exec` and `sched_process_exit`: typed arguments, no
//! tracefs, no perf record. Failed
//! execs need a hook on the system call itself (on kernels >= 6.8 the file is
//! opened in `alloc_bprm()`, before anything exec-specific runs), and the way
//! to hook it decides what every other system call pays:
//!
//! 1. **fexit** on `__x64_sys_execve`, `__x64_sys_execveat`,
//!    `__ia32_compat_sys_execve`, `__ia32_compat_sys_execveat` (those the
//!    kernel's BTF has; the `__ia32_*` ones exist only with IA32 emulation):
//!    BPF trampolines on four functions, nothing else pays.
//! 2. **kretprobe** on the same functions, where fexit cannot load or attach
//!    (no BPF trampolines on this kernel or architecture). It reads the
//!    caller's registers with `bpf_task_pt_regs()` (5.15+); where that is
//!    refused, each function gets a kprobe at entry that remembers the
//!    call's pointers for its kretprobe (the pair form).
//! 3. **`syscalls/sys_{enter,exit}_execve{,at}`**, the last resort: attaching
//!    any program to a `syscalls/*` tracepoint sets `TIF_SYSCALL_TRACEPOINT` on
//!    every task, a tax on every system call of every process, and they do not
//!    see 32-bit (`int 0x80`) calls on x86_64.
//!
//! A tier is all or nothing: if one of its programs fails, the ones it had
//! attached are detached before the next tier is tried, so no failure is
//! reported twice. Why a tier was skipped is logged once, at start-up, with
//! what the kernel says about it where it can tell (`hint`): the kernel's
//! lockdown in `confidentiality` mode refuses fexit and kprobe programs
//! (`EPERM`, with no verifier output), and a kernel built without
//! `CONFIG_KPROBES` has no kprobe event source. On the VM this was
//! developed on (lockdown `integrity`, no kprobes) fexit loads fail with
//! `EPERM` all the same, and tracefs refuses `available_filter_functions`:
//! something outside the kernel's own settings (the sandbox's LSM policy)
//! forbids ftrace-based programs, so there the syscall tracepoints are used.

use aya::{
    programs::{BtfTracePoint, FExit, KProbe, RawTracePoint, TracePoint},
    Btf, Ebpf,
};

use super::EbpfError;

/// Set to `kretprobe` or `tracepoint` to start the failed-exec hooks at that
/// tier (tests of the fallbacks; sites whose kernel misbehaves with fexit).
pub const FAILED_HOOK_ENV: &str = "TRACER_FAILED_EXEC_HOOK";

/// A syscall entry point the fexit/kretprobe tiers hook, with its program
/// in each form.
#[derive(Debug, Clone, Copy)]
struct EntryPoint {
    func: &'static str,
    /// Tier 1.
    fexit: &'static str,
    /// Tier 2, reading the caller's registers with `bpf_task_pt_regs()`.
    kretprobe: &'static str,
    /// Tier 2's pair form, where that helper is refused (before 5.15): a
    /// kprobe at entry remembers the call's pointers for its kretprobe.
    entry_kprobe: &'static str,
    pair_kretprobe: &'static str,
}

const fn entry_point(
    func: &'static str,
    fexit: &'static str,
    kretprobe: &'static str,
    entry_kprobe: &'static str,
    pair_kretprobe: &'static str,
) -> EntryPoint {
    EntryPoint {
        func,
        fexit,
        kretprobe,
        entry_kprobe,
        pair_kretprobe,
    }
}

const ENTRY_POINTS: [EntryPoint; 4] = [
    entry_point(
        "__x64_sys_execve",
        "fexit_x64_execve",
        "kretprobe_x64_execve",
        "kprobe_x64_execve",
        "kretprobe_pair_x64_execve",
    ),
    entry_point(
        "__x64_sys_execveat",
        "fexit_x64_execveat",
        "kretprobe_x64_execveat",
        "kprobe_x64_execveat",
        "kretprobe_pair_x64_execveat",
    ),
    entry_point(
        "__ia32_compat_sys_execve",
        "fexit_ia32_execve",
        "kretprobe_ia32_execve",
        "kprobe_ia32_execve",
        "kretprobe_pair_ia32_execve",
    ),
    entry_point(
        "__ia32_compat_sys_execveat",
        "fexit_ia32_execveat",
        "kretprobe_ia32_execveat",
        "kprobe_ia32_execveat",
        "kretprobe_pair_ia32_execveat",
    ),
];

/// Tier 3: (program, category, tracepoint), enter hooks first so that no exec
/// fails unseen between attachments.
const SYSCALL_TRACEPOINTS: [(&str, &str, &str); 4] = [
    ("sys_enter_execve", "syscalls", "sys_enter_execve"),
    ("sys_enter_execveat", "syscalls", "sys_enter_execveat"),
    ("sys_exit_execve", "syscalls", "sys_exit_execve"),
    ("sys_exit_execveat", "syscalls", "sys_exit_execveat"),
];

/// Tier 3a: the exit tracepoints only, reading the caller's registers.
const SYSCALL_EXIT_TRACEPOINTS: [(&str, &str, &str); 2] = [
    ("sys_exit_execve_regs", "syscalls", "sys_exit_execve"),
    ("sys_exit_execveat_regs", "syscalls", "sys_exit_execveat"),
];

/// The exec and exit programs: (tracepoint, `tp_btf` program, raw
/// tracepoint program). The `tp_btf` form reads through BTF-typed pointers
/// with plain loads; the raw form, with a helper call per read, is the
/// fallback where the kernel or its verifier refuses the first.
pub const SCHED_PROGRAMS: [(&str, &str, &str); 2] = [
    (
        "sched_process_exec",
        "sched_process_exec_btf",
        "sched_process_exec",
    ),
    (
        "sched_process_exit",
        "sched_process_exit_btf",
        "sched_process_exit",
    ),
];

/// How failed execs are hooked on this run, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FailedHook {
    Fexit,
    Kretprobe,
    Tracepoint,
}

impl FailedHook {
    pub fn as_str(self) -> &'static str {
        match self {
            FailedHook::Fexit => "fexit",
            FailedHook::Kretprobe => "kretprobe",
            FailedHook::Tracepoint => "tracepoint",
        }
    }
}

/// What the failed-exec tiers ended with.
#[derive(Debug, Clone)]
pub struct FailedHooks {
    pub hook: FailedHook,
    /// The syscall entry points hooked (tiers 1 and 2).
    pub functions: Vec<&'static str>,
    /// Whether 32-bit (`int 0x80`) execs are covered.
    pub compat: bool,
    /// Why the tiers above `hook` were not used.
    pub fallback_reason: Option<String>,
}

/// The tier to start at, from the value of [`FAILED_HOOK_ENV`].
fn first_tier(env: Option<&str>) -> Result<FailedHook, EbpfError> {
    match env {
        None | Some("") | Some("fexit") => Ok(FailedHook::Fexit),
        Some("kretprobe") => Ok(FailedHook::Kretprobe),
        Some("tracepoint") => Ok(FailedHook::Tracepoint),
        Some(other) => Err(EbpfError::Other(format!(
            "{FAILED_HOOK_ENV}={other:?}: expected fexit, kretprobe or tracepoint"
        ))),
    }
}

/// Attaches the failed-exec hooks, trying the tiers in order.
pub fn failed_exec(
    bpf: &mut Ebpf,
    btf: &Btf,
    kernel: &super::btf::Btf,
    tracepoints_unreadable: Option<super::tracefs::TracefsError>,
) -> Result<FailedHooks, EbpfError> {
    let first = first_tier(std::env::var(FAILED_HOOK_ENV).ok().as_deref())?;
    let mut reasons: Vec<String> = Vec::new();
    if first != FailedHook::Fexit {
        reasons.push(format!("fexit skipped ({FAILED_HOOK_ENV})"));
    }
    // Entry points this kernel has: a `FUNC` in its BTF (the `__ia32_*` ones
    // exist only with CONFIG_IA32_EMULATION).
    let present: Vec<EntryPoint> = ENTRY_POINTS
        .iter()
        .copied()
        .filter(|e| kernel.has_func(e.func))
        .collect();
    // What the kernel says is read only when a tier fails.
    let mut kernel_says = None;
    for tier in [FailedHook::Fexit, FailedHook::Kretprobe] {
        if tier < first {
            continue;
        }
        let mut r = syscall_tier(bpf, btf, &present, tier);
        if tier == FailedHook::Kretprobe {
            if let Err(e) = &r {
                match kprobe_pairs(bpf, &present) {
                    Ok(h) => {
                        reasons.push(format!("kretprobe reading the task's registers: {e}"));
                        r = Ok(h);
                    }
                    Err(pe) => r = Err(format!("{e}; with kprobes at entry: {pe}")),
                }
            }
        }
        match r {
            Ok(h) => return Ok(done(h, reasons)),
            Err(e) => {
                let why = hint(tier, kernel_says.get_or_insert_with(KernelLimits::read));
                reasons.push(format!("{}: {e}{why}", tier.as_str()));
            }
        }
    }
    if let Some(e) = tracepoints_unreadable {
        return Err(EbpfError::Other(format!(
            "no way to hook failed execs: {}; syscall tracepoints: {e}",
            reasons.join("; ")
        )));
    }
    // 3a: the exit tracepoints alone (arguments from the task's registers).
    let mut exit_only = Ok(());
    for &(name, category, tp) in &SYSCALL_EXIT_TRACEPOINTS {
        let prog: &mut TracePoint = program(bpf, name)?;
        if let Err(e) = prog
            .load()
            .and_then(|()| prog.attach(category, tp).map(drop))
        {
            exit_only = Err(format!("{name}: {e}"));
            break;
        }
    }
    if let Err(e) = exit_only {
        for &(name, ..) in &SYSCALL_EXIT_TRACEPOINTS {
            if let Ok(Err(ue)) = program::<TracePoint>(bpf, name).map(|p| p.unload()) {
                log::debug!("unloading {name}: {ue}");
            }
        }
        reasons.push(format!("exit-only tracepoints: {e}"));
        // 3b: enter and exit, the pointers remembered in between.
        for &(name, category, tp) in &SYSCALL_TRACEPOINTS {
            let prog: &mut TracePoint = program(bpf, name)?;
            prog.load()
                .map_err(|source| EbpfError::Program { name, source })?;
            prog.attach(category, tp)
                .map_err(|source| EbpfError::Program { name, source })?;
        }
    }
    Ok(done(
        FailedHooks {
            hook: FailedHook::Tracepoint,
            functions: Vec::new(),
            compat: false,
            fallback_reason: None,
        },
        reasons,
    ))
}

/// What the running kernel says about the hooks it refuses.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct KernelLimits {
    /// The lockdown mode in force (`none`, `integrity`, `confidentiality`),
    /// and where it was read.
    lockdown: Option<(String, &'static str)>,
    /// Whether the kprobe PMU exists (`false`: built without kprobes).
    kprobe_pmu: bool,
}

impl KernelLimits {
    const LOCKDOWN: &'static str = "/sys/kernel/security/lockdown";
    const CMDLINE: &'static str = "/proc/cmdline";
    const KPROBE_PMU: &'static str = "/sys/bus/event_source/devices/kprobe";

    fn read() -> Self {
        let from_file = std::fs::read_to_string(Self::LOCKDOWN)
            .ok()
            .and_then(|t| lockdown_mode(&t).map(|m| (m.to_owned(), Self::LOCKDOWN)));
        // Without securityfs mounted, the boot parameter (Secure Boot can
        // also lock a kernel down; then nothing here tells).
        let from_cmdline = || {
            std::fs::read_to_string(Self::CMDLINE)
                .ok()
                .and_then(|t| cmdline_lockdown(&t).map(|m| (m.to_owned(), Self::CMDLINE)))
        };
        Self {
            lockdown: from_file.or_else(from_cmdline),
            kprobe_pmu: std::path::Path::new(Self::KPROBE_PMU).exists(),
        }
    }
}

/// The mode in brackets in `/sys/kernel/security/lockdown`
/// (`none [integrity] confidentiality` -> `integrity`).
fn lockdown_mode(text: &str) -> Option<&str> {
    let start = text.find('[')? + 1;
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

/// `lockdown=MODE` on the kernel command line.
fn cmdline_lockdown(cmdline: &str) -> Option<&str> {
    cmdline
        .split_ascii_whitespace()
        .filter_map(|w| w.strip_prefix("lockdown="))
        .next_back()
}

/// Why the kernel refuses `tier`, when it says so: appended to the reason.
fn hint(tier: FailedHook, k: &KernelLimits) -> String {
    let locked = match &k.lockdown {
        Some((mode, at)) if mode == "confidentiality" => Some(*at),
        _ => None,
    };
    match (tier, locked) {
        (FailedHook::Kretprobe, _) if !k.kprobe_pmu => {
            " (this kernel has no kprobes: built without CONFIG_KPROBES)".into()
        }
        (FailedHook::Fexit | FailedHook::Kretprobe, Some(at)) => format!(
            " (the kernel is locked down in confidentiality mode ({at}), which refuses {} programs)",
            tier.as_str()
        ),
        _ => String::new(),
    }
}

fn done(mut h: FailedHooks, reasons: Vec<String>) -> FailedHooks {
    if !reasons.is_empty() {
        let why = reasons.join("; ");
        let cost = if h.hook == FailedHook::Tracepoint {
            " (every system call of every process now pays the syscall-tracepoint tax, and 32-bit execs that fail are not seen)"
        } else {
            ""
        };
        log::warn!(
            "failed execs are hooked with {}: {why}{cost}",
            h.hook.as_str()
        );
        h.fallback_reason = Some(why);
    }
    if h.hook != FailedHook::Tracepoint && !h.compat {
        log::info!("no __ia32_compat_sys_execve* in this kernel (no IA32 emulation): no 32-bit execs to watch");
    }
    h
}

/// Loads and attaches tier 1 or 2 on every present entry point; on any error,
/// unloads what it loaded (detaching it) and returns the error.
fn syscall_tier(
    bpf: &mut Ebpf,
    btf: &Btf,
    present: &[EntryPoint],
    tier: FailedHook,
) -> Result<FailedHooks, String> {
    if !present.iter().any(|e| e.func == "__x64_sys_execve") {
        return Err("__x64_sys_execve is not in this kernel's BTF".into());
    }
    let steps: Vec<(&str, &'static str)> = present
        .iter()
        .map(|e| match tier {
            FailedHook::Fexit => (e.func, e.fexit),
            _ => (e.func, e.kretprobe),
        })
        .collect();
    attach_all(bpf, &steps, tier, |bpf, name, func| match tier {
        FailedHook::Fexit => attach_fexit(bpf, btf, name, func),
        _ => attach_kprobe(bpf, name, func),
    })
    .map_err(|(func, _, e)| format!("{func}: {e}"))?;
    Ok(hooked(tier, present))
}

/// Tier 2's pair form: a kprobe at entry and a kretprobe on every present
/// entry point, all the kprobes first (a kretprobe without its entry's
/// pointers reports nothing). On any error, unloads what it loaded.
fn kprobe_pairs(bpf: &mut Ebpf, present: &[EntryPoint]) -> Result<FailedHooks, String> {
    let steps: Vec<(&str, &'static str)> = present
        .iter()
        .map(|e| (e.func, e.entry_kprobe))
        .chain(present.iter().map(|e| (e.func, e.pair_kretprobe)))
        .collect();
    attach_all(bpf, &steps, FailedHook::Kretprobe, attach_kprobe)
        .map_err(|(func, name, e)| format!("{func}: {name}: {e}"))?;
    Ok(hooked(FailedHook::Kretprobe, present))
}

/// Attaches each (function, program) of `steps` in order; at the first
/// error, unloads (so detaches) every program it loaded and returns the
/// function, program and error.
fn attach_all<'a>(
    bpf: &mut Ebpf,
    steps: &[(&'a str, &'static str)],
    tier: FailedHook,
    mut attach: impl FnMut(&mut Ebpf, &'static str, &str) -> Result<(), String>,
) -> Result<(), (&'a str, &'static str, String)> {
    for (n, &(func, name)) in steps.iter().enumerate() {
        if let Err(e) = attach(bpf, name, func) {
            for &(_, name) in &steps[..=n] {
                let unloaded = match tier {
                    FailedHook::Fexit => program::<FExit>(bpf, name).map(|p| p.unload()),
                    _ => program::<KProbe>(bpf, name).map(|p| p.unload()),
                };
                if let Ok(Err(ue)) = unloaded {
                    log::debug!("unloading {name}: {ue}");
                }
            }
            return Err((func, name, e));
        }
    }
    Ok(())
}

/// What tier 1 or 2 hooked on `present`.
fn hooked(tier: FailedHook, present: &[EntryPoint]) -> FailedHooks {
    FailedHooks {
        hook: tier,
        functions: present.iter().map(|e| e.func).collect(),
        compat: present.iter().any(|e| e.func.starts_with("__ia32")),
        fallback_reason: None,
    }
}

fn attach_fexit(bpf: &mut Ebpf, btf: &Btf, name: &'static str, func: &str) -> Result<(), String> {
    let prog: &mut FExit = program(bpf, name).map_err(|e| e.to_string())?;
    prog.load(func, btf).map_err(|e| format!("load: {e}"))?;
    prog.attach().map_err(|e| format!("attach: {e}"))?;
    Ok(())
}

/// Loads and attaches a kprobe or kretprobe program (its ELF section says
/// which) on `func`.
fn attach_kprobe(bpf: &mut Ebpf, name: &'static str, func: &str) -> Result<(), String> {
    let prog: &mut KProbe = program(bpf, name).map_err(|e| e.to_string())?;
    prog.load().map_err(|e| format!("load: {e}"))?;
    prog.attach(func, 0).map_err(|e| format!("attach: {e}"))?;
    Ok(())
}

/// Attaches the exec and exit programs, each as `tp_btf` where it loads, else
/// as a raw tracepoint. Returns the forms used, for the start record.
pub fn sched(bpf: &mut Ebpf, btf: &Btf) -> Result<Vec<&'static str>, EbpfError> {
    let mut forms = Vec::new();
    for &(tp, btf_name, raw_name) in &SCHED_PROGRAMS {
        let direct = (|| {
            let prog: &mut BtfTracePoint = program(bpf, btf_name).map_err(|e| e.to_string())?;
            prog.load(tp, btf).map_err(|e| format!("load: {e}"))?;
            prog.attach().map_err(|e| format!("attach: {e}"))?;
            Ok::<(), String>(())
        })();
        match direct {
            Ok(()) => {
                forms.push("tp_btf");
                continue;
            }
            Err(e) => {
                if let Ok(Err(ue)) = program::<BtfTracePoint>(bpf, btf_name).map(|p| p.unload()) {
                    log::debug!("unloading {btf_name}: {ue}");
                }
                log::warn!(
                    "{tp}: tp_btf program refused ({e}); using a raw tracepoint (slower reads)"
                );
                forms.push("raw_tracepoint");
            }
        }
        let prog: &mut RawTracePoint = program(bpf, raw_name)?;
        prog.load().map_err(|source| EbpfError::Program {
            name: raw_name,
            source,
        })?;
        prog.attach(tp).map_err(|source| EbpfError::Program {
            name: raw_name,
            source,
        })?;
    }
    Ok(forms)
}

fn program<'a, T>(bpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut T, EbpfError>
where
    &'a mut T: TryFrom<&'a mut aya::programs::Program, Error = aya::programs::ProgramError>,
{
    bpf.program_mut(name)
        .ok_or_else(|| EbpfError::Other(format!("program {name} missing from object")))?
        .try_into()
        .map_err(|source| EbpfError::Program { name, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_is_asked_why_a_hook_is_refused() {
        assert_eq!(
            lockdown_mode("none [integrity] confidentiality\n"),
            Some("integrity")
        );
        assert_eq!(
            lockdown_mode("[none] integrity confidentiality"),
            Some("none")
        );
        assert_eq!(lockdown_mode("garbage"), None);
        assert_eq!(
            cmdline_lockdown("BOOT_IMAGE=/vmlinuz ro lockdown=confidentiality quiet"),
            Some("confidentiality")
        );
        assert_eq!(cmdline_lockdown("ro quiet"), None);
        let locked = KernelLimits {
            lockdown: Some(("confidentiality".into(), KernelLimits::LOCKDOWN)),
            kprobe_pmu: false,
        };
        let fexit = hint(FailedHook::Fexit, &locked);
        assert!(
            fexit.contains("locked down in confidentiality mode (/sys/kernel/security/lockdown)"),
            "{fexit}"
        );
        assert!(fexit.contains("refuses fexit programs"), "{fexit}");
        assert!(hint(FailedHook::Kretprobe, &locked).contains("CONFIG_KPROBES"));
        let open = KernelLimits {
            lockdown: Some(("integrity".into(), KernelLimits::LOCKDOWN)),
            kprobe_pmu: true,
        };
        assert_eq!(hint(FailedHook::Fexit, &open), "");
        assert_eq!(hint(FailedHook::Kretprobe, &open), "");
        let kprobes_locked = KernelLimits {
            kprobe_pmu: true,
            ..locked
        };
        assert!(hint(FailedHook::Kretprobe, &kprobes_locked).contains("refuses kretprobe programs"));
    }

    #[test]
    fn first_tier_from_the_environment() {
        assert_eq!(first_tier(None).unwrap(), FailedHook::Fexit);
        assert_eq!(first_tier(Some("")).unwrap(), FailedHook::Fexit);
        assert_eq!(
            first_tier(Some("kretprobe")).unwrap(),
            FailedHook::Kretprobe
        );
        assert_eq!(
            first_tier(Some("tracepoint")).unwrap(),
            FailedHook::Tracepoint
        );
        let e = first_tier(Some("uprobe")).unwrap_err().to_string();
        assert!(e.contains(FAILED_HOOK_ENV) && e.contains("uprobe"), "{e}");
    }

    #[test]
    fn every_entry_point_has_both_programs() {
        for e in ENTRY_POINTS {
            assert!(e.func.starts_with("__x64_sys_") || e.func.starts_with("__ia32_compat_sys_"));
            let suffix = e.fexit.trim_start_matches("fexit_");
            assert!(e.fexit.starts_with("fexit_"), "{e:?}");
            assert_eq!(e.kretprobe, format!("kretprobe_{suffix}"), "{e:?}");
            assert_eq!(e.entry_kprobe, format!("kprobe_{suffix}"), "{e:?}");
            assert_eq!(
                e.pair_kretprobe,
                format!("kretprobe_pair_{suffix}"),
                "{e:?}"
            );
        }
    }
}
