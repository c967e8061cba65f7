//! Interning for the report's model: each distinct byte string (argv, cwd,
//! exe, host, job) is stored once and named by a 4-byte [`Sym`]; logs
//! repeat the same commands and directories, so this is most of what keeps
//! a grouped report small.
//!
//! Compact on purpose (issue 14): a report of every command of a 1 GB log
//! interns ~700,000 mostly distinct command lines, and a `HashMap<Rc<[u8]>,
//! Sym>` beside a `Vec<Rc<[u8]>>` cost ~90 bytes of headers, pointers and
//! malloc overhead per string on top of its bytes. Here the bytes live in
//! 1 MiB blocks that are never reallocated (no copy, no freed old buffer
//! left resident), a string is 12 bytes of location, and the hash table is
//! open addressing over 8-byte slots (the symbol and 32 bits of its hash):
//! ~25 bytes per string besides its bytes. The hash is std's randomly keyed
//! SipHash on purpose: the strings are chosen by the people being watched,
//! and a fast unkeyed hash would let them make the report quadratic.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// An interned byte string.
pub type Sym = u32;
/// "No string" / "no number" in the compact structs.
pub const NONE: u32 = u32::MAX;

/// Bytes per block of string storage; longer strings get a block of their own.
const BLOCK: usize = 1 << 20;

/// [`Loc::block`] of a string in [`Interner::big`].
const BIG: u32 = 1 << 31;
/// [`Loc::block`] of a compressed command line in [`Interner::zipped`].
const ZIP: u32 = 1 << 30;
/// Packed command lines longer than this are kept LZ4-compressed: the long
/// arguments of real logs (include lists, pasted blobs, several KB each)
/// were half of a big report's memory, and they compress well.
const ZIP_MIN: usize = 1024;

/// A command's rare facts, interned as one value: nearly every command has
/// no job, no sudo target and an effective uid equal to its uid, so a
/// [`super::model::Command`] keeps one index ([`NONE`] for "none of these")
/// instead of four fields, 48 bytes instead of 64 per row (issue 14). The
/// commands of one job share one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Extra {
    pub job: Sym,
    pub step: Sym,
    /// The user sudo/su ran the command as, by name.
    pub target: Sym,
    /// The effective uid ([`NONE`] when unknown).
    pub euid: u32,
}

/// Where one string's bytes are: `blocks[block][start..start + len]`.
#[derive(Debug, Clone, Copy)]
struct Loc {
    block: u32,
    start: u32,
    len: u32,
}

/// Each distinct byte string stored once.
#[derive(Debug)]
pub struct Interner {
    hasher: RandomState,
    /// Open addressing, linear probing; a slot is `(hash >> 32) << 32 |
    /// (sym + 1)`, 0 when empty. Its length is a power of two.
    table: Vec<u64>,
    locs: Vec<Loc>,
    /// String storage; each block's capacity is fixed when it is made.
    blocks: Vec<Vec<u8>>,
    /// Strings longer than a quarter block, each on its own
    /// ([`Loc::block`] is `BIG | index`).
    big: Vec<Box<[u8]>>,
    /// Long command lines, LZ4-compressed, with their hash (to rehash
    /// without decompressing). Read them with [`Interner::argv`].
    zipped: Vec<(u64, Box<[u8]>)>,
    /// Scratch for [`Interner::intern_argv`].
    scratch: Vec<u8>,
    /// The compressor's output buffer (see `store_zipped`).
    zip_buf: Vec<u8>,
    /// Commands' rare facts ([`Interner::intern_extra`]).
    extras: Vec<Extra>,
    extra_index: std::collections::HashMap<Extra, u32>,
    /// The last compressed line read, decompressed: renderers read a
    /// row's command line twice (its argv and its quoted form). Behind a lock, taken only
    /// if free: the JSON renderer's threads share the interner.
    last: std::sync::Mutex<(Sym, Vec<u8>)>,
}

/// Decompresses `data`, LZ4 block data of exactly `len` bytes, into a new
/// buffer; `None` if it is not that.
fn decompress(data: &[u8], len: usize) -> Option<Vec<u8>> {
    let mut out = vec![0; len];
    let n = lz4_flex::block::decompress_into(data, &mut out).ok()?;
    (n == len).then_some(out)
}

impl Default for Interner {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            table: vec![0; 64],
            locs: Vec::new(),
            blocks: Vec::new(),
            big: Vec::new(),
            zipped: Vec::new(),
            scratch: Vec::new(),
            zip_buf: Vec::new(),
            extras: Vec::new(),
            extra_index: Default::default(),
            last: std::sync::Mutex::new((NONE, Vec::new())),
        }
    }
}

impl Interner {
    pub fn intern(&mut self, b: &[u8]) -> Sym {
        self.intern_as(b, false)
    }

