//! Issue 13, item 4: the daemon's eBPF hot path (ring bytes -> borrowed
//! view -> JSON line, no `Event`) writes exactly what the owned path
//! (`Decoder::decode` -> `Pipeline::write` -> `Sinks::write`) writes for the
//! same records, byte for byte, session records and the hash chain
//! included. No kernel needed: the records are built here, the sinks write
//! to a temporary directory.
//!
//! - `tests/fixtures/ebpf/records.bin` is a fixture of raw `ExecEvent` and
//!   `ExitEvent` records (odd bytes in argv and cwd, truncation, failed
//!   execs, thread execs, unset auid/ses, sudo/su parents, Slurm and unknown
//!   cgroups, session leaders' exits), each preceded by its length as a
//!   little-endian u32; `records.jsonl` is what both paths make of it
//!   (without the seal). `WRITE_GOLDEN=1` rewrites both (review the diff).
//! - A property test (fixed seed) feeds random records to both paths.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use tracer::config::{Config, FlushMode, Size};
use tracer::pipeline::Pipeline;
use tracer::session::{NoLoginInfo, SessionTracker, TrackerOptions};
use tracer::sink::chain::load_key;
use tracer::sink::Sinks;
use tracer::source::cgroup::CgroupPaths;
use tracer::source::ebpf::decode::{Decoder, Record};
use tracer_common::event::{
    EventHeader, ExecEvent, ExitEvent, EXIT_FLAG_SESSION_LEADER, FLAG_ARGC_FROM_STACK,
    FLAG_ARGV_TRUNCATED, FLAG_CWD_TRUNCATED, FLAG_EXE_TRUNCATED, FLAG_FILELESS, FLAG_IN_JOB,
};
use tracer_common::kind::EventKind;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/ebpf")
}

fn cgroups() -> CgroupPaths {
    CgroupPaths::fixed([
        (1, "/".to_string()),
        (2, "/user.slice/user-1000.slice/session-3.scope".to_string()),
        (
            3,
            "/system.slice/slurmstepd.scope/job_4242/step_0/user/task_0".to_string(),
        ),
        (4, "/system.slice/cron.service".to_string()),
    ])
}

fn decoder() -> Decoder {
    Decoder {
        host: "node1".into(),
        boot_to_wall_ns: 1_764_600_000_000_000_000,
    }
}

/// What one exec record holds (the generator's input).
#[derive(Debug, Clone)]
struct ExecSpec {
    failed: Option<i32>,
    pid: u32,
    tid: u32,
    ppid: u32,
    uid: u32,
    euid: u32,
    auid: u32,
    ses: u32,
    flags: u32,
    argc: u32,
    cgroup_id: u64,
    comm: Vec<u8>,
    tty: Vec<u8>,
    exe: Vec<u8>,
    cwd: Vec<u8>,
    args: Vec<u8>,
    /// The kernel's job-cgroup names, leaf first (empty: no job).
    job: Vec<u8>,
    boot_ns: u64,
}

fn header(kind: EventKind, size: usize, boot_ns: u64) -> EventHeader {
    EventHeader {
        kind: kind as u32,
        size: size as u32,
        boot_ns,
    }
}

fn fixed<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    let n = b.len().min(N);
    a[..n].copy_from_slice(&b[..n]);
    a
}

fn exec_bytes(s: &ExecSpec) -> Vec<u8> {
    let hdr = std::mem::size_of::<ExecEvent>();
    let kind = if s.failed.is_some() {
        EventKind::ExecFailed
    } else {
        EventKind::Exec
    };
    let ev = ExecEvent {
        header: header(
            kind,
            hdr + s.exe.len() + s.cwd.len() + s.args.len(),
            s.boot_ns,
        ),
        pid: s.pid,
        tid: s.tid,
        ppid: s.ppid,
        uid: s.uid,
        euid: s.euid,
        gid: s.uid,
        egid: s.uid,
        auid: s.auid,
        ses: s.ses,
        ret: s.failed.unwrap_or(0),
        argc: s.argc,
        args_size: s.args.len() as u32 + 7,
        exe_len: s.exe.len() as u32,
        argv_len: s.args.len() as u32,
        cwd_len: s.cwd.len() as u32,
        flags: s.flags,
        cgroup_id: s.cgroup_id,
        start_boottime: s.pid as u64 * 1_000_003,
        comm: fixed(&s.comm),
        tty: fixed(&s.tty),
        job_cgroup: fixed(&s.job),
    };
    // SAFETY: ExecEvent is plain data without padding (asserted in common),
    // valid for its size.
    let raw = unsafe { std::slice::from_raw_parts((&ev as *const ExecEvent).cast::<u8>(), hdr) };
    let mut v = raw.to_vec();
    v.extend_from_slice(&s.exe);
    v.extend_from_slice(&s.cwd);
    v.extend_from_slice(&s.args);
    v
}

