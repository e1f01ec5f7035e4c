//! Dynamic mapping as Elasticsearch does it for new fields: strings are `text` with a `keyword`
//! sub-field (or `date` when they look like one), integers `long`, decimals `float`, booleans
//! `boolean`, objects `object`. The mapping turns JSON into typed tantivy values.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tantivy::schema::OwnedValue;
use tantivy::DateTime;

pub type Mapping = BTreeMap<String, &'static str>;

/// ES `strict_date_optional_time`: `yyyy-MM-dd` with optional time and zone.
pub fn parse_date(s: &str) -> Option<DateTime> {
    if s.len() < 10 || !s.as_bytes()[..4].iter().all(u8::is_ascii_digit) || s.as_bytes()[4] != b'-'
    {
        return None;
    }
    let ts = s
        .parse::<jiff::Timestamp>()
        .ok()
        .or_else(|| {
            s.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
        .or_else(|| {
            s.parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| d.to_zoned_datetime(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })?;
    Some(DateTime::from_timestamp_nanos(ts.as_nanosecond() as i64))
}

fn detect(v: &Value) -> Option<&'static str> {
    Some(match v {
        Value::String(s) if parse_date(s).is_some() => "date",
        Value::String(_) => "text",
        Value::Number(n) if n.is_i64() || n.is_u64() => "long",
        Value::Number(_) => "float",
        Value::Bool(_) => "boolean",
        Value::Object(_) => "object",
        Value::Array(a) => return a.iter().find(|x| !x.is_null()).and_then(detect),
        Value::Null => return None,
    })
}

/// Whether the document has a field the mapping lacks (the common answer, no, allocates little).
pub fn has_new(m: &Mapping, prefix: &str, obj: &serde_json::Map<String, Value>) -> bool {
    let mut path = String::with_capacity(64);
    obj.iter().any(|(k, v)| {
        path.clear();
        if !prefix.is_empty() {
            path.push_str(prefix);
            path.push('.');
        }
        path.push_str(k);
        (detect(v).is_some() && !m.contains_key(&path))
            || match v {
                Value::Object(o) => has_new(m, &path, o),
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_object)
                    .any(|o| has_new(m, &path, o)),
                _ => false,
            }
    })
}

/// Adds mappings for the document's new fields; returns whether anything was added.
pub fn learn(m: &mut Mapping, prefix: &str, obj: &serde_json::Map<String, Value>) -> bool {
    let mut changed = false;
    for (k, v) in obj {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let Some(t) = detect(v) {
            if !m.contains_key(&path) {
                m.insert(path.clone(), t);
                changed = true;
            }
        }
        let objects: Vec<&serde_json::Map<String, Value>> = match v {
            Value::Object(o) => vec![o],
            Value::Array(a) => a.iter().filter_map(Value::as_object).collect(),
            _ => vec![],
        };
        for o in objects {
            changed |= learn(m, &path, o);
        }
    }
    changed
}

/// The document as tantivy values, typed by the mapping (dates become dates).
pub fn to_owned(m: &Mapping, prefix: &str, v: &Value, keyword: bool) -> Option<OwnedValue> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => OwnedValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => OwnedValue::I64(i),
            (None, Some(u), _) => OwnedValue::U64(u),
            (_, _, Some(f)) => OwnedValue::F64(f),
            _ => return None,
        },
        Value::String(s) => match m.get(prefix) {
            Some(&"date") => parse_date(s)
                .map(OwnedValue::Date)
                .unwrap_or_else(|| OwnedValue::Str(s.clone())),
            // keyword sub-fields ignore values over 256 characters, as ES's default `ignore_above`.
            _ if keyword && s.chars().count() > 256 => return None,
            _ => OwnedValue::Str(s.clone()),
        },
        Value::Array(a) => OwnedValue::Array(
            a.iter()
                .filter_map(|x| to_owned(m, prefix, x, keyword))
                .collect(),
        ),
        Value::Object(o) => OwnedValue::Object(
            o.iter()
                .filter_map(|(k, v)| {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    to_owned(m, &path, v, keyword).map(|x| (k.clone(), x))
                })
                .collect(),
        ),
    })
}

fn insert_path(props: &mut serde_json::Map<String, Value>, parts: &[&str], t: &str) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let entry = props.entry(first.to_string()).or_insert_with(|| json!({}));
    let Some(obj) = entry.as_object_mut() else {
        return;
    };
    if rest.is_empty() {
        match t {
            "object" => {
                obj.entry("properties").or_insert_with(|| json!({}));
            }
            "text" => {
                obj.insert("type".into(), json!("text"));
                obj.insert(
                    "fields".into(),
                    json!({"keyword": {"type": "keyword", "ignore_above": 256}}),
                );
            }
            other => {
                obj.insert("type".into(), json!(other));
            }
        }
        return;
    }
    if let Some(p) = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
    {
        insert_path(p, rest, t);
    }
}

/// `GET /{index}/_mapping` body for one index.
pub fn to_json(m: &Mapping) -> Value {
    let mut root = serde_json::Map::new();
    for (path, t) in m {
        let parts: Vec<&str> = path.split('.').collect();
        insert_path(&mut root, &parts, t);
    }
    json!({ "properties": root })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_types() {
        let mut m = Mapping::new();
        let doc = json!({"@timestamp": "2024-05-01T12:00:00.000Z", "response": 200, "bytes": 1.5, "ok": true, "path": "/x", "http": {"method": "GET"}});
        assert!(learn(&mut m, "", doc.as_object().unwrap()));
        assert_eq!(m["@timestamp"], "date");
        assert_eq!(m["response"], "long");
        assert_eq!(m["bytes"], "float");
        assert_eq!(m["path"], "text");
        assert_eq!(m["http.method"], "text");
        assert!(!learn(&mut m, "", doc.as_object().unwrap()));
        let j = to_json(&m);
        assert_eq!(
            j["properties"]["http"]["properties"]["method"]["type"],
            "text"
        );
        assert_eq!(
            j["properties"]["path"]["fields"]["keyword"]["type"],
            "keyword"
        );
    }
}
