//! Unit tests of the line parser on tricky lines.

use super::*;
use proptest::prelude::*;

fn fields(r: &Record<'_>) -> Vec<(String, Value<'static>, bool)> {
    r.fields()
        .map(|f| {
            let v = match f.value {
                Value::Quoted(v) => Value::Quoted(v.to_vec().leak()),
                Value::Bare(v) => Value::Bare(v.to_vec().leak()),
            };
            (String::from_utf8_lossy(f.name).into_owned(), v, f.in_msg)
        })
        .collect()
}

#[test]
fn syscall_line() {
    let line = br#"type=SYSCALL msg=audit(1490137971.011:50406): arch=c000003e syscall=59 success=yes exit=0 a0=1 items=2 ppid=1 pid=2 auid=1000 uid=0 tty=pts1 ses=3 comm="ls" exe="/bin/ls" key="tracer_exec""#;
    let r = parse_line(line).unwrap();
    assert_eq!(r.node, None);
    assert_eq!(r.rtype, RecordType::SYSCALL);
    assert_eq!(r.time, Timestamp::from_secs_nanos(1490137971, 11_000_000));
    assert_eq!(r.serial, 50406);
    assert_eq!(r.get(b"arch"), Some(Value::Bare(b"c000003e")));
    assert_eq!(r.get(b"comm"), Some(Value::Quoted(b"ls")));
    assert_eq!(r.get(b"key"), Some(Value::Quoted(b"tracer_exec")));
    assert_eq!(r.get(b"nope"), None);
    assert_eq!(r.fields().count(), 15);
}

#[test]
fn node_prefix_crlf_and_enriched() {
    let line = b"node=web-1 type=EXECVE msg=audit(1.5:7): argc=2 a0=\"ls\" a1=2D6C\x1dARCH=x86_64 AUID=\"alice\"\r\n";
    let r = parse_line(line).unwrap();
    assert_eq!(r.node, Some(&b"web-1"[..]));
    assert_eq!(r.rtype, RecordType::EXECVE);
    assert_eq!(r.time, Timestamp::from_secs_nanos(1, 500_000_000));
    assert_eq!(r.body, b"argc=2 a0=\"ls\" a1=2D6C");
    assert_eq!(r.get(b"AUID"), None);
    assert_eq!(
        r.get(b"a1").and_then(|v| v.untrusted()).as_deref(),
        Some(&b"-l"[..])
    );
}

#[test]
fn unknown_numbered_type_and_unrecognized_name() {
    let r = parse_line(b"type=UNKNOWN[1327] msg=audit(1.000:1): proctitle=6C73").unwrap();
    assert_eq!(r.rtype, RecordType::PROCTITLE);
    let r = parse_line(b"type=SOMETHING_NEW msg=audit(1.000:1): x=1").unwrap();
    assert_eq!(r.rtype, RecordType::UNRECOGNIZED);
    assert!(matches!(
        parse_line(b"type=UNKNOWN[abc] msg=audit(1.000:1): x=1"),
        Err(ParseError::BadType(_))
    ));
}

#[test]
fn user_message_fields_are_flattened() {
    let line = br#"type=USER_LOGIN msg=audit(1553501549.148:110544844): user pid=374 uid=0 auid=4294967295 ses=4294967295 msg='op=login acct="(unknown)" exe="/usr/sbin/sshd" hostname=? addr=1.2.3.4 terminal=ssh res=failed'"#;
    let r = parse_line(line).unwrap();
    let f = fields(&r);
    let names: Vec<&str> = f.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["pid", "uid", "auid", "ses", "op", "acct", "exe", "hostname", "addr", "terminal", "res"]
    );
    assert!(!f[3].2 && f[4].2 && f[10].2);
    assert_eq!(r.get(b"acct"), Some(Value::Quoted(b"(unknown)")));
    assert_eq!(r.get(b"res"), Some(Value::Bare(b"failed")));
}

