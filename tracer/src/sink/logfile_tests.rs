use super::*;
use crate::config::Size;
use std::os::unix::fs::MetadataExt;

fn cfg(dir: &Path) -> LogConfig {
    LogConfig {
        file: dir.join("logs/t.log"),
        max_size: Size(1000),
        num_logs: 3,
        flush: FlushMode::None,
        chain_key: dir.join("chain.key"),
        ..LogConfig::default()
    }
}

fn line(i: usize) -> Vec<u8> {
    format!(
        "{{\"type\":\"exec\",\"n\":{i},\"pad\":\"{}\"}}\n",
        "x".repeat(i % 50)
    )
    .into_bytes()
}

fn lines_of(p: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("whole JSON lines only"))
        .collect()
}

#[test]
fn rotation_keeps_whole_records_in_order_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    let (mut f, end) = LogFile::open(&c, "h").unwrap();
    assert_eq!(end, Ending::Fresh);
    for i in 0..80 {
        f.push(&line(i), true).unwrap();
        if i % 7 == 0 {
            f.flush().unwrap();
        }
    }
    f.flush().unwrap();
    let mut all = Vec::new();
    for n in (1..=3).rev() {
        let p = numbered(&c.file, n);
        let md = std::fs::metadata(&p).unwrap();
        assert!(md.len() <= 1000, "{} is {} bytes", p.display(), md.len());
        assert_eq!(md.mode() & 0o777, 0o400, "rotated files are read-only");
        all.extend(lines_of(&p));
    }
    all.extend(lines_of(&c.file));
    assert!(!numbered(&c.file, 4).exists(), "num_logs = 3");
    // Each file that rotation started opens with its host and boot.
    let heads: Vec<&serde_json::Value> = all.iter().filter(|v| v["type"] == "tracer").collect();
    assert!(!heads.is_empty());
    for h in &heads {
        assert_eq!(h["detail"]["status"], "file");
        assert!(h["boot"].as_str().is_some_and(|b| b.len() == 36), "{h}");
    }
    let ns: Vec<u64> = all
        .iter()
        .filter(|v| v["type"] != "tracer")
        .map(|v| v["n"].as_u64().unwrap())
        .collect();
    // The oldest went with pruning; what is left is a contiguous, ordered tail.
    let first = ns[0];
    assert!(first > 0, "something was pruned");
    assert_eq!(ns, (first..80).collect::<Vec<u64>>());
    assert_eq!(std::fs::metadata(&c.file).unwrap().mode() & 0o777, 0o600);
}

#[test]
fn explicit_rotation_and_reopen_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.max_size = Size(0);
    let (mut f, _) = LogFile::open(&c, "h").unwrap();
    f.push(b"{\"type\":\"exec\"}\n", true).unwrap();
    f.rotate().unwrap();
    f.push(
        b"{\"type\":\"tracer\",\"detail\":{\"status\":\"stop\"}}\n",
        false,
    )
    .unwrap();
    f.close().unwrap();
    drop(f);
    assert_eq!(lines_of(&numbered(&c.file, 1)).len(), 1);
    let (_, end) = LogFile::open(&c, "h").unwrap();
    assert_eq!(end, Ending::Clean);
}

#[test]
fn a_partial_last_line_is_isolated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = cfg(dir.path());
    std::fs::create_dir_all(c.file.parent().unwrap()).unwrap();
    std::fs::set_permissions(
        c.file.parent().unwrap(),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    std::fs::write(
        &c.file,
        b"{\"type\":\"exec\",\"time\":\"2026-01-01T00:00:00Z\"}\n{\"type\":\"ex",
    )
    .unwrap();
    let (mut f, end) = LogFile::open(&c, "h").unwrap();
    assert!(matches!(end, Ending::Partial { last_time: Some(_) }));
    f.push(b"{\"type\":\"exec\",\"n\":1}\n", true).unwrap();
    f.flush().unwrap();
    let text = std::fs::read_to_string(&c.file).unwrap();
    let ls: Vec<&str> = text.lines().collect();
    assert_eq!(ls.len(), 3);
    assert_eq!(ls[1], "{\"type\":\"ex");
    // The record, sealed (chain on by default): a new chain (legacy log).
    assert!(
        ls[2].starts_with("{\"type\":\"exec\",\"n\":1,\"prev\":\"000"),
        "{}",
        ls[2]
    );
    assert!(ls[2].contains(",\"seq\":0,\"chain\":\""), "{}", ls[2]);
}

