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
    e.argv
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
    assert_eq!(e.kind, Kind::Exec);
    assert_eq!(e.source, Source::Audit);
    assert_eq!(argv(&e), ["ls", "-l", ""]);
    assert_eq!(e.argc, Some(3));
    assert!(!e.truncated);
    assert_eq!(e.cwd, Some(Bytes::from("/tmp/a b c")));
    assert_eq!(
        (e.pid, e.ppid, e.uid, e.euid, e.gid, e.egid, e.auid, e.ses),
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
    assert_eq!(e.tty.as_deref(), Some("pts/1"));
    assert_eq!(e.comm, Some(Bytes::from("ls")));
    assert_eq!(e.exe, Some(Bytes::from("/bin/ls")));
    assert_eq!(e.key, None);
    assert_eq!(e.ret, Some(0));
    assert_eq!(e.serial, Some(9));
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
    assert!(!e.truncated);
}

#[test]
fn truncation_is_flagged() {
    // A chunk missing: length does not add up.
    let e =
        build(&[r#"type=EXECVE msg=audit(1.000:9): argc=2 a0="x" a1_len=9 a1[0]="abc""#]).unwrap();
    assert_eq!(argv(&e), ["x", "abc"]);
    assert!(e.truncated);
    // Fewer args than argc.
    let e = build(&[r#"type=EXECVE msg=audit(1.000:9): argc=4 a0="x" a1="y""#]).unwrap();
    assert_eq!(argv(&e), ["x", "y"]);
    assert!(e.truncated);
    // A gap: later args are not shifted into its place.
    let e = build(&[r#"type=EXECVE msg=audit(1.000:9): argc=3 a0="x" a2="z""#]).unwrap();
    assert_eq!(argv(&e), ["x"]);
    assert!(e.truncated);
}

#[test]
fn unset_ids_and_no_tty() {
    let line = SYSCALL
        .replace("auid=1000", "auid=4294967295")
        .replace("ses=3", "ses=-1")
        .replace("tty=pts1", "tty=(none)");
    let e = build(&[&line]).unwrap();
    assert_eq!((e.auid, e.ses, e.tty), (Some(UNSET), Some(UNSET), None));
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
    assert_eq!(e.kind, Kind::ExecFailed);
    assert_eq!(e.ret, Some(-2));
    assert_eq!(argv(&e), ["/nonexistent"]);
    assert_eq!(e.exe, Some(Bytes::from("/bin/bash")));
    // Nothing but the SYSCALL: the exe.
    let e = build(&[&sys]).unwrap();
    assert_eq!(argv(&e), ["/bin/bash"]);
}

#[test]
fn exec_without_execve_uses_proctitle() {
    let e = build(&[
        SYSCALL,
        r#"type=PROCTITLE msg=audit(1.000:9): proctitle=6C73002D6C00"#,
    ])
    .unwrap();
    assert_eq!(argv(&e), ["ls", "-l"]);
    assert_eq!(e.argc, None);
}

#[test]
fn other_syscalls_and_arches() {
    let open = SYSCALL.replace("syscall=59", "syscall=2");
    assert!(build(&[&open, r#"type=CWD msg=audit(1.000:9): cwd="/""#]).is_none());
    // An EXECVE does not make a known non-exec syscall an exec, in any order.
    assert!(build(&[r#"type=EXECVE msg=audit(1.000:9): argc=1 a0="x""#, &open]).is_none());
    let i386 = SYSCALL.replace("arch=c000003e syscall=59", "arch=40000003 syscall=11");
    assert!(build(&[&i386]).is_some());
    let execveat = SYSCALL.replace("syscall=59", "syscall=322");
    assert!(build(&[&execveat]).is_some());
    let aarch64 = SYSCALL.replace("arch=c000003e syscall=59", "arch=c00000b7 syscall=221");
    assert!(build(&[&aarch64]).is_some());
    // Unknown arch (ppc64le): only EXECVE makes it an exec.
    let ppc = SYSCALL.replace("arch=c000003e syscall=59", "arch=c0000015 syscall=11");
    assert!(build(&[&ppc]).is_none());
    assert!(build(&[&ppc, r#"type=EXECVE msg=audit(1.000:9): argc=1 a0="x""#]).is_some());
    // Already-interpreted records: not numbers, not an exec we can vouch for.
    let interp = SYSCALL.replace("arch=c000003e syscall=59", "arch=x86_64 syscall=execve");
    assert!(build(&[&interp]).is_none());
}

#[test]
fn multiple_keys_and_hex_exe() {
    let line = SYSCALL
        .replace("key=(null)", "key=65786563013634626974")
        .replace("exe=\"/bin/ls\"", "exe=2F62696E2F6C73202864656C6574656429");
    let e = build(&[&line]).unwrap();
    assert_eq!(e.key.as_deref(), Some("exec,64bit"));
    assert_eq!(e.exe, Some(Bytes::from("/bin/ls (deleted)")));
}

#[test]
fn tty_names() {
    assert_eq!(syscall_tty(b"pts12").as_deref(), Some("pts/12"));
    assert_eq!(syscall_tty(b"tty1").as_deref(), Some("tty1"));
    assert_eq!(syscall_tty(b"ttyS0").as_deref(), Some("ttyS0"));
    assert_eq!(syscall_tty(b"pts").as_deref(), Some("pts"));
    assert_eq!(syscall_tty(b"(none)"), None);
}

#[test]
fn many_args() {
    let mut line = String::from("type=EXECVE msg=audit(1.000:9): argc=5000");
    for i in 0..5000 {
        line.push_str(&format!(" a{i}=\"{i}\""));
    }
    let e = build(&[&line]).unwrap();
    let a = argv(&e);
    assert_eq!(a.len(), 5000);
    assert_eq!(a[4999], "4999");
    assert!(!e.truncated);
}
