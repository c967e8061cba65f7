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

use std::io::{self, Write};

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::bytes::encode_cow;
use crate::event::{rfc3339, UNSET};

use super::display::{self, Ctx};
use super::memo::Memo;
use super::model::{
    argv_iter, unpack_argv, Command, Group, GroupBy, GroupKey, Report, Submit, Sym, NONE,
    PREEXISTING, TRUNCATED, USER_CMD,
};
use super::par;
pub use super::pretty::{write_doc, SafeFormatter};
use super::pretty::{Batch, Pretty};
use super::stats::Stats;

/// Writes the report; `threads` (at least 1) write the command rows of big
/// groups (in blocks: see `Rows`).
pub fn render(
    report: &Report,
    stats: &Stats,
    ctx: &Ctx<'_>,
    threads: usize,
    out: &mut dyn Write,
) -> io::Result<()> {
    let r = report;
    let ctx = &Rows {
        report,
        ctx,
        threads: threads.max(1),
    };
    let mut w = Pretty::new(Batch::new(out));
    w.open_object()?;
    let groups = |w: &mut Pretty<Batch<'_>>, name, pred: fn(&GroupKey) -> bool| {
        w.key(name)?;
        w.open_array()?;
        let gs: Vec<&Group> = r.groups.iter().filter(|g| pred(&g.key)).collect();
        ctx.groups(w, &gs)?;
        w.close_array()
    };
    if r.by == GroupBy::Job {
        groups(&mut w, "jobs", |k| matches!(k, GroupKey::Job { .. }))?;
    } else {
        groups(&mut w, "sessions", |k| {
            matches!(k, GroupKey::Session { .. })
        })?;
        groups(&mut w, "jobs", |k| matches!(k, GroupKey::Job { .. }))?;
        groups(&mut w, "unattributed", |k| {
            matches!(k, GroupKey::Unattributed { .. })
        })?;
        w.key("failed_logins")?;
        w.value(&r.failed_logins)?;
    }
    w.key("stats")?;
    w.value(stats)?;
    w.close_object()?;
    w.raw(b"\n")?;
    w.into_inner().drain()
}

fn opt(n: u32) -> Option<u32> {
    (n != NONE && n != UNSET).then_some(n)
}

/// One session, job or unattributed group: its header (a few per report,
/// through serde) and its command rows (by hand).
fn group<W: Write>(w: &mut Pretty<W>, rows: &Rows<'_>, g: &Group) -> io::Result<()> {
    let (report, ctx) = (rows.report, rows.ctx);
    let strings = &report.strings;
    w.open_object()?;
    match g.key {
        GroupKey::Session {
            auid,
            host,
            ses,
            boot,
        } => {
            let user = ctx.session_user(auid, g.user.as_deref());
            let host = strings.str(host);
            w.key("host")?;
            w.value(&(!host.is_empty()).then_some(host))?;
            w.key("boot")?;
            w.value(&strings.str(boot))?;
            w.key("kind")?;
            w.str(g.kind().as_str())?;
            w.key("service")?;
            w.value(&g.login.service)?;
            w.key("user")?;
            w.value(&user.as_ref().map(|u| &u.0))?;
            w.key("user_from")?;
            w.value(&user.as_ref().map(|u| u.1.as_str()))?;
            w.key("auid")?;
            w.value(&auid)?;
            w.key("ses")?;
            w.opt_int(opt(ses))?;
            w.key("start")?;
            w.value(&g.start)?;
            w.key("end")?;
            w.value(&g.end)?;
            w.key("end_reason")?;
            w.value(&g.login.end_reason)?;
        }
        GroupKey::Unattributed { host, service } => {
            w.key("host")?;
            w.value(&strings.str(host))?;
            w.key("group")?;
            w.value(&strings.get_opt(service).map(String::from_utf8_lossy))?;
        }
        GroupKey::Job { job } => {
            let j = g.job();
            let user = j.uid.and_then(|u| ctx.session_user(u, None));
            let names = |v: &[Sym]| v.iter().map(|&n| strings.str(n)).collect::<Vec<_>>();
            w.key("host")?;
            w.value(&strings.str(g.host()))?;
            w.key("job")?;
            w.value(&strings.str(job))?;
            w.key("kind")?;
            w.str(g.kind().as_str())?;
            w.key("user")?;
            w.value(&user.as_ref().map(|u| &u.0))?;
            w.key("user_from")?;
            w.value(&user.as_ref().map(|u| u.1.as_str()))?;
            w.key("uid")?;
            w.value(&j.uid)?;
            w.key("nodes")?;
            w.value(&names(&j.nodes))?;
            w.key("steps")?;
            w.value(&names(&j.steps))?;
            w.key("start")?;
            w.value(&g.start)?;
            w.key("end")?;
            w.value(&g.end)?;
            w.key("submitted_from")?;
            w.value(&j.submit.map(|s| SubmitSer { report, s }))?;
        }
    }
    w.key("first")?;
    w.value(&g.first)?;
    w.key("last")?;
    w.value(&g.last)?;
    if matches!(g.key, GroupKey::Session { .. }) {
        w.key("source")?;
        w.value(&g.addr)?;
        w.key("port")?;
        w.value(&g.port)?;
        w.key("tty")?;
        w.value(&g.tty)?;
    }
    w.key("command_count")?;
    w.value(&g.commands)?;
    w.key("failed_count")?;
    w.value(&g.failed)?;
    w.key("commands")?;
    w.open_array()?;
    rows.write(w, &g.cmds)?;
    w.close_array()?;
    w.close_object()
}

