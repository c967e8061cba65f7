//! The pure, stateless audit record parser.
//!
//! One line of `audit.log` (or one netlink message) becomes one [`Record`]
//! that borrows from the input: the header (node, type, time, serial) is parsed
//! up front, the fields lazily by [`Record::fields`], so a record tracer does
//! not care about costs little more than finding its `msg=audit(` header. The
//! coalescer ([`super::coalesce`]) copies out only what an [`Event`] needs.
//!
//! Formats accepted:
//! - `[node=NAME ]type=NAME msg=audit(SECS.MILLIS:SERIAL): FIELDS` (auditd's
//!   raw format, `ausearch -r` output); the `:` after the header may be missing
//!   (old auditd's DAEMON_* records);
//! - `type=UNKNOWN[1327]` for numbers auditd did not know;
//! - the ENRICHED format: everything from the first 0x1d byte on is auditd's
//!   interpretation of the raw fields (`AUID="alice"`) and is ignored;
//! - user-space records whose fields sit inside `msg='...'`: the fields inside
//!   are yielded too, flagged [`Field::in_msg`];
//! - `audit(SECS.MILLIS:SERIAL): FIELDS` with the type given apart, as netlink
//!   delivers records ([`parse_body`]);
//! - CRLF line ends, invalid UTF-8 (values are bytes).
//!
//! The parser never panics and allocates nothing; errors name what was wrong.
//!
//! [`Event`]: crate::event::Event

use memchr::{memchr, memchr2, memrchr};
use thiserror::Error;

use super::rtype::RecordType;
use super::value::{parse_u64, Value};
use crate::event::Timestamp;

/// The byte auditd's ENRICHED format puts between raw and interpreted fields.
pub const ENRICHED_SEPARATOR: u8 = 0x1d;

/// Why a line is not an audit record.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("empty line")]
    Empty,
    #[error("no `type=` at the start of the record (found `{0}`)")]
    MissingType(String),
    #[error("bad record type `{0}`")]
    BadType(String),
    #[error("no `msg=audit(` header after the record type")]
    MissingHeader,
    #[error("no `)` closing the `msg=audit(` header")]
    UnterminatedHeader,
    #[error("bad timestamp `{0}` in the `msg=audit(` header (want SECONDS.FRACTION:SERIAL)")]
    BadTimestamp(String),
    #[error("bad serial number `{0}` in the `msg=audit(` header")]
    BadSerial(String),
}

/// A short, lossy excerpt of input for an error message (bounded, so a huge
/// junk line cannot make a huge error).
fn excerpt(b: &[u8]) -> String {
    const MAX: usize = 40;
    let cut = &b[..b.len().min(MAX)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if b.len() > MAX {
        s.push('…');
    }
    s
}

/// One audit record, borrowed from the line it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// `node=` prefix: the machine that produced the record (remote logging).
    pub node: Option<&'a [u8]>,
    pub rtype: RecordType,
    /// The event's time: every record of one event carries the same.
    pub time: Timestamp,
    /// The event serial: with `time` and `node`, identifies the event.
    pub serial: u64,
    /// The fields' text: after the header, before any 0x1d.
    pub body: &'a [u8],
    /// ENRICHED logs: what auditd appended after the 0x1d separator, the
    /// names it resolved on the recording host (`AUID="alice" UID="root"`);
    /// empty otherwise.
    pub enriched: &'a [u8],
}

impl<'a> Record<'a> {
    /// The fields in order; those inside a user-space `msg='...'` come in
    /// place of it, flagged [`Field::in_msg`].
    pub fn fields(&self) -> Fields<'a> {
        Fields::new(self.body)
    }

    /// The first field called `name` (outside or inside `msg='...'`).
    pub fn get(&self, name: &[u8]) -> Option<Value<'a>> {
        self.fields().find(|f| f.name == name).map(|f| f.value)
    }

    /// An ENRICHED name (`AUID`, `UID`): auditd's resolution on the host
    /// that wrote the log. `None` when absent, unknown (`?`) or unset.
    pub fn enriched_name(&self, name: &[u8]) -> Option<&'a [u8]> {
        known_name(Fields::new(self.enriched).find(|f| f.name == name)?.value)
    }

    /// [`Record::enriched_name`] of two names in one walk (a login record
    /// names its `AUID` and its `UID`): the first field of each name.
    pub fn enriched_names(&self, a: &[u8], b: &[u8]) -> (Option<&'a [u8]>, Option<&'a [u8]>) {
        let (mut va, mut vb) = (None, None);
        for f in Fields::new(self.enriched) {
            if va.is_none() && f.name == a {
                va = Some(f.value);
            } else if vb.is_none() && f.name == b {
                vb = Some(f.value);
            }
            if va.is_some() && vb.is_some() {
                break;
            }
        }
        (va.and_then(known_name), vb.and_then(known_name))
    }
}

