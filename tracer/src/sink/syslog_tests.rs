use super::*;
use crate::bytes::Bytes;
use crate::event::{Source, Timestamp};

fn ev() -> Event {
    let mut e = Event::new(
        Source::Ebpf,
        Timestamp::from_secs_nanos(1_700_000_000, 123_456_789),
        "node1",
        crate::event::Body::Exec(crate::event::Exec::default()),
    );
    e.task.pid = Some(42);
    e.task.auid = Some(1000);
    e
}

#[test]
fn rfc5424_header() {
    let mut d = Vec::new();
    let mut c = SyslogConfig::default();
    format_header(&mut d, &c, 7, &ev());
    assert_eq!(
        String::from_utf8(d).unwrap(),
        "<86>1 2023-11-14T22:13:20.123456Z node1 tracer 7 exec - "
    );
    c.structured_data = true;
    let mut d = Vec::new();
    format_header(&mut d, &c, 7, &ev());
    assert_eq!(
        String::from_utf8(d).unwrap(),
        "<86>1 2023-11-14T22:13:20.123456Z node1 tracer 7 exec [tracer@32473 type=\"exec\" pid=\"42\" auid=\"1000\"] "
    );
    c.format = SyslogFormat::Rfc3164;
    let mut d = Vec::new();
    format_header(&mut d, &c, 7, &ev());
    assert_eq!(
        String::from_utf8(d).unwrap(),
        "<86>Nov 14 22:13:20 node1 tracer[7]: "
    );
}

#[test]
fn tcp_octet_counting_and_udp_delivery() {
    let c = SyslogConfig {
        enabled: true,
        target: SyslogTarget::Tcp("127.0.0.1:9".into()),
        ..SyslogConfig::default()
    };
    let mut s = Syslog::start(&c);
    s.push(&ev(), b"{\"a\":1}");
    s.push(&ev(), b"{\"b\":2}");
    let b = std::mem::take(&mut s.batch);
    let text = String::from_utf8(b.data.clone()).unwrap();
    let (len, rest) = text.split_once(' ').unwrap();
    let len: usize = len.parse().unwrap();
    assert!(rest[..len].ends_with("{\"a\":1}"), "{text}");
    assert_eq!(count(&b), 2);

    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let c = SyslogConfig {
        enabled: true,
        target: SyslogTarget::Udp(rx.local_addr().unwrap().to_string()),
        ..SyslogConfig::default()
    };
    let mut s = Syslog::start(&c);
    s.push(&ev(), b"{\"x\":1}");
    s.flush();
    let mut buf = [0u8; 2048];
    let n = rx.recv(&mut buf).unwrap();
    let msg = std::str::from_utf8(&buf[..n]).unwrap();
    assert!(
        msg.starts_with("<86>1 ") && msg.ends_with(" - {\"x\":1}"),
        "{msg}"
    );
    s.close();
    assert_eq!(s.take_dropped(), 0);
}

#[test]
fn long_records_are_shortened_to_fit() {
    let mut e = ev();
    e.exec_mut().unwrap().argv = Some(
        (0..100)
            .map(|i| Bytes::from(format!("arg-{i}-{}", "y".repeat(100)).as_str()))
            .collect(),
    );
    let j = shorten(&e, 2000);
    assert!(j.len() <= 2000);
    let back: Event = serde_json::from_slice(&j).unwrap();
    assert!(back.exec().unwrap().truncated);
    assert!(!back.exec().unwrap().argv.as_ref().unwrap().is_empty());
}
