//! filebeat.yml: loaded as YAML, dotted keys expanded into nested maps (as Beats' config library
//! does, so `output.logstash.hosts: [..]` and the nested form mean the same), `-E key=value`
//! overrides applied on top, `${VAR}` references resolved (`vars`), then read into typed settings. Unknown keys are warnings naming
//! their path; a wrong type is an error naming its path and what was expected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn err(path: &str, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("setting `{path}`: {msg}"))
}

/// Reads the YAML file, expands dotted keys and applies `-E` overrides.
pub fn load(path: &Path, overrides: &[String]) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let mut root =
        parse_yaml(&text).map_err(|e| ConfigError(format!("{}: {e}", path.display())))?;
    for o in overrides {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| ConfigError(format!("-E {o}: expected key=value")))?;
        let v = parse_yaml(v).unwrap_or_else(|_| Value::String(v.to_string()));
        insert_path(&mut root, k.trim(), v);
    }
    crate::vars::resolve(&mut root)?;
    Ok(root)
}

pub fn parse_yaml(text: &str) -> Result<Value, String> {
    let v: Value = if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())?
    };
    Ok(expand(v))
}

/// `{"a.b": 1}` → `{"a": {"b": 1}}`, recursively, merging with what is there.
fn expand(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Value::Object(Map::new());
            for (k, v) in m {
                insert_path(&mut out, &k, expand(v));
            }
            out
        }
        Value::Array(a) => Value::Array(a.into_iter().map(expand).collect()),
        other => other,
    }
}

fn insert_path(root: &mut Value, path: &str, v: Value) {
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, p) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(m) = cur else { return };
        if i == parts.len() - 1 {
            match (m.get_mut(*p), v) {
                (Some(Value::Object(old)), Value::Object(new)) => {
                    for (k, v) in new {
                        old.insert(k, v);
                    }
                }
                (_, v) => {
                    m.insert(p.to_string(), v);
                }
            }
            return;
        }
        cur = m
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// A view of one object in the config, remembering its path for messages and the keys read.
pub struct Section<'a> {
    pub path: String,
    map: Option<&'a Map<String, Value>>,
    known: std::cell::RefCell<Vec<&'static str>>,
}

impl<'a> Section<'a> {
    pub fn new(path: &str, v: Option<&'a Value>) -> Result<Section<'a>, ConfigError> {
        let map = match v {
            None | Some(Value::Null) => None,
            Some(Value::Object(m)) => Some(m),
            Some(other) => {
                return Err(err(
                    path,
                    format!("expected a mapping, got {}", kind(other)),
                ))
            }
        };
        Ok(Section {
            path: path.to_string(),
            map,
            known: Default::default(),
        })
    }

    pub fn exists(&self) -> bool {
        self.map.is_some()
    }

    fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn raw(&self, key: &'static str) -> Option<&'a Value> {
        self.known.borrow_mut().push(key);
        self.map.and_then(|m| m.get(key)).filter(|v| !v.is_null())
    }

    pub fn section(&self, key: &'static str) -> Result<Section<'a>, ConfigError> {
        Section::new(&self.key_path(key), self.raw(key))
    }

    pub fn string(&self, key: &'static str) -> Result<Option<String>, ConfigError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(Value::Bool(b)) => Ok(Some(b.to_string())),
            Some(v) => Err(err(
                &self.key_path(key),
                format!("expected a string, got {}", kind(v)),
            )),
        }
    }

    pub fn string_or(&self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        Ok(self.string(key)?.unwrap_or_else(|| default.to_string()))
    }

    pub fn bool(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) if s == "true" || s == "false" => Ok(s == "true"),
            Some(v) => Err(err(
                &self.key_path(key),
                format!("expected true or false, got {}", kind(v)),
            )),
        }
    }

