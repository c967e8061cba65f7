//! Lossless text encoding of byte strings (argv, paths, comm, tty).
//!
//! What the kernel hands us are bytes, usually UTF-8 but not always. Logs must be
//! JSON strings, and must round-trip exactly: a report or a cross-check that
//! compares argv must see the bytes that ran. The encoding keeps valid UTF-8 as
//! it is and writes each byte `b` that is not part of valid UTF-8 as the
//! character `U+10FF00 + b` (the last 256 code points of Unicode's private use
//! plane 16, which no real text uses). For the encoding to stay unambiguous,
//! a genuine `U+10FFxx` character in the input is written byte-wise the same way
//! (its four UTF-8 bytes become four escape characters), so decoding simply maps
//! every `U+10FFxx` back to byte `xx`. Python's `surrogateescape` follows the
//! same idea; surrogates themselves cannot appear in JSON produced by Rust.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// First code point of the escape block.
const ESCAPE_BASE: u32 = 0x10FF00;

/// [`encode`], borrowing `bytes` when they are their own encoding (valid
/// UTF-8 without U+10FFxx, whose UTF-8 is the only one to start with
/// 0xF4 0x8F 0xBC..0xBF): what nearly every argument and path is.
pub fn encode_cow(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if memchr::memchr(0xF4, bytes).is_none() {
        if let Ok(s) = std::str::from_utf8(bytes) {
            return std::borrow::Cow::Borrowed(s);
        }
    }
    std::borrow::Cow::Owned(encode(bytes))
}

/// Encodes `bytes` as a string that [`decode`] turns back into the same bytes.
pub fn encode(bytes: &[u8]) -> String {
    if let Some(s) = plain(bytes) {
        return s.to_owned();
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    // Writing into a String cannot fail.
    let _ = write_encoded(&mut out, bytes);
    out
}

/// `b` as text, invalid sequences replaced, as `String::from_utf8_lossy`
/// gives it, but valid text (nearly all of it) checked by `str::from_utf8`,
/// which reads ASCII a word at a time where `from_utf8_lossy`'s chunk
/// iterator goes byte by byte (~2 % of a report's model thread, issue 14).
#[inline]
pub fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(b),
    }
}

/// Whether every byte of `b` is in `0x20..=hi` and neither `"` nor `\`:
/// what the JSON writers copy into a string as it is (`hi` 0x7e: printable
/// ASCII; 0x7f: ASCII; 0xff: anything from the space up). Nearly every
/// string they write is such, so this runs for each of them: argv words,
/// paths, times, names.
///
/// 16 bytes at a time with SSE2 on x86_64, the last block overlapping the
/// one before and a string shorter than a block copied into a padded one:
/// the compiler vectorized the full blocks of a byte-wise test but left
/// every string's tail (all of a short one) to a scalar loop of ~8
/// instructions a byte, most of the check's cost on argv words and paths
/// (issue 14; held equal to the byte-wise test by a property test).
#[inline]
pub fn json_plain(b: &[u8], hi: u8) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        json_plain_sse2(b, hi)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        json_plain_bytes(b, hi)
    }
}

/// [`json_plain`] a byte at a time: the definition.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn json_plain_bytes(b: &[u8], hi: u8) -> bool {
    b.iter()
        .all(|&x| (0x20..=hi).contains(&x) && x != b'"' && x != b'\\')
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn json_plain_sse2(b: &[u8], hi: u8) -> bool {
    use simd::{eq, first_not, within};
    use std::arch::x86_64::{_mm_andnot_si128, _mm_or_si128};
    if hi < 0x20 {
        return b.is_empty();
    }
    first_not(b, |v| {
        // SAFETY: SSE2 is part of the x86_64 baseline.
        unsafe { _mm_andnot_si128(_mm_or_si128(eq(v, b'"'), eq(v, b'\\')), within(v, 0x20, hi)) }
    }) == b.len()
}

