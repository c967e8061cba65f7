//! Unit tests of the rule parser and printer (no kernel needed).

use super::*;

fn add(line: &str) -> KernelRule {
    match parse_line(line) {
        Ok(Some(Directive::Add(r))) => *r,
        other => panic!("{line}: {other:?}"),
    }
}

fn reason(line: &str) -> (String, String) {
    match parse_line(line) {
        Err(e) => e,
        Ok(d) => panic!("{line}: accepted as {d:?}"),
    }
}

#[test]
fn shipped_rules_parse_and_print_like_auditctl() {
    let ds = parse_rules(SHIPPED_RULES, SHIPPED_RULES_ORIGIN).unwrap();
    let printed: Vec<String> = ds
        .iter()
        .map(|d| match &d.directive {
            Directive::Add(r) => format_rule(r),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        printed,
        [
            "-a always,exit -F arch=b64 -S execve,execveat -F key=tracer_exec",
            "-a always,exit -F arch=b32 -S execve,execveat -F key=tracer_exec",
        ]
    );
    assert!(ds.iter().all(|d| match &d.directive {
        Directive::Add(r) => r.is_tracer_owned(),
        _ => false,
    }));
}

#[test]
fn syscalls_follow_the_rules_arch_wherever_it_is_written() {
    let r = add("-a exit,always -S execve -F arch=b32 -k tracer_x");
    assert!(r.has_syscall(11) && !r.has_syscall(59));
    assert_eq!(r.num_field(AUDIT_ARCH), Some(AUDIT_ARCH_I386));
    let r = add("-a always,exit -F arch=b64 -S execve -S 322 -k tracer_x");
    assert!(r.has_syscall(59) && r.has_syscall(322));
}

#[test]
fn fields_and_operators() {
    let r = add("-A never,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=unset -F uid=0 -F exe=/usr/bin/foo -F key=tracer_y");
    assert_eq!(r.list, AUDIT_FILTER_EXIT | AUDIT_FILTER_PREPEND);
    assert_eq!(r.action, AUDIT_NEVER);
    let f: Vec<(u32, u32)> = r.fields.iter().map(|f| (f.field, f.op)).collect();
    assert_eq!(
        f,
        [
            (AUDIT_ARCH, AUDIT_EQUAL),
            (AUDIT_LOGINUID, AUDIT_GREATER_THAN_OR_EQUAL),
            (AUDIT_LOGINUID, AUDIT_NOT_EQUAL),
            (AUDIT_UID, AUDIT_EQUAL),
            (AUDIT_EXE, AUDIT_EQUAL),
            (AUDIT_FILTERKEY, AUDIT_EQUAL),
        ]
    );
    assert_eq!(r.fields[2].value, FieldValue::Num(u32::MAX));
    assert_eq!(
        format_rule(&r),
        "-a never,exit -F arch=b64 -S execve -F auid>=1000 -F auid!=-1 -F uid=0 -F exe=/usr/bin/foo -F key=tracer_y"
    );
    for unset in ["-1", "4294967295", "unset"] {
        let r = add(&format!(
            "-a always,exit -S execve -F auid!={unset} -k tracer_z"
        ));
        assert_eq!(r.fields[0].value, FieldValue::Num(u32::MAX));
    }
}

#[test]
fn directives_and_comments() {
    assert_eq!(parse_line("   # a comment").unwrap(), None);
    assert_eq!(parse_line("").unwrap(), None);
    assert_eq!(
        parse_line("-D").unwrap(),
        Some(Directive::DeleteOwned { key: None })
    );
    assert_eq!(
        parse_line("-D -k tracer_exec").unwrap(),
        Some(Directive::DeleteOwned {
            key: Some("tracer_exec".into())
        })
    );
    assert_eq!(parse_line("-e 1").unwrap(), Some(Directive::Enable(1)));
    assert_eq!(
        parse_line("-b 8192").unwrap(),
        Some(Directive::BacklogLimit(8192))
    );
    let r = add("-a always,exit -k tracer_all");
    assert!(r.all_syscalls());
}

#[test]
fn bad_lines_name_the_token() {
    let cases: &[(&str, &str, &str)] = &[
        ("-a always,exit -S execve", "-a", "needs a key"),
        (
            "-a always,exit -S execve -k site_exec",
            "site_exec",
            "tracer only manages",
        ),
        (
            "-a always,exit -S nosuchcall -k tracer_x",
            "nosuchcall",
            "unknown syscall",
        ),
        (
            "-a sometimes,exit -k tracer_x",
            "sometimes,exit",
            "always|never",
        ),
        (
            "-a always,exit -F auid>=bob -k tracer_x",
            "auid>=bob",
            "names are not resolved",
        ),
        (
            "-a always,exit -F colour=red -k tracer_x",
            "colour=red",
            "unsupported field",
        ),
        (
            "-a always,exit -F exe=relative -k tracer_x",
            "exe=relative",
            "absolute path",
        ),
        (
            "-a always,exit -F path>/etc -k tracer_x",
            "path>/etc",
            "path takes =",
        ),
        (
            "-a always,task -S execve -k tracer_x",
            "execve",
            "exit list",
        ),
        ("-w /etc/passwd -p wa", "-w", "unsupported auditctl option"),
        ("-e 2", "2", "locks audit"),
        (
            "-a always,exit -k tracer_a -k tracer_b",
            "tracer_b",
            "one key",
        ),
        ("-D -e 1", "-D -e 1", "exactly one"),
        ("-a always,exit -F", "-F", "needs name<op>value"),
    ];
    for (line, token, why) in cases {
        let (t, r) = reason(line);
        assert_eq!(t, *token, "{line}: {r}");
        assert!(r.contains(why), "{line}: {r:?} lacks {why:?}");
    }
}

#[test]
fn errors_name_file_and_line() {
    let e = parse_rules("# ok\n-a always,exit -k tracer_x\n-x\n", "my.rules").unwrap_err();
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "my.rules:3: unsupported auditctl option (at `-x`)"
    );
}

#[test]
fn encode_decode_round_trip_of_parsed_rules() {
    let r = add("-a always,exit -F arch=b64 -S execve -F exe=/bin/x -F auid>=1000 -k tracer_rt");
    assert_eq!(KernelRule::decode(&r.encode()).unwrap(), r);
}