    pub fn int(&self, key: &'static str, default: i64) -> Result<i64, ConfigError> {
        match self.raw(key) {
            None => Ok(default),
            Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64().unwrap_or(default)),
            Some(Value::String(s)) if s.parse::<i64>().is_ok() => Ok(s.parse().unwrap_or(default)),
            Some(v) => Err(err(
                &self.key_path(key),
                format!("expected an integer, got {}", kind(v)),
            )),
        }
    }

    /// A byte size as go-humanize reads it (`10KiB`, `20MiB`, `1MB`, `512`), or a number.
    pub fn byte_size(&self, key: &'static str, default: usize) -> Result<usize, ConfigError> {
        let bad = || err(&self.key_path(key), "expected a size like 10KiB");
        match self.raw(key) {
            None => Ok(default),
            Some(Value::Number(n)) => n.as_u64().map(|n| n as usize).ok_or_else(bad),
            Some(Value::String(t)) => {
                let t = t.trim();
                let split = t
                    .find(|c: char| !c.is_ascii_digit() && c != '.')
                    .unwrap_or(t.len());
                let n: f64 = t[..split].parse().map_err(|_| bad())?;
                let mult: f64 = match t[split..].trim().to_ascii_lowercase().as_str() {
                    "" | "b" => 1.0,
                    "kb" | "k" => 1e3,
                    "kib" | "ki" => 1024.0,
                    "mb" | "m" => 1e6,
                    "mib" | "mi" => 1048576.0,
                    "gb" | "g" => 1e9,
                    "gib" | "gi" => 1073741824.0,
                    _ => return Err(bad()),
                };
                Ok((n * mult) as usize)
            }
            Some(_) => Err(bad()),
        }
    }

    /// A Go duration (`10s`, `1m30s`, `250ms`) or a number of seconds; -1 or 0 stay as given.
    pub fn duration(
        &self,
        key: &'static str,
        default: Duration,
    ) -> Result<Option<Duration>, ConfigError> {
        match self.raw(key) {
            None => Ok((!default.is_zero()).then_some(default)),
            Some(Value::Number(n)) => {
                let secs = n.as_f64().unwrap_or(0.0);
                Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
            }
            Some(Value::String(s)) => parse_duration(s)
                .map_err(|e| err(&self.key_path(key), e))
                .map(|d| d.filter(|d| !d.is_zero())),
            Some(v) => Err(err(
                &self.key_path(key),
                format!("expected a duration like 10s, got {}", kind(v)),
            )),
        }
    }

    /// A string or a list of strings.
    pub fn strings(&self, key: &'static str) -> Result<Vec<String>, ConfigError> {
        match self.raw(key) {
            None => Ok(Vec::new()),
            Some(Value::String(s)) => Ok(vec![s.clone()]),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match v {
                    Value::String(s) => Ok(s.clone()),
                    Value::Number(n) => Ok(n.to_string()),
                    other => Err(err(
                        &format!("{}.{i}", self.key_path(key)),
                        format!("expected a string, got {}", kind(other)),
                    )),
                })
                .collect(),
            Some(v) => Err(err(
                &self.key_path(key),
                format!("expected a list of strings, got {}", kind(v)),
            )),
        }
    }

    pub fn regexes(&self, key: &'static str) -> Result<Vec<regex::Regex>, ConfigError> {
        self.strings(key)?
            .iter()
            .map(|s| regex::Regex::new(s).map_err(|e| err(&self.key_path(key), e)))
            .collect()
    }

    /// Warns about keys nobody read (typos, unsupported settings).
    pub fn warn_unknown(&self) {
        let Some(m) = self.map else { return };
        let known = self.known.borrow();
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                tracing::warn!("unknown setting `{}` ignored", self.key_path(k));
            }
        }
    }

    pub fn map(&self) -> Option<&'a Map<String, Value>> {
        self.map
    }
}

pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Go's `time.ParseDuration`: a sequence of decimal numbers with units ns, us, ms, s, m, h.
/// `-1`-style negatives mean "disabled" and give None.
pub fn parse_duration(s: &str) -> Result<Option<Duration>, String> {
    let s = s.trim();
    if s.starts_with('-') {
        return Ok(None);
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Ok(Some(Duration::from_secs_f64(secs)));
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration `{s}`"))?;
        let n: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration `{s}`"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("unknown unit `{u}` in duration `{s}`")),
        };
        total += n * scale;
        rest = &rest[unit_len..];
    }
    Ok(Some(Duration::from_secs_f64(total)))
}

/// `--path.home`, `--path.data` and the config file, as Beats resolves them.
pub struct Paths {
    pub data: PathBuf,
    pub config: PathBuf,
}

impl Paths {
    pub fn resolve(home: Option<&Path>, data: Option<&Path>, config: &Path) -> Paths {
        let home = home
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let data = data
            .map(Path::to_path_buf)
            .unwrap_or_else(|| home.join("data"));
        let config = if config.is_absolute() || config.exists() {
            config.to_path_buf()
        } else {
            home.join(config)
        };
        Paths { data, config }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_keys_and_overrides_merge() {
        let v = parse_yaml("output.logstash:\n  hosts: [\"a:1\"]\noutput.logstash.worker: 2\n")
            .unwrap();
        assert_eq!(v["output"]["logstash"]["hosts"][0], "a:1");
        assert_eq!(v["output"]["logstash"]["worker"], 2);
        let mut v = v;
        insert_path(&mut v, "output.logstash.enabled", Value::Bool(false));
        assert_eq!(v["output"]["logstash"]["enabled"], false);
        assert_eq!(v["output"]["logstash"]["worker"], 2);
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            parse_duration("1m30s").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_duration("250ms").unwrap(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("10").unwrap(), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("-1").unwrap(), None);
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn wrong_types_name_their_path() {
        let v = parse_yaml("queue.mem.events: lots\n").unwrap();
        let root = Section::new("", Some(&v)).unwrap();
        let q = root.section("queue").unwrap().section("mem").unwrap();
        let e = q.int("events", 3200).unwrap_err().to_string();
        assert_eq!(
            e,
            "setting `queue.mem.events`: expected an integer, got a string"
        );
    }
}
