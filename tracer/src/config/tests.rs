//! The configuration pipeline: parsing errors, one test per check rule (from
//! the file, from a flag, and a flag overriding the file), and where each
//! problem is said to come from.

use std::path::{Path, PathBuf};

use super::*;
use tracer_common::config::{
    IdRange, COMM_FILTER_ENTRIES, EXE_FILTER_ENTRIES, EXE_PREFIX_MAX, FILTER_RANGES,
};

fn err(text: &str) -> String {
    parse(text, "t.toml").unwrap_err().to_string()
}

/// A configuration file in a temporary directory.
struct File {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn file(text: &str) -> File {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, text).unwrap();
    File { _dir: dir, path }
}

/// The problems of `text` with `flags` laid over it, with the file's path
/// shown as `t.toml`.
fn problems(text: &str, flags: &Flags) -> Vec<String> {
    let f = file(text);
    match resolve(Some(&f.path), flags) {
        Ok(_) => Vec::new(),
        Err(e) => {
            let p = f.path.display().to_string();
            e.problems()
                .iter()
                .map(|x| x.to_string().replace(&p, "t.toml"))
                .collect()
        }
    }
}

fn ok(text: &str, flags: &Flags) -> Settings {
    let f = file(text);
    resolve(Some(&f.path), flags).unwrap_or_else(|e| panic!("{e}"))
}

fn none() -> Flags {
    Flags::default()
}

/// Asserts exactly one problem, starting with `want`.
#[track_caller]
fn one(text: &str, flags: &Flags, want: &str) {
    let p = problems(text, flags);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(p[0].starts_with(want), "want {want:?}, got {:?}", p[0]);
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
    assert_eq!(c.crosscheck, CrossCheckConfig::default());
    assert_eq!(c.filter, FilterSpec::default());
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
    assert!(e.contains("9-3"), "{e}");
    let e = err("[capture]\nbackend = \"dtrace\"\n");
    assert!(e.starts_with("t.toml:2: key `capture.backend`"), "{e}");
}

#[test]
fn filters_parse_into_the_kernel_filters_type() {
    let s = ok(
        "[filter]\nexclude_unattributed = true\ninclude_uids = [\"1000-60000\", 0]\nexclude_exe_prefixes = [\"/usr/lib/\"]\n",
        &Flags {
            include_uid: vec!["5".into()],
            exclude_comm: vec!["cron".into()],
            ..none()
        },
    );
    let f = &s.ebpf.filter;
    assert!(f.exclude_unattributed);
    assert_eq!(
        f.include_uids,
        vec![
            IdRange {
                lo: 1000,
                hi: 60000
            },
            IdRange { lo: 0, hi: 0 },
            IdRange { lo: 5, hi: 5 }
        ],
        "the flag adds to the file's list"
    );
    assert_eq!(f.exclude_comms, vec!["cron"]);
    assert_eq!(
        *f, s.config.filter,
        "the eBPF options carry the file's filter"
    );
    f.to_kernel().unwrap();
}

// One test per rule of check.rs.

#[test]
fn rule_argv_limit() {
    one(
        "[capture]\nargv_limit = 0\n",
        &none(),
        "t.toml:2: key `capture.argv_limit`: 0 is not between 1 and 131072",
    );
    let big = Flags {
        argv_limit: Some(131073),
        ..none()
    };
    one(
        "",
        &big,
        "--argv-limit: key `capture.argv_limit`: 131073 is not between 1 and 131072",
    );
    // The flag replaces the file's value: a bad file value under a good flag
    // is not a problem, and a bad flag over a good file names only the flag.
    let good = Flags {
        argv_limit: Some(4096),
        ..none()
    };
    assert_eq!(
        ok("[capture]\nargv_limit = 0\n", &good).ebpf.argv_limit,
        4096
    );
    one(
        "[capture]\nargv_limit = 100\n",
        &big,
        "--argv-limit: key `capture.argv_limit`",
    );
}

#[test]
fn rule_ring_size() {
    one(
        "[capture]\n\nring_size = \"3M\"\n",
        &none(),
        "t.toml:3: key `capture.ring_size`: 3M is not a power of two between 4K and 2G",
    );
    one(
        "[capture]\nring_size = \"4G\"\n",
        &none(),
        "t.toml:2: key `capture.ring_size`: 4G is not",
    );
    let f = Flags {
        ring_size: Some(1000),
        ..none()
    };
    one(
        "[capture]\nring_size = \"8M\"\n",
        &f,
        "--ring-size: key `capture.ring_size`: 1000 is not",
    );
    let f = Flags {
        ring_size: Some(1 << 16),
        ..none()
    };
    assert_eq!(
        ok("[capture]\nring_size = \"3M\"\n", &f).ebpf.ring_bytes,
        1 << 16
    );
}

