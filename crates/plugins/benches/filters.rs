//! One filter on one kind of line, events per second, side by side in one run: dissect against
//! grok on the same syslog line, kv, csv, fingerprint; geoip and useragent with their caches hit
//! and defeated (geoip needs the GeoLite2 database of scripts/install-peers.sh). Events are
//! built outside the timed part.
//! `cargo bench -p rstash-plugins --bench filters`

use rstash_config::{ast, parse, Source};
use rstash_event::Event;
use rstash_pipeline::{FilterNode, PipelineSettings};

const N: usize = 10_000;

fn main() {
    divan::main();
}

fn filter(body: &str) -> FilterNode {
    let src = Source::from_string("bench.conf", &format!("filter {{ {body} }}"));
    let cfg = parse(&src).unwrap();
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        panic!("no filter")
    };
    rstash_plugins::registry()
        .build_filter(p, &src, &PipelineSettings::default())
        .unwrap()
}

fn run(b: divan::Bencher, body: &str, line: &str) {
    let f = filter(body);
    b.counter(divan::counter::ItemsCount::new(N))
        .with_inputs(|| {
            (0..N)
                .map(|_| Event::with_message(line))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|mut events| {
            let mut emitted = Vec::new();
            for e in &mut events {
                f.run(e, &mut emitted);
            }
            events
        });
}

const SYSLOG: &str =
    "Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]";

#[divan::bench]
fn dissect_syslog(b: divan::Bencher) {
    run(
        b,
        r#"dissect { mapping => { "message" => "%{ts} %{+ts} %{+ts} %{src} %{prog}[%{pid}]: %{msg}" } }"#,
        SYSLOG,
    );
}

#[divan::bench]
fn grok_syslog(b: divan::Bencher) {
    run(
        b,
        r#"grok { match => { "message" => "%{SYSLOGBASE} %{GREEDYDATA:msg}" } }"#,
        SYSLOG,
    );
}

#[divan::bench]
fn kv_firewall(b: divan::Bencher) {
    run(
        b,
        r#"kv { }"#,
        r#"date=2024-05-01 time=10:00:01 devname="fw-1" srcip=10.0.0.5 dstip=8.8.8.8 srcport=51234 dstport=53 proto=17 action=accept policyid=12 service="DNS""#,
    );
}

#[divan::bench]
fn csv_row(b: divan::Bencher) {
    run(
        b,
        r#"csv { columns => ["date", "account", "amount", "currency", "note"] convert => { "amount" => "float" } }"#,
        r#"2024-05-01,ACME-42,1234.50,EUR,"paid, in full""#,
    );
}

#[divan::bench]
fn fingerprint_sha256(b: divan::Bencher) {
    run(
        b,
        r#"fingerprint { method => "SHA256" key => "k" }"#,
        SYSLOG,
    );
}

/// Like `run`, with a different line per event (so caches miss).
fn run_each(b: divan::Bencher, body: &str, line: impl Fn(usize) -> String) {
    let f = filter(body);
    b.counter(divan::counter::ItemsCount::new(N))
        .with_inputs(|| {
            (0..N)
                .map(|i| Event::with_message(line(i)))
                .collect::<Vec<_>>()
        })
        .bench_local_values(|mut events| {
            let mut emitted = Vec::new();
            for e in &mut events {
                f.run(e, &mut emitted);
            }
            events
        });
}

/// The GeoLite2 City database scripts/install-peers.sh fetches.
fn city_db() -> String {
    format!(
        "{}/../../.peers/geoip/GeoLite2-City.mmdb",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Addresses spread over the IPv4 space, so each lookup walks a different path of the tree.
fn address(i: usize) -> String {
    let x = (i as u32).wrapping_mul(2_654_435_761);
    format!(
        "{}.{}.{}.{}",
        1 + x % 223,
        (x >> 8) & 255,
        (x >> 16) & 255,
        (x >> 24) & 255
    )
}

#[divan::bench]
fn geoip_city_lookups(b: divan::Bencher) {
    run_each(
        b,
        &format!(
            r#"geoip {{ source => "message" database => "{}" cache_size => 1 }}"#,
            city_db()
        ),
        address,
    );
}

#[divan::bench]
fn geoip_city_cached(b: divan::Bencher) {
    run(
        b,
        &format!(
            r#"geoip {{ source => "message" database => "{}" }}"#,
            city_db()
        ),
        "81.2.69.142",
    );
}

const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "curl/8.4.0",
];

#[divan::bench]
fn useragent_parses(b: divan::Bencher) {
    // A build number per event defeats the cache: every string is parsed.
    run_each(
        b,
        r#"useragent { source => "message" lru_cache_size => 1 }"#,
        |i| format!("{} build/{i}", AGENTS[i % AGENTS.len()]),
    );
}

#[divan::bench]
fn useragent_cached(b: divan::Bencher) {
    run_each(b, r#"useragent { source => "message" }"#, |i| {
        AGENTS[i % AGENTS.len()].to_string()
    });
}
