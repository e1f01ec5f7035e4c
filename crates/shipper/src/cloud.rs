//! `add_cloud_metadata`, as Filebeat's: at start the metadata services of the hosting providers
//! are asked in parallel (`timeout`, 3 s by default); the first to answer gives every event its
//! `cloud.*` (an event that already has `cloud` keeps it unless `overwrite`). Nowhere to ask —
//! a machine outside a cloud — and events pass unchanged.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::{ConfigError, Section};
use crate::fields::Fields;

/// Where most providers serve their instance metadata (the link-local address).
const METADATA_HOST: &str = "169.254.169.254";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Provider {
    Aws,
    Gcp,
    Azure,
    DigitalOcean,
    OpenStack { https: bool },
    Hetzner,
    Alibaba,
    Tencent,
}

impl Provider {
    /// Where the provider's service answers, unless `host` says otherwise.
    fn default_host(self) -> &'static str {
        match self {
            Provider::Alibaba => "100.100.100.200",
            Provider::Tencent => "metadata.tencentyun.com",
            _ => METADATA_HOST,
        }
    }
}

/// Asked when no `providers` are configured: all but Alibaba's and Tencent's, whose services
/// are not on a link-local address (Filebeat's default too).
const DEFAULT: [Provider; 7] = [
    Provider::Aws,
    Provider::Gcp,
    Provider::Azure,
    Provider::DigitalOcean,
    Provider::OpenStack { https: false },
    Provider::OpenStack { https: true },
    Provider::Hetzner,
];

/// Filebeat's provider names and aliases (Huawei Cloud answers as OpenStack).
fn provider(name: &str) -> Option<Provider> {
    Some(match name {
        "aws" | "ec2" => Provider::Aws,
        "gcp" => Provider::Gcp,
        "azure" => Provider::Azure,
        "digitalocean" => Provider::DigitalOcean,
        "openstack" | "nova" | "huawei" => Provider::OpenStack { https: false },
        "openstack-ssl" | "nova-ssl" => Provider::OpenStack { https: true },
        "hetzner" => Provider::Hetzner,
        "alibaba" | "ecs" => Provider::Alibaba,
        "qcloud" | "tencent" => Provider::Tencent,
        _ => return None,
    })
}

pub struct Cloud {
    /// Set once the providers have answered or the timeout passed; None: no provider.
    found: Arc<OnceLock<Option<Value>>>,
    done: std::sync::Mutex<Option<mpsc::Receiver<()>>>,
    overwrite: bool,
}

impl Cloud {
    pub fn parse(path: &str, s: &Section) -> Result<Cloud, ConfigError> {
        let timeout = s
            .duration("timeout", Duration::from_secs(3))?
            .unwrap_or(Duration::from_secs(3));
        let host = s.string("host")?;
        // As Filebeat: BEATS_ADD_CLOUD_METADATA_PROVIDERS overrides the setting (empty: none),
        // and no list at all means every provider.
        let configured = s.strings("providers")?;
        let names: Vec<String> = match std::env::var("BEATS_ADD_CLOUD_METADATA_PROVIDERS") {
            Ok(v) => v
                .split(',')
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .collect(),
            Err(_) => configured,
        };
        let every =
            names.is_empty() && std::env::var_os("BEATS_ADD_CLOUD_METADATA_PROVIDERS").is_none();
        let mut providers = Vec::new();
        for name in names {
            match provider(&name) {
                Some(p) => providers.push(p),
                None => {
                    return Err(ConfigError(format!(
                        "setting `{path}.providers`: unknown provider `{name}`"
                    )))
                }
            }
        }
        if every {
            providers = DEFAULT.to_vec();
        }
        s.raw("ssl");
        let found = Arc::new(OnceLock::new());
        let (tx, rx) = mpsc::channel();
        let f = found.clone();
        // Asked in the background, as Filebeat does, so startup does not wait on a timeout.
        std::thread::Builder::new()
            .name("cloud-metadata".into())
            .spawn(move || {
                let meta = fetch(host.as_deref(), &providers, timeout);
                match &meta {
                    Some(m) => tracing::info!(
                        "add_cloud_metadata: hosting provider type detected as {}, metadata={m}",
                        m["provider"]
                    ),
                    None => {
                        tracing::info!("add_cloud_metadata: hosting provider type not detected.")
                    }
                }
                let _ = f.set(meta);
                let _ = tx.send(());
            })
            .map_err(|e| ConfigError(format!("add_cloud_metadata: {e}")))?;
        Ok(Cloud {
            found,
            done: std::sync::Mutex::new(Some(rx)),
            overwrite: s.bool("overwrite", false)?,
        })
    }

