//! `msgpack`: a chunk is one MessagePack map, made an event as Logstash's codec does (optionally
//! under `target`; `format` fills a missing `message`); what is not a map becomes `message` with
//! `_msgpackparsefailure`. Encoding packs the event's fields with `@timestamp` as ISO-8601 text.

use rmpv::Value as Mp;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Template, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Codec};

#[derive(Clone)]
pub struct Msgpack {
    format: Option<Template>,
    target: Option<FieldRef>,
}

pub const OPTIONS: Options = &[&[opt("format", Ty::Str), opt("target", Ty::Str)]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(Msgpack {
        format: args.template("format")?,
        target: args.field("target")?,
    }))
}

fn to_value(v: Mp) -> Value {
    match v {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => match i.as_i64() {
            Some(n) => Value::Int(n),
            None => Value::Float(i.as_u64().map(|n| n as f64).unwrap_or(0.0)),
        },
        Mp::F32(f) => Value::Float(f as f64),
        Mp::F64(f) => Value::Float(f),
        Mp::String(s) => {
            Value::String(String::from_utf8_lossy(&s.into_bytes()).into_owned().into())
        }
        Mp::Binary(b) => Value::String(String::from_utf8_lossy(&b).into_owned().into()),
        Mp::Array(a) => Value::Array(a.into_iter().map(to_value).collect()),
        Mp::Map(m) => Value::Object(to_map(m)),
        Mp::Ext(_, b) => Value::String(String::from_utf8_lossy(&b).into_owned().into()),
    }
}

fn to_map(m: Vec<(Mp, Mp)>) -> Map {
    m.into_iter()
        .map(|(k, v)| {
            let key = match k {
                Mp::String(s) => String::from_utf8_lossy(&s.into_bytes()).into_owned(),
                Mp::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
                other => other.to_string(),
            };
            (key.into(), to_value(v))
        })
        .collect()
}

fn to_mp(v: &Value) -> Mp {
    match v {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Int(i) => Mp::from(*i),
        // MessagePack has no integers past 64 bits: the digits, as text, lose nothing.
        Value::BigInt(d) => Mp::from(&**d),
        Value::Float(f) => Mp::F64(*f),
        Value::String(s) => Mp::from(s.as_str()),
        Value::Array(a) => Mp::Array(a.iter().map(to_mp).collect()),
        Value::Object(m) => Mp::Map(
            m.iter()
                .map(|(k, v)| (Mp::from(k.as_str()), to_mp(v)))
                .collect(),
        ),
        Value::Timestamp(t) => Mp::from(t.to_iso().as_str()),
    }
}

impl Msgpack {
    fn event(&self, data: &[u8]) -> Option<Event> {
        let mut rd = data;
        let Mp::Map(m) =
            rmpv::decode::read_value_with_max_depth(&mut rd, rstash_event::MAX_DECODE_DEPTH)
                .ok()?
        else {
            return None;
        };
        if !rd.is_empty() {
            return None;
        }
        let map = to_map(m);
        let mut e = match &self.target {
            None => Event::from_map(map),
            Some(t) => {
                let mut e = Event::new();
                e.set(t, Value::Object(map)).ok()?;
                e
            }
        };
        if let Some(f) = &self.format {
            if !e.data().contains_key("message") {
                let msg = f.render(&e).into_owned();
                e.data_mut()
                    .insert("message".into(), Value::String(msg.into()));
            }
        }
        Some(e)
    }
}

impl Codec for Msgpack {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        if data.is_empty() {
            return;
        }
        match self.event(data) {
            Some(e) => emit(e),
            None => {
                tracing::warn!("Trouble parsing msgpack input, falling back to plain text");
                let mut e = Event::with_message(String::from_utf8_lossy(data).into_owned());
                e.tag("_msgpackparsefailure");
                emit(e)
            }
        }
    }

    fn encode(&mut self, event: &Event, out: &mut Vec<u8>) {
        let v = to_mp(&Value::Object(event.data().clone()));
        // Writing into a Vec cannot fail.
        let _ = rmpv::encode::write_value(out, &v);
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(self.clone())
    }

    fn name(&self) -> &'static str {
        "msgpack"
    }
}
