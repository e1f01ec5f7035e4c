//! `logstash.yml` and `pipelines.yml`: YAML flattened to dotted keys (`pipeline: {workers: 2}` and
//! `pipeline.workers: 2` are the same setting), with `${VAR}` substitution in string values.

use std::path::Path;

use indexmap::IndexMap;
use serde_json::Value;

use crate::env;
use crate::error::ConfigError;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    values: IndexMap<String, Value>,
}

/// Settings rstash understands; anything else in a settings file is warned about.
pub const KNOWN: &[&str] = &[
    "node.name",
    "path.data",
    "path.config",
    "path.logs",
    "path.settings",
    "path.queue",
    "path.dead_letter_queue",
    "pipeline.id",
    "pipeline.workers",
    "pipeline.batch.size",
    "pipeline.batch.delay",
    "pipeline.ordered",
    "pipeline.ecs_compatibility",
    "pipeline.unsafe_shutdown",
    "pipeline.separate_logs",
    "config.string",
    "config.test_and_exit",
    "config.reload.automatic",
    "config.reload.interval",
    "config.support_escapes",
    "config.field_reference.escape_style",
    "config.debug",
    "queue.type",
    "queue.page_capacity",
    "queue.max_bytes",
    "queue.max_events",
    "queue.checkpoint.acks",
    "queue.checkpoint.writes",
    "queue.checkpoint.retry",
    "queue.drain",
    "dead_letter_queue.enable",
    "dead_letter_queue.max_bytes",
    "dead_letter_queue.storage_policy",
    "dead_letter_queue.flush_interval",
    "api.enabled",
    "api.http.host",
    "api.http.port",
    "api.environment",
    "http.enabled",
    "http.host",
    "http.port",
    "log.progress.interval",
    "log.level",
    "log.format",
];

impl Settings {
    pub fn new() -> Settings {
        Settings::default()
    }

    pub fn from_yaml(name: &str, text: &str) -> Result<Settings, ConfigError> {
        let v: Value = parse_yaml(name, text)?;
        let mut s = Settings::new();
        match v {
            Value::Object(_) => flatten("", v, &mut s.values),
            Value::Null => {}
            _ => {
                return Err(ConfigError::plain(format!(
                    "{name}: expected a mapping of settings"
                )))
            }
        }
        s.substitute(name)?;
        Ok(s)
    }

    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::plain(format!("cannot read {}: {e}", path.display())))?;
        Settings::from_yaml(&path.display().to_string(), &text)
    }

    fn substitute(&mut self, name: &str) -> Result<(), ConfigError> {
        for (k, v) in self.values.iter_mut() {
            if let Value::String(s) = v {
                let r = env::substitute(s)
                    .map_err(|e| ConfigError::plain(format!("{name}: {k}: {e}")))?;
                *s = r.into_owned();
            }
        }
        Ok(())
    }

    pub fn set(&mut self, key: &str, v: Value) {
        self.values.insert(key.to_string(), v);
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.values.contains_key(key)
    }

    /// `other`'s values win.
    pub fn merged(&self, other: &Settings) -> Settings {
        let mut s = self.clone();
        for (k, v) in &other.values {
            s.values.insert(k.clone(), v.clone());
        }
        s
    }

    pub fn unknown_keys(&self) -> Vec<&str> {
        self.values
            .keys()
            .map(String::as_str)
            .filter(|k| !KNOWN.contains(k))
            .collect()
    }

    pub fn string(&self, key: &str) -> Option<String> {
        match self.values.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>, ConfigError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(Value::String(s)) if s.trim().parse::<u64>().is_ok() => Ok(s.trim().parse().ok()),
            Some(other) => Err(ConfigError::plain(format!(
                "setting `{key}` must be a whole number, got {other}"
            ))),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.values.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(Some(s == "true")),
            Some(other) => Err(ConfigError::plain(format!(
                "setting `{key}` must be true or false, got {other}"
            ))),
        }
    }
}

fn parse_yaml(name: &str, text: &str) -> Result<Value, ConfigError> {
    if text.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_saphyr::from_str(text)
        .map_err(|e| ConfigError::plain(format!("{name}: invalid YAML: {e}")))
}

fn flatten(prefix: &str, v: Value, out: &mut IndexMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other);
        }
    }
}

/// `pipelines.yml`: a list of pipeline settings, each with a `pipeline.id`.
pub fn load_pipelines(path: &Path) -> Result<Vec<Settings>, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::plain(format!("cannot read {name}: {e}")))?;
    pipelines_from_yaml(&name, &text)
}

pub fn pipelines_from_yaml(name: &str, text: &str) -> Result<Vec<Settings>, ConfigError> {
    let items = match parse_yaml(name, text)? {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        _ => {
            return Err(ConfigError::plain(format!(
                "{name}: expected a list of pipelines"
            )))
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let mut s = Settings::new();
        match item {
            Value::Object(_) => flatten("", item, &mut s.values),
            _ => {
                return Err(ConfigError::plain(format!(
                    "{name}: pipeline #{} is not a mapping",
                    i + 1
                )))
            }
        }
        s.substitute(name)?;
        let Some(id) = s.string("pipeline.id") else {
            return Err(ConfigError::plain(format!(
                "{name}: pipeline #{} has no pipeline.id",
                i + 1
            )));
        };
        if out
            .iter()
            .any(|o: &Settings| o.string("pipeline.id").as_deref() == Some(&id))
        {
            return Err(ConfigError::plain(format!(
                "{name}: pipeline.id `{id}` is used twice"
            )));
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattened_both_ways() {
        let s = Settings::from_yaml(
            "l.yml",
            "pipeline:\n  workers: 3\npipeline.batch.size: 50\nlog.level: debug\n",
        )
        .unwrap();
        assert_eq!(s.u64("pipeline.workers").unwrap(), Some(3));
        assert_eq!(s.u64("pipeline.batch.size").unwrap(), Some(50));
        assert_eq!(s.string("log.level").as_deref(), Some("debug"));
        assert!(s.unknown_keys().is_empty());
    }

    #[test]
    fn pipelines() {
        let p = pipelines_from_yaml(
            "p.yml",
            "- pipeline.id: a\n  config.string: \"input { stdin {} }\"\n- pipeline.id: b\n  path.config: /x/*.conf\n  pipeline.workers: 1\n",
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].u64("pipeline.workers").unwrap(), Some(1));
        assert!(pipelines_from_yaml("p.yml", "- pipeline.id: a\n- pipeline.id: a\n").is_err());
        assert!(pipelines_from_yaml("p.yml", "- path.config: x\n").is_err());
    }
}
