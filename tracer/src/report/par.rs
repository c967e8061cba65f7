//! Rendering groups on all cores, with the bytes of a serial run.
//!
//! A login node's report is tens of thousands of sessions of tens of
//! commands each. The renderers write each group's text without looking at
//! any other (what does depend on the groups before it, such as the text
//! report's user headings, is decided before), so runs of consecutive groups
//! can be written apart: batches of about [`BATCH_ROWS`] rows, each into its
//! own buffer, written out in order. Memory stays bounded (at most
//! [`WINDOW`] batches per thread are rendered ahead of the one being
//! written), and the output is the serial one byte for byte, whatever the
//! thread count (tests compare). Rendering was a third of a report's work,
//! and ran on one core after the parallel read (issue 14).
//!
//! The threads share the work rather than taking it in waves: each takes
//! the next batch as soon as it is free, and the calling thread, between
//! writing the finished batches out in order, renders batches too. Waves of
//! `threads` batches, each wave waiting for its slowest batch before the
//! next began, kept two cores only ~57 % busy while rendering.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{mpsc, Condvar, Mutex};

use super::display::Ctx;

/// Rows per batch: about a MB of output each, small next to the model (4,096
/// rows took 10 MB more at the peak of a 1 GB log's report on two threads).
pub const BATCH_ROWS: usize = 1024;

/// Batches rendered ahead of the one being written, per thread.
pub const WINDOW: usize = 2;

/// What writes a batch: (context, index of its first item, the batch, the
/// buffer to write into).
pub type Render<'r, T> = dyn Fn(&Ctx<'_>, usize, &[T], &mut Vec<u8>) -> io::Result<()> + Sync + 'r;

/// Cuts `items` into batches of about [`BATCH_ROWS`] rows: (index of the
/// first item, the items). At least one item each; a big group makes a
/// batch of its own.
fn cut<'a, T>(items: &'a [T], rows: &impl Fn(&T) -> usize) -> Vec<(usize, &'a [T])> {
    let mut out = Vec::new();
    let (mut rest, mut at) = (items, 0);
    while !rest.is_empty() {
        let (mut n, mut size) = (0, 0);
        while n < rest.len() && (n == 0 || size + rows(&rest[n]) <= BATCH_ROWS) {
            size += rows(&rest[n]);
            n += 1;
        }
        out.push((at, &rest[..n]));
        rest = &rest[n..];
        at += n;
    }
    out
}

/// Writes `items` in order: `render(ctx, at, batch, buf)` writes a run of
/// consecutive items, the first of them `items[at]`, into `buf`;
/// `rows(item)` is an item's size in rows (to cut batches). `threads`
/// threads render at once, this one among them (1: one batch after the
/// other on this thread).
pub fn in_batches<T: Sync>(
    items: &[T],
    rows: impl Fn(&T) -> usize,
    threads: usize,
    ctx: &Ctx<'_>,
    render: &Render<'_, T>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let batches = cut(items, &rows);
    let threads = threads.max(1).min(batches.len());
    if threads <= 1 {
        let mut buf = Vec::new();
        for &(at, batch) in &batches {
            buf.clear();
            render(ctx, at, batch, &mut buf)?;
            out.write_all(&buf)?;
        }
        return Ok(());
    }
    let shared = Shared {
        state: Mutex::new(State::default()),
        moved: Condvar::new(),
        count: batches.len(),
        window: WINDOW * threads,
    };
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, io::Result<Vec<u8>>)>();
        let helpers: Vec<_> = (1..threads)
            .map(|_| {
                let (tx, shared, batches) = (tx.clone(), &shared, &batches);
                // Each thread its own copy of the context (it caches a time
                // zone offset in a `Cell`).
                let ctx = ctx.clone();
                s.spawn(move || {
                    while let Some(i) = shared.take(true) {
                        let r = render_one(&ctx, render, batches[i], shared.buffer());
                        if tx.send((i, r)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let written = write_in_order(&batches, ctx, render, &shared, &rx, out);
        // Whatever happened, let the helpers go: none may wait for a
        // window that will not move again.
        shared.lock().stop = true;
        shared.moved.notify_all();
        drop(rx);
        // Every helper joined (not `all`, which would stop at the first
        // failure and leave the rest to the scope, which panics for them).
        let joined: Vec<bool> = helpers.into_iter().map(|h| h.join().is_ok()).collect();
        let joined = joined.into_iter().all(|ok| ok);
        written?;
        match joined {
            true => Ok(()),
            false => Err(panicked()),
        }
    })
}

/// What a render thread's panic becomes.
fn panicked() -> io::Error {
    io::Error::other("a report writer thread panicked")
}

/// Renders one batch into a buffer of its own; a panic becomes an error, so
/// that the batch's result always reaches the writer (which would wait for
/// it otherwise).
fn render_one<T>(
    ctx: &Ctx<'_>,
    render: &Render<'_, T>,
    (at, batch): (usize, &[T]),
    mut buf: Vec<u8>,
) -> io::Result<Vec<u8>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        render(ctx, at, batch, &mut buf)
    })) {
        Ok(r) => r.map(|()| buf),
        Err(_) => Err(panicked()),
    }
}

