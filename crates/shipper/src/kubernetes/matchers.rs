//! Matchers: the keys an event is looked up under (`logs_path`, `fields`, `field_format`).

use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::{self, Fields};

/// Docker's container ids are 64 hex digits.
const ID_LEN: usize = 64;
const CONTAINERS: &str = "/var/log/containers/";
const PODS: &str = "/var/log/pods/";
const KUBELET_PODS: &str = "/var/lib/kubelet/pods/";

pub enum Matcher {
    /// `logs_path`: the container id (or pod uid) in `log.file.path`.
    LogsPath { prefix: String, pod: bool },
    /// `fields`: the first of `lookup_fields` the event has, or what `regex_pattern`'s `key`
    /// group takes from it.
    Fields {
        lookup: Vec<String>,
        pattern: Option<regex::Regex>,
    },
    /// `field_format`: a key built from several fields, `%{[a]}:%{[b]}`.
    Format(Vec<Part>),
}

pub enum Part {
    Text(String),
    Field(String),
}

impl Matcher {
    pub fn parse(path: &str, name: &str, s: &Section) -> Result<Matcher, ConfigError> {
        let m = match name {
            "logs_path" => {
                let given = s.string("logs_path")?;
                let kind = s.string("resource_type")?;
                if let Some(kind) = &kind {
                    let valid = match kind.as_str() {
                        "pod" => [PODS, KUBELET_PODS].contains(&given.as_deref().unwrap_or_default()),
                        "container" => given.as_deref() == Some(CONTAINERS),
                        _ => {
                            return Err(ConfigError(format!(
                                "setting `{path}.resource_type`: invalid resource_type {kind}, valid values include `pod`, `container`"
                            )))
                        }
                    };
                    if !valid {
                        return Err(ConfigError(format!(
                            "setting `{path}.logs_path`: not valid for resource_type {kind} (pod: `{PODS}` or `{KUBELET_PODS}`; container: `{CONTAINERS}`)"
                        )));
                    }
                }
                let mut prefix = given.unwrap_or_else(|| "/var/lib/docker/containers/".into());
                if !prefix.ends_with('/') {
                    prefix.push('/');
                }
                Matcher::LogsPath {
                    prefix,
                    pod: kind.as_deref() == Some("pod"),
                }
            }
            "fields" => Matcher::Fields {
                lookup: s.strings("lookup_fields")?,
                pattern: match s.string("regex_pattern")? {
                    None => None,
                    Some(p) => {
                        let r = regex::Regex::new(&p).map_err(|e| {
                            ConfigError(format!("setting `{path}.regex_pattern`: {e}"))
                        })?;
                        if !r.capture_names().any(|n| n == Some("key")) {
                            return Err(ConfigError(format!(
                                "setting `{path}.regex_pattern`: needs a capture group named `key`, as `(?P<key>...)`"
                            )));
                        }
                        Some(r)
                    }
                },
            },
            "field_format" => {
                let format = s.string("format")?.ok_or_else(|| {
                    ConfigError(format!("setting `{path}.format`: required, e.g. `%{{[destination.ip]}}:%{{[destination.port]}}`"))
                })?;
                Matcher::Format(parse_format(&format))
            }
            other => {
                return Err(ConfigError(format!(
                    "setting `{path}`: unknown matcher `{other}` (logs_path, fields, field_format)"
                )))
            }
        };
        s.warn_unknown();
        Ok(m)
    }

    pub fn candidates(&self, e: &Fields) -> Vec<String> {
        match self {
            Matcher::LogsPath { prefix, pod } => fields::get(e, "log.file.path")
                .and_then(Value::as_str)
                .map(|p| from_path(prefix, *pod, p))
                .unwrap_or_default(),
            Matcher::Fields { lookup, pattern } => {
                let found = lookup.iter().find_map(|f| match fields::get(e, f)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                });
                let key = match (found, pattern) {
                    (Some(v), Some(r)) => r
                        .captures(&v)
                        .and_then(|c| Some(c.name("key")?.as_str().to_string())),
                    (v, None) => v,
                    (None, _) => None,
                };
                key.into_iter().collect()
            }
            Matcher::Format(parts) => {
                let mut key = String::new();
                for p in parts {
                    match p {
                        Part::Text(t) => key.push_str(t),
                        Part::Field(f) => match fields::get(e, f) {
                            Some(Value::String(s)) => key.push_str(s),
                            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                                key.push_str(&v.to_string())
                            }
                            _ => return Vec::new(),
                        },
                    }
                }
                vec![key]
            }
        }
    }
}

