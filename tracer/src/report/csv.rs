//! `--format csv`: one row per command, in the same order as the text
//! report, with a header row. Fields are quoted per RFC 4180 when they hold
//! `,`, `"`, CR or LF; rows end in CRLF as the RFC says. argv, cwd and exe are
//! shell-quoted (see [`super::quote`]), so every cell is one printable line
//! and can be pasted into a shell.

use std::borrow::Cow;
use std::io::{self, Write};

use crate::event::{rfc3339, UNSET};

use super::display::{self, Ctx};
use super::memo::Memo;
use super::model::{Group, GroupKey, Report, NONE};
use super::par;

pub const HEADER: [&str; 19] = [
    "group_kind",
    "host",
    "user",
    "auid",
    "ses",
    "group",
    "time",
    "pid",
    "ppid",
    "uid",
    "euid",
    "as_user",
    "failed",
    "ret",
    "cwd",
    "exe",
    "command",
    "job",
    "job_step",
];

/// Writes the report; `threads` (at least 1) write the groups' rows (see
/// [`super::par`]).
pub fn render(
    report: &Report,
    ctx: &Ctx<'_>,
    threads: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_row(out, HEADER.iter().copied())?;
    let groups: Vec<&Group> = report.groups.iter().collect();
    let write = |ctx: &Ctx<'_>, _: usize, batch: &[&Group], out: &mut Vec<u8>| {
        let mut memo = Memo::default();
        for g in batch {
            rows(report, ctx, g, &mut memo, out)?;
        }
        Ok(())
    };
    par::in_batches(&groups, |g| g.cmds.len() + 1, threads, ctx, &write, out)
}

/// The rows of one group.
fn rows(
    report: &Report,
    ctx: &Ctx<'_>,
    g: &Group,
    memo: &mut Memo,
    out: &mut dyn Write,
) -> io::Result<()> {
    let s = &report.strings;
    let num = |n: u32| -> Cow<'_, str> {
        if n == NONE || n == UNSET {
            Cow::Borrowed("")
        } else {
            Cow::Owned(n.to_string())
        }
    };
    let (kind, group) = match g.key {
        GroupKey::Session { .. } => ("session", String::new()),
        GroupKey::Unattributed { service, .. } => ("unattributed", display::text(s, service)),
        GroupKey::Job { job } => ("job", display::text(s, job)),
    };
    let host = display::text(s, g.host());
    memo.clear();
    for c in &g.cmds {
        memo.prepare(ctx, s, c);
        // A job's processes have no login user: the job's owner is theirs.
        let user = if c.auid != UNSET {
            Cow::Borrowed(memo.user(c).0.as_str())
        } else if let (GroupKey::Job { .. }, Some(uid)) = (g.key, g.job().uid) {
            Cow::Owned(ctx.name(uid).unwrap_or_default())
        } else {
            Cow::Borrowed("")
        };
        let step = display::text(s, c.step(s));
        let time = rfc3339::format(c.time.0);
        let row: [Cow<'_, str>; 19] = [
            kind.into(),
            host.as_str().into(),
            user.clone(),
            num(c.auid),
            num(c.ses),
            group.as_str().into(),
            rfc3339::as_str(&time).into(),
            num(c.pid),
            num(c.ppid),
            num(c.uid),
            num(c.euid(s)),
            ctx.ran_as_name(c, s).unwrap_or_default().into(),
            display::failure(c).into(),
            c.ret.to_string().into(),
            memo.path(c.cwd).0.as_str().into(),
            memo.path(c.exe).0.as_str().into(),
            memo.line(c).0.as_str().into(),
            display::text(s, c.job(s)).into(),
            step.as_str().into(),
        ];
        write_row(out, row.iter())?;
    }
    Ok(())
}

/// Writes one RFC 4180 record.
pub fn write_row<S: AsRef<str>>(
    out: &mut dyn Write,
    fields: impl Iterator<Item = S>,
) -> io::Result<()> {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(field(f.as_ref()).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// One field, quoted when needed.
pub fn field(f: &str) -> std::borrow::Cow<'_, str> {
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\"")).into()
    } else {
        f.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4180_quoting() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
    }
}
