//! Runs the grok filter, built from config as the pipeline builds it, over every line of a file
//! as the `message` of a new event; prints one JSON line of figures. Used by bench/grok.

use std::io::BufRead;
use std::time::Instant;

use rstash_config::{ast, parse, Source};
use rstash_event::Event;
use rstash_pipeline::PipelineSettings;

// The allocator the rstash binary uses, so the figure is the product's.
#[global_allocator]
static GLOBAL: rstash_alloc::MiMalloc = rstash_alloc::MiMalloc;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(pattern), Some(path)) = (args.next(), args.next()) else {
        return Err("usage: grok_file PATTERN FILE".into());
    };
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let conf = format!("filter {{ grok {{ match => {{ \"message\" => \"{pattern}\" }} }} }}");
    let src = Source::from_string("bench", &conf);
    let cfg = parse(&src).map_err(|e| e.to_string())?;
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        return Err("no filter".into());
    };
    let node = rstash_plugins::registry()
        .build_filter(p, &src, &PipelineSettings::default())
        .map_err(|e| e.to_string())?;
    // Batches of 125 like a pipeline worker's; only the filter is timed, and each batch is
    // dropped after it, as events leave a real pipeline.
    let mut emit = Vec::new();
    let mut elapsed = std::time::Duration::ZERO;
    let mut matched = 0u64;
    for chunk in lines.chunks(125) {
        let mut batch: Vec<Event> = chunk
            .iter()
            .map(|l| Event::with_message(l.as_str()))
            .collect();
        let start = Instant::now();
        for e in &mut batch {
            node.run(e, &mut emit);
        }
        elapsed += start.elapsed();
        let tags = rstash_event::FieldRef::key("tags");
        matched += batch.iter().filter(|e| e.get(&tags).is_none()).count() as u64;
    }
    let secs = elapsed.as_secs_f64();
    // The regex part alone: match, and every capture taken as an owned string (the same work the
    // grok-crate harness does), without an event.
    let grok = rstash_grok::Library::builtin(rstash_grok::Mode::Legacy)
        .compile(&pattern, &rstash_grok::CompileOptions::default())
        .map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut caps = 0u64;
    for l in &lines {
        grok.match_with(l, |_, v| {
            if let rstash_grok::Captured::Str(s) = v {
                caps += std::hint::black_box(s.to_string()).len() as u64 & 1 | 1;
            } else {
                caps += 1;
            }
        });
    }
    let match_secs = start.elapsed().as_secs_f64();
    println!(
        "{{\"engine\":\"rstash grok filter (pcre2 jit)\",\"lines\":{},\"matched\":{matched},\"seconds\":{secs},\"match_only_seconds\":{match_secs},\"captures\":{caps}}}",
        lines.len()
    );
    Ok(())
}