#[test]
fn rule_poll_ms() {
    one(
        "[capture]\npoll_ms = 0\n",
        &none(),
        "t.toml:2: key `capture.poll_ms`: 0 is not between 1 and 10000",
    );
    let f = Flags {
        poll_ms: Some(10_001),
        ..none()
    };
    one("", &f, "--poll-ms: key `capture.poll_ms`: 10001 is not");
    let f = Flags {
        poll_ms: Some(20),
        ..none()
    };
    let s = ok("[capture]\npoll_ms = 0\n", &f);
    assert_eq!(s.ebpf.poll, std::time::Duration::from_millis(20));
}

#[test]
fn rule_log_file_absolute() {
    one(
        "[log]\nfile = \"logs/t.log\"\n",
        &none(),
        "t.toml:2: key `log.file`: logs/t.log is not an absolute path",
    );
    // --output is made absolute, and replaces the file's path.
    let f = Flags {
        output: Some("rel/x.jsonl".into()),
        ..none()
    };
    let s = ok("[log]\nfile = \"logs/t.log\"\n", &f);
    assert!(s.config.log.file.is_absolute());
    assert!(s.config.log.file.ends_with("rel/x.jsonl"));
    assert_eq!(
        s.config.log.dir_policy,
        crate::sink::file::DirPolicy::ExplicitOutput
    );
    let s = ok("[log]\nfile = \"/var/log/x/t.log\"\n", &none());
    assert_eq!(
        s.config.log.dir_policy,
        crate::sink::file::DirPolicy::Strict,
        "the configured log keeps the strict directory check"
    );
}

#[test]
fn rule_some_output() {
    one(
        "[log]\nenabled = false\n",
        &none(),
        "t.toml:2: key `log.enabled`: no output",
    );
    let f = Flags {
        output: Some("-".into()),
        ..none()
    };
    let s = ok("[log]\nenabled = false\n", &f);
    assert!(s.config.log.stdout);
}

#[test]
fn rule_num_logs() {
    one(
        "[log]\nnum_logs = 0\n",
        &none(),
        "t.toml:2: key `log.num_logs`: must be at least 1 when max_size is set",
    );
    ok("[log]\nnum_logs = 0\nmax_size = 0\n", &none());
}

#[test]
fn rule_freq() {
    one(
        "[log]\nfreq = 0\n",
        &none(),
        "t.toml:2: key `log.freq`: must be at least 1 with flush = \"incremental\"",
    );
    ok("[log]\nfreq = 0\nflush = \"data\"\n", &none());
}

#[test]
fn rule_group() {
    one(
        "[log]\ngroup = \"no-such-group-here\"\n",
        &none(),
        "t.toml:2: key `log.group`: no such group",
    );
}

#[test]
fn rule_chain_key() {
    one(
        "[log]\nchain_key = \"k\"\n",
        &none(),
        "t.toml:2: key `log.chain_key`: k is not an absolute path",
    );
    let f = Flags {
        chain_key: Some("k".into()),
        ..none()
    };
    assert!(ok("[log]\nchain_key = \"k\"\n", &f)
        .config
        .log
        .chain_key
        .is_absolute());
    ok("[log]\nchain_key = \"k\"\nchain = false\n", &none());
}

#[test]
fn rule_app_name() {
    one(
        "[syslog]\napp_name = \"two words\"\n",
        &none(),
        "t.toml:2: key `syslog.app_name`: must be 1 to 48 printable ASCII",
    );
    one(
        &format!("[syslog]\napp_name = \"{}\"\n", "a".repeat(49)),
        &none(),
        "t.toml:2: key `syslog.app_name`",
    );
}

#[test]
fn rule_max_message() {
    one(
        "[syslog]\nmax_message = 100\n",
        &none(),
        "t.toml:2: key `syslog.max_message`: must be at least 1K",
    );
}

