//! Reading one stream in chunks of whole lines, and working on the chunks on
//! all cores with the results handed back in input order.
//!
//! The pipeline: one thread reads (and, for gzip inputs, decompresses: the
//! [`super::lines::Concat`] it reads from undoes gzip) and cuts the stream
//! into [`Chunk`]s at line boundaries; `threads` workers run [`Work::work`]
//! on chunks as they come; the caller's thread receives the results strictly
//! in chunk order. A fixed number of chunks is in flight at once (tokens the
//! caller hands back when it is done with a chunk), so memory is bounded by
//! `chunk size x in-flight chunks` whatever the input size. The caller
//! borrows each result and hands it back to the worker that made it, to be
//! dropped there (see [`run`]: cross-thread frees were most of the cost of
//! reading on two threads). With one thread there is no pipeline at all:
//! read, work and consume take turns.
//!
//! Lines longer than the cap are not buffered whole: the reader skips them
//! and says so in the chunk ([`Chunk::too_long`]).

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Mutex, PoisonError};

/// A chunk's bytes: a buffer of the chunker's, handed back to it for the
/// next chunks when dropped. Reading into a fresh buffer per chunk zeroed
/// it first (`read_to_end` initialises spare capacity for readers like
/// ours) and, across threads, paid glibc's cross-arena frees; a recycled
/// buffer is read into as it is (issue 14).
#[derive(Default)]
pub struct Data {
    /// Initialised to its full length; the chunk is `buf[..len]`.
    buf: Vec<u8>,
    len: usize,
    pool: Option<Pool>,
}

impl Data {
    /// A buffer of its own (tests, and chunks made elsewhere).
    pub fn from_vec(buf: Vec<u8>) -> Self {
        let len = buf.len();
        Self {
            buf,
            len,
            pool: None,
        }
    }
}

impl std::ops::Deref for Data {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Data({} bytes)", self.len)
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.put(std::mem::take(&mut self.buf));
        }
    }
}

/// Buffers handed back by dropped chunks: at most [`Pool::KEEP`], none
/// bigger than `max` bytes (one grown for a long line is freed).
#[derive(Clone, Default)]
struct Pool {
    free: std::sync::Arc<Mutex<Vec<Vec<u8>>>>,
    max: usize,
}

impl Pool {
    /// More than the chunks in flight at once; more are freed.
    const KEEP: usize = 16;

    fn new(max: usize) -> Self {
        Self {
            free: Default::default(),
            max,
        }
    }

    fn put(&self, buf: Vec<u8>) {
        if buf.len() > self.max {
            return;
        }
        let mut v = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        if v.len() < Self::KEEP {
            v.push(buf);
        }
    }

    fn take(&self) -> Vec<u8> {
        let mut v = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        v.pop().unwrap_or_default()
    }
}

/// Whole lines of one stream.
#[derive(Debug, Default)]
pub struct Chunk {
    /// 0, 1, 2 ... in stream order.
    pub seq: u64,
    /// Lines, each ending with `\n`.
    pub data: Data,
    /// The stream's line number of the line before the first one here
    /// (so line `i` of the chunk, 0-based, is `first_line + i + 1`).
    pub first_line: u64,
    /// Lines in `data`.
    pub lines: u64,
    /// A line after those in `data` that was longer than the cap, skipped
    /// unread: its length without the newline. It is line
    /// `first_line + lines + 1`.
    pub too_long: Option<u64>,
}

/// One line of a chunk.
#[derive(Debug, Clone, Copy)]
pub struct ChunkLine<'a> {
    /// 0-based index within the chunk.
    pub index: u64,
    /// 1-based number within the stream.
    pub number: u64,
    /// Without its `\n`; empty when `too_long`.
    pub text: &'a [u8],
    /// Longer than the cap: the length without the newline.
    pub too_long: Option<u64>,
}

impl Chunk {
    /// The lines, the skipped over-long one (if any) last; a line of `data`
    /// longer than `max_line` comes as too long too.
    pub fn lines(&self, max_line: usize) -> impl Iterator<Item = ChunkLine<'_>> + '_ {
        lines_of(&self.data, self.first_line, self.too_long, max_line)
    }

    /// Lines including a skipped over-long one.
    pub fn line_count(&self) -> u64 {
        self.lines + u64::from(self.too_long.is_some())
    }
}

