//! Sessions, boots, sudo/su, cron, failed logins and names in `tracer report`,
//! on real audit logs (`tests/fixtures/audit/sessions/`, see SOURCES.md
//! there): golden outputs, `aulast` and `aureport` as oracles for logins, and
//! the live tracker and the report agreeing on the same event stream.
//!
//! `WRITE_GOLDEN=1 cargo test -p tracer --test report_sessions` rewrites the
//! golden files; review their diff like code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{Local, TimeZone};
use clap::Parser;
use serde_json::Value;
use tracer::cli::report::{Env, ReportArgs};

#[derive(Parser)]
struct Wrapper {
    #[command(flatten)]
    args: ReportArgs,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/audit/sessions")
}

const REAL: &str = "real-ssh-sudo-su.log";
const BOOTS: &str = "two-boots.log";
const UBUNTU: &str = "go-libaudit-ubuntu-17.04.log";
const CRON: &str = "real-cron.log";

/// `tracer report --utc --no-nss ARGS` with fixture names resolved.
fn report(args: &[&str]) -> (String, String) {
    let mut argv: Vec<String> = [
        "report",
        "--utc",
        "--color=never",
        "--no-progress",
        "--no-nss",
    ]
    .map(String::from)
    .to_vec();
    for a in args {
        let p = dir().join(a);
        argv.push(if a.ends_with(".log") && !a.starts_with('/') {
            p.display().to_string()
        } else {
            a.to_string()
        });
    }
    let w = Wrapper::try_parse_from(&argv).unwrap_or_else(|e| panic!("{e}"));
    let env = Env {
        stdout_is_tty: false,
        stderr_is_tty: false,
        no_color: true,
        now: Local.timestamp_opt(1_800_000_000, 0).unwrap(),
    };
    let config = w.args.to_config(&env).unwrap();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    tracer::report::run(&config, &mut out, &mut err).unwrap();
    let prefix = dir().display().to_string();
    let clean = |b: Vec<u8>| String::from_utf8(b).unwrap().replace(&prefix, "fixtures");
    (clean(out), clean(err))
}

fn json(args: &[&str]) -> Value {
    let mut a = vec!["--format", "json"];
    a.extend(args);
    serde_json::from_str(&report(&a).0).unwrap()
}

fn golden(name: &str, actual: &str) {
    let path = dir().join("golden").join(name);
    if std::env::var_os("WRITE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (WRITE_GOLDEN=1 creates it)", path.display()));
    assert!(
        expected == actual,
        "{name} differs from {} (WRITE_GOLDEN=1 to accept):\n{actual}",
        path.display()
    );
}

fn sessions(v: &Value) -> &Vec<Value> {
    v["sessions"].as_array().unwrap()
}

#[test]
fn goldens() {
    for (name, args) in [
        ("real.txt", vec![REAL]),
        ("real.json", vec!["--format", "json", REAL]),
        ("two-boots.txt", vec![BOOTS]),
        ("ubuntu-17.04.txt", vec![UBUNTU]),
        ("ubuntu-17.04-all.txt", vec!["--all", UBUNTU]),
        ("ubuntu-17.04.json", vec!["--format", "json", UBUNTU]),
        ("real-cron-all.txt", vec!["--all", CRON]),
    ] {
        golden(name, &report(&args).0);
    }
}

#[test]
fn start_is_never_after_end() {
    for f in [REAL, BOOTS, UBUNTU] {
        for s in sessions(&json(&[f])) {
            if let (Some(a), Some(b)) = (s["start"].as_str(), s["end"].as_str()) {
                assert!(a <= b, "{f}: {s}");
            }
        }
    }
}

