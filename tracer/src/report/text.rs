//! The default, human-readable report: users -> sessions -> aligned command
//! tables, unattributed processes last and flagged, a one-line footer of
//! what was read. Colour (ANSI SGR) only when `Ctx::color`; every string from
//! the log is quoted or sanitized, so the output never carries a control
//! sequence that was in the data.

use std::io::{self, Write};

use crate::event::UNSET;

use super::display::{self, Ctx};
use super::memo::{Memo, Shown};
use super::model::{
    Command, Group, GroupBy, GroupKey, MultiBoot, Report, PREEXISTING, TRUNCATED, USER_CMD,
};
use super::par;
use super::stats::Stats;

const BOLD: &str = "\x1b[1m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const MAGENTA: &str = "\x1b[35m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Longest cwd that still widens its column; longer ones overflow it.
const MAX_CWD_WIDTH: usize = 32;

/// Writes the report; `threads` (at least 1) write the groups (see
/// [`super::par`]).
pub fn render(
    report: &Report,
    stats: &Stats,
    ctx: &Ctx<'_>,
    threads: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    // What depends on the groups before: a heading where the user changes,
    // and one before the first unattributed group. Decided in order here,
    // so that the groups themselves can be written apart.
    let mut heads: Vec<(Option<String>, &Group)> = Vec::with_capacity(report.groups.len());
    let mut current_user: Option<String> = None;
    let mut in_unattributed = false;
    for g in &report.groups {
        let mut head = None;
        match g.key {
            GroupKey::Session { auid, host, .. } => {
                let label = ctx.user_label(auid, g.user.as_deref(), &report.strings.str(host));
                if current_user.as_deref() != Some(&label) {
                    head = Some(paint(ctx, BOLD, &label));
                    current_user = Some(label);
                }
            }
            // By session, a job is shown under the user who owns it.
            GroupKey::Job { .. } if report.by == GroupBy::Session => {
                let label = match g.job().uid {
                    Some(uid) => ctx.user_label(uid, None, &report.strings.str(g.host())),
                    None => "jobs of unknown owner".into(),
                };
                if current_user.as_deref() != Some(&label) {
                    head = Some(paint(ctx, BOLD, &label));
                    current_user = Some(label);
                }
            }
            GroupKey::Unattributed { .. } if !in_unattributed => {
                in_unattributed = true;
                let title = "unattributed: processes with no login uid, in no batch job (entry points without pam_loginuid?)";
                head = Some(paint(ctx, MAGENTA, title));
            }
            _ => {}
        }
        heads.push((head, g));
    }
    let multi = report.multi_boot_hosts();
    let write = |ctx: &Ctx<'_>, _: usize, batch: &[(Option<String>, &Group)], out: &mut Vec<u8>| {
        let mut memo = Memo::default();
        for (head, g) in batch {
            if let Some(h) = head {
                writeln!(out, "{h}")?;
            }
            writeln!(
                out,
                "  {}",
                paint(ctx, CYAN, &group_header(report, &multi, g, ctx))
            )?;
            let cmds = &g.cmds;
            if !cmds.is_empty() {
                let job = matches!(g.key, GroupKey::Job { .. });
                table(
                    report,
                    cmds,
                    ctx,
                    report.by == GroupBy::Job,
                    job,
                    &mut memo,
                    out,
                )?;
            }
            writeln!(out)?;
        }
        Ok(())
    };
    par::in_batches(&heads, |(_, g)| g.cmds.len() + 1, threads, ctx, &write, out)?;
    if report.groups.is_empty() {
        writeln!(out, "no commands matched")?;
    }
    failed_logins(report, ctx, out)?;
    writeln!(out, "{}", footer(stats, ctx))
}

/// `s` in the colour `code`, when the report is in colour.
fn paint(ctx: &Ctx<'_>, code: &str, s: &str) -> String {
    if ctx.color {
        format!("{code}{s}{RESET}")
    } else {
        s.to_owned()
    }
}

