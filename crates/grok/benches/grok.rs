//! Matching cost of the library's flagship pattern: a match, a near miss and a clear miss.

use rstash_grok::{CompileOptions, Grok, Library, Mode};

fn main() {
    divan::main();
}

const LINE: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/32.0.1700.77 Safari/537.36""#;
const NEAR_MISS: &str = r#"83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/logstash-monitorama-2013/images/kibana-search.png HTTP/1.1" 200 203023 "http://semicomplete.com/presentations/logstash-monitorama-2013/""#;
const MISS: &str = "Traceback (most recent call last): File \"/app/main.py\", line 12, in <module> raise ValueError('boom')";

fn compile(mode: Mode) -> Grok {
    Library::builtin(mode)
        .compile("%{COMBINEDAPACHELOG}", &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

#[divan::bench(args = [LINE, NEAR_MISS, MISS])]
fn combined_legacy(b: divan::Bencher, text: &str) {
    let g = compile(Mode::Legacy);
    b.bench(|| {
        let mut n = 0;
        g.match_with(divan::black_box(text), |_, _| n += 1);
        n
    });
}

#[divan::bench(args = [LINE, MISS])]
fn combined_ecs(b: divan::Bencher, text: &str) {
    let g = compile(Mode::EcsV1);
    b.bench(|| {
        let mut n = 0;
        g.match_with(divan::black_box(text), |_, _| n += 1);
        n
    });
}