#[test]
fn sudo_and_su_inside_a_login_do_not_end_it() {
    let v = json(&[REAL]);
    let s7 = sessions(&v).iter().find(|s| s["ses"] == 7).unwrap();
    // sshd's own USER_START and USER_END, not sudo's (20:14:00.434-.570) or su's.
    assert_eq!(
        s7["start"], "2026-12-01T20:14:00.290000000Z",
        "the LOGIN record"
    );
    assert_eq!(
        s7["end"], "2026-12-01T20:14:00.594000000Z",
        "sshd's USER_END"
    );
    assert_eq!(s7["kind"], "interactive");
    assert_eq!(s7["service"], "sshd");
    assert_eq!(s7["user"], "fxalice");
    assert_eq!(s7["user_from"], "log");
    // sudo's USER_CMDs are rows, one per command, merged with their exec.
    let cmds = s7["commands"].as_array().unwrap();
    let sudo: Vec<(&str, &str)> = cmds
        .iter()
        .filter(|c| c["sudo_record"] == true)
        .map(|c| {
            (
                c["command"].as_str().unwrap(),
                c["as_user"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sudo,
        [
            ("ls /root", "root"),
            ("whoami", "fxbob"),
            ("su - fxbob -c 'echo hi from su'", "root")
        ]
    );
    let ls = cmds.iter().filter(|c| c["command"] == "ls /root").count();
    assert_eq!(ls, 1, "one row for sudo's record and the exec");
    // The su'd shell runs as fxbob inside alice's login.
    assert!(cmds
        .iter()
        .any(|c| c["as_user"] == "fxbob" && c["command"] == "id -u"));
    // With a terminal, sudo runs the command from a monitor process: still
    // merged (by command line).
    let s8 = sessions(&v).iter().find(|s| s["ses"] == 8).unwrap();
    let ua: Vec<&Value> = s8["commands"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["command"] == "/usr/sbin/useradd --help")
        .collect();
    assert_eq!(ua.len(), 1);
    assert_eq!(ua[0]["sudo_record"], true);
    assert_eq!(ua[0]["uid"], 0);
}

#[test]
fn the_same_ses_in_two_boots_is_two_sessions() {
    let v = json(&[BOOTS]);
    let s = sessions(&v);
    assert_eq!(s.len(), 6);
    for ses in [7, 8, 9] {
        let boots: BTreeSet<&str> = s
            .iter()
            .filter(|x| x["ses"] == ses)
            .map(|x| x["boot"].as_str().unwrap())
            .collect();
        assert_eq!(boots, BTreeSet::from(["#1", "#2"]), "ses {ses}");
    }
    // Each boot's sessions have their own commands, none moved across.
    let single = json(&[REAL]);
    for x in s {
        let one = sessions(&single)
            .iter()
            .find(|y| y["ses"] == x["ses"])
            .unwrap();
        assert_eq!(x["command_count"], one["command_count"], "{}", x["ses"]);
    }
}

#[test]
fn cron_sessions_are_labelled_and_hidden_by_default_in_text() {
    let v = json(&[UBUNTU]);
    let kinds: Vec<(u64, &str)> = sessions(&v)
        .iter()
        .map(|s| (s["ses"].as_u64().unwrap(), s["kind"].as_str().unwrap()))
        .collect();
    assert!(
        kinds.contains(&(38, "cron")) && kinds.contains(&(39, "cron")),
        "{kinds:?}"
    );
    let (text, _) = report(&[UBUNTU]);
    assert!(
        !text.contains("session 38") && text.contains("2 other sessions hidden"),
        "{text}"
    );
    let (cron, _) = report(&["--kind", "cron", UBUNTU]);
    assert!(
        cron.contains("session 38") && cron.contains("session 39"),
        "{cron}"
    );
    assert!(!cron.contains("session 1 "), "{cron}");
    // A host without exec rules: sudo's USER_CMD is the only record, and it
    // is a command row.
    let s1 = sessions(&v).iter().find(|s| s["ses"] == 1).unwrap();
    assert_eq!(s1["commands"][0]["command"], "su");
    assert_eq!(s1["commands"][0]["sudo_record"], true);
}

#[test]
fn names_come_from_the_log_first() {
    // A passwd from another machine where 1001 is someone else.
    let tmp = tempfile::tempdir().unwrap();
    let passwd = tmp.path().join("passwd");
    std::fs::write(
        &passwd,
        "mallory:x:1001:1001::/:/bin/sh\ncarol:x:1002:1002::/:/bin/sh\nboss:x:0:0::/:/bin/sh\n",
    )
    .unwrap();
    let p = passwd.display().to_string();
    let v = json(&["--passwd", &p, REAL]);
    for s in sessions(&v) {
        assert_ne!(s["user"], "mallory", "{s}");
        assert_eq!(s["user_from"], "log");
    }
    // -u accepts a name known only from the log.
    let v = json(&["-u", "fxbob", REAL]);
    let users: BTreeSet<&str> = sessions(&v)
        .iter()
        .map(|s| s["user"].as_str().unwrap())
        .collect();
    assert_eq!(users, BTreeSet::from(["fxbob"]));
    // uid 0 is root per the log (cron's own acct=), whatever --passwd says;
    // uid 1002, which the log does not name, is named from --passwd and
    // marked so (the log has no host name: it may be another machine's).
    let (text, _) = report(&["--passwd", &p, "--all", UBUNTU]);
    assert!(text.lines().any(|l| l == "root (uid 0)"), "{text}");
    assert!(
        text.contains("carol (uid 1002; name from --passwd, not from the log)"),
        "{text}"
    );
}

#[test]
fn enriched_logs_name_users_without_login_records() {
    // Only the exec records of the real log: the names come from auditd's
    // ENRICHED `AUID="fxalice"`, not from this machine (no such users here).
    let text = std::fs::read(dir().join(REAL)).unwrap();
    let kept: Vec<&[u8]> = text
        .split(|&b| b == b'\n')
        .filter(|l| {
            [
                &b"type=SYSCALL"[..],
                b"type=EXECVE",
                b"type=CWD",
                b"type=PATH",
                b"type=PROCTITLE",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("execs-only.log");
    std::fs::write(&f, kept.join(&b'\n')).unwrap();
    let v = json(&[f.to_str().unwrap()]);
    let users: BTreeSet<(u64, &str, &str)> = sessions(&v)
        .iter()
        .map(|s| {
            (
                s["auid"].as_u64().unwrap(),
                s["user"].as_str().unwrap(),
                s["user_from"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        users,
        BTreeSet::from([(1001, "fxalice", "log"), (1002, "fxbob", "log")])
    );
}

#[test]
fn hosts_come_from_the_log_or_host_name_never_the_reader() {
    let v = json(&[REAL]);
    assert!(sessions(&v).iter().all(|s| s["host"].is_null()));
    let v = json(&["--host-name", "node7", REAL]);
    assert!(sessions(&v).iter().all(|s| s["host"] == "node7"));
}

// --- oracles ------------------------------------------------------------

fn tool(name: &str) -> Option<PathBuf> {
    ["/sbin", "/usr/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
}

fn run_tool(name: &str, args: &[&str], file: &Path) -> String {
    let t = tool(name).unwrap_or_else(|| panic!("{name} not found: install the auditd package"));
    let out = Command::new(t)
        .args(args)
        .arg(file)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `aulast -f FILE`: every login it lists (user, tty, host, start minute)
/// is one of the report's sessions.
#[test]
fn aulast_logins_are_report_sessions() {
    for f in [REAL, BOOTS] {
        let path = dir().join(f);
        let out = run_tool("aulast", &["-f"], &path);
        let v = json(&[f]);
        let mut n = 0;
        for line in out.lines() {
            let w: Vec<&str> = line.split_whitespace().collect();
            if w.len() < 8 || w[0] == "reboot" {
                continue;
            }
            n += 1;
            // fxalice pts/0 127.0.0.1 Tue Dec  1 20:14 - 20:14  (00:00)
            let (user, tty, host, hhmm) = (w[0], w[1], w[2], w[6]);
            let found = sessions(&v).iter().any(|s| {
                s["user"] == user
                    && s["tty"] == tty
                    && s["source"] == host
                    && s["start"].as_str().is_some_and(|t| t[11..16] == *hhmm)
            });
            assert!(
                found,
                "{f}: aulast's {line:?} is not a session of the report"
            );
        }
        assert!(n > 0, "{f}: aulast listed no login:\n{out}");
    }
}

/// `aureport -l --failed`: the report counts the same failed logins.
#[test]
fn aureport_failed_logins_agree() {
    for f in [REAL, UBUNTU, BOOTS] {
        let path = dir().join(f);
        let out = run_tool("aureport", &["-l", "--failed", "-i", "-if"], &path);
        let theirs = out
            .lines()
            .filter(|l| {
                l.trim_start()
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_digit())
            })
            .count() as u64;
        let v = json(&[f]);
        let ours: u64 = v["failed_logins"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["failed_logins"].as_u64().unwrap())
            .sum();
        assert_eq!(ours, theirs, "{f}: aureport says\n{out}");
    }
}

/// `aureport -l --success`: every successful login record is in a session
/// of the report, with its user.
#[test]
fn aureport_logins_are_report_sessions() {
    let path = dir().join(REAL);
    let out = run_tool("aureport", &["-l", "--success", "-i", "-if"], &path);
    let v = json(&[REAL]);
    let mut n = 0;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if w.len() < 8 || !w[0].ends_with('.') {
            continue;
        }
        n += 1;
        // 1. 12/01/26 20:14:01 fxalice 127.0.0.1 /dev/pts/0 /usr/sbin/sshd yes 289
        let (time, user, host) = (w[2], w[3], w[4]);
        let found = sessions(&v).iter().any(|s| {
            s["user"] == user
                && s["source"] == host
                && s["start"].as_str().is_some_and(|t| t[11..19] <= *time)
                && s["end"].as_str().is_some_and(|t| t[11..19] >= *time)
        });
        assert!(found, "aureport's {line:?} is in no session");
    }
    assert!(n > 0, "{out}");
}

// --- one model ----------------------------------------------------------

/// The live tracker and the report, fed the same events, give the same
/// sessions (ses, start, end, kind).
#[test]
fn the_tracker_and_the_report_agree() {
    tracker_and_report_agree(REAL, 3);
    tracker_and_report_agree(CRON, 2);
}

/// The live session tracker fed a real log's events and the report's model
/// see the same sessions (`n` of them), starts, ends and kinds.
fn tracker_and_report_agree(log: &str, n: usize) {
    use tracer::report::model::{Builder, GroupBy, GroupKey};
    use tracer::report::record::Record;
    use tracer::session::{NoLoginInfo, SessionTracker, TrackerOptions};
    use tracer::source::audit::reader::{AuditLogReader, ReadItem};

    let file = std::fs::File::open(dir().join(log)).unwrap();
    let events: Vec<tracer::event::Event> = AuditLogReader::new(std::io::BufReader::new(file), "h")
        .filter_map(|i| match i.unwrap() {
            ReadItem::Event(e) => Some(e),
            ReadItem::BadLine(_) => None,
        })
        .collect();
    let mut tr = SessionTracker::new(TrackerOptions::default(), NoLoginInfo);
    let mut out = Vec::new();
    for e in events.iter().cloned() {
        tr.observe(e, &mut out);
    }
    let mut tracked: BTreeSet<(u32, String, Option<String>, String)> = BTreeSet::new();
    let starts: Vec<_> = out
        .iter()
        .filter(|e| e.kind() == tracer::event::Kind::SessionStart)
        .collect();
    for s in &starts {
        let end = out
            .iter()
            .find(|e| e.kind() == tracer::event::Kind::SessionEnd && e.task.ses == s.task.ses);
        // The kind is final in session_end: at the LOGIN record that opens a
        // session, nothing says yet what it is.
        let kind = match &end.unwrap_or(s).body {
            tracer::event::Body::SessionEnd(x) => x.kind.clone(),
            tracer::event::Body::SessionStart(x) => x.kind.clone(),
            _ => None,
        }
        .unwrap()
        .as_str()
        .to_owned();
        tracked.insert((
            s.task.ses.unwrap(),
            s.time.to_rfc3339(),
            end.map(|e| e.time.to_rfc3339()),
            kind,
        ));
    }
    let mut b = Builder::new(Default::default(), GroupBy::Session, false);
    for e in &events {
        b.add(&Record::from_event(e));
    }
    let r = b.finish();
    let reported: BTreeSet<(u32, String, Option<String>, String)> = r
        .groups
        .iter()
        .filter_map(|g| match g.key {
            GroupKey::Session { ses, .. } => Some((
                ses,
                g.start?.to_rfc3339(),
                g.end.map(|t| t.to_rfc3339()),
                g.kind().as_str().to_owned(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(tracked.len(), n, "{log}");
    assert_eq!(tracked, reported, "{log}");
}

#[test]
fn real_cron_jobs_are_cron_sessions_of_their_user() {
    // Debian 12's cron (pam_loginuid) ran fxcron's crontab entry twice: each
    // run is a session of its own (ses 1 and 2), from its LOGIN record to
    // its USER_END, with the job's commands and the mail cron sent after it
    // (sendmail run setuid root: the login user stays fxcron).
    let v = json(&[CRON]);
    let s = sessions(&v);
    assert_eq!(s.len(), 2, "{v}");
    for (i, ses) in s.iter().enumerate() {
        assert_eq!(ses["ses"], i as u64 + 1);
        assert_eq!(ses["kind"], "cron");
        assert_eq!(ses["service"], "cron");
        assert_eq!(ses["user"], "fxcron");
        assert_eq!(ses["auid"], 1001);
        assert_eq!(ses["end_reason"], "logout");
        assert!(ses["start"].as_str() <= ses["first"].as_str(), "{ses}");
        assert!(ses["last"].as_str() <= ses["end"].as_str(), "{ses}");
        let cmds = ses["commands"].as_array().unwrap();
        assert_eq!(cmds.len(), 8, "{ses}");
        assert_eq!(cmds[0]["argv"][0], "/bin/sh");
        assert!(cmds.iter().any(|c| c["argv"][0] == "/bin/echo"
            && c["argv"][1] == "cron-ran"
            && c["cwd"] == "/tmp"));
        let mail = cmds.iter().find(|c| c["exe"] == "/usr/sbin/exim4").unwrap();
        assert_eq!(mail["euid"], 0);
        assert_eq!(mail["as_user"], "root");
    }
    assert_eq!(s[0]["start"], "2026-12-04T01:02:01.394000000Z");
    assert_eq!(s[0]["end"], "2026-12-04T01:02:01.422000000Z");
    // Hidden from the text report unless asked for.
    let (text, _) = report(&[CRON]);
    assert!(text.contains("2 other sessions hidden"), "{text}");
    let (cron, _) = report(&["--kind", "cron", CRON]);
    assert!(
        cron.contains("session 1 ") && cron.contains("session 2 "),
        "{cron}"
    );
}

/// An interpreted log (beats' test log writes `auid=vagrant uid=vagrant`):
/// its commands cannot be given to a login, and the report says so,
/// naming the first such event, instead of listing them as unattributed
/// without a word. A log as auditd writes it draws no such warning.
#[test]
fn auid_names_instead_of_numbers_are_warned_about() {
    let beats = dir().join("../elastic__beats__filebeat__module__auditd__log__test__test.log");
    let beats = beats.display().to_string();
    let (out, err) = report(&[beats.as_str()]);
    assert!(
        err.contains(
            "tracer: warning: 1 exec event(s) have an auid that is not a number \
             (the first: audit(1581371984.206:579398))"
        ),
        "{err}"
    );
    assert!(out.contains("unattributed"), "{out}");
    let v = json(&[beats.as_str()]);
    assert_eq!(v["stats"]["unreadable_auid"], 1, "{}", v["stats"]);
    assert_eq!(
        v["stats"]["unreadable_auid_at"],
        "audit(1581371984.206:579398)"
    );

    let (_, err) = report(&[REAL]);
    assert!(!err.contains("not a number"), "{err}");
    assert!(json(&[REAL])["stats"].get("unreadable_auid").is_none());
}
