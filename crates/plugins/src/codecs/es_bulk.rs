//! `es_bulk`: decodes Elasticsearch's bulk format (an action line, then the document unless the
//! action is `delete`) into events, the action's metadata (`_index`, `_id`... and `action`)
//! in `[@metadata]` (ECS: `[@metadata][codec][es_bulk]`). Encoding is not supported, as in
//! Logstash: the elasticsearch output writes bulk requests itself.

use rstash_pipeline::{opt, Options, Ty};
use std::sync::atomic::{AtomicBool, Ordering};

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Map, Value};
use rstash_pipeline::{Args, Codec};

use super::Splitter;

#[derive(Clone)]
pub struct EsBulk {
    target: Option<FieldRef>,
    metadata_field: FieldRef,
    lines: Splitter,
    /// The action line waiting for its document.
    action: Option<Map>,
}

pub const OPTIONS: Options = &[&[opt("target", Ty::Str)]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    let metadata = if args.ecs()?.enabled() {
        "[@metadata][codec][es_bulk]"
    } else {
        "[@metadata]"
    };
    Ok(Box::new(EsBulk {
        target: args.field("target")?,
        metadata_field: args.make_field("target", metadata)?,
        lines: Splitter::new("\n"),
        action: None,
    }))
}

impl EsBulk {
    fn event(&self, doc: Option<Map>, meta: Map) -> Event {
        let mut e = match (doc, &self.target) {
            (Some(d), None) => Event::from_map(d),
            (Some(d), Some(t)) => {
                let mut e = Event::new();
                let _ = e.set(t, Value::Object(d));
                e
            }
            (None, _) => Event::new(),
        };
        if self.metadata_field.is_metadata_root() {
            e.metadata_mut().extend(meta);
        } else {
            let _ = e.set(&self.metadata_field, Value::Object(meta));
        }
        e
    }

    fn line(&mut self, line: &[u8], emit: &mut dyn FnMut(Event)) {
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let doc = match json::parse(line) {
            Ok(Value::Object(m)) => m,
            Ok(_) | Err(_) => {
                tracing::error!(
                    "es_bulk: JSON parse failure, bulk lines must be UTF-8 JSON objects: {}",
                    String::from_utf8_lossy(line)
                );
                return;
            }
        };
        match self.action.take() {
            Some(meta) => emit(self.event(Some(doc), meta)),
            None => {
                let Some((action, params)) = doc.into_iter().next() else {
                    return;
                };
                let mut meta = match params {
                    Value::Object(m) => m,
                    _ => Map::default(),
                };
                meta.insert("action".into(), Value::String(action.as_str().into()));
                if action == "delete" {
                    emit(self.event(None, meta));
                } else {
                    self.action = Some(meta);
                }
            }
        }
    }
}

impl Codec for EsBulk {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let mut lines = Vec::new();
        self.lines.feed(data, |l| lines.push(l.to_vec()));
        for l in lines {
            self.line(&l, emit);
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Some(rest) = self.lines.take_rest() {
            self.line(&rest, emit);
        }
    }

    fn encode(&mut self, _e: &Event, _out: &mut Vec<u8>) {
        static WARNED: AtomicBool = AtomicBool::new(false);
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "es_bulk codec: encoding is not supported (as in Logstash); nothing written"
            );
        }
    }

    fn fresh(&self) -> Box<dyn Codec> {
        let mut c = self.clone();
        c.lines = Splitter::new("\n");
        c.action = None;
        Box::new(c)
    }

    fn name(&self) -> &'static str {
        "es_bulk"
    }
}