fn exit_bytes(pid: u32, auid: u32, ses: u32, status: u32, leader: bool, boot_ns: u64) -> Vec<u8> {
    let ev = ExitEvent {
        header: header(EventKind::Exit, std::mem::size_of::<ExitEvent>(), boot_ns),
        pid,
        auid,
        ses,
        exit_code: status,
        flags: if leader { EXIT_FLAG_SESSION_LEADER } else { 0 },
        _pad: 0,
        start_boottime: pid as u64 * 1_000_003,
    };
    // SAFETY: ExitEvent is plain data without padding (asserted in common),
    // valid for its size.
    unsafe {
        std::slice::from_raw_parts(
            (&ev as *const ExitEvent).cast::<u8>(),
            std::mem::size_of::<ExitEvent>(),
        )
    }
    .to_vec()
}

const PIECES: [&[u8]; 12] = [
    b"plain",
    b"two words",
    b"",
    b"caf\xe9",
    "\u{10FF41}".as_bytes(),
    b"\xf4\x8f",
    b"q\"uo\\te",
    b"\x1b[2J\x07\ttab",
    "é\nnewline".as_bytes(),
    b"/usr/bin/env",
    b"\xff\xfe",
    b"\x7f\x00",
];

/// The fixture's records: a deterministic mix of everything the hot path
/// must get right.
fn generate() -> Vec<Vec<u8>> {
    let mut seed: u64 = 0x13b_0001;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let mut out = Vec::new();
    let mut live: Vec<(u32, u32, u32, u64)> = Vec::new();
    for i in 0..400u32 {
        let boot_ns = 5_000_000_000 + i as u64 * 1_234_567;
        if i % 4 == 3 && !live.is_empty() {
            let (pid, auid, ses, _) = live.remove(next(live.len() as u64) as usize);
            let status = [0, 1 << 8, 9, 0x80 | 11, 255 << 8][next(5) as usize];
            out.push(exit_bytes(pid, auid, ses, status, next(3) == 0, boot_ns));
            continue;
        }
        let mut args = Vec::new();
        for _ in 0..next(6) {
            for _ in 0..1 + next(3) {
                args.extend_from_slice(PIECES[next(PIECES.len() as u64) as usize]);
            }
            args.push(0);
        }
        let flags = [
            0,
            FLAG_ARGC_FROM_STACK,
            FLAG_ARGV_TRUNCATED,
            FLAG_FILELESS,
            FLAG_CWD_TRUNCATED | FLAG_EXE_TRUNCATED,
        ][next(5) as usize];
        if flags == FLAG_ARGV_TRUNCATED && !args.is_empty() {
            args.pop();
        }
        let mut cwd = Vec::new();
        for _ in 0..next(5) {
            cwd.extend_from_slice(PIECES[next(PIECES.len() as u64) as usize]);
            cwd.push(0);
        }
        let pid = 1000 + i;
        let (auid, ses) = match next(5) {
            0 => (u32::MAX, u32::MAX),
            1 => (1000, u32::MAX),
            _ => (1000 + next(2) as u32, 3 + next(3) as u32),
        };
        let uid = [1000, 1001, 0][next(3) as usize];
        let cgroup_id = 1 + next(5);
        let spec = ExecSpec {
            failed: (i % 7 == 5).then(|| [-2, -13, -8][next(3) as usize]),
            pid,
            tid: if next(6) == 0 { pid + 1 } else { pid },
            // Often a recent process: sudo/su ancestry for `via`.
            ppid: if i > 0 && next(2) == 0 { pid - 1 } else { 1 },
            uid,
            euid: if next(4) == 0 { 0 } else { uid },
            auid,
            ses,
            flags,
            argc: 9,
            cgroup_id,
            comm: [&b"bash"[..], b"sudo", b"su", b"a-fifteen-chars", b"\xffx"][next(5) as usize]
                .to_vec(),
            tty: [&b"pts3"[..], b"tty1", b"", b"pts", b"pts12x", b"\xe9t"][next(6) as usize]
                .to_vec(),
            exe: PIECES[next(PIECES.len() as u64) as usize].to_vec(),
            cwd,
            args,
            // Some execs in a v1 Slurm job (the kernel's leaf-first names).
            job: if i % 6 == 2 {
                b"step_batch\0job_77\0uid_1000\0slurm\0".to_vec()
            } else {
                Vec::new()
            },
            boot_ns,
        };
        let mut spec = spec;
        if !spec.job.is_empty() {
            spec.flags |= FLAG_IN_JOB;
        }
        if spec.failed.is_none() {
            live.push((pid, auid, ses, cgroup_id));
        }
        out.push(exec_bytes(&spec));
    }
    out
}

