//! `add_kubernetes_metadata`, as Filebeat's: the pods of this node are listed from the API
//! server and filed under keys (indexers: container id by default); each event's key comes from
//! its fields (matchers: the container id in `log.file.path` by default) and the pod found adds
//! `kubernetes.*` and `container.{id,runtime,image.name}`. Outside Kubernetes events pass
//! unchanged. Filebeat watches the API; rbeat lists again every `sync_period` and, at most every
//! two seconds, when an event names a key it does not know (a pod just started).

mod api;
mod matchers;
mod meta;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::{self, Fields};
use api::Api;
use matchers::Matcher;
use meta::{Indexer, Related, Resources};

/// The least time between two lists caused by unknown keys.
const MISS_RELIST: Duration = Duration::from_secs(2);
/// After the API could not be reached, how long events pass unannotated before it is asked
/// again: doubled after each failure up to RETRY_MAX, so an API server that hangs (each ask waits
/// out the client's timeout on the event path) costs a shrinking share of the time.
const RETRY: Duration = Duration::from_secs(10);
const RETRY_MAX: Duration = Duration::from_secs(300);

pub struct Kubernetes {
    kube_config: Option<String>,
    node: Option<String>,
    /// `scope: cluster`: every pod, not only this node's.
    cluster: bool,
    namespace: Option<String>,
    sync_period: Duration,
    cleanup_timeout: Duration,
    matchers: Vec<Matcher>,
    indexers: Vec<Indexer>,
    conf: meta::Conf,
    resources: Resources,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// None until first needed; Some(None) outside Kubernetes.
    api: Option<Option<Api>>,
    node: Option<String>,
    /// key → (metadata, last listed).
    cache: HashMap<String, (Arc<Found>, Instant)>,
    listed: Option<Instant>,
    failed: Option<Instant>,
    failures: u32,
}

