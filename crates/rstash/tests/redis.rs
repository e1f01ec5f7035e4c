//! The redis input and output against Debian's redis-server on 127.0.0.1, driven and checked
//! with redis-cli: lists and channels both ways, nothing lost when rstash is killed while
//! reading a list, and reconnection when the server restarts.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, lines, wait_for, Rstash};

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(port: u16) -> Server {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package; scripts/install-peers.sh installs it)");
        let s = Server { child, port };
        wait_for("redis-server", Duration::from_secs(20), || {
            s.cli(&["PING"]) == "PONG"
        });
        s
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// RPUSHes `{"n": i}` for i in range, a thousand per call.
    fn push_numbers(&self, key: &str, range: std::ops::Range<usize>) {
        let items: Vec<String> = range.map(|i| format!(r#"{{"n":{i}}}"#)).collect();
        for chunk in items.chunks(1000) {
            let mut args = vec!["RPUSH", key];
            args.extend(chunk.iter().map(String::as_str));
            self.cli(&args);
        }
    }

    fn stop(&mut self) {
        let _ = self.cli(&["SHUTDOWN", "NOSAVE"]);
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tally(out: &Path) -> BTreeMap<i64, usize> {
    let mut t = BTreeMap::new();
    for e in lines(out) {
        if let Some(n) = e["n"].as_i64() {
            *t.entry(n).or_insert(0) += 1;
        }
    }
    t
}

fn expect_all(out: &Path, sent: i64) -> usize {
    let t = tally(out);
    let lost = (0..sent).filter(|i| !t.contains_key(i)).count();
    let dups: usize = t.values().map(|c| c - 1).sum();
    println!(
        "sent {sent}, received {}, duplicates {dups}, lost {lost}",
        t.len()
    );
    assert_eq!(lost, 0, "events lost");
    dups
}

fn reader(dir: &Path, port: u16, opts: &str) -> Rstash {
    let cfg = format!(
        r#"input {{ redis {{ port => {port} {opts} }} }} output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        dir.display()
    );
    Rstash::start(&cfg, dir)
}

#[test]
fn list_output_then_list_input_moves_every_event_once() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Server::start(free_port());
    let p = redis.port;
    let cfg = format!(
        r#"input {{ generator {{ count => 5000 }} }} filter {{ mutate {{ copy => {{ "sequence" => "n" }} }} }}
           output {{ redis {{ port => {p} data_type => "list" key => "logs-%{{+YYYY}}" }} }}"#
    );
    let mut writer = Rstash::start(&cfg, dir.path());
    wait_for("the writer to finish", Duration::from_secs(60), || {
        matches!(writer.child.try_wait(), Ok(Some(_)))
    });
    let year = Command::new("date").args(["-u", "+%Y"]).output().unwrap();
    let key = format!("logs-{}", String::from_utf8_lossy(&year.stdout).trim());
    assert_eq!(redis.cli(&["LLEN", &key]), "5000");
    redis.cli(&["RPUSH", &key, "not json"]);
    let rs = reader(
        dir.path(),
        p,
        &format!(r#"data_type => "list" key => "{key}" batch_count => 200"#),
    );
    let out = dir.path().join("out.json");
    wait_for("5001 events", Duration::from_secs(60), || {
        lines(&out).len() >= 5001
    });
    assert!(rs.stop().success());
    assert_eq!(expect_all(&out, 5000), 0);
    assert!(lines(&out)
        .iter()
        .any(|e| e["tags"].to_string().contains("_jsonparsefailure")));
    assert_eq!(redis.cli(&["LLEN", &key]), "0");
    assert_eq!(
        redis.cli(&["KEYS", "*inflight*"]),
        "",
        "nothing left in flight after a clean stop"
    );
}

#[test]
fn channels_and_pattern_channels() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Server::start(free_port());
    let p = redis.port;
    let rs = reader(
        dir.path(),
        p,
        r#"data_type => "pattern_channel" key => "app.*""#,
    );
    wait_for("the subscription", Duration::from_secs(20), || {
        redis.cli(&["PUBSUB", "NUMPAT"]) == "1"
    });
    let cfg = format!(
        r#"input {{ generator {{ count => 100 }} }} filter {{ mutate {{ copy => {{ "sequence" => "n" }} }} }}
           output {{ redis {{ host => ["127.0.0.1:{p}"] data_type => "channel" key => "app.web" }} }}"#
    );
    let wdir = dir.path().join("writer");
    std::fs::create_dir(&wdir).unwrap();
    let _writer = Rstash::start(&cfg, &wdir);
    let out = dir.path().join("out.json");
    wait_for("100 published events", Duration::from_secs(30), || {
        tally(&out).len() >= 100
    });
    expect_all(&out, 100);
    assert!(rs.stop().success());
}

#[test]
fn kill_9_while_reading_a_list_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("logstash.yml"),
        format!(
            "queue.type: persisted\npath.data: {}/data\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let redis = Server::start(free_port());
    redis.push_numbers("q", 0..50_000);
    let cfg = format!(
        r#"input {{ redis {{ port => {} data_type => "list" key => "q" batch_count => 500 }} }}
           output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        redis.port,
        dir.path().display()
    );
    let settings = dir.path().to_string_lossy().to_string();
    let mut rs = Rstash::start_with(&["--path.settings", &settings], &cfg, dir.path());
    let out = dir.path().join("out.json");
    wait_for("some events", Duration::from_secs(30), || {
        tally(&out).len() > 5_000
    });
    rs.child.kill().unwrap();
    rs.child.wait().unwrap();
    let left = redis.cli(&["LLEN", "q"]);
    println!(
        "killed with {} events out and {left} still in the list",
        tally(&out).len()
    );
    let rs = Rstash::start_with(&["--path.settings", &settings], &cfg, dir.path());
    wait_for("all events", Duration::from_secs(60), || {
        tally(&out).len() >= 50_000
    });
    std::thread::sleep(Duration::from_millis(500));
    assert!(rs.stop().success());
    expect_all(&out, 50_000);
}

#[test]
fn input_and_output_reconnect_after_the_server_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = Server::start(port);
    let rs = reader(dir.path(), port, r#"data_type => "list" key => "q""#);
    redis.push_numbers("q", 0..100);
    let out = dir.path().join("out.json");
    wait_for("the first 100", Duration::from_secs(30), || {
        tally(&out).len() >= 100
    });
    redis.stop();
    // A writer while the server is down: it retries until it can write.
    let wdir = dir.path().join("writer");
    std::fs::create_dir(&wdir).unwrap();
    let writer_cfg = format!(
        r#"input {{ generator {{ count => 100 }} }} filter {{ mutate {{ copy => {{ "sequence" => "n" }} }} }}
           output {{ redis {{ port => {port} data_type => "list" key => "q" reconnect_interval => 1 }} }}"#
    );
    let mut writer = Rstash::start(&writer_cfg, &wdir);
    wait_for(
        "the writer to fail and retry",
        Duration::from_secs(20),
        || writer.logs().contains("redis output: writing to"),
    );
    let _redis = Server::start(port);
    wait_for("the writer to finish", Duration::from_secs(60), || {
        matches!(writer.child.try_wait(), Ok(Some(_)))
    });
    wait_for("200 events", Duration::from_secs(30), || {
        lines(&out).len() >= 200
    });
    assert!(rs.stop().success());
    assert!(rs_logs_mention_reconnect(&dir.path().join("rstash.stderr")));
    let t = tally(&out);
    assert_eq!(t.len(), 100);
    assert!(
        t.values().all(|&c| c == 2),
        "each number once from redis-cli and once from the writer: {t:?}"
    );
}

fn rs_logs_mention_reconnect(p: &Path) -> bool {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .contains("reconnecting")
}
