//! The `kubernetes.*` fields Filebeat derives from a pod (and its node, namespace and
//! controllers), and the indexers that file them under the keys matchers look up.

use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::{self, Fields};

/// Which labels and annotations of an object become fields, and how their keys are written.
pub struct Conf {
    include_labels: Vec<String>,
    exclude_labels: Vec<String>,
    include_annotations: Vec<String>,
    /// `use_regex`: include lists are regular expressions, not exact keys.
    regexes: Option<(Vec<regex::Regex>, Vec<regex::Regex>)>,
    labels_dedot: bool,
    annotations_dedot: bool,
}

impl Conf {
    pub fn parse(s: &Section) -> Result<Conf, ConfigError> {
        let use_regex = s.bool("use_regex", false)?;
        Ok(Conf {
            regexes: if use_regex {
                Some((
                    s.regexes("include_labels")?,
                    s.regexes("include_annotations")?,
                ))
            } else {
                None
            },
            include_labels: s.strings("include_labels")?,
            exclude_labels: s.strings("exclude_labels")?,
            include_annotations: s.strings("include_annotations")?,
            labels_dedot: s.section("labels")?.bool("dedot", true)?,
            annotations_dedot: s.section("annotations")?.bool("dedot", true)?,
        })
    }

    fn labels(&self, obj: &Value) -> Fields {
        let keep = |k: &str| match &self.regexes {
            _ if self.include_labels.is_empty() => true,
            Some((r, _)) => r.iter().any(|r| r.is_match(k)),
            None => self.include_labels.iter().any(|i| i == k),
        };
        let mut out = map_of(&obj["metadata"]["labels"], keep, self.labels_dedot);
        for k in &self.exclude_labels {
            out.remove(k);
        }
        out
    }

    fn annotations(&self, obj: &Value) -> Fields {
        let keep = |k: &str| match &self.regexes {
            Some((_, r)) => r.iter().any(|r| r.is_match(k)),
            None => self.include_annotations.iter().any(|i| i == k),
        };
        map_of(
            &obj["metadata"]["annotations"],
            keep,
            self.annotations_dedot,
        )
    }

    /// The fields every kind of object gets: `<kind>.{name,uid}`, namespace, controllers,
    /// labels, annotations.
    fn resource(&self, kind: &str, obj: &Value) -> Fields {
        let md = &obj["metadata"];
        let mut out = Fields::new();
        let mut me = Fields::new();
        me.insert("name".into(), text(&md["name"]));
        me.insert("uid".into(), text(&md["uid"]));
        out.insert(kind.into(), Value::Object(me));
        if let Some(ns) = md["namespace"].as_str().filter(|n| !n.is_empty()) {
            out.insert("namespace".into(), Value::String(ns.into()));
        }
        for r in md["ownerReferences"].as_array().into_iter().flatten() {
            if r["controller"].as_bool() != Some(true) {
                continue;
            }
            let kind = r["kind"].as_str().unwrap_or_default();
            if matches!(
                kind,
                "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob"
            ) {
                let path = format!("{}.name", kind.to_lowercase());
                fields::put(&mut out, &path, text(&r["name"]));
            }
        }
        let labels = self.labels(obj);
        if !labels.is_empty() {
            out.insert("labels".into(), Value::Object(labels));
        }
        let annotations = self.annotations(obj);
        if !annotations.is_empty() {
            out.insert("annotations".into(), Value::Object(annotations));
        }
        out
    }
}

fn text(v: &Value) -> Value {
    Value::String(v.as_str().unwrap_or_default().to_string())
}

