//! Shell quoting of the bytes that ran, so a person can read, copy and retype
//! them, and so that nothing the watched user typed can reach the reader's
//! terminal as a control sequence.
//!
//! The rules, in order of preference for each argument:
//! 1. bytes that need no quoting at all (`[A-Za-z0-9_@%+=:,./-]` and
//!    printable non-ASCII UTF-8) are written as they are;
//! 2. other printable text goes inside single quotes, `'` becoming `'\''`;
//! 3. anything with a control byte, invalid UTF-8, or a Unicode character
//!    that can reorder or hide text on screen (C1 controls, bidi overrides,
//!    zero-width characters, line separators) is written in the `$'...'` form
//!    with `\n`, `\t`, `\\`, `\'` and `\xHH` escapes, which bash, zsh, ksh and
//!    POSIX.1-2024 `sh` read back as the original bytes.
//!
//! The output of [`quote_arg`] is therefore always printable ASCII or
//! "harmless" UTF-8: no byte below 0x20, no DEL, no C1 control. [`sanitize`]
//! applies the same escaping to text that is shown but not retyped (host
//! names, tty, cgroup names).

use std::fmt::Write as _;

/// Quotes one argument.
pub fn quote_arg(arg: &[u8]) -> String {
    let mut out = String::with_capacity(arg.len() + 2);
    push_arg(&mut out, arg);
    out
}

/// Quotes an argv as one command line: each argument quoted, joined by spaces.
pub fn quote_argv<A: AsRef<[u8]>>(argv: &[A]) -> String {
    let mut out = String::new();
    for (i, a) in argv.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_arg(&mut out, a.as_ref());
    }
    out
}

/// How [`push_arg`] sees a byte: [`BARE`] ASCII needs no quoting,
/// [`PRINTABLE`] ASCII needs single quotes, anything else ([`OTHER`]: not
/// ASCII, or a control) the careful path.
const OTHER: u8 = 0;
const PRINTABLE: u8 = 1;
const BARE: u8 = 2;

static CLASS: [u8; 256] = {
    let mut t = [OTHER; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        t[b] = PRINTABLE;
        b += 1;
    }
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        if c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'_' | b'@' | b'%' | b'+' | b'=' | b':' | b',' | b'.' | b'/' | b'-'
            )
        {
            t[b] = BARE;
        }
        b += 1;
    }
    t
};

/// The length of the longest prefix of `arg` whose bytes are all [`BARE`].
#[inline]
fn bare_prefix(arg: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        bare_prefix_sse2(arg)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        bare_prefix_bytes(arg)
    }
}

/// [`bare_prefix`] a byte at a time, by [`CLASS`]: the definition.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn bare_prefix_bytes(arg: &[u8]) -> usize {
    arg.iter()
        .position(|&b| CLASS[b as usize] != BARE)
        .unwrap_or(arg.len())
}

/// [`bare_prefix`] 16 bytes at a time: the [`BARE`] bytes are two ranges
/// (`+` to `:`, which holds `,-./` and the digits, and the letters, either
/// case) and four more (`%`, `=`, `@`, `_`), a dozen SSE2 instructions a
/// block where the table took ~4 a byte (issue 14: quoting each argument
/// for the report's `command` column).
#[cfg(target_arch = "x86_64")]
fn bare_prefix_sse2(arg: &[u8]) -> usize {
    use crate::bytes::simd::{eq, first_not, within};
    use std::arch::x86_64::{_mm_or_si128, _mm_set1_epi8};
    first_not(arg, |v| {
        // SAFETY: SSE2 is part of the x86_64 baseline; register operations.
        unsafe {
            let letter = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', b'z');
            _mm_or_si128(
                _mm_or_si128(within(v, b'+', b':'), letter),
                _mm_or_si128(
                    _mm_or_si128(eq(v, b'%'), eq(v, b'=')),
                    _mm_or_si128(eq(v, b'@'), eq(v, b'_')),
                ),
            )
        }
    })
}

/// `arg` as text, when every byte of it is ASCII.
fn ascii(arg: &[u8]) -> &str {
    debug_assert!(arg.is_ascii());
    // SAFETY: callers pass only bytes that are all ASCII (their CLASS is
    // BARE or PRINTABLE), and ASCII is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(arg) }
}

/// Appends the quoted form of `arg` to `out`.
pub fn push_arg(out: &mut String, arg: &[u8]) {
    if arg.is_empty() {
        out.push_str("''");
        return;
    }
    // Most arguments are plain ASCII words, most others printable ASCII:
    // one table lookup per byte for both (issue 14: quoting was a tenth
    // of a JSON report).
    let bare = bare_prefix(arg);
    if bare == arg.len() && arg[0] != b'=' {
        out.push_str(ascii(arg));
        return;
    }
    if arg[bare..].iter().all(|&b| CLASS[b as usize] != OTHER) {
        out.push('\'');
        for (i, piece) in arg.split(|&b| b == b'\'').enumerate() {
            if i > 0 {
                out.push_str("'\\''");
            }
            out.push_str(ascii(piece));
        }
        out.push('\'');
        return;
    }
    match std::str::from_utf8(arg) {
        Ok(s) if !s.starts_with('=') && s.chars().all(is_bare) => out.push_str(s),
        Ok(s) if s.chars().all(is_printable) => {
            out.push('\'');
            for c in s.chars() {
                if c == '\'' {
                    out.push_str("'\\''");
                } else {
                    out.push(c);
                }
            }
            out.push('\'');
        }
        _ => push_dollar(out, arg),
    }
}