/// What the rendering threads share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when `written` moves or `stop` is set.
    moved: Condvar,
    /// Batches in all.
    count: usize,
    /// How far ahead of `written` a batch may be taken.
    window: usize,
}

#[derive(Default)]
struct State {
    /// The next batch nobody has taken.
    next: usize,
    /// Batches written out so far.
    written: usize,
    /// Set when the writer is done (or failed): helpers stop.
    stop: bool,
    /// Buffers of batches written out, for the next ones: a fresh buffer
    /// per batch faulted in a MB of new pages each time (five times the
    /// page faults of a serial run, ~10 % of its CPU time in the kernel).
    /// At most one per batch in flight.
    spare: Vec<Vec<u8>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer, a spare one if there is one.
    fn buffer(&self) -> Vec<u8> {
        self.lock().spare.pop().unwrap_or_default()
    }

    /// Records that `written` batches are out, the last of them in `buf`
    /// (kept for a next batch), and wakes the helpers waiting for the
    /// window to move.
    fn wrote(&self, written: usize, mut buf: Vec<u8>) {
        buf.clear();
        let mut st = self.lock();
        st.written = written;
        st.spare.push(buf);
        drop(st);
        self.moved.notify_all();
    }

    /// Takes the next batch, if it is fewer than `window` ahead of the
    /// batches written. A helper (`wait`) waits for that; the writer
    /// (`!wait`) does not. `None` when none is left (or, for a helper, when
    /// told to stop).
    fn take(&self, wait: bool) -> Option<usize> {
        let mut st = self.lock();
        loop {
            if st.stop || st.next >= self.count {
                return None;
            }
            if st.next < st.written + self.window {
                st.next += 1;
                return Some(st.next - 1);
            }
            if !wait {
                return None;
            }
            st = self.moved.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// The writer's side of [`in_batches`]: writes batches out in order as they
/// are done, rendering one itself whenever the next one to write is not
/// ready and a batch is free to take.
fn write_in_order<T: Sync>(
    batches: &[(usize, &[T])],
    ctx: &Ctx<'_>,
    render: &Render<'_, T>,
    shared: &Shared,
    rx: &mpsc::Receiver<(usize, io::Result<Vec<u8>>)>,
    out: &mut dyn Write,
) -> io::Result<()> {
    // Results not yet written, by index from `done`.
    let mut ready: VecDeque<Option<io::Result<Vec<u8>>>> = VecDeque::new();
    let put = |ready: &mut VecDeque<_>, done: usize, i: usize, r| {
        let k = i - done;
        if ready.len() <= k {
            ready.resize_with(k + 1, || None);
        }
        ready[k] = Some(r);
    };
    let mut done = 0;
    while done < batches.len() {
        while let Ok((i, r)) = rx.try_recv() {
            put(&mut ready, done, i, r);
        }
        if let Some(r) = ready.front_mut().and_then(Option::take) {
            ready.pop_front();
            let buf = r?;
            out.write_all(&buf)?;
            done += 1;
            shared.wrote(done, buf);
            continue;
        }
        if let Some(i) = shared.take(false) {
            put(
                &mut ready,
                done,
                i,
                render_one(ctx, render, batches[i], shared.buffer()),
            );
            continue;
        }
        // The next batch to write is a helper's: wait for one to finish.
        match rx.recv() {
            Ok((i, r)) => put(&mut ready, done, i, r),
            Err(_) => return Err(panicked()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_out_in_order_whatever_the_threads() {
        let names = crate::report::users::Names::default();
        let ctx = Ctx::new(&names, crate::report::display::Zone::Utc, false);
        // Items of mixed sizes, some bigger than a batch.
        let items: Vec<usize> = (0..3000).map(|i| (i * 7919) % 5000).collect();
        let render = |_: &Ctx<'_>, at: usize, b: &[usize], out: &mut Vec<u8>| -> io::Result<()> {
            for (k, i) in b.iter().enumerate() {
                assert_eq!(items[at + k], *i, "`at` is where the batch starts");
                writeln!(out, "{i}")?;
            }
            Ok(())
        };
        let want: String = items.iter().map(|i| format!("{i}\n")).collect();
        for threads in [1, 2, 3, 8] {
            let mut out = Vec::new();
            in_batches(&items, |&n| n, threads, &ctx, &render, &mut out).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), want, "{threads} threads");
        }
    }

    /// Counts the batches written out (each ends in a newline per item:
    /// the item count is what matters here, so count writes).
    struct Counting<'a>(&'a std::sync::atomic::AtomicUsize, Vec<u8>);

    impl Write for Counting<'_> {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_batch_is_rendered_more_than_a_window_ahead() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let names = crate::report::users::Names::default();
        let ctx = Ctx::new(&names, crate::report::display::Zone::Utc, false);
        // One row per batch: item i is batch i.
        let items: Vec<usize> = (0..200).collect();
        let written = AtomicUsize::new(0);
        let worst = AtomicUsize::new(0);
        let render = |_: &Ctx<'_>, at: usize, b: &[usize], out: &mut Vec<u8>| -> io::Result<()> {
            let ahead = at.saturating_sub(written.load(Ordering::SeqCst));
            worst.fetch_max(ahead, Ordering::SeqCst);
            for i in b {
                writeln!(out, "{i}")?;
            }
            Ok(())
        };
        for threads in [2, 3, 5] {
            worst.store(0, Ordering::SeqCst);
            written.store(0, Ordering::SeqCst);
            let mut out = Counting(&written, Vec::new());
            in_batches(&items, |_| BATCH_ROWS, threads, &ctx, &render, &mut out).unwrap();
            let want: String = items.iter().map(|i| format!("{i}\n")).collect();
            assert_eq!(String::from_utf8(out.1).unwrap(), want);
            let worst = worst.load(Ordering::SeqCst);
            assert!(
                worst < WINDOW * threads,
                "{threads} threads: {worst} batches ahead"
            );
        }
    }