    fn intern_as(&mut self, b: &[u8], zip: bool) -> Sym {
        let h = self.hasher.hash_one(b);
        let tag = h & 0xffff_ffff_0000_0000;
        let mask = self.table.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let slot = self.table[i];
            if slot == 0 {
                break;
            }
            if slot & 0xffff_ffff_0000_0000 == tag {
                let sym = (slot as u32) - 1;
                if *self.argv(sym) == *b {
                    return sym;
                }
            }
            i = (i + 1) & mask;
        }
        let sym = u32::try_from(self.locs.len()).unwrap_or(NONE);
        if sym >= NONE - 1 {
            // Four billion distinct strings: later ones share one symbol
            // rather than wrap (as the old interner did).
            return NONE - 1;
        }
        let loc = match zip && b.len() > ZIP_MIN {
            true => self.store_zipped(b, h),
            false => self.store(b),
        };
        self.locs.push(loc);
        self.table[i] = tag | u64::from(sym + 1);
        if self.locs.len() * 4 > self.table.len() * 3 {
            self.grow();
        }
        sym
    }

    /// Interns argv packed as by [`pack_argv`], without allocating; a
    /// long one is kept compressed. Read it back with [`Interner::argv`].
    pub fn intern_argv<A: AsRef<[u8]>>(&mut self, argv: &[A]) -> Sym {
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        pack_argv_into(argv, &mut buf);
        let sym = self.intern_as(&buf, true);
        self.scratch = buf;
        sym
    }

    /// The index of `e`, stored once however many commands share it.
    pub fn intern_extra(&mut self, e: Extra) -> u32 {
        if let Some(&i) = self.extra_index.get(&e) {
            return i;
        }
        let Ok(i) = u32::try_from(self.extras.len()) else {
            return NONE;
        };
        if i == NONE {
            return NONE;
        }
        self.extras.push(e);
        self.extra_index.insert(e, i);
        i
    }

    /// What [`Interner::intern_extra`] stored as `i`.
    pub fn extra(&self, i: u32) -> Option<&Extra> {
        self.extras.get(i as usize)
    }

    fn store(&mut self, b: &[u8]) -> Loc {
        // Lines are capped far below 4 GiB; nothing longer reaches here.
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        if b.len() > BLOCK / 4 {
            // A big string: an allocation of its own, so that blocks stay
            // mostly full.
            self.big.push(b.into());
            return Loc {
                block: BIG | (self.big.len() - 1) as u32,
                start: 0,
                len,
            };
        }
        match self.blocks.last() {
            Some(last) if last.capacity() - last.len() >= b.len() => {}
            _ => self.blocks.push(Vec::with_capacity(BLOCK)),
        }
        let block = self.blocks.len() - 1;
        let last = &mut self.blocks[block];
        let start = last.len() as u32;
        last.extend_from_slice(b);
        Loc {
            block: block as u32,
            start,
            len,
        }
    }

    fn store_zipped(&mut self, b: &[u8], hash: u64) -> Loc {
        // One output buffer for every line, zeroed only when it grows: a
        // fresh zeroed buffer per line was ~0.5 % of a report.
        let max = lz4_flex::block::get_maximum_output_size(b.len());
        if self.zip_buf.len() < max {
            self.zip_buf.resize(max, 0);
        }
        let Ok(n) = lz4_flex::block::compress_into(b, &mut self.zip_buf[..max]) else {
            // The buffer is big enough for any input; should it not be,
            // keep the bytes as they are.
            return self.store(b);
        };
        let data: Box<[u8]> = self.zip_buf[..n].into();
        self.zipped.push((hash, data));
        Loc {
            block: ZIP | (self.zipped.len() - 1) as u32,
            start: 0,
            len: b.len() as u32,
        }
    }

    /// The bytes of a string interned by [`Interner::intern_argv`] (or any
    /// other): decompressed when it was kept compressed.
    pub fn argv(&self, sym: Sym) -> std::borrow::Cow<'_, [u8]> {
        match self.locs.get(sym as usize) {
            Some(l) if l.block & BIG == 0 && l.block & ZIP != 0 => {
                if let Ok(last) = self.last.try_lock() {
                    if last.0 == sym {
                        return std::borrow::Cow::Owned(last.1.clone());
                    }
                }
                let data = &self.zipped[(l.block & !ZIP) as usize].1;
                // Our own compressor's output, in memory: it decompresses.
                let out = decompress(data, l.len as usize).unwrap_or_default();
                if let Ok(mut last) = self.last.try_lock() {
                    last.0 = sym;
                    last.1.clear();
                    last.1.extend_from_slice(&out);
                }
                std::borrow::Cow::Owned(out)
            }
            _ => std::borrow::Cow::Borrowed(self.get(sym)),
        }
    }

    fn grow(&mut self) {
        let size = self.table.len() * 2;
        let mask = size - 1;
        let mut table = vec![0u64; size];
        for sym in 0..self.locs.len() as u32 {
            let h = match self.locs[sym as usize] {
                l if l.block & BIG == 0 && l.block & ZIP != 0 => {
                    self.zipped[(l.block & !ZIP) as usize].0
                }
                _ => self.hasher.hash_one(self.get(sym)),
            };
            let mut i = (h as usize) & mask;
            while table[i] != 0 {
                i = (i + 1) & mask;
            }
            table[i] = (h & 0xffff_ffff_0000_0000) | u64::from(sym + 1);
        }
        self.table = table;
    }

    /// The bytes of `sym`; empty for [`NONE`]. Command lines are read with
    /// [`Interner::argv`] (a long one is compressed: this gives it empty).
    pub fn get(&self, sym: Sym) -> &[u8] {
        match self.locs.get(sym as usize) {
            Some(l) if l.block & BIG != 0 => &self.big[(l.block & !BIG) as usize],
            Some(l) if l.block & ZIP != 0 => {
                debug_assert!(false, "a compressed command line read with get()");
                &[]
            }
            Some(l) => {
                let start = l.start as usize;
                &self.blocks[l.block as usize][start..start + l.len as usize]
            }
            None => &[],
        }
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
    pack_argv_into(argv, &mut out);
    out
}

