//! Index templates, as Filebeat and Logstash install them before writing: legacy (`_template`),
//! composable (`_index_template`) and their component templates (`_component_template`).
//! A new index (created or auto-created) takes its settings, mappings and aliases from them: the
//! composable template of highest priority that matches, or else every matching legacy template
//! by `order`. Stored in `<path.data>/templates.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::RwLock;

use serde_json::{json, Map, Value};

use crate::error::{tv, EsError};
use crate::index::{alias_def, flatten, parse_settings};
use crate::mapping::Mapping;
use crate::store::wildcard;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Legacy,
    Composable,
    Component,
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Stored {
    legacy: BTreeMap<String, Value>,
    composable: BTreeMap<String, Value>,
    component: BTreeMap<String, Value>,
}

impl Stored {
    fn of(&self, k: Kind) -> &BTreeMap<String, Value> {
        match k {
            Kind::Legacy => &self.legacy,
            Kind::Composable => &self.composable,
            Kind::Component => &self.component,
        }
    }
    fn of_mut(&mut self, k: Kind) -> &mut BTreeMap<String, Value> {
        match k {
            Kind::Legacy => &mut self.legacy,
            Kind::Composable => &mut self.composable,
            Kind::Component => &mut self.component,
        }
    }
}

pub struct Templates {
    path: PathBuf,
    inner: RwLock<Stored>,
}

/// What templates give a new index.
#[derive(Default)]
pub struct Applied {
    pub settings: Map<String, Value>,
    pub mappings: Vec<Value>,
    pub aliases: Map<String, Value>,
}

fn invalid(reason: impl Into<String>) -> EsError {
    EsError::bad_request("action_request_validation_exception", reason)
}

fn patterns(body: &Value) -> Vec<String> {
    match body.get("index_patterns") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => vec![],
    }
}

/// The settings/mappings/aliases part of a template body, normalised as ES shows it.
fn normalise_part(part: &Value) -> Result<Map<String, Value>, EsError> {
    let mut out = Map::new();
    if let Some(s) = part.get("settings") {
        parse_settings(s)?;
        let flat: Map<String, Value> = flatten(s).into_iter().collect();
        out.insert("settings".into(), Value::Object(flat));
    }
    if let Some(m) = part.get("mappings") {
        Mapping::from_json(m)?;
        out.insert("mappings".into(), m.clone());
    }
    if let Some(Value::Object(a)) = part.get("aliases") {
        out.insert(
            "aliases".into(),
            Value::Object(a.iter().map(|(k, v)| (k.clone(), alias_def(v))).collect()),
        );
    }
    Ok(out)
}

impl Templates {
    pub fn open(dir: &std::path::Path) -> Templates {
        let path = dir.join("templates.json");
        let stored = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Templates {
            path,
            inner: RwLock::new(stored),
        }
    }