/// An ENRICHED value as a name: `None` when unknown (`?`) or unset.
fn known_name(v: Value<'_>) -> Option<&[u8]> {
    match v.raw() {
        b"" | b"?" | b"unset" | b"(null)" => None,
        raw => Some(raw),
    }
}

/// Parses one line of `audit.log` (with or without its line end).
pub fn parse_line(line: &[u8]) -> Result<Record<'_>, ParseError> {
    let line = strip_line_end(line);
    let (line, enriched) = split_enriched(line);
    let mut rest = skip_spaces(line);
    if rest.is_empty() {
        return Err(ParseError::Empty);
    }
    let mut node = None;
    if let Some(after) = rest.strip_prefix(b"node=") {
        let (n, r) = split_word(after);
        node = Some(n);
        rest = skip_spaces(r);
    }
    let Some(after) = rest.strip_prefix(b"type=") else {
        return Err(ParseError::MissingType(excerpt(rest)));
    };
    let (tname, r) = split_word(after);
    let rtype = RecordType::from_name(tname).ok_or_else(|| ParseError::BadType(excerpt(tname)))?;
    let r = skip_spaces(r);
    let Some(header) = r.strip_prefix(b"msg=") else {
        return Err(ParseError::MissingHeader);
    };
    parse_header(node, rtype, header, enriched)
}

/// (raw part, ENRICHED part after the 0x1d separator).
fn split_enriched(line: &[u8]) -> (&[u8], &[u8]) {
    match memchr(ENRICHED_SEPARATOR, line) {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[]),
    }
}

/// Parses a record as netlink delivers it: the type apart, the text starting
/// at `audit(`.
pub fn parse_body(rtype: u16, body: &[u8]) -> Result<Record<'_>, ParseError> {
    let body = strip_line_end(body);
    let (body, enriched) = split_enriched(body);
    let body = skip_spaces(body);
    if body.is_empty() {
        return Err(ParseError::Empty);
    }
    parse_header(None, RecordType(rtype), body, enriched)
}

/// `audit(SECS.FRAC:SERIAL)[:] rest`
fn parse_header<'a>(
    node: Option<&'a [u8]>,
    rtype: RecordType,
    text: &'a [u8],
    enriched: &'a [u8],
) -> Result<Record<'a>, ParseError> {
    let Some(inner) = text.strip_prefix(b"audit(") else {
        return Err(ParseError::MissingHeader);
    };
    let (time, serial, close) = match usual_stamp(inner) {
        Some(x) => x,
        None => any_stamp(inner)?,
    };
    let mut body = &inner[close + 1..];
    if let Some(b) = body.strip_prefix(b":") {
        body = b;
    }
    Ok(Record {
        node,
        rtype,
        time,
        serial,
        body: trim_end_spaces(skip_spaces(body)),
        enriched,
    })
}

/// `SECS[.FRAC]:SERIAL)` however written: (time, serial, index of the `)`).
fn any_stamp(inner: &[u8]) -> Result<(Timestamp, u64, usize), ParseError> {
    let close = find(inner, b')').ok_or(ParseError::UnterminatedHeader)?;
    let stamp = &inner[..close];
    let colon = find(stamp, b':').ok_or_else(|| ParseError::BadTimestamp(excerpt(stamp)))?;
    let (time_text, serial_text) = (&stamp[..colon], &stamp[colon + 1..]);
    let time = parse_time(time_text).ok_or_else(|| ParseError::BadTimestamp(excerpt(stamp)))?;
    let serial =
        parse_u64(serial_text).ok_or_else(|| ParseError::BadSerial(excerpt(serial_text)))?;
    Ok((time, serial, close))
}