/// [`pack_argv`], appending to `out`.
pub fn pack_argv_into<A: AsRef<[u8]>>(argv: &[A], out: &mut Vec<u8>) {
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
}

/// The arguments of a packed argv.
pub fn unpack_argv(packed: &[u8]) -> Vec<&[u8]> {
    argv_iter(packed).collect()
}

/// The arguments of a packed argv, without collecting them (the JSON
/// renderer writes each as it comes).
pub fn argv_iter(mut packed: &[u8]) -> impl Iterator<Item = &[u8]> {
    std::iter::from_fn(move || {
        if packed.is_empty() {
            return None;
        }
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
        let arg = &packed[i..end];
        packed = &packed[end..];
        Some(arg)
    })
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

    proptest! {
        #[test]
        fn interning_gives_one_symbol_per_distinct_string(
            strs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..300),
            big in proptest::collection::vec(0usize..300, 0..4),
        ) {
            let mut strs = strs;
            // Some strings bigger than a quarter block, between small ones.
            for (n, at) in big.iter().enumerate() {
                let at = (*at).min(strs.len());
                strs.insert(at, vec![n as u8; BLOCK / 4 + 1 + n]);
            }
            let mut i = Interner::default();
            let mut seen: std::collections::HashMap<Vec<u8>, Sym> = Default::default();
            for s in strs.iter().chain(strs.iter()) {
                let sym = i.intern(s);
                prop_assert_eq!(i.get(sym), &s[..]);
                let first = *seen.entry(s.clone()).or_insert(sym);
                prop_assert_eq!(first, sym);
            }
            // Symbols are dense, in order of first appearance.
            prop_assert_eq!(i.locs.len(), seen.len());
            prop_assert!(seen.values().all(|&s| (s as usize) < seen.len()));
        }
    }

    #[test]
    fn interner_fills_blocks_and_grows_its_table() {
        let mut i = Interner::default();
        let syms: Vec<Sym> = (0..200_000u32)
            .map(|n| i.intern(format!("/home/user{n}/some/where").as_bytes()))
            .collect();
        assert!(i.blocks.len() > 1, "more than one block used");
        for (n, &s) in syms.iter().enumerate() {
            assert_eq!(s as usize, n);
            assert_eq!(i.get(s), format!("/home/user{n}/some/where").as_bytes());
            assert_eq!(i.intern(format!("/home/user{n}/some/where").as_bytes()), s);
        }
        assert_eq!(
            i.intern_argv(&["ls", "-l"]),
            i.intern(&pack_argv(&["ls", "-l"]))
        );
        // Long command lines are kept compressed, found again, read back whole.
        let long: Vec<String> = (0..50)
            .map(|n| format!("-I/opt/pkg/{n}/include:").repeat(n))
            .collect();
        let a = i.intern_argv(&long);
        assert_eq!(i.intern_argv(&long), a);
        assert_eq!(&*i.argv(a), &pack_argv(&long)[..]);
        assert!(i.zipped.len() == 1 && i.zipped[0].1.len() < pack_argv(&long).len() / 4);
        let mut other = long.clone();
        other[49].push('x');
        let b = i.intern_argv(&other);
        assert_ne!(a, b);
        assert_eq!(&*i.argv(b), &pack_argv(&other)[..]);
        assert_eq!(i.get(NONE), b"");
        assert_eq!(i.get_opt(NONE), None);
    }

    proptest! {
        /// Long lines are compressed each on its own: every one reads
        /// back whole, whatever came before it.
        #[test]
        fn compressed_lines_read_back_alone(lines in proptest::collection::vec(
            (proptest::collection::vec(0u8..4, 0..3000), 1usize..4000), 1..12)) {
            let mut i = Interner::default();
            let mut want = Vec::new();
            for (seed, n) in &lines {
                // Repetitive (compressible) text, and some raw bytes.
                let mut a: Vec<u8> = b"-I/opt/pkg/include ".repeat(n / 19 + 1);
                a.truncate(*n);
                a.extend(seed.iter().map(|&s| s.wrapping_mul(97)));
                let argv = [a];
                want.push((i.intern_argv(&argv), pack_argv(&argv)));
            }
            for (sym, packed) in &want {
                prop_assert_eq!(&*i.argv(*sym), &packed[..]);
            }
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
