//! Issue 14, property: the report read on several threads, in chunks of any
//! size, is byte for byte the report read serially: text, JSON (with its
//! stats) and the warnings, for tracer's JSON log and for raw audit logs,
//! split into rotated files (one of them gzip'd) with cuts anywhere, a last
//! line cut short included. Seeds are fixed, so CI runs the same cases.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use chrono::{Local, TimeZone};
use clap::Parser;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use tracer::cli::report::{Env, ReportArgs};
use tracer::report::input::ReadOpts;

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// (output, warnings) of one report run.
fn report(files: &[PathBuf], format: &str, extra: &[&str], read: ReadOpts) -> (String, String) {
    let mut argv: Vec<String> = ["report", "--utc", "--color=never", "--no-progress"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    argv.push("--passwd".into());
    argv.push(fixtures().join("report/passwd").display().to_string());
    argv.push("--format".into());
    argv.push(format.into());
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv.extend(files.iter().map(|p| p.display().to_string()));
    let w = Wrapper::try_parse_from(&argv).unwrap();
    let env = Env {
        stdout_is_tty: false,
        stderr_is_tty: false,
        no_color: true,
        now: Local.timestamp_opt(1_714_600_000, 0).unwrap(),
    };
    let mut config = w.args.to_config(&env).unwrap();
    config.read = read;
    config.host_name = Some("this-host".into());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    tracer::report::run(&config, &mut out, &mut err).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn tracer_log() -> Vec<u8> {
    let dir = fixtures().join("report/mixed");
    let mut whole = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(dir.join("tracer.log.2.gz")).unwrap())
        .read_to_end(&mut whole)
        .unwrap();
    whole.extend(std::fs::read(dir.join("tracer.log.1")).unwrap());
    if whole.last() != Some(&b'\n') {
        whole.push(b'\n');
    }
    whole.extend(std::fs::read(dir.join("tracer.log")).unwrap());
    // The audit fixtures' expected events are tracer records too.
    for f in [
        "ssh_sudo_su.json",
        "interleaved.json",
        "args_hex_split.json",
    ] {
        whole.extend(std::fs::read(fixtures().join("audit").join(f)).unwrap());
    }
    whole
}

fn audit_log() -> Vec<u8> {
    let mut whole = Vec::new();
    for f in [
        "ssh_sudo_su.log",
        "interleaved.log",
        "junk_lines.log",
        "node_enriched.log",
        "args_hex_split.log",
        "elastic__go-libaudit__testdata__out_of_order.log",
    ] {
        whole.extend(std::fs::read(fixtures().join("audit").join(f)).unwrap());
        if whole.last() != Some(&b'\n') {
            whole.push(b'\n');
        }
    }
    whole
}

/// Writes `log` as `base.2.gz`, `base.1`, `base`, cut at byte offsets
/// `x <= y` (anywhere, so mid-line too: a cut line is then the last line of
/// one file and the first of the next), and drops the last `tail` bytes.
fn split(dir: &Path, log: &[u8], base: &str, x: usize, y: usize, tail: usize) -> Vec<PathBuf> {
    let end = log.len() - tail.min(log.len());
    let (x, y) = (x.min(end), y.min(end));
    let (x, y) = (x.min(y), x.max(y));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&log[..x]).unwrap();
    let names = [
        format!("{base}.2.gz"),
        format!("{base}.1"),
        base.to_string(),
    ];
    let parts = [
        gz.finish().unwrap(),
        log[x..y].to_vec(),
        log[y..end].to_vec(),
    ];
    names
        .iter()
        .zip(parts)
        .map(|(n, p)| {
            let path = dir.join(n);
            std::fs::write(&path, p).unwrap();
            path
        })
        .collect()
}

fn check(log: &[u8], base: &str, x: usize, y: usize, tail: usize, threads: usize, chunk: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let files = split(tmp.path(), log, base, x, y, tail);
    let serial = ReadOpts {
        threads: 1,
        ..ReadOpts::default()
    };
    let parallel = ReadOpts {
        threads,
        chunk_bytes: chunk,
    };
    for (format, extra) in [
        ("json", &[][..]),
        ("text", &[][..]),
        ("csv", &["--failed"][..]),
        ("json", &["--summary"][..]),
    ] {
        let want = report(&files, format, extra, serial);
        let got = report(&files, format, extra, parallel);
        assert_eq!(
            got.0, want.0,
            "{format} {extra:?} output differs (cuts {x} {y}, tail {tail}, {threads} threads, {chunk} B chunks)"
        );
        assert_eq!(got.1, want.1, "{format} {extra:?} warnings differ");
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        rng_seed: RngSeed::Fixed(14),
        ..ProptestConfig::default()
    })]

    #[test]
    fn tracer_log_parallel_is_serial(
        x in 0usize..200_000, y in 0usize..200_000, tail in 0usize..300,
        threads in 2usize..5, chunk in 1usize..20_000,
    ) {
        check(&tracer_log(), "tracer.log", x, y, tail, threads, chunk);
    }

    #[test]
    fn audit_log_parallel_is_serial(
        x in 0usize..120_000, y in 0usize..120_000, tail in 0usize..300,
        threads in 2usize..5, chunk in 1usize..20_000,
    ) {
        check(&audit_log(), "audit.log", x, y, tail, threads, chunk);
    }
}

/// The serial path itself is the one the other report tests pin down: a
/// single thread with the default chunks reads like a single thread with
/// one-byte chunks (every line its own chunk).
#[test]
fn chunk_size_does_not_matter_serially() {
    let tmp = tempfile::tempdir().unwrap();
    let files = split(tmp.path(), &audit_log(), "audit.log", 5000, 40_000, 17);
    let a = report(
        &files,
        "json",
        &[],
        ReadOpts {
            threads: 1,
            chunk_bytes: 1,
        },
    );
    let b = report(
        &files,
        "json",
        &[],
        ReadOpts {
            threads: 1,
            chunk_bytes: 1 << 20,
        },
    );
    assert_eq!(a, b);
    assert!(
        a.0.contains("\"commands\""),
        "{}",
        &a.0[..200.min(a.0.len())]
    );
}
