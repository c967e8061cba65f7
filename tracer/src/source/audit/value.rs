//! Field values of audit records and how to read them.
//!
//! The kernel writes strings it does not trust (argv, paths, comm, exe, cwd,
//! proctitle, keys) with `audit_log_untrustedstring`: in double quotes when they
//! hold only printable ASCII other than `"` and space-free, else as unquoted
//! upper-case hex of the raw bytes. So a bare value of such a field is hex, and
//! `(null)` stands for "no string". Numbers are bare decimal; login uids and
//! session ids also appear as `4294967295`, `-1` or `unset` when never set.
//! A [`Value`] borrows from the line; decoding allocates only for hex.

use std::borrow::Cow;

use crate::event::UNSET;

/// One field's value, borrowed from the record text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value<'a> {
    /// `name="text"`: the bytes between the quotes.
    Quoted(&'a [u8]),
    /// `name=text`: up to the next space.
    Bare(&'a [u8]),
}

impl<'a> Value<'a> {
    /// The bytes as written (without the quotes).
    pub fn raw(&self) -> &'a [u8] {
        match *self {
            Value::Quoted(v) | Value::Bare(v) => v,
        }
    }

    /// `(null)` written bare: the kernel had no string to log.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Bare(b"(null)"))
    }

    /// An untrusted string field (see the module docs): quoted text as is, bare
    /// even-length hex decoded, `(null)` as `None`. A bare value that is not hex
    /// (already-interpreted logs write `comm=top`) is returned as written.
    pub fn untrusted(&self) -> Option<Cow<'a, [u8]>> {
        match *self {
            Value::Quoted(v) => Some(Cow::Borrowed(v)),
            Value::Bare(b"(null)") => None,
            Value::Bare(v) => Some(match decode_hex(v) {
                Some(d) => Cow::Owned(d),
                None => Cow::Borrowed(v),
            }),
        }
    }

    /// Like [`Value::untrusted`], `(null)` kept as the text `(null)`: for argv,
    /// where every position must hold something.
    pub fn untrusted_or_raw(&self) -> Cow<'a, [u8]> {
        self.untrusted().unwrap_or(Cow::Borrowed(self.raw()))
    }

    /// An unsigned decimal number.
    pub fn to_u64(&self) -> Option<u64> {
        parse_u64(self.raw())
    }

    pub fn to_u32(&self) -> Option<u32> {
        self.to_u64().and_then(|v| u32::try_from(v).ok())
    }

    /// A signed decimal number (`exit=-2`).
    pub fn to_i64(&self) -> Option<i64> {
        let v = self.raw();
        match v.strip_prefix(b"-") {
            Some(rest) => parse_u64(rest)
                .and_then(|n| i64::try_from(n).ok())
                .map(|n| -n),
            None => parse_u64(v).and_then(|n| i64::try_from(n).ok()),
        }
    }

    /// A login uid or session id: `4294967295`, `-1` and `unset` all mean
    /// [`UNSET`].
    pub fn to_id(&self) -> Option<u32> {
        match self.raw() {
            b"-1" | b"unset" | b"4294967295" => Some(UNSET),
            _ => self.to_u32(),
        }
    }

    /// A hexadecimal number without `0x` (`arch=c000003e`).
    pub fn to_hex_u32(&self) -> Option<u32> {
        let v = self.raw();
        if v.is_empty() || v.len() > 8 {
            return None;
        }
        v.iter()
            .try_fold(0u32, |acc, &c| Some(acc << 4 | u32::from(hex_digit(c)?)))
    }

    /// Lossy text, for values that are names or keywords (`res`, `op`).
    pub fn text(&self) -> Cow<'a, str> {
        String::from_utf8_lossy(self.raw())
    }
}

/// Eight ASCII decimal digits as a number, all at once (SWAR); `None` if
/// any byte is not a digit.
#[inline(always)]
pub(super) fn eight_digits(b: [u8; 8]) -> Option<u64> {
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let v = u64::from_le_bytes(b);
    // Each byte in 0x30..=0x3F, and still so with 6 added: 0x30..=0x39.
    if v & HIGH != ZEROS || v.wrapping_add(0x0606_0606_0606_0606) & HIGH != ZEROS {
        return None;
    }
    // The first digit is the lowest byte: pairs, then fours, then eight.
    let d = v - ZEROS;
    let d = (d.wrapping_mul(10) + (d >> 8)) & 0x00FF_00FF_00FF_00FF;
    let d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((d.wrapping_mul(10_000) + (d >> 32)) & 0xFFFF_FFFF)
}

