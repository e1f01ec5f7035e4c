//! `aggregate`: Ruby `code` that sees each event with a map kept per task (`task_id`), as in
//! Logstash; the maps and their timeouts live in the embedded Ruby VM (rstash-ruby), flushed
//! every 5 s and at shutdown. Needs the `ruby` cargo feature, like the ruby filter.

use rstash_config::ConfigError;
use rstash_event::{Map, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter};

pub const OPTIONS: Options = &[&[
    opt("task_id", Ty::Str).required(),
    opt("code", Ty::Str).required(),
    opt(
        "map_action",
        Ty::Choice(&["create", "update", "create_or_update"]),
    )
    .default("create_or_update"),
    opt("end_of_task", Ty::Boolean).default("false"),
    opt("aggregate_maps_path", Ty::Path),
    opt("timeout", Ty::Number),
    opt("inactivity_timeout", Ty::Number),
    opt("timeout_code", Ty::Str),
    opt("push_map_as_event_on_timeout", Ty::Boolean).default("false"),
    opt("push_previous_map_as_event", Ty::Boolean).default("false"),
    opt("timeout_task_id_field", Ty::Str),
    opt("timeout_timestamp_field", Ty::Str),
    opt("timeout_tags", Ty::Array).default("[]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let mut o = Map::default();
    let mut set = Vec::new();
    let put = |o: &mut Map, k: &str, v: Value| {
        o.insert(k.into(), v);
    };
    for name in ["task_id", "code", "aggregate_maps_path"] {
        if let Some(v) = args.string(name)? {
            put(&mut o, name, Value::String(v.into()));
        }
    }
    for name in [
        "timeout_code",
        "timeout_task_id_field",
        "timeout_timestamp_field",
    ] {
        if let Some(v) = args.string(name)? {
            put(&mut o, name, Value::String(v.into()));
            set.push(name);
        }
    }
    let action = args.choice(
        "map_action",
        &["create", "update", "create_or_update"],
        "create_or_update",
    )?;
    put(&mut o, "map_action", Value::String(action.into()));
    put(
        &mut o,
        "end_of_task",
        Value::Bool(args.bool("end_of_task", false)?),
    );
    for name in ["push_map_as_event_on_timeout", "push_previous_map_as_event"] {
        let v = args.bool(name, false)?;
        if v {
            set.push(name);
        }
        put(&mut o, name, Value::Bool(v));
    }
    for name in ["timeout", "inactivity_timeout"] {
        if let Some(n) = args.number(name)? {
            if n < 0.0 {
                return Err(args.error_at(name, format!("`{name}` must not be negative")));
            }
            put(&mut o, name, Value::Float(n));
            set.push(name);
        }
    }
    let tags = args.strings("timeout_tags")?;
    if !tags.is_empty() {
        set.push("timeout_tags");
    }
    put(
        &mut o,
        "timeout_tags",
        Value::Array(tags.into_iter().map(Value::from).collect()),
    );
    put(
        &mut o,
        "timeout_options",
        Value::Array(set.iter().map(|s| Value::String((*s).into())).collect()),
    );
    let id = args.plugin_id()?;
    if args.settings.workers > 1 {
        tracing::warn!(
            plugin = %id,
            "the aggregate filter sees events in order only with one worker: run with -w 1 \
             (pipeline.workers: 1), as Logstash's documentation asks"
        );
    }
    let key = format!("{}/{}", args.settings.id, args.settings.build_id);
    embedded::build(id, key, o).map_err(|msg| args.error_at("code", msg))
}

#[cfg(feature = "ruby")]
mod embedded {
    use rstash_event::{Event, Map};
    use rstash_pipeline::{Filter, FilterOutcome};
    use rstash_ruby::{Filtered, Script, Source, Status};

    pub struct Aggregate {
        id: String,
        script: Script,
    }

    /// Aggregate code is not bounded by a time limit in Logstash; a generous one still keeps an
    /// endless loop from stalling the pipeline for good.
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

    pub fn build(id: String, key: String, options: Map) -> Result<Box<dyn Filter>, String> {
        let script = Script::compile(&id, Source::Aggregate { key, options }, LIMIT)?;
        Ok(Box::new(Aggregate { id, script }))
    }

    impl Filter for Aggregate {
        fn filter(&self, event: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
            rstash_pipeline::filter_as_batch(self, event, emit)
        }

        fn batched(&self) -> bool {
            true
        }

        fn filter_batch(&self, events: Vec<Event>) -> Vec<(Event, Vec<Event>, FilterOutcome)> {
            let finish = |out: Filtered| {
                let mut event = out.event;
                if let Some(err) = out.error {
                    tracing::error!(plugin = %self.id, "Aggregate exception occurred: {}", err.detail);
                    event.tag("_aggregateexception");
                    return (event, out.new_events, FilterOutcome::Unmatched);
                }
                let outcome = match out.status {
                    Status::Done => FilterOutcome::Matched,
                    Status::Dropped | Status::Skipped => FilterOutcome::Unmatched,
                };
                (event, out.new_events, outcome)
            };
            self.script.filter(events).into_iter().map(finish).collect()
        }

        fn periodic_flush(&self) -> bool {
            true
        }

        fn flush(&self, last: bool) -> Vec<Event> {
            self.script.flush(last)
        }

        fn close(&self) {
            self.script.close();
        }
    }
}

#[cfg(not(feature = "ruby"))]
mod embedded {
    use rstash_event::Map;
    use rstash_pipeline::Filter;

    pub fn build(_: String, _: String, _: Map) -> Result<Box<dyn Filter>, String> {
        Err(super::super::ruby::embedded::WITHOUT_RUBY.into())
    }
}
