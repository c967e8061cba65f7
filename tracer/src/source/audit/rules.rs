//! tracer's audit rules: auditctl's syntax (the subset `rules/*.rules` use)
//! parsed into kernel rules, printed back like `auditctl -l`, and loaded,
//! listed and cleared over netlink.
//!
//! Ownership: tracer only manages rules whose every key starts with
//! `tracer` ([`KernelRule::is_tracer_owned`]). `load` refuses rules without
//! such a key and `clear` (and `-D` in a rules file) deletes nothing else,
//! because sites run their own auditd rules beside ours.
//!
//! Supported: `-a`/`-A action,list` (either order; lists exit, task, user,
//! exclude), `-S name[,name]` (or repeated, or `all`), `-F name<op>value`
//! with the names in [`super::syscalls::FIELDS`] and operators
//! `= != < > <= >= & &=`, `-k key`, `-D [-k key]`, `-e 0|1`, `-b N`;
//! `#` comments and blank lines.

use netlink_packet_audit::constants::*;

use super::netlink::{AuditSocket, NetlinkError};
use super::rule_data::{FieldValue, KernelRule, RuleField, TRACER_KEY_PREFIX};
use super::status;
use super::syscalls::{
    arch_from_name, arch_name, field_by_name, field_name, native_arches, parse_u32, syscall_name,
    syscall_nr, FieldKind,
};

/// tracer's shipped rules (`rules/tracer.rules`), the default of `load`.
pub const SHIPPED_RULES: &str = include_str!("../../../../rules/tracer.rules");
pub const SHIPPED_RULES_ORIGIN: &str = "rules/tracer.rules (built in)";

/// What one line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Directive {
    /// `-a`/`-A`: add a rule.
    Add(Box<KernelRule>),
    /// `-D [-k KEY]`: delete tracer's rules (with that key).
    DeleteOwned { key: Option<String> },
    /// `-e 0|1`.
    Enable(u32),
    /// `-b N`.
    BacklogLimit(u32),
}

/// A directive and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub origin: String,
    pub line: usize,
    pub directive: Directive,
}

/// A line tracer can't accept, with the file, line and token to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}: {reason} (at `{token}`)")]
pub struct RuleError {
    pub origin: String,
    pub line: usize,
    pub token: String,
    pub reason: String,
}

/// A parse error before the file and line are known: (token, reason).
type LineError = (String, String);

fn err<T>(token: &str, reason: impl Into<String>) -> Result<T, LineError> {
    Err((token.to_string(), reason.into()))
}

/// Parse a whole rules file; nothing is applied if any line is wrong.
pub fn parse_rules(text: &str, origin: &str) -> Result<Vec<Located>, RuleError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match parse_line(line) {
            Ok(None) => {}
            Ok(Some(directive)) => out.push(Located {
                origin: origin.to_string(),
                line: i + 1,
                directive,
            }),
            Err((token, reason)) => {
                return Err(RuleError {
                    origin: origin.to_string(),
                    line: i + 1,
                    token,
                    reason,
                })
            }
        }
    }
    Ok(out)
}

