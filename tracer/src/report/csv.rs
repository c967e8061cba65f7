//! `--format csv`: one row per command, in the same order as the text
//! report, with a header row. Fields are quoted per RFC 4180 when they hold
//! `,`, `"`, CR or LF; rows end in CRLF as the RFC says. argv, cwd and exe are
//! shell-quoted (see [`super::quote`]), so every cell is one printable line
//! and can be pasted into a shell.

use std::io::{self, Write};

use crate::event::UNSET;

use super::display::{self, Ctx};
use super::model::{GroupKey, Report, NONE};

pub const HEADER: [&str; 18] = [
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
];

pub fn render(report: &Report, ctx: &Ctx<'_>, out: &mut dyn Write) -> io::Result<()> {
    write_row(out, HEADER.iter().map(|h| h.to_string()))?;
    let s = &report.strings;
    for g in &report.groups {
        let (kind, host, group) = match g.key {
            GroupKey::Session { host, .. } => ("session", host, String::new()),
            GroupKey::Unattributed { host, service } => {
                ("unattributed", host, display::text(s, service))
            }
            GroupKey::Job { host, job } => ("job", host, display::text(s, job)),
        };
        for c in &g.cmds {
            let num = |n: u32| {
                if n == NONE || n == UNSET {
                    String::new()
                } else {
                    n.to_string()
                }
            };
            let row = [
                kind.to_owned(),
                display::text(s, host),
                if c.auid == UNSET {
                    String::new()
                } else {
                    ctx.name(c.auid).unwrap_or_default()
                },
                num(c.auid),
                num(c.ses),
                group.clone(),
                c.time.to_rfc3339(),
                num(c.pid),
                num(c.ppid),
                num(c.uid),
                num(c.euid),
                ctx.ran_as_name(c).unwrap_or_default(),
                display::failure(c),
                c.ret.to_string(),
                display::path(s, c.cwd),
                display::path(s, c.exe),
                display::command_line(s, c),
                display::text(s, c.job),
            ];
            write_row(out, row.into_iter())?;
        }
    }
    Ok(())
}

/// Writes one RFC 4180 record.
pub fn write_row(out: &mut dyn Write, fields: impl Iterator<Item = String>) -> io::Result<()> {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(field(&f).as_bytes())?;
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