/// The lines of a chunk's `data` (see [`Chunk::lines`]), borrowed for as
/// long as `data` is.
pub fn lines_of(
    data: &[u8],
    first_line: u64,
    too_long: Option<u64>,
    max_line: usize,
) -> impl Iterator<Item = ChunkLine<'_>> + '_ {
    let mut start = 0usize;
    let mut index = 0u64;
    let mut extra_done = false;
    std::iter::from_fn(move || {
        if start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
            let text = &data[start..end];
            start = end + 1;
            let long = text.len() > max_line;
            let l = ChunkLine {
                index,
                number: first_line + index + 1,
                text: if long { &[] } else { text },
                too_long: long.then_some(text.len() as u64),
            };
            index += 1;
            return Some(l);
        }
        if let (Some(n), false) = (too_long, extra_done) {
            extra_done = true;
            return Some(ChunkLine {
                index,
                number: first_line + index + 1,
                text: &[],
                too_long: Some(n),
            });
        }
        None
    })
}

/// How a stream is cut and worked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOpts {
    /// Worker threads; 1 reads, works and consumes on the caller's thread.
    pub threads: usize,
    /// Target bytes per chunk (a chunk ends at the last newline after it).
    pub chunk_bytes: usize,
    /// Longest line kept, without its newline; longer ones are skipped.
    pub max_line: usize,
}

impl ChunkOpts {
    /// All cores, 512 KiB chunks.
    pub fn new(threads: usize, max_line: usize) -> Self {
        let threads = if threads == 0 {
            available_cores()
        } else {
            threads
        };
        Self {
            threads,
            chunk_bytes: 512 << 10,
            max_line,
        }
    }
}

/// The cores this process may run on.
pub fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the workers do with a chunk.
pub trait Work: Sync {
    type Out: Send;
    fn work(&self, chunk: Chunk) -> Self::Out;
}

/// Cuts a byte stream into chunks of whole lines.
pub struct Chunker<R> {
    input: R,
    opts: ChunkOpts,
    carry: Vec<u8>,
    next_line: u64,
    seq: u64,
    eof: bool,
    /// A read error met after some whole lines, returned after them.
    error: Option<io::Error>,
    pool: Pool,
}

impl<R: Read> Chunker<R> {
    pub fn new(input: R, opts: ChunkOpts) -> Self {
        Self {
            input,
            opts,
            carry: Vec::new(),
            next_line: 0,
            seq: 0,
            eof: false,
            error: None,
            pool: Pool::new(opts.chunk_bytes.max(1).saturating_mul(2)),
        }
    }

