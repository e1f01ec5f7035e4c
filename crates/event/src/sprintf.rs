//! sprintf (`StringInterpolation`): `%{field}`, `%{[a][b]}`, `%{+joda}`, `%{{java.time}}`, `%{+%s}`.
//! Templates are compiled once, at config load.

use std::borrow::Cow;

use rstash_timefmt::{Formatter, PatternError};
use thiserror::Error;

use crate::event::Event;
use crate::fieldref::{FieldRef, FieldRefError};
use crate::javahash::hash_order;
use crate::json;
use crate::numfmt::java_double;
use crate::value::{Map, Value};

#[derive(Debug, Error)]
pub enum TemplateError {
    #[error(transparent)]
    Field(#[from] FieldRefError),
    #[error("bad date pattern in `{0}`: {1}")]
    Pattern(String, PatternError),
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Field { field: FieldRef, raw: String },
    EpochSeconds,
    Time(Formatter),
    TimeNow,
}

#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find("%{") {
            let Some(close_rel) = rest[open + 2..].find('}') else {
                break;
            };
            let close = open + 2 + close_rel;
            let inner = &rest[open + 2..close];
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let mut end = close + 1;
            if inner.len() <= 3 && "+%s".starts_with(inner) {
                parts.push(Part::EpochSeconds);
            } else if inner.starts_with('{') && rest[end..].starts_with('}') {
                end += 1;
                let pat = &inner[1..];
                parts.push(if pat == "TIME_NOW" {
                    Part::TimeNow
                } else {
                    Part::Time(
                        Formatter::java(pat).map_err(|e| TemplateError::Pattern(s.into(), e))?,
                    )
                });
            } else if let Some(pat) = inner.strip_prefix('+') {
                parts.push(Part::Time(
                    Formatter::joda(pat).map_err(|e| TemplateError::Pattern(s.into(), e))?,
                ));
            } else {
                parts.push(Part::Field {
                    field: FieldRef::parse(inner)?,
                    raw: rest[open..end].to_string(),
                });
            }
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template {
            source: s.to_string(),
            parts,
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn is_static(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    pub fn render<'a>(&'a self, e: &Event) -> Cow<'a, str> {
        if self.is_static() {
            return Cow::Borrowed(&self.source);
        }
        let mut out = String::with_capacity(self.source.len() + 16);
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Field { field, raw } => match value_of(e, field) {
                    Some(v) => write_value(&v, &mut out),
                    None => out.push_str(raw),
                },
                Part::EpochSeconds => {
                    if let Some(t) = e.timestamp() {
                        out.push_str(&t.epoch_seconds().to_string())
                    }
                }
                Part::Time(f) => {
                    if let Some(t) = e.timestamp() {
                        f.format_utc(t.0, &mut out)
                    }
                }
                Part::TimeNow => crate::Timestamp::now().write_iso(&mut out),
            }
        }
        Cow::Owned(out)
    }
}

fn value_of<'a>(e: &'a Event, f: &FieldRef) -> Option<Cow<'a, Value>> {
    if f.is_metadata_root() {
        return Some(Cow::Owned(Value::Object(e.metadata().clone())));
    }
    match e.get(f)? {
        Value::Null => None,
        v => Some(Cow::Borrowed(v)),
    }
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&java_double(*f)),
        Value::Array(a) => join_list(a, out),
        Value::Object(m) => out.push_str(&hash_json(m)),
        other => out.push_str(&other.to_java_string()),
    }
}

fn join_list(a: &[Value], out: &mut String) {
    for (i, v) in a.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match v {
            Value::Null => {}
            Value::Array(inner) => join_list(inner, out),
            other => out.push_str(&other.to_java_string()),
        }
    }
}

fn hash_json(m: &Map) -> String {
    let ordered: Map = hash_order(m)
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    json::value_to_string(&Value::Object(ordered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn ev() -> Event {
        let mut e = Event::with_message("hello");
        e.set_timestamp(Timestamp("2024-05-01T12:34:56.123456Z".parse().unwrap()));
        e.set(&FieldRef::parse("[a][b]").unwrap(), 1.5.into())
            .unwrap();
        e.data_mut().insert(
            "list".into(),
            Value::Array(vec![1.into(), Value::Null, Value::Array(vec!["x".into()])]),
        );
        let mut h = Map::default();
        h.insert("b".into(), 1.into());
        h.insert("a".into(), 2.into());
        e.data_mut().insert("h".into(), Value::Object(h));
        e
    }

    fn r(t: &str) -> String {
        Template::parse(t).unwrap().render(&ev()).into_owned()
    }

    #[test]
    fn fields_and_dates() {
        assert_eq!(r("%{message} %{[a][b]}"), "hello 1.5");
        assert_eq!(r("weblogs-%{+YYYY.MM.dd}"), "weblogs-2024.05.01");
        assert_eq!(r("%{+HH:mm:ss.SSS}"), "12:34:56.123");
        assert_eq!(r("%{+%s}"), "1714566896");
        assert_eq!(r("%{}|%{+}"), "1714566896|1714566896");
        assert_eq!(
            r("%{{yyyy-MM-dd'T'HH:mm:ss.SSSSSS}}"),
            "2024-05-01T12:34:56.123456"
        );
        assert_eq!(r("%{@timestamp}"), "2024-05-01T12:34:56.123456Z");
        assert_eq!(r("%{nosuch} stays"), "%{nosuch} stays");
        assert_eq!(r("%{list}"), "1,,x");
        assert_eq!(r("%{h}"), r#"{"a":2,"b":1}"#);
        assert_eq!(r("no %{ close"), "no %{ close");
        assert!(Template::parse("%{[a]b}").is_err());
    }
}
