//! `--format json`: one document,
//! `{"sessions": [...], "unattributed": [...], "stats": {...}}` (or
//! `{"jobs": [...], "stats": {...}}` with `--by job`), streamed straight from
//! the model without building a JSON tree.
//!
//! Byte strings (argv, cwd, exe) use tracer's lossless encoding (see
//! [`crate::bytes`]), exactly as in tracer's log, plus `command`, the shell-
//! quoted line. [`SafeFormatter`] writes C1 controls, bidi and zero-width
//! characters as `\uXXXX`, so even `cat report.json` on a terminal shows no
//! control sequence from the data.

use std::cell::RefCell;
use std::io::{self, Write};

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::ser::Formatter;

use crate::bytes::encode_cow;
use crate::event::UNSET;

use super::display::{self, Ctx};
use super::memo::Memo;
use super::model::{
    unpack_argv, Command, Group, GroupBy, GroupKey, Report, Submit, Sym, NONE, PREEXISTING,
    TRUNCATED, USER_CMD,
};
use super::quote::is_printable;
use super::stats::Stats;

pub fn render(
    report: &Report,
    stats: &Stats,
    ctx: &Ctx<'_>,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_doc(&Doc { report, stats, ctx }, out)
}

/// Serializes `value` pretty-printed through [`SafeFormatter`], plus a newline.
pub fn write_doc<T: Serialize>(value: &T, out: &mut dyn Write) -> io::Result<()> {
    let mut buf = Batch {
        buf: Vec::with_capacity(BATCH),
        out,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, SafeFormatter::default());
    value.serialize(&mut ser).map_err(io::Error::from)?;
    buf.write_all(b"\n")?;
    buf.drain()
}

/// Bytes gathered before a write to the real output.
const BATCH: usize = 64 << 10;

/// A buffer in front of the `dyn Write` output: the serializer writes a
/// few bytes at a time (quotes, colons, indentation), and a call through
/// `dyn Write` for each showed as ~15 % of `--format json` (issue 14);
/// writes to this concrete type inline into an append.
struct Batch<'a> {
    buf: Vec<u8>,
    out: &'a mut dyn Write,
}

impl Batch<'_> {
    fn drain(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }
}

impl Write for Batch<'_> {
    #[inline]
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }
    #[inline]
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        if self.buf.len() + b.len() > BATCH {
            self.drain()?;
            if b.len() > BATCH {
                return self.out.write_all(b);
            }
        }
        self.buf.extend_from_slice(b);
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.out.flush()
    }
}

struct Doc<'a> {
    report: &'a Report,
    stats: &'a Stats,
    ctx: &'a Ctx<'a>,
}

impl Serialize for Doc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.report;
        let of = |pred: fn(&GroupKey) -> bool| Groups {
            report: r,
            ctx: self.ctx,
            pred,
        };
        let mut m = s.serialize_map(None)?;
        if r.by == GroupBy::Job {
            m.serialize_entry("jobs", &of(|k| matches!(k, GroupKey::Job { .. })))?;
        } else {
            m.serialize_entry("sessions", &of(|k| matches!(k, GroupKey::Session { .. })))?;
            m.serialize_entry("jobs", &of(|k| matches!(k, GroupKey::Job { .. })))?;
            m.serialize_entry(
                "unattributed",
                &of(|k| matches!(k, GroupKey::Unattributed { .. })),
            )?;
        }
        if r.by != GroupBy::Job {
            m.serialize_entry("failed_logins", &r.failed_logins)?;
        }
        m.serialize_entry("stats", self.stats)?;
        m.end()
    }
}

struct Groups<'a> {
    report: &'a Report,
    ctx: &'a Ctx<'a>,
    pred: fn(&GroupKey) -> bool,
}

impl Serialize for Groups<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for g in self.report.groups.iter().filter(|g| (self.pred)(&g.key)) {
            seq.serialize_element(&GroupSer {
                report: self.report,
                ctx: self.ctx,
                g,
            })?;
        }
        seq.end()
    }
}

struct GroupSer<'a> {
    report: &'a Report,
    ctx: &'a Ctx<'a>,
    g: &'a Group,
}

fn opt(n: u32) -> Option<u32> {
    (n != NONE && n != UNSET).then_some(n)
}

