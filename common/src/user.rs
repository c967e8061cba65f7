//! Userspace-only helpers for the ABI types: aya `Pod` impls and safe decoding
//! of ring-buffer bytes.

use core::mem::size_of;

use crate::config::Config;
use crate::event::{EventHeader, ExecEvent, ExitEvent};

// SAFETY: `Config` and its members are `#[repr(C)]`, `Copy`, made only of `u32`
// fields, and have no padding (checked by the size asserts in `config.rs`), so
// every bit pattern is valid and none of its bytes is uninitialised.
unsafe impl aya::Pod for Config {}

/// Types that may be read from arbitrary bytes: `#[repr(C)]`, padding-free,
/// integers and byte arrays only.
///
/// # Safety
/// Implementors must be valid for every bit pattern.
pub unsafe trait FromBytes: Copy {
    /// Reads `Self` from the start of `bytes`, or `None` if too short.
    fn read_from_prefix(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < size_of::<Self>() {
            return None;
        }
        // SAFETY: the length was checked above; `read_unaligned` has no alignment
        // requirement; `Self: FromBytes` is valid for any bit pattern.
        Some(unsafe { core::ptr::read_unaligned(bytes.as_ptr().cast::<Self>()) })
    }
}

// SAFETY: integers only, no padding (asserted in event.rs).
unsafe impl FromBytes for EventHeader {}
// SAFETY: integers and byte arrays only, no padding (asserted in event.rs).
unsafe impl FromBytes for ExecEvent {}
// SAFETY: integers and byte arrays only, no padding (asserted in event.rs).
unsafe impl FromBytes for ExitEvent {}
