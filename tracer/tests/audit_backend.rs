//! Privileged: the audit backend of `tracer run` on the real kernel, beside a
//! running auditd, the automatic fallback, and the eBPF/audit cross-check.

#![cfg(feature = "privileged")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::audit::{AuditRestore, Auditd};
use common::*;
use serde_json::Value;

/// (pid, auid, ses) of a shell with login uid `auid` that runs `exec` in /tmp.
fn attributed_exec(auid: u32, exec: &str) -> (u32, u32, u32) {
    let a = run_attributed(auid, &format!("cd /tmp && exec {exec}"));
    (a.pid, a.auid, a.ses)
}

fn find_exec<'a>(lines: &'a [Value], pid: u32, marker: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| {
            l["type"] == "exec"
                && l["pid"] == pid
                && l["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == marker))
        })
        .unwrap_or_else(|| panic!("no exec of pid {pid} with {marker}"))
}

fn stop_detail(lines: &[Value]) -> &Value {
    &lines
        .iter()
        .rev()
        .find(|l| l["type"] == "tracer" && l["detail"]["status"] == "stop")
        .expect("stop record")["detail"]
}

/// With auditd running, the audit backend logs the same exec (argv, auid,
/// ses, cwd, uid) as the eBPF backend, and auditd keeps its log the whole time.
#[test]
fn audit_backend_agrees_with_ebpf_beside_auditd() {
    let _g = global_lock();
    let mut restore = AuditRestore::capture();
    let auditd = restore.own(Auditd::start());
    let ebpf = Tracer::start(&["--backend", "ebpf", "--no-proc-scan"]);
    let audit = Tracer::start(&["--backend", "audit", "--no-proc-scan"]);
    let (pid, auid, ses) = attributed_exec(5151, "/bin/echo audit-vs-ebpf 'two words' ''");
    assert_eq!(auid, 5151);
    std::thread::sleep(Duration::from_millis(800));
    let (a, e) = (audit.stop(), ebpf.stop());
    let (ea, ee) = (
        find_exec(&a, pid, "audit-vs-ebpf"),
        find_exec(&e, pid, "audit-vs-ebpf"),
    );
    assert_eq!(ea["source"], "audit");
    for k in ["argv", "auid", "ses", "cwd", "uid", "euid", "gid"] {
        assert_eq!(ea[k], ee[k], "{k} differs: audit {ea} vs ebpf {ee}");
    }
    assert_eq!(ea["auid"], auid);
    assert_eq!(ea["ses"], ses);
    assert_eq!(ea["cwd"], "/tmp");
    assert_eq!(
        ea["argv"],
        serde_json::json!(["/bin/echo", "audit-vs-ebpf", "two words", ""])
    );
    // auditd was registered the whole time and logged the same exec.
    assert!(auditd.log_contains("audit-vs-ebpf") || auditd.log_contains(&hex("audit-vs-ebpf")));
    let st = tracer::source::audit::status::AuditStatus::get().unwrap();
    assert_eq!(
        st.pid,
        auditd.pid(),
        "tracer must never replace the audit daemon"
    );
}

struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