/// Filebeat's rules: `/var/log/containers/<pod>_<ns>_<container>-<id>.log` ends in the id;
/// `/var/log/pods/<ns>_<pod>_<uid>/<container>/<n>.log` names the pod uid (resource_type pod);
/// `/var/lib/kubelet/pods/<uid>/...` too; anywhere else the id follows the prefix.
pub fn from_path(prefix: &str, pod: bool, path: &str) -> Vec<String> {
    if !path.starts_with(prefix) {
        return Vec::new();
    }
    if pod {
        let base = path.rsplit('/').next().unwrap_or_default();
        if !base.contains(".log") {
            return Vec::new();
        }
        let dirs: Vec<&str> = path.split('/').collect();
        if prefix.starts_with(KUBELET_PODS) {
            return dirs.get(5).map(|u| vec![u.to_string()]).unwrap_or_default();
        }
        if prefix.starts_with(PODS) {
            let parts: Vec<&str> = dirs
                .get(4)
                .map(|d| d.split('_').collect())
                .unwrap_or_default();
            if parts.len() > 2 {
                return vec![parts[parts.len() - 1].to_string()];
            }
        }
        tracing::debug!("add_kubernetes_metadata: no pod uid in {path}");
        return Vec::new();
    }
    if prefix.starts_with(CONTAINERS) && path.ends_with(".log") && path.len() >= ID_LEN + 4 {
        let end = path.len() - 4;
        return path
            .get(end - ID_LEN..end)
            .map(|id| vec![id.to_string()])
            .unwrap_or_default();
    }
    path.get(prefix.len()..prefix.len() + ID_LEN)
        .map(|id| vec![id.to_string()])
        .unwrap_or_default()
}

fn parse_format(f: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = f;
    while let Some(at) = rest.find("%{") {
        let Some(len) = rest[at..].find('}') else {
            break;
        };
        if at > 0 {
            parts.push(Part::Text(rest[..at].to_string()));
        }
        let inner = &rest[at + 2..at + len];
        let name = inner.trim_start_matches('[').trim_end_matches(']');
        parts.push(Part::Field(name.replace("][", ".")));
        rest = &rest[at + len + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, 64).collect()
    }

    #[test]
    fn container_ids_and_pod_uids_come_from_paths_as_in_filebeat() {
        let a = id('a');
        let docker = "/var/lib/docker/containers/";
        assert_eq!(
            from_path(docker, false, &format!("{docker}{a}/{a}-json.log")),
            [a.as_str()]
        );
        assert!(from_path(docker, false, "/var/lib/docker/containers/short/x.log").is_empty());
        assert!(from_path(docker, false, &format!("/elsewhere/{a}/x.log")).is_empty());
        let file = format!("{CONTAINERS}web-7d4b9-xk2p_shop_nginx-{a}.log");
        assert_eq!(from_path(CONTAINERS, false, &file), [a.as_str()]);
        let pods = "/var/log/pods/shop_web-7d4b9-xk2p_0b6f2c1e-uid/nginx/0.log";
        assert_eq!(from_path(PODS, true, pods), ["0b6f2c1e-uid"]);
        assert!(from_path(PODS, true, "/var/log/pods/shop_web_uid/nginx/").is_empty());
        let kubelet = "/var/lib/kubelet/pods/9f1e-uid/volumes/kubernetes.io~empty-dir/logs/app.log";
        assert_eq!(from_path(KUBELET_PODS, true, kubelet), ["9f1e-uid"]);
    }

    #[test]
    fn field_format_keys_need_every_field() {
        let m = Matcher::Format(parse_format("%{[destination.ip]}:%{[destination.port]}"));
        let e: Fields =
            serde_json::from_str(r#"{"destination":{"ip":"10.0.0.7","port":8080}}"#).unwrap();
        assert_eq!(m.candidates(&e), ["10.0.0.7:8080"]);
        let e: Fields = serde_json::from_str(r#"{"destination":{"ip":"10.0.0.7"}}"#).unwrap();
        assert!(m.candidates(&e).is_empty());
    }
}
