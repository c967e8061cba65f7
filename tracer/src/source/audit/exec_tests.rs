//! Unit tests of exec event assembly.

use super::*;
use crate::event::UNSET;
use crate::source::audit::parse::parse_line;

fn build(lines: &[&str]) -> Option<Event> {
    let mut p: Option<PartialExec> = None;
    for l in lines {
        let r = parse_line(l.as_bytes()).unwrap();
        p.get_or_insert_with(|| PartialExec::new(r.time, r.serial))
            .add(&r);
    }
    p.unwrap().finish("h")
}

fn argv(e: &Event) -> Vec<String> {
    e.exec()
        .unwrap()
        .argv
        .as_ref()
        .unwrap()
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

const SYSCALL: &str = r#"type=SYSCALL msg=audit(1.000:9): arch=c000003e syscall=59 success=yes exit=0 a0=1 items=2 ppid=10 pid=11 auid=1000 uid=1001 gid=1002 euid=0 suid=0 fsuid=0 egid=1003 sgid=0 fsgid=0 tty=pts1 ses=3 comm="ls" exe="/bin/ls" key=(null)"#;

#[test]
fn full_exec() {
    let e = build(&[
        SYSCALL,
        r#"type=EXECVE msg=audit(1.000:9): argc=3 a0="ls" a1=2D6C a2="""#,
        r#"type=CWD msg=audit(1.000:9): cwd=2F746D702F6120622063"#,
        r#"type=PATH msg=audit(1.000:9): item=0 name="/bin/ls" inode=1 nametype=NORMAL"#,
        r#"type=PROCTITLE msg=audit(1.000:9): proctitle=6C73002D6C"#,
    ])
    .unwrap();
    assert_eq!(e.kind(), crate::event::Kind::Exec);
    assert_eq!(e.source, Source::Audit);
    assert_eq!(argv(&e), ["ls", "-l", ""]);
    assert_eq!(e.exec().unwrap().argc, Some(3));
    assert!(!e.exec().unwrap().truncated);
    assert_eq!(e.exec().unwrap().cwd, Some(Bytes::from("/tmp/a b c")));
    assert_eq!(
        (
            e.task.pid,
            e.task.ppid,
            e.task.uid,
            e.task.euid,
            e.task.gid,
            e.task.egid,
            e.task.auid,
            e.task.ses
        ),
        (
            Some(11),
            Some(10),
            Some(1001),
            Some(0),
            Some(1002),
            Some(1003),
            Some(1000),
            Some(3)
        )
    );
    assert_eq!(e.task.tty.as_deref(), Some("pts/1"));
    assert_eq!(e.task.comm, Some(Bytes::from("ls")));
    assert_eq!(e.task.exe, Some(Bytes::from("/bin/ls")));
    assert_eq!(e.exec().unwrap().key, None);
    assert_eq!(e.exec().unwrap().outcome.ret(), Some(0));
    assert_eq!(e.exec().unwrap().serial, Some(9));
    assert_eq!(e.host, "h");
}

#[test]
fn split_args_in_any_order() {
    let e = build(&[
        r#"type=EXECVE msg=audit(1.000:9): a1[1]=4546 a2="z""#,
        r#"type=EXECVE msg=audit(1.000:9): argc=3 a0="x" a1_len=5 a1[0]="abc""#,
        SYSCALL,
    ])
    .unwrap();
    assert_eq!(argv(&e), ["x", "abcEF", "z"]);
    assert!(!e.exec().unwrap().truncated);
}

#[test]
fn truncation_is_flagged() {
    // A chunk missing: length does not add up.
    let e =
        build(&[r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="x" a1_len=9 a1[0]="abc""#]).unwrap();
    assert_eq!(argv(&e), ["x", "abc"]);
    assert!(e.exec().unwrap().truncated);
    // Fewer args than argc.
    let e = build(&[r#"type=EXECVE msg=audit(1.000:9): argc=4 a0="x" a1="y""#]).unwrap();
    assert_eq!(argv(&e), ["x", "y"]);
    assert!(e.exec().unwrap().truncated);
    // A gap: later args are not shifted into its place.
    let e = build(&[r#"type=EXECVE msg=audit(1.000:9): argc=3 a0="x" a2="z""#]).unwrap();
    assert_eq!(argv(&e), ["x"]);
    assert!(e.exec().unwrap().truncated);
}

#[test]
fn unset_ids_and_no_tty() {
    let line = SYSCALL
        .replace("auid=1000", "auid=4294967295")
        .replace("ses=3", "ses=-1")
        .replace("tty=pts1", "tty=(none)");
    let e = build(&[&line]).unwrap();
    assert_eq!(
        (e.task.auid, e.task.ses, e.task.tty),
        (Some(UNSET), Some(UNSET), None)
    );
}

#[test]
fn failed_exec_without_execve_names_the_file_tried() {
    let sys = SYSCALL
        .replace("success=yes exit=0", "success=no exit=-2")
        .replace("exe=\"/bin/ls\"", "exe=\"/bin/bash\"");
    let e = build(&[
        &sys,
        r#"type=PATH msg=audit(1.000:9): item=0 name="/nonexistent" nametype=UNKNOWN"#,
        r#"type=PROCTITLE msg=audit(1.000:9): proctitle="bash""#,
    ])
    .unwrap();
    assert_eq!(e.kind(), crate::event::Kind::ExecFailed);
    assert_eq!(e.exec().unwrap().outcome.ret(), Some(-2));
    // No EXECVE: no argv (not the path, not the caller's PROCTITLE), and
    // the exe is the file tried, as the eBPF source records it.
    assert!(argv(&e).is_empty());
    assert!(e.exec().unwrap().argv_missing);
    assert_eq!(e.task.exe, Some(Bytes::from("/nonexistent")));
    // Nothing but the SYSCALL: the caller's exe, still no argv.
    let e = build(&[&sys]).unwrap();
    assert!(argv(&e).is_empty());
    assert!(e.exec().unwrap().argv_missing);
    assert_eq!(e.task.exe, Some(Bytes::from("/bin/bash")));
}

#[test]
fn exec_without_execve_has_no_argv() {
    let e = build(&[
        SYSCALL,
        r#"type=PROCTITLE msg=audit(1.000:9): proctitle=6C73002D6C00"#,
    ])
    .unwrap();
    assert!(argv(&e).is_empty(), "the PROCTITLE is not taken for argv");
    assert!(e.exec().unwrap().argv_missing);
    assert!(!e.exec().unwrap().truncated);
    assert_eq!(e.exec().unwrap().argc, None);
    assert_eq!(e.exec().unwrap().outcome, crate::event::Outcome::Success);
}

#[test]
fn execve_without_syscall_has_an_unknown_outcome() {
    let e = build(&[r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="ls" a1="-l""#]).unwrap();
    assert_eq!(argv(&e), ["ls", "-l"]);
    assert_eq!(e.exec().unwrap().outcome, crate::event::Outcome::Unknown);
    assert_eq!(e.kind(), crate::event::Kind::Exec);
    let j: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
    assert_eq!(j["outcome"], "unknown");
    assert!(j.get("ret").is_none());
}

/// The kernel splits an argument longer than its chunk size into
/// `aN[0]`, `aN[1]`...; `aN_len` is its length, counted in hex digits (two
/// per byte) when it is hex-encoded (kernel/auditsc.c,
/// `audit_log_single_execve_arg`). An argument whose pieces add up is whole.
#[test]
fn split_arguments_that_add_up_are_whole() {
    let hex = build(&[
        r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="echo" a1_len=16 a1[0]=41424344 a1[1]=0A464748"#,
    ])
    .unwrap();
    assert_eq!(argv(&hex), ["echo", "ABCD\nFGH"]);
    assert!(!hex.exec().unwrap().truncated, "16 hex digits are 8 bytes");
    let quoted = build(&[
        r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="echo" a1_len=8 a1[0]="ABCD" a1[1]="EFGH""#,
    ])
    .unwrap();
    assert!(!quoted.exec().unwrap().truncated);
    let cut = build(&[
        r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="echo" a1_len=20 a1[0]=41424344 a1[1]=0A464748"#,
    ])
    .unwrap();
    assert!(cut.exec().unwrap().truncated, "two bytes are missing");
}

/// The general field walk over a SYSCALL `body`: where the plain walk
/// refuses a body, both ways below fall back to it.
fn fold_general(body: &[u8]) -> (SyscallFold, Vec<u8>) {
    let mut buf = Vec::new();
    let mut fold = SyscallFold::default();
    let rec = format!(
        "type=SYSCALL msg=audit(1.000:9): {}",
        String::from_utf8_lossy(body)
    );
    let rec = parse_line(rec.as_bytes()).unwrap();
    for f in rec.fields() {
        fold.field(f.name, f.value, &mut buf);
    }
    (fold, buf)
}

fn shown((fold, buf): (SyscallFold, Vec<u8>)) -> (String, Vec<u8>) {
    let f = &fold;
    (
        format!(
            "{:?} {:?} {:?} {:?} {:?}",
            f.s, f.arch, f.nr, f.named_exec, f.items
        ),
        buf,
    )
}

/// Folds `body` by name only (every field through the plain walk, the
/// general one when that refuses): the reference for
/// [`SyscallFold::kernel_prefix`].
fn fold_by_name(body: &[u8]) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut fold = SyscallFold::default();
    if !plain_fields(body, |n, v| fold.field(n, v, &mut buf)) {
        return shown(fold_general(body));
    }
    shown((fold, buf))
}

/// The same the way `add_syscall` does it.
fn fold_by_place(body: &[u8]) -> (String, Vec<u8>) {
    let mut buf = Vec::new();
    let mut fold = SyscallFold::default();
    let rest = fold.kernel_prefix(body, &mut buf);
    if !plain_fields(rest, |n, v| fold.field(n, v, &mut buf)) {
        return shown(fold_general(body));
    }
    shown((fold, buf))
}

#[test]
fn kernel_order_fields_fold_as_by_name() {
    let body = SYSCALL.split_once("): ").unwrap().1.as_bytes();
    assert_eq!(fold_by_place(body), fold_by_name(body));
    // Every field was taken by its place: nothing was left but the key.
    let mut f = SyscallFold::default();
    assert_eq!(f.kernel_prefix(body, &mut Vec::new()), b"key=(null)");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 512,
        ..proptest::prelude::ProptestConfig::default()
    })]
    /// A kernel SYSCALL body, its fields sometimes dropped, doubled,
    /// swapped, given odd values (quotes, spaces, tabs, empty, names) or
    /// extra spaces: folded by place it is what folding by name gives.
    #[test]
    fn fields_by_place_are_fields_by_name(
        edits in proptest::collection::vec((0usize..26, 0u8..8, "[a-z0-9\"' \t=]{0,6}"), 0..6),
    ) {
        let mut words: Vec<String> = SYSCALL
            .split_once("): ")
            .unwrap()
            .1
            .split(' ')
            .map(str::to_owned)
            .collect();
        words.insert(2, "per=400000".into());
        for (at, op, text) in edits {
            let at = at % words.len();
            match op {
                0 => { words.remove(at); if words.is_empty() { words.push("arch=1".into()); } }
                1 => { let w = words[at].clone(); words.insert(at, w); }
                2 => { let j = (at + 1) % words.len(); words.swap(at, j); }
                3 => { let name = words[at].split('=').next().unwrap().to_owned(); words[at] = format!("{name}={text}"); }
                4 => { let name = words[at].split('=').next().unwrap().to_owned(); words[at] = format!("{name}=\"{text}\""); }
                5 => words[at].push(' '),
                6 => words[at] = text,
                _ => words[at].insert(0, '\t'),
            }
        }
        let body = words.join(" ");
        let body = body.trim_matches(' ');
        proptest::prop_assert_eq!(fold_by_place(body.as_bytes()), fold_by_name(body.as_bytes()));
    }
}

#[test]
fn cwd_and_path_read_in_any_form() {
    // The kernel's forms take the short route, anything else the general
    // walk; both give the same strings.
    let failed = r#"type=SYSCALL msg=audit(1.000:9): arch=c000003e syscall=59 success=no exit=-2 items=2 ppid=1 pid=2 auid=1000 uid=1000 ses=3 comm="sh" exe="/bin/sh""#;
    for (cwd, path, want_cwd, want_exe) in [
        (
            r#"cwd="/tmp""#,
            r#"item=0 name="/x" inode=1"#,
            Some("/tmp"),
            "/x",
        ),
        (
            "cwd=2F612062",
            "item=0 name=2F792077 inode=1",
            Some("/a b"),
            "/y w",
        ),
        (
            r#"cwd="/tmp" x=1"#,
            r#"nametype=UNKNOWN item=0 name="/z""#,
            Some("/tmp"),
            "/z",
        ),
        ("cwd=(null)", "item=0  name=\"/w\"", None, "/w"),
        (r#"cwd="/t"mp""#, r#"item=0 name="/v"v""#, Some("/t"), "/v"),
    ] {
        let e = build(&[
            failed,
            &format!("type=CWD msg=audit(1.000:9): {cwd}"),
            &format!("type=PATH msg=audit(1.000:9): {path}"),
            r#"type=PATH msg=audit(1.000:9): item=1 name="/lib/ld.so""#,
        ])
        .unwrap();
        let x = e.exec().unwrap();
        assert_eq!(
            x.cwd
                .as_ref()
                .map(|c| c.to_string_lossy().into_owned())
                .as_deref(),
            want_cwd,
            "{cwd}"
        );
        assert_eq!(
            e.task.exe.as_ref().unwrap().to_string_lossy(),
            want_exe,
            "{path}"
        );
    }
}
