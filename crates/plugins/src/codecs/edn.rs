//! `edn`: a chunk is one EDN map (Clojure's Extensible Data Notation), made an event as Logstash's
//! codec does (optionally under `target`); keywords and symbols become their names, `#inst` a
//! timestamp. What does not read as a map becomes `message`, as plain text. Encoding writes the
//! event as the edn gem's `Hash#to_edn` does (`{"k" v, "k2" v2}`), `@timestamp` as ISO-8601 text.

use edn_format::Value as Edn;
use rstash_config::ConfigError;
use rstash_event::{numfmt, Event, FieldRef, Map, Timestamp, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Codec};

#[derive(Clone)]
pub struct EdnCodec {
    target: Option<FieldRef>,
}

pub const OPTIONS: Options = &[&[opt("target", Ty::Str)]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(EdnCodec {
        target: args.field("target")?,
    }))
}

fn name(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn key(k: Edn) -> String {
    match k {
        Edn::String(s) => s,
        Edn::Keyword(k) => name(k.namespace(), k.name()),
        Edn::Symbol(s) => name(s.namespace(), s.name()),
        other => edn_format::emit_str(&other),
    }
}

fn to_value(v: Edn) -> Value {
    match v {
        Edn::Nil => Value::Null,
        Edn::Boolean(b) => Value::Bool(b),
        Edn::Character(c) => Value::String(c.to_string().into()),
        Edn::String(s) => Value::String(s.into()),
        Edn::Keyword(k) => Value::String(name(k.namespace(), k.name()).into()),
        Edn::Symbol(s) => Value::String(name(s.namespace(), s.name()).into()),
        Edn::Integer(i) => Value::Int(i),
        Edn::Float(f) => Value::Float(f.into_inner()),
        // Beyond 64 bits (Logstash keeps a BigInteger/BigDecimal): the nearest double.
        big @ (Edn::BigInt(_) | Edn::BigDec(_)) => {
            let text = edn_format::emit_str(&big);
            Value::Float(
                text.trim_end_matches(['N', 'M'])
                    .parse()
                    .unwrap_or(f64::NAN),
            )
        }
        Edn::List(a) | Edn::Vector(a) => Value::Array(a.into_iter().map(to_value).collect()),
        Edn::Set(s) => Value::Array(s.into_iter().map(to_value).collect()),
        Edn::Map(m) => Value::Object(to_map(m)),
        Edn::Inst(t) => match Timestamp::from_millis(t.timestamp_millis()) {
            Some(ts) => Value::Timestamp(ts),
            None => Value::String(t.to_rfc3339().into()),
        },
        Edn::Uuid(u) => Value::String(u.to_string().into()),
        Edn::TaggedElement(_, v) => to_value(*v),
    }
}

fn to_map(m: std::collections::BTreeMap<Edn, Edn>) -> Map {
    m.into_iter()
        .map(|(k, v)| (key(k).into(), to_value(v)))
        .collect()
}

/// The edn gem's `to_edn`: strings escape only `"` and `\`.
fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::BigInt(d) => out.push_str(d),
        Value::Float(f) => out.push_str(&numfmt::ruby_float(*f)),
        Value::String(s) => write_str(s, out),
        Value::Timestamp(t) => write_str(&t.to_iso(), out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str(k, out);
                out.push(' ');
                write(x, out);
            }
            out.push('}');
        }
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// How deep the parser would recurse on `text`: brackets plus the tags (`#inst`, `#_`) waiting
/// for their element. The edn-format parser recurses once per level, so deeper text is not
/// handed to it (a hostile chunk must not overflow the worker's stack).
fn nesting(text: &str) -> usize {
    let ends_atom = |c: &char| c.is_whitespace() || "()[]{}\",;#".contains(*c);
    let (mut levels, mut total, mut pending, mut max) = (Vec::new(), 0usize, 0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        max = max.max(total + pending + 1);
        match c {
            '(' | '[' | '{' => {
                levels.push(pending + 1);
                total += pending + 1;
                pending = 0;
            }
            ')' | ']' | '}' => total -= levels.pop().unwrap_or(0),
            '#' if chars.peek() == Some(&'{') => {}
            '#' => {
                // A tag (or `#_`): it wraps the next element. Skip its name.
                pending += 1;
                while chars.next_if(|c| !ends_atom(c)).is_some() {}
            }
            ';' => while chars.next_if(|c| *c != '\n').is_some() {},
            '"' => {
                pending = 0;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            c if c.is_whitespace() || c == ',' => {}
            _ => {
                // An atom (a character literal `\x` included): it takes the pending tags.
                pending = 0;
                chars.next_if(|_| c == '\\');
                while chars.next_if(|c| !ends_atom(c)).is_some() {}
            }
        }
    }
    max
}

impl EdnCodec {
    fn event(&self, text: &str) -> Option<Event> {
        if nesting(text) > rstash_event::MAX_DECODE_DEPTH {
            return None;
        }
        let Edn::Map(m) = edn_format::parse_str(text).ok()? else {
            return None;
        };
        let map = to_map(m);
        match &self.target {
            None => Some(Event::from_map(map)),
            Some(t) => {
                let mut e = Event::new();
                e.set(t, Value::Object(map)).ok()?;
                Some(e)
            }
        }
    }
}

impl Codec for EdnCodec {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let text = String::from_utf8_lossy(data);
        match self.event(&text) {
            Some(e) => emit(e),
            None => {
                tracing::warn!("EDN parse failure. Falling back to plain-text");
                emit(Event::with_message(text.into_owned()))
            }
        }
    }

    fn encode(&mut self, event: &Event, out: &mut Vec<u8>) {
        let mut data = event.data().clone();
        if let Some(t) = event.timestamp() {
            data.insert("@timestamp".into(), Value::String(t.to_iso().into()));
        }
        let mut text = String::new();
        write(&Value::Object(data), &mut text);
        out.extend_from_slice(text.as_bytes());
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(self.clone())
    }

    fn name(&self) -> &'static str {
        "edn"
    }
}
