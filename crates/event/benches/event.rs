//! Per-event costs on the hot path: sprintf of an index name, JSON and rubydebug encoding.

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
