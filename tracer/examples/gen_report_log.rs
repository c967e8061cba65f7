//! Writes a large, realistic tracer JSON-lines log for measuring `tracer
//! report` (throughput, peak RSS): 40 users with a few sessions each, shells
//! running a mix of common commands with varied arguments, sudo, cron jobs
//! with no login uid, a batch job, and a failed exec now and then.
//!
//! `cargo run --release -p tracer --example gen_report_log -- OUT.log SIZE_MB`

use std::io::{BufWriter, Write};

use tracer::bytes::Bytes;
use tracer::event::{Body, Event, Exec, Outcome, SessionStart, Source, Timestamp, UNSET};

const COMMANDS: &[&[&str]] = &[
    &["ls", "-la"],
    &["cat", "/etc/os-release"],
    &["grep", "-rn", "TODO", "src/"],
    &["git", "status"],
    &["git", "log", "--oneline", "-n", "20"],
    &["vim", "notes.txt"],
    &["python3", "analysis.py", "--input", "data.csv"],
    &["make", "-j8"],
    &["cc", "-O2", "-c", "main.c", "-o", "main.o"],
    &["ssh", "login3", "uptime"],
    &["tar", "czf", "backup.tgz", "project/"],
    &["find", ".", "-name", "*.rs"],
];

/// A small deterministic PRNG (xorshift), so runs are reproducible.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(out), Some(mb)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: gen_report_log OUT.log SIZE_MB");
        std::process::exit(2);
    };
    let target = mb << 20;
    let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(out)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut t = Timestamp::from_secs_nanos(1_714_554_000, 0).0;
    let mut pid = 10_000u32;
    let line = |e: &Event, w: &mut BufWriter<std::fs::File>| -> std::io::Result<u64> {
        let s = e.to_json();
        w.write_all(s.as_bytes())?;
        w.write_all(b"\n")?;
        Ok(s.len() as u64 + 1)
    };
    let mut ses_next = 1u32;
    while written < target {
        t += 1_000_000 + (rng.below(50_000_000) as i64);
        pid = pid.wrapping_add(1 + rng.below(3) as u32);
        let r = rng.below(1000);
        let host = format!("login{}", 1 + rng.below(3));
        let mut e = Event::new(
            Source::Ebpf,
            Timestamp(t),
            host,
            Body::Exec(Exec::default()),
        );
        e.task.pid = Some(pid);
        e.task.ppid = Some(pid - 1);
        if r < 2 {
            // A new login.
            let mut s = Event::new(
                Source::Ebpf,
                Timestamp(t),
                e.host.clone(),
                Body::SessionStart(SessionStart {
                    addr: Some(format!("10.0.{}.{}", rng.below(255), rng.below(255))),
                    port: Some(40_000 + rng.below(20_000) as u16),
                    ..SessionStart::default()
                }),
            );
            s.task.auid = Some(1000 + rng.below(40) as u32);
            s.task.ses = Some(ses_next);
            s.task.tty = Some(format!("pts/{}", rng.below(20)));
            ses_next += 1;
            written += line(&s, &mut w)?;
            continue;
        }
        if r < 60 {
            // cron, no login uid.
            e.task.uid = Some(0);
            e.task.euid = Some(0);
            e.task.auid = Some(UNSET);
            e.task.ses = Some(UNSET);
            e.exec_mut().unwrap().argv = Some(vec![
                "/bin/sh".into(),
                "-c".into(),
                "run-parts --report /etc/cron.hourly".into(),
            ]);
            e.task.exe = Some("/usr/bin/dash".into());
            e.exec_mut().unwrap().cwd = Some("/".into());
            e.task.cgroup = Some("/system.slice/cron.service".into());
        } else {
            let user = 1000 + rng.below(40) as u32;
            e.task.auid = Some(user);
            e.task.ses = Some(1 + (user - 1000) * 3 + rng.below(3) as u32);
            let root = r < 120;
            e.task.uid = Some(if root { 0 } else { user });
            e.task.euid = e.task.uid;
            e.task.gid = e.task.uid;
            e.task.egid = e.task.uid;
            e.task.tty = Some(format!("pts/{}", user % 20));
            let cmd = COMMANDS[rng.below(COMMANDS.len() as u64) as usize];
            let mut argv: Vec<Bytes> = cmd.iter().map(|a| Bytes::from(*a)).collect();
            if rng.below(4) == 0 {
                argv.push(Bytes::from(
                    format!("file-{}.txt", rng.below(100_000)).as_str(),
                ));
            }
            e.task.exe = Some(Bytes::from(format!("/usr/bin/{}", cmd[0]).as_str()));
            e.task.comm = Some(Bytes::from(cmd[0]));
            e.exec_mut().unwrap().argc = Some(argv.len() as u32);
            e.exec_mut().unwrap().argv = Some(argv);
            e.exec_mut().unwrap().cwd =
                Some(Bytes::from(format!("/home/user{}/project", user).as_str()));
            e.task.cgroup = Some(format!(
                "/user.slice/user-{user}.slice/session-{}.scope",
                e.task.ses.unwrap_or(0)
            ));
            if r > 990 {
                e.exec_mut().unwrap().outcome = Outcome::Failed(-2);
            }
        }
        e.task.start_boottime = Some(t as u64);
        written += line(&e, &mut w)?;
    }
    w.flush()
}
