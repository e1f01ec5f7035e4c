//! The http input and output through the real binary: request details, codecs by content type,
//! basic auth, limits (401, 413, 429), TLS, and an http output → http input round trip that
//! survives the receiver being down.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{certs, free_port, lines, wait_for, Rstash};
use serde_json::Value;

fn receiver(dir: &Path, port: u16, extra: &str) -> Rstash {
    let cfg = format!(
        r#"input {{ http {{ port => {port} host => "127.0.0.1" {extra} }} }}
           output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        dir.display()
    );
    let rs = Rstash::start(&cfg, dir);
    rs.wait_port(port);
    rs
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(port: u16, path: &str, ct: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent()
        .post(format!("http://127.0.0.1:{port}{path}"))
        .header("Content-Type", ct)
        .header("User-Agent", "rstash-test")
        .send(body)
        .unwrap();
    (
        r.status().as_u16(),
        r.body_mut().read_to_string().unwrap_or_default(),
    )
}

fn wait_lines(out: &Path, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} events"), Duration::from_secs(30), || {
        lines(out).len() >= n
    });
    lines(out)
}

#[test]
fn requests_become_events_with_headers_and_codecs_by_content_type() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rs = receiver(dir.path(), port, r#"response_code => 202"#);
    assert_eq!(
        post(port, "/logs?x=1", "text/plain", b"hello there"),
        (202, "ok".into())
    );
    assert_eq!(
        post(
            port,
            "/",
            "application/json; charset=utf-8",
            br#"[{"a":1},{"a":2}]"#
        )
        .0,
        202
    );
    assert_eq!(post(port, "/", "application/json", b"{broken").0, 202);
    let got = wait_lines(&dir.path().join("out.json"), 4);
    let plain = got.iter().find(|e| e["message"] == "hello there").unwrap();
    let h = &plain["headers"];
    assert_eq!(h["request_method"], "POST");
    assert_eq!(h["request_path"], "/logs");
    assert_eq!(h["request_uri"], "/logs?x=1");
    assert_eq!(h["http_version"], "HTTP/1.1");
    assert_eq!(h["http_user_agent"], "rstash-test");
    assert_eq!(h["content_type"], "text/plain");
    assert_eq!(plain["host"], "127.0.0.1");
    let mut a: Vec<i64> = got.iter().filter_map(|e| e["a"].as_i64()).collect();
    a.sort();
    assert_eq!(a, [1, 2], "a JSON array is one event per element");
    assert!(got
        .iter()
        .any(|e| e["tags"].to_string().contains("_jsonparsefailure")));
    assert!(rs.stop().success());
}

#[test]
fn basic_auth_and_content_length_limits() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let rs = receiver(
        dir.path(),
        port,
        r#"user => "u" password => "p@ss" max_content_length => 1000"#,
    );
    assert_eq!(post(port, "/", "text/plain", b"no auth").0, 401);
    let ok = agent()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("Authorization", "Basic dTpwQHNz")
        .send("authorized")
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let big = agent()
        .post(format!("http://127.0.0.1:{port}/"))
        .header("Authorization", "Basic dTpwQHNz")
        .send(&vec![b'x'; 5000][..])
        .unwrap();
    assert_eq!(big.status().as_u16(), 413);
    let got = wait_lines(&dir.path().join("out.json"), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lines(&dir.path().join("out.json")).len(), 1);
    assert_eq!(got[0]["message"], "authorized");
    assert!(rs.stop().success());
}

