//! `split`: one event per line (or `terminator`) of a string, or per element of an array. The
//! original is dropped; the new events go through the rest of the filters.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use tracing::warn;

pub struct Split {
    field: FieldRef,
    target: Option<FieldRef>,
    terminator: String,
}

pub const OPTIONS: Options = &[&[
    opt("field", Ty::Str).default("message"),
    opt("target", Ty::Str),
    opt("terminator", Ty::Str).default("\\n"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let terminator = args
        .string_or("terminator", "\n")?
        .replace("\\n", "\n")
        .replace("\\t", "\t");
    if terminator.is_empty() {
        return Err(args.error_at("terminator", "`terminator` must not be empty"));
    }
    Ok(Box::new(Split {
        field: args
            .field("field")?
            .unwrap_or_else(|| FieldRef::key("message")),
        target: args.field("target")?,
        terminator,
    }))
}

/// Parts that make no event: empty ones and nil array elements.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

impl Filter for Split {
    fn filter(&self, e: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
        let parts: Vec<Value> = match e.get(&self.field) {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::String(s)) => {
                if !s.contains(&self.terminator) {
                    return FilterOutcome::Unmatched;
                }
                s.split(self.terminator.as_str()).map(Value::from).collect()
            }
            other => {
                let ty = other.map_or("nil", |v| match v {
                    Value::Int(_) => "Integer",
                    Value::Float(_) => "Float",
                    Value::Bool(_) => "Boolean",
                    Value::Object(_) => "Hash",
                    _ => "other",
                });
                warn!(
                    "Only String and Array types are splittable. field:{} is of type = {ty}",
                    self.field
                );
                e.tag("_split_type_failure");
                return FilterOutcome::Unmatched;
            }
        };
        let dest = self.target.as_ref().unwrap_or(&self.field);
        for part in parts.into_iter().filter(|v| !is_empty(v)) {
            let mut copy = e.clone();
            if copy.set(dest, part).is_ok() {
                emit.push(copy);
            }
        }
        e.cancel();
        FilterOutcome::Emitted
    }
}
