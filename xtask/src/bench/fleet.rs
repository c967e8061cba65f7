//! `cargo xtask bench fleet`: a simulated cluster shipped into ClickHouse.
//!
//! A generator writes the logs of many hosts for one week (a few login
//! nodes with ssh logins, failed logins and interactive sessions, the rest
//! compute nodes running batch jobs under Slurm job cgroups; `seq` per host
//! as the sink writes it), at realistic average rates ([`LOGIN_RATE`],
//! [`COMPUTE_RATE`]): ~40 M records for 1,000 hosts. `--fleet-scale F`
//! divides every host's rate by F for a shorter run (`--quick`: 50 hosts,
//! F = 200). Then, against a ClickHouse server of its own (ports on
//! 127.0.0.1, data in `target/bench/work`, stopped by pid):
//!
//! - ingest: each host's week is generated, shipped by `tracer ship --once`
//!   and then kept gzip-compressed (a full week is ~19 GB of JSON lines);
//!   events/s per CPU second of the shipper (its rusage) and of the server
//!   (its /proc stat);
//! - report latency: one user over one week, across the fleet, with
//!   `tracer report --from clickhouse://…` against `tracer report` over the
//!   same events as (compressed) files.
//!
//! Needs no eBPF, no audit and no global lock (unique ports). Results go to
//! `target/bench/fleet.json` and to the "Fleet" section of BENCHMARKS.md,
//! which the other benchmarks' rewrite keeps.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

pub const BEGIN: &str = "<!-- fleet:begin -->";
pub const END: &str = "<!-- fleet:end -->";

#[derive(Debug, Serialize)]
pub struct FleetResults {
    pub when: String,
    pub clickhouse: String,
    pub nproc: usize,
    pub hosts: usize,
    pub login_nodes: usize,
    pub days: u32,
    pub records: u64,
    pub execs: u64,
    pub logins: u64,
    pub failed_logins: u64,
    /// Every host's volume is its realistic rate divided by this.
    pub scale: f64,
    pub log_bytes: u64,
    pub ship_wall_s: f64,
    pub ship_cpu_s: f64,
    pub server_cpu_s: f64,
    pub ship_events_per_cpu_s: f64,
    pub server_events_per_cpu_s: f64,
    pub stored_bytes: u64,
    pub report_user: u32,
    pub report_rows: usize,
    pub report_clickhouse_s: f64,
    pub report_files_s: f64,
    pub report_files_tries: usize,
}

const BASE_T: i64 = 1_714_953_600; // 2024-05-06T00:00:00Z, a Monday

/// A busy login node (~200 users, interactive shells and their scripts):
/// execs per second, averaged over a week.
pub const LOGIN_RATE: f64 = 2.0;
/// A compute node running batch jobs (job scripts, srun, module loads, the
/// solver's helpers): execs per second, averaged over a week.
pub const COMPUTE_RATE: f64 = 0.05;

struct Gen {
    seq: u64,
    pid: u32,
    out: Vec<u8>,
    execs: u64,
    records: u64,
    logins: u64,
    failed: u64,
}