/// The failed-logins table (like `aureport -l --failed` and `-au --failed`).
fn failed_logins(report: &Report, ctx: &Ctx<'_>, out: &mut dyn Write) -> io::Result<()> {
    if report.failed_logins.is_empty() {
        return Ok(());
    }
    let san = |o: &Option<String>| {
        o.as_deref()
            .map_or("?".into(), |v| super::quote::sanitize_str(v).into_owned())
    };
    let rows: Vec<[String; 7]> = report
        .failed_logins
        .iter()
        .map(|f| {
            [
                san(&f.user),
                if f.host.is_empty() {
                    "-".into()
                } else {
                    super::quote::sanitize_str(&f.host).into_owned()
                },
                san(&f.source),
                san(&f.program),
                f.failed_logins.to_string(),
                f.failed_auths.to_string(),
                format!("{} to {}", ctx.time(f.first), ctx.time(f.last)),
            ]
        })
        .collect();
    let head = ["USER", "HOST", "FROM", "PROGRAM", "LOGINS", "AUTHS", "WHEN"];
    let mut w = head.map(str::len);
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    writeln!(
        out,
        "failed logins (USER_LOGIN) and authentications (USER_AUTH)"
    )?;
    let line = |cells: [&str; 7], out: &mut dyn Write| -> io::Result<()> {
        let mut l = String::from("   ");
        for (i, c) in cells.iter().enumerate() {
            l.push(' ');
            l.push_str(c);
            if i + 1 < cells.len() {
                let n = w[i].saturating_sub(c.chars().count()) + 1;
                l.push_str(&" ".repeat(n));
            }
        }
        writeln!(out, "{}", l.trim_end())
    };
    line(head, out)?;
    for r in &rows {
        line(std::array::from_fn(|i| r[i].as_str()), out)?;
    }
    writeln!(out)
}

/// `session 3 on login2 from 10.0.0.5 port 52144, tty pts/1: ...`.
pub fn group_header(report: &Report, multi: &MultiBoot, g: &Group, ctx: &Ctx<'_>) -> String {
    let s = &report.strings;
    let mut h = match g.key {
        GroupKey::Session {
            host, ses, boot, ..
        } => {
            let ses = if ses == UNSET {
                "(no session id)".to_owned()
            } else {
                format!("session {ses}")
            };
            let boot = if multi.has(host) {
                format!(", boot {}", display::text(s, boot))
            } else {
                String::new()
            };
            let kind = match &g.login.service {
                Some(svc) => format!("{}, {}", g.kind(), super::quote::sanitize_str(svc)),
                None => g.kind().to_string(),
            };
            format!("{ses} on {}{boot} ({kind})", display::host(s, host))
        }
        GroupKey::Unattributed { host, service } => {
            // A unit by name; a cgroup that is no unit's by its path.
            let svc = match s.get_opt(service) {
                None => "no cgroup recorded".into(),
                Some(v) if v.starts_with(b"/") => format!("cgroup {}", display::text(s, service)),
                Some(_) => display::text(s, service),
            };
            format!("{svc} on {}", display::host(s, host))
        }
        GroupKey::Job { job } => {
            let nodes: Vec<String> = g.job().nodes.iter().map(|&n| display::host(s, n)).collect();
            let steps = if g.job().steps.is_empty() {
                String::new()
            } else {
                let v: Vec<String> = g.job().steps.iter().map(|&n| display::text(s, n)).collect();
                format!(", steps {}", v.join(" "))
            };
            // By session the owner heads the section already.
            let owner = match g.job().uid {
                Some(u) if report.by == GroupBy::Job => {
                    format!(" of {}", ctx.user_label(u, None, &s.str(g.host())))
                }
                _ => String::new(),
            };
            format!(
                "batch job {}{owner} on {}{steps}",
                display::text(s, job),
                nodes.join(", ")
            )
        }
    };
    if let Some(addr) = &g.addr {
        h.push_str(&format!(" from {}", super::quote::sanitize_str(addr)));
        if let Some(p) = g.port {
            h.push_str(&format!(" port {p}"));
        }
    }
    if let Some(tty) = &g.tty {
        h.push_str(&format!(", tty {}", super::quote::sanitize_str(tty)));
    }
    if matches!(g.key, GroupKey::Session { .. }) {
        let start = match (g.start, g.first) {
            (Some(t), _) => format!("started {}", ctx.time(t)),
            (None, Some(f)) => format!("first seen {} (no login record)", ctx.time(f)),
            (None, None) => "start unknown".into(),
        };
        let end = g.end.map_or("no logout recorded".into(), |t| {
            match g.login.end_reason.as_deref() {
                Some(r) if r != "logout" => {
                    format!("ended {} ({})", ctx.time(t), super::quote::sanitize_str(r))
                }
                _ => format!("ended {}", ctx.time(t)),
            }
        });
        h.push_str(&format!(": {start}, {end}"));
    } else if let GroupKey::Job { .. } = g.key {
        if let (Some(f), Some(l)) = (g.start, g.end) {
            h.push_str(&format!(
                ": first process {}, last {}",
                ctx.time(f),
                ctx.time(l)
            ));
        }
    } else if let (Some(f), Some(l)) = (g.first, g.last) {
        h.push_str(&format!(": {} to {}", ctx.time(f), ctx.time(l)));
    }
    let failed = if g.failed > 0 {
        format!(", {} failed", g.failed)
    } else {
        String::new()
    };
    h.push_str(&format!(
        ", {} command{}{failed}",
        g.commands,
        plural(g.commands)
    ));
    if let Some(sub) = &g.job().submit {
        let ses = if sub.ses == UNSET {
            "a login with no session id".to_owned()
        } else {
            format!("session {}", sub.ses)
        };
        let line = super::quote::quote_argv(&super::model::unpack_argv(&s.argv(sub.argv)));
        h.push_str(&format!(
            "; likely submitted from {ses} on {} at {}: {line}",
            display::host(s, sub.host),
            ctx.time(sub.time)
        ));
    }
    h
}