/// Decimal digits only, no sign, no overflow.
pub fn parse_u64(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    if v.len() <= 19 {
        // 19 digits cannot overflow: no checked arithmetic per digit (every
        // number of every record goes through here, issue 14), and eight
        // digits at a time (every header's ten-digit seconds).
        let mut acc = 0u64;
        let mut rest = v;
        while let Some((eight, tail)) = rest.split_first_chunk::<8>() {
            acc = acc * 100_000_000 + eight_digits(*eight)?;
            rest = tail;
        }
        for &c in rest {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            acc = acc * 10 + u64::from(d);
        }
        return Some(acc);
    }
    // Longer: checked, digit by digit (leading zeros may make a number of
    // any length fit: `000000000000000000001` is 1, as std reads it).
    v.iter().try_fold(0u64, |acc, &c| {
        if c.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(c - b'0'))
        } else {
            None
        }
    })
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Decodes non-empty, even-length hex; `None` if `v` is not that.
pub fn decode_hex(v: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    decode_hex_into(v, &mut out).then_some(out)
}

/// [`decode_hex`] appending to `out`; on `false` (not non-empty,
/// even-length hex) `out` is as it was.
pub fn decode_hex_into(v: &[u8], out: &mut Vec<u8>) -> bool {
    if v.is_empty() || !v.len().is_multiple_of(2) {
        return false;
    }
    let start = out.len();
    out.reserve(v.len() / 2);
    for pair in v.chunks_exact(2) {
        match (HEX[pair[0] as usize], HEX[pair[1] as usize]) {
            (hi, lo) if hi | lo < 16 => out.push(hi << 4 | lo),
            _ => {
                out.truncate(start);
                return false;
            }
        }
    }
    true
}

/// Hex digit values, 0xff for bytes that are not hex digits.
static HEX: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 256 {
        let c = i as u8;
        t[i] = match c {
            b'0'..=b'9' => c - b'0',
            b'A'..=b'F' => c - b'A' + 10,
            b'a'..=b'f' => c - b'a' + 10,
            _ => 0xff,
        };
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_strings() {
        assert_eq!(
            Value::Quoted(b"ls").untrusted().as_deref(),
            Some(&b"ls"[..])
        );
        assert_eq!(
            Value::Bare(b"2D6C").untrusted().as_deref(),
            Some(&b"-l"[..])
        );
        assert_eq!(Value::Bare(b"(null)").untrusted(), None);
        assert_eq!(
            Value::Bare(b"top").untrusted().as_deref(),
            Some(&b"top"[..])
        );
        // Odd length or non-hex: as written.
        assert_eq!(
            Value::Bare(b"ABC").untrusted().as_deref(),
            Some(&b"ABC"[..])
        );
        assert_eq!(Value::Bare(b"").untrusted().as_deref(), Some(&b""[..]));
        assert_eq!(Value::Quoted(b"").untrusted().as_deref(), Some(&b""[..]));
        assert_eq!(&*Value::Bare(b"(null)").untrusted_or_raw(), b"(null)");
    }

    #[test]
    fn numbers_and_ids() {
        assert_eq!(Value::Bare(b"1000").to_id(), Some(1000));
        for unset in [&b"4294967295"[..], b"-1", b"unset"] {
            assert_eq!(Value::Bare(unset).to_id(), Some(UNSET));
        }
        assert_eq!(Value::Bare(b"alice").to_id(), None);
        assert_eq!(Value::Bare(b"4294967296").to_u32(), None);
        assert_eq!(Value::Bare(b"99999999999999999999999").to_u64(), None);
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(
            parse_u64(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(parse_u64(b"00000000000000000001"), Some(1));
        assert_eq!(parse_u64(b"12a"), None);
        assert_eq!(parse_u64(b"1763000000"), Some(1_763_000_000));
        assert_eq!(parse_u64(b"1234567/"), None);
        assert_eq!(parse_u64(b"12345678:"), None);
        assert_eq!(parse_u64(b"1234567:8"), None);
        assert_eq!(parse_u64(b"1/"), None);
        assert_eq!(parse_u64(b""), None);
        // Found by the property test below: more than 20 digits may still
        // be a number.
        assert_eq!(parse_u64(b"000000000000000000000"), Some(0));
        assert_eq!(
            parse_u64(b"0000000000000000000000000018446744073709551615"),
            Some(u64::MAX)
        );
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(parse_u64(b"000018446744073709551616"), None);
        assert_eq!(Value::Bare(b"-2").to_i64(), Some(-2));
        assert_eq!(Value::Bare(b"11").to_i64(), Some(11));
        assert_eq!(Value::Bare(b"-").to_i64(), None);
        assert_eq!(Value::Bare(b"c000003e").to_hex_u32(), Some(0xc000003e));
        assert_eq!(Value::Bare(b"x86_64").to_hex_u32(), None);
        assert_eq!(Value::Bare(b"123456789").to_hex_u32(), None);
    }

    proptest::proptest! {
        /// The eight-at-a-time path agrees with std's parser on digits,
        /// and refuses anything else.
        #[test]
        fn parse_u64_agrees_with_std(v in proptest::collection::vec(
            proptest::prop_oneof![9 => b'0'..=b'9', 1 => proptest::prelude::any::<u8>()], 0..22)) {
            let want = match std::str::from_utf8(&v) {
                Ok(s) if !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) => s.parse::<u64>().ok(),
                _ => None,
            };
            proptest::prop_assert_eq!(parse_u64(&v), want);
        }
    }
}