/// Rows per block when several threads write a group's rows: a few MB of
/// JSON each, so that the blocks in flight stay small next to the model.
const BLOCK_ROWS: usize = 4096;

/// What writing command rows needs.
struct Rows<'a> {
    report: &'a Report,
    ctx: &'a Ctx<'a>,
    threads: usize,
}

impl Rows<'_> {
    /// Writes `groups` as entries of the open array. With more than one
    /// thread, runs of small groups (a login node's sessions have tens of
    /// commands each, far below [`BLOCK_ROWS`]) are written in batches on
    /// all cores ([`par::in_batches`]); a big group is written alone, its
    /// rows in blocks ([`Rows::write`]). The bytes are the serial ones.
    fn groups<W: Write>(&self, w: &mut Pretty<W>, groups: &[&Group]) -> io::Result<()> {
        if self.threads <= 1 {
            for g in groups {
                w.elem()?;
                group(w, self, g)?;
            }
            return Ok(());
        }
        let (report, depth) = (self.report, w.depth());
        let mut rest = groups;
        while !rest.is_empty() {
            if rest[0].cmds.len() > BLOCK_ROWS {
                w.elem()?;
                group(w, self, rest[0])?;
                rest = &rest[1..];
                continue;
            }
            let n = rest
                .iter()
                .position(|g| g.cmds.len() > BLOCK_ROWS)
                .unwrap_or(rest.len());
            let first = w.is_first();
            let write = |ctx: &Ctx<'_>, at: usize, batch: &[&Group], out: &mut Vec<u8>| {
                let rows = Rows {
                    report,
                    ctx,
                    threads: 1,
                };
                let mut bw = Pretty::at(std::mem::take(out), depth, first && at == 0);
                for g in batch {
                    bw.elem()?;
                    group(&mut bw, &rows, g)?;
                }
                *out = bw.into_inner();
                Ok(())
            };
            let mut entries = Entries(w);
            par::in_batches(
                &rest[..n],
                |g| g.cmds.len() + 1,
                self.threads,
                self.ctx,
                &write,
                &mut entries,
            )?;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Writes `cmds` as entries of the open array. With more than one
    /// thread, a big group's rows are written in blocks on all cores
    /// ([`par::in_batches`], each block with its own memo), and the
    /// buffers appended in order: the bytes are the serial ones (rows do
    /// not depend on each other; the memo only saves work), and the
    /// rendering, a third of a report's work, no longer runs on one core
    /// after the parallel read (issue 14).
    fn write<W: Write>(&self, w: &mut Pretty<W>, cmds: &[Command]) -> io::Result<()> {
        if self.threads <= 1 || cmds.len() <= BLOCK_ROWS {
            return block(w, self.report, self.ctx, cmds);
        }
        let (report, depth, first) = (self.report, w.depth(), w.is_first());
        let write = |ctx: &Ctx<'_>, at: usize, rows: &[Command], out: &mut Vec<u8>| {
            *out = block_apart(report, ctx, depth, first && at == 0, rows)?;
            Ok(())
        };
        par::in_batches(cmds, |_| 1, self.threads, self.ctx, &write, &mut Entries(w))
    }
}

