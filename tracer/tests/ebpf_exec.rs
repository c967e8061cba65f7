//! Privileged: the eBPF backend on the real kernel. Each test loads tracer's
//! programs, runs real commands, and compares what was logged with the truth
//! (`/proc`, the commands' own view of their ids, exec counts).

#![cfg(feature = "privileged")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The issue's acceptance scenario: a process that set its own loginuid execs
/// `/bin/echo 'two words' '' "$(printf 'a\nb')"`; the exec event carries exactly
/// those four strings and that process's auid and ses.
#[test]
fn exec_argv_and_attribution_match_the_process() {
    let _g = global_lock();
    let t = Tracer::start(&["--no-proc-scan"]);
    let a = run_attributed(4242, r#"exec /bin/echo 'two words' '' "$(printf 'a\nb')""#);
    let (pid, auid, ses) = (a.pid, a.auid, a.ses);
    assert_eq!(auid, 4242);
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let ev = lines
        .iter()
        .find(|l| l["type"] == "exec" && l["pid"] == pid && l["exe"] == "/bin/echo")
        .unwrap_or_else(|| panic!("no exec event for pid {pid} /bin/echo"));
    assert_eq!(argv_of(ev), vec!["/bin/echo", "two words", "", "a\nb"]);
    assert_eq!(ev["auid"], auid);
    assert_eq!(ev["ses"], ses);
    assert_eq!(ev["argc"], 4);
    assert_eq!(ev["ret"], 0);
    assert_eq!(ev["source"], "ebpf");
    for key in [
        "time", "host", "pid", "ppid", "uid", "euid", "gid", "auid", "ses", "tty", "comm", "exe",
        "argv", "cwd", "ret",
    ] {
        assert!(ev.get(key).is_some(), "exec event lacks `{key}`: {ev}");
    }
    // The exit of that process is seen too.
    assert!(lines
        .iter()
        .any(|l| l["type"] == "exit" && l["pid"] == pid && l["exit_code"] == 0));
}

#[test]
fn failed_exec_is_reported_with_the_path_tried() {
    let _g = global_lock();
    let t = Tracer::start(&["--no-proc-scan"]);
    let missing = "/nonexistent/tracer-test-missing-binary";
    let err = Command::new(missing).arg("some-arg").status().unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let ev = lines
        .iter()
        .find(|l| l["type"] == "exec_failed" && l["exe"] == missing)
        .expect("no exec_failed event for the missing path");
    assert_eq!(ev["ret"], -libc::ENOENT);
    assert_eq!(argv_of(ev), vec![missing, "some-arg"]);
    // std spawns a child that tries the exec; its parent is this test.
    assert_eq!(ev["ppid"], std::process::id());
}

/// auid, ses and ppid read by the program agree with `/proc` for a live process.
#[test]
fn ids_agree_with_proc() {
    let _g = global_lock();
    let t = Tracer::start(&["--no-proc-scan"]);
    let mut child = Command::new("/bin/sh")
        .args([
            "-c",
            "echo 777 > /proc/self/loginuid && exec /bin/sleep 30.000777",
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Wait for the exec of sleep to have happened.
    let mut found = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        let lines = t.lines();
        if let Some(e) = with_marker(&lines, "exec", "30.000777")
            .into_iter()
            .find(|e| e["exe"] == "/bin/sleep")
        {
            found = Some((*e).clone());
            break;
        }
    }
    let ev = found.expect("no exec event for the sleep");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: u32 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let starttime: u64 = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(ev["pid"], pid);
    assert_eq!(ev["auid"], proc_u32(pid, "loginuid"));
    assert_eq!(ev["auid"], 777);
    assert_eq!(ev["ses"], proc_u32(pid, "sessionid"));
    assert_eq!(ev["ppid"], ppid);
    assert_eq!(ev["ppid"], std::process::id());
    // start_boottime is in ns; /proc's starttime in clock ticks (100 Hz).
    let ticks = ev["start_boottime"].as_u64().unwrap() / 10_000_000;
    assert!(
        ticks.abs_diff(starttime) <= 1,
        "start time {ticks} vs /proc {starttime}"
    );
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(ev["cwd"], cwd.to_str().unwrap());
    child.kill().unwrap();
    child.wait().unwrap();
    t.stop();
}

/// Bytes that are not UTF-8 survive the JSON log exactly (see tracer::bytes).
#[test]
fn non_utf8_argv_round_trips() {
    let _g = global_lock();
    use std::os::unix::ffi::OsStrExt;
    let t = Tracer::start(&["--no-proc-scan"]);
    let raw: &[u8] = b"tracer-bytes-\xff\xfe-\xc3\x28-end";
    let st = Command::new("/bin/true")
        .arg(std::ffi::OsStr::from_bytes(raw))
        .status()
        .unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let events: Vec<tracer::event::Event> = lines
        .iter()
        .filter_map(|l| serde_json::from_value(l.clone()).ok())
        .collect();
    let ev = events
        .iter()
        .find(|e| {
            e.exec()
                .and_then(|x| x.argv.as_ref())
                .is_some_and(|a| a.len() == 2 && a[1].as_slice().starts_with(b"tracer-bytes-"))
        })
        .expect("no exec event with the non-UTF-8 argument");
    assert_eq!(ev.exec().unwrap().argv.as_ref().unwrap()[1].as_slice(), raw);
}

/// argv beyond the capture limit: `truncated`, with the true argc and size.
#[test]
fn argv_beyond_the_limit_is_truncated_with_true_counts() {
    let _g = global_lock();
    let t = Tracer::start(&["--no-proc-scan", "--argv-limit", "4096"]);
    let big = "x".repeat(1000);
    let args: Vec<String> = (0..10).map(|i| format!("tracer-trunc-{i}-{big}")).collect();
    let st = Command::new("/bin/true").args(&args).status().unwrap();
    assert!(st.success());
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let ev = with_marker(&lines, "exec", "tracer-trunc-0-")
        .into_iter()
        .next()
        .expect("no exec event for the long argv");
    assert_eq!(ev["truncated"], true);
    assert_eq!(ev["argc"], 11);
    let real: usize = "/bin/true".len() + 1 + args.iter().map(|a| a.len() + 1).sum::<usize>();
    assert_eq!(ev["args_size"], real as u64);
    let captured: usize = argv_of(ev).iter().map(|a| a.len() + 1).sum();
    assert!(
        captured <= 4096 + 1,
        "captured {captured} bytes over a 4096 limit"
    );
    assert!(argv_of(ev).len() < 11);
}

/// Processes alive before tracer started are reported from /proc with their
/// attribution.
#[test]
fn processes_alive_before_start_are_reported() {
    let _g = global_lock();
    let mut child = Command::new("/bin/sh")
        .args([
            "-c",
            "echo 4343 > /proc/self/loginuid && exec /bin/sleep 30.004343",
        ])
        .spawn()
        .unwrap();
    // Until the child has set its login uid and become the sleep: a fixed
    // pause was too short in the software-emulated VM of tests/vm, where
    // the shell had not run yet when tracer read /proc.
    let pid = child.id();
    daemon::wait_for(
        "the child to become `sleep` with login uid 4343",
        Duration::from_secs(start_timeout_secs()),
        || {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let auid = std::fs::read_to_string(format!("/proc/{pid}/loginuid")).unwrap_or_default();
            cmdline.starts_with(b"/bin/sleep\0") && auid.trim() == "4343"
        },
    );
    let t = Tracer::start(&[]);
    let lines = t.stop();
    // What the child looked like after tracer stopped, for the message below.
    let after = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    child.kill().unwrap();
    child.wait().unwrap();
    let Some(ev) = with_marker(&lines, "process", "30.004343")
        .into_iter()
        .next()
    else {
        // Once seen in the software-emulated VM only: say what tracer wrote.
        let procs: Vec<String> = lines
            .iter()
            .filter(|l| l["type"] == "process")
            .map(|l| format!("{} {}", l["pid"], l["argv"]))
            .collect();
        panic!(
            "no process record for the sleep (pid {pid}) started before tracer; its cmdline after \
             tracer stopped: {:?}; {} process records: {procs:?}; tracer's records: {:?}",
            String::from_utf8_lossy(&after),
            procs.len(),
            lines
                .iter()
                .filter(|l| l["type"] == "tracer")
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
        );
    };
    assert_eq!(ev["auid"], 4343);
    assert_eq!(ev["pid"], child.id());
    assert_eq!(ev["source"], "proc");
}

/// An exec storm: exec events plus counted losses equal the execs made.
#[test]
fn storm_events_plus_losses_equal_execs() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (storm, tiny) = build_storm(dir.path());
    let t = Tracer::start(&["--no-proc-scan"]);
    // Storms of 5 s until they have made enough execs to mean something: one
    // on a real machine (thousands a second), several in the software-
    // emulated VM of tests/vm, where 5 s made fewer than 1,000 (~200 a
    // second): a fixed duration made the count depend on the machine.
    let (mut made, mut summary) = (0u64, String::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while made <= 1000 && std::time::Instant::now() < deadline {
        let out = Command::new(&storm)
            .args(["-w", "2", "-d", "5"])
            .arg(&tiny)
            .output()
            .unwrap();
        assert!(out.status.success());
        let s = String::from_utf8(out.stdout).unwrap();
        made += s
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix("execs="))
            .unwrap()
            .parse::<u64>()
            .unwrap();
        summary.push_str(&s);
    }
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let tiny = tiny.to_str().unwrap();
    let seen = lines
        .iter()
        .filter(|l| l["type"] == "exec" && l["exe"] == tiny)
        .count() as u64;
    let lost: u64 = lines
        .iter()
        .filter(|l| l["type"] == "loss")
        .map(|l| l["detail"]["exec"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        made > 1000,
        "the storms made only {made} execs in 2 minutes: {summary}"
    );
    assert!(seen <= made, "more events ({seen}) than execs ({made})");
    assert!(
        seen + lost >= made,
        "uncounted loss: {made} execs, {seen} events, {lost} counted losses"
    );
    if lost == 0 {
        assert_eq!(seen, made);
    }
}

/// Refusing eBPF (as a kernel without it would) is a clear error for
/// `--backend ebpf`.
#[test]
fn ebpf_refused_is_a_clear_error() {
    let _g = global_lock();
    let out = Command::new(tracer_bin())
        .args(["run", "--backend", "ebpf"])
        .env("TRACER_DISABLE_EBPF", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("eBPF disabled by TRACER_DISABLE_EBPF"),
        "{err}"
    );
}

/// With tracefs unmounted, tracer mounts it at /sys/kernel/tracing when it
/// needs it: only its last-resort failed-exec hooks (syscall tracepoints)
/// read tracefs. Where fexit or kprobes work (a stock kernel, see
/// `tests/vm/run.sh`), nothing is mounted.
#[test]
fn tracefs_is_mounted_when_missing() {
    let _g = global_lock();
    let mounted = || {
        std::fs::read_to_string("/proc/self/mounts")
            .unwrap()
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/sys/kernel/tracing"))
    };
    if mounted() {
        let st = Command::new("umount")
            .arg("/sys/kernel/tracing")
            .status()
            .unwrap();
        assert!(st.success(), "could not unmount tracefs to set up the test");
    }
    assert!(!mounted());
    let t = Tracer::start(&["--no-proc-scan"]);
    let lines = t.lines();
    let start = lines
        .iter()
        .find(|l| l["type"] == "tracer" && l["detail"]["status"] == "start")
        .expect("a start record");
    let hook = start["detail"]["failed_exec_hook"].as_str().unwrap_or("");
    if hook == "tracepoint" {
        assert!(mounted(), "tracer did not mount tracefs: {start}");
    } else {
        assert!(
            !mounted(),
            "tracer mounted tracefs it does not use: {start}"
        );
    }
    t.stop();
}

/// Kernel-side filters drop what they are told to, count it, and their maps
/// are frozen while tracer runs.
#[test]
fn kernel_side_filters_drop_and_count() {
    let _g = global_lock();
    let t = Tracer::start(&[
        "--no-proc-scan",
        "--exclude-exe-prefix",
        "/bin/tru",
        "--exclude-comm",
        "printf",
        "--exclude-uid",
        "4000-4001",
    ]);
    let run = |cmd: &mut Command| assert!(cmd.status().unwrap().success());
    run(Command::new("/bin/true").arg("filter-marker-exe"));
    run(Command::new("/usr/bin/printf").arg("filter-marker-comm"));
    run(Command::new("setpriv").args(["--reuid", "4000", "/bin/echo", "filter-marker-uid"]));
    run(Command::new("/bin/echo").arg("filter-marker-kept"));
    // The filter maps cannot be changed while tracer runs.
    let show = Command::new("bpftool")
        .args(["map", "show", "name", "COMM_FILTER"])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("frozen"), "COMM_FILTER is not frozen: {show}");
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    for gone in [
        "filter-marker-exe",
        "filter-marker-comm",
        "filter-marker-uid",
    ] {
        let seen: Vec<_> = with_marker(&lines, "exec", gone)
            .into_iter()
            .filter(|l| l["comm"] != "setpriv")
            .collect();
        assert!(seen.is_empty(), "{gone} was not filtered: {seen:?}");
    }
    assert_eq!(with_marker(&lines, "exec", "filter-marker-kept").len(), 1);
    let stop = lines.iter().rev().find(|l| l["type"] == "tracer").unwrap();
    assert!(
        stop["detail"]["filtered_exec"].as_u64().unwrap() >= 3,
        "{stop}"
    );
}

#[test]
fn bad_filters_are_clear_errors() {
    let out = Command::new(tracer_bin())
        .args(["run", "--exclude-uid", "abc"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--exclude-uid") && err.contains("abc"),
        "{err}"
    );
}

/// Removes the test's directory tree, unmounting what it mounted first,
/// whether the test passed or not.
struct CwdTree {
    base: std::path::PathBuf,
    mounts: Vec<std::path::PathBuf>,
}

impl Drop for CwdTree {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            let _ = Command::new("umount").arg(m).status();
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The cwd walk (`task.rs`: plain loads in the pwd's mount, probe reads from
/// the first mount crossing on) gives the path as it is at the exec: after
/// the directory and its parent are renamed, inside a tmpfs mounted below
/// the root filesystem, and through a bind mount of the renamed tree.
#[test]
fn cwd_follows_renames_and_mounts() {
    let _g = global_lock();
    let base = std::path::PathBuf::from(format!("/tmp/tracer-cwd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let mut tree = CwdTree {
        base: base.clone(),
        mounts: Vec::new(),
    };
    std::fs::create_dir_all(base.join("p/d")).unwrap();
    std::fs::create_dir_all(base.join("m")).unwrap();
    std::fs::create_dir_all(base.join("b")).unwrap();
    let t = Tracer::start(&["--no-proc-scan"]);
    let exec_in = |dir: &std::path::Path, marker: &str| {
        let st = Command::new("/bin/true")
            .arg(marker)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(st.success());
    };
    let mount = |tree: &mut CwdTree, args: &[&str], at: &std::path::Path| {
        let st = Command::new("mount").args(args).arg(at).status().unwrap();
        assert!(st.success(), "mount {args:?} {}", at.display());
        tree.mounts.push(at.to_path_buf());
    };
    exec_in(&base.join("p/d"), "tracer-cwd-1");
    std::fs::rename(base.join("p/d"), base.join("p/e")).unwrap();
    exec_in(&base.join("p/e"), "tracer-cwd-2");
    std::fs::rename(base.join("p"), base.join("q")).unwrap();
    exec_in(&base.join("q/e"), "tracer-cwd-3");
    mount(&mut tree, &["-t", "tmpfs", "tracer-cwd"], &base.join("m"));
    std::fs::create_dir_all(base.join("m/x/y")).unwrap();
    exec_in(&base.join("m/x/y"), "tracer-cwd-4");
    let bq = base.join("q");
    mount(
        &mut tree,
        &["--bind", bq.to_str().unwrap()],
        &base.join("b"),
    );
    exec_in(&base.join("b/e"), "tracer-cwd-5");
    // Unmounted: the same directory is reached through its own path again.
    let _ = Command::new("umount").arg(base.join("b")).status();
    tree.mounts.pop();
    exec_in(&base.join("q/e"), "tracer-cwd-6");
    std::thread::sleep(Duration::from_millis(300));
    let lines = t.stop();
    let b = base.to_str().unwrap();
    for (marker, want) in [
        ("tracer-cwd-1", format!("{b}/p/d")),
        ("tracer-cwd-2", format!("{b}/p/e")),
        ("tracer-cwd-3", format!("{b}/q/e")),
        ("tracer-cwd-4", format!("{b}/m/x/y")),
        ("tracer-cwd-5", format!("{b}/b/e")),
        ("tracer-cwd-6", format!("{b}/q/e")),
    ] {
        let evs: Vec<_> = with_marker(&lines, "exec", marker)
            .into_iter()
            .filter(|e| e["exe"] == "/bin/true")
            .collect();
        assert_eq!(evs.len(), 1, "one exec with {marker}: {evs:?}");
        assert_eq!(evs[0]["cwd"], want.as_str(), "{marker}");
    }
    drop(tree);
}

/// The `WAKE` map of the tracer with pid `pid`: the loaded map of that name
/// whose id is among that process's map fds (`/proc/PID/fdinfo`).
fn wake_map(pid: u32) -> aya::maps::Array<aya::maps::MapData, u32> {
    let mut ids = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fdinfo")).unwrap() {
        let Ok(text) = std::fs::read_to_string(fd.unwrap().path()) else {
            continue;
        };
        if let Some(id) = text
            .lines()
            .find_map(|l| l.strip_prefix("map_id:"))
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            ids.push(id);
        }
    }
    let info = aya::maps::loaded_maps()
        .filter_map(Result::ok)
        .find(|m| m.name_as_str() == Some("WAKE") && ids.contains(&m.id()))
        .unwrap_or_else(|| panic!("tracer (pid {pid}) holds no map named WAKE; its maps: {ids:?}"));
    let data = aya::maps::MapData::from_id(info.id()).unwrap();
    aya::maps::Array::try_from(aya::maps::Map::from_map_data(data).unwrap()).unwrap()
}

/// Waits (reading the map, which execs nothing) until `WAKE` holds `want`.
fn wake_becomes(map: &aya::maps::Array<aya::maps::MapData, u32>, want: u32, what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while map.get(&0, 0).unwrap() != want {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// An idle reader asks to be woken by the next record (it then backs its
/// timed drains off), and the programs clear that request when they send
/// one: the ring-buffer side of "an idle daemon sleeps" (README). Read
/// through the map itself, so the test's own reads exec nothing.
#[test]
fn an_idle_reader_is_woken_by_the_next_record() {
    let _g = global_lock();
    let t = Tracer::start(&["--no-proc-scan"]);
    let map = wake_map(t.pid());
    wake_becomes(
        &map,
        1,
        "the reader found the ring empty but never asked to be woken",
    );
    // The request stays until a record is sent, and is re-armed by the
    // reader's next empty drain (~50 ms later): poll closely for the clear.
    let mut child = Command::new("/bin/sleep").arg("1").spawn().unwrap();
    wake_becomes(
        &map,
        0,
        "an exec was sent without clearing the wake request",
    );
    wake_becomes(&map, 1, "the reader did not ask again once idle");
    child.wait().unwrap();
    let lines = t.stop();
    let pid = child.id();
    assert!(
        lines
            .iter()
            .any(|l| l["type"] == "exec" && l["pid"] == pid && l["exe"] == "/bin/sleep"),
        "the exec that woke the reader was not logged"
    );
    // Exit records hold what the exit adds, nothing that its exec has.
    let exit = lines
        .iter()
        .find(|l| l["type"] == "exit" && l["pid"] == pid)
        .expect("no exit record of the sleep");
    assert_eq!(exit["exit_code"], 0);
    for key in ["ppid", "uid", "comm", "cgroup_id", "cgroup"] {
        assert!(exit.get(key).is_none(), "exit record has `{key}`: {exit}");
    }
    assert!(exit["start_boottime"].is_u64(), "{exit}");
}
