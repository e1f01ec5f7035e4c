//! The elasticsearch output against rstore over real HTTP: counts equal, and nothing lost when
//! rstore is killed (-9) and restarted in the middle of the stream.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn output_to_rstore_counts_match() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut store = start_rstore(&dir.path().join("data"), port);
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["-b", "1000", "-e", &format!("input {{ generator {{ count => 100000 }} }} filter {{ mutate {{ add_field => {{ 'server' => 'server%{{[sequence]}}' }} }} }} output {{ elasticsearch {{ hosts => ['127.0.0.1:{port}'] index => 'gen-%{{+YYYY.MM.dd}}' }} }}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("100000 documents", Duration::from_secs(20), || {
        http_get(port, "/gen-*/_count")["count"] == 100_000
    });
    let r = http_get(port, "/gen-*/_search?q=sequence:99999");
    assert_eq!(r["hits"]["hits"][0]["_source"]["message"], "Hello world!");
    let _ = store.kill();
    let _ = store.wait();
}

#[test]
fn nothing_lost_when_the_store_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut store = start_rstore(&data, port);
    let n = 20_000;
    let mut rstash = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-b",
            "500",
            "-e",
            &format!(
                "input {{ generator {{ count => {n} }} }} filter {{ sleep {{ time => '0.05' every => 500 }} }} \
                 output {{ elasticsearch {{ hosts => ['127.0.0.1:{port}'] index => 'chaos' document_id => '%{{sequence}}' retry_initial_interval => 1 retry_max_interval => 2 }} }}"
            ),
        ])
        .stderr(std::fs::File::create(dir.path().join("rstash.stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_for("some documents", Duration::from_secs(30), || {
        http_get(port, "/chaos/_count")["count"]
            .as_u64()
            .unwrap_or(0)
            > 2000
    });
    store.kill().unwrap();
    store.wait().unwrap();
    wait_for(
        "rstash to meet the dead store",
        Duration::from_secs(20),
        || file_has(&dir.path().join("rstash.stderr"), "will retry"),
    );
    let mut store = start_rstore(&data, port);
    assert!(rstash.wait().unwrap().success());
    let _ = TcpStream::connect(("127.0.0.1", port)).map(|mut s| {
        s.write_all(
            b"POST /_refresh HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
    });
    wait_for("all documents", Duration::from_secs(20), || {
        http_get(port, "/chaos/_count")["count"] == n
    });
    let _ = store.kill();
    let _ = store.wait();
}

#[test]
fn a_dead_host_is_skipped_and_the_live_one_takes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let dead = free_port();
    let mut store = start_rstore(&dir.path().join("data"), port);
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-e",
            &format!(
                "input {{ generator {{ count => 3000 }} }} output {{ elasticsearch {{ hosts => ['127.0.0.1:{dead}', 'http://127.0.0.1:{port}'] index => 'two' retry_initial_interval => 1 }} }}"
            ),
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    wait_for("3000 documents", Duration::from_secs(20), || {
        http_get(port, "/two/_count")["count"] == 3000
    });
    let _ = store.kill();
    let _ = store.wait();
}

