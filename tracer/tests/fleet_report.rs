//! `tracer report --from clickhouse://…` gives the same report as `tracer
//! report` over the same records as files: same sessions, commands, counts,
//! in every format and with every filter; only the description of the input
//! (a server instead of files) differs. Two shards behind a Distributed
//! table give the same report as one server.
#![cfg(feature = "clickhouse")]

mod fleet_support;

use fleet_support::*;
use tracer::event::{Body, Kind, LoginRecord, LoginResult, LoginType, LossCause, Outcome, Source};

const PASSWD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/report/passwd"
);

/// Two hosts' worth of logins, sessions, commands (some failed, some in a
/// batch job, some with bytes that are not UTF-8), a loss and tracer status.
fn fleet(dir: &std::path::Path) -> Vec<Node> {
    let mut nodes = Vec::new();
    for (h, host) in ["login1", "cn017"].into_iter().enumerate() {
        let mut n = Node::new(dir, host, 16 << 10);
        // tracer run's start record names the kernel's boot id, as on
        // every real node (the file sink's head records name this
        // machine's).
        let mut t = n.ev(Kind::Tracer, 1);
        t.source = Source::Tracer;
        if let Body::Tracer(r) = &mut t.body {
            r.boot = Some(
                std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .unwrap()
                    .trim()
                    .to_owned(),
            );
        }
        n.push(&t);
        for (k, user) in [1000u32, 1001, 0].into_iter().enumerate() {
            let ses = 10 * (h as u32 + 1) + k as u32;
            // A failed login first (no login uid yet).
            let mut f = n.ev(Kind::Login, 30);
            f.source = Source::Audit;
            f.task.auid = Some(tracer::event::UNSET);
            f.task.ses = Some(tracer::event::UNSET);
            let mut l = LoginRecord::new(LoginType::UserAuth);
            l.addr = Some("198.51.100.4".into());
            l.acct = Some("alice".into());
            l.res = Some(LoginResult::Failed);
            f.body = Body::Login(l);
            n.push(&f);
            n.session(Kind::SessionStart, user, ses);
            for i in 0..40u32 {
                let i_s = i.to_string();
                let job = (i % 3 == 0).then_some("7781");
                n.exec(user, ses, &[b"make", b"-j", i_s.as_bytes()], job);
                if i % 7 == 0 {
                    n.exec(user, ses, &[b"cat", b"caf\xe9 \xff.txt"], None);
                }
                if i % 11 == 0 {
                    let mut e = n.ev(Kind::ExecFailed, 3);
                    e.task.pid = Some(5000 + i);
                    e.task.auid = Some(user);
                    e.task.ses = Some(ses);
                    e.task.uid = Some(user);
                    let x = e.exec_mut().unwrap();
                    x.argv = Some(vec!["rm".into(), "-rf".into(), "/etc/shadow".into()]);
                    x.outcome = Outcome::Failed(-13);
                    n.push(&e);
                }
            }
            n.session(Kind::SessionEnd, user, ses);
        }
        // Batch jobs as a compute node records them: slurmstepd's children
        // have no login uid. Job 7790 (cgroup v1) names its owner, bob;
        // job 7791 (cgroup v2) does not: its owner is its processes' uid
        // (alice), beside slurmstepd's own root process.
        let jobs: [JobExec; 4] = [
            ("7790", "batch", Some(1001), 1001, &[b"/bin/hostname"]),
            ("7790", "0", Some(1001), 1001, &[b"./sim", b"--steps", b"9"]),
            ("7791", "batch", None, 1000, &[b"python3", b"train.py"]),
            ("7791", "batch", None, 0, &[b"/usr/sbin/slurmstepd-helper"]),
        ];
        for (job, step, owner, uid, argv) in jobs {
            let mut e = n.exec_event(tracer::event::UNSET, tracer::event::UNSET, argv, Some(job));
            e.task.uid = Some(uid);
            e.task.euid = Some(uid);
            e.task.tty = None;
            e.exec_mut().unwrap().job = Some(tracer::event::Job {
                id: job.into(),
                step: Some(step.into()),
                uid: owner,
            });
            n.push(&e);
        }
        // Unattributed: a cron job.
        let mut c = n.ev(Kind::Exec, 5);
        c.task.pid = Some(77);
        c.task.auid = Some(tracer::event::UNSET);
        c.task.ses = Some(tracer::event::UNSET);
        c.task.cgroup = Some("/system.slice/cron.service".into());
        c.exec_mut().unwrap().argv = Some(vec!["run-parts".into(), "/etc/cron.hourly".into()]);
        n.push(&c);
        let mut l = n.ev(Kind::Loss, 5);
        l.source = Source::Tracer;
        if let Body::Loss(x) = &mut l.body {
            x.count = Some(3 + h as u64);
            x.cause = LossCause::RingBufferFull;
        }
        n.push(&l);
        n.flush();
        nodes.push(n);
    }
    nodes
}

