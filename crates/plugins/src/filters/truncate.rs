//! `truncate`: cuts string fields to `length_bytes` bytes, never inside a UTF-8 character.
//! Without `fields`, every string of the event, however deep.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

pub struct Truncate {
    fields: Vec<FieldRef>,
    length: usize,
}

pub const OPTIONS: Options = &[&[
    opt("length_bytes", Ty::Number).required(),
    opt("fields", Ty::Array),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let length = args.int("length_bytes", -1)?;
    if length < 1 {
        return Err(
            args.error("truncate filter needs `length_bytes`, a number of bytes of at least 1")
        );
    }
    let fields = args
        .strings("fields")?
        .iter()
        .map(|f| args.make_field("fields", f))
        .collect::<Result<_, _>>()?;
    Ok(Box::new(Truncate {
        fields,
        length: length as usize,
    }))
}

/// Cuts in place; true when something changed.
fn cut(v: &mut Value, n: usize) -> bool {
    match v {
        Value::String(s) if s.len() > n => {
            let mut end = n;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            s.truncate(end);
            true
        }
        Value::Array(items) => items.iter_mut().fold(false, |acc, i| cut(i, n) | acc),
        Value::Object(m) => m.values_mut().fold(false, |acc, i| cut(i, n) | acc),
        _ => false,
    }
}

impl Filter for Truncate {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        if self.fields.is_empty() {
            // Every string in the event, nested ones too (the plugin walks hashes).
            for (_, v) in e.data_mut().iter_mut() {
                cut(v, self.length);
            }
        } else {
            for f in &self.fields {
                if let Some(v) = e.get_mut(f) {
                    cut(v, self.length);
                }
            }
        }
        FilterOutcome::Matched
    }
}
