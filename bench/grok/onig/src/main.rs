//! Runs `%{COMBINEDAPACHELOG}` from the grok crate over every line of a file, taking every
//! capture as an owned string (what a filter has to do), and prints one JSON line of figures.

use std::io::BufRead;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(pattern), Some(path)) = (args.next(), args.next()) else {
        eprintln!("usage: grok-onig-bench PATTERN FILE");
        std::process::exit(2);
    };
    let lines: Vec<String> = std::io::BufReader::new(std::fs::File::open(&path).expect("open input"))
        .lines()
        .map(|l| l.expect("read line"))
        .collect();
    let grok = grok::Grok::default();
    let pattern = grok.compile(&pattern, true).expect("pattern compiles");
    let start = Instant::now();
    let (mut matched, mut captures) = (0u64, 0u64);
    for line in &lines {
        if let Some(m) = pattern.match_against(line) {
            matched += 1;
            for (_, v) in m.iter() {
                if !v.is_empty() {
                    captures += std::hint::black_box(v.to_string()).len() as u64 & 1 | 1;
                }
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"engine\":\"grok crate 2.4 (onig)\",\"lines\":{},\"matched\":{matched},\"captures\":{captures},\"seconds\":{secs}}}",
        lines.len()
    );
}
