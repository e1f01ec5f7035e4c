//! How long PCRE2 takes to give up on a runaway pattern at a given match limit
//! (the figure behind the grok filter's timeout_millis → match limit mapping).
use rstash_grok::{CompileOptions, Library, Mode};
use std::time::Instant;

fn main() {
    let lib = Library::builtin(Mode::Legacy);
    let line = format!("{}!", "word ".repeat(40));
    for limit in [200_000u32, 1_000_000, 10_000_000] {
        let g = lib
            .compile(
                r"^(\w+\s?)+$",
                &CompileOptions {
                    match_limit: Some(limit),
                    ..Default::default()
                },
            )
            .expect("compiles");
        let t = Instant::now();
        let out = g.match_with(&line, |_, _| {});
        println!("limit {limit}: {out:?} after {:?}", t.elapsed());
    }
}
