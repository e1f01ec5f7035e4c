//! Helpers shared by the filter tests: build a filter from config text as a user writes it,
//! run events through it, read fields back as JSON text.
#![allow(dead_code)]

use rstash_config::{ast, parse, Source};
use rstash_event::{json, Event, FieldRef, Map, Value};
use rstash_pipeline::{FilterNode, PipelineSettings};

/// A field as JSON; `r` is a field reference, or a plain key when it does not parse as one.
pub fn lookup(e: &Event, r: &str) -> Option<serde_json::Value> {
    let fr = FieldRef::parse(r).unwrap_or_else(|_| FieldRef::key(r));
    let v = e.get(&fr)?;
    serde_json::from_str(&json::value_to_string(v)).ok()
}

/// Appends a line to the file an environment variable of ./test.sh names, if it is set.
fn append_to(var: &str, line: &str) {
    if let Some(path) = std::env::var_os(var) {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A case that cannot run here: ./test.sh counts it as skipped, never a silent pass.
pub fn skipped(why: &str) {
    eprintln!("skipped: {why}");
    append_to("RSTASH_SKIP_LOG", why);
}

/// A summary line for ./test.sh to print at the end, and for `--nocapture`.
pub fn report(line: &str) {
    println!("{line}");
    append_to("RSTASH_REPORT_LOG", line);
}

pub fn build(filter: &str) -> Result<FilterNode, String> {
    build_with(filter, &PipelineSettings::default())
}

/// `build` with the pipeline's settings (`path.data`, ECS mode...).
pub fn build_with(filter: &str, settings: &PipelineSettings) -> Result<FilterNode, String> {
    let src = Source::from_string("test.conf", &format!("filter {{\n{filter}\n}}\n"));
    let cfg = parse(&src).map_err(|e| e.to_string())?;
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        return Err("no plugin".into());
    };
    rstash_plugins::registry()
        .build_filter(p, &src, settings)
        .map_err(|e| e.to_string())
}

pub fn event(fields: &str) -> Event {
    match json::parse(fields.as_bytes()) {
        Ok(Value::Object(m)) => Event::from_map(m),
        other => panic!("bad test event {fields}: {other:?}"),
    }
}

/// Runs events through the filter; what comes out (originals not cancelled, then new ones).
pub fn run_all(filter: &str, events: Vec<Event>) -> Vec<Event> {
    let f = build(filter).unwrap_or_else(|e| panic!("{e}"));
    let mut out = Vec::new();
    for mut e in events {
        let mut emitted = Vec::new();
        f.run(&mut e, &mut emitted);
        if !e.is_cancelled() {
            out.push(e);
        }
        out.extend(emitted);
    }
    out
}

pub fn run(filter: &str, fields: &str) -> Event {
    let mut out = run_all(filter, vec![event(fields)]);
    assert_eq!(out.len(), 1, "expected one event out");
    out.remove(0)
}

pub fn msg(filter: &str, message: &str) -> Event {
    run(
        filter,
        &json::value_to_string(&Value::Object(Map::from_iter([(
            "message".into(),
            Value::from(message),
        )]))),
    )
}

pub fn get(e: &Event, r: &str) -> String {
    e.get_value(&FieldRef::parse(r).unwrap())
        .map(|v| json::value_to_string(&v))
        .unwrap_or_else(|| "<absent>".into())
}

pub fn tags(e: &Event) -> String {
    get(e, "tags")
}

pub fn build_err(filter: &str) -> String {
    match build(filter) {
        Ok(_) => panic!("config should be rejected: {filter}"),
        Err(e) => e,
    }
}

/// A codec from its config text, e.g. `es_bulk { target => "doc" }`.
pub fn codec(text: &str) -> Result<Box<dyn rstash_pipeline::Codec>, String> {
    let src = Source::from_string("test.conf", &format!("filter {{\n{text}\n}}\n"));
    let cfg = parse(&src).map_err(|e| e.to_string())?;
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        return Err("no plugin".into());
    };
    rstash_plugins::registry()
        .build_codec(p, &src, &PipelineSettings::default())
        .map_err(|e| e.to_string())
}

/// Decodes `data` fed in `chunk`-byte pieces, then flushes.
pub fn decode_all(codec: &mut dyn rstash_pipeline::Codec, data: &[u8], chunk: usize) -> Vec<Event> {
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        codec.decode(piece, &mut |e| out.push(e));
    }
    codec.flush(&mut |e| out.push(e));
    out
}
