//! A fast hasher for maps keyed by numbers the kernel or tracer assigns
//! (pids, cgroup ids, audit serials, symbols), not by strings the people
//! being watched choose: std's SipHash showed in the report's and the
//! daemon's profiles (issue 13, issue 14). Maps keyed by user-chosen
//! strings keep SipHash (see `report::intern`).

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by integers, hashed with [`Mix`].
pub type IntMap<K, V> = HashMap<K, V, BuildHasherDefault<Mix>>;
/// A set of integers, hashed with [`Mix`].
pub type IntSet<K> = HashSet<K, BuildHasherDefault<Mix>>;

/// A multiply-rotate hasher for integer keys. The maps it serves are
/// bounded or keyed by values nobody picks at will, so crafted collisions
/// cost little.
#[derive(Default)]
pub struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    // `#[derive(Hash)]` hashes an enum's discriminant as an `isize`: one
    // step, not the byte loop of `write` that the default would take.
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_isize(&mut self, n: isize) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}