/// Writes `cmds` as entries of `w`'s open array.
fn block<W: Write>(
    w: &mut Pretty<W>,
    report: &Report,
    ctx: &Ctx<'_>,
    cmds: &[Command],
) -> io::Result<()> {
    let mut memo = Memo::default();
    for c in cmds {
        w.elem()?;
        memo.prepare_json(ctx, &report.strings, c);
        row(w, report, ctx, &memo, c)?;
    }
    Ok(())
}

/// Entries written apart, appended to a writer's open array.
struct Entries<'w, W>(&'w mut Pretty<W>);

impl<W: Write> Write for Entries<'_, W> {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0.raw_entries(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// [`block`] into a buffer of its own: array entries `depth` deep, the
/// first of them the array's first when `first`.
fn block_apart(
    report: &Report,
    ctx: &Ctx<'_>,
    depth: usize,
    first: bool,
    cmds: &[Command],
) -> io::Result<Vec<u8>> {
    let mut w = Pretty::at(Vec::with_capacity(cmds.len() * 512), depth, first);
    block(&mut w, report, ctx, cmds)?;
    Ok(w.into_inner())
}

/// One command row.
fn row<W: Write>(
    w: &mut Pretty<W>,
    report: &Report,
    ctx: &Ctx<'_>,
    memo: &Memo,
    c: &Command,
) -> io::Result<()> {
    let strings = &report.strings;
    let opt_bytes = |w: &mut Pretty<W>, sym| match strings.get_opt(sym) {
        Some(b) => w.bytes(b),
        None => w.null(),
    };
    w.open_object()?;
    w.key("time")?;
    w.str(rfc3339::as_str(&rfc3339::format(c.time.0)))?;
    if report.by == GroupBy::Job {
        w.key("user")?;
        w.opt_str(opt(c.auid).and_then(|a| ctx.name(a)).as_deref())?;
        w.key("auid")?;
        w.opt_int(opt(c.auid))?;
        w.key("ses")?;
        w.opt_int(opt(c.ses))?;
    }
    w.key("pid")?;
    w.opt_int(opt(c.pid))?;
    w.key("ppid")?;
    w.opt_int(opt(c.ppid))?;
    w.key("uid")?;
    w.opt_int(opt(c.uid))?;
    w.key("euid")?;
    w.opt_int(opt(c.euid(strings)))?;
    w.key("as_user")?;
    w.opt_str(memo.as_user(c))?;
    w.key("via")?;
    w.opt_str(c.via())?;
    if c.flags & USER_CMD != 0 {
        w.key("sudo_record")?;
        w.bool(true)?;
    }
    w.key("argv")?;
    w.open_array()?;
    for a in argv_iter(&strings.argv(c.argv)) {
        w.elem()?;
        w.bytes(a)?;
    }
    w.close_array()?;
    w.key("command")?;
    w.str(&memo.line(c).0)?;
    w.key("cwd")?;
    opt_bytes(w, c.cwd)?;
    w.key("exe")?;
    opt_bytes(w, c.exe)?;
    w.key("ret")?;
    w.int(i64::from(c.ret))?;
    w.key("failed")?;
    w.bool(c.failed())?;
    w.key("errno")?;
    let errno = display::failure(c);
    w.opt_str((!errno.is_empty()).then_some(errno.as_str()))?;
    w.key("truncated")?;
    w.bool(c.flags & TRUNCATED != 0)?;
    if c.flags & PREEXISTING != 0 {
        w.key("preexisting")?;
        w.bool(true)?;
    }
    w.key("job")?;
    match strings.get_opt(c.job(strings)) {
        Some(j) => w.str(&String::from_utf8_lossy(j))?,
        None => w.null()?,
    }
    let step = c.step(strings);
    if step != NONE {
        w.key("job_step")?;
        w.str(&String::from_utf8_lossy(strings.get(step)))?;
    }
    w.close_object()
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
