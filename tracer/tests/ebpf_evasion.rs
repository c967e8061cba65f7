//! Privileged: the known ways around exec tracing, each run for real and
//! checked to be logged with the right argv, auid and ses (issue: hardening).
//! The helper `tests/storm/evasion.c` does the tricks; each run happens in a
//! shell that first sets its own login uid, so attribution is checked too.

#![cfg(feature = "privileged")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;
use serde_json::Value;

const AUID: u32 = 6161;

/// Compiles tests/storm/evasion.c into `dir` (or copies it from
/// `TRACER_TEST_STORM_BIN`, as `build_storm` does).
fn build_evasion(dir: &Path) -> PathBuf {
    let out = dir.join("evasion");
    if let Some(pre) = std::env::var_os("TRACER_TEST_STORM_BIN") {
        let from = Path::new(&pre).join("evasion");
        std::fs::copy(&from, &out)
            .unwrap_or_else(|e| panic!("TRACER_TEST_STORM_BIN: {}: {e}", from.display()));
        return out;
    }
    let st = Command::new("cc")
        .args(["-O2", "-pthread", "-o"])
        .arg(&out)
        .arg(workspace_root().join("tests/storm/evasion.c"))
        .status()
        .expect("running cc");
    assert!(st.success());
    out
}

/// Runs `cmd` (a shell command line) in a shell with login uid AUID; returns
/// the shell's (pid, ses) and the command's stdout.
fn attributed(cmd: &str) -> (u32, u32, String) {
    let a = run_attributed(AUID, cmd);
    (a.pid, a.ses, a.stdout)
}

use common::argv_of as argv;

fn execs_with<'a>(lines: &'a [Value], marker: &str) -> Vec<&'a Value> {
    with_marker(lines, "exec", marker)
        .into_iter()
        .filter(|e| e["auid"] == AUID && argv(e).first().is_some_and(|a| !a.ends_with("sh")))
        .collect()
}

fn assert_attributed(e: &Value, ses: u32) {
    assert_eq!(e["auid"], AUID, "{e}");
    assert_eq!(e["ses"], ses, "{e}");
}

#[test]
fn evasion_techniques_are_logged() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let ev = build_evasion(dir.path());
    let ev = ev.to_str().unwrap();
    let script = dir.path().join("evasion-script.sh");
    std::fs::write(&script, "#!/bin/sh\n/bin/echo inside-script \"$@\"\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ld_so = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("the dynamic loader");

    let t = Tracer::start(&["--no-proc-scan"]);
    let mut runs = Vec::new();
    for mode in ["execveat", "fexecve", "memfd", "thread"] {
        let marker = format!("ev-{mode}");
        runs.push((
            mode,
            marker.clone(),
            attributed(&format!("{ev} {mode} /bin/echo {marker} 'two words'")),
        ));
    }
    let script_run = attributed(&format!("{} ev-script-arg", script.display()));
    let ldso_run = attributed(&format!("{ld_so} /bin/echo ev-ldso"));
    let race_run = attributed(&format!(
        "{ev} race /bin/echo ev-race-AAAAAAAA ev-racb-BBBBBBBB"
    ));
    let quick_run = attributed("/bin/true ev-quick-exit");
    std::thread::sleep(Duration::from_millis(500));
    let lines = t.stop();

    for (mode, marker, (pid, ses, out)) in &runs {
        assert_eq!(out.trim(), format!("{marker} two words"), "{mode} ran");
        let e = execs_with(&lines, marker);
        let e = e
            .iter()
            .find(|e| argv(e)[0] == "/bin/echo")
            .unwrap_or_else(|| panic!("{mode}: not logged: {e:?}"));
        assert_eq!(argv(e), vec!["/bin/echo", marker, "two words"], "{mode}");
        assert_attributed(e, *ses);
        match *mode {
            // Exec'd through an fd: the kernel names the file /dev/fd/N.
            "execveat" | "fexecve" => {
                assert!(e["exe"].as_str().unwrap().starts_with("/dev/fd/"), "{e}")
            }
            "memfd" => assert_eq!(
                e["fileless"], true,
                "a memfd exec is flagged file-less: {e}"
            ),
            // The thread that called execve is not the leader; the process
            // keeps the leader's pid and the old tid is recorded.
            "thread" => {
                assert!(
                    e["tid"].is_u64() && e["tid"] != e["pid"],
                    "non-leader exec records its tid: {e}"
                );
                // The helper is a child of the attributed shell.
                assert_eq!(e["ppid"], *pid, "{e}");
            }
            _ => {}
        }
        if *mode != "memfd" {
            assert!(e.get("fileless").is_none() || e["fileless"] == false, "{e}");
        }
    }

    // A #! script: the script is the exe, the interpreter is argv[0], and the
    // command the script runs is logged too.
    let (_, ses, out) = &script_run;
    assert!(out.contains("inside-script ev-script-arg"));
    let s: Vec<&Value> = with_marker(&lines, "exec", "ev-script-arg")
        .into_iter()
        .filter(|e| e["auid"] == AUID)
        .collect();
    let interp = s
        .iter()
        .find(|e| e["exe"] == script.to_str().unwrap())
        .unwrap_or_else(|| panic!("script exec not logged: {s:?}"));
    assert_eq!(argv(interp)[0], "/bin/sh");
    assert_eq!(argv(interp)[1], script.to_str().unwrap());
    assert_attributed(interp, *ses);
    assert!(s
        .iter()
        .any(|e| argv(e)[0] == "/bin/echo" && argv(e)[1] == "inside-script"));

    // ld.so running a binary: the target is in argv.
    let (_, ses, out) = &ldso_run;
    assert_eq!(out.trim(), "ev-ldso");
    let l = execs_with(&lines, "ev-ldso");
    let l = l
        .iter()
        .find(|e| e["exe"] == ld_so)
        .expect("ld.so exec logged");
    assert_eq!(argv(l), vec![ld_so, "/bin/echo", "ev-ldso"]);
    assert_attributed(l, *ses);

    // argv rewritten by another thread during the exec: what is logged is
    // what ran (echo prints what it received).
    let (_, ses, out) = &race_run;
    let ran: Vec<&str> = out.split_whitespace().collect();
    let r = with_marker(&lines, "exec", "ev-race-")
        .into_iter()
        .find(|e| e["exe"] == "/bin/echo" && e["auid"] == AUID)
        .expect("race exec logged");
    assert_eq!(
        argv(r)[1..],
        ran.iter().map(|s| s.to_string()).collect::<Vec<_>>()[..]
    );
    assert_attributed(r, *ses);

    // A process that exits at once after exec is still logged.
    let (_, ses, _) = &quick_run;
    let q = execs_with(&lines, "ev-quick-exit");
    assert_eq!(q.len(), 1);
    assert_attributed(q[0], *ses);
}
