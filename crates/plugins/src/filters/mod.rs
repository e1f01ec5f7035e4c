//! Filters.

pub mod aggregate;
pub mod clone;
pub mod csv;
pub mod date;
pub mod dissect;
pub mod dns;
pub mod drop;
pub mod elasticsearch;
pub mod fingerprint;
pub mod geoip;
pub mod grok;
pub mod http;
pub mod jdbc_streaming;
pub mod json;
pub mod kv;
pub mod memcached;
pub mod mutate;
pub mod prune;
pub mod ruby;
pub mod sleep;
pub mod split;
pub mod syslog_pri;
pub mod throttle;
pub mod translate;
pub mod truncate;
pub mod urldecode;
pub mod useragent;
pub mod uuid;

use rstash_config::ConfigError;
use rstash_event::FieldRef;
use rstash_pipeline::Args;

/// `tag_on_failure`, with its default.
pub fn failure_tags(args: &mut Args, default: &str) -> Result<Vec<String>, ConfigError> {
    if args.has("tag_on_failure") {
        args.strings("tag_on_failure")
    } else {
        Ok(vec![default.to_string()])
    }
}

/// A key a filter found in the data: a field reference when it parses as one (Logstash's
/// `event.set(key)`), else a plain top-level key.
pub fn field_or_key(k: &str) -> FieldRef {
    FieldRef::parse(k).unwrap_or_else(|_| FieldRef::key(k))
}

/// `transform_key`/`transform_value` and friends.
#[derive(Debug, Clone, Copy)]
pub enum TextCase {
    Lower,
    Upper,
    Capitalize,
}

impl TextCase {
    pub fn parse(s: &str) -> Option<TextCase> {
        match s {
            "lowercase" => Some(TextCase::Lower),
            "uppercase" => Some(TextCase::Upper),
            "capitalize" => Some(TextCase::Capitalize),
            _ => None,
        }
    }

    /// Ruby's `downcase`/`upcase`/`capitalize` (first character up, the rest down).
    pub fn apply(self, s: &str) -> String {
        match self {
            TextCase::Lower => s.to_lowercase(),
            TextCase::Upper => s.to_uppercase(),
            TextCase::Capitalize => {
                let mut cs = s.chars();
                match cs.next() {
                    Some(f) => f
                        .to_uppercase()
                        .chain(cs.as_str().to_lowercase().chars())
                        .collect(),
                    None => String::new(),
                }
            }
        }
    }
}
