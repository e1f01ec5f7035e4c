//! `clone`: a copy of the event per name in `clones`, marked by `type` (or, with ECS, a tag; or
//! the field `field` names). The common options (add_field, add_tag...) apply to the copies only,
//! as in Logstash.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

/// Where a copy carries its clone name.
enum Mark {
    Type,
    Tag,
    Field(FieldRef),
}

pub struct Clone {
    clones: Vec<String>,
    mark: Mark,
}

pub const OPTIONS: Options = &[&[opt("clones", Ty::Array).required(), opt("field", Ty::Str)]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let clones = args.strings("clones")?;
    if clones.is_empty() {
        tracing::warn!("clone filter: `clones` is empty, so no copies are made");
    }
    let ecs = args.ecs()?.enabled();
    let mark = match args.field("field")? {
        Some(f) => Mark::Field(f),
        None if ecs => Mark::Tag,
        None => Mark::Type,
    };
    Ok(Box::new(Clone { clones, mark }))
}

impl Filter for Clone {
    fn filter(&self, e: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
        for name in &self.clones {
            let mut copy = e.clone();
            match &self.mark {
                Mark::Tag => copy.tag(name),
                Mark::Type => {
                    copy.data_mut()
                        .insert("type".into(), Value::String(name.as_str().into()));
                }
                Mark::Field(f) => {
                    if let Err(err) = copy.set(f, Value::String(name.as_str().into())) {
                        tracing::warn!("clone filter: {err}");
                    }
                }
            }
            emit.push(copy);
        }
        FilterOutcome::Emitted
    }
}
