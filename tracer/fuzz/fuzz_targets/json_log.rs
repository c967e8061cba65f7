//! tracer's own log as the report reads it: the JSON-lines source (whole
//! input, line by line) and the owned `Event` model. No panic; a record that
//! parses as an `Event` serializes back to one line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::event::Event;
use tracer::report::source::{JsonLines, RecordSource};

fuzz_target!(|data: &[u8]| {
    let mut src = JsonLines::new(data);
    let mut n = 0u64;
    src.for_each_record(&mut |r| {
        if let Ok(rec) = r {
            let _ = (rec.kind, rec.time, rec.argv.as_ref().map(Vec::len));
        }
        n += 1;
    });
    let _ = src.incomplete();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(e) = serde_json::from_slice::<Event>(line) {
            assert!(!e.to_json().contains('\n'));
        }
    }
    if let Ok(e) = serde_json::from_slice::<Event>(data) {
        assert!(!e.to_json().contains('\n'));
    }
});
