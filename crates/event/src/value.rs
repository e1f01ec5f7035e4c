//! Event values: JSON-like, plus a timestamp type (Logstash's `LogStash::Timestamp`).

use crate::numfmt;
use crate::timestamp::Timestamp;

/// Objects keep insertion order (Logstash's order is not reproducible; insertion order is).
pub use crate::map::Map;
/// Keys are short, so they live inline (no allocation up to 24 bytes).
pub type Key = compact_str::CompactString;
/// Text values: up to 24 bytes inline (most fields of a log event: a status, a verb, an
/// address, a version), longer ones on the heap; from a `String` a long text keeps its buffer.
pub type Str = compact_str::CompactString;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits (Logstash's BigInteger, e.g. from dissect's `int`
    /// conversion), kept as its decimal digits.
    BigInt(Box<str>),
    Float(f64),
    String(Str),
    Array(Vec<Value>),
    Object(Map),
    Timestamp(Timestamp),
}

impl Value {
    /// An integer from its decimal digits: `Int` when it fits 64 bits, else `BigInt`; `None`
    /// when `s` is not an optionally signed run of digits.
    pub fn big_int(s: &str) -> Option<Value> {
        let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Ok(i) = s.parse::<i64>() {
            return Some(Value::Int(i));
        }
        // Canonical form: no plus sign, no leading zeros.
        let neg = s.starts_with('-');
        let digits = digits.trim_start_matches('0');
        Some(Value::BigInt(
            format!("{}{digits}", if neg { "-" } else { "" }).into(),
        ))
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Java `toString` of the value as Logstash sees it (`Event#toString`, sprintf, conditions).
    pub fn to_java_string(&self) -> String {
        let mut s = String::new();
        self.write_java(&mut s);
        s
    }

    fn write_java(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(itoa(*i).as_str()),
            Value::BigInt(d) => out.push_str(d),
            Value::Float(f) => out.push_str(&numfmt::java_double(*f)),
            Value::String(s) => out.push_str(s),
            Value::Timestamp(t) => out.push_str(&t.to_iso()),
            Value::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    v.write_java(out);
                }
                out.push(']');
            }
            Value::Object(m) => {
                out.push('{');
                for (i, (k, v)) in crate::javahash::hash_order(m).into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push('=');
                    v.write_java(out);
                }
                out.push('}');
            }
        }
    }

    /// Ruby `to_s`, as mutate's `convert => string` and `join` give it.
    pub fn to_ruby_string(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Float(f) => numfmt::ruby_float(*f),
            Value::String(s) => s.to_string(),
            Value::Array(_) | Value::Object(_) => crate::rubydebug::inspect_inline(self),
            other => other.to_java_string(),
        }
    }
}

fn itoa(i: i64) -> String {
    i.to_string()
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}
impl From<Str> for Value {
    fn from(s: Str) -> Value {
        Value::String(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Value {
        Value::Timestamp(t)
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(v)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(m)
    }
}

#[cfg(test)]
mod big_int_tests {
    use super::Value;
    use crate::{json, Event};

    #[test]
    fn big_integers_keep_their_digits_everywhere() {
        assert_eq!(Value::big_int("42"), Some(Value::Int(42)));
        assert_eq!(Value::big_int("+007"), Some(Value::Int(7)));
        assert_eq!(Value::big_int("4.2"), None);
        let big = Value::big_int("-00043947404257507186289").unwrap();
        assert_eq!(big, Value::BigInt("-43947404257507186289".into()));
        assert_eq!(json::value_to_string(&big), "-43947404257507186289");
        assert_eq!(big.to_java_string(), "-43947404257507186289");
        let mut e = Event::with_message("x");
        e.data_mut().insert("n".into(), big.clone());
        let mut bytes = Vec::new();
        crate::binary::encode(&e, &mut bytes);
        let back = crate::binary::decode(&bytes).unwrap();
        assert_eq!(back.data().get("n"), Some(&big));
        assert!(
            crate::rubydebug::format(e.data(), false).contains("\"n\" => -43947404257507186289")
        );
    }
}