#[test]
fn opensearch_output_takes_the_opensearch_plugins_options() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut store = start_rstore(&dir.path().join("data"), port);
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["-e", &format!("input {{ generator {{ count => 500 }} }} output {{ opensearch {{ hosts => ['http://127.0.0.1:{port}'] index => 'os-%{{+YYYY.MM.dd}}' auth_type => {{ type => 'basic' user => 'admin' password => 'admin' }} ssl_certificate_verification => false manage_template => false }} }}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for("500 documents", Duration::from_secs(20), || {
        http_get(port, "/os-*/_count")["count"] == 500
    });
    let _ = store.kill();
    let _ = store.wait();
    for (conf, want) in [
        (
            "auth_type => { type => 'aws_iam' region => 'us-east-1' }",
            "AWS IAM request signing is not built in",
        ),
        ("api_key => 'x'", "api_key"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
            .args([
                "-t",
                "-e",
                &format!("input {{ stdin {{}} }} output {{ opensearch {{ {conf} }} }}"),
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(want), "{conf}: {err}");
    }
}

/// (bulks in flight now, most in flight at once, items answered)
type Seen = std::sync::Arc<std::sync::Mutex<(usize, usize, usize)>>;

/// A bulk endpoint that records how many `_bulk` requests it holds at once; each waits (up to
/// 2 s) for a second one to arrive before being answered, so parallel senders show as 2.
fn bulk_recorder() -> (u16, Seen) {
    use std::sync::{Arc, Condvar, Mutex};
    let seen: Seen = Arc::new(Mutex::new((0usize, 0usize, 0usize)));
    let cv = Arc::new(Condvar::new());
    let s = seen.clone();
    let port = http_stand_in(move |head, body| {
        if !head.starts_with("POST /_bulk") {
            let root = r#"{"version":{"number":"8.13.0"},"tagline":"You Know, for Search"}"#;
            return ("200 OK", root.to_string());
        }
        let items = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            / 2;
        let mut g = s.lock().unwrap();
        g.0 += 1;
        g.1 = g.1.max(g.0);
        cv.notify_all();
        let (mut g, _) = cv
            .wait_timeout_while(g, Duration::from_secs(2), |g| g.0 < 2)
            .unwrap();
        g.0 -= 1;
        g.2 += items;
        let one = r#"{"index":{"_index":"x","_id":"1","status":201,"result":"created"}}"#;
        let text = format!(
            r#"{{"took":1,"errors":false,"items":[{}]}}"#,
            vec![one; items].join(",")
        );
        ("200 OK", text)
    });
    (port, seen)
}

/// Logstash's elasticsearch output is `concurrency :shared`: each pipeline worker sends its own
/// bulk, so a store answering one bulk slowly does not hold the other workers back.
#[test]
fn pipeline_workers_send_their_bulks_in_parallel() {
    let (port, seen) = bulk_recorder();
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-w",
            "2",
            "-b",
            "100",
            "-e",
            &format!(
                "input {{ generator {{ count => 2000 }} }} output {{ elasticsearch {{ hosts => ['127.0.0.2:{port}'] index => 'par' }} }}"
            ),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let g = seen.lock().unwrap();
    assert_eq!(g.2, 2000, "every event answered once");
    assert_eq!(g.1, 2, "two bulks in flight at once (one per worker)");
}

/// Each item of a bulk answer decides its event's fate, as in Logstash: 2xx indexed, 409
/// dropped, 429/5xx sent again alone, 400 refused for good and logged with the store's reason.
/// The action lines on the wire are `{"index":{"_index":...}}` then the event.
#[test]
fn each_bulk_item_status_decides_what_is_sent_again() {
    use std::sync::{Arc, Mutex};
    let bulks: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let b = bulks.clone();
    let port = http_stand_in(move |head, body| {
        if !head.starts_with("POST /_bulk") {
            return ("200 OK", r#"{"version":{"number":"8.13.0"}}"#.to_string());
        }
        let lines: Vec<String> = String::from_utf8_lossy(body)
            .lines()
            .map(str::to_string)
            .collect();
        let mut g = b.lock().unwrap();
        g.push(lines.clone());
        let items: Vec<String> = if g.len() == 1 {
            // sequence 0..4: created, conflict, too many requests, mapping error
            vec![
                r#"{"index":{"_index":"st","_id":"a","status":201,"result":"created"}}"#.into(),
                r#"{"index":{"_index":"st","status":409,"error":{"type":"version_conflict_engine_exception"}}}"#.into(),
                r#"{"index":{"_index":"st","status":429,"error":{"type":"es_rejected_execution_exception"}}}"#.into(),
                r#"{"index":{"_index":"st","status":400,"error":{"type":"mapper_parsing_exception","reason":"failed to parse field [n]"}}}"#.into(),
            ]
        } else {
            vec![r#"{"index":{"_index":"st","status":201}}"#.to_string(); lines.len() / 2]
        };
        let text = format!(
            r#"{{"took":1,"errors":true,"items":[{}]}}"#,
            items.join(",")
        );
        ("200 OK", text)
    });
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-w",
            "1",
            "-b",
            "4",
            "-e",
            &format!(
                "input {{ generator {{ count => 4 }} }} filter {{ mutate {{ remove_field => ['host', '@timestamp'] }} }} output {{ elasticsearch {{ hosts => ['127.0.0.2:{port}'] index => 'st' retry_initial_interval => 1 }} }}"
            ),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let g = bulks.lock().unwrap();
    assert_eq!(g.len(), 2, "one bulk, then the 429 item alone: {g:?}");
    assert_eq!(g[0].len(), 8);
    for pair in g[0].chunks(2) {
        assert_eq!(pair[0], r#"{"index":{"_index":"st"}}"#);
    }
    assert_eq!(g[1][0], r#"{"index":{"_index":"st"}}"#);
    assert_eq!(g[1][1], g[0][5], "the 429 item is sent again as it was");
    assert!(g[1][1].contains(r#""sequence":2"#), "{}", g[1][1]);
    assert!(
        log.contains("could not index event (400)") && log.contains("failed to parse field [n]"),
        "{log}"
    );
}
