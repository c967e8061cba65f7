//! Support for the fleet tests: ClickHouse servers of their own (ports on
//! 127.0.0.1 picked free, data in a temporary directory, stopped by pid), a
//! simulated node that writes its log through tracer's real file sink
//! (rotation, `seq`/`chain`), and the `tracer` binary.
//!
//! The servers are Debian 12's `clickhouse-server` (18.16), installed by
//! `xtask/setup.sh test`. A missing server fails the test: a skipped test
//! would hide a regression.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tracer::bytes::Bytes;
use tracer::config::LogConfig;
use tracer::event::{
    Body, EndReason, Event, Exec, Kind, LoginRecord, LoginType, Loss, LossCause, Outcome,
    SessionEnd, SessionStart, Source, Timestamp, TracerRecord, TracerStatus,
};
use tracer::fleet::client::Client;
use tracer::fleet::url::Endpoint;
use tracer::sink::logfile::LogFile;

pub const SERVER: &str = "/usr/sbin/clickhouse-server";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One ClickHouse server.
pub struct ClickHouse {
    pub dir: tempfile::TempDir,
    pub http: u16,
    pub tcp: u16,
    /// `https_port`, for [`ClickHouse::start_tls`].
    pub https: Option<u16>,
    /// The test CA (`ca.crt`), a CA that did not sign the server's
    /// certificate (`other-ca.crt`), and the server's key and certificate.
    pub pki: Option<tempfile::TempDir>,
    child: Option<Child>,
}

