//! What of a document a response shows: `_source` filtering (`true`/`false`, a pattern or a list,
//! `includes`/`excludes`, the `_source_includes`/`_source_excludes` parameters) and the `fields`,
//! `docvalue_fields` and `stored_fields` views, values as arrays.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::index::EsError;
use crate::mapping::Mapping;
use crate::store::wildcard;

#[derive(Debug, Clone, Default)]
pub(super) struct SourceSpec {
    pub off: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

fn list(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

impl SourceSpec {
    /// From a body's `_source` and the URL parameters (which win).
    pub fn new(body: Option<&Value>, p: &HashMap<String, String>) -> Result<SourceSpec, EsError> {
        let mut s = SourceSpec::default();
        match body {
            None | Some(Value::Null) | Some(Value::Bool(true)) => {}
            Some(Value::Bool(false)) => s.off = true,
            Some(v @ (Value::String(_) | Value::Array(_))) => s.includes = list(v),
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    match k.as_str() {
                        "includes" | "include" => s.includes = list(v),
                        "excludes" | "exclude" => s.excludes = list(v),
                        other => {
                            return Err(EsError::bad_request(
                                "parsing_exception",
                                format!(
                                    "Unknown key for a {} in [{other}].",
                                    if v.is_array() {
                                        "START_ARRAY"
                                    } else {
                                        "VALUE_STRING"
                                    }
                                ),
                            ))
                        }
                    }
                }
            }
            Some(other) => {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("[_source] malformed: {other}"),
                ))
            }
        }
        if let Some(v) = p.get("_source") {
            match v.as_str() {
                "true" | "" => s.off = false,
                "false" => s.off = true,
                list_text => s.includes = list(&Value::String(list_text.to_string())),
            }
        }
        if let Some(v) = p
            .get("_source_includes")
            .or_else(|| p.get("_source_include"))
        {
            s.includes = list(&Value::String(v.clone()));
            s.off = false;
        }
        if let Some(v) = p
            .get("_source_excludes")
            .or_else(|| p.get("_source_exclude"))
        {
            s.excludes = list(&Value::String(v.clone()));
            s.off = false;
        }
        Ok(s)
    }

    /// The source as the spec shows it; None when off.
    pub fn apply(&self, src: &Value) -> Option<Value> {
        if self.off {
            return None;
        }
        if self.includes.is_empty() && self.excludes.is_empty() {
            return Some(src.clone());
        }
        Some(
            self.filter("", src)
                .unwrap_or_else(|| Value::Object(Map::new())),
        )
    }

    fn filter(&self, path: &str, v: &Value) -> Option<Value> {
        match v {
            Value::Object(o) => {
                let mut out = Map::new();
                for (k, x) in o {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    if self.excludes.iter().any(|e| wildcard(e, &p)) {
                        continue;
                    }
                    if !self.includes.is_empty() && self.includes.iter().any(|i| wildcard(i, &p)) {
                        // Included whole, less what is excluded below it.
                        let kept = if self.excludes.is_empty() {
                            Some(x.clone())
                        } else {
                            self.filter_all(&p, x)
                        };
                        if let Some(kept) = kept {
                            out.insert(k.clone(), kept);
                        }
                        continue;
                    }
                    let descend = self.includes.is_empty()
                        || self
                            .includes
                            .iter()
                            .any(|i| i.starts_with(&format!("{p}.")) || i.starts_with('*'));
                    if !descend {
                        continue;
                    }
                    match x {
                        Value::Object(_) | Value::Array(_) => {
                            if let Some(f) = self.filter(&p, x) {
                                if !(self.includes.is_empty()
                                    || f.as_object().is_none_or(|o| !o.is_empty()))
                                {
                                    continue;
                                }
                                out.insert(k.clone(), f);
                            }
                        }
                        _ if self.includes.is_empty() => {
                            out.insert(k.clone(), x.clone());
                        }
                        _ => {}
                    }
                }
                if out.is_empty() && !path.is_empty() && !self.includes.is_empty() {
                    return None;
                }
                Some(Value::Object(out))
            }
            Value::Array(a) => {
                let kept: Vec<Value> = a
                    .iter()
                    .filter_map(|x| match x {
                        Value::Object(_) | Value::Array(_) => self.filter(path, x),
                        _ => Some(x.clone()),
                    })
                    .collect();
                Some(Value::Array(kept))
            }
            other => Some(other.clone()),
        }
    }

    /// Everything under an included path, less the excludes.
    fn filter_all(&self, path: &str, v: &Value) -> Option<Value> {
        let only_excludes = SourceSpec {
            off: false,
            includes: vec![],
            excludes: self.excludes.clone(),
        };
        only_excludes.filter(path, v)
    }
}

fn leaf_values(v: Option<&Value>, out: &mut Vec<Value>) {
    match v {
        Some(Value::Array(a)) => a.iter().for_each(|x| leaf_values(Some(x), out)),
        Some(Value::Null) | None => {}
        Some(x) => out.push(x.clone()),
    }
}

/// `fields` and `docvalue_fields` of a hit: each mapped field matching a requested pattern, its
/// values from the source as an array (dates as given; numbers as their field's type).
pub(super) fn fields_of(
    m: &Mapping,
    src: &Value,
    fields: Option<&Value>,
    docvalue: Option<&Value>,
) -> Map<String, Value> {
    let mut out = Map::new();
    let patterns: Vec<String> = [fields, docvalue]
        .into_iter()
        .flatten()
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|f| match f {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => o.get("field").and_then(Value::as_str).map(str::to_string),
            _ => None,
        })
        .collect();
    if patterns.is_empty() {
        return out;
    }
    for (path, f) in m.fields() {
        if f.family() == "object" {
            continue;
        }
        let mut names = vec![path.clone()];
        if f.family() == "text" && f.ignore_above.is_some() {
            names.push(format!("{path}.keyword"));
        }
        for name in names {
            if !patterns.iter().any(|p| wildcard(p, &name)) {
                continue;
            }
            let mut vals = Vec::new();
            leaf_values(crate::index::lookup(src, path), &mut vals);
            if !vals.is_empty() {
                out.insert(name, Value::Array(vals));
            }
        }
    }
    out
}