impl Gen {
    fn line(&mut self, host: &str, t_ns: i64, body: &str) {
        let secs = t_ns.div_euclid(1_000_000_000);
        let ns = t_ns.rem_euclid(1_000_000_000);
        let (d, hms) = civil(secs);
        let s = format!(
            "{{{body},\"time\":\"{d}T{hms}.{ns:09}Z\",\"host\":\"{host}\",\"seq\":{},\"chain\":\"{:064x}\"}}\n",
            self.seq, self.seq
        );
        self.out.extend_from_slice(s.as_bytes());
        self.seq += 1;
        self.records += 1;
    }
    /// An exec of `user` (the pair's first): in login session `ses`, or (`job` = id, step and
    /// whether the cgroup layout names the owner) a batch job's process,
    /// which has no login uid, as tracer run writes them.
    fn exec(
        &mut self,
        host: &str,
        t: i64,
        (user, ses): (u32, u32),
        argv: &[&str],
        cgroup: &str,
        job: Option<(u64, &str, bool)>,
    ) {
        let auid = if job.is_some() { 4_294_967_295 } else { user };
        let job_json = match job {
            Some((id, step, true)) => {
                format!(",\"job\":\"{id}\",\"job_step\":\"{step}\",\"job_uid\":{user}")
            }
            Some((id, step, false)) => format!(",\"job\":\"{id}\",\"job_step\":\"{step}\""),
            None => String::new(),
        };
        self.pid = self.pid.wrapping_add(1).max(300);
        let argv_json = argv
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(",");
        let body = format!(
            "\"type\":\"exec\",\"source\":\"ebpf\",\"pid\":{},\"ppid\":{},\"uid\":{user},\"euid\":{user},\"gid\":{user},\"egid\":{user},\"auid\":{auid},\"ses\":{ses},\"tty\":\"pts/{}\",\"comm\":\"{}\",\"exe\":\"/usr/bin/{}\",\"argv\":[{argv_json}],\"cwd\":\"/home/u{user}/work\",\"ret\":0,\"argc\":{},\"cgroup\":\"{cgroup}\"{job_json},\"start_boottime\":{}",
            self.pid,
            self.pid - 1,
            ses % 10,
            argv[0],
            argv[0],
            argv.len(),
            t as u64 / 3
        );
        self.line(host, t, &body);
        self.execs += 1;
    }

    /// sshd's PAM records of one login attempt (USER_AUTH, and for a
    /// success USER_ACCT and USER_LOGIN in session `ses`), as the audit
    /// source writes them.
    fn login(&mut self, host: &str, t: i64, user: u32, ses: u32, addr: &str, ok: bool) {
        let pid = 400 + ses % 30_000;
        let res = if ok { "success" } else { "failed" };
        self.line(host, t, &format!("\"type\":\"login\",\"source\":\"audit\",\"pid\":{pid},\"uid\":0,\"auid\":4294967295,\"ses\":4294967295,\"exe\":\"/usr/sbin/sshd\",\"addr\":\"{addr}\",\"detail\":{{\"acct\":\"u{user}\",\"op\":\"PAM:authentication\",\"record_type\":\"USER_AUTH\",\"res\":\"{res}\",\"terminal\":\"ssh\"}}"));
        if !ok {
            self.failed += 1;
            return;
        }
        self.line(host, t + 10_000_000, &format!("\"type\":\"login\",\"source\":\"audit\",\"pid\":{pid},\"uid\":0,\"auid\":4294967295,\"ses\":4294967295,\"exe\":\"/usr/sbin/sshd\",\"addr\":\"{addr}\",\"detail\":{{\"acct\":\"u{user}\",\"op\":\"PAM:accounting\",\"record_type\":\"USER_ACCT\",\"res\":\"success\",\"terminal\":\"ssh\"}}"));
        self.line(host, t + 20_000_000, &format!("\"type\":\"login\",\"source\":\"audit\",\"pid\":{pid},\"uid\":0,\"auid\":{user},\"ses\":{ses},\"exe\":\"/usr/sbin/sshd\",\"addr\":\"{addr}\",\"detail\":{{\"id\":{user},\"op\":\"login\",\"record_type\":\"USER_LOGIN\",\"res\":\"success\",\"terminal\":\"/dev/pts/{}\"}}", ses % 10));
        self.logins += 1;
    }
}

/// (YYYY-MM-DD, HH:MM:SS) of Unix seconds, UTC.
fn civil(secs: i64) -> (String, String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days_from_civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60),
    )
}

/// Small deterministic PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const CMDS: &[&[&str]] = &[
    &["ls", "-la"],
    &["git", "status"],
    &["vim", "job.sh"],
    &["sbatch", "job.sh"],
    &["squeue", "-u", "me"],
    &["python3", "analyse.py", "--input", "data.h5"],
    &["make", "-j8"],
    &["grep", "-r", "TODO", "src"],
];

/// What one host's log holds.
#[derive(Default)]
struct HostLog {
    records: u64,
    execs: u64,
    logins: u64,
    failed: u64,
    bytes: u64,
}

