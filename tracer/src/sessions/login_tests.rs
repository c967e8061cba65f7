use super::*;

fn t(s: i64) -> Timestamp {
    Timestamp::from_secs_nanos(s, 0)
}

fn rec<'a>(time: i64, name: &str, pid: u32, exe: &'a str) -> LoginFact<'a> {
    LoginFact {
        time: t(time),
        record: Some(LoginRecord::from_name(name)),
        pid: Some(pid),
        auid: Some(1000),
        ses: Some(7),
        success: Some(true),
        exe: (!exe.is_empty()).then_some(exe.as_bytes()),
        ..LoginFact::default()
    }
}

#[test]
fn sudo_and_su_inside_a_login_never_start_or_end_it() {
    let mut l = Login::default();
    // The sshd flow of go-libaudit's audit-rhel7.log, then sudo and su.
    assert_eq!(l.apply(&rec(10, "LOGIN", 500, "")), Verdict::Opened);
    let mut start = rec(11, "USER_START", 500, "/usr/sbin/sshd");
    start.addr = Some("192.0.2.9");
    start.terminal = Some("ssh");
    start.acct = Some("alice");
    assert_eq!(l.apply(&start), Verdict::Own);
    let mut ul = rec(11, "USER_LOGIN", 500, "/usr/sbin/sshd");
    ul.terminal = Some("/dev/pts/0");
    assert_eq!(l.apply(&ul), Verdict::Own);
    assert_eq!(
        l.apply(&rec(20, "USER_CMD", 600, "/usr/bin/sudo")),
        Verdict::Command
    );
    let mut sudo = rec(20, "USER_START", 600, "/usr/bin/sudo");
    sudo.acct = Some("root");
    sudo.addr = Some("10.9.9.9");
    assert_eq!(l.apply(&sudo), Verdict::Nested);
    assert_eq!(
        l.apply(&rec(21, "USER_END", 600, "/usr/bin/sudo")),
        Verdict::Nested
    );
    assert_eq!(
        l.apply(&rec(30, "USER_START", 700, "/bin/su")),
        Verdict::Nested
    );
    assert_eq!(
        l.apply(&rec(35, "USER_END", 700, "/bin/su")),
        Verdict::Nested
    );
    assert_eq!(l.end, None);
    assert_eq!(
        l.apply(&rec(90, "USER_END", 500, "/usr/sbin/sshd")),
        Verdict::Closed
    );
    assert_eq!(
        l.apply(&rec(90, "USER_LOGOUT", 500, "/usr/sbin/sshd")),
        Verdict::Closed
    );
    assert_eq!(l.start, Some(t(10)));
    assert_eq!(l.end, Some(t(90)));
    assert_eq!(l.kind, SessionKind::Interactive);
    assert_eq!(l.service.as_deref(), Some("sshd"));
    assert_eq!(l.addr.as_deref(), Some("192.0.2.9"));
    assert_eq!(l.tty.as_deref(), Some("pts/0"));
    assert_eq!(l.user.as_deref(), Some("alice"));
}

#[test]
fn without_login_record_the_first_login_service_record_leads() {
    let mut l = Login::default();
    // The log starts inside the session: sudo first, then sshd's end.
    assert_eq!(
        l.apply(&rec(5, "USER_START", 600, "/usr/bin/sudo")),
        Verdict::Nested
    );
    assert_eq!(l.leader, None);
    assert_eq!(
        l.apply(&rec(50, "USER_END", 500, "/usr/sbin/sshd")),
        Verdict::Closed
    );
    assert_eq!(l.leader, Some(500));
    assert_eq!(l.start, None);
    assert_eq!(l.end, Some(t(50)));
    assert_eq!(
        l.apply(&rec(60, "USER_END", 600, "/usr/bin/sudo")),
        Verdict::Nested
    );
}

#[test]
fn cron_and_systemd_user_sessions_are_labelled() {
    let mut c = Login::default();
    c.apply(&rec(1, "LOGIN", 42, "/usr/sbin/cron"));
    let mut s = rec(1, "USER_START", 42, "/usr/sbin/cron");
    s.terminal = Some("cron");
    c.apply(&s);
    assert_eq!(c.kind, SessionKind::Cron);
    assert_eq!(c.tty, None);
    assert_eq!(
        c.apply(&rec(2, "USER_END", 42, "/usr/sbin/cron")),
        Verdict::Closed
    );
    let mut u = Login::default();
    u.apply(&rec(1, "LOGIN", 43, ""));
    u.apply(&rec(1, "USER_START", 43, "/usr/lib/systemd/systemd"));
    assert_eq!(u.kind, SessionKind::SystemdUser);
}

#[test]
fn failures_and_order() {
    let mut l = Login::default();
    let mut f = rec(1, "USER_LOGIN", 9, "/usr/sbin/sshd");
    f.success = Some(false);
    f.acct = Some("mallory");
    f.addr = Some("203.0.113.5");
    assert_eq!(l.apply(&f), Verdict::Ignored);
    assert_eq!(l.start, None);
    let a = failed_attempt(&f).unwrap();
    assert_eq!(a.user, Some("mallory"));
    assert_eq!(a.addr, Some("203.0.113.5"));
    assert!(a.login);
    assert!(failed_attempt(&rec(1, "USER_LOGIN", 9, "")).is_none());
    // An end stamped before the start never makes start > end.
    l.apply(&rec(100, "LOGIN", 9, ""));
    l.apply(&rec(90, "USER_END", 9, "/usr/sbin/sshd"));
    assert!(l.start <= l.end);
}
