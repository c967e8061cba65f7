//! The report's inputs: found, ordered, opened and recognised by
//! [`crate::logread`] (re-exported here under their old names), read here
//! into [`Record`]s for the model.
//!
//! Each run of same-format inputs is one stream, cut into chunks and parsed
//! on all cores ([`crate::logread::chunk`]); tracer JSON lines parse into
//! records borrowed from their chunk, raw audit lines are coalesced into
//! events ([`crate::logread::audit`]). Either way the records reach the
//! callback in input order, exactly as a serial read gives them, so the
//! model (fed on the caller's thread) cannot tell how many threads read.

use std::io;

pub use crate::logread::open::detect;
pub use crate::logread::{
    default_inputs, open, open_all, rotation, rotation_order, runs, ByteCounter, Concat, Detected,
    Format, InputError, InputSpec, LineMap, Opened, DEFAULT_BASE, DEFAULT_DIR,
};

use crate::logread::audit::{AuditItem, AuditWork, Merge, Serial, MAX_AUDIT_LINE};
use crate::logread::chunk::{self, Chunk, ChunkOpts, Data, Work};
use crate::logread::MAX_JSON_LINE;

use super::record::Record;
use super::source::{handle_line, BadLine};

/// How a stream is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadOpts {
    /// Threads parsing; 0 for every core, 1 for none besides the caller's.
    pub threads: usize,
    /// Bytes per chunk (tests vary it; the default suits real logs).
    pub chunk_bytes: usize,
}

impl Default for ReadOpts {
    fn default() -> Self {
        Self {
            threads: 0,
            // Half a MiB: small enough that the chunks in flight cost a few
            // MB (issue 14's memory bound), big enough that handing one
            // over costs nothing next to parsing it.
            chunk_bytes: 512 << 10,
        }
    }
}

/// How a stream ended.
#[derive(Debug, Default)]
pub struct StreamEnd {
    /// Where each file starts, which ended without a newline.
    pub map: LineMap,
    /// Events begun but not finished at the end (audit events whose records
    /// stop before their end).
    pub incomplete: u64,
    /// The stream line where each of those began.
    pub incomplete_lines: Vec<u64>,
    /// The read error (corrupt gzip, I/O) that stopped the stream early.
    pub error: Option<io::Error>,
    /// Audit exec events whose `auid=` is a name, not a number (an
    /// interpreted log), and the first of them (time, serial).
    pub unreadable_auid: u64,
    pub unreadable_auid_first: Option<(crate::event::Timestamp, u64)>,
}

