//! `json`: parses a field's JSON into the event (top-level keys are field references) or `target`.

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use tracing::warn;

use super::failure_tags;

pub struct Json {
    source: FieldRef,
    target: Option<FieldRef>,
    skip_on_invalid_json: bool,
    tag_on_failure: Vec<String>,
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str).required(),
    opt("target", Ty::Str),
    opt("skip_on_invalid_json", Ty::Boolean).default("false"),
    opt("tag_on_failure", Ty::Array).default("[\"_jsonparsefailure\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let Some(source) = args.field("source")? else {
        return Err(args.error("json filter needs `source`"));
    };
    let target = args.field("target")?;
    // ECS changes nothing but this advice (the plugin's own warning).
    let ecs = args.ecs()?;
    if target.is_none() && ecs.enabled() {
        warn!("json filter: ECS compatibility is enabled but `target` is not set; the parsed fields may conflict with ECS fields");
    }
    Ok(Box::new(Json {
        source,
        target,
        skip_on_invalid_json: args.bool("skip_on_invalid_json", false)?,
        tag_on_failure: failure_tags(args, "_jsonparsefailure")?,
    }))
}

impl Json {
    fn fail(&self, e: &mut Event, why: &str) -> FilterOutcome {
        if !self.skip_on_invalid_json {
            warn!("Error parsing json: {why}");
            for t in &self.tag_on_failure {
                e.tag(t);
            }
        }
        FilterOutcome::Unmatched
    }
}

impl Filter for Json {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let text = match e.get(&self.source) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            Some(Value::String(_)) | None | Some(Value::Null) => return FilterOutcome::Unmatched,
            Some(other) => other.to_java_string().into(),
        };
        let parsed = match json::parse(text.as_bytes()) {
            Ok(v) => v,
            Err(err) => return self.fail(e, &err.to_string()),
        };
        if let Some(t) = &self.target {
            if let Err(err) = e.set(t, parsed) {
                return self.fail(e, &err.to_string());
            }
            return FilterOutcome::Matched;
        }
        let Value::Object(map) = parsed else {
            return self.fail(e, "parsed JSON is not an object and no target is set");
        };
        for (k, v) in map {
            if k == "@timestamp" {
                e.set_timestamp_value(v);
                continue;
            }
            let r = FieldRef::parse(&k).unwrap_or_else(|_| FieldRef::key(&k));
            if let Err(err) = e.set(&r, v) {
                return self.fail(e, &err.to_string());
            }
        }
        FilterOutcome::Matched
    }
}