/// Digits from `b[*i]` on, at most `max` of them, as a number; `i` is left
/// after them. `None` for none, or for more than `max`.
#[inline(always)]
fn digits(b: &[u8], i: &mut usize, max: usize) -> Option<(u64, usize)> {
    let start = *i;
    let mut n = 0u64;
    while let Some(&c) = b.get(*i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if *i - start == max {
            return None;
        }
        n = n * 10 + u64::from(d);
        *i += 1;
    }
    (*i > start).then_some((n, *i - start))
}

/// The stamp as the kernel writes it, `SECS.FRAC:SERIAL)` (up to 18, 9 and
/// 19 digits), in one pass: (time, serial, index of the `)`). `None` for
/// anything else, which the general path then reads (and reads the same
/// way: this is only a faster route to the same answer). Finding `)`, `:`
/// and `.` apart and parsing three numbers was 10 % of reading a log
/// (issue 14).
#[inline]
fn usual_stamp(inner: &[u8]) -> Option<(Timestamp, u64, usize)> {
    // `SECS.FRAC:`, then the serial.
    let (time, mut i) = match secs_millis(inner) {
        Some((secs, millis)) => (
            Timestamp::from_secs_nanos(secs as i64, millis * 1_000_000),
            15,
        ),
        None => {
            let mut i = 0;
            let (secs, _) = digits(inner, &mut i, 18)?;
            if inner.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
            let (frac, flen) = digits(inner, &mut i, 9)?;
            if inner.get(i) != Some(&b':') {
                return None;
            }
            let nanos = frac as u32 * 10u32.pow(9 - flen as u32);
            (Timestamp::from_secs_nanos(secs as i64, nanos), i + 1)
        }
    };
    let (serial, _) = digits(inner, &mut i, 19)?;
    if inner.get(i) != Some(&b')') {
        return None;
    }
    Some((time, serial, i))
}

/// `DDDDDDDDDD.DDD:`, ten digits of seconds and three of milliseconds, as
/// every kernel writes its stamps from 2001 to 2286: (seconds,
/// milliseconds), the first eight digits checked and read as one word
/// (`value::eight_digits`). `None` for any other shape. About a quarter of
/// reading a record's header went to the digit loop (issue 14).
#[inline(always)]
fn secs_millis(inner: &[u8]) -> Option<(u64, u32)> {
    let head: &[u8; 15] = inner.get(..15)?.try_into().ok()?;
    if head[10] != b'.' || head[14] != b':' {
        return None;
    }
    let first: [u8; 8] = head[..8].try_into().ok()?;
    let high = super::value::eight_digits(first)?;
    let digit = |c: u8| {
        let d = c.wrapping_sub(b'0');
        (d <= 9).then_some(u64::from(d))
    };
    let secs = high * 100 + digit(head[8])? * 10 + digit(head[9])?;
    let millis = digit(head[11])? * 100 + digit(head[12])? * 10 + digit(head[13])?;
    Some((secs, millis as u32))
}

