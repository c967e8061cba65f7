//! Privileged: events shipped over syslog reach a real rsyslogd (Debian's),
//! started by the test on loopback UDP and TCP ports with a private
//! configuration that writes what it receives to a file.

#![cfg(feature = "privileged")]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::daemon::*;
use common::*;
use serde_json::Value;

fn rsyslog_conf(dir: &Path, udp: u16, tcp: u16, out: &Path) -> std::path::PathBuf {
    let conf = dir.join("rsyslog.conf");
    let text = format!(
        r#"global(workDirectory="{work}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="{udp}")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
template(name="tracerraw" type="string" string="%inputname% %msgid% %app-name% %structured-data% %msg%\n")
if $app-name == "tracer-test" then {{
  action(type="omfile" file="{out}" template="tracerraw")
}}
"#,
        work = dir.display(),
        out = out.display()
    );
    std::fs::write(&conf, text).unwrap();
    conf
}

/// The received lines: (input, msgid, structured data, the JSON record).
fn received(out: &Path) -> Vec<(String, String, String, Value)> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, ' ');
            let (input, msgid, _app) = (it.next()?, it.next()?, it.next()?);
            let rest = it.next()?;
            // Structured data is `-` or `[...]` (no spaces inside our values
            // except between params).
            let (sd, msg) = if let Some(r) = rest.strip_prefix("- ") {
                ("-".to_string(), r)
            } else {
                let end = rest.find("] ")?;
                (rest[..=end].to_string(), &rest[end + 2..])
            };
            let v: Value = serde_json::from_str(msg.trim_start()).ok()?;
            Some((input.into(), msgid.into(), sd, v))
        })
        .collect()
}

#[test]
fn events_reach_rsyslog_over_udp_and_tcp() {
    let _g = global_lock();
    let dir = tempfile::tempdir().unwrap();
    let (udp, tcp) = (free_port(), free_port());
    let out = dir.path().join("received.log");
    let conf = rsyslog_conf(dir.path(), udp, tcp, &out);
    let _rs = Rsyslogd::start(&conf, &dir.path().join("rsyslogd.pid"));
    wait_for("rsyslogd listening on TCP", Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", tcp)).is_ok()
    });

    for (proto, port, sd) in [("tcp", tcp, true), ("udp", udp, false)] {
        let cfg = dir.path().join(format!("{proto}.toml"));
        let log = dir.path().join(format!("logs-{proto}/tracer.log"));
        std::fs::write(
            &cfg,
            format!(
                "[log]\nfile = \"{}\"\n[syslog]\nenabled = true\ntarget = \"{proto}://127.0.0.1:{port}\"\n\
                 app_name = \"tracer-test\"\nfacility = \"local6\"\nstructured_data = {sd}\nmax_message = \"8K\"\n\
                 [daemon]\nstatus_file = \"\"\n",
                log.display()
            ),
        )
        .unwrap();
        let d = Daemon::start(
            &["--config", cfg.to_str().unwrap(), "--no-proc-scan"],
            &log,
            1,
            &dir.path().join(format!("err-{proto}")),
        );
        let marker = format!("tracer-syslog-{proto}-marker");
        let st = Command::new("/bin/echo").arg(&marker).output().unwrap();
        assert!(st.status.success());
        let long = format!("tracer-syslog-{proto}-long-{}", "z".repeat(100_000));
        Command::new("/bin/true").arg(&long).status().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        d.stop();
        wait_for(
            &format!("the {proto} marker at rsyslogd"),
            Duration::from_secs(10),
            || {
                received(&out)
                    .iter()
                    .any(|(_, _, _, v)| v["argv"][1] == marker.as_str())
            },
        );
        let got = received(&out);
        let (input, msgid, sdata, ev) = got
            .iter()
            .find(|(_, _, _, v)| v["argv"][1] == marker.as_str())
            .unwrap();
        assert_eq!(input, if proto == "tcp" { "imtcp" } else { "imudp" });
        assert_eq!(msgid, "exec");
        assert_eq!(ev["type"], "exec");
        assert_eq!(ev["exe"], "/bin/echo");
        if sd {
            assert!(sdata.starts_with("[tracer@32473 type=\"exec\""), "{sdata}");
            assert!(sdata.contains(&format!("pid=\"{}\"", ev["pid"])), "{sdata}");
        } else {
            assert_eq!(sdata, "-");
        }
        // The same record is in the file.
        let file = read_lines(&log);
        let in_file = with_marker(&file, "exec", &marker);
        assert_eq!(in_file.len(), 1);
        // The file's copy is sealed (seq, chain, prev: tamper evidence);
        // the syslog copy is not. Otherwise they are the same record.
        let mut sealed = in_file[0].clone();
        let o = sealed.as_object_mut().unwrap();
        assert!(o.remove("seq").is_some() && o.remove("chain").is_some());
        o.remove("prev");
        assert_eq!(&sealed, ev);
        // The start and stop records went too; the over-long record arrived
        // shortened but whole.
        assert!(got
            .iter()
            .any(|(_, m, _, v)| m == "tracer" && v["detail"]["status"] == "stop"));
        let shortened = got.iter().find(|(_, _, _, v)| {
            v["exe"] == "/bin/true" && v["argc"] == 2 && v["truncated"] == true
        });
        assert!(
            shortened.is_some(),
            "the long record did not arrive shortened"
        );
    }
}