#[test]
fn a_full_queue_answers_429_past_max_pending_requests_and_loses_nothing_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"input {{ http {{ port => {port} host => "127.0.0.1" max_pending_requests => 2 }} }}
           filter {{ sleep {{ time => "0.05" }} }}
           output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        dir.path().display()
    );
    let rs = Rstash::start_with(&["-w", "1", "-b", "1"], &cfg, dir.path());
    rs.wait_port(port);
    let handles: Vec<_> = (0..40)
        .map(|i| {
            std::thread::spawn(move || {
                (
                    i,
                    post(port, "/", "text/plain", format!("req {i}").as_bytes()).0,
                )
            })
        })
        .collect();
    let codes: Vec<(i32, u16)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let accepted: Vec<String> = codes
        .iter()
        .filter(|(_, c)| *c == 200)
        .map(|(i, _)| format!("req {i}"))
        .collect();
    let refused = codes.iter().filter(|(_, c)| *c == 429).count();
    println!("accepted {}, refused with 429: {refused}", accepted.len());
    assert!(refused > 0, "no 429 although the queue was full: {codes:?}");
    assert_eq!(accepted.len() + refused, 40, "{codes:?}");
    let got = wait_lines(&dir.path().join("out.json"), accepted.len());
    for a in &accepted {
        assert!(
            got.iter().any(|e| e["message"] == a.as_str()),
            "{a} was accepted but lost"
        );
    }
    assert!(rs.stop().success());
}

#[test]
fn tls_http_input() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let port = free_port();
    let rs = receiver(
        dir.path(),
        port,
        &format!(
            r#"ssl_enabled => true ssl_certificate => "{}" ssl_key => "{}""#,
            c.server_cert.display(),
            c.server_key.display()
        ),
    );
    let pem = std::fs::read(&c.ca).unwrap();
    let roots: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|i| match i {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build();
    let a: ureq::Agent = ureq::Agent::config_builder().tls_config(tls).build().into();
    let r = a
        .post(format!("https://127.0.0.1:{port}/"))
        .send("over tls")
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    // Plain HTTP to the TLS port fails, and the input keeps serving.
    assert!(agent()
        .post(format!("http://127.0.0.1:{port}/"))
        .send("plain")
        .is_err());
    let got = wait_lines(&dir.path().join("out.json"), 1);
    assert_eq!(got[0]["message"], "over tls");
    assert!(rs.stop().success());
}

#[test]
fn http_output_to_http_input_survives_the_receiver_being_down() {
    let dir = tempfile::tempdir().unwrap();
    let (send_dir, recv_dir) = (dir.path().join("send"), dir.path().join("recv"));
    std::fs::create_dir_all(&send_dir).unwrap();
    std::fs::create_dir_all(&recv_dir).unwrap();
    let port = free_port();
    // The sender starts first: the receiver is not up yet, so requests fail and are retried.
    let cfg = format!(
        r#"input {{ generator {{ count => 300 message => "m" }} }}
           output {{
             if [sequence] < 100 {{ http {{ url => "http://127.0.0.1:{port}/one" http_method => "post" }} }}
             else if [sequence] < 200 {{ http {{ url => "http://127.0.0.1:{port}/batch" http_method => "put" format => "json_batch" }} }}
             else {{ http {{ url => "http://127.0.0.1:{port}/form" http_method => "post" format => "form" mapping => {{ "seq" => "%{{sequence}}" "msg" => "%{{message}}" }} }} }}
           }}"#
    );
    let sender = Rstash::start(&cfg, &send_dir);
    wait_for(
        "the sender to fail and retry",
        Duration::from_secs(20),
        || sender.logs().contains("retrying in"),
    );
    let rs = receiver(
        &recv_dir,
        port,
        r#"additional_codecs => { "application/json" => "json" "application/x-www-form-urlencoded" => "plain" }"#,
    );
    let out = recv_dir.join("out.json");
    wait_for("all 300 events", Duration::from_secs(60), || {
        lines(&out).len() >= 300
    });
    let got = lines(&out);
    let mut seqs: Vec<i64> = got.iter().filter_map(|e| e["sequence"].as_i64()).collect();
    for e in got
        .iter()
        .filter(|e| e["headers"]["request_path"] == "/form")
    {
        let m = e["message"].as_str().unwrap();
        assert!(m.starts_with("seq=") && m.ends_with("&msg=m"), "{m}");
        seqs.push(m[4..m.find('&').unwrap()].parse().unwrap());
    }
    seqs.sort();
    assert_eq!(
        seqs,
        (0..300).collect::<Vec<_>>(),
        "nothing lost while the receiver was down"
    );
    assert!(got.iter().any(|e| e["headers"]["request_method"] == "PUT"));
    drop(sender);
    assert!(rs.stop().success());
}
