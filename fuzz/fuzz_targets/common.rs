//! Builds plugins from config text, as rstash does for a pipeline.

use rstash_config::{ast, parse, Source};
use rstash_pipeline::{Codec, FilterNode, PipelineSettings};

fn plugin(text: &str) -> (ast::Plugin, Source) {
    let src = Source::from_string("fuzz.conf", &format!("filter {{\n{text}\n}}\n"));
    let cfg = parse(&src).expect("the fuzz target's own config parses");
    match cfg.sections.first().and_then(|s| s.body.first()) {
        Some(ast::Statement::Plugin(p)) => (p.clone(), src),
        _ => panic!("no plugin in {text}"),
    }
}

pub fn codec(text: &str) -> Box<dyn Codec> {
    let (p, src) = plugin(text);
    rstash_plugins::registry()
        .build_codec(&p, &src, &PipelineSettings::default())
        .expect("the fuzz target's codec builds")
}

pub fn filter(text: &str) -> FilterNode {
    let (p, src) = plugin(text);
    rstash_plugins::registry()
        .build_filter(&p, &src, &PipelineSettings::default())
        .expect("the fuzz target's filter builds")
}
