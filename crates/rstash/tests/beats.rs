//! The beats input against our own protocol client and raw sockets: pipelining, compression,
//! TLS with client certificates, malformed frames, zip bombs, and keep-alives under backpressure.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use rstash_beats_protocol::{BoxStream, Client, ClientConfig, Connector};

fn beats_to_file(port: u16, out: &Path, extra: &str, filter: &str) -> String {
    format!(
        "input {{ beats {{ port => {port} host => '127.0.0.1' {extra} }} }} filter {{ {filter} }} output {{ file {{ path => '{}' codec => json_lines }} }}",
        out.display()
    )
}

fn batches(n_batches: usize, per: usize) -> Vec<Vec<Bytes>> {
    (0..n_batches)
        .map(|b| {
            (0..per)
                .map(|i| {
                    let doc = serde_json::json!({"message": format!("b{b}-e{i}"), "@metadata": {"beat": "test", "version": "8.1.3"}, "log": {"offset": i}});
                    Bytes::from(doc.to_string())
                })
                .collect()
        })
        .collect()
}

fn publish(
    connector: Connector,
    cfg: ClientConfig,
    b: Vec<Vec<Bytes>>,
) -> Result<(), rstash_beats_protocol::ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move { Client::new(connector, cfg).publish(b).await })
}

#[test]
fn pipelined_batches_arrive_once_with_beats_fields() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let r = Rstash::start(&beats_to_file(port, &out, "", ""), dir.path());
    r.wait_port(port);
    for level in [0, 3] {
        let cfg = ClientConfig {
            compression_level: level,
            pipelining: 4,
            max_retries: Some(0),
            ..Default::default()
        };
        publish(
            Connector::tcp(format!("127.0.0.1:{port}")),
            cfg,
            batches(20, 250),
        )
        .unwrap();
    }
    wait_for("10000 events", Duration::from_secs(20), || {
        line_count(&out) >= 10_000
    });
    assert!(r.stop().success());
    let evs = lines(&out);
    assert_eq!(evs.len(), 10_000);
    let mut msgs: Vec<&str> = evs.iter().map(|e| e["message"].as_str().unwrap()).collect();
    msgs.sort_unstable();
    msgs.dedup();
    assert_eq!(
        msgs.len(),
        5_000,
        "each of the 5000 messages twice (two runs), none lost or doubled"
    );
    let e = &evs[0];
    assert_eq!(
        e["tags"],
        serde_json::json!(["beats_input_codec_plain_applied"])
    );
    assert!(e["log"]["offset"].is_i64());
    assert!(
        e.get("@metadata").is_none(),
        "metadata is not written by json_lines"
    );
}

#[test]
fn metadata_from_the_beat_and_client_ip_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let filter = "mutate { add_field => { 'beat' => '%{[@metadata][beat]}' 'ip' => '%{[@metadata][ip_address]}' } }";
    let r = Rstash::start(&beats_to_file(port, &out, "", filter), dir.path());
    r.wait_port(port);
    publish(
        Connector::tcp(format!("127.0.0.1:{port}")),
        ClientConfig::default(),
        batches(1, 3),
    )
    .unwrap();
    wait_for("3 events", Duration::from_secs(10), || {
        line_count(&out) >= 3
    });
    let evs = lines(&out);
    assert_eq!(evs[0]["beat"], "test");
    assert_eq!(evs[0]["ip"], "127.0.0.1");
}

fn tls_connector(port: u16, c: &Certs, with_client_cert: bool) -> Connector {
    let tls = rstash_net::client(
        &[&c.ca],
        with_client_cert.then_some((c.client_cert.as_path(), c.client_key.as_path())),
    )
    .unwrap();
    Connector::new(move || {
        let tls = tls.clone();
        async move {
            let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            let name = rstash_net::server_name("localhost").map_err(std::io::Error::other)?;
            Ok(Box::new(tls.connect(name, tcp).await?) as BoxStream)
        }
    })
}

#[test]
fn tls_with_required_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let ssl = format!(
        "ssl_enabled => true ssl_certificate => '{}' ssl_key => '{}' ssl_certificate_authorities => ['{}'] ssl_client_authentication => required",
        c.server_cert.display(),
        c.server_key.display(),
        c.ca.display()
    );
    let r = Rstash::start(&beats_to_file(port, &out, &ssl, ""), dir.path());
    r.wait_port(port);
    let cfg = ClientConfig {
        max_retries: Some(0),
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    publish(tls_connector(port, &c, true), cfg.clone(), batches(3, 100)).unwrap();
    assert!(
        publish(tls_connector(port, &c, false), cfg, batches(1, 1)).is_err(),
        "no client certificate: refused"
    );
    wait_for("300 events", Duration::from_secs(10), || {
        line_count(&out) >= 300
    });
    assert!(r.stop().success());
    assert_eq!(line_count(&out), 300);
}