/// Writes one host's week.
fn gen_host(dir: &Path, h: usize, login_nodes: usize, days: u32, rate: f64) -> Result<HostLog> {
    let host = host_name(h, login_nodes);
    let d = dir.join(&host);
    std::fs::create_dir_all(&d)?;
    let mut g = Gen {
        seq: 0,
        pid: 1000,
        out: Vec::with_capacity(1 << 20),
        execs: 0,
        records: 0,
        logins: 0,
        failed: 0,
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (h as u64 + 1));
    let t0 = BASE_T * 1_000_000_000;
    let span = i64::from(days) * 86_400 * 1_000_000_000;
    let n_execs = (rate * f64::from(days) * 86_400.0) as u64;
    if h < login_nodes {
        // Interactive sessions of 200 users spread over the login nodes,
        // a few hours and a few hundred commands each (at full volume; a
        // smaller volume has fewer sessions, not shorter ones).
        let mut ses = 1u32;
        let mut left = n_execs;
        while left > 0 {
            let user = 1000 + rng.below(200) as u32;
            let start = t0 + rng.below(span as u64 - 12 * 3_600_000_000_000) as i64;
            let k = (100 + rng.below(500)).min(left);
            let addr = format!("10.1.{}.{}", user % 250, ses % 250);
            // Mistyped passwords now and then, and a scanner's attempts.
            if rng.below(5) == 0 {
                g.login(&host, start - 5_000_000_000, user, ses, &addr, false);
            }
            for i in 0..rng.below(3) {
                let a = format!("198.51.100.{}", rng.below(250));
                let t = t0 + rng.below(span as u64) as i64;
                g.login(&host, t, 1000 + (i as u32), ses, &a, false);
            }
            g.login(&host, start - 1_000_000_000, user, ses, &addr, true);
            g.line(&host, start, &format!("\"type\":\"session_start\",\"source\":\"audit\",\"pid\":{},\"auid\":{user},\"ses\":{ses},\"tty\":\"pts/{}\",\"addr\":\"10.1.{}.{}\",\"port\":{}", 500 + ses, ses % 10, user % 250, ses % 250, 40000 + ses % 20000));
            let mut t = start;
            for _ in 0..k {
                t += 1_000_000_000 + rng.below(30_000_000_000) as i64;
                let c = CMDS[rng.below(CMDS.len() as u64) as usize];
                g.exec(
                    &host,
                    t,
                    (user, ses),
                    c,
                    &format!("/user.slice/user-{user}.slice/session-{ses}.scope"),
                    None,
                );
            }
            g.line(&host, t + 1_000_000_000, &format!("\"type\":\"session_end\",\"source\":\"audit\",\"pid\":{},\"auid\":{user},\"ses\":{ses}", 500 + ses));
            left -= k;
            ses += 1;
        }
    } else {
        // Batch jobs: bursts of execs under a job's cgroup, one user each,
        // with no login uid (slurmd started them). Half the nodes use
        // Slurm's cgroup v1 layout, which names the owner, half v2, which
        // does not (the report finds the owner from the processes' uid).
        let v1 = h % 2 == 1;
        let mut left = n_execs;
        let mut job = 100_000 + h as u64 * 1000;
        while left > 0 {
            let user = 1000 + rng.below(200) as u32;
            let k = (20 + rng.below(200)).min(left);
            let mut t = t0 + rng.below(span as u64 - 600_000_000_000) as i64;
            for i in 0..k {
                t += rng.below(2_000_000_000) as i64;
                let step = (i / 50).to_string();
                let argv: &[&str] = if i % 5 == 0 {
                    &["srun", "--mpi=pmix", "./solver", step.as_str()]
                } else {
                    &["./solver", "--step", step.as_str()]
                };
                let cgroup = if v1 {
                    format!("/slurm/uid_{user}/job_{job}/step_{step}/task_0")
                } else {
                    format!("/system.slice/slurmstepd.scope/job_{job}/step_{step}/user/task_0")
                };
                g.exec(
                    &host,
                    t,
                    (user, 4_294_967_295),
                    argv,
                    &cgroup,
                    Some((job, step.as_str(), v1)),
                );
            }
            left -= k;
            job += 1;
        }
    }
    g.line(
        &host,
        t0 + span - 1,
        "\"type\":\"tracer\",\"source\":\"tracer\",\"detail\":{\"event\":\"heartbeat\"}",
    );
    let bytes = g.out.len() as u64;
    std::fs::write(d.join(PLAIN), &g.out)?;
    Ok(HostLog {
        records: g.records,
        execs: g.execs,
        logins: g.logins,
        failed: g.failed,
        bytes,
    })
}