#[test]
fn incremental_flush_counts_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.max_size = Size(0);
    c.flush = FlushMode::Incremental;
    c.freq = 10;
    let (mut f, _) = LogFile::open(&c, "h").unwrap();
    for i in 0..9 {
        f.push(&line(i), true).unwrap();
    }
    f.flush().unwrap();
    assert_eq!(f.since_sync, 9);
    f.push(&line(9), true).unwrap();
    f.flush().unwrap();
    assert_eq!(f.since_sync, 0);
}

/// Cost of the file sink per event, serialization included (run with
/// `cargo test --release -p tracer sink_cost -- --ignored --nocapture`).
#[test]
#[ignore]
fn sink_cost_per_event() {
    use crate::bytes::Bytes;
    let dir = tempfile::tempdir().unwrap();
    let mut c = crate::config::Config {
        log: cfg(dir.path()),
        ..Default::default()
    };
    c.log.max_size = Size(64 << 20);
    c.log.flush = match std::env::var("FLUSH").as_deref() {
        Ok("none") => FlushMode::None,
        _ => FlushMode::Incremental,
    };
    let mut s = crate::sink::Sinks::open(&c, "node").unwrap();
    let mut e = Event::new(
        Source::Ebpf,
        Timestamp::now(),
        "node",
        crate::event::Body::Exec(crate::event::Exec::default()),
    );
    e.task.pid = Some(12345);
    e.task.ppid = Some(1);
    e.task.uid = Some(1000);
    e.task.auid = Some(1000);
    e.task.ses = Some(3);
    e.task.exe = Some(Bytes::from("/usr/bin/python3"));
    e.exec_mut().unwrap().argv = Some(vec![
        Bytes::from("python3"),
        Bytes::from("-c"),
        Bytes::from("print(1)"),
    ]);
    e.exec_mut().unwrap().cwd = Some(Bytes::from("/home/alice/project"));
    let n = 500_000;
    let t = Instant::now();
    for i in 0..n {
        s.write(&e).unwrap();
        if i % 200 == 0 {
            s.flush().unwrap();
        }
    }
    s.flush().unwrap();
    let ns = t.elapsed().as_nanos() as f64 / n as f64;
    let mut buf = Vec::with_capacity(4096);
    let t = Instant::now();
    for _ in 0..n {
        buf.clear();
        serde_json::to_writer(&mut buf, &e).unwrap();
    }
    let ser = t.elapsed().as_nanos() as f64 / n as f64;
    println!("file sink: {ns:.0} ns per event, of which serialization {ser:.0} ns");
}

#[test]
fn retention_deletes_rotated_files_older_than_max_age() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.max_size = Size(0);
    c.num_logs = 10;
    c.max_age = crate::config::Secs(3600);
    let (mut f, _) = LogFile::open(&c, "h").unwrap();
    for n in [1, 2, 3] {
        std::fs::write(numbered(&c.file, n), b"{}\n").unwrap();
    }
    let old = SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(numbered(&c.file, 3))
        .unwrap()
        .set_modified(old)
        .unwrap();
    f.push(b"{}\n", false).unwrap();
    f.rotate().unwrap();
    // .1 and .2 became .2 and .3; the old .3 became .4 and went.
    assert!(numbered(&c.file, 1).exists() && numbered(&c.file, 3).exists());
    assert!(
        !numbered(&c.file, 4).exists(),
        "the file older than max_age was deleted"
    );
}
