//! rstore's per-document work on a bulk before tantivy's writer (parse the source, look for new
//! fields, build both indexed views): a grok'ed Apache access event as rbeat -> rstash send it.

// The allocator rstore runs with: growth and reuse costs differ from the system one's.
#[global_allocator]
static GLOBAL: rstash_alloc::MiMalloc = rstash_alloc::MiMalloc;

fn main() {
    divan::main();
}

const EVENT: &[u8] = br#"{"@timestamp":"2026-11-29T13:05:12.000Z","@version":"1","message":"203.0.113.9 - - [29/Nov/2026:13:05:12 +0000] \"GET /api/v1/users HTTP/1.1\" 200 5120 \"-\" \"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\"","host":{"name":"web-1"},"agent":{"type":"filebeat","version":"8.1.3","name":"web-1","id":"3c5d1f4e-8a1b-4e5f-9a0c-1d2e3f4a5b6c","ephemeral_id":"9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"},"ecs":{"version":"8.0.0"},"input":{"type":"log"},"log":{"offset":1048576,"file":{"path":"/var/log/apache2/access.log"}},"tags":["beats_input_codec_plain_applied"],"clientip":"203.0.113.9","ident":"-","auth":"-","timestamp":"29/Nov/2026:13:05:12 +0000","verb":"GET","request":"/api/v1/users","httpversion":"1.1","response":"200","bytes":"5120","referrer":"\"-\"","useragent":"\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36\""}"#;

#[divan::bench]
fn apache_event(b: divan::Bencher) {
    let m = rstore::bench::learned(EVENT);
    b.bench(|| rstore::bench::document(&m, divan::black_box(EVENT)));
}

/// Only the first step: the source parsed into the borrowed tree.
#[divan::bench]
fn apache_event_parse(b: divan::Bencher) {
    b.bench(|| rstore::bench::parse(divan::black_box(EVENT)));
}
