//! The rabbitmq input and output against Debian's RabbitMQ server (run under `unshare -n` with
//! rstash beside it), with pika, RabbitMQ's Python client, on the other side: a durable queue
//! bound to an exchange, headers and properties in `@metadata`, nothing lost when rstash is
//! killed mid-stream (deliveries are acknowledged only once in the persisted queue), and an output whose
//! messages, routing keys and properties pika reads back.

mod common;

use std::collections::BTreeSet;

use common::{log_tails, peers, run_in_netns};
use serde_json::Value;

#[test]
fn pika_to_rstash_and_rstash_to_pika_through_rabbitmq() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rabbitmq");
    let python = peers().join("venv/bin/python");
    let input = format!(
        r#"input {{ rabbitmq {{ host => "127.0.0.1" queue => "rstash-in" durable => true exchange => "logs" exchange_type => "direct" key => "app" prefetch_count => 50 metadata_enabled => "basic" }} }}
           filter {{ mutate {{ copy => {{ "[@metadata][rabbitmq_headers]" => "headers" "[@metadata][rabbitmq_properties]" => "props" }} }} }}
           output {{ file {{ path => "{out}" codec => json_lines }} }}"#,
        out = d.join("in.json").display()
    );
    let output = r#"input { generator { count => 300 } }
           output { rabbitmq { host => "127.0.0.1" exchange => "out" exchange_type => "topic" key => "ev.%{sequence}" message_properties => { "content_type" => "application/json" } } }"#;
    std::fs::write(d.join("input.conf"), input).unwrap();
    std::fs::write(d.join("output.conf"), output).unwrap();
    let script = format!(
        r#"set -u
ip link set lo up
cd {d}
export HOME={d} RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE={d}/mnesia RABBITMQ_LOG_BASE={d}/log RABBITMQ_PID_FILE={d}/rabbit.pid
export RABBITMQ_ENABLED_PLUGINS_FILE={d}/enabled_plugins RABBITMQ_CONFIG_FILE={d}/rabbitmq
export RABBITMQ_CONF_ENV_FILE={d}/rabbitmq-env.conf ERL_EPMD_PORT=24369
echo '[].' > enabled_plugins
# A persisted queue: what was acknowledged to RabbitMQ survives the kill -9 below.
printf 'queue.type: persisted\nqueue.checkpoint.writes: 1\n' > logstash.yml
touch rabbitmq-env.conf
printf 'listeners.tcp.default = 127.0.0.1:5672\nloopback_users = none\n' > rabbitmq.conf
/usr/lib/rabbitmq/bin/rabbitmq-server > rabbitmq.log 2>&1 &
for i in $(seq 1200); do (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null && break; sleep 0.1; done
echo "rabbitmq up after ${{SECONDS}}s"
count() {{ cat in.json 2>/dev/null | wc -l; }}
wait_lines() {{ local end=$((SECONDS + 120)) n; while [ $SECONDS -lt $end ]; do n=$(count); [ "$n" -ge "$1" ] && return 0; sleep 0.1; done; echo "TIMEOUT waiting for $1 lines"; }}
{py} {data}/publish.py 5672 0 5000
{rstash} --path.settings {d} --path.data {d}/data -f input.conf 2>rstash1.log & r=$!
wait_lines 500
kill -9 $r; wait $r 2>/dev/null; echo "killed at $(count) lines"
{rstash} --path.settings {d} --path.data {d}/data -f input.conf 2>rstash2.log & r=$!
# Everything not acknowledged before the kill comes again: at least the 5000.
wait_lines 5000
sleep 1
kill -TERM $r; wait $r; echo "second stop: $?"
{py} {data}/consume.py 5672 declare
{rstash} -f output.conf 2>rstash3.log; echo "output run: $?"
{py} {data}/consume.py 5672 read > out.json
/usr/lib/rabbitmq/bin/rabbitmqctl shutdown >/dev/null 2>&1
epmd -port 24369 -kill >/dev/null 2>&1
"#,
        d = d.display(),
        py = python.display(),
        data = data.display(),
        rstash = env!("CARGO_BIN_EXE_rstash"),
    );
    let (out, err) = run_in_netns(d, &script);
    let logs = || {
        log_tails(
            d,
            &["rstash1.log", "rstash2.log", "rstash3.log", "rabbitmq.log"],
        )
    };
    let ctx = format!("{out}\n{err}\n{}", logs());
    assert!(out.contains("published 5000"), "{ctx}");
    // The kill came mid-stream, so redelivery was exercised.
    let killed_at: usize = out
        .split("killed at ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(killed_at < 5000, "{ctx}");
    assert!(!out.contains("TIMEOUT"), "{ctx}");
    assert!(out.contains("second stop: 0"), "{ctx}");
    assert!(out.contains("output run: 0"), "{ctx}");

    // Input: every message arrived (some twice: those in flight at the kill), with metadata.
    // The kill may tear the last line the file output was writing.
    let text = std::fs::read_to_string(d.join("in.json")).unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let seqs: BTreeSet<i64> = events.iter().filter_map(|e| e["seq"].as_i64()).collect();
    assert_eq!(
        seqs.len(),
        5000,
        "lost: {:?}",
        (0..5000)
            .filter(|i| !seqs.contains(i))
            .take(10)
            .collect::<Vec<_>>()
    );
    let e = events.iter().find(|e| e["seq"] == 7).unwrap();
    assert_eq!(e["message"], "line 7");
    assert_eq!(e["headers"]["source"], "pika");
    assert_eq!(e["headers"]["n"], 7);
    let p = &e["props"];
    assert_eq!(p["content-type"], "application/json");
    assert_eq!(p["app-id"], "publisher");
    assert_eq!(p["message-id"], "m7");
    assert_eq!(p["delivery-mode"], 2);
    assert_eq!(p["exchange"], "logs");
    assert_eq!(p["routing-key"], "app");
    assert_eq!(p["timestamp"], 1_700_000_000);
    assert!(p["redeliver"].is_boolean());
    // Redelivered messages say so.
    assert!(events
        .iter()
        .all(|e| e["props"]["redeliver"] == true || e["props"]["redeliver"] == false));

    // Output: 300 persistent messages with their routing keys and properties.
    let text = std::fs::read_to_string(d.join("out.json")).unwrap();
    let msgs: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(msgs.len(), 300, "{ctx}");
    let m = msgs.iter().find(|m| m["body"]["sequence"] == 42).unwrap();
    assert_eq!(m["key"], "ev.42");
    assert_eq!(m["delivery_mode"], 2);
    assert_eq!(m["content_type"], "application/json");
    assert!(m["body"]["@timestamp"].is_string());
}
