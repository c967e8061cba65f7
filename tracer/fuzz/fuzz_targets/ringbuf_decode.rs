//! Ring-buffer bytes -> `Event`: lengths in the header are not trusted.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::source::ebpf::decode::Decoder;

fuzz_target!(|data: &[u8]| {
    let d = Decoder {
        host: "fuzz".into(),
        boot_to_wall_ns: 1_700_000_000_000_000_000,
    };
    if let Ok(e) = d.decode(data) {
        assert!(!e.to_json().contains('\n'));
    }
});
