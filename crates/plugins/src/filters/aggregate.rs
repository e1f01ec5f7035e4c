//! `aggregate`: its work is the Ruby in `code`, which rstash does not embed yet. The options are
//! checked like any filter's, then the config is refused with a clear message rather than run
//! without the code users wrote.

use rstash_config::ConfigError;
use rstash_pipeline::{Args, Filter};

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    for name in [
        "task_id",
        "code",
        "timeout_code",
        "timeout_task_id_field",
        "aggregate_maps_path",
    ] {
        args.string(name)?;
    }
    args.choice(
        "map_action",
        &["create", "update", "create_or_update"],
        "create_or_update",
    )?;
    for name in [
        "end_of_task",
        "push_map_as_event_on_timeout",
        "push_previous_map_as_event",
        "timeout_timestamp_field",
    ] {
        if name == "timeout_timestamp_field" {
            args.string(name)?;
        } else {
            args.bool(name, false)?;
        }
    }
    for name in ["timeout", "inactivity_timeout"] {
        args.int(name, 0)?;
    }
    args.strings("timeout_tags")?;
    if !args.has("task_id") {
        return Err(args.error("aggregate filter needs `task_id`"));
    }
    Err(args.error_at(
        "code",
        "the aggregate filter runs Ruby `code`, and this rstash has no Ruby support yet; \
         use another filter or wait for the ruby filter",
    ))
}