/// The case: a relative --status-file used to slip past the check,
/// which ran on the file before the flags were applied.
#[test]
fn rule_status_file() {
    one(
        "[daemon]\nstatus_file = \"run/s.json\"\n",
        &none(),
        "t.toml:2: key `daemon.status_file`: run/s.json is not an absolute path",
    );
    let rel = Flags {
        status_file: Some("relative/path".into()),
        ..none()
    };
    one(
        "[daemon]\nstatus_file = \"/run/x/s.json\"\n",
        &rel,
        "--status-file: key `daemon.status_file`: relative/path is not an absolute path",
    );
    let abs = Flags {
        status_file: Some("/tmp/s.json".into()),
        ..none()
    };
    let s = ok("[daemon]\nstatus_file = \"run/s.json\"\n", &abs);
    assert_eq!(s.daemon().status_file, Path::new("/tmp/s.json"));
    ok("[daemon]\nstatus_file = \"\"\n", &none());
}

#[test]
fn rule_crosscheck_window() {
    one(
        "[crosscheck]\nwindow = 0\n",
        &none(),
        "t.toml:2: key `crosscheck.window`: 0s is not between 1s and 300s",
    );
    let s = ok("[crosscheck]\nwindow = \"10s\"\n", &none());
    assert_eq!(s.check_window, std::time::Duration::from_secs(10));
}

#[test]
fn rule_fleet_urls_and_files() {
    one(
        "[fleet]\nurl = \"clickhouse://ch1:8123/tracer\"\nreport_from = \"ftp://ch/db\"\n",
        &none(),
        "t.toml:3: key `fleet.report_from`: \"ftp://ch/db\": unknown scheme",
    );
    one(
        "[fleet]\nca = \"ca.pem\"\n",
        &none(),
        "t.toml:2: key `fleet.ca`: ca.pem is not an absolute path",
    );
    // A flag replaces the file's value and is named instead of its line.
    one(
        "[fleet]\nurl = \"clickhouse://ch1:8123/tracer\"\n",
        &Flags {
            fleet_url: Some("clickhouse://u:p@ch2/tracer".into()),
            ..none()
        },
        "URL: key `fleet.url`: \"clickhouse://u:p@ch2/tracer\": credentials belong in the credentials file",
    );
    one(
        "",
        &Flags {
            report_from: Some("https://ch".into()),
            ..none()
        },
        "--from: key `fleet.report_from`: \"https://ch\": no database",
    );
    let s = ok(
        "[log]\nfile = \"/var/log/t/t.log\"\n[fleet]\nurl = \"https://ch1/tracer\"\nreport_from = \"clickhouse://q:8123/tracer\"\ncredentials = \"/etc/tracer/c\"\nca = \"/etc/tracer/ca.pem\"\n",
        &Flags {
            fleet_ca: Some("/etc/other-ca.pem".into()),
            ship_log: Some("/var/log/x/x.log".into()),
            ..none()
        },
    );
    let f = &s.config.fleet;
    assert_eq!(f.url.as_deref(), Some("https://ch1/tracer"));
    assert_eq!(f.report_from.as_deref(), Some("clickhouse://q:8123/tracer"));
    assert_eq!(f.credentials.as_deref(), Some(Path::new("/etc/tracer/c")));
    assert_eq!(f.ca.as_deref(), Some(Path::new("/etc/other-ca.pem")));
    assert_eq!(s.config.log.file, Path::new("/var/log/x/x.log"));
    assert!(
        s.to_toml().contains("# fleet.ca: set by --ca"),
        "{}",
        s.to_toml()
    );
}

#[test]
fn rule_filter_ranges() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let text = format!("[filter]\nexclude_uids = [{}]\n", list(FILTER_RANGES + 1));
    one(
        &text,
        &none(),
        "t.toml:2: key `filter.exclude_uids`: 9 ranges; the kernel-side filter holds at most 8",
    );
    // The file's list is full; a flag's range overflows it: both are named.
    let text = format!("[filter]\ninclude_auids = [{}]\n", list(FILTER_RANGES));
    let f = Flags {
        include_auid: vec!["1000-2000".into()],
        ..none()
    };
    one(
        &text,
        &f,
        "t.toml:2 and --include-auid: key `filter.include_auids`: 9 ranges",
    );
    let f = Flags {
        exclude_uid: vec!["x-1".into()],
        ..none()
    };
    one(
        "",
        &f,
        "--exclude-uid: key `filter.exclude_uids`: `x-1` is not an id or an id range",
    );
}

