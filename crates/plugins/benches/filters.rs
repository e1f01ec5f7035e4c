//! One filter on one kind of line, events per second, side by side in one run: dissect against
//! grok on the same syslog line, kv, csv, fingerprint. Events are built outside the timed part.
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
