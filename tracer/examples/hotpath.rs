//! CPU per record of the daemon's eBPF pipeline without a kernel: replays
//! realistic exec + exit ring-buffer records (an interactive login's
//! commands: 3-6 arguments, a home-directory cwd, a session cgroup) through
//! the owned path (`Decoder::decode` -> `Pipeline::write` -> sinks) and the
//! hot path (`Pipeline::ebpf_record`), with the hash chain and the session
//! tracker on, into a log file on disk, in drains of `BATCH` records.
//!
//! `cargo run --release -p tracer --example hotpath [RECORDS]`
//!
//! It measures the user-space part only (no ring-buffer reads, no epoll,
//! no tokio): `cargo xtask bench exec` measures the whole daemon under a
//! real storm.

use std::time::Instant;

use tracer::config::{Config, FlushMode, Size};
use tracer::pipeline::Pipeline;
use tracer::session::{NoLoginInfo, SessionTracker, TrackerOptions};
use tracer::sink::Sinks;
use tracer::source::cgroup::CgroupPaths;
use tracer::source::ebpf::decode::{Decoder, Record};
use tracer_common::event::{EventHeader, ExecEvent, ExitEvent, FLAG_ARGC_FROM_STACK};
use tracer_common::kind::EventKind;

const BATCH: usize = 256;

fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a[..b.len().min(N)].copy_from_slice(&b[..b.len().min(N)]);
    a
}

fn exec(i: u32, boot_ns: u64) -> Vec<u8> {
    let cmds: [(&[u8], &[u8]); 4] = [
        (b"/usr/bin/ls", b"ls\0-la\0--color=auto\0/home/alice/src\0"),
        (
            b"/usr/bin/grep",
            b"grep\0-rn\0TODO\0--include=*.rs\0src/\0-i\0",
        ),
        (b"/usr/bin/git", b"git\0status\0--short\0"),
        (
            b"/usr/bin/python3",
            b"python3\0train.py\0--epochs\x00100\0--lr=3e-4\0",
        ),
    ];
    let (exe, args) = cmds[i as usize % cmds.len()];
    let cwd: &[u8] = b"project\0src\0alice\0home\0";
    let hdr = std::mem::size_of::<ExecEvent>();
    let ev = ExecEvent {
        header: EventHeader {
            kind: EventKind::Exec as u32,
            size: (hdr + exe.len() + cwd.len() + args.len()) as u32,
            boot_ns,
        },
        pid: 10_000 + i % 30_000,
        tid: 10_000 + i % 30_000,
        ppid: 9_999,
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        auid: 1000,
        ses: 5,
        ret: 0,
        argc: args.iter().filter(|&&b| b == 0).count() as u32,
        args_size: args.len() as u32,
        exe_len: exe.len() as u32,
        argv_len: args.len() as u32,
        cwd_len: cwd.len() as u32,
        flags: FLAG_ARGC_FROM_STACK,
        cgroup_id: 2,
        start_boottime: boot_ns - 1000,
        comm: fixed(exe.rsplit(|&b| b == b'/').next().unwrap_or(exe)),
        tty: fixed(b"pts3"),
        job_cgroup: [0; tracer_common::event::JOB_CGROUP_LEN],
    };
    // SAFETY: ExecEvent is plain data without padding (asserted in common).
    let raw = unsafe { std::slice::from_raw_parts((&ev as *const ExecEvent).cast::<u8>(), hdr) };
    let mut v = raw.to_vec();
    v.extend_from_slice(exe);
    v.extend_from_slice(cwd);
    v.extend_from_slice(args);
    v
}

fn exit(i: u32, boot_ns: u64, start: u64) -> Vec<u8> {
    let ev = ExitEvent {
        header: EventHeader {
            kind: EventKind::Exit as u32,
            size: std::mem::size_of::<ExitEvent>() as u32,
            boot_ns,
        },
        pid: 10_000 + i % 30_000,
        auid: 1000,
        ses: 5,
        exit_code: 0,
        flags: 0,
        _pad: 0,
        start_boottime: start,
    };
    // SAFETY: ExitEvent is plain data without padding (asserted in common).
    unsafe {
        std::slice::from_raw_parts(
            (&ev as *const ExitEvent).cast::<u8>(),
            std::mem::size_of::<ExitEvent>(),
        )
    }
    .to_vec()
}

fn records(n: usize) -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(n);
    for i in 0..(n / 2) as u32 {
        // 10,000 execs/s: one every 100 µs.
        let t = 1_000_000_000 + i as u64 * 100_000;
        v.push(exec(i, t));
        v.push(exit(i, t + 50_000, t - 1000));
    }
    v
}

fn pipeline() -> Pipeline<NoLoginInfo> {
    Pipeline::new(
        SessionTracker::new(TrackerOptions::default(), NoLoginInfo),
        CgroupPaths::fixed([(2, "/user.slice/user-1000.slice/session-5.scope".to_string())]),
    )
}

fn config(dir: &std::path::Path) -> Config {
    let mut cfg = Config::default();
    cfg.log.enabled = true;
    cfg.log.file = dir.join("logs/tracer.log");
    cfg.log.max_size = Size(0);
    cfg.log.flush = FlushMode::None;
    cfg.log.chain = true;
    cfg.log.chain_key = dir.join("key/chain.key");
    cfg.syslog.enabled = false;
    cfg
}

fn cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(400_000);
    let recs = records(n);
    let dec = Decoder {
        host: "node1".into(),
        boot_to_wall_ns: 1_764_600_000_000_000_000,
    };
    for round in 0..3 {
        let d = tempfile::tempdir().expect("temporary directory");
        let mut s = Sinks::open(&config(d.path()), "node1").expect("opening the log");
        let mut p = pipeline();
        let (c0, w0) = (cpu_ns(), Instant::now());
        for chunk in recs.chunks(BATCH) {
            let mut batch: Vec<_> = chunk
                .iter()
                .map(|r| dec.decode(r).expect("records decode"))
                .collect();
            p.write(&mut s, &mut batch).expect("writing");
        }
        s.close().expect("closing");
        let owned = (cpu_ns() - c0) as f64 / recs.len() as f64;
        let wall_owned = w0.elapsed();

        let d = tempfile::tempdir().expect("temporary directory");
        let mut s = Sinks::open(&config(d.path()), "node1").expect("opening the log");
        let mut p = pipeline();
        let (c0, w0) = (cpu_ns(), Instant::now());
        for chunk in recs.chunks(BATCH) {
            for r in chunk {
                p.ebpf_record(&dec, Record::parse(r).expect("records parse"), &mut s)
                    .expect("writing");
            }
            s.flush().expect("flushing");
        }
        s.close().expect("closing");
        let hot = (cpu_ns() - c0) as f64 / recs.len() as f64;
        println!(
            "round {round}: {} records (exec + exit), chain and tracker on: owned {owned:.0} ns/record ({:.0} ns/exec), hot path {hot:.0} ns/record ({:.0} ns/exec); wall {:?} vs {:?}",
            recs.len(),
            owned * 2.0,
            hot * 2.0,
            wall_owned,
            w0.elapsed()
        );
    }
}
