//! The monitoring API as an operator uses it: counters that move as events flow through a real
//! rstash, per pipeline and per plugin, reload outcomes, Prometheus text, and its settings.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::Value;

fn send_lines(port: u16, lines: &[String]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for l in lines {
        writeln!(s, "{l}").unwrap();
    }
}

fn stats(api: u16) -> Value {
    http_get(api, "/_node/stats")
}

fn pipeline_out(api: u16, id: &str) -> u64 {
    stats(api)["pipelines"][id]["events"]["out"]
        .as_u64()
        .unwrap_or(0)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn counters_move_as_events_flow() {
    let dir = tempfile::tempdir().unwrap();
    let (port, api) = (free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" id => "lines" }} }}
filter {{
  grok {{ id => "parse" match => {{ "message" => "^%{{WORD:verb}} %{{NUMBER:n}}$" }} }}
  if "_grokparsefailure" in [tags] {{ drop {{ id => "bad" }} }}
}}
output {{ file {{ path => "{}" id => "sink" }} }}"#,
        out.display()
    );
    let r = Rstash::start_with(&["--api.http.port", &api.to_string()], &config, dir.path());
    r.wait_port(port);
    r.wait_port(api);

    let root = http_get(api, "/");
    assert_eq!(root["http_address"], format!("127.0.0.1:{api}"));
    assert_eq!(root["status"], "green");
    assert!(root["id"].as_str().is_some_and(|s| s.len() == 36), "{root}");
    let before = stats(api);
    assert_eq!(before["pipelines"]["main"]["events"]["in"], 0);

    // 900 lines that parse, 100 that do not (dropped by the conditional's filter).
    let lines: Vec<String> = (0..1000)
        .map(|i| {
            if i % 10 == 9 {
                format!("garbage line {i}")
            } else {
                format!("get {i}")
            }
        })
        .collect();
    send_lines(port, &lines);
    wait_for("900 events out", Duration::from_secs(30), || {
        line_count(&out) >= 900 && pipeline_out(api, "main") >= 900
    });
    let s = stats(api);
    let p = &s["pipelines"]["main"];
    assert_eq!(p["events"]["in"], 1000, "{p}");
    assert_eq!(p["events"]["filtered"], 900, "{p}");
    assert_eq!(p["events"]["out"], 900, "{p}");
    let plugins = &p["plugins"];
    assert_eq!(plugins["inputs"][0]["id"], "lines");
    assert_eq!(plugins["inputs"][0]["name"], "tcp");
    assert_eq!(plugins["inputs"][0]["events"]["out"], 1000);
    let filter = |id: &str| -> Value {
        plugins["filters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no filter {id} in {plugins}"))
    };
    assert_eq!(filter("parse")["name"], "grok");
    assert_eq!(filter("parse")["events"]["in"], 1000);
    assert_eq!(filter("parse")["events"]["out"], 1000);
    assert_eq!(filter("bad")["events"]["in"], 100);
    assert_eq!(filter("bad")["events"]["out"], 0);
    assert_eq!(plugins["outputs"][0]["id"], "sink");
    assert_eq!(plugins["outputs"][0]["events"]["in"], 900);
    assert_eq!(p["queue"]["type"], "memory");
    assert_eq!(p["queue"]["events_count"], 0);
    assert_eq!(s["events"]["in"], 1000, "node totals: {}", s["events"]);
    assert_eq!(s["events"]["out"], 900);
    let proc_ = &s["process"];
    assert!(proc_["mem"]["resident_in_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(proc_["open_file_descriptors"].as_u64().unwrap() > 3);
    assert!(proc_["cpu"]["total_in_millis"].as_u64().is_some());
    assert!(s.get("jvm").is_none());

    // The same numbers in Prometheus text, and per-pipeline stats on their own path.
    let text = http_get_text(api, "/metrics");
    assert!(
        text.contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert!(
        text.contains("rstash_pipeline_events_in_total{pipeline=\"main\"} 1000\n"),
        "{text}"
    );
    assert!(text.contains("rstash_pipeline_events_out_total{pipeline=\"main\"} 900\n"));
    assert!(text.contains(
        "rstash_plugin_events_out_total{pipeline=\"main\",kind=\"filter\",plugin=\"drop\",id=\"bad\"} 0\n"
    ));
    let only = http_get(api, "/_node/stats/pipelines/main");
    assert_eq!(only["pipelines"]["main"]["events"]["out"], 900);
    assert!(only.get("process").is_none());
    let missing = http_get(api, "/_node/stats/pipelines/nope");
    assert_eq!(missing["status"], 404);
    let info = http_get(api, "/_node/pipelines");
    assert_eq!(
        info["pipelines"]["main"]["workers"],
        root["pipeline"]["workers"]
    );
    assert_eq!(
        info["pipelines"]["main"]["hash"].as_str().unwrap().len(),
        64
    );

    // More events: the counters keep moving.
    send_lines(port, &lines[..500]);
    wait_for("1350 events out", Duration::from_secs(30), || {
        pipeline_out(api, "main") >= 1350
    });
    let s = stats(api);
    assert_eq!(s["pipelines"]["main"]["events"]["in"], 1500);
    assert_eq!(
        s["pipelines"]["main"]["plugins"]["outputs"][0]["events"]["out"],
        1350
    );
    assert!(r.stop().success());
}

#[test]
fn reloads_are_counted_and_totals_survive_them() {
    let dir = tempfile::tempdir().unwrap();
    let (port, api) = (free_port(), free_port());
    let out = dir.path().join("out.jsonl");
    let conf = dir.path().join("p.conf");
    let config = |tag: &str| {
        format!(
            "input {{ tcp {{ port => {port} host => \"127.0.0.1\" }} }}\nfilter {{ mutate {{ add_tag => [\"{tag}\"] }} }}\noutput {{ file {{ path => \"{}\" }} }}\n",
            out.display()
        )
    };
    std::fs::write(&conf, config("one")).unwrap();
    let stderr = dir.path().join("err");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-f",
            conf.to_str().unwrap(),
            "-r",
            "--config.reload.interval",
            "200ms",
        ])
        .args(["--api.http.port", &api.to_string()])
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let _guard = KillOnDrop(child);
    wait_for("the API", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", api)).is_ok()
            && TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    send_lines(port, &["a".to_string(), "b".to_string()]);
    wait_for("2 out", Duration::from_secs(20), || {
        pipeline_out(api, "main") == 2
    });
    let hash1 = http_get(api, "/_node/pipelines/main")["pipelines"]["main"]["hash"].clone();

    std::fs::write(&conf, config("two")).unwrap();
    wait_for("a successful reload", Duration::from_secs(20), || {
        stats(api)["pipelines"]["main"]["reloads"]["successes"] == 1
    });
    let hash2 = http_get(api, "/_node/pipelines/main")["pipelines"]["main"]["hash"].clone();
    assert_ne!(hash1, hash2);
    wait_for("the input back", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    send_lines(port, &["c".to_string()]);
    wait_for("3 out", Duration::from_secs(20), || {
        pipeline_out(api, "main") == 3
    });
    let s = stats(api);
    // Pipeline totals count across the reload; the new instance's plugins start from zero.
    assert_eq!(s["pipelines"]["main"]["events"]["in"], 3);
    assert_eq!(
        s["pipelines"]["main"]["plugins"]["outputs"][0]["events"]["in"],
        1
    );
    assert!(s["pipelines"]["main"]["reloads"]["last_success_timestamp"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    std::fs::write(&conf, "input { tcp { port => } }\n").unwrap();
    wait_for("a failed reload", Duration::from_secs(20), || {
        stats(api)["pipelines"]["main"]["reloads"]["failures"] == 1
    });
    let s = stats(api);
    let err = s["pipelines"]["main"]["reloads"]["last_error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(err.contains("p.conf:1:"), "{err}");
    assert_eq!(
        s["reloads"],
        serde_json::json!({"successes": 1, "failures": 1})
    );
}

#[test]
fn api_settings_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    // Off: nothing listens.
    let port = free_port();
    let api = free_port();
    let cfg = format!(
        "input {{ tcp {{ port => {port} host => \"127.0.0.1\" }} }} output {{ null {{}} }}"
    );
    let r = Rstash::start_with(
        &[
            "--api.enabled",
            "false",
            "--api.http.port",
            &api.to_string(),
        ],
        &cfg,
        dir.path(),
    );
    r.wait_port(port);
    assert!(TcpStream::connect(("127.0.0.1", api)).is_err());
    assert!(r.stop().success());

    // A busy first port of the range: the next one is used, and reported.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let first = busy.local_addr().unwrap().port();
    let port = free_port();
    let cfg = format!(
        "input {{ tcp {{ port => {port} host => \"127.0.0.1\" }} }} output {{ null {{}} }}"
    );
    let range = format!("{first}-{}", first.saturating_add(20));
    let r = Rstash::start_with(&["--api.http.port", &range], &cfg, dir.path());
    r.wait_port(port);
    wait_for("the API log line", Duration::from_secs(10), || {
        r.logs().contains("monitoring API on http://127.0.0.1:")
    });
    let logs = r.logs();
    let bound: u16 = logs
        .split("monitoring API on http://127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    assert!(bound > first && bound <= first + 20, "{logs}");
    assert_eq!(
        http_get(bound, "/")["http_address"],
        format!("127.0.0.1:{bound}")
    );
    assert!(r.stop().success());

    // A bad setting is a config error.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "--api.http.port",
            "96x",
            "-e",
            "input { stdin {} } output { null {} }",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api.http.port"));
}