    /// Reads until `buf[..*filled]` holds `want` bytes or the input ends.
    /// `buf` is initialised to its full length (grown with zeros when
    /// `want` is beyond it) and read into in place. On an error, what was
    /// read before it stays counted in `filled`.
    fn fill(&mut self, buf: &mut Vec<u8>, filled: &mut usize, want: usize) -> io::Result<()> {
        if buf.len() < want {
            buf.resize(want, 0);
        }
        while *filled < want && !self.eof {
            match self.input.read(&mut buf[*filled..want]) {
                Ok(0) => self.eof = true,
                Ok(n) => *filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next chunk, `None` at the end of the stream.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let target = self.opts.chunk_bytes.max(1);
        let mut buf = self.pool.take();
        if buf.len() < target.max(self.carry.len()) {
            buf.resize(target.max(self.carry.len()), 0);
        }
        let mut filled = self.carry.len();
        buf[..filled].copy_from_slice(&self.carry);
        self.carry.clear();
        let mut want = target;
        loop {
            let goal = want.max(filled);
            if let Err(e) = self.fill(&mut buf, &mut filled, goal) {
                // The whole lines read before the error still count.
                let Some(i) = memchr::memrchr(b'\n', &buf[..filled]) else {
                    return Err(e);
                };
                self.error = Some(e);
                return Ok(Some(self.emit(buf, i + 1, None)));
            }
            if let Some(i) = memchr::memrchr(b'\n', &buf[..filled]) {
                self.carry.extend_from_slice(&buf[i + 1..filled]);
                return Ok(Some(self.emit(buf, i + 1, None)));
            }
            // No newline in the whole buffer: one line longer than `target`.
            if filled == 0 && self.eof {
                self.pool.put(buf);
                return Ok(None);
            }
            if self.eof {
                // Streams from `Concat` end with a newline; any other gets one.
                if buf.len() == filled {
                    buf.push(b'\n');
                } else {
                    buf[filled] = b'\n';
                }
                filled += 1;
                continue;
            }
            if filled > self.opts.max_line {
                let skipped = self.skip_line(filled as u64)?;
                self.pool.put(buf);
                return Ok(Some(self.emit(Vec::new(), 0, Some(skipped))));
            }
            want = (filled * 2).min(self.opts.max_line + 1).max(filled + 1);
        }
    }

    /// Reads to the end of an over-long line, `seen` bytes of which were
    /// read already; returns its length without the newline.
    fn skip_line(&mut self, mut seen: u64) -> io::Result<u64> {
        let mut scratch = vec![0u8; 64 << 10];
        loop {
            let n = match self.input.read(&mut scratch) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(seen);
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if let Some(i) = memchr::memchr(b'\n', &scratch[..n]) {
                self.carry = scratch[i + 1..n].to_vec();
                return Ok(seen + i as u64);
            }
            seen += n as u64;
        }
    }

    fn emit(&mut self, buf: Vec<u8>, len: usize, too_long: Option<u64>) -> Chunk {
        let lines = memchr::memchr_iter(b'\n', &buf[..len]).count() as u64;
        let c = Chunk {
            seq: self.seq,
            data: Data {
                buf,
                len,
                pool: Some(self.pool.clone()),
            },
            first_line: self.next_line,
            lines,
            too_long,
        };
        self.seq += 1;
        self.next_line += c.line_count();
        c
    }
}

/// Reads `input` in chunks, runs `work` on each (on `opts.threads` threads),
/// and hands the results to `consume` in stream order. A read error stops
/// the stream after the chunks before it were consumed, and is returned.
///
/// `consume` borrows each result; afterwards it goes back to the worker that
/// made it, which drops it before its next chunk. A result's records were
/// allocated by that worker, and glibc's allocator makes a free from another
/// thread expensive: it takes the lock of the arena the memory came from
/// (contended while its worker allocates), and the memory never returns to
/// the worker's thread cache, so each of the worker's allocations takes the
/// slow path. Dropping results where they were made keeps both cheap.
pub fn run<R, W>(
    input: R,
    opts: ChunkOpts,
    work: &W,
    consume: &mut dyn FnMut(&mut W::Out),
) -> io::Result<()>
where
    R: Read + Send,
    W: Work,
{
    let mut chunker = Chunker::new(input, opts);
    if opts.threads <= 1 {
        while let Some(c) = chunker.next_chunk()? {
            consume(&mut work.work(c));
        }
        return Ok(());
    }
    // Enough to keep every worker busy while the caller takes results in
    // order; each costs a chunk and its results in memory.
    let in_flight = opts.threads + 2;
    let (job_tx, job_rx) = sync_channel::<Chunk>(in_flight);
    let jobs: Mutex<Receiver<Chunk>> = Mutex::new(job_rx);
    let jobs = &jobs;
    std::thread::scope(|s| {
        let (res_tx, res_rx) = channel::<(u64, usize, Result<W::Out, io::Error>)>();
        let (tok_tx, tok_rx) = sync_channel::<()>(in_flight);
        for _ in 0..in_flight {
            let _ = tok_tx.send(());
        }
        let reader_res = res_tx.clone();
        s.spawn(move || loop {
            if tok_rx.recv().is_err() {
                return;
            }
            match chunker.next_chunk() {
                Ok(Some(c)) => {
                    if job_tx.send(c).is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = reader_res.send((chunker.seq, 0, Err(e)));
                    return;
                }
            }
        });
        // Each worker's used results, sent back to be dropped by it.
        let mut back = Vec::with_capacity(opts.threads);
        for w in 0..opts.threads {
            let res_tx = res_tx.clone();
            let (back_tx, back_rx) = channel::<W::Out>();
            back.push(back_tx);
            s.spawn(move || loop {
                while let Ok(used) = back_rx.try_recv() {
                    drop(used);
                }
                let job = jobs.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok(c) = job else {
                    // No more chunks: drop the rest as they come back,
                    // until the caller is done.
                    drop(res_tx);
                    back_rx.iter().for_each(drop);
                    return;
                };
                let seq = c.seq;
                if res_tx.send((seq, w, Ok(work.work(c)))).is_err() {
                    return;
                }
            });
        }
        drop(res_tx);
        let mut next = 0u64;
        let mut waiting: BTreeMap<u64, (usize, Result<W::Out, io::Error>)> = BTreeMap::new();
        for (seq, w, out) in res_rx.iter() {
            waiting.insert(seq, (w, out));
            while let Some((w, out)) = waiting.remove(&next) {
                next += 1;
                match out {
                    Ok(mut out) => {
                        consume(&mut out);
                        // A worker that has stopped leaves it to us.
                        let _ = back[w].send(out);
                        let _ = tok_tx.send(());
                    }
                    // Dropping the receivers stops the reader and workers.
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect;
    impl Work for Collect {
        type Out = (u64, Vec<(u64, Vec<u8>, Option<u64>)>);
        fn work(&self, c: Chunk) -> Self::Out {
            let v = c
                .lines(8)
                .map(|l| (l.number, l.text.to_vec(), l.too_long))
                .collect();
            (c.seq, v)
        }
    }

    fn collect(input: &[u8], threads: usize, chunk: usize) -> Vec<(u64, Vec<u8>, Option<u64>)> {
        let opts = ChunkOpts {
            threads,
            chunk_bytes: chunk,
            max_line: 8,
        };
        let mut out = Vec::new();
        let mut seqs = Vec::new();
        run(input, opts, &Collect, &mut |(s, v)| {
            seqs.push(*s);
            out.append(v)
        })
        .unwrap();
        assert!(seqs.windows(2).all(|w| w[0] + 1 == w[1]), "{seqs:?}");
        out
    }

    #[test]
    fn chunks_keep_lines_whole_numbered_and_capped() {
        let input = b"a\nbb\n0123456789abcdef\nccc\n\n012345678\nd";
        let want = vec![
            (1, b"a".to_vec(), None),
            (2, b"bb".to_vec(), None),
            (3, vec![], Some(16)),
            (4, b"ccc".to_vec(), None),
            (5, vec![], None),
            (6, vec![], Some(9)),
            (7, b"d".to_vec(), None),
        ];
        for threads in [1, 2, 3] {
            for chunk in [1, 2, 3, 5, 7, 16, 1000] {
                assert_eq!(collect(input, threads, chunk), want, "{threads} {chunk}");
            }
        }
    }

    /// A result that notes which thread made it and which dropped it.
    struct Noted {
        made: std::thread::ThreadId,
        log: std::sync::Arc<Mutex<Vec<(std::thread::ThreadId, std::thread::ThreadId)>>>,
    }
    impl Drop for Noted {
        fn drop(&mut self) {
            let me = std::thread::current().id();
            self.log.lock().unwrap().push((self.made, me));
        }
    }
    struct Note(std::sync::Arc<Mutex<Vec<(std::thread::ThreadId, std::thread::ThreadId)>>>);
    impl Work for Note {
        type Out = Noted;
        fn work(&self, _: Chunk) -> Noted {
            Noted {
                made: std::thread::current().id(),
                log: self.0.clone(),
            }
        }
    }

    #[test]
    fn results_are_dropped_by_the_worker_that_made_them() {
        let input = b"line\n".repeat(500);
        for threads in [2, 3] {
            let log = std::sync::Arc::new(Mutex::new(Vec::new()));
            let opts = ChunkOpts {
                threads,
                chunk_bytes: 5,
                max_line: 8,
            };
            let mut seen = 0;
            run(
                &input[..],
                opts,
                &Note(log.clone()),
                &mut |n: &mut Noted| {
                    assert_ne!(n.made, std::thread::current().id());
                    seen += 1;
                },
            )
            .unwrap();
            let log = log.lock().unwrap();
            assert_eq!(seen, 500);
            assert_eq!(log.len(), 500, "{threads}: every result dropped");
            let elsewhere = log.iter().filter(|(m, d)| m != d).count();
            assert_eq!(elsewhere, 0, "{threads}: dropped by another thread");
        }
    }

    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "corrupt"));
            }
            self.0 -= 1;
            buf[..2].copy_from_slice(b"x\n");
            Ok(2)
        }
    }

    #[test]
    fn read_error_comes_after_the_lines_before_it() {
        for threads in [1, 2] {
            let opts = ChunkOpts {
                threads,
                chunk_bytes: 4,
                max_line: 8,
            };
            let mut n = 0;
            let e = run(Failing(5), opts, &Collect, &mut |(_, v)| n += v.len()).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            assert_eq!(n, 5, "{threads}");
        }
    }
}