#[test]
fn rule_filter_comms() {
    one(
        "[filter]\nexclude_comms = [\"a-name-longer-than-15\"]\n",
        &none(),
        "t.toml:2: key `filter.exclude_comms`: \"a-name-longer-than-15\": a comm is 1 to 15 bytes",
    );
    let f = Flags {
        exclude_comm: vec![String::new()],
        ..none()
    };
    one(
        "",
        &f,
        "--exclude-comm: key `filter.exclude_comms`: \"\": a comm",
    );
    let f = Flags {
        exclude_comm: (0..=COMM_FILTER_ENTRIES).map(|i| format!("c{i}")).collect(),
        ..none()
    };
    one(
        "",
        &f,
        "--exclude-comm: key `filter.exclude_comms`: 65 names; the kernel-side filter holds at most 64",
    );
}

/// The kernel's trie takes 64 prefixes of up to 256 bytes; the check used
/// to stop at 16 of 255.
#[test]
fn rule_filter_exe_prefixes() {
    one(
        "[filter]\nexclude_exe_prefixes = [\"usr/lib\"]\n",
        &none(),
        "t.toml:2: key `filter.exclude_exe_prefixes`: \"usr/lib\": a prefix is an absolute path of at most 256 bytes",
    );
    let f = Flags {
        exclude_exe_prefix: (0..EXE_FILTER_ENTRIES)
            .map(|i| format!("/{i:0>w$}", w = EXE_PREFIX_MAX - 1))
            .collect(),
        ..none()
    };
    let s = ok("", &f);
    assert_eq!(s.ebpf.filter.exclude_exe_prefixes.len(), 64);
    let mut f = f;
    f.exclude_exe_prefix.push("/one-too-many".into());
    one(
        "",
        &f,
        "--exclude-exe-prefix: key `filter.exclude_exe_prefixes`: 65 prefixes",
    );
}

/// Every problem at once, each with its origin; a key left at its default
/// is named as such.
#[test]
fn every_problem_is_reported_with_its_origin() {
    let f = Flags {
        status_file: Some("rel".into()),
        ..none()
    };
    let p = problems(
        "[capture]\nargv_limit = 0\npoll_ms = 0\n[log]\nfreq = 0\n",
        &f,
    );
    assert_eq!(
        p,
        vec![
            "t.toml:2: key `capture.argv_limit`: 0 is not between 1 and 131072",
            "t.toml:3: key `capture.poll_ms`: 0 is not between 1 and 10000",
            "t.toml:5: key `log.freq`: must be at least 1 with flush = \"incremental\"",
            "--status-file: key `daemon.status_file`: rel is not an absolute path (or \"\" for none)",
        ]
    );
    // The file does not parse: its error and the flags' own are both given.
    let f = Flags {
        include_uid: vec!["nope".into()],
        ..none()
    };
    let p = problems("[log]\nbogus = 1\n", &f);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(p[0].starts_with("t.toml:2: key `log.bogus`"), "{p:#?}");
    assert!(
        p[1].starts_with("--include-uid: key `filter.include_uids`"),
        "{p:#?}"
    );
    // A value in an inline table is placed at the table's line.
    let p = problems("\n\ncapture = { poll_ms = 0 }\n", &none());
    assert!(
        p[0].starts_with("t.toml:3: key `capture.poll_ms`"),
        "{p:#?}"
    );
}

#[test]
fn check_config_output_says_which_keys_flags_set() {
    let f = Flags {
        argv_limit: Some(4096),
        output: Some("/tmp/x.jsonl".into()),
        ..none()
    };
    let s = ok("[log]\nmax_size = \"10M\"\n", &f);
    let text = s.to_toml();
    assert!(
        text.contains("# capture.argv_limit: set by --argv-limit\n"),
        "{text}"
    );
    assert!(text.contains("# log.file: set by --output\n"), "{text}");
    let body: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let back = parse(&body, "printed").unwrap();
    assert_eq!(back.capture.argv_limit, 4096);
    assert_eq!(back.log.max_size, Size(10 << 20));
}

#[test]
fn missing_explicit_file_is_an_error_but_missing_default_is_not() {
    let e = load(Some(Path::new("/nonexistent/tracer.toml"))).unwrap_err();
    assert!(
        e.to_string().starts_with("/nonexistent/tracer.toml: "),
        "{e}"
    );
    let e = resolve(Some(Path::new("/nonexistent/tracer.toml")), &none()).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}
