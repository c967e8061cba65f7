//! Maps and the read-only config. Map names come from `tracer_common::maps`.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::{lpm_trie::Key, Array, HashMap, LpmTrie, LruHashMap, PerCpuArray, RingBuf},
};
use tracer_common::{
    config::{Config, COMM_FILTER_ENTRIES, EXE_FILTER_ENTRIES, EXE_PREFIX_MAX, TASK_COMM_LEN},
    event::SCRATCH_SIZE,
    kind::{Counter, COUNTER_SLOTS},
};

/// Written by userspace before load (`EbpfLoader::set_global`). Read through
/// [`config`] so that the compiler cannot fold the all-zero initial value.
#[unsafe(no_mangle)]
// SAFETY: `Config` is plain integers; all-zero is a valid value.
static CONFIG: Config = unsafe { core::mem::zeroed() };

#[inline(always)]
pub fn config() -> &'static Config {
    // SAFETY: CONFIG is a plain static; the volatile read of its address keeps
    // the compiler from assuming its compile-time (all-zero) contents, since
    // userspace rewrites .rodata before load.
    unsafe { &*core::ptr::read_volatile(&&raw const CONFIG) }
}

/// Every record goes out through this ring buffer. Userspace sizes it.
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 24, 0);

/// One slot per CPU (userspace sets `max_entries` to the number of possible
/// CPUs), indexed by `bpf_get_smp_processor_id()`. A plain array, not a per-CPU
/// one: per-CPU values are limited to 32 KiB and a record can be ~140 KiB.
#[map(name = "SCRATCH")]
pub static SCRATCH: Array<[u8; SCRATCH_SIZE]> = Array::with_max_entries(1, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(COUNTER_SLOTS, 0);

/// What an execve/execveat was asked to run, remembered from sys_enter until
/// sys_exit so that a failure can be reported with its path and argv. Used
/// only by the syscall-tracepoint fallback (`failed.rs`). LRU, so that
/// entries orphaned by a thread's death never fill it.
#[map(name = "INFLIGHT")]
pub static INFLIGHT: LruHashMap<u64, Inflight> = LruHashMap::with_max_entries(16384, 0);

/// comms whose execs are dropped. Filled and frozen by userspace before the
/// programs are attached.
#[map(name = "COMM_FILTER")]
pub static COMM_FILTER: HashMap<[u8; TASK_COMM_LEN], u8> =
    HashMap::with_max_entries(COMM_FILTER_ENTRIES, 0);

/// exe path prefixes whose execs are dropped. Filled and frozen by userspace.
#[map(name = "EXE_FILTER")]
pub static EXE_FILTER: LpmTrie<[u8; EXE_PREFIX_MAX], u8> =
    LpmTrie::with_max_entries(EXE_FILTER_ENTRIES, aya_ebpf::bindings::BPF_F_NO_PREALLOC);

pub type ExeKey = Key<[u8; EXE_PREFIX_MAX]>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Inflight {
    pub filename: u64,
    pub argv: u64,
    /// argv is an array of 32-bit pointers (an `int 0x80` call).
    pub compat: u64,
}

/// Set by userspace when a drain found the ring empty and it backs off its
/// timed drains; the next record sent clears it and wakes the reader, so the
/// first record after a quiet spell is read at once (see `wake_flags`).
#[map(name = "WAKE")]
pub static WAKE: Array<u32> = Array::with_max_entries(1, 0);

/// The ring-buffer flags for a record of `len` bytes: a wake-up when the
/// reader asked for one (it is idle, see [`WAKE`]) or when a quarter of the
/// ring would be pending, else none (the reader finds the record on its next
/// timed drain).
#[inline(always)]
pub fn wake_flags(len: u64) -> u64 {
    if let Some(p) = WAKE.get_ptr_mut(0) {
        // SAFETY: the pointer is into the map's only slot, valid for the
        // program's run; a racing clear by another CPU at worst wakes the
        // reader twice.
        unsafe {
            if *p != 0 {
                *p = 0;
                return BPF_RB_FORCE_WAKEUP as u64;
            }
        }
    }
    let pending = EVENTS.query(BPF_RB_AVAIL_DATA as u64);
    if pending + len >= config().wakeup_bytes as u64 {
        BPF_RB_FORCE_WAKEUP as u64
    } else {
        BPF_RB_NO_WAKEUP as u64
    }
}

#[inline(always)]
pub fn count(c: Counter) {
    if let Some(p) = COUNTERS.get_ptr_mut(c as u32) {
        // SAFETY: the pointer is into this CPU's slot of a per-CPU array, valid
        // for the program's run; programs on one CPU do not run concurrently.
        unsafe { *p += 1 };
    }
}

/// This CPU's scratch slot.
#[inline(always)]
pub fn scratch() -> Option<*mut u8> {
    // SAFETY: the helper has no preconditions.
    let cpu = unsafe { aya_ebpf::helpers::bpf_get_smp_processor_id() };
    SCRATCH.get_ptr_mut(cpu).map(|p| p.cast::<u8>())
}
