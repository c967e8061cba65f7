//! Lines -> parser -> coalescer, then flush: whatever the order, duplicates
//! or truncation of records, coalescing never panics and every event it
//! emits serializes to one JSON line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::event::Event;
use tracer::source::audit::{parse_line, Coalescer, CoalescerConfig};

fuzz_target!(|data: &[u8]| {
    let mut c = Coalescer::new(CoalescerConfig {
        host: "fuzz".into(),
        // Small limits so that the eviction paths are reached too.
        window: 16,
        max_open: 8,
        max_bytes: 1 << 16,
        ..CoalescerConfig::default()
    });
    let mut out: Vec<Event> = Vec::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(rec) = parse_line(line) {
            c.push(&rec, &mut out);
        }
    }
    c.flush(&mut out);
    for e in &out {
        let json = e.to_json();
        assert!(!json.contains('\n'), "a record spans lines: {json}");
    }
});
