//! Issue 8, property: a report over a log equals the report over the same log
//! split into rotated files (`tracer.log.2`, `tracer.log.1`, `tracer.log`) at
//! any line boundaries, whatever order the files are named in. Run for
//! tracer's JSON log and for a raw audit log (whose events may straddle two
//! files).

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{Local, TimeZone};
use clap::Parser;
use proptest::prelude::*;
use tracer::cli::report::{Env, ReportArgs};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// (JSON output with the input list removed, CSV output).
fn report(files: &[PathBuf]) -> (serde_json::Value, String) {
    let run = |format: &str| {
        let mut argv: Vec<String> = ["report", "--utc", "--color=never", "--no-progress"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        argv.push("--passwd".into());
        argv.push(fixtures().join("report/passwd").display().to_string());
        argv.push("--format".into());
        argv.push(format.into());
        argv.extend(files.iter().map(|p| p.display().to_string()));
        let w = Wrapper::try_parse_from(&argv).unwrap();
        let env = Env {
            stdout_is_tty: false,
            stderr_is_tty: false,
            no_color: true,
            now: Local.timestamp_opt(1_714_600_000, 0).unwrap(),
        };
        let config = w.args.to_config(&env).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        tracer::report::run(&config, &mut out, &mut err).unwrap();
        String::from_utf8(out).unwrap()
    };
    let mut json: serde_json::Value = serde_json::from_str(&run("json")).unwrap();
    // Which files were read, and their line counts, differ by construction;
    // bad-line locations name files too. Everything else must be equal.
    if let Some(stats) = json.get_mut("stats").and_then(|s| s.as_object_mut()) {
        stats.remove("inputs");
        // Where a cut event begins names its file too; how many there are
        // must still agree.
        if let Some(at) = stats.remove("incomplete_event_at") {
            stats.insert(
                "incomplete_event_at_count".into(),
                at.as_array().map_or(0, Vec::len).into(),
            );
        }
        if let Some(samples) = stats.get_mut("bad_line_samples") {
            for s in samples.as_array_mut().into_iter().flatten() {
                if let Some(o) = s.as_object_mut() {
                    o.remove("file");
                    o.remove("line");
                }
            }
        }
    }
    (json, run("csv"))
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
    whole
}

fn audit_log() -> Vec<u8> {
    std::fs::read(fixtures().join("audit/ssh_sudo_su.log")).unwrap()
}

/// Offsets just after each `\n`, plus 0 and the end: where rotation may cut.
fn boundaries(log: &[u8]) -> Vec<usize> {
    let mut b = vec![0];
    b.extend(
        log.iter()
            .enumerate()
            .filter(|(_, &c)| c == b'\n')
            .map(|(i, _)| i + 1),
    );
    if *b.last().unwrap() != log.len() {
        b.push(log.len());
    }
    b
}

fn check_split(
    log: &[u8],
    base: &str,
    a: prop::sample::Index,
    b: prop::sample::Index,
    order: [usize; 3],
) {
    let bounds = boundaries(log);
    check_cuts(log, base, a.get(&bounds), b.get(&bounds), order);
}

fn check_cuts(log: &[u8], base: &str, x: &usize, y: &usize, order: [usize; 3]) {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    std::fs::create_dir(&whole).unwrap();
    let whole_file = whole.join(base);
    std::fs::write(&whole_file, log).unwrap();
    let expected = report(&[whole_file]);

    let (mut x, mut y) = (x, y);
    if x > y {
        std::mem::swap(&mut x, &mut y);
    }
    let split = tmp.path().join("split");
    std::fs::create_dir(&split).unwrap();
    let names = [format!("{base}.2"), format!("{base}.1"), base.to_string()];
    let parts = [&log[..*x], &log[*x..*y], &log[*y..]];
    for (n, p) in names.iter().zip(parts) {
        std::fs::write(split.join(n), p).unwrap();
    }
    // The report sorts rotations oldest first, so any order of naming works.
    let files: Vec<PathBuf> = order.iter().map(|&i| split.join(&names[i])).collect();
    let got = report(&files);
    assert_eq!(got.1, expected.1, "CSV differs for cuts at {x}, {y}");
    assert_eq!(got.0, expected.0, "JSON differs for cuts at {x}, {y}");
}

fn orders() -> impl Strategy<Value = [usize; 3]> {
    prop::sample::select(vec![
        [0, 1, 2],
        [2, 1, 0],
        [1, 0, 2],
        [2, 0, 1],
        [0, 2, 1],
        [1, 2, 0],
    ])
}

/// Cases per property: 24 (each runs four reports), or
/// `PROPTEST_CASES / 8` for a longer run (`cargo xtask test --long`). The
/// seed is fixed in CI (`cargo xtask test` sets `PROPTEST_RNG_SEED`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(24, |n| (n / 8).max(24))
}

/// The case the property found at random: a rotated piece that holds only
/// a line that is not a record (here the fixture's junk line) must be read
/// as a piece of its log, not refused as of unknown format.
#[test]
fn a_rotated_piece_of_only_junk_is_part_of_its_log() {
    let log = tracer_log();
    let junk = b"this line is not JSON at all\n";
    let at = log
        .windows(junk.len())
        .position(|w| w == junk)
        .expect("the fixture has its junk line");
    for order in [[0, 1, 2], [2, 1, 0]] {
        check_cuts(&log, "tracer.log", &at, &(at + junk.len()), order);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn tracer_log_split_into_rotations(a: prop::sample::Index, b: prop::sample::Index, order in orders()) {
        check_split(&tracer_log(), "tracer.log", a, b, order);
    }

    #[test]
    fn audit_log_split_into_rotations(a: prop::sample::Index, b: prop::sample::Index, order in orders()) {
        check_split(&audit_log(), "audit.log", a, b, order);
    }
}
