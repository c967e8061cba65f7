//! Embeds the eBPF object built by `cargo xtask build-ebpf`, when there is one.
//!
//! The object is looked for at `$TRACER_EBPF_OBJECT`, else at
//! `<workspace>/target/bpf/tracer.bpf.o`. Without it tracer still builds: the
//! audit backend and the report work, and asking for eBPF says how to get it.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tracer_ebpf_embedded)");
    println!("cargo::rerun-if-env-changed=TRACER_EBPF_OBJECT");
    let path = match std::env::var_os("TRACER_EBPF_OBJECT") {
        Some(p) => PathBuf::from(p),
        None => {
            let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
            manifest
                .join("..")
                .join("target")
                .join("bpf")
                .join("tracer.bpf.o")
        }
    };
    println!("cargo::rerun-if-changed={}", path.display());
    if path.is_file() {
        println!("cargo::rustc-cfg=tracer_ebpf_embedded");
        println!(
            "cargo::rustc-env=TRACER_EBPF_OBJECT_PATH={}",
            path.display()
        );
    }
}