#[test]
fn msg_with_fields_after_it_and_quotes_inside() {
    let line = br#"type=USER_CMD msg=audit(1.000:2): pid=1 msg='cwd="/home/o'brien" cmd=6C73 terminal=pts/1 res=success' extra=1"#;
    let r = parse_line(line).unwrap();
    assert_eq!(r.get(b"cwd"), Some(Value::Quoted(b"/home/o'brien")));
    assert_eq!(r.get(b"res"), Some(Value::Bare(b"success")));
    let last = r.fields().last().unwrap();
    assert_eq!((last.name, last.in_msg), (&b"extra"[..], false));
    // A leading space inside msg (systemd's SYSTEM_BOOT) and an empty value.
    let r = parse_line(
        b"type=SYSTEM_BOOT msg=audit(1.000:3): pid=1 msg=' comm=\"x\" mac= res=success'",
    )
    .unwrap();
    assert_eq!(r.get(b"comm"), Some(Value::Quoted(b"x")));
    assert_eq!(r.get(b"mac"), Some(Value::Bare(b"")));
}

#[test]
fn unterminated_quotes_run_to_the_end() {
    let r = parse_line(b"type=CWD msg=audit(1.000:3): cwd=\"/tmp/x").unwrap();
    assert_eq!(r.get(b"cwd"), Some(Value::Quoted(b"/tmp/x")));
    let r =
        parse_line(b"type=USER_CMD msg=audit(1.000:3): pid=1 msg='cmd=6C73 res=success").unwrap();
    assert_eq!(r.get(b"res"), Some(Value::Bare(b"success")));
    assert_eq!(r.fields().count(), 3);
}

#[test]
fn null_values_and_bare_words() {
    let r = parse_line(b"type=SYSCALL msg=audit(1.000:4): tty=(none) key=(null) comm=top").unwrap();
    assert!(r.get(b"key").unwrap().is_null());
    assert_eq!(r.get(b"tty"), Some(Value::Bare(b"(none)")));
    // Old auditd: no colon after the header, words without `=`.
    let r = parse_line(b"type=DAEMON_END msg=audit(1481078697.892:7799): auditd normal halt, sending auid=? pid=? res=success").unwrap();
    assert_eq!(r.get(b"res"), Some(Value::Bare(b"success")));
    let r = parse_line(
        b"type=DAEMON_CONFIG msg=audit(1490239800.477:34) config changed, auid=0 pid=1512",
    )
    .unwrap();
    assert_eq!(r.serial, 34);
    assert_eq!(r.get(b"auid"), Some(Value::Bare(b"0")));
}

#[test]
fn empty_body_and_eoe() {
    let r = parse_line(b"type=EOE msg=audit(1493129355.852:624): ").unwrap();
    assert_eq!(r.rtype, RecordType::EOE);
    assert_eq!(r.body, b"");
    assert_eq!(r.fields().count(), 0);
}

#[test]
fn invalid_utf8_is_kept_as_bytes() {
    let r = parse_line(b"type=CWD msg=audit(1.000:5): cwd=\"/tmp/\xff\xfe\"").unwrap();
    assert_eq!(r.get(b"cwd"), Some(Value::Quoted(b"/tmp/\xff\xfe")));
}

#[test]
fn netlink_body() {
    let r = parse_body(
        1300,
        b"audit(1490137971.011:50406): arch=c000003e syscall=59",
    )
    .unwrap();
    assert_eq!(r.rtype, RecordType::SYSCALL);
    assert_eq!(r.serial, 50406);
    assert_eq!(r.get(b"syscall"), Some(Value::Bare(b"59")));
    assert_eq!(
        parse_body(1320, b"audit(1.002:9): ").unwrap().rtype,
        RecordType::EOE
    );
    assert_eq!(parse_body(1320, b""), Err(ParseError::Empty));
    assert_eq!(
        parse_body(1300, b"type=SYSCALL msg=audit(1.0:1):"),
        Err(ParseError::MissingHeader)
    );
}

