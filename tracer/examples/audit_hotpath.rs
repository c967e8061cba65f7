//! CPU per exec of the daemon's audit pipeline without a kernel: replays
//! the netlink records of realistic execs (SYSCALL, EXECVE, CWD, two PATH,
//! PROCTITLE, EOE, as the kernel writes them for the multicast group)
//! through the owned path (`coalesce_batch` -> `Event` ->
//! `Pipeline::write`) and the hot path (`Pipeline::audit_exec`), with the
//! hash chain and the session tracker on, into a log file on disk, in
//! batches of `BATCH` execs (what the receiver gathers in its linger at
//! ~500 execs/s).
//!
//! `cargo run --release -p tracer --example audit_hotpath [EXECS]`; under
//! `valgrind --tool=callgrind` with a few thousand execs for instruction
//! counts.
//!
//! It measures the user-space part only (no recvmmsg, no poll, no tokio):
//! `cargo xtask bench exec` measures the whole daemon under a real storm.

use std::time::Instant;

use tracer::config::{Config, FlushMode, Size};
use tracer::event::Event;
use tracer::pipeline::Pipeline;
use tracer::session::{NoLoginInfo, SessionTracker, TrackerOptions};
use tracer::sink::Sinks;
use tracer::source::audit::coalesce::Coalesced;
use tracer::source::audit::live::coalesce_batch;
use tracer::source::audit::receiver::Batch;
use tracer::source::audit::{Coalescer, CoalescerConfig};
use tracer::source::cgroup::CgroupPaths;

const BATCH: usize = 25;

/// The records of exec `i`, as (type, body).
fn exec(i: u32) -> Vec<(u16, String)> {
    let cmds: [(&str, &[&str]); 4] = [
        (
            "/usr/bin/ls",
            &["ls", "-la", "--color=auto", "/home/alice/src"],
        ),
        (
            "/usr/bin/grep",
            &["grep", "-rn", "TODO", "--include=*.rs", "src/", "-i"],
        ),
        ("/usr/bin/git", &["git", "status", "--short"]),
        ("/usr/bin/make", &["make", "-j4", "all"]),
    ];
    let (exe, argv) = cmds[i as usize % cmds.len()];
    let comm = argv[0];
    // 10,000 execs/s: one every 100 µs.
    let ms = 1_700_000_000_000u64 + u64::from(i) / 10;
    let st = format!("audit({}.{:03}:{}): ", ms / 1000, ms % 1000, 1000 + i);
    let pid = 10_000 + i % 20_000;
    let mut execve = format!("{st}argc={}", argv.len());
    for (n, a) in argv.iter().enumerate() {
        execve.push_str(&format!(" a{n}=\"{a}\""));
    }
    vec![
        (1300, format!("{st}arch=c000003e syscall=59 success=yes exit=0 a0=55d0 a1=55d1 a2=55d2 a3=0 items=2 ppid=4242 pid={pid} auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=5 comm=\"{comm}\" exe=\"{exe}\" subj=unconfined key=\"tracer_exec\"")),
        (1309, execve),
        (1307, format!("{st}cwd=\"/home/alice/src/project\"")),
        (1302, format!("{st}item=0 name=\"{exe}\" inode=1234 dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")),
        (1302, format!("{st}item=1 name=\"/lib64/ld-linux-x86-64.so.2\" inode=99 dev=fe:01 mode=0100755 ouid=0 ogid=0 rdev=00:00 nametype=NORMAL cap_fp=0 cap_fi=0 cap_fe=0 cap_fver=0 cap_frootid=0")),
        (1327, format!("{st}proctitle=2F62696E2F7368002D63")),
        (1320, st),
    ]
}

fn datagram(msg_type: u16, body: &str) -> Vec<u8> {
    let len = (16 + body.len() + 1) as u32;
    let mut d = Vec::with_capacity(len as usize);
    d.extend_from_slice(&len.to_ne_bytes());
    d.extend_from_slice(&msg_type.to_ne_bytes());
    d.extend_from_slice(&[0; 10]);
    d.extend_from_slice(body.as_bytes());
    d.push(0);
    d
}

fn batches(n: usize) -> Vec<Batch> {
    (0..n as u32)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| {
            let mut b = Batch::default();
            for &i in ids {
                for (t, body) in exec(i) {
                    b.push_datagram(&datagram(t, &body));
                }
            }
            b
        })
        .collect()
}

fn pipeline() -> Pipeline<NoLoginInfo> {
    Pipeline::new(
        SessionTracker::new(TrackerOptions::default(), NoLoginInfo),
        CgroupPaths::fixed([]),
    )
}

fn coalescer() -> Coalescer {
    Coalescer::new(CoalescerConfig {
        host: "node1".into(),
        ..CoalescerConfig::default()
    })
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
        .unwrap_or(100_000);
    let only = std::env::args().nth(2);
    let bs = batches(n);
    for round in 0..3 {
        let mut owned = f64::NAN;
        if only.as_deref() != Some("hot") {
            let d = tempfile::tempdir().expect("temporary directory");
            let mut s = Sinks::open(&config(d.path()), "node1").expect("opening the log");
            let mut p = pipeline();
            let mut c = coalescer();
            let c0 = cpu_ns();
            for b in &bs {
                let mut events: Vec<Event> = Vec::new();
                coalesce_batch(&mut c, b, "node1", &mut events);
                p.write(&mut s, &mut events).expect("writing");
            }
            s.close().expect("closing");
            owned = (cpu_ns() - c0) as f64 / n as f64;
        }
        let mut hot = f64::NAN;
        if only.as_deref() != Some("owned") {
            let d = tempfile::tempdir().expect("temporary directory");
            let mut s = Sinks::open(&config(d.path()), "node1").expect("opening the log");
            let mut p = pipeline();
            let mut c = coalescer();
            let mut out: Vec<Coalesced> = Vec::new();
            let (c0, w0) = (cpu_ns(), Instant::now());
            for b in &bs {
                coalesce_batch(&mut c, b, "node1", &mut out);
                for x in out.drain(..) {
                    p.audit(x, &mut s).expect("writing");
                }
                s.flush().expect("flushing");
            }
            s.close().expect("closing");
            hot = (cpu_ns() - c0) as f64 / n as f64;
            let _ = w0;
        }
        println!(
            "round {round}: {n} audit execs (7 records each), chain and tracker on: owned {owned:.0} ns/exec, hot path {hot:.0} ns/exec"
        );
        if only.is_some() {
            break;
        }
    }
}