/// `SECONDS[.FRACTION]`, the fraction of up to 9 digits (the kernel writes 3).
fn parse_time(t: &[u8]) -> Option<Timestamp> {
    let (secs, frac) = match find(t, b'.') {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let secs = i64::try_from(parse_u64(secs)?).ok()?;
    let mut nanos = 0u32;
    if let Some(frac) = frac {
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        // Digits only (parse_u64 checks), scaled to nanoseconds.
        const SCALE: [u32; 10] = [
            1_000_000_000,
            100_000_000,
            10_000_000,
            1_000_000,
            100_000,
            10_000,
            1_000,
            100,
            10,
            1,
        ];
        nanos = u32::try_from(parse_u64(frac)?).ok()? * SCALE[frac.len()];
    }
    Some(Timestamp::from_secs_nanos(secs, nanos))
}

fn strip_line_end(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = b {
        b = rest;
    }
    b
}

fn skip_spaces(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    &b[n..]
}

fn trim_end_spaces(mut b: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

/// Bytes scanned a word at a time before handing over to `memchr`: most
/// audit tokens are short, and there a plain loop beats memchr's setup.
const SHORT: usize = 32;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` equal to `b` (and maybe of bytes after
/// the first such one, which [`first`] never looks at).
#[inline(always)]
fn bytes_eq(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * u64::from(b));
    x.wrapping_sub(LO) & !x & HI
}

/// The index of the first flagged byte of a non-zero [`bytes_eq`] mask.
#[inline(always)]
fn first(mask: u64) -> usize {
    (mask.trailing_zeros() / 8) as usize
}

/// The first index in `hay` where `hit` flags a byte: eight bytes at a
/// time (SWAR) for the first [`SHORT`] bytes, then `far` for the rest.
/// Issue 14: field scanning was the report's top cost, one or two
/// comparisons per byte.
#[inline(always)]
fn scan(
    hay: &[u8],
    hit: impl Fn(u64) -> u64,
    one: impl Fn(u8) -> bool,
    far: impl Fn(&[u8]) -> Option<usize>,
) -> Option<usize> {
    let mut i = 0;
    while i < SHORT {
        let Some(word) = hay.get(i..i + 8) else {
            return hay[i..].iter().position(|&c| one(c)).map(|j| i + j);
        };
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let m = hit(u64::from_le_bytes(w));
        if m != 0 {
            return Some(i + first(m));
        }
        i += 8;
    }
    far(&hay[i..]).map(|j| i + j)
}

fn find(hay: &[u8], needle: u8) -> Option<usize> {
    scan(
        hay,
        |w| bytes_eq(w, needle),
        |c| c == needle,
        |rest| memchr(needle, rest),
    )
}

fn find2(hay: &[u8], a: u8, b: u8) -> Option<usize> {
    scan(
        hay,
        |w| bytes_eq(w, a) | bytes_eq(w, b),
        |c| c == a || c == b,
        |rest| memchr2(a, b, rest),
    )
}

/// Up to the next space, and what follows it.
fn split_word(b: &[u8]) -> (&[u8], &[u8]) {
    match find(b, b' ') {
        Some(i) => (&b[..i], &b[i..]),
        None => (b, &[]),
    }
}

/// A field name as one integer, for matching names with integer compares:
/// a `match` on byte-string patterns calls `memcmp` for each candidate
/// (the SYSCALL record's fields were a third of its folding, issue 14).
/// The bytes (at most 8, little-endian) and the length, so that no two
/// names share a key; any name longer than 8 bytes gets a key no constant
/// of a name of 8 bytes or fewer has.
#[inline(always)]
pub const fn name_key(name: &[u8]) -> u128 {
    let n = name.len();
    if n > 8 {
        return (n as u128) << 64;
    }
    let mut k = 0u64;
    let mut i = 0;
    while i < n {
        k |= (name[i] as u64) << (8 * i);
        i += 1;
    }
    ((n as u128) << 64) | k as u128
}

/// Hands `f` the fields of `body` when it is in the kernel's plain form:
/// `name=value` words separated by spaces, each value bare or `"quoted"`
/// with no space or quote inside (the kernel hex-encodes any string that
/// would have one), no user-space `msg='...'`. Returns false, maybe after
/// handing over some fields, at the first word that is not so: the caller
/// then reads the record with [`Record::fields`], which yields exactly
/// these fields for a plain body (property-tested). One scan per word for
/// its end and one within it for the `=`, where the general walk's state
/// machine took twice as long on the SYSCALL record (issue 14).
///
/// Bodies of [`SHORT_BODY`] to [`MASKED_MAX`] bytes are walked on bit masks
/// of their spaces, `=` and `"` made 16 bytes at a time (SSE2 on x86_64), a
/// few instructions per word; shorter and longer ones a word at a time
/// ([`plain_fields_scan`]). Both walks give the same result
/// (property-tested).
pub fn plain_fields<'a>(body: &'a [u8], f: impl FnMut(&'a [u8], Value<'a>)) -> bool {
    // A short body (what SYSCALL leaves after its kernel fields, see
    // `exec::SyscallFold::kernel_prefix`) costs less a word at a time than
    // its masks do to build.
    if (SHORT_BODY..=MASKED_MAX).contains(&body.len()) {
        plain_fields_masked(body, f)
    } else {
        plain_fields_scan(body, f)
    }
}

/// The longest body [`plain_fields`] walks on masks.
pub const MASKED_MAX: usize = 1024;

/// The shortest body [`plain_fields`] walks on masks.
pub const SHORT_BODY: usize = 128;

/// One bit per byte of a body of up to [`MASKED_MAX`] bytes, for each of
/// the bytes the plain walk looks for; bits past the body are 0.
struct Masks {
    space: [u64; MASKED_MAX / 64],
    eq: [u64; MASKED_MAX / 64],
    quote: [u64; MASKED_MAX / 64],
}

/// The masks of ` `, `=` and `"` in 16 bytes.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks(b: &[u8; 16]) -> [u16; 3] {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    // SAFETY: SSE2 is part of the x86_64 baseline, so these intrinsics are
    // available on every x86_64 CPU; `_mm_loadu_si128` reads exactly the 16
    // bytes of `b` and has no alignment requirement.
    unsafe {
        let v = _mm_loadu_si128(b.as_ptr().cast());
        let hit = |c: u8| _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c as i8))) as u16;
        [hit(b' '), hit(b'='), hit(b'"')]
    }
}