#[test]
fn errors_name_the_problem() {
    let cases: [(&[u8], ParseError); 9] = [
        (b"", ParseError::Empty),
        (b"  \r\n", ParseError::Empty),
        (
            b"hello world",
            ParseError::MissingType("hello world".into()),
        ),
        (b"type=UNKNOWN[1329] msg=?", ParseError::MissingHeader),
        (b"type=SYSCALL arch=c000003e", ParseError::MissingHeader),
        (
            b"type=SYSCALL msg=audit(1.000:5",
            ParseError::UnterminatedHeader,
        ),
        (
            b"type=SYSCALL msg=audit(1.000): x",
            ParseError::BadTimestamp("1.000".into()),
        ),
        (
            b"type=SYSCALL msg=audit(x.000:5): x",
            ParseError::BadTimestamp("x.000:5".into()),
        ),
        (
            b"type=SYSCALL msg=audit(1.000:-5): x",
            ParseError::BadSerial("-5".into()),
        ),
    ];
    for (line, want) in cases {
        assert_eq!(
            parse_line(line),
            Err(want),
            "{}",
            String::from_utf8_lossy(line)
        );
    }
    let msg = parse_line(b"type=SYSCALL msg=audit(1.000:-5): x")
        .unwrap_err()
        .to_string();
    assert!(msg.contains("serial") && msg.contains("-5"), "{msg}");
    // Excerpts are bounded.
    let long = vec![b'x'; 10_000];
    let msg = parse_line(&long).unwrap_err().to_string();
    assert!(msg.len() < 200, "{msg}");
}

#[test]
fn timestamp_fraction_precision() {
    let r = parse_line(b"type=EOE msg=audit(1.123456789:1):").unwrap();
    assert_eq!(r.time, Timestamp::from_secs_nanos(1, 123_456_789));
    let r = parse_line(b"type=EOE msg=audit(7:1):").unwrap();
    assert_eq!(r.time, Timestamp::from_secs_nanos(7, 0));
    assert!(parse_line(b"type=EOE msg=audit(1.1234567891:1):").is_err());
    assert!(parse_line(b"type=EOE msg=audit(99999999999999999999.0:1):").is_err());
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = parse_line(&line) {
            for f in r.fields() {
                let _ = f.value.untrusted();
            }
        }
        let _ = parse_body(1300, &line);
    }

    #[test]
    fn never_panics_on_record_like_text(
        body in proptest::collection::vec(
            prop_oneof![Just(b'='), Just(b'"'), Just(b'\''), Just(b' '), Just(b'a'), Just(b'm'),
                        Just(b's'), Just(b'g'), Just(0x1du8), Just(b'\n'), any::<u8>()],
            0..120),
    ) {
        let mut line = b"type=USER_CMD msg=audit(1.000:1): msg='".to_vec();
        line.extend_from_slice(&body);
        let r = parse_line(&line).unwrap();
        let n = r.fields().count();
        prop_assert!(n <= line.len());
    }
}

proptest! {
    /// The word-at-a-time scans find exactly what a byte loop finds.
    #[test]
    fn scans_agree_with_a_byte_loop(
        hay in proptest::collection::vec(prop_oneof![Just(b'='), Just(b' '), Just(b'"'), Just(0x80u8), Just(0xffu8), Just(0u8), any::<u8>()], 0..80),
        a in prop_oneof![Just(b'='), Just(b' '), Just(b'"'), any::<u8>()],
        b in prop_oneof![Just(b' '), Just(0xffu8), any::<u8>()],
    ) {
        prop_assert_eq!(find(&hay, a), hay.iter().position(|&c| c == a));
        prop_assert_eq!(find2(&hay, a, b), hay.iter().position(|&c| c == a || c == b));
    }
}

proptest! {
    /// The one-pass route for the kernel's usual stamp gives what the
    /// general one does, whenever it answers; stamps of digits and
    /// separators of every length and kind, most of them well formed.
    #[test]
    fn usual_stamp_agrees_with_any_stamp(
        parts in proptest::collection::vec(
            (proptest::collection::vec(b'0'..=b'9', 0..22),
             proptest::sample::select(b".:)( x".to_vec())),
            1..5),
        usual in proptest::collection::vec(b'0'..=b'9', 1..22),
    ) {
        let mut odd: Vec<u8> = parts.iter().flat_map(|(d, sep)| d.iter().copied().chain([*sep])).collect();
        odd.extend_from_slice(b" rest");
        // Well formed: SECS.FRAC:SERIAL) from the same digits.
        let n = usual.len();
        let (a, b) = (n / 3, 2 * n / 3);
        let mut well = usual[..a.max(1)].to_vec();
        well.push(b'.');
        well.extend_from_slice(&usual[a.max(1).min(b)..b.max(a.max(1))]);
        well.push(b':');
        well.extend_from_slice(&usual[b.max(a.max(1))..]);
        well.extend_from_slice(b"): a=1");
        for inner in [odd, well] {
            if let Some(fast) = usual_stamp(&inner) {
                prop_assert_eq!(Ok(fast), any_stamp(&inner), "{:?}", String::from_utf8_lossy(&inner));
            }
        }
    }
}

