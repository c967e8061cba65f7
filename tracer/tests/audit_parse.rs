//! Audit log parsing end to end: golden fixtures, the `ausearch` oracle, reader
//! edge cases.
//!
//! Fixtures live in `tests/fixtures/audit/` at the workspace root: each `x.log`
//! beside `x.json`, the JSON lines of the events [`AuditLogReader`] makes of it.
//! `WRITE_GOLDEN=1 cargo test -p tracer --test audit_parse` rewrites the
//! goldens; review their diff like code.

mod audit_oracle;

use std::io::{BufReader, Cursor, Read};
use std::path::{Path, PathBuf};

use tracer::event::Kind;
use tracer::source::audit::reader::{AuditLogReader, ReadItem, ReaderConfig, ReaderStats};

pub const HOST: &str = "fixture-host";

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audit")
}

pub fn fixture_logs() -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 15, "fixtures missing: {logs:?}");
    logs
}

/// The fixture logs and the session fixtures' logs (real recordings of ssh,
/// sudo, su and cron on Debian 12, and those derived from real logs): what
/// the `ausearch` oracle checks.
pub fn oracle_logs() -> Vec<PathBuf> {
    let mut logs = fixture_logs();
    let mut sessions: Vec<PathBuf> = std::fs::read_dir(fixture_dir().join("sessions"))
        .expect("session fixture directory")
        .map(|e| e.expect("fixture entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    sessions.sort();
    assert!(
        sessions.len() >= 4,
        "session fixtures missing: {sessions:?}"
    );
    logs.extend(sessions);
    logs
}

pub struct Outcome {
    pub items: Vec<ReadItem>,
    pub stats: ReaderStats,
}

pub fn read_all(input: impl Read, cfg: ReaderConfig) -> Outcome {
    let mut reader = AuditLogReader::with_config(BufReader::new(input), cfg);
    let items = (&mut reader)
        .collect::<Result<Vec<_>, _>>()
        .expect("no I/O error");
    Outcome {
        items,
        stats: reader.stats(),
    }
}

pub fn read_file(path: &Path) -> Outcome {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    read_all(f, ReaderConfig::new(HOST))
}

fn events_json(items: &[ReadItem]) -> String {
    items
        .iter()
        .filter_map(|i| match i {
            ReadItem::Event(e) => Some(e.to_json() + "\n"),
            ReadItem::BadLine(_) => None,
        })
        .collect()
}

/// Lines each fixture is expected to reject; every other fixture: none.
fn expected_bad_lines(name: &str) -> Vec<u64> {
    match name {
        // `type=UNKNOWN[1329] msg=?`: no timestamp; ausearch skips it too.
        "elastic__go-libaudit__auparse__testdata__audit-rhel7.log" => vec![31],
        "junk_lines.log" => vec![1, 5, 6, 7, 8, 9, 10, 13],
        _ => vec![],
    }
}

#[test]
fn golden_fixtures() {
    let write = std::env::var_os("WRITE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for log in fixture_logs() {
        let name = log.file_name().unwrap().to_string_lossy().into_owned();
        let got = read_file(&log);
        let bad: Vec<u64> = got
            .items
            .iter()
            .filter_map(|i| match i {
                ReadItem::BadLine(b) => Some(b.line),
                ReadItem::Event(_) => None,
            })
            .collect();
        assert_eq!(
            bad,
            expected_bad_lines(&name),
            "{name}: bad lines {:?}",
            got.items
                .iter()
                .filter(|i| matches!(i, ReadItem::BadLine(_)))
                .collect::<Vec<_>>()
        );
        assert!(got.stats.finished);
        assert_eq!(got.stats.bad_lines as usize, bad.len());
        let json = events_json(&got.items);
        let golden = log.with_extension("json");
        if write {
            std::fs::write(&golden, &json).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (run with WRITE_GOLDEN=1)", golden.display()));
        if want != json {
            failures.push(name);
        }
    }
    assert!(
        failures.is_empty(),
        "output differs from the golden file for {failures:?}; \
         rerun with WRITE_GOLDEN=1 and review the diff"
    );
}

#[test]
fn junk_lines_are_reported_with_reasons_and_the_cut_event_counted() {
    let got = read_file(&fixture_dir().join("junk_lines.log"));
    let reasons: Vec<String> = got
        .items
        .iter()
        .filter_map(|i| match i {
            ReadItem::BadLine(b) => Some(format!("{}: {}", b.line, b.reason)),
            ReadItem::Event(_) => None,
        })
        .collect();
    let all = reasons.join("\n");
    for needle in ["no `type=`", "no `msg=audit(`", "no `)`", "bad timestamp"] {
        assert!(all.contains(needle), "{needle} not in\n{all}");
    }
    // Blank, `----` and `time->` lines are separators, not errors.
    assert_eq!(got.stats.separators, 3);
    assert_eq!(got.stats.incomplete, 1);
    let execs: Vec<_> = got
        .items
        .iter()
        .filter_map(|i| match i {
            ReadItem::Event(e) if e.is_exec() => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(execs.len(), 4);
    // CRLF lines: no stray \r in values.
    assert_eq!(
        execs[0].exec().unwrap().cwd.as_ref().unwrap().as_slice(),
        b"/home/bob"
    );
    assert_eq!(
        execs[2].exec().unwrap().argv.as_ref().unwrap()[1].as_slice(),
        b"caf\xe9"
    );
    assert_eq!(
        execs[3].exec().unwrap().argv.as_ref().unwrap()[1].as_slice(),
        b"60"
    );
}

#[test]
fn split_hex_and_many_args() {
    let got = read_file(&fixture_dir().join("args_hex_split.log"));
    let execs: Vec<_> = got
        .items
        .iter()
        .filter_map(|i| match i {
            ReadItem::Event(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(execs.len(), 3);
    let argv = |i: usize| -> Vec<Vec<u8>> {
        execs[i]
            .exec()
            .unwrap()
            .argv
            .as_ref()
            .unwrap()
            .iter()
            .map(|a| a.0.clone())
            .collect()
    };
    let a = argv(0);
    assert_eq!(a[1], b"%s\n");
    assert_eq!(a[2], b"");
    assert_eq!(a[3], b"line1\nline2");
    assert_eq!(a[6], b"\xff\xfe not utf8");
    assert_eq!(a[7], b"quote\"inside");
    assert_eq!(
        execs[0].exec().unwrap().cwd.as_ref().unwrap().as_slice(),
        b"/home/alice/dir with spaces"
    );
    let b = argv(1);
    assert_eq!(b.len(), 4);
    assert_eq!(b[1].len(), 12000);
    assert_eq!(b[2], b"one two!!!");
    assert!(!execs[1].exec().unwrap().truncated);
    let c = argv(2);
    assert_eq!(c.len(), 3000);
    assert_eq!(c[2999], b"f2999.txt");
    assert_eq!(execs[2].exec().unwrap().argc, Some(3000));
    assert!(!execs[2].exec().unwrap().truncated);
}

#[test]
fn login_records_carry_session_details() {
    let got = read_file(&fixture_dir().join("ssh_sudo_su.log"));
    let logins: Vec<serde_json::Value> = got
        .items
        .iter()
        .filter_map(|i| match i {
            ReadItem::Event(e) if e.kind() == Kind::Login => {
                Some(serde_json::from_str(&e.to_json()).unwrap())
            }
            _ => None,
        })
        .collect();
    let login = logins
        .iter()
        .find(|e| e["detail"]["record_type"] == "LOGIN")
        .unwrap();
    assert_eq!((&login["auid"], &login["ses"]), (&1000.into(), &12.into()));
    assert_eq!(login["detail"]["old_auid"], 4294967295u64);
    let cmd = logins
        .iter()
        .find(|e| e["detail"]["record_type"] == "USER_CMD")
        .unwrap();
    assert_eq!(cmd["detail"]["cmd"], "systemctl restart nginx");
    assert_eq!(cmd["tty"], "pts/0");
    let start = logins
        .iter()
        .find(|e| e["detail"]["record_type"] == "USER_START")
        .unwrap();
    assert_eq!(start["addr"], "203.0.113.9");
    assert_eq!(start["detail"]["acct"], "alice");
    assert_eq!(start["detail"]["terminal"], "ssh");
    let root_cat = got
        .items
        .iter()
        .find_map(|i| match i {
            ReadItem::Event(e) if e.task.comm.as_ref().is_some_and(|c| c.as_slice() == b"cat") => {
                Some(e)
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(
        (root_cat.task.auid, root_cat.task.uid, root_cat.task.ses),
        (Some(1000), Some(0), Some(12))
    );
}

#[test]
fn overlong_lines_are_skipped_not_buffered() {
    let mut input = b"type=EXECVE msg=audit(1.000:1): argc=1 a0=\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 100_000));
    input.extend_from_slice(b"\"\ntype=EXECVE msg=audit(1.000:2): argc=1 a0=\"ok\"\n");
    let mut cfg = ReaderConfig::new(HOST);
    cfg.max_line = 1000;
    // A reader that hands out a few bytes at a time, to cross buffer edges.
    let got = read_all(Cursor::new(input), cfg);
    assert_eq!(got.stats.bad_lines, 1);
    match &got.items[0] {
        ReadItem::BadLine(b) => {
            assert_eq!(b.line, 1);
            assert!(b.reason.contains("1000 byte limit"), "{}", b.reason);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(got.stats.events, 1);
    assert_eq!(got.stats.lines, 2);
}

#[test]
fn no_trailing_newline_and_empty_input() {
    let got = read_all(
        Cursor::new(b"type=EXECVE msg=audit(1.000:1): argc=1 a0=\"x\"".to_vec()),
        ReaderConfig::new(HOST),
    );
    assert_eq!(got.stats.events, 1);
    let got = read_all(Cursor::new(Vec::new()), ReaderConfig::new(HOST));
    assert!(got.items.is_empty() && got.stats.finished);
}

/// A synthetic audit.log like one written under tracer's exec rules: mostly
/// exec events (SYSCALL, EXECVE, CWD, two PATHs, PROCTITLE, EOE), one login
/// record in ten events.
fn synthetic_log(bytes: usize) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(bytes + 4096);
    let mut serial = 1_000_000u64;
    while out.len() < bytes {
        serial += 1;
        let (t, pid) = (1_700_000_000 + serial / 100, 20_000 + serial % 30_000);
        let h = format!("msg=audit({t}.{:03}:{serial}):", serial % 1000);
        if serial.is_multiple_of(10) {
            writeln!(out, "type=USER_START {h} pid={pid} uid=0 auid=1000 ses=3 subj=unconfined msg='op=PAM:session_open grantors=pam_limits,pam_unix acct=\"root\" exe=\"/usr/bin/sudo\" hostname=? addr=? terminal=/dev/pts/0 res=success'").unwrap();
            continue;
        }
        writeln!(out, "type=SYSCALL {h} arch=c000003e syscall=59 success=yes exit=0 a0=55d0a1c2e4f0 a1=55d0a1c2e6b0 a2=55d0a1c30010 a3=8 items=2 ppid={} pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 comm=\"grep\" exe=\"/usr/bin/grep\" subj=unconfined key=\"tracer_exec\"", pid - 1).unwrap();
        writeln!(out, "type=EXECVE {h} argc=4 a0=\"grep\" a1=\"-r\" a2=\"--color=auto\" a3=\"pattern{serial}\"").unwrap();
        writeln!(out, "type=CWD {h} cwd=\"/home/alice/src/project\"").unwrap();
        writeln!(out, "type=PATH {h} item=0 name=\"/usr/bin/grep\" inode=3932321 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0").unwrap();
        writeln!(out, "type=PATH {h} item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=3934410 dev=fd:00 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0").unwrap();
        writeln!(
            out,
            "type=PROCTITLE {h} proctitle=67726570002D72002D2D636F6C6F723D6175746F007061747465726E"
        )
        .unwrap();
        writeln!(out, "type=EOE {h}").unwrap();
    }
    out
}

/// Throughput sanity check, not a timed assertion:
/// `cargo test --release -p tracer --test audit_parse throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let input = synthetic_log(200 << 20);
    for _ in 0..2 {
        let start = std::time::Instant::now();
        let mut reader = AuditLogReader::new(Cursor::new(&input), HOST);
        let n = (&mut reader)
            .filter(|i| matches!(i, Ok(ReadItem::Event(_))))
            .count();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{} MB, {n} events in {secs:.2} s: {:.0} MB/s",
            input.len() >> 20,
            input.len() as f64 / secs / 1e6
        );
    }
}