/// The masks of ` `, `=` and `"` in 16 bytes.
#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_masks(b: &[u8; 16]) -> [u16; 3] {
    let mut m = [0u16; 3];
    for (i, &c) in b.iter().enumerate() {
        m[0] |= u16::from(c == b' ') << i;
        m[1] |= u16::from(c == b'=') << i;
        m[2] |= u16::from(c == b'"') << i;
    }
    m
}

impl Masks {
    fn of(body: &[u8]) -> Self {
        debug_assert!(body.len() <= MASKED_MAX);
        let mut m = Masks {
            space: [0; MASKED_MAX / 64],
            eq: [0; MASKED_MAX / 64],
            quote: [0; MASKED_MAX / 64],
        };
        let mut put = |at: usize, b: &[u8; 16]| {
            let [s, e, q] = block_masks(b);
            let (w, shift) = (at / 64, at % 64);
            m.space[w] |= u64::from(s) << shift;
            m.eq[w] |= u64::from(e) << shift;
            m.quote[w] |= u64::from(q) << shift;
        };
        let mut blocks = body.chunks_exact(16);
        let mut at = 0;
        for b in &mut blocks {
            put(at, b.try_into().expect("16-byte chunk"));
            at += 16;
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // Zero bytes match none of the three.
            let mut b = [0u8; 16];
            b[..rest.len()].copy_from_slice(rest);
            put(at, &b);
        }
        m
    }
}

/// The first index in `from..limit` whose bit is set (`set`) or clear in
/// `m`, else `limit`.
#[inline(always)]
fn next_bit(m: &[u64; MASKED_MAX / 64], set: bool, from: usize, limit: usize) -> usize {
    let mut i = from;
    while i < limit {
        let w = if set { m[i / 64] } else { !m[i / 64] } >> (i % 64);
        if w != 0 {
            return (i + w.trailing_zeros() as usize).min(limit);
        }
        i = (i / 64 + 1) * 64;
    }
    limit
}

/// [`plain_fields`] on masks, for bodies of up to [`MASKED_MAX`] bytes.
fn plain_fields_masked<'a>(body: &'a [u8], mut f: impl FnMut(&'a [u8], Value<'a>)) -> bool {
    let n = body.len();
    let m = Masks::of(body);
    let mut pos = 0;
    loop {
        pos = next_bit(&m.space, false, pos, n);
        if pos == n {
            return true;
        }
        if body[pos] == b'\t' {
            return false;
        }
        let end = next_bit(&m.space, true, pos, n);
        let eq = next_bit(&m.eq, true, pos, end);
        if eq == end {
            return false;
        }
        let name = &body[pos..eq];
        let value = match body.get(eq + 1) {
            Some(b'"') if eq + 1 < end => {
                // The first quote after the opening one must end the word.
                let close = next_bit(&m.quote, true, eq + 2, end);
                if close + 1 != end || close < eq + 2 {
                    return false;
                }
                Value::Quoted(&body[eq + 2..close])
            }
            Some(b'\'') if eq + 1 < end && name == b"msg" => return false,
            _ => Value::Bare(&body[eq + 1..end]),
        };
        f(name, value);
        pos = end;
    }
}

/// The value at the start of `after` (what follows a field's `=`) in the
/// kernel's plain form, as [`plain_fields`] reads it: up to the next space,
/// `"quoted"` with no other quote in it, or bare; and the text after its
/// space. `None` where the plain walk would refuse the word (a stray quote):
/// the caller then takes the general walk.
#[inline(always)]
pub fn plain_value(after: &[u8]) -> Option<(Value<'_>, &[u8])> {
    let end = after.iter().position(|&c| c == b' ').unwrap_or(after.len());
    let raw = &after[..end];
    let value = match raw {
        [b'"', inner @ ..] => match inner.iter().position(|&c| c == b'"') {
            Some(i) if i + 1 == inner.len() => Value::Quoted(&inner[..i]),
            _ => return None,
        },
        _ => Value::Bare(raw),
    };
    let rest = match after.get(end..) {
        Some([b' ', tail @ ..]) => tail,
        _ => &after[end..],
    };
    Some((value, rest))
}

