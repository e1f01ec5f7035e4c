//! What an index was given besides documents: its settings as Elasticsearch shows them (flat
//! `index.*` keys, string values), its aliases, whether it is closed. Persisted in `meta.json`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{parse_settings, Index};
use crate::error::{tv, EsError};

#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub settings: BTreeMap<String, Value>,
    pub aliases: Map<String, Value>,
    #[serde(default)]
    pub closed: bool,
}

/// Nested keys flattened with dots, values as given (cluster settings).
pub fn flatten_plain(v: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, x, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", v, &mut out);
    out
}

/// `{"index": {"number_of_shards": 1}}`, `{"number_of_shards": "1"}` and
/// `{"index.number_of_shards": 1}` all become `index.number_of_shards = "1"`.
pub fn flatten(settings: &Value) -> BTreeMap<String, Value> {
    flatten_plain(settings)
        .into_iter()
        .map(|(k, v)| {
            let key = if k.starts_with("index.") {
                k
            } else {
                format!("index.{k}")
            };
            let val = match v {
                Value::String(_) | Value::Null => v,
                Value::Array(a) => Value::Array(
                    a.into_iter()
                        .map(|x| match x {
                            Value::String(_) => x,
                            o => Value::String(o.to_string()),
                        })
                        .collect(),
                ),
                o => Value::String(o.to_string()),
            };
            (key, val)
        })
        .collect()
}

/// Flat keys back into nested objects (`index.a.b` → `{"index": {"a": {"b": ...}}}`).
pub fn nest(flat: &BTreeMap<String, Value>) -> Value {
    let mut root = Map::new();
    for (k, v) in flat {
        let mut cur = &mut root;
        let parts: Vec<&str> = k.split('.').collect();
        for (i, p) in parts.iter().enumerate() {
            if i + 1 == parts.len() {
                cur.insert(p.to_string(), v.clone());
            } else {
                let e = cur.entry(p.to_string()).or_insert_with(|| json!({}));
                if !e.is_object() {
                    *e = json!({});
                }
                let Value::Object(next) = e else { break };
                cur = next;
            }
        }
    }
    Value::Object(root)
}

impl Index {
    pub fn meta(&self) -> Meta {
        self.meta.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn save_meta(&self, m: &Meta) -> Result<(), EsError> {
        let text = serde_json::to_string(m).map_err(tv)?;
        std::fs::write(self.dir.join("meta.json"), text).map_err(tv)
    }

    /// Applies an index settings body (validated first); persisted with the index.
    pub fn update_settings(&self, body: &Value) -> Result<(), EsError> {
        let body = body.get("settings").unwrap_or(body);
        let new = parse_settings(body)?;
        let flat = flatten(body);
        for k in flat.keys() {
            if matches!(
                k.as_str(),
                "index.number_of_shards"
                    | "index.uuid"
                    | "index.creation_date"
                    | "index.provided_name"
            ) && self.doc_count() > 0
            {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!("final {} setting [{k}], not updateable", self.name),
                ));
            }
        }
        {
            let mut s = self.settings.lock().unwrap_or_else(|p| p.into_inner());
            if new.refresh_interval.is_some() {
                s.refresh_interval = new.refresh_interval;
            }
            if flat.contains_key("index.max_result_window") {
                s.max_result_window = new.max_result_window;
            }
            if flat.contains_key("index.mapping.total_fields.limit") {
                s.total_fields_limit = new.total_fields_limit;
            }
        }
        let mut m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        for (k, v) in flat {
            if v.is_null() {
                m.settings.remove(&k);
            } else {
                m.settings.insert(k, v);
            }
        }
        self.save_meta(&m)
    }

    /// Settings as `GET /{index}/_settings` shows them; `flat` as `?flat_settings=true`.
    pub fn settings_json(&self, flat: bool) -> Value {
        let mut all = self.meta().settings;
        for (k, v) in [
            ("index.number_of_shards", "1".to_string()),
            ("index.number_of_replicas", "1".to_string()),
        ] {
            all.entry(k.to_string()).or_insert(Value::String(v));
        }
        all.insert("index.provided_name".into(), json!(self.name));
        all.insert(
            "index.creation_date".into(),
            json!(self.created.to_string()),
        );
        all.insert("index.uuid".into(), json!(self.uuid()));
        all.insert("index.version.created".into(), json!("136408027"));
        if flat {
            Value::Object(all.into_iter().collect())
        } else {
            nest(&all)
        }
    }

    /// A stable 22-character id, as Elasticsearch's index uuids look.
    pub fn uuid(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&self.name, self.created).hash(&mut h);
        let a = h.finish();
        self.created.hash(&mut h);
        let b = h.finish();
        let n = ((a as u128) << 64) | b as u128;
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..22)
            .map(|i| ALPHABET[((n >> (i * 6)) & 63) as usize] as char)
            .collect()
    }

    pub fn set_alias(&self, name: &str, def: Value) -> Result<(), EsError> {
        let mut m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        m.aliases.insert(name.to_string(), def);
        self.save_meta(&m)
    }

    pub fn remove_alias(&self, name: &str) -> Result<bool, EsError> {
        let mut m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        let had = m.aliases.remove(name).is_some();
        self.save_meta(&m)?;
        Ok(had)
    }

    pub fn set_closed(&self, closed: bool) -> Result<(), EsError> {
        let mut m = self.meta.lock().unwrap_or_else(|p| p.into_inner());
        m.closed = closed;
        self.save_meta(&m)
    }

    pub fn is_closed(&self) -> bool {
        self.meta.lock().unwrap_or_else(|p| p.into_inner()).closed
    }
}

/// An alias definition as given (`routing` sets both routings) in the shape `GET _alias` shows.
pub fn alias_def(v: &Value) -> Value {
    let mut out = Map::new();
    if let Some(f) = v.get("filter") {
        out.insert("filter".into(), f.clone());
    }
    let routing = v
        .get("routing")
        .map(|r| json!(r.as_str().map_or(r.to_string(), str::to_string)));
    if let Some(r) = v.get("index_routing").cloned().or(routing.clone()) {
        out.insert("index_routing".into(), r);
    }
    if let Some(r) = v.get("search_routing").cloned().or(routing) {
        out.insert("search_routing".into(), r);
    }
    for k in ["is_write_index", "is_hidden"] {
        if let Some(x) = v.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    Value::Object(out)
}
