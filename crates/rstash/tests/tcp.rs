//! tcp output → tcp input between two rstash processes: plain, TLS with a client certificate, the
//! output waiting for a server that starts late, and the reverse roles (output as server, input as
//! client).

mod common;

use std::time::Duration;

use common::*;

fn receiver(port: u16, out: &std::path::Path, extra: &str) -> String {
    format!(
        "input {{ tcp {{ port => {port} host => '127.0.0.1' codec => json_lines {extra} }} }} output {{ file {{ path => '{}' }} }}",
        out.display()
    )
}

fn sender(port: u16, n: usize, extra: &str) -> String {
    format!("input {{ generator {{ count => {n} }} }} output {{ tcp {{ host => 'localhost' port => {port} codec => json_lines reconnect_interval => 1 {extra} }} }}")
}

#[test]
fn tcp_output_to_tcp_input_even_when_the_server_starts_late() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let send_dir = tempfile::tempdir().unwrap();
    let s = Rstash::start(&sender(port, 2000, ""), send_dir.path());
    wait_for(
        "the sender to find no server",
        Duration::from_secs(20),
        || s.logs().contains("tcp output cannot connect to"),
    );
    let r = Rstash::start(&receiver(port, &out, ""), dir.path());
    wait_for("2000 events", Duration::from_secs(30), || {
        line_count(&out) >= 2000
    });
    assert!(s.stop().success());
    assert!(r.stop().success());
    let evs = lines(&out);
    assert_eq!(evs.len(), 2000);
    assert_eq!(evs[0]["message"], "Hello world!");
    // The generator already set `host`; the input only fills what is missing (the peer's port).
    assert!(evs[0]["host"].is_string());
    assert!(evs[0]["port"].as_u64().is_some_and(|p| p > 0));
    let seqs: std::collections::HashSet<i64> = evs
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs.len(), 2000, "each event once");
}

#[test]
fn tcp_over_tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let c = certs(dir.path());
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let r = Rstash::start(
        &receiver(
            port,
            &out,
            &format!(
                "ssl_enabled => true ssl_certificate => '{}' ssl_key => '{}' ssl_certificate_authorities => ['{}']",
                c.server_cert.display(),
                c.server_key.display(),
                c.ca.display()
            ),
        ),
        dir.path(),
    );
    r.wait_port(port);
    let send_dir = tempfile::tempdir().unwrap();
    let s = Rstash::start(
        &sender(
            port,
            500,
            &format!(
                "ssl_enabled => true ssl_certificate_authorities => ['{}'] ssl_certificate => '{}' ssl_key => '{}'",
                c.ca.display(),
                c.client_cert.display(),
                c.client_key.display()
            ),
        ),
        send_dir.path(),
    );
    wait_for("500 events over TLS", Duration::from_secs(30), || {
        line_count(&out) >= 500
    });
    assert!(s.stop().success());
    assert!(r.stop().success());
    assert_eq!(line_count(&out), 500);
}

#[test]
fn tcp_output_as_server_and_input_as_client() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let send_dir = tempfile::tempdir().unwrap();
    let s = Rstash::start(
        &format!("input {{ generator {{ message => 'tick' }} }} filter {{ sleep {{ time => '0.01' }} }} output {{ tcp {{ host => '127.0.0.1' port => {port} mode => server codec => json_lines }} }}"),
        send_dir.path(),
    );
    s.wait_port(port);
    let r = Rstash::start(
        &format!("input {{ tcp {{ host => '127.0.0.1' port => {port} mode => client codec => json_lines }} }} output {{ file {{ path => '{}' }} }}", out.display()),
        dir.path(),
    );
    wait_for(
        "events from the server-mode output",
        Duration::from_secs(30),
        || line_count(&out) >= 20,
    );
    assert!(r.stop().success());
    assert!(s.stop().success());
    assert!(lines(&out).iter().all(|e| e["message"] == "tick"));
}