/// Job id, step, the owner its cgroup names, the process's uid, argv.
type JobExec = (
    &'static str,
    &'static str,
    Option<u32>,
    u32,
    &'static [&'static [u8]],
);

fn ship(ch: &ClickHouse, db: &str, node: &Node, state: &std::path::Path) {
    let mut args = ship_args(&ch.url(db), node, state);
    args.push("--once".into());
    let o = tracer(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// The report with the input's description taken out.
fn normalize(out: &str, json: bool) -> String {
    if json {
        let mut v: serde_json::Value = serde_json::from_str(out).unwrap();
        v["stats"]["inputs"] = serde_json::Value::Null;
        return serde_json::to_string_pretty(&v).unwrap();
    }
    out.lines()
        .map(|l| {
            if l.starts_with("-- ") {
                l.split("; ")
                    .filter(|p| !(p.contains(" input") && p.ends_with(" lines")))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn report(args: &[&str]) -> String {
    let mut all = vec![
        "report",
        "--utc",
        "--color",
        "never",
        "--no-progress",
        "--passwd",
        PASSWD,
    ];
    all.extend_from_slice(args);
    let o = tracer(&all);
    assert!(
        o.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

const FILTERS: &[&[&str]] = &[
    &[],
    &["--format", "json"],
    &["--format", "csv"],
    &["--summary"],
    &["--summary", "--format", "json"],
    &["--user", "1000"],
    &["--user", "1001", "--format", "csv"],
    &["--user", "1001", "--format", "json"],
    &["--user", "bob", "--format", "json"],
    &["--user", "1000", "--by", "job"],
    &["--user", "1001", "--host", "cn017"],
    &["--session", "11"],
    &["--failed"],
    &["--command", "cat"],
    &["--command", "make*", "--format", "csv"],
    &["--by", "job"],
    &["--job", "7781", "--format", "json"],
];

fn assert_same(url: &str, files: &[String]) {
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    for f in FILTERS {
        let json = f.contains(&"json");
        let mut a = f.to_vec();
        a.extend_from_slice(&files);
        let from_files = report(&a);
        let mut b = f.to_vec();
        b.extend(["--from", url]);
        let from_db = report(&b);
        assert!(
            from_files.lines().count() > 2,
            "{f:?} selects nothing:\n{from_files}"
        );
        let (want, got) = (normalize(&from_files, json), normalize(&from_db, json));
        if want != got {
            let first = want
                .lines()
                .zip(got.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(want.lines().count().min(got.lines().count()));
            let around = |t: &str| -> String {
                let l: Vec<&str> = t.lines().collect();
                l[first.saturating_sub(8)..(first + 8).min(l.len())].join("\n")
            };
            panic!(
                "report {f:?} differs between files and {url} at line {}:\n--- files:\n{}\n--- fleet:\n{}",
                first + 1,
                around(&want),
                around(&got)
            );
        }
    }
}

#[test]
fn fleet_report_is_the_file_report() {
    let ch = ClickHouse::start();
    init(&ch, "fleet", None);
    let tmp = tempfile::tempdir().unwrap();
    let nodes = fleet(tmp.path());
    for n in &nodes {
        ship(
            &ch,
            "fleet",
            n,
            &tmp.path().join(format!("{}.ship", n.host)),
        );
        assert!(n.files().len() > 2, "the log should have rotated");
    }
    // Ship one node again from scratch: every record twice in the tables.
    ship(&ch, "fleet", &nodes[0], &tmp.path().join("again.ship"));
    let files: Vec<String> = nodes.iter().flat_map(Node::files).collect();
    assert_same(&ch.url("fleet"), &files);

    // Time filters: the same commands and sessions (the totals are those
    // of the time range, see fleet::query).
    let since = [
        "--since",
        "2024-05-01T08:00:00.400Z",
        "--until",
        "2024-05-01T08:00:01Z",
    ];
    let mut a = since.to_vec();
    a.extend(files.iter().map(String::as_str));
    let url = ch.url("fleet");
    let mut b = since.to_vec();
    b.extend(["--from", url.as_str()]);
    let (x, y) = (report(&a), report(&b));
    let body = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("-- "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(x.lines().count() > 5);
    assert_eq!(body(&x), body(&y));

    // Exact argv bytes in the columns.
    assert_eq!(
        ch.value(
            "fleet",
            "SELECT DISTINCT hex(argv[2]) FROM fleet.execs WHERE argv[1] = 'cat'"
        ),
        "636166E920FF2E747874"
    );
    // Failed logins land in their own table.
    assert_eq!(
        ch.count("fleet", "SELECT count() FROM (SELECT DISTINCT host, seq FROM fleet.failed_logins WHERE acct = 'alice')"),
        6
    );
}

#[test]
fn two_shards_behind_a_distributed_table() {
    let (h1, t1, h2, t2) = (free_port(), free_port(), free_port(), free_port());
    let xml = cluster_xml(&[t1, t2]);
    let a = ClickHouse::start_with(h1, t1, &xml);
    let b = ClickHouse::start_with(h2, t2, &xml);
    init(&a, "fleet", Some("tracer_fleet"));
    init(&b, "fleet", Some("tracer_fleet"));
    let tmp = tempfile::tempdir().unwrap();
    let nodes = fleet(tmp.path());
    // Each node ships to its own shard.
    ship(&a, "fleet", &nodes[0], &tmp.path().join("a.ship"));
    ship(&b, "fleet", &nodes[1], &tmp.path().join("b.ship"));
    assert_eq!(
        a.value("fleet", "SELECT DISTINCT host FROM fleet.execs"),
        "login1"
    );
    assert_eq!(
        b.value("fleet", "SELECT DISTINCT host FROM fleet.execs"),
        "cn017"
    );
    let files: Vec<String> = nodes.iter().flat_map(Node::files).collect();
    // Asked of either shard, the report covers both.
    assert_same(&a.url("fleet"), &files);
    assert_same(&b.url("fleet"), &files);
}

/// `tracer ship` and `tracer report` over HTTPS (ClickHouse 18.16's
/// `https_port`, a certificate from a CA made for the test), told where
/// to go by the configuration file's `[fleet]` section rather than flags;
/// a CA that did not sign the server's certificate is refused, and a bad
/// `[fleet]` value is named by file, line and key.
#[test]
fn https_with_the_fleet_from_the_config_file() {
    use std::os::unix::fs::PermissionsExt;
    let ch = ClickHouse::start_tls();
    let url = ch.https_url("fleet");
    let ca = ch.pki_file("ca.crt");
    let o = tracer(&["fleet", "init", &url, "--ca", &ca]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let nodes = fleet(tmp.path());
    // Credentials inside TLS: the password-protected user.
    let cred = tmp.path().join("credentials");
    std::fs::write(&cred, "user = tracer\npassword = fleet-secret\n").unwrap();
    std::fs::set_permissions(&cred, std::fs::Permissions::from_mode(0o600)).unwrap();
    let cfg = tmp.path().join("tracer.toml");
    std::fs::write(
        &cfg,
        format!(
            "[log]\nfile = {:?}\n\n[fleet]\nurl = {url:?}\nreport_from = {url:?}\ncredentials = {cred:?}\nca = {ca:?}\n",
            nodes[0].log
        ),
    )
    .unwrap();
    let cfg_s = cfg.display().to_string();
    // Node 0: everything from the file (server, CA, credentials, log).
    let st = tmp.path().join("n0.ship");
    let sts = st.display().to_string();
    let o = tracer(&[
        "ship",
        "--config",
        &cfg_s,
        "--state-dir",
        &sts,
        "--status-file",
        &format!("{sts}/ship.json"),
        "--daemon-status",
        &format!("{sts}/none.json"),
        "--once",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Node 1: flags override the file (its own log, the same server).
    let st1 = tmp.path().join("n1.ship");
    let mut args = ship_args(&url, &nodes[1], &st1);
    args.extend(["--config".into(), cfg_s.clone(), "--once".into()]);
    let o = tracer(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        ch.count(
            "fleet",
            "SELECT count() FROM (SELECT DISTINCT host FROM fleet.execs)"
        ),
        2
    );

    // The report with no inputs reads the fleet the file names, over TLS.
    let files: Vec<String> = nodes.iter().flat_map(Node::files).collect();
    for f in [
        &[][..],
        &["--format", "json"],
        &["--user", "1000", "--summary"],
    ] {
        let json = f.contains(&"json");
        let mut a = f.to_vec();
        a.extend(files.iter().map(String::as_str));
        let mut b = f.to_vec();
        b.extend(["--config", cfg_s.as_str()]);
        let (x, y) = (report(&a), report(&b));
        assert!(x.lines().count() > 2);
        assert_eq!(normalize(&x, json), normalize(&y, json), "{f:?}");
    }

    // Another CA: the server's certificate is refused, nothing is read.
    let other = ch.pki_file("other-ca.crt");
    let o = tracer(&[
        "report",
        "--from",
        &url,
        "--ca",
        &other,
        "--credentials",
        &cred.display().to_string(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("certificate"), "{err}");
    assert!(o.stdout.is_empty());

    // A bad [fleet] value: file, line, key.
    let bad = tmp.path().join("bad.toml");
    std::fs::write(&bad, "[fleet]\n\nreport_from = \"https://ch.example\"\n").unwrap();
    let o = tracer(&["report", "--config", &bad.display().to_string()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!(
            "{}:3: key `fleet.report_from`: \"https://ch.example\": no database",
            bad.display()
        )),
        "{err}"
    );
}