proptest! {
    /// The word-at-a-time read of the kernel's `SECS.MSEC:` shape agrees
    /// with the general path on that shape, with any byte of it replaced by
    /// any other (a non-digit, a separator, a high byte).
    #[test]
    fn kernel_stamps_agree_with_any_stamp(
        secs in 0u64..10_000_000_000,
        millis in 0u32..1000,
        serial in 0u64..100_000_000,
        change in proptest::option::of((0usize..15, any::<u8>())),
    ) {
        let mut inner = format!("{secs:010}.{millis:03}:{serial}): a=1").into_bytes();
        if let Some((at, b)) = change {
            inner[at] = b;
        }
        let fast = usual_stamp(&inner);
        if change.is_none() {
            prop_assert_eq!(
                fast,
                Some((Timestamp::from_secs_nanos(secs as i64, millis * 1_000_000), serial, inner.len() - 6))
            );
        }
        match fast {
            Some(fast) => prop_assert_eq!(Ok(fast), any_stamp(&inner), "{:?}", String::from_utf8_lossy(&inner)),
            // Not taken: a digit was replaced by something else, so the
            // general path must not read it as the usual stamp either.
            None => prop_assert!(
                any_stamp(&inner).is_err() || !inner[..15].iter().enumerate().all(|(i, c)| match i {
                    10 => *c == b'.',
                    14 => *c == b':',
                    _ => c.is_ascii_digit(),
                }),
                "{:?}", String::from_utf8_lossy(&inner)
            ),
        }
    }
}

#[test]
fn usual_stamp_takes_the_kernels_stamps() {
    assert_eq!(
        usual_stamp(b"1490137971.011:50406): arch=c000003e"),
        Some((
            Timestamp::from_secs_nanos(1_490_137_971, 11_000_000),
            50406,
            20
        ))
    );
    // Not the usual shape: the general path's business.
    assert_eq!(usual_stamp(b"1490137971:50406):"), None);
    assert_eq!(usual_stamp(b"1490137971.0111111111:5):"), None);
    assert_eq!(usual_stamp(b"1.5:18446744073709551615)"), None);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]
    /// Whenever the one-pass walk takes a body, it yields exactly the
    /// general walk's fields. Bodies from the characters that matter
    /// (separators, quotes, `=`, tabs, `msg`), most of them plain.
    #[test]
    fn plain_fields_are_the_general_fields(
        words in proptest::collection::vec(
            (proptest::sample::select(vec!["a", "exe", "msg", "", "a0", "key"]),
             proptest::collection::vec(
                 proptest::prop_oneof![
                     4 => proptest::sample::select(b"xyz019/_-".to_vec()),
                     1 => proptest::sample::select(b"=\"' \t".to_vec()),
                 ], 0..8),
             any::<bool>(), any::<bool>()),
            0..8),
    ) {
        let mut body = Vec::new();
        for (i, (name, value, quoted, double)) in words.iter().enumerate() {
            if i > 0 {
                body.extend_from_slice(if *double { b"  " } else { b" " });
            }
            body.extend_from_slice(name.as_bytes());
            body.push(b'=');
            if *quoted {
                body.push(b'"');
            }
            body.extend_from_slice(value);
            if *quoted {
                body.push(b'"');
            }
        }
        let rec = Record {
            node: None,
            rtype: RecordType::SYSCALL,
            time: Timestamp::from_secs_nanos(0, 0),
            serial: 1,
            body: &body,
            enriched: &[],
        };
        let mut plain = Vec::new();
        if plain_fields(&body, |n, v| plain.push((n, v))) {
            let general: Vec<_> = rec.fields().map(|f| (f.name, f.value)).collect();
            prop_assert_eq!(plain, general, "{:?}", String::from_utf8_lossy(&body));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]
    /// The walk on bit masks and the word-at-a-time walk agree on every
    /// body (the same fields handed over, the same answer), including
    /// words across the masks' 16- and 64-byte blocks and bodies right at
    /// [`MASKED_MAX`].
    #[test]
    fn masked_walk_is_the_word_walk(
        bytes in proptest::collection::vec(
            proptest::prop_oneof![
                6 => proptest::sample::select(b"abxyz019/_-".to_vec()),
                2 => Just(b' '),
                1 => Just(b'='),
                1 => Just(b'"'),
                1 => proptest::sample::select(b"'\t\x00\xff".to_vec()),
            ],
            0..MASKED_MAX + 1),
        words in proptest::collection::vec(
            (proptest::sample::select(vec!["a", "msg", "exe", "a0"]),
             "[a-z0-9/]{0,70}", any::<bool>()),
            0..40),
    ) {
        // Random bytes (mostly not plain), and bodies of plain words that
        // are plain up to the end or to where the random bytes start.
        let mut plain = Vec::new();
        for (name, value, quoted) in &words {
            if !plain.is_empty() {
                plain.push(b' ');
            }
            plain.extend_from_slice(name.as_bytes());
            plain.push(b'=');
            if *quoted {
                plain.push(b'"');
            }
            plain.extend_from_slice(value.as_bytes());
            if *quoted {
                plain.push(b'"');
            }
        }
        let mut mixed = plain.clone();
        mixed.extend_from_slice(&bytes);
        for body in [&bytes, &plain, &mixed] {
            let body = &body[..body.len().min(MASKED_MAX)];
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let ra = plain_fields_masked(body, |n, v| a.push((n, v)));
            let rb = plain_fields_scan(body, |n, v| b.push((n, v)));
            prop_assert_eq!(ra, rb, "{:?}", String::from_utf8_lossy(body));
            prop_assert_eq!(a, b, "{:?}", String::from_utf8_lossy(body));
        }
    }
}