impl Kubernetes {
    pub fn parse(path: &str, s: &Section) -> Result<Kubernetes, ConfigError> {
        let scope = s.string_or("scope", "node")?;
        if scope != "node" && scope != "cluster" {
            return Err(ConfigError(format!(
                "setting `{path}.scope`: invalid scope {scope}, valid values include `cluster`, `node`"
            )));
        }
        let mut matchers = Vec::new();
        for (i, (name, conf)) in plugins(path, s, "matchers")?.into_iter().enumerate() {
            let at = format!("{path}.matchers.{i}.{name}");
            matchers.push(Matcher::parse(
                &at,
                &name,
                &Section::new(&at, conf.as_ref())?,
            )?);
        }
        if s.section("default_matchers")?.bool("enabled", true)? {
            matchers.push(Matcher::parse(
                path,
                "logs_path",
                &Section::new(path, None)?,
            )?);
        }
        let mut indexers = Vec::new();
        for (i, (name, _)) in plugins(path, s, "indexers")?.into_iter().enumerate() {
            indexers.push(Indexer::named(&name).ok_or_else(|| {
                ConfigError(format!(
                    "setting `{path}.indexers.{i}`: unknown indexer `{name}` (container, pod_uid, pod_name, ip_port)"
                ))
            })?);
        }
        if s.section("default_indexers")?.bool("enabled", true)? {
            indexers.push(Indexer::Container);
        }
        let res = s.section("add_resource_metadata")?;
        let related = |key: &'static str| -> Result<Option<meta::Conf>, ConfigError> {
            let r = res.section(key)?;
            let on = r.bool("enabled", true)?;
            let conf = meta::Conf::parse(&r)?;
            r.warn_unknown();
            Ok(on.then_some(conf))
        };
        let resources = Resources {
            node: related("node")?,
            namespace: related("namespace")?,
            deployment: res.bool("deployment", true)?,
            cronjob: res.bool("cronjob", true)?,
        };
        res.warn_unknown();
        for ignored in [
            "in_cluster",
            "use_kubeadm",
            "kube_client_options",
            "wait_for_metadata",
            "wait_for_metadata_timeout",
            "wait_for_metadata_retry_period",
            "append_fields",
        ] {
            s.raw(ignored);
        }
        Ok(Kubernetes {
            kube_config: s.string("kube_config")?,
            // `host` is the setting's name before Filebeat 7.x.
            node: s
                .string("node")?
                .or(s.string("host")?)
                .filter(|n| !n.is_empty()),
            cluster: scope == "cluster",
            namespace: s.string("namespace")?.filter(|n| !n.is_empty()),
            sync_period: s
                .duration("sync_period", Duration::from_secs(600))?
                .unwrap_or(Duration::from_secs(600)),
            cleanup_timeout: s
                .duration("cleanup_timeout", Duration::from_secs(60))?
                .unwrap_or(Duration::from_secs(60)),
            matchers,
            indexers,
            conf: meta::Conf::parse(s)?,
            resources,
            state: Mutex::new(State::default()),
        })
    }

    pub fn run(&self, e: &mut Fields) {
        // An event that has Kubernetes metadata already keeps it.
        if e.contains_key("kubernetes") {
            return;
        }
        let keys: Vec<String> = self.matchers.iter().flat_map(|m| m.candidates(e)).collect();
        if keys.is_empty() {
            return;
        }
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let stale = st.listed.is_none_or(|t| t.elapsed() >= self.sync_period);
        let missing = !keys.iter().any(|k| st.cache.contains_key(k));
        let may_relist = st.listed.is_none_or(|t| t.elapsed() >= MISS_RELIST);
        if stale || (missing && may_relist) {
            self.relist(&mut st);
        }
        let Some(found) = keys.iter().find_map(|k| st.cache.get(k)) else {
            return;
        };
        let meta = found.0.clone();
        drop(st);
        meta.annotate(e);
    }

    /// Lists the pods again (unless the API failed recently); entries of pods no longer
    /// listed are kept for `cleanup_timeout`, so late lines of a deleted pod are still annotated.
    fn relist(&self, st: &mut State) {
        let backoff = RETRY
            .saturating_mul(1 << st.failures.saturating_sub(1).min(5))
            .min(RETRY_MAX);
        if st.failed.is_some_and(|t| t.elapsed() < backoff) {
            return;
        }
        let api = st.api.get_or_insert_with(|| match api::locate(self.kube_config.as_deref()) {
            None => {
                tracing::info!("add_kubernetes_metadata: not running in Kubernetes (no kube_config, no $KUBECONFIG, no in-cluster service); events pass unchanged");
                None
            }
            Some(Ok(api)) => Some(api),
            Some(Err(e)) => {
                tracing::warn!("add_kubernetes_metadata: {e}; events pass unchanged");
                None
            }
        });
        let Some(api) = api.as_ref() else {
            return;
        };
        let result = (|| {
            if st.node.is_none() && !self.cluster {
                st.node = Some(self.discover_node(api)?);
            }
            self.list(api, st.node.as_deref())
        })();
        match result {
            Ok(entries) => {
                let now = Instant::now();
                if st.failures > 0 {
                    tracing::info!("add_kubernetes_metadata: the API server answers again");
                }
                st.failures = 0;
                st.failed = None;
                st.listed = Some(now);
                for (k, m) in entries {
                    st.cache.insert(k, (Arc::new(Found::split(m)), now));
                }
                let keep = self.cleanup_timeout;
                st.cache
                    .retain(|_, (_, seen)| now.duration_since(*seen) <= keep);
            }
            Err(e) => {
                st.failures += 1;
                st.failed = Some(Instant::now());
                if st.failures == 1 {
                    tracing::warn!("add_kubernetes_metadata: {e}; events pass unannotated until the API server answers");
                } else {
                    tracing::debug!("add_kubernetes_metadata: {e}");
                }
            }
        }
    }

    /// The node whose pods are listed: `node`, else the node of the pod rbeat runs in, else
    /// `$NODE_NAME`, else the node whose machine id is this machine's, else the host name
    /// (Filebeat's order, with the DaemonSet manifest's variable).
    fn discover_node(&self, api: &Api) -> Result<String, String> {
        if let Some(n) = &self.node {
            return Ok(n.clone());
        }
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        if api.in_cluster {
            let ns = Api::own_namespace().unwrap_or_else(|| "default".into());
            let pod = std::env::var("HOSTNAME").unwrap_or_else(|_| host.clone());
            if let Some(p) = api.get(&format!("/api/v1/namespaces/{ns}/pods/{pod}"))? {
                if let Some(n) = p["spec"]["nodeName"].as_str() {
                    return Ok(n.to_string());
                }
            }
        }
        if let Ok(n) = std::env::var("NODE_NAME") {
            return Ok(n);
        }
        if let Ok(id) = std::fs::read_to_string("/etc/machine-id") {
            let nodes = api.get("/api/v1/nodes")?.unwrap_or(Value::Null);
            let node = nodes["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["status"]["nodeInfo"]["machineID"].as_str() == Some(id.trim()));
            if let Some(n) = node.and_then(|n| n["metadata"]["name"].as_str()) {
                return Ok(n.to_string());
            }
        }
        Ok(host)
    }

    fn list(&self, api: &Api, node: Option<&str>) -> Result<Vec<(String, Fields)>, String> {
        let mut path = match &self.namespace {
            Some(ns) => format!("/api/v1/namespaces/{}/pods", enc(ns)),
            None => "/api/v1/pods".to_string(),
        };
        if let Some(n) = node {
            path.push_str(&format!("?fieldSelector=spec.nodeName%3D{}", enc(n)));
        }
        let pods = api.get(&path)?.ok_or_else(|| format!("GET {path}: 404"))?;
        let mut rel = Fetched {
            api,
            objects: HashMap::new(),
        };
        let mut out = Vec::new();
        for pod in pods["items"].as_array().into_iter().flatten() {
            // A pod being deleted is not filed again (Filebeat drops it on that update).
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let m = meta::pod(&self.conf, &self.resources, pod, &mut rel);
            for ix in &self.indexers {
                ix.index(pod, &m, &mut out);
            }
        }
        Ok(out)
    }
}