    #[test]
    fn a_failing_or_panicking_batch_is_an_error_not_a_hang() {
        let names = crate::report::users::Names::default();
        let ctx = Ctx::new(&names, crate::report::display::Zone::Utc, false);
        let items: Vec<usize> = (0..100).collect();
        for bad in [0, 1, 37, 99] {
            for panics in [false, true] {
                let render =
                    |_: &Ctx<'_>, at: usize, b: &[usize], out: &mut Vec<u8>| -> io::Result<()> {
                        if at == bad {
                            if panics {
                                panic!("batch {at} (a test's deliberate panic)");
                            }
                            return Err(io::Error::other(format!("batch {at}")));
                        }
                        for i in b {
                            writeln!(out, "{i}")?;
                        }
                        Ok(())
                    };
                for threads in [1, 2, 4] {
                    if panics && threads == 1 {
                        // On the caller's own thread a panic is the caller's.
                        continue;
                    }
                    let mut out = Vec::new();
                    let r = in_batches(&items, |_| BATCH_ROWS, threads, &ctx, &render, &mut out);
                    assert!(
                        r.is_err(),
                        "batch {bad}, {threads} threads, panics {panics}"
                    );
                    // Everything before the bad batch was written, in order.
                    let want: String = items[..bad].iter().map(|i| format!("{i}\n")).collect();
                    assert_eq!(String::from_utf8(out).unwrap(), want);
                }
            }
        }
    }

    #[test]
    fn a_failing_output_stops_every_thread() {
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::new(io::ErrorKind::BrokenPipe, "closed"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let names = crate::report::users::Names::default();
        let ctx = Ctx::new(&names, crate::report::display::Zone::Utc, false);
        let items: Vec<usize> = (0..500).collect();
        let render = |_: &Ctx<'_>, _: usize, b: &[usize], out: &mut Vec<u8>| -> io::Result<()> {
            for i in b {
                writeln!(out, "{i}")?;
            }
            Ok(())
        };
        for threads in [1, 2, 8] {
            let r = in_batches(&items, |_| BATCH_ROWS, threads, &ctx, &render, &mut Full);
            assert_eq!(r.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        }
    }
}