/// A label or annotation map as fields: dots become `_` (dedot), or the key is a path whose
/// clashes keep both values (`a: x` and `a.b: y` → `a: {value: x, b: y}`), as Filebeat's.
fn map_of(v: &Value, keep: impl Fn(&str) -> bool, dedot: bool) -> Fields {
    let mut out = Fields::new();
    let mut keys: Vec<(&String, &Value)> = v.as_object().into_iter().flatten().collect();
    keys.sort_by_key(|(k, _)| *k);
    for (k, v) in keys.into_iter().filter(|(k, _)| keep(k)) {
        let v = text(v);
        if dedot {
            out.insert(k.replace('.', "_"), v);
            continue;
        }
        let mut cur = &mut out;
        let mut parts = k.split('.').peekable();
        while let Some(p) = parts.next() {
            if parts.peek().is_none() {
                match cur.get_mut(p) {
                    Some(Value::Object(m)) => {
                        m.insert("value".into(), v);
                    }
                    _ => {
                        cur.insert(p.into(), v);
                    }
                }
                break;
            }
            let slot = cur
                .entry(p.to_string())
                .or_insert_with(|| Value::Object(Fields::new()));
            if !slot.is_object() {
                let old = slot.take();
                *slot = Value::Object(Fields::from_iter([("value".to_string(), old)]));
            }
            let Value::Object(next) = slot else { break };
            cur = next;
        }
    }
    out
}

/// What a pod's metadata draws on besides the pod, fetched by name (None: not known).
pub trait Related {
    fn node(&mut self, name: &str) -> Option<Value>;
    fn namespace(&mut self, name: &str) -> Option<Value>;
    /// The owner of a ReplicaSet or a Job (`apps/v1` or `batch/v1`), by kind.
    fn controller_of(&mut self, kind: &str, namespace: &str, name: &str) -> Option<String>;
}

/// Whose metadata is added besides the pod's (`add_resource_metadata`).
pub struct Resources {
    pub node: Option<Conf>,
    pub namespace: Option<Conf>,
    pub deployment: bool,
    pub cronjob: bool,
}

/// The `kubernetes` object for a pod, without container fields.
pub fn pod(conf: &Conf, res: &Resources, pod: &Value, rel: &mut dyn Related) -> Fields {
    let mut out = conf.resource("pod", pod);
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    if let Some(ns_conf) = &res.namespace {
        if let Some(obj) = rel.namespace(ns) {
            // Flattened as Filebeat does: namespace, namespace_uid, namespace_labels, ...
            let m = ns_conf.resource("namespace", &obj);
            out.insert("namespace_uid".into(), text(&obj["metadata"]["uid"]));
            for key in ["labels", "annotations"] {
                if let Some(v) = m.get(key) {
                    out.insert(format!("namespace_{key}"), v.clone());
                }
            }
        }
    }
    for (kind, owner, on, field) in [
        (
            "ReplicaSet",
            "Deployment",
            res.deployment,
            "replicaset.name",
        ),
        ("Job", "CronJob", res.cronjob, "job.name"),
    ] {
        let Some(name) = fields::get(&out, field).and_then(Value::as_str) else {
            continue;
        };
        if let Some(owner_name) = on.then(|| rel.controller_of(kind, ns, name)).flatten() {
            fields::put(
                &mut out,
                &format!("{}.name", owner.to_lowercase()),
                Value::String(owner_name),
            );
        }
    }
    let node_name = pod["spec"]["nodeName"].as_str().unwrap_or_default();
    let node = res.node.as_ref().and_then(|c| {
        let obj = rel.node(node_name)?;
        let mut m = c.resource("node", &obj);
        let mut node = match m.remove("node") {
            Some(Value::Object(n)) => n,
            _ => Fields::new(),
        };
        for key in ["labels", "annotations"] {
            if let Some(v) = m.remove(key) {
                node.insert(key.into(), v);
            }
        }
        let hostname = obj["status"]["addresses"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["type"].as_str() == Some("Hostname"));
        if let Some(h) = hostname {
            node.insert("hostname".into(), text(&h["address"]));
        }
        Some(node)
    });
    let node = node.unwrap_or_else(|| {
        Fields::from_iter([("name".to_string(), Value::String(node_name.into()))])
    });
    out.insert("node".into(), Value::Object(node));
    if let Some(ip) = pod["status"]["podIP"].as_str().filter(|i| !i.is_empty()) {
        fields::put(&mut out, "pod.ip", Value::String(ip.into()));
    }
    out
}

