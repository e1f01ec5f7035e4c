//! Beats processors (`add_fields`, `drop_event`, `drop_fields`, `add_tags`, `rename`,
//! `decode_json_fields`, `dissect`, `add_host_metadata`, and those of `metadata`) and their `when` conditions (`equals`, `contains`,
//! `regexp`, `range`, `has_fields`, `and`, `or`, `not`).

use regex::Regex;
use serde_json::{Map, Value};

use crate::config::{kind, ConfigError, Section};
use crate::fields::{self, Fields};

pub enum Condition {
    Equals(Vec<(String, Value)>),
    Contains(Vec<(String, String)>),
    Regexp(Vec<(String, Regex)>),
    Range(Vec<(String, &'static str, f64)>),
    HasFields(Vec<String>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
}

impl Condition {
    pub fn parse(path: &str, v: &Value) -> Result<Condition, ConfigError> {
        let bad = |m: String| ConfigError(format!("condition `{path}`: {m}"));
        let Value::Object(m) = v else {
            return Err(bad(format!("expected a mapping, got {}", kind(v))));
        };
        let pairs = |v: &Value| -> Result<Vec<(String, Value)>, ConfigError> {
            let Value::Object(m) = v else {
                return Err(bad("expected a mapping of field: value".into()));
            };
            let mut out = Vec::new();
            flatten("", m, &mut out);
            Ok(out)
        };
        // Beats reads one condition per mapping: the first key.
        if let Some((k, v)) = m.iter().next() {
            let c = match k.as_str() {
                "equals" => Condition::Equals(pairs(v)?),
                "contains" => Condition::Contains(
                    pairs(v)?
                        .into_iter()
                        .map(|(f, v)| (f, value_text(&v)))
                        .collect(),
                ),
                "regexp" => Condition::Regexp(
                    pairs(v)?
                        .into_iter()
                        .map(|(f, v)| {
                            Regex::new(&value_text(&v))
                                .map(|r| (f, r))
                                .map_err(|e| bad(e.to_string()))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                "range" => {
                    let mut out = Vec::new();
                    for (f, v) in pairs(v)? {
                        // `field.gte: 400` arrives flattened as ("field.gte", 400).
                        let (field, op) = f
                            .rsplit_once('.')
                            .ok_or_else(|| bad(format!("range on `{f}` needs gte/gt/lte/lt")))?;
                        let op = match op {
                            "gte" => "gte",
                            "gt" => "gt",
                            "lte" => "lte",
                            "lt" => "lt",
                            o => return Err(bad(format!("unknown range operator `{o}`"))),
                        };
                        let n = v.as_f64().ok_or_else(|| {
                            bad(format!("range bound for `{field}` must be a number"))
                        })?;
                        out.push((field.to_string(), op, n));
                    }
                    Condition::Range(out)
                }
                "has_fields" => Condition::HasFields(match v {
                    Value::Array(a) => a.iter().map(value_text).collect(),
                    other => vec![value_text(other)],
                }),
                "and" | "or" => {
                    let Value::Array(items) = v else {
                        return Err(bad(format!("`{k}` expects a list of conditions")));
                    };
                    let cs = items
                        .iter()
                        .enumerate()
                        .map(|(i, c)| Condition::parse(&format!("{path}.{k}.{i}"), c))
                        .collect::<Result<Vec<_>, _>>()?;
                    if k == "and" {
                        Condition::And(cs)
                    } else {
                        Condition::Or(cs)
                    }
                }
                "not" => Condition::Not(Box::new(Condition::parse(&format!("{path}.not"), v)?)),
                other => return Err(bad(format!("unknown condition `{other}`"))),
            };
            return Ok(c);
        }
        Err(bad("missing or invalid condition".into()))
    }

    pub fn matches(&self, e: &Fields) -> bool {
        match self {
            Condition::Equals(ps) => ps.iter().all(|(f, want)| match (fields::get(e, f), want) {
                (Some(Value::Number(a)), Value::Number(b)) => a.as_f64() == b.as_f64(),
                (Some(got), want) => got == want,
                (None, _) => false,
            }),
            Condition::Contains(ps) => ps.iter().all(|(f, sub)| match fields::get(e, f) {
                Some(Value::String(s)) => s.contains(sub.as_str()),
                Some(Value::Array(a)) => a
                    .iter()
                    .any(|x| x.as_str().is_some_and(|s| s.contains(sub.as_str()))),
                _ => false,
            }),
            Condition::Regexp(ps) => ps.iter().all(|(f, re)| {
                fields::get(e, f)
                    .and_then(Value::as_str)
                    .is_some_and(|s| re.is_match(s))
            }),
            Condition::Range(ps) => ps.iter().all(|(f, op, bound)| {
                let Some(n) =
                    fields::get(e, f).and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()))
                else {
                    return false;
                };
                match *op {
                    "gte" => n >= *bound,
                    "gt" => n > *bound,
                    "lte" => n <= *bound,
                    _ => n < *bound,
                }
            }),
            Condition::HasFields(fs) => fs.iter().all(|f| fields::get(e, f).is_some()),
            Condition::And(cs) => cs.iter().all(|c| c.matches(e)),
            Condition::Or(cs) => cs.iter().any(|c| c.matches(e)),
            Condition::Not(c) => !c.matches(e),
        }
    }
}

fn flatten(prefix: &str, m: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (k, v) in m {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) => flatten(&key, inner, out),
            other => out.push((key, other.clone())),
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

enum Action {
    AddFields {
        target: Option<String>,
        fields: Fields,
    },
    DropEvent,
    DropFields {
        fields: Vec<String>,
        ignore_missing: bool,
    },
    AddTags {
        tags: Vec<String>,
        target: String,
    },
    Rename {
        fields: Vec<(String, String)>,
        ignore_missing: bool,
    },
    DecodeJson {
        fields: Vec<String>,
        target: Option<String>,
        overwrite_keys: bool,
        add_error_key: bool,
    },
    AddHostMetadata {
        host: Fields,
    },
    Docker(crate::docker::Docker),
    Dissect(crate::dissect::Dissect),
    Cloud(crate::cloud::Cloud),
    Kubernetes(Box<crate::kubernetes::Kubernetes>),
}

pub struct Processor {
    action: Action,
    when: Option<Condition>,
}

/// What a processor chain did to an event.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Keep,
    Drop,
}

pub fn parse_list(path: &str, v: Option<&Value>) -> Result<Vec<Processor>, ConfigError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Value::Array(items) = v else {
        return Err(ConfigError(format!(
            "setting `{path}`: expected a list of processors, got {}",
            kind(v)
        )));
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(m) = item else {
            return Err(ConfigError(format!(
                "setting `{path}.{i}`: expected a processor"
            )));
        };
        for (name, conf) in m {
            out.push(Processor::parse(&format!("{path}.{i}.{name}"), name, conf)?);
        }
    }
    Ok(out)
}

impl Processor {
    fn parse(path: &str, name: &str, conf: &Value) -> Result<Processor, ConfigError> {
        let s = Section::new(path, Some(conf))?;
        let when = match s.raw("when") {
            Some(c) => Some(Condition::parse(&format!("{path}.when"), c)?),
            None => None,
        };
        let action = match name {
            "add_fields" => Action::AddFields {
                target: match s.raw("target") {
                    None => Some("fields".to_string()),
                    Some(Value::String(t)) if t.is_empty() => None,
                    Some(Value::String(t)) => Some(t.clone()),
                    Some(v) => return Err(ConfigError(format!("setting `{path}.target`: expected a string, got {}", kind(v)))),
                },
                fields: s.section("fields")?.map().cloned().unwrap_or_default(),
            },
            "drop_event" => Action::DropEvent,
            "drop_fields" => Action::DropFields {
                fields: s.strings("fields")?,
                ignore_missing: s.bool("ignore_missing", false)?,
            },
            "add_tags" => Action::AddTags {
                tags: s.strings("tags")?,
                target: s.string_or("target", "tags")?,
            },
            "rename" => {
                let mut fields = Vec::new();
                if let Some(Value::Array(items)) = s.raw("fields") {
                    for it in items {
                        let from = it.get("from").and_then(Value::as_str);
                        let to = it.get("to").and_then(Value::as_str);
                        match (from, to) {
                            (Some(f), Some(t)) => fields.push((f.to_string(), t.to_string())),
                            _ => return Err(ConfigError(format!("setting `{path}.fields`: each entry needs from and to"))),
                        }
                    }
                }
                s.raw("fail_on_error");
                Action::Rename { fields, ignore_missing: s.bool("ignore_missing", false)? }
            }
            "decode_json_fields" => {
                s.raw("process_array");
                s.raw("max_depth");
                s.raw("document_id");
                Action::DecodeJson {
                    fields: s.strings("fields")?,
                    target: s.string("target")?,
                    overwrite_keys: s.bool("overwrite_keys", false)?,
                    add_error_key: s.bool("add_error_key", false)?,
                }
            }
            "add_host_metadata" => {
                s.raw("netinfo");
                s.raw("cache");
                let mut host = Fields::new();
                let name = gethostname::gethostname().to_string_lossy().into_owned();
                host.insert("hostname".into(), Value::String(name.clone()));
                host.insert("name".into(), Value::String(name));
                host.insert("architecture".into(), Value::String(std::env::consts::ARCH.into()));
                let mut os = Fields::new();
                os.insert("type".into(), Value::String(std::env::consts::OS.into()));
                os.insert("family".into(), Value::String(std::env::consts::FAMILY.into()));
                host.insert("os".into(), Value::Object(os));
                Action::AddHostMetadata { host }
            }
            "dissect" => Action::Dissect(crate::dissect::Dissect::parse(path, &s)?),
            "add_cloud_metadata" => Action::Cloud(crate::cloud::Cloud::parse(path, &s)?),
            "add_docker_metadata" => Action::Docker(crate::docker::Docker::parse(path, &s)?),
            "add_kubernetes_metadata" => Action::Kubernetes(Box::new(
                crate::kubernetes::Kubernetes::parse(path, &s)?,
            )),
            other => {
                return Err(ConfigError(format!(
                    "setting `{path}`: unknown processor `{other}` (supported: add_fields, drop_event, drop_fields, add_tags, rename, decode_json_fields, dissect, add_host_metadata, add_cloud_metadata, add_docker_metadata, add_kubernetes_metadata)"
                )))
            }
        };
        s.warn_unknown();
        Ok(Processor { action, when })
    }

    pub fn run(&self, e: &mut Fields) -> Outcome {
        if self.when.as_ref().is_some_and(|c| !c.matches(e)) {
            return Outcome::Keep;
        }
        match &self.action {
            Action::AddFields {
                target,
                fields: add,
            } => match target {
                Some(t) => {
                    let mut into = match fields::get(e, t) {
                        Some(Value::Object(m)) => m.clone(),
                        _ => Fields::new(),
                    };
                    fields::merge(&mut into, add);
                    fields::put(e, t, Value::Object(into));
                }
                None => fields::merge(e, add),
            },
            Action::DropEvent => return Outcome::Drop,
            Action::DropFields {
                fields: fs,
                ignore_missing,
            } => {
                for f in fs {
                    // @timestamp and type cannot be dropped in Beats either. A missing field is
                    // an error Beats only logs (at debug): the event goes on either way.
                    if f != "@timestamp"
                        && f != "type"
                        && fields::delete(e, f).is_none()
                        && !ignore_missing
                    {
                        tracing::debug!("drop_fields: failed to drop field [{f}]: key not found");
                    }
                }
            }
            Action::AddTags { tags, target } => fields::add_tags(e, target, tags),
            Action::Rename {
                fields: fs,
                ignore_missing,
            } => {
                for (from, to) in fs {
                    match fields::delete(e, from) {
                        Some(v) => fields::put(e, to, v),
                        None if !ignore_missing => {
                            tracing::debug!("rename: field {from} not found")
                        }
                        None => {}
                    }
                }
            }
            Action::DecodeJson {
                fields: fs,
                target,
                overwrite_keys,
                add_error_key,
            } => {
                for f in fs {
                    let Some(Value::String(text)) = fields::get(e, f).cloned() else {
                        continue;
                    };
                    match serde_json::from_str::<Value>(&text) {
                        Ok(Value::Object(obj)) if target.as_deref() == Some("") => {
                            for (k, v) in obj {
                                if *overwrite_keys || !e.contains_key(&k) {
                                    e.insert(k, v);
                                }
                            }
                        }
                        Ok(v) => fields::put(e, target.as_deref().unwrap_or(f), v),
                        Err(err) if *add_error_key => {
                            fields::put(
                                e,
                                "error.message",
                                Value::String(format!("parsing input as JSON: {err}")),
                            );
                        }
                        Err(_) => {}
                    }
                }
            }
            Action::AddHostMetadata { host } => {
                let mut h = match e.get("host") {
                    Some(Value::Object(m)) => m.clone(),
                    _ => Fields::new(),
                };
                fields::merge(&mut h, host);
                e.insert("host".into(), Value::Object(h));
            }
            Action::Docker(d) => d.run(e),
            Action::Dissect(d) => d.run(e),
            Action::Cloud(c) => c.run(e),
            Action::Kubernetes(k) => k.run(e),
        }
        Outcome::Keep
    }
}

pub fn run_all(ps: &[Processor], e: &mut Fields) -> Outcome {
    for p in ps {
        if p.run(e) == Outcome::Drop {
            return Outcome::Drop;
        }
    }
    Outcome::Keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn procs(yaml: &str) -> Vec<Processor> {
        let v = crate::config::parse_yaml(yaml).unwrap();
        parse_list("processors", v.get("processors")).unwrap()
    }

    fn event(v: Value) -> Fields {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn drop_with_conditions() {
        let ps = procs(
            "processors:\n  - drop_event:\n      when:\n        or:\n          - regexp: {message: '^DEBUG'}\n          - and:\n              - equals: {log.level: info}\n              - not: {has_fields: ['error.message']}\n          - range: {http.code.gte: 500}\n",
        );
        assert_eq!(
            run_all(&ps, &mut event(json!({"message": "DEBUG x"}))),
            Outcome::Drop
        );
        assert_eq!(
            run_all(
                &ps,
                &mut event(json!({"message": "x", "log": {"level": "info"}}))
            ),
            Outcome::Drop
        );
        assert_eq!(
            run_all(
                &ps,
                &mut event(
                    json!({"message": "x", "log": {"level": "info"}, "error": {"message": "e"}})
                )
            ),
            Outcome::Keep
        );
        assert_eq!(
            run_all(
                &ps,
                &mut event(json!({"message": "x", "http": {"code": 503}}))
            ),
            Outcome::Drop
        );
        assert_eq!(
            run_all(
                &ps,
                &mut event(json!({"message": "x", "http": {"code": 200}}))
            ),
            Outcome::Keep
        );
    }

    #[test]
    fn field_processors() {
        let ps = procs(
            "processors:\n  - add_fields: {target: project, fields: {name: demo, id: 7}}\n  - add_tags: {tags: [web]}\n  - rename: {fields: [{from: a, to: b.c}]}\n  - decode_json_fields: {fields: [message], target: json}\n  - drop_fields: {fields: [x]}\n",
        );
        let mut e = event(json!({"message": "{\"k\":1}", "a": 1, "x": 2}));
        assert_eq!(run_all(&ps, &mut e), Outcome::Keep);
        assert_eq!(
            Value::Object(e),
            json!({"message": "{\"k\":1}", "project": {"name": "demo", "id": 7}, "tags": ["web"], "b": {"c": 1}, "json": {"k": 1}})
        );
    }

    #[test]
    fn unknown_processor_is_an_error() {
        let v = crate::config::parse_yaml("processors:\n  - frobnicate: {}\n").unwrap();
        let e = parse_list("processors", v.get("processors"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("processors.0.frobnicate") && e.contains("unknown processor"),
            "{e}"
        );
    }
}
