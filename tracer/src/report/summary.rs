//! `--summary`: counts instead of commands. Per login user: sessions,
//! commands, failed execs, first and last seen, top commands (by base name of
//! argv\[0\]); per session (and per unattributed group or job) the same
//! counts. The model keeps no commands in this mode, only counters, so a
//! summary of any amount of log needs memory only per session.

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{json, Value};

use crate::event::{Timestamp, UNSET};

use super::display::{self, Ctx};
use super::model::{Group, GroupBy, GroupKey, Report, Sym};
use super::stats::Stats;
use super::{csv, json as json_out, text, OutputFormat};

/// How many top commands are listed.
pub const TOP: usize = 5;

/// The groups of one login user, or of the unattributed / job lists.
struct Section<'a> {
    auid: Option<u32>,
    groups: Vec<&'a Group>,
}

impl Section<'_> {
    fn commands(&self) -> u64 {
        self.groups.iter().map(|g| g.commands).sum()
    }
    fn failed(&self) -> u64 {
        self.groups.iter().map(|g| g.failed).sum()
    }
    fn first(&self) -> Option<Timestamp> {
        self.groups.iter().filter_map(|g| g.first.or(g.start)).min()
    }
    fn last(&self) -> Option<Timestamp> {
        self.groups.iter().filter_map(|g| g.last.max(g.end)).max()
    }
}

fn sections(report: &Report) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    for g in &report.groups {
        let auid = match g.key {
            GroupKey::Session { auid, .. } => Some(auid),
            GroupKey::Job { .. } if report.by == GroupBy::Session => g.job().uid,
            _ => None,
        };
        match out.last_mut() {
            Some(s) if s.auid == auid => s.groups.push(g),
            _ => out.push(Section {
                auid,
                groups: vec![g],
            }),
        }
    }
    out
}

/// The `n` most frequent commands, most frequent first, ties by name.
fn top(report: &Report, groups: &[&Group], n: usize) -> Vec<(String, u64)> {
    let mut counts: HashMap<Sym, u64> = HashMap::new();
    for g in groups {
        for (&k, &v) in &g.top {
            *counts.entry(k).or_default() += v;
        }
    }
    let mut v: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, c)| (super::quote::quote_arg(report.strings.get(k)), c))
        .collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

pub fn render(
    report: &Report,
    stats: &Stats,
    ctx: &Ctx<'_>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> io::Result<()> {
    match format {
        OutputFormat::Text => render_text(report, stats, ctx, out),
        OutputFormat::Json => json_out::write_doc(&to_json(report, stats, ctx), out),
        OutputFormat::Csv => render_csv(report, ctx, out),
    }
}

fn render_text(
    report: &Report,
    stats: &Stats,
    ctx: &Ctx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let t = |o: Option<Timestamp>| o.map_or("?".into(), |t| ctx.time(t));
    let multi = report.multi_boot_hosts();
    for s in sections(report) {
        let title = match (s.auid, s.groups[0].key) {
            (Some(a), _) => ctx.user_label(
                a,
                s.groups[0].user.as_deref(),
                &report.strings.str(s.groups[0].host()),
            ),
            (None, GroupKey::Job { .. }) => "jobs".into(),
            (None, _) => "unattributed (no login uid)".into(),
        };
        let failed = if s.failed() > 0 {
            format!(", {} failed", s.failed())
        } else {
            String::new()
        };
        let n = s.groups.len();
        let what = if s.auid.is_some() { "session" } else { "group" };
        writeln!(
            out,
            "{title}: {n} {what}{}, {} commands{failed}, {} to {}",
            if n == 1 { "" } else { "s" },
            s.commands(),
            t(s.first()),
            t(s.last())
        )?;
        let tops = top(report, &s.groups, TOP);
        if !tops.is_empty() {
            let list: Vec<String> = tops.iter().map(|(c, n)| format!("{c} ({n})")).collect();
            writeln!(out, "  top: {}", list.join(", "))?;
        }
        for g in &s.groups {
            writeln!(out, "  {}", text::group_header(report, &multi, g, ctx))?;
        }
        writeln!(out)?;
    }
    writeln!(out, "{}", text::footer(stats, ctx))
}