impl Serialize for GroupSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (g, strings) = (self.g, &self.report.strings);
        let mut m = s.serialize_map(None)?;
        match g.key {
            GroupKey::Session {
                auid,
                host,
                ses,
                boot,
            } => {
                let user = self.ctx.session_user(auid, g.user.as_deref());
                let host = strings.str(host);
                m.serialize_entry("host", &(!host.is_empty()).then_some(host))?;
                m.serialize_entry("boot", &strings.str(boot))?;
                m.serialize_entry("kind", g.kind().as_str())?;
                m.serialize_entry("service", &g.login.service)?;
                m.serialize_entry("user", &user.as_ref().map(|u| &u.0))?;
                m.serialize_entry("user_from", &user.as_ref().map(|u| u.1.as_str()))?;
                m.serialize_entry("auid", &auid)?;
                m.serialize_entry("ses", &opt(ses))?;
                m.serialize_entry("start", &g.start)?;
                m.serialize_entry("end", &g.end)?;
                m.serialize_entry("end_reason", &g.login.end_reason)?;
            }
            GroupKey::Unattributed { host, service } => {
                m.serialize_entry("host", &strings.str(host))?;
                m.serialize_entry(
                    "group",
                    &strings.get_opt(service).map(String::from_utf8_lossy),
                )?;
            }
            GroupKey::Job { job } => {
                let j = &g.job;
                let user = j.uid.and_then(|u| self.ctx.session_user(u, None));
                let names = |v: &[Sym]| v.iter().map(|&n| strings.str(n)).collect::<Vec<_>>();
                m.serialize_entry("host", &strings.str(g.host()))?;
                m.serialize_entry("job", &strings.str(job))?;
                m.serialize_entry("kind", g.kind().as_str())?;
                m.serialize_entry("user", &user.as_ref().map(|u| &u.0))?;
                m.serialize_entry("user_from", &user.as_ref().map(|u| u.1.as_str()))?;
                m.serialize_entry("uid", &j.uid)?;
                m.serialize_entry("nodes", &names(&j.nodes))?;
                m.serialize_entry("steps", &names(&j.steps))?;
                m.serialize_entry("start", &g.start)?;
                m.serialize_entry("end", &g.end)?;
                m.serialize_entry(
                    "submitted_from",
                    &j.submit.map(|s| SubmitSer {
                        report: self.report,
                        s,
                    }),
                )?;
            }
        }
        m.serialize_entry("first", &g.first)?;
        m.serialize_entry("last", &g.last)?;
        if matches!(g.key, GroupKey::Session { .. }) {
            m.serialize_entry("source", &g.addr)?;
            m.serialize_entry("port", &g.port)?;
            m.serialize_entry("tty", &g.tty)?;
        }
        m.serialize_entry("command_count", &g.commands)?;
        m.serialize_entry("failed_count", &g.failed)?;
        let memo = RefCell::new(Memo::default());
        m.serialize_entry(
            "commands",
            &Commands {
                report: self.report,
                ctx: self.ctx,
                cmds: &g.cmds,
                memo: &memo,
            },
        )?;
        m.end()
    }
}

/// The login session a job was (likely) submitted from.
struct SubmitSer<'a> {
    report: &'a Report,
    s: Submit,
}

impl Serialize for SubmitSer<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let (s, strings) = (&self.s, &self.report.strings);
        let mut m = ser.serialize_map(None)?;
        m.serialize_entry("host", &strings.str(s.host))?;
        m.serialize_entry("boot", &strings.str(s.boot))?;
        m.serialize_entry("auid", &s.auid)?;
        m.serialize_entry("ses", &opt(s.ses))?;
        m.serialize_entry("time", &s.time)?;
        let packed = strings.argv(s.argv);
        let argv: Vec<String> = unpack_argv(&packed)
            .into_iter()
            .map(|a| encode_cow(a).into_owned())
            .collect();
        m.serialize_entry("argv", &argv)?;
        m.serialize_entry("link", "likely")?;
        m.end()
    }
}

struct Commands<'a> {
    report: &'a Report,
    ctx: &'a Ctx<'a>,
    cmds: &'a [Command],
    /// Quoted command lines of this group.
    memo: &'a RefCell<Memo>,
}

impl Serialize for Commands<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.cmds.len()))?;
        for c in self.cmds {
            self.memo
                .borrow_mut()
                .prepare(self.ctx, &self.report.strings, c);
            seq.serialize_element(&CommandSer {
                report: self.report,
                ctx: self.ctx,
                c,
                memo: &self.memo.borrow(),
            })?;
        }
        seq.end()
    }
}

struct CommandSer<'a> {
    report: &'a Report,
    ctx: &'a Ctx<'a>,
    c: &'a Command,
    memo: &'a Memo,
}

