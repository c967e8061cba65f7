use super::*;

fn err(text: &str) -> String {
    parse(text, "t.toml").unwrap_err().to_string()
}

#[test]
fn defaults_round_trip_through_toml() {
    let c = Config::default();
    let text = c.to_toml();
    assert_eq!(parse(&text, "x").unwrap(), c);
}

#[test]
fn example_file_parses_and_matches_the_defaults_where_it_says_so() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../rules/tracer.toml.example"
    ))
    .unwrap();
    let c = parse(&text, "tracer.toml.example").unwrap();
    assert_eq!(c.capture, CaptureConfig::default());
    assert_eq!(c.log.max_size, Size(100 << 20));
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = err("[log]\nmax_size = \"10M\"\nmax_sise = 3\n");
    assert!(
        e.starts_with("t.toml:3: key `log.max_sise`: unknown field `max_sise`"),
        "{e}"
    );
    let e = err("[logs]\nx = 1\n");
    assert!(
        e.starts_with("t.toml:1: key `logs`: unknown field `logs`"),
        "{e}"
    );
}

#[test]
fn bad_values_name_file_line_and_key() {
    let e = err("# c\n[log]\n\nmax_size = \"10X\"\n");
    assert!(
        e.starts_with("t.toml:4: key `log.max_size`: \"10X\" is not a size"),
        "{e}"
    );
    let e = err("[log]\nflush = \"sometimes\"\n");
    assert!(
        e.starts_with("t.toml:2: key `log.flush`: unknown variant `sometimes`"),
        "{e}"
    );
    let e = err("[syslog]\ntarget = \"udp://x\"\n");
    assert!(e.starts_with("t.toml:2: key `syslog.target`"), "{e}");
    let e = err("[filter]\ninclude_uids = [\n  \"1000-60000\",\n  \"9-3\",\n]\n");
    assert!(e.starts_with("t.toml:4: key `filter.include_uids`"), "{e}");
    assert!(e.contains("empty"), "{e}");
    let e = err("[capture]\nargv_limit = 0\n");
    assert_eq!(
        e,
        "t.toml:2: key `capture.argv_limit`: 0 is not between 1 and 131072"
    );
    let e = err("[filter]\nexclude_comms = [\"a-name-longer-than-15\"]\n");
    assert!(e.starts_with("t.toml:2: key `filter.exclude_comms`"), "{e}");
    let e = err("[log]\ngroup = \"no-such-group-here\"\n");
    assert!(
        e.starts_with("t.toml:2: key `log.group`: no such group"),
        "{e}"
    );
}

#[test]
fn filters_parse() {
    let c = parse(
        "[filter]\nexclude_unattributed = true\ninclude_uids = [\"1000-60000\", 0]\nexclude_exe_prefixes = [\"/usr/lib/\"]\n",
        "t",
    )
    .unwrap();
    assert!(c.filter.exclude_unattributed);
    assert_eq!(
        c.filter.include_uids,
        vec![
            IdRange {
                first: 1000,
                last: 60000
            },
            IdRange { first: 0, last: 0 }
        ]
    );
    assert!(!c.filter.is_empty());
}

#[test]
fn flags_override_the_file() {
    let mut c = parse("[log]\nfile = \"/var/log/x/t.log\"\n", "t").unwrap();
    let o = Overrides {
        argv_limit: Some(4096),
        output: Some("-".into()),
        ..Default::default()
    };
    o.apply(&mut c, true);
    assert_eq!(c.capture.argv_limit, 4096);
    assert!(c.log.stdout && !c.log.enabled);
    let mut d = Config::default();
    Overrides::default().apply(&mut d, false);
    assert!(
        d.log.stdout && !d.log.enabled,
        "no file, no --output: stdout"
    );
}

#[test]
fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
    let e = load(Some(Path::new("/nonexistent/tracer.toml"))).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/tracer.toml: "),
        "{e}"
    );
}
