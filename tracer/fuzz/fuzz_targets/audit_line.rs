//! The stateless audit line parser: any bytes give a record or an error,
//! never a panic; every field of a record can be iterated.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::source::audit::parse_line;

fuzz_target!(|data: &[u8]| {
    if let Ok(rec) = parse_line(data) {
        for f in rec.fields() {
            let _ = (f.name, f.value);
        }
        let _ = rec.get(b"a0");
    }
});