impl Serialize for CommandSer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (c, strings) = (self.c, &self.report.strings);
        let enc = |sym| strings.get_opt(sym).map(encode_cow);
        let packed = strings.argv(c.argv);
        let argv: Vec<std::borrow::Cow<'_, str>> =
            unpack_argv(&packed).into_iter().map(encode_cow).collect();
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", &display::rfc3339(c.time))?;
        if self.report.by == GroupBy::Job {
            m.serialize_entry("user", &opt(c.auid).and_then(|a| self.ctx.name(a)))?;
            m.serialize_entry("auid", &opt(c.auid))?;
            m.serialize_entry("ses", &opt(c.ses))?;
        }
        m.serialize_entry("pid", &opt(c.pid))?;
        m.serialize_entry("ppid", &opt(c.ppid))?;
        m.serialize_entry("uid", &opt(c.uid))?;
        m.serialize_entry("euid", &opt(c.euid))?;
        m.serialize_entry("as_user", &self.ctx.ran_as_name(c, strings))?;
        m.serialize_entry("via", &c.via())?;
        if c.flags & USER_CMD != 0 {
            m.serialize_entry("sudo_record", &true)?;
        }
        m.serialize_entry("argv", &argv)?;
        m.serialize_entry("command", &self.memo.line(c).0)?;
        m.serialize_entry("cwd", &enc(c.cwd))?;
        m.serialize_entry("exe", &enc(c.exe))?;
        m.serialize_entry("ret", &c.ret)?;
        m.serialize_entry("failed", &c.failed())?;
        let errno = display::failure(c);
        m.serialize_entry("errno", &(!errno.is_empty()).then_some(errno))?;
        m.serialize_entry("truncated", &(c.flags & TRUNCATED != 0))?;
        if c.flags & PREEXISTING != 0 {
            m.serialize_entry("preexisting", &true)?;
        }
        m.serialize_entry("job", &strings.get_opt(c.job).map(String::from_utf8_lossy))?;
        if c.step != NONE {
            m.serialize_entry("job_step", &String::from_utf8_lossy(strings.get(c.step)))?;
        }
        m.end()
    }
}

/// A pretty JSON formatter that also escapes characters a terminal would
/// act on or that hide/reorder text (serde_json escapes only < U+0020).
///
/// Its layout is serde_json's `PrettyFormatter`'s (two spaces a level),
/// written here so that a line break and its indentation are one write
/// rather than one per level (~6 % of `--format json`, issue 14).
#[derive(Debug, Default)]
pub struct SafeFormatter {
    depth: usize,
    has_value: bool,
}

/// Enough indentation for any report's nesting in one slice.
const NEWLINE_INDENT: &[u8; 65] =
    b"\n                                                                ";

impl SafeFormatter {
    /// A line break and the current indentation, after `,` if `comma`.
    fn newline<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        if comma {
            w.write_all(b",")?;
        }
        let mut spaces = self.depth * 2;
        let first = spaces.min(NEWLINE_INDENT.len() - 1);
        w.write_all(&NEWLINE_INDENT[..1 + first])?;
        spaces -= first;
        while spaces > 0 {
            let n = spaces.min(NEWLINE_INDENT.len() - 1);
            w.write_all(&NEWLINE_INDENT[1..1 + n])?;
            spaces -= n;
        }
        Ok(())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.depth = self.depth.saturating_sub(1);
        if self.has_value {
            self.newline(w, false)?;
        }
        w.write_all(c)
    }
}

/// Printable ASCII only (0x20..0x7f), checked 16 bytes at a time without
/// an early exit, which the compiler vectorizes.
fn printable_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(16);
    for c in &mut chunks {
        if !c.iter().fold(true, |ok, &x| ok & (0x20..0x7f).contains(&x)) {
            return false;
        }
    }
    chunks.remainder().iter().all(|x| (0x20..0x7f).contains(x))
}

impl Formatter for SafeFormatter {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Printable ASCII (nearly every fragment) checked byte-wise; anything
        // else char by char.
        if printable_ascii(fragment.as_bytes()) || fragment.chars().all(is_printable) {
            return w.write_all(fragment.as_bytes());
        }
        for c in fragment.chars() {
            if is_printable(c) {
                let mut b = [0u8; 4];
                w.write_all(c.encode_utf8(&mut b).as_bytes())?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_formatter_escapes_terminal_controls() {
        let v = serde_json::json!({"a": "x\u{1b}[2J\u{9b}1m\u{202e}\u{7f}é"});
        let mut out = Vec::new();
        write_doc(&v, &mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.chars().all(|c| c == '\n' || is_printable(c)), "{s:?}");
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn layout_is_serde_jsons_pretty_layout() {
        let deep = (0..40).fold(
            serde_json::json!([]),
            |v, n| serde_json::json!({"k": [v, n, {}]}),
        );
        let v = serde_json::json!({"a": [], "b": {}, "c": [1, {"d": "x"}], "e": deep});
        let mut out = Vec::new();
        write_doc(&v, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string_pretty(&v).unwrap() + "\n"
        );
        for s in ["", "abc", "0123456789abcdef0123", "tab\there", "é\u{202e}"] {
            assert_eq!(
                printable_ascii(s.as_bytes()),
                s.bytes().all(|b| (0x20..0x7f).contains(&b)),
                "{s:?}"
            );
        }
    }
}