fn write_records(p: &Path, recs: &[Vec<u8>]) {
    let mut v = Vec::new();
    for r in recs {
        v.extend_from_slice(&(r.len() as u32).to_le_bytes());
        v.extend_from_slice(r);
    }
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, v).unwrap();
}

fn read_records(p: &Path) -> Vec<Vec<u8>> {
    let b = std::fs::read(p).unwrap_or_else(|e| {
        panic!("{}: {e} (WRITE_GOLDEN=1 creates it)", p.display());
    });
    let mut out = Vec::new();
    let mut rest = &b[..];
    while !rest.is_empty() {
        let n = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
        out.push(rest[4..4 + n].to_vec());
        rest = &rest[4 + n..];
    }
    out
}

/// A log directory with the chain on.
struct Out {
    _dir: tempfile::TempDir,
    cfg: Config,
}

impl Out {
    fn new() -> Self {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.log.enabled = true;
        cfg.log.file = d.path().join("logs/tracer.log");
        cfg.log.max_size = Size(0);
        cfg.log.flush = FlushMode::None;
        cfg.log.chain = true;
        cfg.log.chain_key = d.path().join("key/chain.key");
        cfg.syslog.enabled = false;
        Out { _dir: d, cfg }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.cfg.log.file).unwrap()
    }
}

fn pipeline() -> Pipeline<NoLoginInfo> {
    Pipeline::new(
        SessionTracker::new(TrackerOptions::default(), NoLoginInfo),
        cgroups(),
    )
}

/// Both paths over `recs`, in batches of `batch` records (a drain each).
/// Returns the two logs.
fn both(recs: &[Vec<u8>], batch: usize) -> (Out, Out) {
    let dec = decoder();
    let owned = Out::new();
    let hot = Out::new();
    {
        let mut s = Sinks::open(&owned.cfg, "node1").unwrap();
        let mut p = pipeline();
        for chunk in recs.chunks(batch) {
            let mut events: Vec<_> = chunk
                .iter()
                .map(|r| dec.decode(r).expect("fixture records decode"))
                .collect();
            p.write(&mut s, &mut events).unwrap();
        }
        s.close().unwrap();
    }
    {
        let mut s = Sinks::open(&hot.cfg, "node1").unwrap();
        assert!(s.takes_lines());
        let mut p = pipeline();
        for chunk in recs.chunks(batch) {
            for r in chunk {
                p.ebpf_record(&dec, Record::parse(r).unwrap(), &mut s)
                    .unwrap();
            }
            s.flush().unwrap();
        }
        s.close().unwrap();
    }
    (owned, hot)
}

