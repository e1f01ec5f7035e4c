//! Per-event costs on the hot path: sprintf of an index name, JSON and rubydebug encoding, and
//! parsing the JSON event Filebeat ships (what the beats input reads per event).

use rstash_event::{json, rubydebug, Event, Template, Value};

fn main() {
    divan::main();
}

fn sample() -> Event {
    let mut e = Event::with_message(
        "127.0.0.1 - - [01/May/2024:12:34:56 +0000] \"GET /balance HTTP/1.1\" 200 512",
    );
    e.data_mut().insert("host".into(), "web-1".into());
    e.data_mut().insert("response".into(), Value::Int(200));
    e.data_mut().insert("bytes".into(), Value::Float(512.0));
    e
}

#[divan::bench]
fn sprintf_index_name(b: divan::Bencher) {
    let t = Template::parse("weblogs-%{host}-%{+YYYY.MM.dd}").unwrap();
    let e = sample();
    b.bench(|| t.render(divan::black_box(&e)).len());
}

#[divan::bench]
fn json_encode(b: divan::Bencher) {
    let e = sample();
    let mut out = Vec::with_capacity(512);
    b.bench_local(|| {
        out.clear();
        json::write_event(divan::black_box(&e), &mut out);
        out.len()
    });
}

#[divan::bench]
fn rubydebug_encode(b: divan::Bencher) {
    let e = sample();
    b.bench(|| rubydebug::format(divan::black_box(e.data()), false).len());
}

#[divan::bench]
fn new_event(b: divan::Bencher) {
    b.bench(|| Event::with_message(divan::black_box("Hello world!")));
}

/// A Filebeat 8 event for a log line, as `output.logstash` sends it.
const FILEBEAT_EVENT: &[u8] = br#"{"@timestamp":"2026-12-04T07:38:51.267Z","@metadata":{"beat":"filebeat","type":"_doc","version":"8.15.0"},"log":{"offset":1234567,"file":{"path":"/var/log/nginx/access.log","device_id":"64769","inode":"1311066"}},"message":"164.57.12.190 - - [08/Mar/2026:23:06:43 +0000] \"POST / HTTP/1.1\" 500 5697 \"https://example.com/search\" \"Mozilla/5.0 (X11; Linux x86_64)\"","input":{"type":"filestream"},"ecs":{"version":"8.0.0"},"host":{"name":"web-1"},"agent":{"id":"6e2c3a0e-9a7e-4a5e-bb8e-0f4e1d2c3b4a","name":"web-1","type":"filebeat","version":"8.15.0","ephemeral_id":"0d6f1c2e-3b4a-4c5d-9e8f-7a6b5c4d3e2f"}}"#;

#[divan::bench]
fn json_parse_filebeat_event(b: divan::Bencher) {
    b.bench(|| json::parse(divan::black_box(FILEBEAT_EVENT)).map(|v| v.is_null()));
}

/// Writing that event back as JSON (what the elasticsearch, json_lines and file outputs do).
#[divan::bench]
fn json_encode_filebeat_event(b: divan::Bencher) {
    let Ok(Value::Object(m)) = json::parse(FILEBEAT_EVENT) else {
        unreachable!("the sample is an object")
    };
    let e = Event::from_map(m);
    let mut out = Vec::with_capacity(1024);
    b.bench_local(|| {
        out.clear();
        json::write_event(divan::black_box(&e), &mut out);
        out.len()
    });
}

/// `@timestamp` as ISO 8601 text, written once per event by every output.
#[divan::bench]
fn timestamp_iso(b: divan::Bencher) {
    let t = rstash_event::Timestamp::now();
    b.bench(|| divan::black_box(&t).iso().len());
}