/// Byte-class scans 16 bytes at a time with SSE2, the x86_64 baseline: the
/// one loop behind [`json_plain`] and the shell quoting's test for bare
/// arguments (`report::quote`).
#[cfg(target_arch = "x86_64")]
pub(crate) mod simd {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_sub_epi8,
    };

    /// 0xff in each byte of `v` in `lo..=hi`, else 0: `x - lo`, unsigned,
    /// is at most `hi - lo` (`lo <= hi`).
    #[inline(always)]
    pub fn within(v: __m128i, lo: u8, hi: u8) -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline; register operations.
        unsafe {
            let d = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
            _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(hi.wrapping_sub(lo) as i8)), d)
        }
    }

    /// 0xff in each byte of `v` equal to `c`, else 0.
    #[inline(always)]
    pub fn eq(v: __m128i, c: u8) -> __m128i {
        // SAFETY: SSE2 is part of the x86_64 baseline; register operations.
        unsafe { _mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8)) }
    }

    /// The index of the first byte of `b` that `ok` (0xff in each byte of a
    /// block that is in the class) leaves out, else `b.len()`. A string
    /// shorter than a block is copied into a padded one (the padding is cut
    /// off the answer); a longer one's last block overlaps the one before,
    /// whose bytes were all in the class, so the first miss in it is the
    /// string's.
    #[inline(always)]
    pub fn first_not(b: &[u8], ok: impl Fn(__m128i) -> __m128i) -> usize {
        // The bits of a block's bytes that are not in the class.
        let misses = |v: __m128i| {
            // SAFETY: SSE2 is part of the x86_64 baseline.
            !(unsafe { _mm_movemask_epi8(ok(v)) } as u32) & 0xffff
        };
        // SAFETY: `_mm_loadu_si128` needs no alignment and reads 16 bytes:
        // within `b` at `at` when `at + 16 <= b.len()`.
        let load = |at: usize| unsafe { _mm_loadu_si128(b.as_ptr().add(at).cast()) };
        let n = b.len();
        if n < 16 {
            let mut pad = [0u8; 16];
            pad[..n].copy_from_slice(b);
            // SAFETY: reads the 16 bytes of `pad`.
            let m = misses(unsafe { _mm_loadu_si128(pad.as_ptr().cast()) });
            return (m.trailing_zeros() as usize).min(n);
        }
        let mut i = 0;
        while i + 16 <= n {
            let m = misses(load(i));
            if m != 0 {
                return i + m.trailing_zeros() as usize;
            }
            i += 16;
        }
        if i == n {
            return n;
        }
        let m = misses(load(n - 16));
        if m == 0 {
            n
        } else {
            n - 16 + m.trailing_zeros() as usize
        }
    }
}

/// `bytes` as text when [`encode`] leaves them as they are: valid UTF-8
/// without any character of the escape block (the common case, checked
/// without decoding characters when no byte 0xF4 is present).
pub fn plain(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?;
    // Every escape-block character starts with byte 0xF4 in UTF-8; ASCII
    // (nearly every value) is known free of them without a search.
    (s.is_ascii() || !bytes.contains(&0xF4) || !s.chars().any(is_escape)).then_some(s)
}

/// Writes [`encode`]'s form of `bytes` into `out` without allocating: the
/// one implementation of the encoding (JSON writers stream it through
/// `collect_str`).
pub fn write_encoded<W: fmt::Write + ?Sized>(out: &mut W, bytes: &[u8]) -> fmt::Result {
    let mut rest = bytes;
    while !rest.is_empty() {
        match std::str::from_utf8(rest) {
            Ok(s) => return push_valid(out, s),
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                // SAFETY: `valid_up_to` guarantees the prefix is valid UTF-8.
                push_valid(out, unsafe { std::str::from_utf8_unchecked(valid) })?;
                let bad = e.error_len().unwrap_or(after.len());
                for &b in &after[..bad] {
                    out.write_char(escape(b))?;
                }
                rest = &after[bad..];
            }
        }
    }
    Ok(())
}

/// Decodes a string made by [`encode`] back into bytes.
pub fn decode(s: &str) -> Vec<u8> {
    if !s.chars().any(is_escape) {
        return s.as_bytes().to_vec();
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        if is_escape(c) {
            out.push((c as u32 - ESCAPE_BASE) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

fn push_valid<W: fmt::Write + ?Sized>(out: &mut W, s: &str) -> fmt::Result {
    if !s.as_bytes().contains(&0xF4) {
        return out.write_str(s);
    }
    for c in s.chars() {
        if is_escape(c) {
            let mut buf = [0u8; 4];
            for &b in c.encode_utf8(&mut buf).as_bytes() {
                out.write_char(escape(b))?;
            }
        } else {
            out.write_char(c)?;
        }
    }
    Ok(())
}

/// [`encode`]'s form of a byte string, for `Display` (and so for serde's
/// `collect_str`, which serde_json escapes as it writes: no allocation).
pub struct Encoded<'a>(pub &'a [u8]);

impl fmt::Display for Encoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_encoded(f, self.0)
    }
}

/// Serializes `bytes` as [`encode`] writes them, without allocating.
pub fn serialize_encoded<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    match plain(bytes) {
        Some(v) => s.serialize_str(v),
        None => s.collect_str(&Encoded(bytes)),
    }
}

fn is_escape(c: char) -> bool {
    (c as u32) >= ESCAPE_BASE && (c as u32) <= ESCAPE_BASE + 0xFF
}

fn escape(b: u8) -> char {
    // SAFETY-free: U+10FF00..=U+10FFFF are all valid scalar values.
    char::from_u32(ESCAPE_BASE + b as u32).expect("U+10FFxx is a valid char")
}

