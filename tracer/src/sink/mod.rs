//! Where events go: JSON lines to stdout or to a log file.

pub mod file;

use std::io::{self, BufWriter, Write};

use crate::event::Event;

/// Writes one JSON object per line. Buffered: call [`JsonLines::flush`] after
/// each batch so that a reader sees whole lines promptly.
pub struct JsonLines {
    out: BufWriter<Box<dyn Write + Send>>,
    written: u64,
}

impl JsonLines {
    pub fn new(out: Box<dyn Write + Send>) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 16, out),
            written: 0,
        }
    }

    pub fn write(&mut self, e: &Event) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, e).map_err(io::Error::other)?;
        self.out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written
    }
}
