//! The event that flows through a pipeline, and the text forms Logstash gives it.

pub mod binary;
mod event;
mod fieldref;
mod javahash;
pub mod json;
pub mod numfmt;
pub mod rubydebug;
mod sprintf;
mod timestamp;
mod value;

pub use event::{Event, SetError};
pub use fieldref::{FieldRef, FieldRefError};
pub use sprintf::{Template, TemplateError};
pub use timestamp::Timestamp;
pub use value::{Key, Map, Value};