/// Sends raw bytes and reports whether the server closed the connection.
fn closes_after(port: u16, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn bad_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let r = Rstash::start(&beats_to_file(port, &out, "", ""), dir.path());
    r.wait_port(port);
    // A connection that stays open with half a batch while the bad ones come and go.
    let mut good = TcpStream::connect(("127.0.0.1", port)).unwrap();
    good.write_all(b"2W\0\0\0\x02").unwrap();
    assert!(closes_after(port, b"GET / HTTP/1.1\r\n\r\n"), "garbage");
    assert!(
        closes_after(port, &[b'2', b'W', 0x7f, 0xff, 0xff, 0xff]),
        "window over the limit"
    );
    assert!(
        closes_after(port, &[b'2', b'J', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]),
        "frame over the limit"
    );
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(&vec![b'2'; 300 << 20]).unwrap();
    let bomb = z.finish().unwrap();
    let mut frame = b"2W\0\0\0\x01".to_vec();
    frame.extend_from_slice(b"2C");
    frame.extend_from_slice(&(bomb.len() as u32).to_be_bytes());
    frame.extend_from_slice(&bomb);
    assert!(closes_after(port, &frame), "zip bomb");
    assert!(
        closes_after(port, b"2J\0\0\0\x01\0\0\0\x02{}"),
        "data before a window"
    );
    // The first connection still completes its batch and gets its ACK.
    for m in ["one", "two"] {
        let doc = format!("{{\"message\":\"{m}\"}}");
        let mut f = b"2J\0\0\0".to_vec();
        f.push(if m == "one" { 1 } else { 2 });
        f.extend_from_slice(&(doc.len() as u32).to_be_bytes());
        f.extend_from_slice(doc.as_bytes());
        good.write_all(&f).unwrap();
    }
    let mut ack = [0u8; 6];
    good.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    good.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [b'2', b'A', 0, 0, 0, 2]);
    wait_for("2 events", Duration::from_secs(10), || {
        line_count(&out) >= 2
    });
    assert!(r.logs().contains("closed"), "reasons are logged");
    assert!(!r.logs().contains("panicked"));
}

#[test]
fn empty_window_is_acked_with_zero() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let r = Rstash::start(
        &beats_to_file(port, &dir.path().join("o"), "", ""),
        dir.path(),
    );
    r.wait_port(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"2W\0\0\0\0").unwrap();
    let mut ack = [0u8; 6];
    s.read_exact(&mut ack).unwrap();
    assert_eq!(ack, [b'2', b'A', 0, 0, 0, 0]);
}

#[test]
fn backpressure_sends_keepalives_then_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let cfg = format!(
        "input {{ beats {{ port => {port} host => '127.0.0.1' }} }} filter {{ sleep {{ time => '0.7' }} }} output {{ file {{ path => '{}' }} }}",
        out.display()
    );
    // One worker taking one event at a time: the queue holds one event.
    let r = Rstash::start_with(&["-w", "1", "-b", "1"], &cfg, dir.path());
    r.wait_port(port);
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = bytes::BytesMut::new();
    let docs: Vec<String> = (0..10)
        .map(|i| format!("{{\"message\":\"m{i}\"}}"))
        .collect();
    rstash_beats_protocol::encode_batch(&mut buf, 1, &docs, 0);
    s.write_all(&buf).unwrap();
    buf.clear();
    rstash_beats_protocol::encode_batch(&mut buf, 11, &docs, 0);
    s.write_all(&buf).unwrap();
    let start = Instant::now();
    let mut acks = Vec::new();
    while acks.last() != Some(&20) {
        let mut a = [0u8; 6];
        s.read_exact(&mut a).unwrap();
        assert_eq!(&a[..2], b"2A");
        acks.push(u32::from_be_bytes([a[2], a[3], a[4], a[5]]));
    }
    assert!(
        acks.contains(&0),
        "a keep-alive ACK 0 while the pipeline pushed back: {acks:?}"
    );
    assert!(acks.contains(&10), "{acks:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(5),
        "the second batch waited for the queue"
    );
    wait_for("20 events", Duration::from_secs(20), || {
        line_count(&out) >= 20
    });
    assert_eq!(line_count(&out), 20);
}

/// What each kind of payload becomes: the message (or `line`) decoded by the codec with the
/// client's other keys merged in, a repeated key's last value, `add_hostname`, an event without
/// a message kept raw, and text that is not a JSON object tagged `_jsonparsefailure`.
#[test]
fn each_kind_of_payload_becomes_the_event_logstash_makes() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let r = Rstash::start(
        &beats_to_file(port, &out, "add_hostname => true", ""),
        dir.path(),
    );
    r.wait_port(port);
    let payloads = [
        r#"{"@timestamp":"2026-01-02T03:04:05.678Z","message":"m1","n":1,"host":{"name":"h"},"n":2,"beat":{"hostname":"bh"}}"#,
        r#"{"line":"l2","beat":{"hostname":"bh"}}"#,
        r#"{"other":"x"}"#,
        "not json",
        "[1,2]",
    ];
    let batch = vec![payloads
        .iter()
        .map(|p| Bytes::from(p.to_string()))
        .collect()];
    publish(
        Connector::tcp(format!("127.0.0.1:{port}")),
        ClientConfig::default(),
        batch,
    )
    .unwrap();
    wait_for("5 events", Duration::from_secs(10), || {
        line_count(&out) >= 5
    });
    assert!(r.stop().success());
    let evs = lines(&out);
    let find = |f: &dyn Fn(&serde_json::Value) -> bool| {
        evs.iter()
            .find(|e| f(e))
            .unwrap_or_else(|| panic!("not among {evs:?}"))
            .clone()
    };
    let codec = serde_json::json!(["beats_input_codec_plain_applied"]);
    let m1 = find(&|e| e["message"] == "m1");
    assert_eq!(m1["@timestamp"], "2026-01-02T03:04:05.678Z");
    assert_eq!(m1["n"], 2);
    assert_eq!(m1["host"], serde_json::json!({"name": "h"}), "host was set");
    assert_eq!(m1["tags"], codec);
    let l2 = find(&|e| e["message"] == "l2");
    assert_eq!(l2["host"], "bh", "add_hostname");
    assert!(l2.get("line").is_none());
    let raw = find(&|e| e["other"] == "x");
    assert_eq!(raw["tags"], serde_json::json!(["beats_input_raw_event"]));
    assert!(raw.get("message").is_none());
    for text in ["not json", "[1,2]"] {
        let e = find(&|e| e["message"] == text);
        assert_eq!(e["tags"], serde_json::json!(["_jsonparsefailure"]));
    }
}
