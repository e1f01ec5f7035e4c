//! Filters.

pub mod date;
pub mod drop;
pub mod grok;
pub mod json;
pub mod mutate;
pub mod sleep;

use rstash_config::ConfigError;
use rstash_pipeline::Args;

/// `tag_on_failure`, with its default.
pub fn failure_tags(args: &mut Args, default: &str) -> Result<Vec<String>, ConfigError> {
    if args.has("tag_on_failure") {
        args.strings("tag_on_failure")
    } else {
        Ok(vec![default.to_string()])
    }
}
