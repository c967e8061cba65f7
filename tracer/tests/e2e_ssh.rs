//! Privileged end to end: real ssh logins through Debian's sshd and its PAM
//! stack (pam_loginuid), captured by tracer, and checked as an admin would
//! read them: one session per login, with user, source address, start and end,
//! and every command (sudo and su included) inside the right session.

#![cfg(feature = "privileged")]

mod common;

use std::time::Duration;

use common::ssh::SshServer;
use common::*;
use serde_json::Value;

const ALICE: &str = "tracer-e2e-alice";
const BOB: &str = "tracer-e2e-bob";

/// The three logins of the scenario; returns their outputs' success.
fn scenario(ssh: &SshServer) {
    let a1 = ssh.login(
        ALICE,
        r#"/bin/echo e2e-one 'two words' '' "$(printf 'line1\nline2')"; sudo -n id; sudo -n su -c 'id -un' root; /nonexistent/e2e-missing || true"#,
    );
    assert!(
        a1.status.success(),
        "login 1 failed: {a1:?}\nsshd: {}",
        ssh.log()
    );
    let out = String::from_utf8_lossy(&a1.stdout);
    assert!(
        out.contains("uid=0(root)"),
        "sudo -n id did not run as root: {out}"
    );
    let a2 = ssh.login(ALICE, "/bin/echo e2e-two");
    assert!(a2.status.success(), "login 2 failed: {a2:?}");
    let b1 = ssh.login(BOB, "/bin/echo e2e-three");
    assert!(b1.status.success(), "login 3 failed: {b1:?}");
}

fn sessions<'a>(lines: &'a [Value], kind: &str, auid: u32) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["type"] == kind && l["auid"] == auid)
        .collect()
}

/// The session of the `/bin/echo MARKER` run inside a login (the ssh client's
/// own exec carries the marker too, outside any session).
fn ses_of_marker(lines: &[Value], marker: &str) -> u64 {
    with_marker(lines, "exec", marker)
        .into_iter()
        .find(|l| l["argv"][0] == "/bin/echo")
        .unwrap_or_else(|| panic!("no exec with {marker}"))["ses"]
        .as_u64()
        .unwrap()
}

/// `tracer report --format json` over a recorded log.
fn report(lines: &[Value]) -> Value {
    serde_json::from_str(&report_lines(lines, &["--format", "json"])).unwrap()
}

/// What an admin reads in the report: three sessions (two for alice, one for
/// bob), from 127.0.0.1, each with a start and an end, every command in the
/// login it was typed in, sudo/su under alice with uid 0 shown.
fn check_report(lines: &[Value], alice: u32, bob: u32) {
    let doc = report(lines);
    let sessions: Vec<&Value> = doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["auid"] == alice || s["auid"] == bob)
        .collect();
    assert_eq!(
        sessions.len(),
        3,
        "three logins, three sessions: {sessions:#?}"
    );
    let cmdline = |s: &Value| -> Vec<String> {
        s["commands"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["command"].as_str().unwrap().to_string())
            .collect()
    };
    let has = |s: &Value, needle: &str| cmdline(s).iter().any(|c| c.contains(needle));
    for s in &sessions {
        assert_eq!(s["source"], "127.0.0.1", "source of {s}");
        assert!(
            s["start"].is_string() && s["end"].is_string(),
            "start and end: {s}"
        );
        assert!(s["start"].as_str() <= s["end"].as_str());
        let user = if s["auid"] == alice { ALICE } else { BOB };
        assert_eq!(s["user"], user);
    }
    let one = sessions
        .iter()
        .find(|s| has(s, "e2e-one"))
        .expect("login 1");
    let two = sessions
        .iter()
        .find(|s| has(s, "e2e-two"))
        .expect("login 2");
    let three = sessions
        .iter()
        .find(|s| has(s, "e2e-three"))
        .expect("login 3");
    assert_eq!(one["auid"], alice);
    assert_eq!(two["auid"], alice);
    assert_eq!(three["auid"], bob);
    assert!(!has(one, "e2e-two") && !has(two, "e2e-one") && !has(three, "e2e-one"));
    let cmds = one["commands"].as_array().unwrap();
    let echo = cmds
        .iter()
        .find(|c| c["argv"][0] == "/bin/echo" && c["argv"][1] == "e2e-one")
        .expect("the echo of login 1");
    assert_eq!(
        echo["argv"],
        serde_json::json!(["/bin/echo", "e2e-one", "two words", "", "line1\nline2"])
    );
    assert_eq!(
        echo["command"],
        "/bin/echo e2e-one 'two words' '' $'line1\\nline2'"
    );
    let id = cmds
        .iter()
        .find(|c| c["argv"] == serde_json::json!(["id"]))
        .expect("sudo -n id in login 1");
    assert_eq!(id["uid"], 0);
    assert_eq!(id["as_user"], "root", "{id}");
    let su = cmds
        .iter()
        .find(|c| c["argv"] == serde_json::json!(["id", "-un"]))
        .expect("su -c in login 1");
    assert_eq!(su["uid"], 0);
    let failed = cmds
        .iter()
        .find(|c| c["failed"] == true)
        .expect("the failed exec in login 1");
    assert_eq!(failed["errno"], "ENOENT");
    // The text report shows the identity with its uid.
    let text = report_text(lines);
    assert!(text.contains("root (uid 0)"), "{text}");
}

fn report_text(lines: &[Value]) -> String {
    report_lines(lines, &["--color", "never"])
}

