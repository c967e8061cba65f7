//! Rendering groups on all cores, with the bytes of a serial run.
//!
//! A login node's report is tens of thousands of sessions of tens of
//! commands each. The renderers write each group's text without looking at
//! any other (what does depend on the groups before it, such as the text
//! report's user headings, is decided before), so runs of consecutive groups
//! can be written apart: batches of about [`BATCH_ROWS`] rows, `threads` of
//! them at once, each into its own buffer, written out in order. Memory
//! stays bounded (a wave of batches at a time), and the output is the
//! serial one byte for byte, whatever the thread count (tests compare).
//! Rendering was a third of a report's work, and ran on one core after the
//! parallel read (issue 14).

use std::io::{self, Write};

use super::display::Ctx;

/// Rows per batch: about a MB of output each, small next to the model (4,096
/// rows took 10 MB more at the peak of a 1 GB log's report on two threads).
pub const BATCH_ROWS: usize = 1024;

/// What writes a batch: (context, index of its first item, the batch, the
/// buffer to write into).
pub type Render<'r, T> = dyn Fn(&Ctx<'_>, usize, &[T], &mut Vec<u8>) -> io::Result<()> + Sync + 'r;

/// Writes `items` in order: `render(ctx, at, batch, buf)` writes a run of
/// consecutive items, the first of them `items[at]`, into `buf`;
/// `rows(item)` is an item's size in rows (to cut batches). `threads` batches are written at once (1: one after
/// the other on this thread).
pub fn in_batches<T: Sync>(
    items: &[T],
    rows: impl Fn(&T) -> usize,
    threads: usize,
    ctx: &Ctx<'_>,
    render: &Render<'_, T>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let threads = threads.max(1);
    let mut rest = items;
    let mut at = 0;
    let mut buf = Vec::new();
    while !rest.is_empty() {
        let mut batches: Vec<(usize, &[T])> = Vec::with_capacity(threads);
        while batches.len() < threads && !rest.is_empty() {
            let (mut n, mut size) = (0, 0);
            // At least one item; a big group makes a batch of its own.
            while n < rest.len() && (n == 0 || size + rows(&rest[n]) <= BATCH_ROWS) {
                size += rows(&rest[n]);
                n += 1;
            }
            batches.push((at, &rest[..n]));
            rest = &rest[n..];
            at += n;
        }
        if let [(at, batch)] = batches[..] {
            buf.clear();
            render(ctx, at, batch, &mut buf)?;
            out.write_all(&buf)?;
            continue;
        }
        let done: Vec<io::Result<Vec<u8>>> = std::thread::scope(|s| {
            let mut batches = batches.into_iter();
            let head = batches.next().unwrap_or_default();
            let others: Vec<_> = batches
                .map(|(at, b)| {
                    // Each thread its own copy of the context (it caches a
                    // time zone offset in a `Cell`).
                    let ctx = ctx.clone();
                    s.spawn(move || {
                        let mut buf = Vec::new();
                        render(&ctx, at, b, &mut buf).map(|()| buf)
                    })
                })
                .collect();
            let mut first = Vec::new();
            let mut all = vec![render(ctx, head.0, head.1, &mut first).map(|()| first)];
            all.extend(others.into_iter().map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a report writer thread panicked")))
            }));
            all
        });
        for b in done {
            out.write_all(&b?)?;
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
}