#[test]
fn kernel_syscall_bodies_are_plain() {
    let line = br#"type=SYSCALL msg=audit(1490137971.011:50406): arch=c000003e syscall=59 success=yes exit=0 a0=1 items=2 ppid=1 pid=2 auid=1000 uid=0 tty=pts1 ses=3 comm="ls" exe="/bin/ls" key="tracer_exec""#;
    let rec = parse_line(line).unwrap();
    let mut n = 0;
    assert!(plain_fields(rec.body, |_, _| n += 1));
    assert_eq!(n, rec.fields().count());
    // What only the general walk reads: a tab before a word, a quote left
    // open, a word without `=`.
    for odd in [
        &b"a=1 \tb=2"[..],
        b"comm=\"a b\"",
        b"a=1 user b=2",
        b"a=\"x\"y=1",
    ] {
        assert!(
            !plain_fields(odd, |_, _| ()),
            "{:?}",
            String::from_utf8_lossy(odd)
        );
    }
}

/// Two ENRICHED names in one walk are what two lookups give, whatever the
/// order, repeats, unknown values or missing names.
#[test]
fn enriched_names_are_two_lookups() {
    let enriched: &[&[u8]] = &[
        b"UID=\"root\" AUID=\"alice\"",
        b"AUID=\"alice\" UID=\"root\"",
        b"ARCH=x86_64 SYSCALL=execve AUID=\"bob\" UID=\"bob\" GID=\"bob\"",
        b"AUID=unset UID=\"root\" AUID=\"later\"",
        b"UID=? UID=\"second\"",
        b"AUID=\"a b\" UID=\"(null)\"",
        b"",
        b"NOTHING=here",
    ];
    for e in enriched {
        let mut line = b"type=USER_START msg=audit(1.5:7): pid=1 uid=0\x1d".to_vec();
        line.extend_from_slice(e);
        let r = parse_line(&line).unwrap();
        assert_eq!(
            r.enriched_names(b"AUID", b"UID"),
            (r.enriched_name(b"AUID"), r.enriched_name(b"UID")),
            "{:?}",
            String::from_utf8_lossy(e)
        );
    }
}