fn table(
    report: &Report,
    cmds: &[Command],
    ctx: &Ctx<'_>,
    with_user: bool,
    with_step: bool,
    memo: &mut Memo,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = &report.strings;
    memo.clear();
    let (mut wpid, mut wuser, mut was, mut wcwd, mut wstep) = (3, 4, 2, 3, 4);
    for c in cmds {
        memo.prepare(ctx, s, c);
        if with_step {
            wstep = wstep.max(display::text(s, c.step(s)).chars().count());
        }
        wpid = wpid.max(Command::opt(c.pid).map_or(1, digits));
        wuser = wuser.max(memo.user(c).1);
        was = was.max(memo.ran_as(c).1);
        wcwd = wcwd.max(memo.path(c.cwd).1);
    }
    let wcwd = wcwd.min(MAX_CWD_WIDTH);
    let mut user_head = if with_user {
        format!("{:<wuser$}  ", "USER")
    } else {
        String::new()
    };
    if with_step {
        user_head.push_str(&format!("{:<wstep$}  ", "STEP"));
    }
    writeln!(
        out,
        "    {:<19}  {:>wpid$}  {user_head}{:<was$}  {:<wcwd$}  COMMAND",
        "TIME", "PID", "AS", "CWD"
    )?;
    for c in cmds {
        // The memo forgets when full (see `memo::MAX_ENTRIES`): make sure
        // this row's strings are there (a lookup when they are).
        memo.prepare(ctx, s, c);
        write!(out, "    {}  ", ctx.time(c.time))?;
        match Command::opt(c.pid) {
            Some(p) => write!(out, "{p:>wpid$}  ")?,
            None => write!(out, "{:>wpid$}  ", "?")?,
        }
        if with_user {
            pad(out, memo.user(c), wuser)?;
            out.write_all(b"  ")?;
        }
        if with_step {
            let t = display::text(s, c.step(s));
            write!(out, "{t:<wstep$}  ")?;
        }
        let ident = memo.ran_as(c);
        if ctx.color && ident.1 > 0 {
            out.write_all(YELLOW.as_bytes())?;
            pad(out, ident, was)?;
            out.write_all(RESET.as_bytes())?;
        } else {
            pad(out, ident, was)?;
        }
        out.write_all(b"  ")?;
        pad(out, memo.path(c.cwd), wcwd)?;
        out.write_all(b"  ")?;
        out.write_all(memo.line(c).0.as_bytes())?;
        let note = note(c);
        if !note.is_empty() {
            if ctx.color {
                write!(out, "{RED}  [{note}]{RESET}")?;
            } else {
                write!(out, "  [{note}]")?;
            }
        }
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `failed: ENOENT`, `truncated`, ...: what is special about a command.
fn note(c: &Command) -> String {
    let mut note = Vec::new();
    if c.failed() {
        note.push(format!("failed: {}", display::failure(c)));
    }
    if c.flags & TRUNCATED != 0 {
        note.push("truncated".to_owned());
    }
    if c.flags & PREEXISTING != 0 {
        note.push("running when tracer started".to_owned());
    }
    if c.flags & USER_CMD != 0 {
        note.push("sudo record".to_owned());
    }
    note.join(", ")
}

fn digits(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// Writes `s` left-aligned in `width` characters, never truncating.
fn pad(out: &mut dyn Write, s: &Shown, width: usize) -> io::Result<()> {
    out.write_all(s.0.as_bytes())?;
    let n = width.saturating_sub(s.1);
    if n > 0 {
        write!(out, "{:n$}", "")?;
    }
    Ok(())
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `-- 12 commands in 4 sessions; ...` with everything that was skipped.
pub fn footer(stats: &Stats, ctx: &Ctx<'_>) -> String {
    let c = &stats.counts;
    let lines: u64 = stats.inputs.iter().map(|i| i.lines).sum();
    let count = |n: u64, what: &str| format!("{n} {what}{}", plural(n));
    // By job: jobs only; by session: sessions, and the jobs beside them.
    let shown_in = if stats.counts.not_in_job > 0 || stats.sessions == 0 && stats.jobs > 0 {
        count(stats.jobs, "job")
    } else if stats.jobs > 0 {
        format!(
            "{} and {}",
            count(stats.sessions, "session"),
            count(stats.jobs, "job")
        )
    } else {
        count(stats.sessions, "session")
    };
    let mut parts = vec![format!(
        "-- {} of {} command{} shown in {shown_in}",
        c.selected,
        c.execs + c.user_cmds - c.user_cmds_merged,
        plural(c.execs + c.user_cmds - c.user_cmds_merged),
    )];
    if stats.hidden_sessions > 0 {
        parts.push(format!(
            "{} other session{} hidden (cron, systemd --user, services: --all or --kind to show)",
            stats.hidden_sessions,
            plural(stats.hidden_sessions)
        ));
    }
    if c.user_cmds > 0 {
        parts.push(format!(
            "{} sudo record{} ({} merged with its exec)",
            c.user_cmds,
            plural(c.user_cmds),
            c.user_cmds_merged
        ));
    }
    if stats.unattributed_groups > 0 {
        parts.push(format!(
            "{} unattributed group{}",
            stats.unattributed_groups,
            plural(stats.unattributed_groups)
        ));
    }
    if c.not_in_job > 0 {
        parts.push(format!("{} not in any job", c.not_in_job));
    }
    if c.left_job > 0 {
        parts.push(format!(
            "{} exec{} in no job although the parent ran in one (moved out of the job's cgroup: only root can)",
            c.left_job,
            plural(c.left_job)
        ));
    }
    parts.push(format!(
        "{} input{}, {lines} lines",
        stats.inputs.len(),
        plural(stats.inputs.len() as u64)
    ));
    if stats.bad_lines > 0 {
        parts.push(format!(
            "{} malformed line{} skipped",
            stats.bad_lines,
            plural(stats.bad_lines)
        ));
    }
    if stats.incomplete_events > 0 {
        let mut at: Vec<String> = stats
            .incomplete_at
            .iter()
            .take(3)
            .map(|a| super::quote::sanitize_str(a).into_owned())
            .collect();
        if stats.incomplete_events > at.len() as u64 && !at.is_empty() {
            at.push("...".into());
        }
        let at = if at.is_empty() {
            String::new()
        } else {
            format!(" (at {})", at.join(", "))
        };
        parts.push(format!(
            "input ended inside {} event(s){at}",
            stats.incomplete_events
        ));
    }
    if c.lost_events > 0 || c.loss_records > 0 {
        parts.push(format!("{} events LOST per the log", c.lost_events));
    }
    if !stats.read_errors.is_empty() {
        parts.push(format!("{} input(s) cut short", stats.read_errors.len()));
    }
    parts.push(format!("times in {}", ctx.zone_name()));
    parts.join("; ")
}