fn plugins(
    path: &str,
    s: &Section,
    key: &'static str,
) -> Result<Vec<(String, Option<Value>)>, ConfigError> {
    let mut out = Vec::new();
    match s.raw(key) {
        None => {}
        Some(Value::Array(items)) => {
            for (i, it) in items.iter().enumerate() {
                let Value::Object(m) = it else {
                    return Err(ConfigError(format!(
                        "setting `{path}.{key}.{i}`: expected a mapping like `- container: ~`"
                    )));
                };
                out.extend(m.iter().map(|(k, v)| (k.clone(), Some(v.clone()))));
            }
        }
        Some(_) => {
            return Err(ConfigError(format!(
                "setting `{path}.{key}`: expected a list"
            )))
        }
    }
    Ok(out)
}

/// A name in a URL path or query: all but letters, digits, `-`, `.` and `_` escaped.
fn enc(s: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');
    utf8_percent_encode(s, NAME).to_string()
}

/// Nodes, namespaces and controllers asked for once per list.
struct Fetched<'a> {
    api: &'a Api,
    objects: HashMap<String, Option<Value>>,
}

impl Fetched<'_> {
    fn get(&mut self, path: String) -> Option<Value> {
        if let Some(v) = self.objects.get(&path) {
            return v.clone();
        }
        let v = self.api.get(&path).unwrap_or_else(|e| {
            tracing::debug!("add_kubernetes_metadata: {e}");
            None
        });
        self.objects.insert(path, v.clone());
        v
    }
}

impl Related for Fetched<'_> {
    fn node(&mut self, name: &str) -> Option<Value> {
        self.get(format!("/api/v1/nodes/{}", enc(name)))
    }

    fn namespace(&mut self, name: &str) -> Option<Value> {
        self.get(format!("/api/v1/namespaces/{}", enc(name)))
    }

    fn controller_of(&mut self, kind: &str, ns: &str, name: &str) -> Option<String> {
        let (group, plural) = if kind == "Job" {
            ("batch/v1", "jobs")
        } else {
            ("apps/v1", "replicasets")
        };
        let obj = self.get(format!(
            "/apis/{group}/namespaces/{}/{plural}/{}",
            enc(ns),
            enc(name)
        ))?;
        let owner = obj["metadata"]["ownerReferences"]
            .as_array()?
            .iter()
            .find(|r| r["controller"].as_bool() == Some(true))?;
        owner["name"].as_str().map(str::to_string)
    }
}

/// A pod's metadata as Filebeat adds it, split once when the pod is listed: the container's
/// id, runtime and image under the top-level `container` (ECS), its name and everything else
/// under `kubernetes`.
struct Found {
    kubernetes: Value,
    container: Option<Fields>,
}

impl Found {
    fn split(mut meta: Fields) -> Found {
        let container = match meta.get_mut("container") {
            Some(Value::Object(c)) => {
                let mut top = c.clone();
                top.remove("name");
                if let Some(image) = top.remove("image") {
                    top.insert(
                        "image".into(),
                        Value::Object(Fields::from_iter([("name".to_string(), image)])),
                    );
                }
                c.retain(|k, _| k == "name");
                Some(Fields::from_iter([(
                    "container".to_string(),
                    Value::Object(top),
                )]))
            }
            _ => None,
        };
        Found {
            kubernetes: Value::Object(meta),
            container,
        }
    }

    fn annotate(&self, e: &mut Fields) {
        if let Some(c) = &self.container {
            fields::merge(e, c);
        }
        e.insert("kubernetes".into(), self.kubernetes.clone());
    }
}