/// A byte string that serializes with [`encode`] and deserializes with [`decode`].
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Lossy text for display; use the shell quoting of the report for anything a
    /// person must be able to retype.
    pub fn to_string_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl From<&[u8]> for Bytes {
    fn from(b: &[u8]) -> Self {
        Self(b.to_vec())
    }
}
impl From<Vec<u8>> for Bytes {
    fn from(b: Vec<u8>) -> Self {
        Self(b)
    }
}
impl From<&str> for Bytes {
    fn from(s: &str) -> Self {
        Self(s.as_bytes().to_vec())
    }
}

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_encoded(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Ok(Self(decode(&s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector check is the byte-wise definition, for every length
        /// around the block size and the bytes at the edges of each class.
        #[test]
        fn json_plain_is_the_bytewise_test(
            b in proptest::collection::vec(
                prop_oneof![
                    Just(0x1fu8), Just(0x20), Just(b'"'), Just(b'\\'), Just(b'a'),
                    Just(0x7e), Just(0x7f), Just(0x80), Just(0xff), any::<u8>(),
                ],
                0..70,
            ),
            hi in prop_oneof![Just(0x7eu8), Just(0x7f), Just(0xff), Just(0x1f), Just(0x20), any::<u8>()],
        ) {
            prop_assert_eq!(json_plain(&b, hi), json_plain_bytes(&b, hi));
        }
    }

    #[test]
    fn json_plain_examples() {
        assert!(json_plain(b"", 0x7e));
        assert!(json_plain(b"/usr/bin/ls", 0x7e));
        assert!(json_plain(b"a path longer than one block of sixteen", 0x7e));
        assert!(!json_plain(
            b"a path longer than one block of sixteen\"",
            0x7e
        ));
        assert!(!json_plain(b"tab\there", 0x7e));
        assert!(!json_plain(b"del\x7f", 0x7e));
        assert!(json_plain(b"del\x7f", 0x7f));
        assert!(!json_plain("é".as_bytes(), 0x7f));
        assert!(json_plain("é".as_bytes(), 0xff));
        assert!(!json_plain(b"back\\slash", 0xff));
    }

    #[test]
    fn encode_cow_is_encode() {
        for b in [
            &b""[..],
            b"plain",
            b"x\xc3\x28y",
            "\u{10ff41}".as_bytes(),
            "\u{10fe41}".as_bytes(),
            b"\xf4",
            "é".as_bytes(),
        ] {
            assert_eq!(encode_cow(b), encode(b), "{b:?}");
        }
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(encode(b"two words"), "two words");
        assert_eq!(encode("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn invalid_bytes_are_escaped_and_restored() {
        let raw = b"caf\xe9 \xff\x00end";
        let enc = encode(raw);
        assert!(enc.starts_with("caf"));
        assert_eq!(enc.chars().filter(|&c| is_escape(c)).count(), 2);
        assert_eq!(decode(&enc), raw);
    }

    #[test]
    fn genuine_escape_block_chars_round_trip() {
        let s = "a\u{10FF41}b";
        let enc = encode(s.as_bytes());
        assert_ne!(enc, s);
        assert_eq!(decode(&enc), s.as_bytes());
    }

    #[test]
    fn json_round_trip() {
        let b = Bytes(b"x\xc3\x28y".to_vec());
        let j = serde_json::to_string(&b).unwrap();
        let back: Bytes = serde_json::from_str(&j).unwrap();
        assert_eq!(back, b);
    }

    proptest! {
        /// `lossy` is `String::from_utf8_lossy`, on text and on any bytes.
        #[test]
        fn lossy_is_from_utf8_lossy(
            v in proptest::collection::vec(any::<u8>(), 0..64),
            s in ".{0,32}",
        ) {
            prop_assert_eq!(lossy(&v), String::from_utf8_lossy(&v));
            prop_assert_eq!(lossy(s.as_bytes()), String::from_utf8_lossy(s.as_bytes()));
        }

        #[test]
        fn any_bytes_round_trip(v in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert_eq!(decode(&encode(&v)), v.clone());
            let j = serde_json::to_string(&Bytes(v.clone())).unwrap();
            let back: Bytes = serde_json::from_str(&j).unwrap();
            prop_assert_eq!(back.0, v);
        }

        /// Byte strings made of the tricky pieces: valid UTF-8, the escape
        /// block's own characters (U+10FF00..), cut multi-byte sequences,
        /// controls, quotes and newlines; and a whole argv through JSON.
        #[test]
        fn tricky_argv_round_trips(argv in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                any::<u8>().prop_map(|b| vec![b]),
                (0u8..=255).prop_map(|x| vec![0xf4, 0x8f, 0xbc | (x >> 6), 0x80 | (x & 0x3f)]),
                Just(vec![0xf4, 0x8f]),
                Just("é\n\"\u{1b}[2J".as_bytes().to_vec()),
            ], 0..16).prop_map(|parts| parts.concat()),
            0..8,
        )) {
            let wire: Vec<Bytes> = argv.iter().cloned().map(Bytes).collect();
            let j = serde_json::to_string(&wire).unwrap();
            prop_assert!(!j.contains('\n') && !j.contains('\x1b'), "raw control in {}", j);
            let back: Vec<Bytes> = serde_json::from_str(&j).unwrap();
            let back: Vec<Vec<u8>> = back.into_iter().map(|b| b.0).collect();
            prop_assert_eq!(back, argv);
        }
    }
}
