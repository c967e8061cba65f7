//! Kernel-side filters (`tracer_common::config::Filter`): drop what a busy
//! node does not need before it costs a ring-buffer copy and a userspace
//! decode. Every drop is counted (`Counter::Filtered*`).

use aya_ebpf::{helpers::generated, macros::map, maps::PerCpuArray};
use tracer_common::config::{
    Filter, IdRange, EXE_PREFIX_MAX, FILTER_COMMS, FILTER_EXCLUDE_UNATTRIBUTED,
    FILTER_EXE_PREFIXES, FILTER_RANGES,
};

use crate::maps::{ExeKey, COMM_FILTER, EXE_FILTER};

const UNSET: u32 = u32::MAX;

/// Room for an LPM lookup key: too big for the 512-byte stack next to the
/// rest of the exec program's locals.
#[map(name = "EXE_KEY")]
static EXE_KEY: PerCpuArray<ExeKey> = PerCpuArray::with_max_entries(1, 0);

#[inline(always)]
fn in_ranges(ranges: &[IdRange; FILTER_RANGES], n: u32, id: u32) -> bool {
    for (i, r) in ranges.iter().enumerate() {
        if i as u32 >= n {
            break;
        }
        if id >= r.lo && id <= r.hi {
            return true;
        }
    }
    false
}

/// Whether a process with these ids is filtered out.
#[inline(always)]
pub fn excluded_ids(f: &Filter, uid: u32, auid: u32, in_job: bool) -> bool {
    // A batch job's processes have no login uid but are attributed to the
    // job's user (see `FLAG_IN_JOB`): `exclude_unattributed` keeps them.
    if f.flags & FILTER_EXCLUDE_UNATTRIBUTED != 0 && auid == UNSET && !in_job {
        return true;
    }
    if f.n_uid_include > 0 && !in_ranges(&f.uid_include, f.n_uid_include, uid) {
        return true;
    }
    if in_ranges(&f.uid_exclude, f.n_uid_exclude, uid) {
        return true;
    }
    if f.n_auid_include > 0 && !in_ranges(&f.auid_include, f.n_auid_include, auid) {
        return true;
    }
    in_ranges(&f.auid_exclude, f.n_auid_exclude, auid)
}

/// Whether an exec of `exe` (`exe_len` bytes at `exe`, in the scratch slot) by
/// a process named `comm` is filtered out.
///
/// # Safety
/// `exe` must be readable for `exe_len` bytes.
#[inline(always)]
pub unsafe fn excluded_exec(f: &Filter, comm: &[u8; 16], exe: *const u8, exe_len: u32) -> bool {
    // SAFETY: map lookups with valid keys.
    if f.flags & FILTER_COMMS != 0 && unsafe { COMM_FILTER.get(comm) }.is_some() {
        return true;
    }
    if f.flags & FILTER_EXE_PREFIXES != 0 {
        let Some(key) = EXE_KEY.get_ptr_mut(0) else {
            return false;
        };
        let n = if exe_len > EXE_PREFIX_MAX as u32 {
            EXE_PREFIX_MAX as u32
        } else {
            exe_len
        };
        // SAFETY: `key` is this CPU's slot; `n <= EXE_PREFIX_MAX`; `exe` is
        // readable per the contract.
        unsafe {
            (*key).prefix_len = n * 8;
            generated::bpf_probe_read_kernel(
                core::ptr::addr_of_mut!((*key).data).cast(),
                n & (EXE_PREFIX_MAX as u32 * 2 - 1),
                exe.cast(),
            );
            return EXE_FILTER.get(&*key).is_some();
        }
    }
    false
}