/// Parse one line; `Ok(None)` for comments and blank lines.
pub fn parse_line(line: &str) -> Result<Option<Directive>, LineError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let mut toks = trimmed.split_whitespace();
    let mut add: Option<(&str, KernelRule)> = None;
    let mut delete = false;
    let mut other: Option<Directive> = None;
    let mut syscalls: Vec<&str> = Vec::new();
    let mut fields: Vec<(&str, RuleField)> = Vec::new();
    let mut key: Option<&str> = None;
    while let Some(opt) = toks.next() {
        let mut arg = |what: &str| match toks.next() {
            Some(a) => Ok(a),
            None => err(opt, format!("{opt} needs {what}")),
        };
        match opt {
            "-a" | "-A" => {
                let a = arg("action,list")?;
                if add.is_some() {
                    return err(opt, "only one -a/-A per line");
                }
                let (list, action) = action_list(a)?;
                let list = if opt == "-A" {
                    list | AUDIT_FILTER_PREPEND
                } else {
                    list
                };
                add = Some((opt, KernelRule::new(list, action)));
            }
            "-S" => syscalls.extend(arg("a syscall name")?.split(',')),
            "-F" => {
                let f = arg("name<op>value")?;
                let field = parse_field(f)?;
                if field.field == AUDIT_FILTERKEY {
                    set_key(&mut key, f, key_value(f, &field)?)?;
                } else {
                    fields.push((f, field));
                }
            }
            "-k" => {
                let k = arg("a key")?;
                set_key(&mut key, k, k)?;
            }
            "-D" => delete = true,
            "-e" => {
                let v = arg("0 or 1")?;
                other = Some(match v {
                    "0" | "1" => Directive::Enable(if v == "1" { 1 } else { 0 }),
                    "2" => return err(v, "-e 2 locks audit until reboot; tracer won't do that"),
                    _ => return err(v, "-e takes 0 or 1"),
                });
            }
            "-b" => {
                let v = arg("a number")?;
                let n =
                    parse_u32(v).ok_or_else(|| (v.to_string(), "-b takes a number".to_string()))?;
                other = Some(Directive::BacklogLimit(n));
            }
            _ => return err(opt, "unsupported auditctl option"),
        }
    }
    if let Some(k) = key {
        if !k.starts_with(TRACER_KEY_PREFIX) {
            return err(
                k,
                format!("tracer only manages rules keyed `{TRACER_KEY_PREFIX}*`"),
            );
        }
        if k.len() > AUDIT_MAX_KEY_LEN {
            return err(k, format!("keys are at most {AUDIT_MAX_KEY_LEN} bytes"));
        }
    }
    let kinds = [add.is_some(), delete, other.is_some()];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return err(trimmed, "a line needs exactly one of -a/-A, -D, -e, -b");
    }
    if delete || other.is_some() {
        if let Some((tok, _)) = fields.first() {
            return err(tok, "-F only belongs to -a/-A rules");
        }
        if let Some(s) = syscalls.first() {
            return err(s, "-S only belongs to -a/-A rules");
        }
    }
    if delete {
        return Ok(Some(Directive::DeleteOwned {
            key: key.map(str::to_string),
        }));
    }
    if let Some(d) = other {
        if let Some(k) = key {
            return err(k, "-k only belongs to -a/-A rules and -D");
        }
        return Ok(Some(d));
    }
    let Some((opt, mut rule)) = add else {
        unreachable!("exactly one kind is set and it is not delete/other");
    };
    let Some(k) = key else {
        return err(
            opt,
            format!("the rule needs a key: -k {TRACER_KEY_PREFIX}_..."),
        );
    };
    // Syscall names depend on the rule's architecture, wherever -F arch= is.
    let arch = fields
        .iter()
        .find(|(_, f)| f.field == AUDIT_ARCH && f.op == AUDIT_EQUAL)
        .and_then(|(_, f)| match f.value {
            FieldValue::Num(a) => Some(a),
            FieldValue::Str(_) => None,
        })
        .unwrap_or(native_arches().0);
    if !syscalls.is_empty() && rule.list_nr() != AUDIT_FILTER_EXIT {
        return err(syscalls[0], "-S only applies to the exit list");
    }
    for s in &syscalls {
        if *s == "all" {
            rule.mask = [u32::MAX; AUDIT_BITMASK_SIZE];
        } else {
            let nr = syscall_nr(arch, s).ok_or_else(|| {
                (
                    s.to_string(),
                    format!("unknown syscall for arch {}", arch_name(arch)),
                )
            })?;
            if nr as usize >= AUDIT_BITMASK_SIZE * 32 {
                return err(s, "syscall number out of range");
            }
            rule.set_syscall(nr);
        }
    }
    if syscalls.is_empty() {
        // auditctl's behaviour: a rule without -S applies to every syscall.
        rule.mask = [u32::MAX; AUDIT_BITMASK_SIZE];
    }
    for (tok, f) in fields {
        if matches!(f.field, AUDIT_EXE | AUDIT_WATCH) && rule.list_nr() != AUDIT_FILTER_EXIT {
            return err(tok, "exe= and path= only apply to the exit list");
        }
        rule.fields.push(f);
    }
    rule.fields.push(RuleField {
        field: AUDIT_FILTERKEY,
        op: AUDIT_EQUAL,
        value: FieldValue::Str(k.as_bytes().to_vec()),
    });
    if rule.fields.len() > AUDIT_MAX_FIELDS {
        return err(opt, format!("more than {AUDIT_MAX_FIELDS} fields"));
    }
    Ok(Some(Directive::Add(Box::new(rule))))
}

