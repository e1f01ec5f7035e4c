//! `urldecode`: decodes `%XX` runs in a field (or all fields). Like Logstash, `+` stays `+`;
//! bytes that are not valid UTF-8 are written as `\xHH` (Ruby's `scrub` as the plugin does it).

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use super::failure_tags;

pub struct Urldecode {
    field: FieldRef,
    all_fields: bool,
    latin1: bool,
}

pub const OPTIONS: Options = &[&[
    opt("field", Ty::Str).default("message"),
    opt("all_fields", Ty::Boolean).default("false"),
    opt("charset", Ty::Str).default("UTF-8"),
    opt("tag_on_failure", Ty::Array).default("[\"_urldecodefailure\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let charset = args.string_or("charset", "UTF-8")?;
    let latin1 = match charset.to_ascii_uppercase().as_str() {
        "UTF-8" | "UTF8" | "US-ASCII" | "ASCII" => false,
        "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "CP1252" | "WINDOWS-1252" => true,
        _ => {
            return Err(args.error_at(
                "charset",
                format!("urldecode supports the charsets UTF-8, US-ASCII, ISO-8859-1 and CP1252, got `{charset}`"),
            ))
        }
    };
    // Accepted for configs that set it; decoding replaces bad bytes and so never fails.
    failure_tags(args, "_urldecodefailure")?;
    Ok(Box::new(Urldecode {
        field: args
            .field("field")?
            .unwrap_or_else(|| FieldRef::key("message")),
        all_fields: args.bool("all_fields", false)?,
        latin1,
    }))
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Replaces every `%XX` with its byte; other bytes are kept as they are.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Valid UTF-8 kept, every byte of an invalid sequence written `\xHH`.
fn scrub(mut b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + 8);
    loop {
        match std::str::from_utf8(b) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (good, rest) = b.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                let bad = e.error_len().unwrap_or(rest.len());
                for byte in &rest[..bad] {
                    out.push_str(&format!("\\x{byte:02X}"));
                }
                b = &rest[bad..];
            }
        }
    }
}

impl Urldecode {
    fn decode(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if !s.contains('%') {
                    return;
                }
                let bytes = unescape(s);
                *s = match String::from_utf8(bytes) {
                    Ok(t) => t.into(),
                    Err(e) if self.latin1 => e.into_bytes().iter().map(|&b| b as char).collect(),
                    Err(e) => scrub(e.as_bytes()).into(),
                };
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.decode(i)),
            Value::Object(m) => m.values_mut().for_each(|i| self.decode(i)),
            _ => {}
        }
    }
}

impl Filter for Urldecode {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        if self.all_fields {
            for (_, v) in e.data_mut().iter_mut() {
                self.decode(v);
            }
        } else if let Some(v) = e.get_mut(&self.field) {
            self.decode(v);
        }
        FilterOutcome::Matched
    }
}
