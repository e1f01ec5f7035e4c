//! `uuid`: a random (v4) UUID in `target`, unless it is set and `overwrite` is false.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

pub struct Uuid {
    target: FieldRef,
    overwrite: bool,
}

pub const OPTIONS: Options = &[&[
    opt("target", Ty::Str).required(),
    opt("overwrite", Ty::Boolean).default("false"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let Some(target) = args.field("target")? else {
        return Err(args.error("uuid filter needs `target`"));
    };
    Ok(Box::new(Uuid {
        target,
        overwrite: args.bool("overwrite", false)?,
    }))
}

impl Filter for Uuid {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        if self.overwrite || e.get(&self.target).is_none() {
            let id = uuid::Uuid::new_v4().to_string();
            if e.set(&self.target, Value::String(id.into())).is_err() {
                return FilterOutcome::Unmatched;
            }
        }
        FilterOutcome::Matched
    }
}