/// `containerd://abc…` → (`abc…`, `containerd`).
fn container_id(status: &Value) -> Option<(String, String)> {
    let full = status["containerID"].as_str()?;
    let (runtime, id) = full.split_once("://")?;
    (!id.is_empty()).then(|| (id.to_string(), runtime.to_string()))
}

fn with_container(meta: &Fields, name: &str, image: &str, id: &str, runtime: &str) -> Fields {
    let mut m = meta.clone();
    let c = Fields::from_iter(
        [
            ("name", name),
            ("image", image),
            ("id", id),
            ("runtime", runtime),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), Value::String(v.to_string()))),
    );
    m.insert("container".into(), Value::Object(c));
    m
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Indexer {
    Container,
    PodUid,
    PodName,
    IpPort,
}

impl Indexer {
    pub fn named(name: &str) -> Option<Indexer> {
        Some(match name {
            "container" => Indexer::Container,
            "pod_uid" => Indexer::PodUid,
            "pod_name" => Indexer::PodName,
            "ip_port" => Indexer::IpPort,
            _ => return None,
        })
    }

    /// The keys this indexer files a pod under, each with the metadata an event matched by it gets.
    pub fn index(self, pod: &Value, meta: &Fields, out: &mut Vec<(String, Fields)>) {
        let statuses = || {
            let st = &pod["status"];
            st["containerStatuses"]
                .as_array()
                .into_iter()
                .chain(st["initContainerStatuses"].as_array())
                .flatten()
        };
        let md = &pod["metadata"];
        match self {
            Indexer::Container => {
                for s in statuses() {
                    let Some((id, runtime)) = container_id(s) else {
                        continue;
                    };
                    let name = s["name"].as_str().unwrap_or_default();
                    let image = s["image"].as_str().unwrap_or_default();
                    let m = with_container(meta, name, image, &id, &runtime);
                    out.push((id, m));
                }
            }
            Indexer::PodUid => {
                out.push((md["uid"].as_str().unwrap_or_default().into(), meta.clone()));
            }
            Indexer::PodName => {
                let key = format!(
                    "{}/{}",
                    md["namespace"].as_str().unwrap_or_default(),
                    md["name"].as_str().unwrap_or_default()
                );
                out.push((key, meta.clone()));
            }
            Indexer::IpPort => {
                let Some(ip) = pod["status"]["podIP"].as_str().filter(|i| !i.is_empty()) else {
                    return;
                };
                out.push((ip.to_string(), meta.clone()));
                for c in pod["spec"]["containers"].as_array().into_iter().flatten() {
                    let name = c["name"].as_str().unwrap_or_default();
                    let (id, runtime) = statuses()
                        .find(|s| s["name"].as_str() == Some(name))
                        .and_then(container_id)
                        .unwrap_or_default();
                    for p in c["ports"].as_array().into_iter().flatten() {
                        let Some(port) = p["containerPort"].as_i64().filter(|p| *p != 0) else {
                            continue;
                        };
                        let image = c["image"].as_str().unwrap_or_default();
                        let m = with_container(meta, name, image, &id, &runtime);
                        out.push((format!("{ip}:{port}"), m));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_dedotted_or_nested_with_clashes_kept() {
        let labels = serde_json::json!({"app": "web", "app.kubernetes.io/name": "shop", "tier": "a", "tier.x": "b"});
        let all = |_: &str| true;
        assert_eq!(
            Value::Object(map_of(&labels, all, true)),
            serde_json::json!({"app": "web", "app_kubernetes_io/name": "shop", "tier": "a", "tier_x": "b"})
        );
        assert_eq!(
            Value::Object(map_of(&labels, all, false)),
            serde_json::json!({"app": {"value": "web", "kubernetes": {"io/name": "shop"}}, "tier": {"value": "a", "x": "b"}})
        );
    }
}