/// The log a host's shipper reads, as the file sink writes it.
const PLAIN: &str = "tracer.log";
/// The same log once shipped, gzip-compressed as logrotate keeps old logs:
/// a week of the full fleet is ~19 GB of JSON lines, ~10x less compressed.
const PACKED: &str = "tracer.log.gz";

/// Compresses `dir/tracer.log` into `dir/tracer.log.gz` and removes it.
fn pack(dir: &Path) -> Result<()> {
    use flate2::{write::GzEncoder, Compression};
    let plain = dir.join(PLAIN);
    let mut input = std::fs::File::open(&plain).with_context(|| plain.display().to_string())?;
    let out = std::fs::File::create(dir.join(PACKED))?;
    let mut z = GzEncoder::new(std::io::BufWriter::new(out), Compression::fast());
    std::io::copy(&mut input, &mut z)?;
    z.finish()?.flush()?;
    std::fs::remove_file(&plain)?;
    Ok(())
}

/// Free bytes on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: statvfs writes into the struct we pass; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error()).context(format!("statvfs {}", dir.display()));
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

fn host_name(h: usize, login_nodes: usize) -> String {
    if h < login_nodes {
        format!("login{h:02}")
    } else {
        format!("cn{h:04}")
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path, http: u16, tcp: u16) -> Result<Server> {
    let d = dir.display();
    for sub in ["data", "tmp", "user_files", "log", "format_schemas"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    std::fs::write(
        dir.join("config.xml"),
        format!(
            r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog></logger>
  <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path><tmp_path>{d}/tmp/</tmp_path><user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <mark_cache_size>268435456</mark_cache_size><uncompressed_cache_size>268435456</uncompressed_cache_size>
  <users_config>users.xml</users_config><default_profile>default</default_profile>
  <default_database>default</default_database><timezone>UTC</timezone>
</yandex>
"#
        ),
    )?;
    std::fs::write(
        dir.join("users.xml"),
        r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>8000000000</max_memory_usage></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
    )?;
    let out = std::fs::File::create(dir.join("log/stdout.log"))?;
    let mut cmd = Command::new("/usr/sbin/clickhouse-server");
    // SAFETY: prctl(2) is async-signal-safe; the closure runs in the child
    // between fork and exec and touches nothing else. The server dies with
    // the benchmark, even when it is killed before `Server`'s drop runs.
    unsafe {
        use std::os::unix::process::CommandExt as _;
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .arg(format!("--config-file={d}/config.xml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .spawn()
        .context("starting /usr/sbin/clickhouse-server (bash xtask/setup.sh test installs it)")?;
    let s = Server { child };
    let deadline = Instant::now() + Duration::from_secs(90);
    while query(http, "SELECT 1").is_err() {
        if Instant::now() > deadline {
            bail!("clickhouse-server did not answer on port {http}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(s)
}

/// Runs `sql` over HTTP with curl-free std networking.
fn query(port: u16, sql: &str) -> Result<String> {
    use std::io::Read;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port))?;
    write!(
        c,
        "POST / HTTP/1.0\r\nContent-Length: {}\r\n\r\n{sql}",
        sql.len()
    )?;
    let mut s = String::new();
    c.read_to_string(&mut s)?;
    let (head, body) = s.split_once("\r\n\r\n").unwrap_or((&s, ""));
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        bail!("{sql}: {body}");
    }
    Ok(body.trim().to_owned())
}

/// utime+stime of a process, in seconds.
fn cpu_of(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = s.rsplit_once(')').map_or("", |x| x.1);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = 100.0; // USER_HZ
    let g = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (g(11) + g(12)) / tick
}

fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass; RUSAGE_CHILDREN is valid.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

fn best_of(n: usize, mut f: impl FnMut() -> Result<usize>) -> Result<(f64, usize)> {
    let mut best = f64::INFINITY;
    let mut rows = 0;
    for _ in 0..n {
        let t = Instant::now();
        rows = f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok((best, rows))
}

pub fn run(root: &Path, quick: bool, no_doc: bool, scale: Option<f64>) -> Result<()> {
    if let Some(s) = scale.filter(|s| !(s.is_finite() && *s >= 1.0)) {
        bail!("--fleet-scale must be a number >= 1 (1 is the full volume), not {s}");
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args(["build", "--release", "-p", "tracer"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let tracer = root.join("target/release/tracer");
    let work = root.join("target/bench/work/fleet");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    // 1,000 hosts (8 login nodes) over a week; each host's volume is its
    // realistic rate divided by `scale` (see the module's doc).
    let (hosts, login_nodes, days, default_scale) = if quick {
        (50, 2, 7, 200.0)
    } else {
        (1000, 8, 7, 1.0)
    };
    let scale = scale.unwrap_or(default_scale);
    let rate_of = |h: usize| if h < login_nodes { LOGIN_RATE } else { COMPUTE_RATE } / scale;
    // What the run will write: ~480 bytes per record as JSON lines, kept
    // gzip-compressed (~1/8) once shipped, one host's plain log at a time,
    // and the server's tables (~1/3 of the log, more while parts merge).
    let est_records: f64 = (0..hosts)
        .map(|h| rate_of(h) * f64::from(days) * 86_400.0)
        .sum();
    let est_bytes = est_records * 480.0;
    let need = (est_bytes * 0.65) as u64
        + (LOGIN_RATE / scale * f64::from(days) * 86_400.0 * 480.0) as u64;
    let free = free_bytes(&work)?;
    if free < need {
        bail!(
            "the fleet at volume / {scale} needs ~{} GB free in {} (~{:.0} M records), {} GB are: free space or pass a larger --fleet-scale",
            need >> 30,
            work.display(),
            est_records / 1e6,
            free >> 30
        );
    }
    eprintln!(
        "bench fleet: {hosts} hosts x {days} days (volume / {scale}, ~{:.1} M records)",
        est_records / 1e6
    );

    let (http, tcp) = (free_port()?, free_port()?);
    let server = start_server(&work.join("clickhouse"), http, tcp)?;
    let version = query(http, "SELECT version()")?;
    let url = format!("clickhouse://127.0.0.1:{http}/fleet");
    let st = Command::new(&tracer)
        .args(["fleet", "init", &url])
        .status()?;
    if !st.success() {
        bail!("tracer fleet init failed");
    }

    // Each host's week is generated, shipped by its own `tracer ship
    // --once`, then compressed on a helper thread while the next host is
    // generated and shipped: at full volume the plain logs would not fit
    // on a small machine's disk.
    let logs = work.join("hosts");
    let mut all = HostLog::default();
    let server_cpu0 = cpu_of(server.child.id());
    let cpu0 = children_cpu();
    let mut ship_wall = 0.0;
    let mut packing: Option<std::thread::JoinHandle<Result<()>>> = None;
    for h in 0..hosts {
        let l = gen_host(&logs, h, login_nodes, days, rate_of(h))?;
        all.records += l.records;
        all.execs += l.execs;
        all.logins += l.logins;
        all.failed += l.failed;
        all.bytes += l.bytes;
        let host = host_name(h, login_nodes);
        let d = logs.join(&host);
        let t = Instant::now();
        let out = Command::new(&tracer)
            .args(["ship", &url, "--once", "--flush-ms", "0"])
            .arg("--log")
            .arg(d.join(PLAIN))
            .arg("--state-dir")
            .arg(d.join("ship"))
            .arg("--status-file")
            .arg(d.join("ship.json"))
            .arg("--daemon-status")
            .arg(d.join("none.json"))
            .stderr(Stdio::null())
            .status()?;
        ship_wall += t.elapsed().as_secs_f64();
        if !out.success() {
            bail!("tracer ship for {host} failed");
        }
        if let Some(p) = packing.take() {
            p.join()
                .map_err(|_| anyhow::anyhow!("compressing a log panicked"))??;
        }
        packing = Some(std::thread::spawn(move || pack(&d)));
        if hosts >= 10 && (h + 1) % (hosts / 10) == 0 {
            eprintln!(
                "bench fleet: {} hosts shipped, {} records",
                h + 1,
                all.records
            );
        }
    }
    if let Some(p) = packing.take() {
        p.join()
            .map_err(|_| anyhow::anyhow!("compressing a log panicked"))??;
    }
    let ship_cpu = children_cpu() - cpu0;
    let (records, execs, bytes) = (all.records, all.execs, all.bytes);
    eprintln!(
        "bench fleet: {records} records ({execs} execs, {} MB) shipped",
        bytes >> 20
    );
    // Let the server finish its background merges before reading its CPU.
    std::thread::sleep(Duration::from_secs(if quick { 2 } else { 10 }));
    let server_cpu = cpu_of(server.child.id()) - server_cpu0;
    let stored: u64 = query(http, "SELECT count() FROM fleet.events")?
        .parse()
        .unwrap_or(0);
    if stored != records {
        bail!("shipped {records} records but the server holds {stored}");
    }
    let stored_bytes: u64 = query(
        http,
        "SELECT sum(bytes) FROM system.parts WHERE active AND database = 'fleet'",
    )?
    .parse()
    .unwrap_or(0);

    // The busiest user of the login nodes, over the week.
    let user: u32 = query(
        http,
        "SELECT auid FROM fleet.execs WHERE auid != 4294967295 GROUP BY auid ORDER BY count() DESC LIMIT 1",
    )?
    .parse()
    .unwrap_or(1000);
    let week = [
        "--since",
        "2024-05-06T00:00:00Z",
        "--until",
        "2024-05-13T00:00:00Z",
    ];
    let uid = user.to_string();
    let base_args = |v: &mut Vec<String>| {
        v.extend(
            [
                "report",
                "--utc",
                "--format",
                "csv",
                "--no-progress",
                "--user",
                &uid,
            ]
            .map(String::from),
        );
        v.extend(week.map(String::from));
    };
    let files: Vec<PathBuf> = (0..hosts)
        .map(|h| logs.join(host_name(h, login_nodes)).join(PACKED))
        .collect();
    let run_report = |from: bool| -> Result<usize> {
        let mut a = Vec::new();
        base_args(&mut a);
        let mut c = Command::new(&tracer);
        c.args(&a);
        if from {
            c.args(["--from", &url]);
        } else {
            c.args(&files);
        }
        let o = c.stderr(Stdio::null()).output()?;
        if !o.status.success() {
            bail!("tracer report failed");
        }
        Ok(o.stdout.iter().filter(|&&b| b == b'\n').count())
    };
    // Best of three, but once over the files when they are big: a full
    // fleet's week takes minutes to read.
    let tries = if bytes > 4 << 30 { 1 } else { 3 };
    let (ch_s, rows_ch) = best_of(3, || run_report(true))?;
    let (files_s, rows_files) = best_of(tries, || run_report(false))?;
    if rows_ch != rows_files {
        bail!("the fleet report has {rows_ch} rows, the file report {rows_files}");
    }
    drop(server);

    let r = FleetResults {
        when: super::utc_now(),
        clickhouse: version,
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        hosts,
        login_nodes,
        days,
        records,
        execs,
        logins: all.logins,
        failed_logins: all.failed,
        scale,
        log_bytes: bytes,
        ship_wall_s: ship_wall,
        ship_cpu_s: ship_cpu,
        server_cpu_s: server_cpu,
        ship_events_per_cpu_s: records as f64 / ship_cpu.max(1e-9),
        server_events_per_cpu_s: records as f64 / server_cpu.max(1e-9),
        stored_bytes,
        report_user: user,
        report_rows: rows_ch,
        report_clickhouse_s: ch_s,
        report_files_s: files_s,
        report_files_tries: tries,
    };
    let json = root.join("target/bench/fleet.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&r)?)?;
    eprintln!("bench fleet: results in {}", json.display());
    if !no_doc {
        let md = root.join("BENCHMARKS.md");
        let old = std::fs::read_to_string(&md).unwrap_or_default();
        std::fs::write(&md, splice(&old, &render(&r, quick)))?;
        eprintln!("bench fleet: wrote the Fleet section of {}", md.display());
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

/// `doc` with the fleet section replaced (or appended).
pub fn splice(doc: &str, section: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(a), Some(b)) if b > a => format!("{}{section}{}", &doc[..a], &doc[b + END.len()..]),
        _ => format!("{}\n{section}\n", doc.trim_end()),
    }
}

/// The fleet section of the old document, to keep across a rewrite.
pub fn section_of(doc: &str) -> Option<&str> {
    let a = doc.find(BEGIN)?;
    let b = doc.find(END)?;
    (b > a).then(|| &doc[a..b + END.len()])
}

fn render(r: &FleetResults, quick: bool) -> String {
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    format!(
        "{BEGIN}\n## Fleet: shipping to ClickHouse and the fleet report\n\n\
`cargo xtask bench fleet`{q}, {when}, {nproc} vCPU shared with the rest of the machine, ClickHouse {ver} \
(one server on the same machine).\n\n\
Simulated fleet: {hosts} hosts over {days} days: {ln} login nodes (ssh logins, failed logins, interactive sessions), \
the rest compute nodes running batch jobs; {records} records ({execs} execs, {logins} logins, {failed} failed logins), \
{logmb:.0} MiB of log. Each host's volume is a realistic average rate ({lr} execs/s on a login node, \
{cr} on a compute node){scaled}. The shipped logs are kept gzip-compressed, as logrotate keeps old logs, \
and the file report reads them so.\n\n\
| measure | value |\n|---|---|\n\
| shipper ingest, per CPU second of `tracer ship` | {sh:.0} records/s |\n\
| server ingest, per CPU second of clickhouse-server (incl. merges) | {sv:.0} records/s |\n\
| wall time to ship the whole fleet, one host after another | {wall:.1} s |\n\
| stored in ClickHouse (all tables, compressed) | {st:.0} MiB ({ratio:.2} x the log) |\n\
| one user, one week, across the fleet: `tracer report --from clickhouse://…` | {rc:.3} s |\n\
| the same report over the same events as files: `tracer report FILES…` ({tries}) | {rf:.3} s |\n\n\
Both reports printed the same {rows} CSV lines. Sizing: at the shipper's rate one core ships \
{sh_h:.0} M records per hour, far above a node's own rate. The server's rate is pessimistic here: \
each host's week is shipped at once, in inserts of up to 20,000 rows that each span several \
daily partitions of 7 tables, where a live shipper's batch touches one day; and the server's idle \
background work over the run is included.\n{END}",
        q = if quick { " --quick" } else { "" },
        when = r.when,
        nproc = r.nproc,
        ver = r.clickhouse,
        hosts = r.hosts,
        days = r.days,
        records = r.records,
        execs = r.execs,
        logins = r.logins,
        failed = r.failed_logins,
        ln = r.login_nodes,
        lr = LOGIN_RATE,
        cr = COMPUTE_RATE,
        scaled = if r.scale > 1.0 {
            format!(
                " divided by {:.0} (`--fleet-scale`; the full volume would hold {:.0} M records a week)",
                r.scale,
                r.records as f64 * r.scale / 1e6
            )
        } else {
            String::new()
        },
        logmb = mb(r.log_bytes),
        sh = r.ship_events_per_cpu_s,
        sv = r.server_events_per_cpu_s,
        wall = r.ship_wall_s,
        st = mb(r.stored_bytes),
        ratio = r.stored_bytes as f64 / r.log_bytes.max(1) as f64,
        rc = r.report_clickhouse_s,
        rf = r.report_files_s,
        tries = if r.report_files_tries > 1 { "best of 3" } else { "one run" },
        rows = r.report_rows,
        sh_h = r.ship_events_per_cpu_s * 3600.0 / 1e6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(
            civil(BASE_T + 3661),
            ("2024-05-06".into(), "01:01:01".into())
        );
    }

    #[test]
    fn splice_replaces_or_appends() {
        let s = format!("{BEGIN}\nnew\n{END}");
        assert_eq!(splice("# B\n", &s), format!("# B\n{s}\n"));
        let doc = format!("# B\n{BEGIN}\nold\n{END}\ntail\n");
        assert_eq!(splice(&doc, &s), format!("# B\n{s}\ntail\n"));
        assert_eq!(section_of(&doc), Some(&doc[4..doc.len() - 6]));
    }
}
