//! Filters that look things up in another server, each against the real thing on 127.0.0.1:
//! http (a Python http.server), memcached (Debian's memcached), dns (dnsmasq, under
//! `unshare -n`), elasticsearch (rstore), jdbc_streaming (SQLite). Each also meets a server that
//! is not there: the event is tagged and the pipeline goes on.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

mod common;

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

/// A memcached server on a free port.
fn memcached() -> (Child, u16) {
    let port = common::free_port();
    let mut args = vec![
        "-l".to_string(),
        "127.0.0.1".into(),
        "-p".into(),
        port.to_string(),
        "-U".into(),
        "0".into(),
    ];
    if common::is_root() {
        args.extend(["-u".into(), "root".into()]);
    }
    let child = Command::new("memcached")
        .args(&args)
        .spawn()
        .expect("memcached (scripts/install-peers.sh)");
    common::wait_for("memcached", std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (child, port)
}

fn dalli(servers: &str, args: &[&str]) -> String {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/lookups/dalli.rb");
    let out = Command::new("ruby")
        .arg(script)
        .arg(servers)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn memcached_filter_shares_a_two_server_cache_with_ruby_dalli() {
    let (mut a, pa) = memcached();
    let (mut b, pb) = memcached();
    let servers = format!("127.0.0.1:{pa},127.0.0.1:{pb}");
    dalli(&servers, &["set"]);
    let events: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"n":{i},"ip":"10.0.0.{i}","note":"n{i}"}}"#))
        .chain([
            r#"{"n":20,"ip":"plain","note":"p"}"#.to_string(),
            r#"{"n":21,"ip":"none","note":"x"}"#.to_string(),
        ])
        .collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    let out = through(
        &format!(
            r#"memcached {{ hosts => ["127.0.0.1:{pa}", "127.0.0.1:{pb}"] namespace => "ns"
                 get => {{ "ip:%{{ip}}" => "[threat]" }} set => {{ "[note]" => "note:%{{ip}}" "[n]" => "n:%{{ip}}" }} }}"#
        ),
        &refs,
    );
    for (i, e) in out.iter().take(20).enumerate() {
        let t = &e["threat"];
        assert_eq!(t["threat"], "botnet", "{e}");
        assert_eq!(t["score"], i);
        assert_eq!(t["ratio"], i as f64 / 4.0);
        assert_eq!(t["seen"], serde_json::json!([true, null]));
    }
    assert_eq!(out[20]["threat"], "just text");
    assert!(out[21].get("threat").is_none());
    assert!(tags(&out[21]).is_empty());
    // What rstash stored, read by Dalli across both servers: strings as strings, numbers as numbers.
    let keys: Vec<String> = (0..20)
        .map(|i| format!("note:10.0.0.{i}"))
        .chain((0..20).map(|i| format!("n:10.0.0.{i}")))
        .collect();
    let mut args = vec!["get"];
    args.extend(keys.iter().map(String::as_str));
    let read = dalli(&servers, &args);
    let read: Vec<Value> = read
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    for i in 0..20 {
        assert_eq!(read[i][1], format!("n{i}"), "{}", read[i]);
        assert_eq!(read[20 + i][1], i, "{}", read[20 + i]);
    }
    // Both servers hold part of the keys (the ring spreads them as Dalli does).
    for port in [pa, pb] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"stats\r\n").unwrap();
        let mut r = BufReader::new(s);
        let mut items = 0;
        for line in r.by_ref().lines() {
            let line = line.unwrap();
            if let Some(n) = line.strip_prefix("STAT curr_items ") {
                items = n.trim().parse().unwrap();
            }
            if line == "END" {
                break;
            }
        }
        assert!(items > 5, "port {port} holds {items} items");
    }
    let _ = (a.kill(), b.kill(), a.wait(), b.wait());

    // Nobody listening: every event is tagged, quickly, and the pipeline goes on.
    let started = std::time::Instant::now();
    let many: Vec<String> = (0..200)
        .map(|i| format!(r#"{{"n":{i},"ip":"x"}}"#))
        .collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let out = through(
        r#"memcached { hosts => ["127.0.0.1:1"] get => { "ip:%{ip}" => "[threat]" } }"#,
        &refs,
    );
    assert!(out.iter().all(|e| tags(e) == ["_memcached_failure"]));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn dns_filter_resolves_through_dnsmasq_and_tags_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("dns-hosts"),
        "10.1.2.3 web1.example.test\n10.1.2.4 db1.example.test\n",
    )
    .unwrap();
    std::fs::write(
        d.join("user-hosts"),
        "192.0.2.7 local.only # from hostsfile\n",
    )
    .unwrap();
    let mut events: Vec<String> = vec![
        r#"{"n":1,"host":"web1.example.test","ip":"10.1.2.4"}"#.into(),
        r#"{"n":2,"host":"web1","ip":"10.1.2.3"}"#.into(),
        r#"{"n":3,"host":"nosuch.example.test","ip":"10.1.2.3"}"#.into(),
        r#"{"n":4,"host":["db1.example.test"]}"#.into(),
        r#"{"n":5,"host":"local.only"}"#.into(),
    ];
    events.extend((10..16).map(|n| format!(r#"{{"n":{n},"host":"slow{n}.example.test"}}"#)));
    std::fs::write(d.join("in.json"), events.join("\n") + "\n").unwrap();
    let config = format!(
        r#"input {{ stdin {{ codec => json_lines }} }}
filter {{
  if [n] < 4 {{ dns {{ resolve => ["host"] reverse => ["ip"] action => "replace" hit_cache_size => 100 failed_cache_size => 10
                      nameserver => {{ address => ["127.0.0.1"] search => ["example.test"] }} }} }}
  else if [n] < 10 {{ dns {{ resolve => ["host"] hostsfile => ["{hosts}"] nameserver => "127.0.0.1" add_tag => ["resolved"] }} }}
  else {{ dns {{ resolve => ["host"] nameserver => ["127.0.0.3"] timeout => 0.2 max_retries => 1 }} }}
}}
output {{ stdout {{ codec => json_lines }} }}"#,
        hosts = d.join("user-hosts").display()
    );
    std::fs::write(d.join("pipeline.conf"), config).unwrap();
    let root_flag = if common::is_root() { "--user=root" } else { "" };
    let script = format!(
        r#"set -u
ip link set lo up
cd {d}
dnsmasq --keep-in-foreground --conf-file=/dev/null --listen-address=127.0.0.1 --bind-interfaces --port=53 \
  --no-resolv --no-hosts --addn-hosts={d}/dns-hosts --log-facility=- {root_flag} 2>dnsmasq.log &
# A name server that never answers, for the timeouts.
python3 -c 'import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.3", 53)); time.sleep(120)' &
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/53) 2>/dev/null && break; sleep 0.1; done
start=$SECONDS
{rstash} -f pipeline.conf <in.json >out.json 2>rstash.log; echo "rstash: $? after $((SECONDS - start))s"
kill %1 %2
"#,
        d = d.display(),
        rstash = env!("CARGO_BIN_EXE_rstash"),
    );
    let (said, _) = common::run_in_netns(d, &script);
    let log = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    assert!(
        said.contains("rstash: 0"),
        "{said}\n{}\n{}",
        log("rstash.log"),
        log("dnsmasq.log")
    );
    let mut out: Vec<Value> = log("out.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    out.sort_by_key(|e| e["n"].as_i64());
    assert_eq!(
        out.len(),
        events.len(),
        "{said}\n{}\n{}",
        log("rstash.log"),
        log("dnsmasq.log")
    );
    assert_eq!(out[0]["host"], "10.1.2.3");
    assert_eq!(out[0]["ip"], "db1.example.test");
    assert_eq!(out[1]["host"], "10.1.2.3", "search domain");
    assert_eq!(out[1]["ip"], "web1.example.test");
    // Not found: left as it was, no tag, and the reverse lookup after it not done.
    assert_eq!(out[2]["host"], "nosuch.example.test");
    assert_eq!(out[2]["ip"], "10.1.2.3");
    assert!(tags(&out[2]).is_empty());
    assert_eq!(
        out[3]["host"],
        serde_json::json!(["db1.example.test", "10.1.2.4"])
    );
    assert_eq!(
        out[4]["host"],
        serde_json::json!(["local.only", "192.0.2.7"])
    );
    assert_eq!(tags(&out[4]), ["resolved"]);
    for e in &out[5..] {
        assert_eq!(tags(e), ["_dnstimeout"], "{e}");
        assert!(e["host"].is_string());
    }
    println!("{said}");
}

#[test]
fn elasticsearch_filter_copies_fields_of_hits_from_rstore() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut store = common::start_rstore(&dir.path().join("data"), port);
    let bulk = [
        r#"{"index":{"_index":"users","_id":"u1"}}"#,
        r#"{"user":"ann","dept":"ops","geo":{"city":"Oslo"},"@timestamp":"2026-01-01T00:00:00Z"}"#,
        r#"{"index":{"_index":"users","_id":"u2"}}"#,
        r#"{"user":"bob","dept":"dev","@timestamp":"2026-01-02T00:00:00Z"}"#,
        r#"{"index":{"_index":"logins","_id":"l1"}}"#,
        r#"{"user":"ann","ip":"10.0.0.1","@timestamp":"2026-02-01T00:00:00Z"}"#,
        r#"{"index":{"_index":"logins","_id":"l2"}}"#,
        r#"{"user":"ann","ip":"10.0.0.2","@timestamp":"2026-03-01T00:00:00Z"}"#,
    ]
    .join("\n")
        + "\n";
    let resp = ureq::post(&format!("http://127.0.0.1:{port}/_bulk?refresh=true"))
        .header("content-type", "application/x-ndjson")
        .send(bulk)
        .unwrap();
    assert_eq!(resp.status(), 200);
    let template = dir.path().join("agg.json");
    std::fs::write(
        &template,
        r#"{"size": 0, "query": {"term": {"user": "%{user}"}}, "aggs": {"ips": {"terms": {"field": "ip"}}}}"#,
    )
    .unwrap();
    let hosts = format!(r#"hosts => ["127.0.0.1:{port}"]"#);
    let out = through(
        &format!(
            r#"if [n] < 3 {{ elasticsearch {{ {hosts} index => "users" query => "user:%{{user}}" fields => {{ "dept" => "department" "[geo][city]" => "city" }} docinfo_fields => {{ "_id" => "doc_id" }} add_tag => ["found"] }} }}
               else if [n] == 3 {{ elasticsearch {{ {hosts} index => "logins" query => "user:%{{user}}" sort => "@timestamp:asc" result_size => 5 fields => ["ip", "ips"] }} }}
               else if [n] == 4 {{ elasticsearch {{ {hosts} index => "logins" query_template => "{tpl}" aggregation_fields => {{ "ips" => "[agg]" }} }} }}
               else {{ elasticsearch {{ hosts => ["127.0.0.1:1"] query => "user:x" }} }}"#,
            tpl = template.display()
        ),
        &[
            r#"{"n":1,"user":"ann"}"#,
            r#"{"n":2,"user":"zed"}"#,
            r#"{"n":3,"user":"ann"}"#,
            r#"{"n":4,"user":"ann"}"#,
            r#"{"n":5,"user":"ann"}"#,
        ],
    );
    assert_eq!(out[0]["department"], "ops");
    assert_eq!(out[0]["city"], "Oslo");
    assert_eq!(out[0]["doc_id"], "u1");
    assert_eq!(tags(&out[0]), ["found"]);
    // No hit: nothing copied, no tag.
    assert!(out[1].get("department").is_none() && tags(&out[1]).is_empty());
    // Several hits: arrays, in the requested order.
    assert_eq!(out[2]["ips"], serde_json::json!(["10.0.0.1", "10.0.0.2"]));
    let buckets = out[3]["agg"]["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 2, "{}", out[3]);
    // The store is not there: tagged, and the pipeline went on.
    assert_eq!(tags(&out[4]), ["_elasticsearch_lookup_failure"]);
    let _ = store.kill();
    let _ = store.wait();
}

#[test]
fn jdbc_streaming_enriches_from_sqlite_with_defaults_and_failures() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ref.db");
    let con = rusqlite::Connection::open(&db).unwrap();
    con.execute_batch(
        "CREATE TABLE country (code TEXT, name TEXT, population INTEGER, area REAL);
         INSERT INTO country VALUES ('NO', 'Norway', 5500000, 385207.5), ('SE', 'Sweden', 10500000, 450295.0),
                                    ('SE', 'Sverige', NULL, NULL);",
    )
    .unwrap();
    let url = format!("jdbc:sqlite:{}", db.display());
    let out = through(
        &format!(
            r#"if [n] < 10 {{ jdbc_streaming {{ jdbc_driver_class => "org.sqlite.JDBC" jdbc_connection_string => "{url}"
                   statement => "SELECT name, population, area FROM country WHERE code = :code ORDER BY name"
                   parameters => {{ "code" => "[geo][cc]" }} target => "country" default_hash => {{ "name" => "unknown" }} }} }}
               else {{ jdbc_streaming {{ jdbc_connection_string => "{url}" statement => "SELECT * FROM nosuch WHERE x = :x"
                   parameters => {{ "x" => "n" }} target => "[lookup]" }} }}"#
        ),
        &[
            r#"{"n":1,"geo":{"cc":"NO"}}"#,
            r#"{"n":2,"geo":{"cc":"SE"}}"#,
            r#"{"n":3,"geo":{"cc":"XX"}}"#,
            r#"{"n":4,"geo":{"cc":"x' OR '1'='1"}}"#,
            r#"{"n":10}"#,
        ],
    );
    assert_eq!(
        out[0]["country"],
        serde_json::json!([{"name": "Norway", "population": 5500000, "area": 385207.5}])
    );
    assert_eq!(out[1]["country"].as_array().unwrap().len(), 2);
    assert_eq!(out[1]["country"][0]["population"], Value::Null);
    assert_eq!(out[1]["country"][1]["name"], "Sweden");
    assert_eq!(out[2]["country"], serde_json::json!([{"name": "unknown"}]));
    assert_eq!(tags(&out[2]), ["_jdbcstreamingdefaultsused"]);
    // Parameters are bound as literals: a quote in the data cannot change the statement.
    assert_eq!(tags(&out[3]), ["_jdbcstreamingdefaultsused"]);
    assert_eq!(out[4]["lookup"], serde_json::json!([{}]));
    assert_eq!(
        tags(&out[4]),
        ["_jdbcstreamingfailure", "_jdbcstreamingdefaultsused"]
    );
}

