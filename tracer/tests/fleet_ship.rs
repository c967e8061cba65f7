//! `tracer ship` against real ClickHouse servers (18.16 from Debian 12):
//! an exec storm with the server stopped for 20 s in the middle and the log
//! rotating all along; a shipper killed mid-batch and restarted; records that
//! cannot be stored set aside without blocking the rest.
#![cfg(feature = "clickhouse")]

mod fleet_support;

use std::time::{Duration, Instant};

use fleet_support::*;
use tracer::event::Kind;

const DB: &str = "fleet";

#[test]
fn outage_mid_storm_with_rotation_loses_and_duplicates_nothing() {
    let mut ch = ClickHouse::start();
    init(&ch, DB, None);
    let tmp = tempfile::tempdir().unwrap();
    // 256 KiB files: the storm rotates the log about every 500 records.
    let mut node = Node::new(tmp.path(), "node01", 256 << 10);
    let state = tmp.path().join("ship");
    let mut shipper = Shipper::start(&ship_args(&ch.url(DB), &node, &state), &state);

    let rate = 1_000u64; // execs per second
    let started = Instant::now();
    let mut outage_done = false;
    let mut down_at = None;
    let mut ses = 1;
    node.session(Kind::SessionStart, 1000, ses);
    // Storm for 32 s, and at least until 4 s after the server is back.
    let mut until = Duration::from_secs(32);
    while started.elapsed() < until || !outage_done {
        let t = started.elapsed();
        // Write what the rate says is due by now, in 50 ms batches.
        // (At most rate/4 per round, so a slow writer still checks the clock.)
        let due = ((t.as_secs_f64() * rate as f64) as u64).min(node.execs + rate / 4);
        while node.execs < due {
            let i = node.execs.to_string();
            node.exec(1000, ses, &[b"storm", i.as_bytes()], None);
            if node.execs.is_multiple_of(5_000) {
                node.session(Kind::SessionEnd, 1000, ses);
                ses += 1;
                node.session(Kind::SessionStart, 1000, ses);
            }
        }
        node.flush();
        if down_at.is_none() && t >= Duration::from_secs(6) {
            let t0 = Instant::now();
            ch.stop();
            eprintln!("server stopped in {:?}", t0.elapsed());
            down_at = Some(Instant::now());
        }
        if let Some(d) = down_at {
            if !outage_done && d.elapsed() >= Duration::from_secs(20) {
                ch.restart();
                outage_done = true;
                until = until.max(started.elapsed() + Duration::from_secs(4));
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(outage_done);
    node.session(Kind::SessionEnd, 1000, ses);
    node.flush();
    let made = node.execs;
    let files = node.files().len();
    assert!(files >= 4, "the log rotated only {files} times");

    eprintln!(
        "storm over at {:?}: {made} execs in {files} files",
        started.elapsed()
    );
    wait_for(180, "the shipper to catch up", || {
        distinct(&ch, DB, "execs", "1") + node.lost() >= made
    });
    // Give a duplicate, if any, time to arrive, then stop cleanly.
    std::thread::sleep(Duration::from_secs(1));
    eprintln!("caught up at {:?}", started.elapsed());
    shipper.stop();
    let log = shipper.log();
    assert!(
        log.contains("retrying"),
        "the outage was not noticed:\n{log}"
    );

    let stored = distinct(&ch, DB, "execs", "1");
    assert_eq!(
        stored + node.lost(),
        made,
        "execs made vs stored + counted losses"
    );
    // Exactly once, also after merges.
    ch.value(DB, "OPTIMIZE TABLE fleet.execs FINAL");
    assert_eq!(
        ch.count(DB, "SELECT count() FROM fleet.execs FINAL"),
        stored
    );
    // The sink heads every file that rotation starts with a host/boot
    // record of its own.
    let heads: u64 = node
        .files()
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap_or_default()
                .lines()
                .filter(|l| l.contains(r#""status":"file""#))
                .count() as u64
        })
        .sum();
    assert_eq!(
        ch.count(DB, "SELECT count() FROM fleet.events FINAL"),
        node.records - node.lost() + heads,
        "every record, of every type, once"
    );
    // Each storm exec's number appears once.
    assert_eq!(
        ch.count(
            DB,
            "SELECT uniqExact(argv[2]) FROM fleet.execs WHERE argv[1] = 'storm'"
        ),
        made
    );
    // The shipper's status says it is caught up.
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("ship.json")).unwrap()).unwrap();
    assert_eq!(st["backlog_bytes"], 0, "{st}");
    assert!(st["retries"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["running"], false);
}

#[test]
fn killed_mid_batch_then_restarted_ships_everything_once_and_sets_aside_bad_records() {
    let ch = ClickHouse::start();
    init(&ch, DB, None);
    let tmp = tempfile::tempdir().unwrap();
    let mut node = Node::new(tmp.path(), "node02", 4 << 20);
    for i in 0..30_000u32 {
        let n = i.to_string();
        node.exec(
            1001,
            7,
            &[b"job-step", n.as_bytes(), b"\xff\xfe raw bytes"],
            Some("4242"),
        );
        if i == 10_000 {
            // Not JSON: the shipper sets it aside itself.
            node.append_raw(b"{this is not json\n");
        }
        if i == 20_000 {
            // JSON, but the server refuses it: a pid that is not a number.
            node.append_raw(
                br#"{"type":"exec","time":"2024-05-01T09:00:00Z","host":"node02","source":"ebpf","pid":"x","argv":["bad"]}"#,
            );
            node.append_raw(b"\n");
        }
    }
    node.flush();
    let state = tmp.path().join("ship");
    let mut args = ship_args(&ch.url(DB), &node, &state);
    args.extend(["--batch-rows".into(), "1500".into()]);
    let cp = state.join("checkpoint.json");
    let offset = || -> u64 {
        std::fs::read(&cp)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v["offset"].as_u64())
            .unwrap_or(0)
    };
    // Kill it (SIGKILL, no chance to checkpoint) twice while it is busy.
    for round in 0..2 {
        let before = offset();
        let mut s = Shipper::start(&args, &state);
        wait_for(60, "some batches to be acknowledged", || offset() > before);
        std::thread::sleep(Duration::from_millis(30 * (round + 1)));
        s.kill9();
    }
    let mut last = args.clone();
    last.push("--once".into());
    let mut s = Shipper::start(&last, &state);
    wait_for(120, "the restarted shipper to finish", || {
        s.child.try_wait().unwrap().is_some()
    });
    let log = s.log();
    assert!(s.child.wait().unwrap().success(), "{log}");

    assert_eq!(distinct(&ch, DB, "execs", "1"), 30_000);
    assert_eq!(
        ch.count(DB, "SELECT count() FROM fleet.execs FINAL"),
        30_000
    );
    // Exact bytes, not replacement characters.
    assert_eq!(
        ch.value(
            DB,
            "SELECT hex(argv[3]) FROM fleet.execs WHERE argv[2] = '77' LIMIT 1"
        ),
        "FFFE20726177206279746573"
    );
    let rejected = std::fs::read_to_string(state.join("rejected.jsonl")).unwrap();
    let rejected: Vec<serde_json::Value> = rejected
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("not JSON"));
    assert!(rejected[1]["reason"]
        .as_str()
        .unwrap()
        .contains("refused by the server"));
    assert!(rejected[1]["line"]
        .as_str()
        .unwrap()
        .contains("\"pid\":\"x\""));
    for r in &rejected {
        assert!(
            r["file"].as_str().unwrap().contains("node02/tracer.log"),
            "{r}"
        );
        assert!(r["offset"].as_u64().unwrap() > 0);
    }
    let cpv: serde_json::Value = serde_json::from_slice(&std::fs::read(&cp).unwrap()).unwrap();
    assert_eq!(cpv["rejected"], 2);
    // Named in the shipper's log (whichever run set them aside).
    let all_logs: String = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("stderr"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert_eq!(
        all_logs.matches("set aside the record at").count(),
        2,
        "{all_logs}"
    );
}