/// `--backend auto` where eBPF is refused falls back to audit and says why.
#[test]
fn auto_falls_back_to_audit_and_says_why() {
    let _g = global_lock();
    let _restore = AuditRestore::capture();
    let dir = tempfile::tempdir().unwrap();
    let out_file = dir.path().join("e.jsonl");
    let child = Command::new(tracer_bin())
        .args(["run", "--backend", "auto", "--no-proc-scan", "--output"])
        .arg(&out_file)
        .env("TRACER_DISABLE_EBPF", "1")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Killed by pid on every path (a failed assertion included).
    let mut child = KillOnDrop(Some(child));
    let mut started = false;
    for _ in 0..200 {
        if read_jsonl(&out_file)
            .iter()
            .any(|l| l["detail"]["status"] == "start")
        {
            started = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(started, "tracer did not start");
    let (pid, _, _) = attributed_exec(5252, "/bin/echo fallback-marker");
    std::thread::sleep(Duration::from_millis(800));
    let child = child.0.take().unwrap();
    // SAFETY: a pid we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("falling back to the audit backend")
            && stderr.contains("TRACER_DISABLE_EBPF"),
        "the reason is logged: {stderr}"
    );
    assert_eq!(stderr.matches("falling back").count(), 1, "logged once");
    let lines = read_jsonl(&out_file);
    let start = lines
        .iter()
        .find(|l| l["detail"]["status"] == "start")
        .unwrap();
    assert_eq!(start["detail"]["backend"], "audit");
    assert!(start["detail"]["fallback_reason"]
        .as_str()
        .unwrap()
        .contains("TRACER_DISABLE_EBPF"));
    assert_eq!(find_exec(&lines, pid, "fallback-marker")["source"], "audit");
}

/// `--backend both` under an exec storm: zero unexplained discrepancies; an
/// exec hidden from audit (a `never` rule on its exe) is reported only-eBPF.
#[test]
fn both_backends_cross_check_a_storm_and_find_a_hidden_exec() {
    let _g = global_lock();
    let _restore = AuditRestore::capture();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let hidden = dir.path().join("hidden-true");
    std::fs::copy("/bin/true", &hidden).unwrap();
    // Before tracer's own rules, so that it wins for this one binary.
    let st = Command::new("auditctl")
        .args(["-A", "exit,never", "-F", "arch=b64", "-S", "execve", "-F"])
        .arg(format!("exe={}", hidden.display()))
        .args(["-k", "tracer_test_hide"])
        .status()
        .unwrap();
    assert!(st.success(), "adding the hiding rule");
    let t = Tracer::start(&["--backend", "both", "--no-proc-scan"]);
    let out = Command::new(&storm)
        .args(["-w", "2", "-d", "10"])
        .arg(&tiny)
        .output()
        .unwrap();
    assert!(out.status.success());
    let st = Command::new(&hidden).arg("hidden-marker").status().unwrap();
    assert!(st.success());
    // Let the window (5 s) close on the hidden exec before stopping.
    std::thread::sleep(Duration::from_secs(7));
    let lines = t.stop();
    let made: u64 = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("execs="))
        .unwrap()
        .parse()
        .unwrap();
    let c = &stop_detail(&lines)["crosscheck"];
    let sample: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "discrepancy")
        .take(6)
        .collect();
    assert!(
        c["matched"].as_u64().unwrap() >= made,
        "matched {c} of {made} storm execs; discrepancies: {sample:#?}"
    );
    let hidden_d: Vec<&Value> = lines
        .iter()
        .filter(|l| {
            l["type"] == "discrepancy"
                && l["argv"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "hidden-marker"))
        })
        .collect();
    assert_eq!(hidden_d.len(), 1, "{hidden_d:?}");
    assert_eq!(hidden_d[0]["detail"]["kind"], "only_ebpf");
    assert_eq!(hidden_d[0]["detail"]["explained_by_loss"], false);
    // Among the storm's execs and the hidden one, the hidden exec is the only
    // unexplained discrepancy. (Execs of unrelated processes on a shared
    // machine are shown for diagnosis but judged by the storm alone.)
    let ours = |l: &Value| {
        let s = l.to_string();
        s.contains(tiny.to_str().unwrap())
            || s.contains(storm.to_str().unwrap())
            || s.contains("hidden-marker")
    };
    let unexplained: Vec<&Value> = lines
        .iter()
        .filter(|l| l["type"] == "discrepancy")
        .filter(|l| l["detail"]["explained_by_loss"] != true && l["detail"]["at_shutdown"] != true)
        .collect();
    let (mine, foreign): (Vec<&Value>, Vec<&Value>) =
        unexplained.into_iter().partition(|l| ours(l));
    if !foreign.is_empty() {
        eprintln!(
            "discrepancies of unrelated processes ({}): {foreign:#?}",
            foreign.len()
        );
    }
    assert_eq!(mine.len(), 1, "storm discrepancies: {mine:#?}");
    assert_eq!(c["mismatched"], 0, "{c}");
    // The log still has every storm exec exactly once.
    let tiny = tiny.to_str().unwrap();
    let logged = lines
        .iter()
        .filter(|l| l["type"] == "exec" && l["exe"] == tiny)
        .count() as u64;
    assert_eq!(logged, made);
}