    pub fn run(&self, e: &mut Fields) {
        // Events wait for the answer (at most the timeout), as Filebeat's.
        if self.found.get().is_none() {
            if let Some(rx) = self.done.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = rx.recv();
            }
        }
        let Some(Some(meta)) = self.found.get() else {
            return;
        };
        if !self.overwrite && e.contains_key("cloud") {
            return;
        }
        e.insert("cloud".into(), meta.clone());
    }
}

/// Every provider asked at once; the first to answer within the timeout wins (Filebeat's
/// processor before 8.x; later ones wait out the timeout and prefer AWS). OpenStack's service
/// is EC2-compatible, so an EC2 instance answers it too: its answer waits for the others.
fn fetch(host: Option<&str>, providers: &[Provider], timeout: Duration) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .build()
        .into();
    let (tx, rx) = mpsc::channel();
    for &p in providers {
        let host = host.unwrap_or(p.default_host()).to_string();
        let (tx, agent) = (tx.clone(), agent.clone());
        let _ = std::thread::Builder::new()
            .name("cloud-metadata".into())
            .spawn(move || {
                let _ = tx.send((p, ask(&agent, &host, p)));
            });
    }
    drop(tx);
    let end = std::time::Instant::now() + timeout;
    let mut openstack = None;
    while let Some(left) = end.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok((Provider::OpenStack { .. }, Some(meta))) => openstack = openstack.or(Some(meta)),
            Ok((_, Some(meta))) => return Some(meta),
            Ok((p, None)) => tracing::debug!("add_cloud_metadata: no answer from {p:?}"),
            // Every provider reported, or the timeout passed.
            Err(_) => break,
        }
    }
    openstack
}

fn get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Option<String> {
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().ok()?;
    if resp.status() != 200 {
        return None;
    }
    resp.body_mut().read_to_string().ok()
}

fn json_get(agent: &ureq::Agent, url: &str, headers: &[(&str, &str)]) -> Option<Value> {
    serde_json::from_str(&get(agent, url, headers)?).ok()
}

