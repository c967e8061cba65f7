//! A progress bar on stderr for long reports. Drawn only when asked (the
//! binary asks when stderr is a terminal) and when the input is large enough
//! to take more than a moment; redrawn at most every 200 ms, from the count
//! of bytes read from disk, and erased at the end so it never mixes with the
//! report or the warnings.

use std::io::Write;
use std::time::{Duration, Instant};

use super::input::ByteCounter;

/// Inputs smaller than this get no bar.
pub const MIN_BYTES: u64 = 64 << 20;

pub struct Progress {
    enabled: bool,
    total: u64,
    counter: ByteCounter,
    last: Instant,
    drawn: bool,
}

impl Progress {
    pub fn new(enabled: bool, total: u64, counter: ByteCounter) -> Self {
        Self {
            enabled: enabled && total >= MIN_BYTES,
            total,
            counter,
            last: Instant::now(),
            drawn: false,
        }
    }

    /// Redraws if enough time has passed.
    pub fn tick(&mut self) {
        if !self.enabled || self.last.elapsed() < Duration::from_millis(200) {
            return;
        }
        self.last = Instant::now();
        let done = self.counter.get().min(self.total);
        let frac = done as f64 / self.total.max(1) as f64;
        let width = 40;
        let filled = (frac * width as f64) as usize;
        let bar = format!(
            "\r[{}{}] {:3.0}% {}/{} MiB",
            "#".repeat(filled),
            " ".repeat(width - filled.min(width)),
            frac * 100.0,
            done >> 20,
            self.total >> 20
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bar.as_bytes());
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the bar.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\r", " ".repeat(70));
            let _ = err.flush();
            self.drawn = false;
        }
    }
}