fn group_json(report: &Report, g: &Group, ctx: &Ctx<'_>) -> Value {
    let s = &report.strings;
    let mut v = json!({
        "first": g.first,
        "last": g.last,
        "commands": g.commands,
        "failed": g.failed,
    });
    let o = v.as_object_mut().expect("an object");
    match g.key {
        GroupKey::Session {
            host, ses, boot, ..
        } => {
            o.insert("host".into(), json!(s.str(host)));
            o.insert("boot".into(), json!(s.str(boot)));
            o.insert("kind".into(), json!(g.kind().as_str()));
            o.insert("ses".into(), json!((ses != UNSET).then_some(ses)));
            o.insert("start".into(), json!(g.start));
            o.insert("end".into(), json!(g.end));
            o.insert("source".into(), json!(g.addr));
            o.insert("port".into(), json!(g.port));
            o.insert("tty".into(), json!(g.tty));
        }
        GroupKey::Unattributed { host, service } => {
            o.insert("host".into(), json!(s.str(host)));
            o.insert(
                "group".into(),
                json!(s.get_opt(service).map(String::from_utf8_lossy)),
            );
        }
        GroupKey::Job { job } => {
            o.insert("host".into(), json!(s.str(g.host())));
            o.insert("job".into(), json!(s.str(job)));
            o.insert("kind".into(), json!(g.kind().as_str()));
            o.insert("uid".into(), json!(g.job().uid));
            o.insert(
                "nodes".into(),
                json!(g.job().nodes.iter().map(|&n| s.str(n)).collect::<Vec<_>>()),
            );
            o.insert(
                "steps".into(),
                json!(g.job().steps.iter().map(|&n| s.str(n)).collect::<Vec<_>>()),
            );
            o.insert("start".into(), json!(g.start));
            o.insert("end".into(), json!(g.end));
        }
    }
    if !matches!(g.key, GroupKey::Session { .. }) {
        o.insert("top".into(), top_json(report, &[g]));
    }
    let _ = ctx;
    v
}

fn top_json(report: &Report, groups: &[&Group]) -> Value {
    Value::Array(
        top(report, groups, TOP)
            .into_iter()
            .map(|(c, n)| json!({"command": c, "count": n}))
            .collect(),
    )
}

fn to_json(report: &Report, stats: &Stats, ctx: &Ctx<'_>) -> Value {
    let mut users = Vec::new();
    let mut others = Vec::new();
    for s in sections(report) {
        match s.auid {
            Some(auid) => users.push(json!({
                "user": ctx.session_user(auid, s.groups[0].user.as_deref()).map(|u| u.0),
                "auid": auid,
                "session_count": s.groups.len(),
                "commands": s.commands(),
                "failed": s.failed(),
                "first": s.first(),
                "last": s.last(),
                "top": top_json(report, &s.groups),
                "sessions": s.groups.iter().map(|g| group_json(report, g, ctx)).collect::<Vec<_>>(),
            })),
            None => others.extend(s.groups.iter().map(|g| group_json(report, g, ctx))),
        }
    }
    let key = if report.by == super::model::GroupBy::Job {
        "jobs"
    } else {
        "unattributed"
    };
    json!({ "users": users, key: others, "stats": stats })
}

fn render_csv(report: &Report, ctx: &Ctx<'_>, out: &mut dyn Write) -> io::Result<()> {
    const HEAD: [&str; 15] = [
        "group_kind",
        "host",
        "user",
        "auid",
        "ses",
        "group",
        "start",
        "end",
        "first",
        "last",
        "source",
        "tty",
        "commands",
        "failed",
        "top",
    ];
    csv::write_row(out, HEAD.iter())?;
    let s = &report.strings;
    let t = |o: Option<Timestamp>| o.map(|t| t.to_rfc3339()).unwrap_or_default();
    for g in &report.groups {
        let (kind, host, auid, ses, group) = match g.key {
            GroupKey::Session {
                auid, host, ses, ..
            } => ("session", host, Some(auid), ses, String::new()),
            GroupKey::Unattributed { host, service } => {
                ("unattributed", host, None, UNSET, display::text(s, service))
            }
            GroupKey::Job { job } => ("job", g.host(), g.job().uid, UNSET, display::text(s, job)),
        };
        let tops: Vec<String> = top(report, &[g], TOP)
            .into_iter()
            .map(|(c, n)| format!("{c} ({n})"))
            .collect();
        let row = [
            kind.to_owned(),
            display::text(s, host),
            auid.and_then(|a| ctx.name(a)).unwrap_or_default(),
            auid.map(|a| a.to_string()).unwrap_or_default(),
            if ses == UNSET {
                String::new()
            } else {
                ses.to_string()
            },
            group,
            t(g.start),
            t(g.end),
            t(g.first),
            t(g.last),
            g.addr
                .as_deref()
                .map(|a| super::quote::sanitize_str(a).into_owned())
                .unwrap_or_default(),
            g.tty
                .as_deref()
                .map(|a| super::quote::sanitize_str(a).into_owned())
                .unwrap_or_default(),
            g.commands.to_string(),
            g.failed.to_string(),
            tops.join(" "),
        ];
        csv::write_row(out, row.into_iter())?;
    }
    Ok(())
}