/// Reads one run of `format` inputs as one stream, handing each record or
/// bad line to `f` in input order. `host` names audit records without
/// `node=`.
pub fn read_stream(
    format: Format,
    files: Vec<Opened>,
    host: &str,
    opts: ReadOpts,
    f: &mut dyn FnMut(Result<&Record<'_>, BadLine>),
) -> StreamEnd {
    // ausearch's default output: events between `----` lines.
    let groups = !files.is_empty() && files.iter().all(|o| o.ausearch);
    let concat = Concat::of(files);
    let map = concat.line_map();
    let max_line = match format {
        Format::TracerJson => MAX_JSON_LINE,
        Format::Audit => MAX_AUDIT_LINE,
    };
    // tracer's JSON lines are a third the size of an exec's audit records,
    // and each becomes a `Record` of ~700 bytes on the worker: its chunks
    // are half the size, so that those in flight hold fewer of them.
    let chunk_bytes = match format {
        Format::TracerJson => opts.chunk_bytes / 2,
        Format::Audit => opts.chunk_bytes,
    };
    let copts = ChunkOpts {
        chunk_bytes: chunk_bytes.max(1),
        ..ChunkOpts::new(opts.threads, max_line)
    };
    let mut end = StreamEnd::default();
    let result = match format {
        Format::TracerJson => chunk::run(concat, copts, &JsonWork, &mut |out: &mut JsonOut| {
            out.for_each(f)
        }),
        Format::Audit => {
            let (mut unreadable, mut first) = (0u64, None);
            let mut emit = |item: &AuditItem| match item {
                AuditItem::Exec(x) => {
                    if x.auid_unreadable {
                        unreadable += 1;
                        first = first.or(Some((x.time, x.serial)));
                    }
                    f(Ok(&Record::from_audit_exec(x)))
                }
                AuditItem::Login(x) => f(Ok(&Record::from_audit_login(x))),
                AuditItem::Event(e) => f(Ok(&Record::from_event(e))),
                AuditItem::Bad(line, reason) => f(Err(BadLine {
                    line: *line,
                    reason: reason.clone(),
                })),
            };
            let cut;
            let r;
            if copts.threads <= 1 {
                let mut serial = Serial::new(host, groups);
                r = chunk::run(concat, copts, &Keep, &mut |c: &mut Chunk| {
                    serial.push(c, &mut emit)
                });
                cut = serial.finish(&mut emit);
            } else {
                let mut merge = Merge::new(host, groups);
                let work = AuditWork {
                    host: host.to_owned(),
                    groups,
                };
                r = chunk::run(concat, copts, &work, &mut |out| merge.push(out, &mut emit));
                cut = merge.finish(&mut emit);
            }
            end.incomplete = cut.events;
            end.incomplete_lines = cut.lines;
            end.unreadable_auid = unreadable;
            end.unreadable_auid_first = first;
            r
        }
    };
    end.error = result.err();
    end.map = map.lock().clone();
    end
}

/// The serial read's "work": hand the chunk over as it is.
struct Keep;

impl Work for Keep {
    type Out = Chunk;
    fn work(&self, chunk: Chunk) -> Chunk {
        chunk
    }
}

/// Parses a chunk of tracer's JSON lines.
struct JsonWork;

impl Work for JsonWork {
    type Out = JsonOut;
    fn work(&self, chunk: Chunk) -> JsonOut {
        JsonOut::parse(chunk)
    }
}

/// A chunk and its records, which borrow from the chunk's bytes.
struct JsonOut {
    /// Declared before `data` so that it is dropped first.
    items: Vec<Result<Record<'static>, BadLine>>,
    data: Data,
}

impl JsonOut {
    fn parse(chunk: Chunk) -> Self {
        let data = chunk.data;
        // SAFETY: `data` owns a heap buffer that is never written to or
        // freed while `items` holds records borrowing it: moving `Data`
        // into the struct does not move its heap bytes (it is a `Vec`
        // inside), nothing writes through it (it only derefs to `&[u8]`),
        // `items` is dropped first (field order) and only then is the
        // buffer handed back for reuse, and `for_each` hands records out
        // only with the lifetime of a borrow of `data`. So the `'static`
        // never outlives the bytes.
        let bytes: &'static [u8] = unsafe { &*(&*data as *const [u8]) };
        let mut items = Vec::with_capacity(chunk.lines as usize + 1);
        for l in chunk::lines_of(bytes, chunk.first_line, chunk.too_long, MAX_JSON_LINE) {
            if l.too_long.is_some() {
                items.push(Err(BadLine {
                    line: l.number,
                    reason: format!("line longer than {} MiB", MAX_JSON_LINE >> 20),
                }));
                continue;
            }
            handle_line(l.text, true, l.number, &mut 0, &mut |r| items.push(r));
        }
        Self { items, data }
    }

    /// Lends each record to `f`, in order (bad lines are handed over).
    fn for_each(&mut self, f: &mut dyn FnMut(Result<&Record<'_>, BadLine>)) {
        let data: &[u8] = &self.data;
        for item in &mut self.items {
            match item {
                Ok(r) => f(Ok(shorten(r, data))),
                Err(b) => f(Err(std::mem::replace(
                    b,
                    BadLine {
                        line: b.line,
                        reason: String::new(),
                    },
                ))),
            }
        }
    }
}

/// A record's true lifetime: that of the bytes it borrows.
fn shorten<'r, 's>(r: &'r Record<'static>, _bytes: &'s [u8]) -> &'r Record<'s> {
    r
}
