//! Date patterns as Logstash uses them: Joda-Time (`%{+yyyy.MM.dd}`, the date filter's `match`)
//! and java.time (`%{{yyyy-MM-dd}}`). No maintained crate speaks Joda, so the pattern compiler is ours.

mod fields;
mod format;
mod iso;
mod names;
mod parse;
mod pattern;

pub use format::Formatter;
pub use iso::parse_iso8601;
pub use names::{Names, MONTHS};
pub use parse::{ParseError, Parser};
pub use pattern::{Dialect, PatternError};

pub use jiff::tz::TimeZone;
pub use jiff::Timestamp;