/// The lines without the file's head record (it has the time it was
/// written) and without the seal (which depends on the head).
fn records_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.contains(r#""status":"file""#))
        .map(|l| {
            let cut = l.find(r#","seq":"#).unwrap_or(l.len());
            let cut = l[..cut].find(r#","prev":""#).unwrap_or(cut);
            format!("{}}}", &l[..cut])
        })
        .collect()
}

fn same(owned: &Out, hot: &Out) -> Result<(), String> {
    let (a, b) = (records_of(&owned.text()), records_of(&hot.text()));
    for (n, (x, y)) in a.iter().zip(&b).enumerate() {
        if x != y {
            return Err(format!("record {n}:\nowned: {x}\nhot:   {y}"));
        }
    }
    if a.len() != b.len() {
        return Err(format!("{} owned records, {} hot", a.len(), b.len()));
    }
    Ok(())
}

#[test]
fn hot_path_writes_what_the_owned_path_writes() {
    let bin = fixtures().join("records.bin");
    let golden = fixtures().join("records.jsonl");
    if std::env::var_os("WRITE_GOLDEN").is_some() {
        write_records(&bin, &generate());
    }
    let recs = read_records(&bin);
    assert_eq!(
        recs,
        generate(),
        "{} is stale: WRITE_GOLDEN=1",
        bin.display()
    );
    let (owned, hot) = both(&recs, 37);
    same(&owned, &hot).unwrap();

    let text = records_of(&owned.text()).join("\n") + "\n";
    if std::env::var_os("WRITE_GOLDEN").is_some() {
        std::fs::write(&golden, &text).unwrap();
    }
    let want = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (WRITE_GOLDEN=1 creates it)", golden.display()));
    for (n, (got, want)) in text.lines().zip(want.lines()).enumerate() {
        assert_eq!(got, want, "line {} of {}", n + 1, golden.display());
    }
    assert_eq!(text.lines().count(), want.lines().count());

    // The fixture exercises what it says it does.
    for what in [
        r#""type":"session_start""#,
        r#""type":"session_end""#,
        r#""type":"exec_failed""#,
        r#""via":"sudo""#,
        r#""via":"su""#,
        r#""via":"setuid""#,
        r#""job":"4242""#,
        r#""tid":"#,
        r#""truncated":true"#,
        r#""fileless":true"#,
        r#""auid":4294967295"#,
        r#""tty":"pts/3""#,
        "\u{10FFE9}",
        r#"\u001b"#,
        r#""cwd":"/""#,
    ] {
        assert!(text.contains(what), "the fixture has no {what}");
    }

    // The hot path's log is sealed: the chain verifies.
    let key = load_key(&hot.cfg.log.chain_key).unwrap();
    let v = tracer::verify::verify(&key, std::slice::from_ref(&hot.cfg.log.file)).unwrap();
    assert!(v.intact(), "{:?}", v.findings);
    assert_eq!(v.records as usize, hot.text().lines().count());
}

fn spec() -> impl Strategy<Value = ExecSpec> {
    let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n);
    (
        (
            proptest::option::of(-40i32..0),
            1u32..50,
            any::<bool>(),
            0u32..4,
            prop_oneof![Just(u32::MAX), 1000u32..1003],
            prop_oneof![Just(u32::MAX), 1u32..4],
            any::<u32>(),
            0u64..7,
        ),
        (
            bytes(20),
            bytes(34),
            bytes(40),
            bytes(60),
            bytes(200),
            0u64..1u64 << 62,
        ),
    )
        .prop_map(
            |((failed, pid, thread, uid, auid, ses, flags, cg), (comm, tty, exe, cwd, args, t))| {
                ExecSpec {
                    failed,
                    pid,
                    tid: if thread { pid + 100 } else { pid },
                    ppid: pid.saturating_sub(1),
                    uid: 1000 + uid,
                    euid: if uid == 3 { 0 } else { 1000 + uid },
                    auid,
                    ses,
                    flags: flags & 0x7f,
                    argc: flags >> 8,
                    cgroup_id: cg,
                    comm,
                    tty,
                    exe,
                    cwd,
                    job: if flags & 0x40 != 0 {
                        b"step_0\0job_9\0uid_1001\0slurm_n1\0".to_vec()
                    } else {
                        Vec::new()
                    },
                    args,
                    boot_ns: t,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        rng_seed: RngSeed::Fixed(0x13b),
        ..ProptestConfig::default()
    })]
    #[test]
    fn random_records_agree(
        execs in proptest::collection::vec(spec(), 1..24),
        exits in proptest::collection::vec((any::<u8>(), any::<u32>(), any::<bool>()), 0..12),
    ) {
        let mut recs: Vec<Vec<u8>> = execs.iter().map(exec_bytes).collect();
        for (i, status, leader) in exits {
            let s = &execs[i as usize % execs.len()];
            recs.push(exit_bytes(s.pid, s.auid, s.ses, status, leader, s.boot_ns / 2));
        }
        let (owned, hot) = both(&recs, 5);
        prop_assert!(same(&owned, &hot).is_ok(), "{}", same(&owned, &hot).unwrap_err());
    }
}