/// A provider's metadata as Filebeat's schema puts it under `cloud`.
fn ask(agent: &ureq::Agent, host: &str, p: Provider) -> Option<Value> {
    let scheme = match p {
        Provider::OpenStack { https: true } => "https",
        _ => "http",
    };
    let base = format!("{scheme}://{host}");
    // Plain-text answers, one per path; the provider counts only if every one answers.
    let texts = |paths: &[&str]| -> Option<Vec<Value>> {
        paths
            .iter()
            .map(|path| get(agent, &format!("{base}{path}"), &[]).map(Value::String))
            .collect()
    };
    let s = |v: &Value| match v {
        Value::String(s) => Some(Value::String(s.clone())),
        Value::Number(n) => Some(Value::String(n.to_string())),
        _ => None,
    };
    // Last path segment: GCE gives `projects/1/zones/europe-west1-b`.
    let base_name = |v: &Value| {
        v.as_str()
            .map(|t| Value::String(t.rsplit('/').next().unwrap_or(t).to_string()))
    };
    let mut cloud = match p {
        Provider::Aws => {
            // IMDSv2 (a session token first), falling back to v1 as the AWS SDK does.
            let token = agent
                .put(format!("{base}/latest/api/token"))
                .header("X-aws-ec2-metadata-token-ttl-seconds", "21600")
                .send_empty()
                .ok()
                .filter(|r| r.status() == 200)
                .and_then(|mut r| r.body_mut().read_to_string().ok());
            let headers: Vec<(&str, &str)> = token
                .as_deref()
                .map(|t| vec![("X-aws-ec2-metadata-token", t)])
                .unwrap_or_default();
            let d = json_get(
                agent,
                &format!("{base}/latest/dynamic/instance-identity/document"),
                &headers,
            )?;
            json!({
                "instance": {"id": s(&d["instanceId"])},
                "machine": {"type": s(&d["instanceType"])},
                "region": s(&d["region"]),
                "availability_zone": s(&d["availabilityZone"]),
                "account": {"id": s(&d["accountId"])},
                "image": {"id": s(&d["imageId"])},
                "service": {"name": "EC2"},
                "provider": "aws",
            })
        }
        Provider::Gcp => {
            let d = json_get(
                agent,
                &format!("{base}/computeMetadata/v1/?recursive=true&alt=json"),
                &[("Metadata-Flavor", "Google")],
            )?;
            let (i, project) = (&d["instance"], &d["project"]["projectId"]);
            json!({
                "instance": {"id": s(&i["id"]), "name": s(&i["name"])},
                "machine": {"type": base_name(&i["machineType"])},
                "availability_zone": base_name(&i["zone"]),
                "project": {"id": s(project)},
                "account": {"id": s(project)},
                "service": {"name": "GCE"},
                "provider": "gcp",
            })
        }
        Provider::Azure => {
            let d = json_get(
                agent,
                &format!("{base}/metadata/instance/compute?api-version=2021-02-01"),
                &[("Metadata", "true")],
            )?;
            json!({
                "instance": {"id": s(&d["vmId"]), "name": s(&d["name"])},
                "machine": {"type": s(&d["vmSize"])},
                "region": s(&d["location"]),
                "account": {"id": s(&d["subscriptionId"])},
                "service": {"name": "Virtual Machines"},
                "provider": "azure",
            })
        }
        Provider::DigitalOcean => {
            let d = json_get(agent, &format!("{base}/metadata/v1.json"), &[])?;
            json!({
                "instance": {"id": s(&d["droplet_id"])},
                "region": s(&d["region"]),
                "service": {"name": "Droplets"},
                "provider": "digitalocean",
            })
        }
        Provider::OpenStack { .. } => {
            let [id, ty, name, zone] = <[Value; 4]>::try_from(texts(&[
                "/2009-04-04/meta-data/instance-id",
                "/2009-04-04/meta-data/instance-type",
                "/2009-04-04/meta-data/hostname",
                "/2009-04-04/meta-data/placement/availability-zone",
            ])?)
            .ok()?;
            json!({
                "instance": {"id": id, "name": name},
                "machine": {"type": ty},
                "availability_zone": zone,
                "provider": "openstack",
            })
        }
        Provider::Hetzner => {
            let [id, name, zone, region] = <[Value; 4]>::try_from(texts(&[
                "/hetzner/v1/metadata/instance-id",
                "/hetzner/v1/metadata/hostname",
                "/hetzner/v1/metadata/availability-zone",
                "/hetzner/v1/metadata/region",
            ])?)
            .ok()?;
            json!({
                "instance": {"id": id, "name": name},
                "availability_zone": zone,
                "region": region,
                "service": {"name": "Cloud"},
                "provider": "hetzner",
            })
        }
        Provider::Alibaba | Provider::Tencent => {
            let (paths, provider) = match p {
                Provider::Alibaba => (
                    [
                        "/latest/meta-data/instance-id",
                        "/latest/meta-data/region-id",
                        "/latest/meta-data/zone-id",
                    ],
                    "ecs",
                ),
                _ => (
                    [
                        "/meta-data/instance-id",
                        "/meta-data/placement/region",
                        "/meta-data/placement/zone",
                    ],
                    "qcloud",
                ),
            };
            let [id, region, zone] = <[Value; 3]>::try_from(texts(&paths)?).ok()?;
            json!({
                "instance": {"id": id},
                "region": region,
                "availability_zone": zone,
                "provider": provider,
            })
        }
    };
    prune_nulls(&mut cloud);
    Some(cloud)
}

/// Fields a service did not give are left out, not null.
fn prune_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            prune_nulls(x);
        }
        m.retain(|_, x| !matches!(x, Value::Object(o) if o.is_empty()));
    }
}
