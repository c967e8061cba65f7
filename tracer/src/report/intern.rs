//! Interning for the report's model: each distinct byte string (argv, cwd,
//! exe, host, job) is stored once and named by a 4-byte [`Sym`]; logs
//! repeat the same commands and directories, so this is most of what keeps
//! a grouped report small. The map uses std's randomly keyed SipHash on
//! purpose: the strings are chosen by the people being watched, and a fast
//! unkeyed hash would let them make the report quadratic.

use std::collections::HashMap;
use std::rc::Rc;

/// An interned byte string.
pub type Sym = u32;
/// "No string" / "no number" in the compact structs.
pub const NONE: u32 = u32::MAX;

/// Each distinct byte string stored once.
#[derive(Debug, Default)]
pub struct Interner {
    map: HashMap<Rc<[u8]>, Sym>,
    strs: Vec<Rc<[u8]>>,
}

impl Interner {
    pub fn intern(&mut self, b: &[u8]) -> Sym {
        if let Some(&s) = self.map.get(b) {
            return s;
        }
        let rc: Rc<[u8]> = Rc::from(b);
        let sym = u32::try_from(self.strs.len()).unwrap_or(NONE - 1);
        self.strs.push(rc.clone());
        self.map.insert(rc, sym);
        sym
    }
    /// The bytes of `sym`; empty for [`NONE`].
    pub fn get(&self, sym: Sym) -> &[u8] {
        self.strs.get(sym as usize).map_or(&[][..], |r| r)
    }
    pub fn get_opt(&self, sym: Sym) -> Option<&[u8]> {
        (sym != NONE).then(|| self.get(sym))
    }
    pub fn str(&self, sym: Sym) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(self.get(sym))
    }
}

/// argv packed into one byte string: each argument as a LEB128 length and
/// its bytes (length-prefixed, so any byte, NUL included, survives).
pub fn pack_argv<A: AsRef<[u8]>>(argv: &[A]) -> Vec<u8> {
    let mut out = Vec::with_capacity(argv.iter().map(|a| a.as_ref().len() + 1).sum());
    for a in argv {
        let a = a.as_ref();
        let mut n = a.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out.extend_from_slice(a);
    }
    out
}

/// The arguments of a packed argv.
pub fn unpack_argv(mut packed: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !packed.is_empty() {
        let (mut n, mut shift, mut i) = (0usize, 0u32, 0);
        while let Some(&b) = packed.get(i) {
            n |= ((b & 0x7f) as usize).checked_shl(shift).unwrap_or(0);
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let end = i.saturating_add(n).min(packed.len());
        out.push(&packed[i..end]);
        packed = &packed[end..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn argv_packing_round_trips(argv in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..300), 0..6)) {
            let b: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            let packed = pack_argv(&b);
            let back: Vec<Vec<u8>> = unpack_argv(&packed).into_iter().map(<[u8]>::to_vec).collect();
            prop_assert_eq!(back, argv);
        }
    }

    #[test]
    fn unpack_never_panics_on_garbage() {
        let _ = unpack_argv(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        let _ = unpack_argv(&[0x05, b'a']);
    }
}