fn set_key<'a>(slot: &mut Option<&'a str>, tok: &str, k: &'a str) -> Result<(), LineError> {
    if slot.is_some() {
        return err(tok, "one key per rule");
    }
    *slot = Some(k);
    Ok(())
}

fn key_value<'a>(tok: &'a str, f: &RuleField) -> Result<&'a str, LineError> {
    if f.op != AUDIT_EQUAL {
        return err(tok, "key takes =");
    }
    Ok(tok.split_once('=').map_or("", |(_, v)| v))
}

const LISTS: &[(&str, u32)] = &[
    ("exit", AUDIT_FILTER_EXIT),
    ("task", AUDIT_FILTER_TASK),
    ("user", AUDIT_FILTER_USER),
    ("exclude", AUDIT_FILTER_TYPE),
];
const ACTIONS: &[(&str, u32)] = &[("always", AUDIT_ALWAYS), ("never", AUDIT_NEVER)];
const OPS: &[(&str, u32)] = &[
    ("!=", AUDIT_NOT_EQUAL),
    ("<=", AUDIT_LESS_THAN_OR_EQUAL),
    (">=", AUDIT_GREATER_THAN_OR_EQUAL),
    ("&=", AUDIT_BIT_TEST),
    ("=", AUDIT_EQUAL),
    ("<", AUDIT_LESS_THAN),
    (">", AUDIT_GREATER_THAN),
    ("&", AUDIT_BIT_MASK),
];

fn lookup(table: &[(&str, u32)], s: &str) -> Option<u32> {
    table.iter().find(|(n, _)| *n == s).map(|&(_, v)| v)
}