/// [`plain_fields`] a word at a time, for any length.
pub fn plain_fields_scan<'a>(body: &'a [u8], mut f: impl FnMut(&'a [u8], Value<'a>)) -> bool {
    let mut rest = body;
    loop {
        while let [b' ', tail @ ..] = rest {
            rest = tail;
        }
        let Some(&first) = rest.first() else {
            return true;
        };
        if first == b'\t' {
            return false;
        }
        let end = find(rest, b' ').unwrap_or(rest.len());
        let word = &rest[..end];
        let Some(eq) = find(word, b'=') else {
            return false;
        };
        let (name, v) = (&word[..eq], &word[eq + 1..]);
        let value = match v.first() {
            Some(b'"') => {
                let inner = &v[1..];
                match find(inner, b'"') {
                    Some(i) if i + 1 == inner.len() => Value::Quoted(&inner[..i]),
                    _ => return false,
                }
            }
            Some(b'\'') if name == b"msg" => return false,
            _ => Value::Bare(v),
        };
        f(name, value);
        rest = &rest[end..];
    }
}

/// One `name=value` pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    pub name: &'a [u8],
    pub value: Value<'a>,
    /// Inside a user-space record's `msg='...'`.
    pub in_msg: bool,
}

/// Iterator over a record's fields; see [`Record::fields`].
///
/// Lenient by design: words without `=` (`user`, `auditd start,`, AVC's
/// `{ read }`) are skipped, an unterminated quote runs to the end of the text.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    text: &'a [u8],
    pos: usize,
    /// End of the region being scanned: the whole text, or the closing `'` of
    /// `msg='...'` while inside it.
    end: usize,
    in_msg: bool,
}

impl<'a> Fields<'a> {
    fn new(text: &'a [u8]) -> Self {
        Self {
            text,
            pos: 0,
            end: text.len(),
            in_msg: false,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        loop {
            let region = &self.text[..self.end];
            while self.pos < region.len() && (region[self.pos] == b' ' || region[self.pos] == b'\t')
            {
                self.pos += 1;
            }
            if self.pos >= region.len() {
                if self.in_msg {
                    // Leave msg='...': continue after its closing quote.
                    self.in_msg = false;
                    self.pos = self.end + 1;
                    self.end = self.text.len();
                    continue;
                }
                return None;
            }
            let start = self.pos;
            let Some(sep) = find2(&region[start..], b'=', b' ').map(|i| start + i) else {
                // A last word without `=`.
                self.pos = region.len();
                continue;
            };
            if region[sep] == b' ' {
                self.pos = sep + 1;
                continue;
            }
            let name = &region[start..sep];
            let vstart = sep + 1;
            match region.get(vstart) {
                Some(b'"') => {
                    let q = vstart + 1;
                    let close = find(&region[q..], b'"').map_or(region.len(), |i| q + i);
                    self.pos = (close + 1).min(region.len());
                    return Some(self.field(name, Value::Quoted(&region[q..close])));
                }
                Some(b'\'') if name == b"msg" && !self.in_msg => {
                    // The closing quote is the last one: values inside may hold
                    // a `'` (quoted strings need not escape it).
                    let q = vstart + 1;
                    let close = match memrchr(b'\'', &region[q..]) {
                        Some(i) => q + i,
                        None => region.len(),
                    };
                    self.in_msg = true;
                    self.pos = q;
                    // When unterminated, leaving the msg lands past the end.
                    self.end = close;
                    continue;
                }
                _ => {
                    let end = find(&region[vstart..], b' ').map_or(region.len(), |i| vstart + i);
                    self.pos = end;
                    return Some(self.field(name, Value::Bare(&region[vstart..end])));
                }
            }
        }
    }
}

impl<'a> Fields<'a> {
    fn field(&self, name: &'a [u8], value: Value<'a>) -> Field<'a> {
        Field {
            name,
            value,
            in_msg: self.in_msg,
        }
    }
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