    fn save(&self, s: &Stored) -> Result<(), EsError> {
        let text = serde_json::to_vec(s).map_err(tv)?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, text).map_err(tv)?;
        std::fs::rename(&tmp, &self.path).map_err(tv)
    }

    /// Validates and stores a template; `create` refuses to replace one.
    pub fn put(&self, kind: Kind, name: &str, body: &Value, create: bool) -> Result<(), EsError> {
        let mut t = body
            .as_object()
            .cloned()
            .ok_or_else(|| invalid("Validation Failed: 1: template body must be an object;"))?;
        if kind != Kind::Component {
            let p = patterns(body);
            if p.is_empty() {
                return Err(invalid("Validation Failed: 1: index patterns are missing;"));
            }
            t.insert("index_patterns".into(), json!(p));
        }
        match kind {
            Kind::Legacy => {
                for (k, v) in normalise_part(body)? {
                    t.insert(k, v);
                }
                t.entry("order").or_insert(json!(0));
                t.entry("settings").or_insert(json!({}));
                t.entry("mappings").or_insert(json!({}));
                t.entry("aliases").or_insert(json!({}));
            }
            Kind::Composable | Kind::Component => {
                if let Some(part) = body.get("template") {
                    t.insert("template".into(), Value::Object(normalise_part(part)?));
                }
                if kind == Kind::Composable {
                    let missing: Vec<String> = t
                        .get("composed_of")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .filter(|c| !self.read().component.contains_key(*c))
                        .map(str::to_string)
                        .collect();
                    if !missing.is_empty() {
                        return Err(EsError::bad_request(
                            "invalid_index_template_exception",
                            format!("index_template [{name}] invalid, cause [index template [{name}] specifies component templates {missing:?} that do not exist]"),
                        ));
                    }
                }
            }
        }
        let mut s = self
            .inner
            .write()
            .map_err(|_| EsError::internal("templates poisoned"))?;
        if create && s.of(kind).contains_key(name) {
            return Err(EsError::bad_request(
                "illegal_argument_exception",
                format!("index_template [{name}] already exists"),
            ));
        }
        s.of_mut(kind).insert(name.to_string(), Value::Object(t));
        self.save(&s)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Stored> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Templates whose name matches `names` (comma list of names or wildcards; None = all).
    /// A concrete name that matches nothing is a 404.
    pub fn get(&self, kind: Kind, names: Option<&str>) -> Result<Vec<(String, Value)>, EsError> {
        let s = self.read();
        let all = s.of(kind);
        let Some(names) = names.filter(|n| !n.is_empty() && *n != "*" && *n != "_all") else {
            return Ok(all.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        };
        let mut out = Vec::new();
        for n in names.split(',') {
            let found: Vec<_> = all.iter().filter(|(k, _)| wildcard(n, k)).collect();
            if found.is_empty() && !n.contains('*') {
                return Err(missing(kind, n));
            }
            out.extend(found.into_iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(out)
    }

    pub fn delete(&self, kind: Kind, names: &str) -> Result<(), EsError> {
        let mut s = self
            .inner
            .write()
            .map_err(|_| EsError::internal("templates poisoned"))?;
        let map = s.of_mut(kind);
        let mut gone = 0;
        for n in names.split(',') {
            let keys: Vec<String> = map.keys().filter(|k| wildcard(n, k)).cloned().collect();
            if keys.is_empty() && !n.contains('*') {
                return Err(missing(kind, n));
            }
            for k in keys {
                map.remove(&k);
                gone += 1;
            }
        }
        if gone > 0 {
            self.save(&s)?;
        }
        Ok(())
    }

    /// What the templates give a new index named `index`.
    pub fn apply(&self, index: &str) -> Applied {
        let s = self.read();
        let matches = |t: &Value| patterns(t).iter().any(|p| wildcard(p, index));
        let mut out = Applied::default();
        let mut add = |part: &Value| {
            if let Some(Value::Object(st)) = part.get("settings") {
                out.settings.extend(st.clone());
            }
            if let Some(m) = part.get("mappings") {
                out.mappings.push(m.clone());
            }
            if let Some(Value::Object(a)) = part.get("aliases") {
                out.aliases.extend(a.clone());
            }
        };
        let best = s
            .composable
            .iter()
            .filter(|(_, t)| matches(t))
            .max_by_key(|(_, t)| t.get("priority").and_then(Value::as_i64).unwrap_or(0));
        if let Some((_, t)) = best {
            for c in t
                .get("composed_of")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(part) = c.as_str().and_then(|c| s.component.get(c)) {
                    add(part.get("template").unwrap_or(&Value::Null));
                }
            }
            add(t.get("template").unwrap_or(&Value::Null));
            return out;
        }
        let mut legacy: Vec<&Value> = s.legacy.values().filter(|t| matches(t)).collect();
        legacy.sort_by_key(|t| t.get("order").and_then(Value::as_i64).unwrap_or(0));
        for t in legacy {
            add(t);
        }
        out
    }
}

fn missing(kind: Kind, name: &str) -> EsError {
    match kind {
        Kind::Legacy => EsError::not_found(
            "index_template_missing_exception",
            format!("index_template [{name}] missing"),
        ),
        Kind::Composable => EsError::not_found(
            "resource_not_found_exception",
            format!("index template matching [{name}] not found"),
        ),
        Kind::Component => EsError::not_found(
            "resource_not_found_exception",
            format!("component template matching [{name}] not found"),
        ),
    }
}

/// A template as `GET` shows it: flat settings nested unless `flat`.
pub fn show(mut t: Value, flat: bool) -> Value {
    fn fix(part: &mut Value, flat: bool) {
        if flat {
            return;
        }
        if let Some(Value::Object(s)) = part.get("settings") {
            let map: BTreeMap<String, Value> = s.clone().into_iter().collect();
            part["settings"] = crate::index::nest_settings(&map);
        }
    }
    fix(&mut t, flat);
    if let Some(part) = t.get_mut("template") {
        fix(part, flat);
    }
    t
}
