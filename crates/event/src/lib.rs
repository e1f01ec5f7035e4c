//! The event that flows through a pipeline, and the text forms Logstash gives it.

pub mod binary;
mod event;
mod fieldref;
mod javahash;
pub mod json;
pub mod map;
pub mod numfmt;
pub mod rubydebug;
mod sprintf;
mod timestamp;
mod value;

pub use event::{Event, SetError};
pub use fieldref::{FieldRef, FieldRefError};
pub use sprintf::{Template, TemplateError};
pub use timestamp::Timestamp;
pub use value::{Key, Map, Str, Value};

/// How deep a decoder lets outside input nest (arrays, maps, recursive kv values): serde_json's
/// own limit. Parsers that recurse check it, so deep input is refused instead of overflowing a
/// worker's stack.
pub const MAX_DECODE_DEPTH: usize = 128;
