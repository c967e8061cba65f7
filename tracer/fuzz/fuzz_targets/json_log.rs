//! tracer's own log as the report reads it: the whole input through the
//! report's reader (`report::input::read_stream`: chunks of whole lines, the
//! line cap, the JSON record parser), on one thread and on two with small
//! chunks, and the owned `Event` model. No panic, no hang; both reads give the
//! same records and bad lines; a record that parses as an `Event` serializes
//! back to one line.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tracer::event::Event;
use tracer::logread::{Detected, Format, Opened};
use tracer::report::input::{read_stream, ReadOpts};

fn read(data: &[u8], threads: usize, chunk_bytes: usize) -> (Vec<String>, u64) {
    let opened = Opened {
        name: "fuzz".into(),
        detected: Detected::Known(Format::TracerJson),
        ausearch: false,
        gzip: false,
        reader: Box::new(Cursor::new(data.to_vec())),
    };
    let mut seen = Vec::new();
    let end = read_stream(
        Format::TracerJson,
        vec![opened],
        "fuzz",
        ReadOpts {
            threads,
            chunk_bytes,
        },
        &mut |r| {
            seen.push(match r {
                Ok(rec) => format!(
                    "{:?} {:?} {:?}",
                    rec.kind,
                    rec.time,
                    rec.argv.as_ref().map(Vec::len)
                ),
                Err(b) => format!("bad {} {}", b.line, b.reason),
            })
        },
    );
    (seen, end.incomplete)
}

fuzz_target!(|data: &[u8]| {
    let one = read(data, 1, 1 << 16);
    let two = read(data, 2, 64);
    assert_eq!(one, two, "one thread and two read differently");
    for line in data.split(|&b| b == b'\n') {
        if let Ok(e) = serde_json::from_slice::<Event>(line) {
            assert!(!e.to_json().contains('\n'));
        }
    }
    if let Ok(e) = serde_json::from_slice::<Event>(data) {
        assert!(!e.to_json().contains('\n'));
    }
});
