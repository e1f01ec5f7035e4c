//! `clone`: a copy of the event per name in `clones`, marked by `type` (or, with ECS, a tag).
//! The common options (add_field, add_tag...) apply to the copies only, as in Logstash.

use rstash_config::ConfigError;
use rstash_event::{Event, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

pub struct Clone {
    clones: Vec<String>,
    ecs: bool,
}

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let clones = args.strings("clones")?;
    if clones.is_empty() {
        tracing::warn!("clone filter: `clones` is empty, so no copies are made");
    }
    Ok(Box::new(Clone {
        clones,
        ecs: args.ecs()?.enabled(),
    }))
}

impl Filter for Clone {
    fn filter(&self, e: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
        for name in &self.clones {
            let mut copy = e.clone();
            if self.ecs {
                copy.tag(name);
            } else {
                copy.data_mut()
                    .insert("type".into(), Value::String(name.clone()));
            }
            emit.push(copy);
        }
        FilterOutcome::Emitted
    }
}