/// A search endpoint that answers 503 to its first `fails` requests, then one hit: what a
/// cluster does while a node restarts.
fn flaky_search(fails: usize) -> u16 {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let served = AtomicUsize::new(0);
    common::http_stand_in(move |_, _| {
        if served.fetch_add(1, Ordering::SeqCst) < fails {
            let busy = r#"{"error":"restarting","status":503}"#;
            return ("503 Service Unavailable", busy.to_string());
        }
        let hit = r#"{"took":1,"timed_out":false,"_shards":{"total":1,"successful":1,"skipped":0,"failed":0},"hits":{"total":{"value":1,"relation":"eq"},"hits":[{"_index":"users","_id":"1","_source":{"department":"ops"}}]}}"#;
        ("200 OK", hit.to_string())
    })
}

/// `retry_on_failure`: a search answered 503 (one of `retry_on_status`'s defaults) is tried again
/// that many times before the event is tagged; without it the first 503 tags the event.
#[test]
fn elasticsearch_filter_retries_a_503_as_retry_on_failure_says() {
    let port = flaky_search(2);
    let out = through(
        &format!(
            r#"elasticsearch {{ hosts => ["127.0.0.2:{port}"] query => "user:x" fields => {{ "department" => "dept" }} retry_on_failure => 2 }}"#
        ),
        &[r#"{"n":1}"#],
    );
    assert_eq!(out[0]["dept"], "ops", "{:?}", out[0]);
    assert!(tags(&out[0]).is_empty());

    let port = flaky_search(1);
    let out = through(
        &format!(
            r#"elasticsearch {{ hosts => ["127.0.0.2:{port}"] query => "user:x" fields => {{ "department" => "dept" }} }}"#
        ),
        &[r#"{"n":1}"#],
    );
    assert_eq!(tags(&out[0]), ["_elasticsearch_lookup_failure"]);
    assert!(out[0].get("dept").is_none());

    // A status left out of retry_on_status is not retried.
    let port = flaky_search(1);
    let out = through(
        &format!(
            r#"elasticsearch {{ hosts => ["127.0.0.2:{port}"] query => "user:x" fields => {{ "department" => "dept" }} retry_on_failure => 3 retry_on_status => [500] }}"#
        ),
        &[r#"{"n":1}"#],
    );
    assert_eq!(tags(&out[0]), ["_elasticsearch_lookup_failure"]);
}