#[test]
fn ebpf_ssh_logins_become_sessions() {
    let _g = global_lock();
    let ssh = SshServer::start(&[ALICE, BOB], &[ALICE]);
    let (alice, bob) = (uid_of(ALICE), uid_of(BOB));
    let t = Tracer::start(&["--backend", "ebpf", "--no-proc-scan"]);
    scenario(&ssh);
    std::thread::sleep(Duration::from_millis(500));
    let lines = t.stop();
    check_report(&lines, alice, bob);

    let s1 = ses_of_marker(&lines, "e2e-one");
    let s2 = ses_of_marker(&lines, "e2e-two");
    let s3 = ses_of_marker(&lines, "e2e-three");
    assert!(
        s1 != s2 && s2 != s3 && s1 != s3,
        "three logins, three sessions: {s1} {s2} {s3}"
    );

    let starts = sessions(&lines, "session_start", alice);
    assert_eq!(starts.len(), 2, "alice: {starts:?}");
    let bob_starts = sessions(&lines, "session_start", bob);
    assert_eq!(
        bob_starts.len(),
        1,
        "bob: {bob_starts:?}\n{:#?}",
        lines
            .iter()
            .filter(|l| l["auid"] == bob)
            .collect::<Vec<_>>()
    );
    for s in starts
        .iter()
        .chain(sessions(&lines, "session_start", bob).iter())
    {
        assert_eq!(s["addr"], "127.0.0.1", "login source: {s}");
    }
    let ends = sessions(&lines, "session_end", alice);
    assert_eq!(
        ends.len(),
        2,
        "alice's sessions must end at logout: {ends:?}"
    );

    // Every command of login 1 is in session s1, sudo/su shown with uid 0.
    let in_s1: Vec<&Value> = lines
        .iter()
        .filter(|l| (l["type"] == "exec" || l["type"] == "exec_failed") && l["ses"] == s1)
        .collect();
    assert!(in_s1.iter().all(|l| l["auid"] == alice));
    let id = in_s1
        .iter()
        .find(|l| l["argv"] == serde_json::json!(["id"]) && l["uid"] == 0)
        .expect("sudo -n id ran as uid 0 in session 1");
    assert_eq!(id["via"], "sudo");
    let su = in_s1
        .iter()
        .find(|l| l["argv"] == serde_json::json!(["id", "-un"]))
        .expect("su -c 'id -un' in session 1");
    assert_eq!(su["uid"], 0);
    assert!(su["via"] == "su" || su["via"] == "sudo", "{su}");
    let echo = with_marker(&lines, "exec", "e2e-one")
        .into_iter()
        .find(|l| l["argv"][0] == "/bin/echo")
        .unwrap();
    assert_eq!(
        echo["argv"],
        serde_json::json!(["/bin/echo", "e2e-one", "two words", "", "line1\nline2"])
    );
    let failed = in_s1
        .iter()
        .find(|l| l["type"] == "exec_failed" && l["exe"] == "/nonexistent/e2e-missing")
        .expect("the failed exec in session 1");
    assert_eq!(failed["ret"], -2);
}

/// The same logins captured by the audit backend: sessions come from the
/// login records (USER_START/USER_END) with their source address.
#[test]
fn audit_ssh_logins_become_sessions() {
    let _g = global_lock();
    let _restore = common::audit::AuditRestore::capture();
    let ssh = SshServer::start(&[ALICE, BOB], &[ALICE]);
    let (alice, bob) = (uid_of(ALICE), uid_of(BOB));
    let t = Tracer::start(&["--backend", "audit", "--no-proc-scan"]);
    scenario(&ssh);
    std::thread::sleep(Duration::from_millis(2500));
    let lines = t.stop();
    let s1 = ses_of_marker(&lines, "e2e-one");
    let of_s1: Vec<String> = lines
        .iter()
        .filter(|l| l["ses"] == s1 && l["type"] != "exec" && l["type"] != "exit")
        .map(Value::to_string)
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "session_start" && l["ses"] == s1 && l["addr"] == "127.0.0.1"),
        "no session_start of session {s1} with its address:\n{}",
        of_s1.join("\n")
    );
    assert!(lines
        .iter()
        .any(|l| l["type"] == "session_end" && l["ses"] == s1));
    // The kernel's own LOGIN record (pam_loginuid setting the login uid;
    // netlink type 1006, below the user-message range) is in the log.
    assert!(
        lines.iter().any(|l| l["type"] == "login"
            && l["detail"]["record_type"] == "LOGIN"
            && l["ses"] == s1
            && l["auid"] == alice),
        "no LOGIN record of session {s1}"
    );
    check_report(&lines, alice, bob);
}

/// A session with a process still running when tracer stops is open: it has a
/// start and no end.
#[test]
fn ebpf_session_still_running_at_stop_is_open() {
    let _g = global_lock();
    let ssh = SshServer::start(&[ALICE], &[]);
    let alice = uid_of(ALICE);
    let t = Tracer::start(&["--backend", "ebpf", "--no-proc-scan"]);
    // A login whose background job outlives the ssh connection.
    let out = ssh.login(
        ALICE,
        "nohup /bin/sleep 20.0654 >/dev/null 2>&1 & /bin/echo e2e-open",
    );
    assert!(out.status.success(), "{out:?}");
    std::thread::sleep(Duration::from_millis(500));
    let lines = t.stop();
    let ses = ses_of_marker(&lines, "e2e-open");
    assert!(lines
        .iter()
        .any(|l| l["type"] == "session_start" && l["ses"] == ses && l["auid"] == alice));
    assert!(
        !lines
            .iter()
            .any(|l| l["type"] == "session_end" && l["ses"] == ses),
        "a session with a live process must not be ended:\n{}",
        lines
            .iter()
            .filter(|l| l["ses"] == ses)
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    drop(ssh);
}
