//! Filters that look things up in another server, each against the real thing on 127.0.0.1:
//! http (a Python http.server), memcached (Debian's memcached), dns (dnsmasq, under
//! `unshare -n`), elasticsearch (rstore), jdbc_streaming (SQLite). Each also meets a server that
//! is not there: the event is tagged and the pipeline goes on.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// Events (JSON lines with an `n`) through `filter`; what comes out, ordered by `n`.
fn through(filter: &str, events: &[&str]) -> Vec<Value> {
    let config = format!(
        "input {{ stdin {{ codec => json_lines }} }} filter {{ {filter} }} output {{ stdout {{ codec => json_lines }} }}"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["-e", &config])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for e in events {
        writeln!(stdin, "{e}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    v.sort_by_key(|e| e["n"].as_i64());
    assert_eq!(
        v.len(),
        events.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

fn tags(e: &Value) -> Vec<String> {
    e["tags"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|t| t.as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// A server started by a script that prints its port on its first line.
struct Server(Child, u16);

impl Server {
    fn python(script: &str) -> Server {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/lookups")
            .join(script);
        let mut child = Command::new("python3")
            .arg(path)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().unwrap();
        Server(child, port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn http_filter_calls_a_server_and_stores_the_answer() {
    let s = Server::python("echo_server.py");
    let p = s.1;
    let out = through(
        &format!(
            r#"if [n] == 1 {{ http {{ url => "http://127.0.0.1:{p}/json" query => {{ "id" => "%{{id}}" }} headers => {{ "X-User" => "%{{user}}" }} user => "u" password => "p" }} }}
               else if [n] == 2 {{ http {{ url => "http://127.0.0.1:{p}/json" verb => "POST" body_format => "json" body => {{ "who" => "%{{user}}" "ids" => ["%{{id}}", 7] }} target_body => "[answer]" target_headers => "[@metadata][h]" add_field => {{ "served" => "%{{[@metadata][h][x-served-by]}}" }} }} }}
               else if [n] == 3 {{ http {{ url => "http://127.0.0.1:{p}/text" verb => "PUT" body => "raw %{{id}}" }} }}
               else if [n] == 4 {{ http {{ url => "http://127.0.0.1:{p}/status/503" add_tag => ["fetched"] }} }}
               else if [n] == 5 {{ http {{ url => "http://127.0.0.1:{p}/badjson" }} }}
               else {{ http {{ url => "http://127.0.0.1:1/json" connect_timeout => 2 automatic_retries => 0 }} }}"#
        ),
        &[
            r#"{"n":1,"id":"a b&c","user":"ann"}"#,
            r#"{"n":2,"id":"x","user":"bob"}"#,
            r#"{"n":3,"id":"z"}"#,
            r#"{"n":4}"#,
            r#"{"n":5}"#,
            r#"{"n":6}"#,
        ],
    );
    let b = &out[0]["body"];
    assert_eq!(b["method"], "GET");
    assert_eq!(b["query"]["id"], "a b&c");
    assert_eq!(b["x_user"], "ann");
    assert_eq!(b["content_type"], "text/plain");
    assert_eq!(b["authorization"], "Basic dTpw");
    assert_eq!(out[0]["headers"]["x-served-by"], "echo");

    let a = &out[1]["answer"];
    assert_eq!(a["method"], "POST");
    assert_eq!(a["content_type"], "application/json");
    let sent: Value = serde_json::from_str(a["body"].as_str().unwrap()).unwrap();
    assert_eq!(sent, serde_json::json!({"who": "bob", "ids": ["x", 7]}));
    assert_eq!(out[1]["served"], "echo");
    assert!(out[1].get("headers").is_none());

    assert_eq!(out[2]["body"], "plain answer");
    assert_eq!(tags(&out[3]), ["_httprequestfailure"]);
    assert!(out[3].get("body").is_none());
    assert_eq!(tags(&out[4]), ["_jsonparsefailure"]);
    // Nothing listens on port 1: tagged, and the pipeline went on.
    assert_eq!(tags(&out[5]), ["_httprequestfailure"]);
}