fn name_of(table: &[(&'static str, u32)], v: u32) -> Option<&'static str> {
    table.iter().find(|&&(_, x)| x == v).map(|&(n, _)| n)
}

/// `always,exit` or `exit,always` -> (list, action).
fn action_list(s: &str) -> Result<(u32, u32), LineError> {
    let Some((a, b)) = s.split_once(',') else {
        return err(s, "expected action,list such as always,exit");
    };
    let pair = |x: &str, y: &str| Some((lookup(LISTS, y)?, lookup(ACTIONS, x)?));
    pair(a, b).or_else(|| pair(b, a)).ok_or_else(|| {
        (
            s.to_string(),
            "expected always|never and exit|task|user|exclude".into(),
        )
    })
}

/// `name<op>value` -> a kernel field.
fn parse_field(tok: &str) -> Result<RuleField, LineError> {
    let at = tok
        .find(['=', '!', '<', '>', '&'])
        .ok_or_else(|| (tok.to_string(), "expected name<op>value".to_string()))?;
    let (name, rest) = tok.split_at(at);
    let (op_s, op) = OPS
        .iter()
        .find(|(o, _)| rest.starts_with(o))
        .copied()
        .ok_or_else(|| (tok.to_string(), "unknown operator".to_string()))?;
    let value = &rest[op_s.len()..];
    let (field, kind) = field_by_name(name)
        .ok_or_else(|| (tok.to_string(), format!("unsupported field `{name}`")))?;
    if value.is_empty() {
        return err(tok, "missing value");
    }
    let eq_only = |ok: &[u32]| {
        if ok.contains(&op) {
            Ok(())
        } else {
            err(
                tok,
                format!(
                    "{name} takes {}",
                    if ok.len() == 1 { "=" } else { "= or !=" }
                ),
            )
        }
    };
    let value =
        match kind {
            FieldKind::Id => FieldValue::Num(match value {
                "unset" | "-1" => u32::MAX,
                v => v.parse().map_err(|_| {
                    (
                        tok.to_string(),
                        format!("{name} takes a number, `unset` or -1 (names are not resolved)"),
                    )
                })?,
            }),
            FieldKind::Number => FieldValue::Num(match value.parse::<i64>() {
                Ok(n) if (i32::MIN as i64..=u32::MAX as i64).contains(&n) => n as u32,
                _ => return err(tok, format!("{name} takes a number")),
            }),
            FieldKind::Arch => {
                eq_only(&[AUDIT_EQUAL, AUDIT_NOT_EQUAL])?;
                FieldValue::Num(arch_from_name(value).ok_or_else(|| {
                    (tok.to_string(), "unknown arch (use b64 or b32)".to_string())
                })?)
            }
            FieldKind::Path => {
                eq_only(if field == AUDIT_EXE {
                    &[AUDIT_EQUAL, AUDIT_NOT_EQUAL]
                } else {
                    &[AUDIT_EQUAL]
                })?;
                if !value.starts_with('/') || value.ends_with('/') {
                    return err(tok, format!("{name} takes an absolute path to a file"));
                }
                FieldValue::Str(value.as_bytes().to_vec())
            }
            FieldKind::Key => FieldValue::Str(value.as_bytes().to_vec()),
        };
    Ok(RuleField { field, op, value })
}

/// A rule the way `auditctl -l` prints it.
pub fn format_rule(rule: &KernelRule) -> String {
    let list =
        name_of(LISTS, rule.list_nr()).map_or_else(|| rule.list_nr().to_string(), str::to_string);
    let action =
        name_of(ACTIONS, rule.action).map_or_else(|| rule.action.to_string(), str::to_string);
    let mut out = format!("-a {action},{list}");
    let arch = rule.num_field(AUDIT_ARCH);
    let syscalls = |out: &mut String| {
        if rule.list_nr() == AUDIT_FILTER_EXIT && !rule.all_syscalls() {
            let a = arch.unwrap_or(native_arches().0);
            let names: Vec<String> = (0..(AUDIT_BITMASK_SIZE * 32) as u32)
                .filter(|&n| rule.has_syscall(n))
                .map(|n| syscall_name(a, n))
                .collect();
            out.push_str(&format!(" -S {}", names.join(",")));
        }
    };
    if arch.is_none() {
        syscalls(&mut out);
    }
    for f in &rule.fields {
        let (name, kind) = field_name(f.field).unwrap_or(("?", FieldKind::Number));
        let name = if name == "?" {
            format!("field{}", f.field)
        } else {
            name.to_string()
        };
        let op = name_of(OPS, f.op).unwrap_or("?");
        let value = match (&f.value, kind) {
            (FieldValue::Str(s), _) => String::from_utf8_lossy(s).replace('\x01', ","),
            (FieldValue::Num(v), FieldKind::Arch) => arch_name(*v),
            (FieldValue::Num(u32::MAX), FieldKind::Id) => "-1".into(),
            (FieldValue::Num(v), FieldKind::Number) => (*v as i32).to_string(),
            (FieldValue::Num(v), _) => v.to_string(),
        };
        out.push_str(&format!(" -F {name}{op}{value}"));
        if f.field == AUDIT_ARCH {
            syscalls(&mut out);
        }
    }
    out
}

/// What `load` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LoadReport {
    pub added: usize,
    /// Rules the kernel already had (EEXIST): loading twice is harmless.
    pub present: usize,
    pub deleted: usize,
}

/// Apply parsed directives in order.
pub fn load(directives: &[Located]) -> Result<LoadReport, NetlinkError> {
    let mut sock = AuditSocket::open()?;
    let mut report = LoadReport::default();
    for d in directives {
        match &d.directive {
            Directive::Add(rule) => {
                if sock.add_rule(rule)? {
                    report.added += 1;
                } else {
                    report.present += 1;
                }
            }
            Directive::DeleteOwned { key } => {
                report.deleted += clear_with(&mut sock, key.as_deref())?
            }
            Directive::Enable(v) => {
                status::set_enabled(*v)?;
            }
            Directive::BacklogLimit(n) => {
                status::set_backlog_limit(*n)?;
            }
        }
    }
    Ok(report)
}

/// Every rule in the kernel, tracer's or not.
pub fn list_all() -> Result<Vec<KernelRule>, NetlinkError> {
    AuditSocket::open()?.list_rules()
}

/// tracer's rules in the kernel.
pub fn list_owned() -> Result<Vec<KernelRule>, NetlinkError> {
    Ok(list_all()?
        .into_iter()
        .filter(KernelRule::is_tracer_owned)
        .collect())
}

/// Delete tracer's rules (only those with `key`, if given); returns how many.
pub fn clear(key: Option<&str>) -> Result<usize, NetlinkError> {
    clear_with(&mut AuditSocket::open()?, key)
}

fn clear_with(sock: &mut AuditSocket, key: Option<&str>) -> Result<usize, NetlinkError> {
    let mut n = 0;
    for rule in sock.list_rules()? {
        let key_ok = key.is_none_or(|k| rule.keys().contains(&k.as_bytes()));
        if rule.is_tracer_owned() && key_ok && sock.del_rule(&rule)? {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