/// Text for display only: printable characters as they are, everything else
/// as `\xHH` (and `\` itself as `\\`), never quoted.
pub fn sanitize(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for chunk in text.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' {
                out.push_str("\\\\");
            } else if is_printable(c) {
                out.push(c);
            } else {
                push_hex_char(&mut out, c);
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `sanitize` for `&str`.
pub fn sanitize_str(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().all(|c| c != '\\' && is_printable(c)) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(sanitize(text.as_bytes()))
    }
}

fn push_dollar(out: &mut String, arg: &[u8]) {
    out.push_str("$'");
    for chunk in arg.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if is_printable(c) => out.push(c),
                c => push_hex_char(out, c),
            }
        }
        for &b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('\'');
}

fn push_hex_char(out: &mut String, c: char) {
    let mut buf = [0u8; 4];
    for b in c.encode_utf8(&mut buf).bytes() {
        let _ = write!(out, "\\x{b:02x}");
    }
}

/// Characters that a POSIX shell takes literally outside quotes.
fn is_bare(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(c, '_' | '@' | '%' | '+' | '=' | ':' | ',' | '.' | '/' | '-')
        || (!c.is_ascii() && is_printable(c))
}

/// Characters that are safe to put on a terminal as they are.
pub fn is_printable(c: char) -> bool {
    let u = c as u32;
    match u {
        0x20..=0x7e => true,
        0..=0x1f | 0x7f..=0x9f => false,
        // Zero-width and directional marks, line/paragraph separators,
        // bidi embeddings/overrides/isolates, invisible operators, BOM,
        // interlinear annotations, tag characters.
        0x200b..=0x200f | 0x2028..=0x202e | 0x2060..=0x206f | 0xfeff | 0xfff9..=0xfffb => false,
        0xe0000..=0xe007f => false,
        // Tracer's own escape block for non-UTF-8 bytes never reaches here
        // decoded, but a genuine one is invisible: escape it.
        0x10ff00..=0x10ffff => false,
        // Other characters are shown as they are, except whitespace that
        // looks like a space but is not one (NBSP, ideographic space...).
        _ => !c.is_control() && !c.is_whitespace(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The vector scan finds the table's prefix, at every length around
        /// the block size and for bytes at the edges of each range.
        #[test]
        fn bare_prefix_is_the_tables(
            arg in proptest::collection::vec(
                prop_oneof![
                    Just(b'*'), Just(b'+'), Just(b':'), Just(b';'), Just(b'@'), Just(b'`'),
                    Just(b'{'), Just(b'['), Just(b'Z'), Just(b'a'), Just(b'_'), Just(b'%'),
                    Just(b'='), Just(b' '), Just(0x80), Just(0xc1), Just(0xfa), any::<u8>(),
                    Just(b'x'), Just(b'7'),
                ],
                0..70,
            ),
        ) {
            prop_assert_eq!(bare_prefix(&arg), bare_prefix_bytes(&arg));
        }
    }

    #[test]
    fn bare_prefix_examples() {
        assert_eq!(bare_prefix(b""), 0);
        assert_eq!(bare_prefix(b"--color=auto"), 12);
        assert_eq!(
            bare_prefix(b"/home/alice/src/a-long-path/with_parts.rs"),
            41
        );
        assert_eq!(bare_prefix(b"it's"), 2);
        assert_eq!(bare_prefix(b"abcdefghijklmnop q"), 16);
        // Letters by case folding: `[` and `{` are not letters.
        assert_eq!(bare_prefix(b"Z[z{"), 1);
    }

    /// A POSIX-ish word splitter, enough for what `quote_argv` emits: bare
    /// words, '...', $'...' with \n \t \r \\ \' \xHH, separated by spaces.
    pub(crate) fn shell_split(s: &str) -> Option<Vec<Vec<u8>>> {
        let b = s.as_bytes();
        let mut words = Vec::new();
        let mut i = 0;
        while i < b.len() {
            while i < b.len() && b[i] == b' ' {
                i += 1;
            }
            if i == b.len() {
                break;
            }
            let mut w = Vec::new();
            while i < b.len() && b[i] != b' ' {
                if b[i] == b'\'' {
                    i += 1;
                    while *b.get(i)? != b'\'' {
                        w.push(b[i]);
                        i += 1;
                    }
                    i += 1;
                } else if b[i] == b'$' && b.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    loop {
                        match *b.get(i)? {
                            b'\'' => break,
                            b'\\' => {
                                i += 1;
                                match *b.get(i)? {
                                    b'n' => w.push(b'\n'),
                                    b't' => w.push(b'\t'),
                                    b'r' => w.push(b'\r'),
                                    b'\\' => w.push(b'\\'),
                                    b'\'' => w.push(b'\''),
                                    b'x' => {
                                        let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                                        w.push(u8::from_str_radix(h, 16).ok()?);
                                        i += 2;
                                    }
                                    _ => return None,
                                }
                            }
                            c => w.push(c),
                        }
                        i += 1;
                    }
                    i += 1;
                } else if b[i] == b'\\' {
                    w.push(*b.get(i + 1)?);
                    i += 2;
                } else {
                    w.push(b[i]);
                    i += 1;
                }
            }
            words.push(w);
        }
        Some(words)
    }

    #[test]
    fn examples() {
        assert_eq!(quote_arg(b"ls"), "ls");
        assert_eq!(quote_arg(b""), "''");
        assert_eq!(quote_arg(b"two words"), "'two words'");
        assert_eq!(quote_arg(b"it's"), "'it'\\''s'");
        assert_eq!(quote_arg(b"a\nb"), "$'a\\nb'");
        assert_eq!(quote_arg(b"caf\xe9"), "$'caf\\xe9'");
        assert_eq!(quote_arg(b"\x1b[31mred"), "$'\\x1b[31mred'");
        assert_eq!(quote_arg("héllo".as_bytes()), "héllo");
        assert_eq!(quote_arg("a\u{202e}b".as_bytes()), "$'a\\xe2\\x80\\xaeb'");
        assert_eq!(quote_arg("\u{9b}31m".as_bytes()), "$'\\xc2\\x9b31m'");
        assert_eq!(quote_argv(&["echo", "", "$HOME"]), "echo '' '$HOME'");
    }

    #[test]
    fn sanitize_escapes_controls() {
        assert_eq!(sanitize(b"pts/1"), "pts/1");
        assert_eq!(sanitize(b"a\x1b]0;x\x07"), "a\\x1b]0;x\\x07");
        assert_eq!(sanitize(b"a\\b"), "a\\\\b");
    }

    /// Where bash is installed, it reads our quoting back as the same bytes.
    #[test]
    fn bash_agrees() {
        let samples: [&[u8]; 7] = [
            b"plain",
            b"",
            b"it's a \"test\"",
            b"line\nbreak\ttab",
            b"caf\xe9\xff",
            b"\x1b[2J\x07",
            "\u{202e}evil".as_bytes(),
        ];
        let mut script = String::from("printf '%s\\0'");
        for s in samples {
            script.push(' ');
            script.push_str(&quote_arg(s));
        }
        let Ok(out) = std::process::Command::new("bash")
            .arg("-c")
            .arg(&script)
            .output()
        else {
            return; // no bash here
        };
        let got: Vec<&[u8]> = out.stdout.split(|&b| b == 0).collect();
        assert_eq!(&got[..samples.len()], &samples[..]);
    }

    proptest! {
        #[test]
        fn round_trips_and_stays_printable(argv in proptest::collection::vec(
            proptest::collection::vec(any::<u8>(), 0..24), 1..5)) {
            let q = quote_argv(&argv);
            prop_assert!(q.chars().all(|c| c == ' ' || is_printable(c)), "{q:?}");
            prop_assert_eq!(shell_split(&q), Some(argv));
        }

        #[test]
        fn unicode_round_trips(argv in proptest::collection::vec(any::<String>(), 1..4)) {
            let q = quote_argv(&argv);
            prop_assert!(q.chars().all(|c| c == ' ' || is_printable(c)), "{q:?}");
            let back: Vec<Vec<u8>> = argv.iter().map(|s| s.as_bytes().to_vec()).collect();
            prop_assert_eq!(shell_split(&q), Some(back));
        }

        /// The table-driven fast paths quote exactly as the character-wise
        /// rules do (the quoting before issue 14's fast paths, kept here).
        #[test]
        fn fast_paths_quote_as_the_char_rules(arg in proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(b"az09_@%+=:,./- '\"*$!?\\\t".to_vec()),
                1 => any::<u8>(),
            ], 0..24)) {
            let mut got = String::new();
            push_arg(&mut got, &arg);
            let want = match std::str::from_utf8(&arg) {
                _ if arg.is_empty() => "''".to_owned(),
                Ok(s) if !s.starts_with('=') && s.chars().all(is_bare) => s.to_owned(),
                Ok(s) if s.chars().all(is_printable) => {
                    format!("'{}'", s.replace('\'', "'\\''"))
                }
                _ => {
                    let mut o = String::new();
                    push_dollar(&mut o, &arg);
                    o
                }
            };
            prop_assert_eq!(got, want);
        }

        #[test]
        fn sanitize_is_printable(v in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert!(sanitize(&v).chars().all(is_printable));
        }
    }
}