/// Runs openssl(1) with `args` in `dir`.
fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl(1) (xtask/setup.sh test installs it)");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA made for the test and a server certificate it signed for
/// 127.0.0.1 and localhost; and a second CA that signed nothing.
pub fn make_pki() -> tempfile::TempDir {
    let pki = tempfile::Builder::new()
        .prefix("tracer-pki-")
        .tempdir()
        .unwrap();
    let d = pki.path();
    for (key, crt, cn) in [
        ("ca.key", "ca.crt", "tracer test CA"),
        ("other-ca.key", "other-ca.crt", "some other CA"),
    ] {
        openssl(
            d,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                key,
                "-out",
                crt,
                "-days",
                "2",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
    }
    openssl(
        d,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        d.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    pki
}

/// `<remote_servers>` for a cluster `tracer_fleet` of one-replica shards at
/// these TCP ports.
pub fn cluster_xml(tcp_ports: &[u16]) -> String {
    let shards: String = tcp_ports
        .iter()
        .map(|p| {
            format!("<shard><replica><host>127.0.0.1</host><port>{p}</port></replica></shard>")
        })
        .collect();
    format!("<remote_servers><tracer_fleet>{shards}</tracer_fleet></remote_servers>")
}

impl ClickHouse {
    pub fn start() -> Self {
        Self::start_with(free_port(), free_port(), "")
    }

    /// A server that also serves HTTPS (`https_port`) with a certificate
    /// signed by a CA made for the test (`pki/ca.crt`).
    pub fn start_tls() -> Self {
        let pki = make_pki();
        let https = free_port();
        let d = pki.path().display();
        let extra = format!(
            "<https_port>{https}</https_port>
  <openSSL><server><certificateFile>{d}/server.crt</certificateFile><privateKeyFile>{d}/server.key</privateKeyFile><verificationMode>none</verificationMode><loadDefaultCAFile>false</loadDefaultCAFile><cacheSessions>true</cacheSessions><disableProtocols>sslv2,sslv3</disableProtocols><preferServerCiphers>true</preferServerCiphers></server></openSSL>"
        );
        let mut ch = Self::start_with(free_port(), free_port(), &extra);
        ch.https = Some(https);
        ch.pki = Some(pki);
        ch
    }

    /// `https://127.0.0.1:PORT/db` of [`ClickHouse::start_tls`].
    pub fn https_url(&self, db: &str) -> String {
        format!("https://127.0.0.1:{}/{db}", self.https.unwrap())
    }

    /// A file of the test PKI ([`make_pki`]).
    pub fn pki_file(&self, name: &str) -> String {
        self.pki
            .as_ref()
            .unwrap()
            .path()
            .join(name)
            .display()
            .to_string()
    }

    pub fn start_with(http: u16, tcp: u16, extra: &str) -> Self {
        assert!(
            Path::new(SERVER).exists(),
            "{SERVER} is missing: install clickhouse-server (bash xtask/setup.sh test)"
        );
        let dir = tempfile::Builder::new()
            .prefix("tracer-ch-")
            .tempdir()
            .unwrap();
        let d = dir.path().display().to_string();
        for sub in ["data", "tmp", "user_files", "log", "format_schemas"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::fs::write(
            dir.path().join("config.xml"),
            format!(
                r#"<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{d}/log/server.log</log><errorlog>{d}/log/error.log</errorlog></logger>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <listen_host>127.0.0.1</listen_host>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>50</max_concurrent_queries>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  {extra}
</yandex>
"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("users.xml"),
            r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    <tracer><password>fleet-secret</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></tracer>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
"#,
        )
        .unwrap();
        let mut ch = Self {
            dir,
            http,
            tcp,
            https: None,
            pki: None,
            child: None,
        };
        ch.spawn();
        ch
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("log/stdout.log"))
            .unwrap();
        let child = Command::new(SERVER)
            .arg(format!(
                "--config-file={}/config.xml",
                self.dir.path().display()
            ))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start clickhouse-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if self.client("default").exec("SELECT 1").is_ok() {
                return;
            }
            if let Some(st) = self.child.as_mut().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(self.dir.path().join("log/error.log"))
                    .unwrap_or_default();
                panic!(
                    "clickhouse-server exited ({st}) on port {}: {log}",
                    self.http
                );
            }
            assert!(
                Instant::now() < deadline,
                "clickhouse-server did not answer on port {}",
                self.http
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the server (SIGTERM by pid, SIGKILL after 20 s); data is kept.
    pub fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // SAFETY: kill(2) on the pid of our own child, which we have not reaped.
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if c.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    pub fn url(&self, db: &str) -> String {
        format!("clickhouse://127.0.0.1:{}/{db}", self.http)
    }

    pub fn client(&self, db: &str) -> Client {
        Client::new(Endpoint::parse(&self.url(db)).unwrap())
    }

    /// One value (first line) of a query.
    pub fn value(&self, db: &str, sql: &str) -> String {
        self.client(db)
            .exec(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .trim()
            .to_owned()
    }

    pub fn count(&self, db: &str, sql: &str) -> u64 {
        self.value(db, sql).parse().unwrap()
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn tracer_bin() -> &'static str {
    env!("CARGO_BIN_EXE_tracer")
}

pub fn tracer(args: &[&str]) -> Output {
    Command::new(tracer_bin()).args(args).output().unwrap()
}

pub fn init(ch: &ClickHouse, db: &str, cluster: Option<&str>) {
    let url = ch.url(db);
    let mut args = vec!["fleet", "init", url.as_str()];
    if let Some(c) = cluster {
        args.extend(["--cluster", c]);
    }
    let o = tracer(&args);
    assert!(
        o.status.success(),
        "fleet init: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A simulated node writing its log through tracer's file sink.
pub struct Node {
    pub host: String,
    pub dir: PathBuf,
    pub log: PathBuf,
    lf: LogFile,
    pub execs: u64,
    pub records: u64,
    pub t: i64,
}

impl Node {
    /// `max_size` 0: never rotate.
    pub fn new(dir: &Path, host: &str, max_size: u64) -> Self {
        let ndir = dir.join(host);
        std::fs::create_dir_all(&ndir).unwrap();
        let log = ndir.join("tracer.log");
        let cfg = LogConfig {
            file: log.clone(),
            max_size: tracer::config::Size(max_size),
            num_logs: 100_000,
            chain_key: ndir.join("chain.key"),
            ..LogConfig::default()
        };
        let (lf, _) = LogFile::open(&cfg, host).unwrap();
        Self {
            host: host.into(),
            dir: ndir,
            log,
            lf,
            execs: 0,
            records: 0,
            t: 1_714_550_400_000_000_000, // 2024-05-01T08:00:00Z
        }
    }

    pub fn ev(&mut self, kind: Kind, step_ms: i64) -> Event {
        self.t += step_ms * 1_000_000;
        let body = match kind {
            Kind::Exec => Body::Exec(Exec::default()),
            Kind::ExecFailed => Body::Exec(Exec {
                outcome: Outcome::Failed(-1),
                ..Exec::default()
            }),
            Kind::Tracer => Body::Tracer(TracerRecord {
                status: TracerStatus::Start,
                boot: None,
                from: None,
                until: None,
                fields: serde_json::Map::new(),
            }),
            Kind::Login => Body::Login(LoginRecord::new(LoginType::UserLogin)),
            Kind::Loss => Body::Loss(Loss {
                count: None,
                cause: LossCause::Unknown,
                from: None,
                until: None,
                execs: None,
                exits: None,
                exec_failed_unseen: None,
                file: None,
            }),
            Kind::SessionStart => Body::SessionStart(SessionStart::default()),
            Kind::SessionEnd => Body::SessionEnd(SessionEnd {
                addr: None,
                from: None,
                reason: EndReason::Logout,
                kind: None,
                user: None,
            }),
            other => panic!("no test events of kind {other:?}"),
        };
        Event::new(Source::Ebpf, Timestamp(self.t), self.host.clone(), body)
    }

    pub fn push(&mut self, e: &Event) {
        let mut line = e.to_json();
        line.push('\n');
        self.lf.push(line.as_bytes(), e.is_exec()).unwrap();
        self.records += 1;
        self.execs += u64::from(e.is_exec());
    }

    /// A login's execs: `n` commands by `auid` in session `ses`.
    pub fn exec(&mut self, auid: u32, ses: u32, argv: &[&[u8]], job: Option<&str>) -> Event {
        let e = self.exec_event(auid, ses, argv, job);
        self.push(&e);
        e
    }

    /// The exec record [`Node::exec`] writes, not written yet.
    pub fn exec_event(&mut self, auid: u32, ses: u32, argv: &[&[u8]], job: Option<&str>) -> Event {
        let mut e = self.ev(Kind::Exec, 7);
        let t = &mut e.task;
        t.pid = Some(10_000 + (self.execs % 50_000) as u32);
        t.ppid = Some(999);
        t.uid = Some(auid);
        t.euid = Some(auid);
        t.auid = Some(auid);
        t.ses = Some(ses);
        t.tty = Some("pts/1".into());
        t.exe = Some(Bytes::from(
            format!("/usr/bin/{}", String::from_utf8_lossy(argv[0])).as_str(),
        ));
        if let Some(j) = job {
            t.cgroup = Some(format!(
                "/system.slice/slurmstepd.scope/job_{j}/step_0/user/task_0"
            ));
        }
        let x = e.exec_mut().unwrap();
        x.argv = Some(argv.iter().map(|a| Bytes::from(a.to_vec())).collect());
        x.cwd = Some(Bytes::from("/home/u"));
        x.job = job.map(|j| tracer::event::Job {
            id: j.to_owned(),
            step: Some("0".into()),
            uid: None,
        });
        e
    }

    pub fn session(&mut self, kind: Kind, auid: u32, ses: u32) {
        let mut e = self.ev(kind, 50);
        e.source = Source::Audit;
        e.task.pid = Some(900 + ses);
        e.task.auid = Some(auid);
        e.task.ses = Some(ses);
        e.task.tty = Some("pts/1".into());
        match &mut e.body {
            Body::SessionStart(s) => {
                s.addr = Some("192.0.2.7".into());
                s.port = Some(50_000);
            }
            Body::SessionEnd(s) => s.addr = Some("192.0.2.7".into()),
            _ => {}
        }
        self.push(&e);
    }

    pub fn flush(&mut self) {
        self.lf.flush().unwrap();
    }

    /// Records the sink could not write (its loss counters).
    pub fn lost(&self) -> u64 {
        self.lf.lost.values().sum()
    }

    /// Appends raw bytes to the live log, bypassing the sink (bad lines).
    pub fn append_raw(&mut self, b: &[u8]) {
        self.flush();
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .unwrap();
        f.write_all(b).unwrap();
    }

    /// The log family, oldest first, as report arguments.
    pub fn files(&self) -> Vec<String> {
        tracer::fleet::spool::family(&self.log)
            .into_iter()
            .map(|m| m.path.display().to_string())
            .collect()
    }
}

/// A running `tracer ship`.
pub struct Shipper {
    pub child: Child,
    pub state: PathBuf,
    pub stderr: PathBuf,
}

pub fn ship_args(ch_url: &str, node: &Node, state: &Path) -> Vec<String> {
    vec![
        "ship".into(),
        ch_url.into(),
        "--log".into(),
        node.log.display().to_string(),
        "--state-dir".into(),
        state.display().to_string(),
        "--status-file".into(),
        state.join("ship.json").display().to_string(),
        "--daemon-status".into(),
        state.join("none.json").display().to_string(),
        "--flush-ms".into(),
        "200".into(),
        "--backoff-max".into(),
        "2".into(),
        "--timeout".into(),
        "10".into(),
    ]
}

impl Shipper {
    pub fn start(args: &[String], state: &Path) -> Self {
        std::fs::create_dir_all(state).unwrap();
        let stderr = state.join(format!("stderr.{}", Instant::now().elapsed().as_nanos()));
        let n = std::fs::read_dir(state).map(|d| d.count()).unwrap_or(0);
        let stderr = stderr.with_extension(n.to_string());
        let child = Command::new(tracer_bin())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        Self {
            child,
            state: state.to_owned(),
            stderr,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM and wait: the shipper stores its checkpoint and exits.
    pub fn stop(&mut self) {
        // SAFETY: kill(2) on our own unreaped child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("tracer ship did not stop on SIGTERM:\n{}", self.log());
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Shipper {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits until `f` is true (polling), or panics with `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Distinct records (by the dedup key) in a table.
pub fn distinct(ch: &ClickHouse, db: &str, table: &str, cond: &str) -> u64 {
    ch.count(
        db,
        &format!("SELECT count() FROM (SELECT DISTINCT host, boot, seq, line_hash FROM {db}.{table} WHERE {cond})"),
    )
}
