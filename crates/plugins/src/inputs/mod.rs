//! Inputs.

pub mod beats;
pub mod dead_letter_queue;
pub mod generator;
pub mod pipeline;
pub mod stdin;
pub mod tcp;

use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::Ecs;

/// Sets the host field (`host`, or the ECS path) when the event has none.
pub fn set_host(e: &mut Event, ecs: Ecs, ecs_path: &str, host: &str) {
    let field = if ecs.enabled() {
        FieldRef::parse(ecs_path)
    } else {
        Ok(FieldRef::key("host"))
    };
    if let Ok(f) = field {
        if !e.includes(&f) {
            let _ = e.set(&f, Value::String(host.to_string()));
        }
    }
}
