//! The Kubernetes API as `add_kubernetes_metadata` reads it: where the server is and how to
//! authenticate, from `kube_config`, `$KUBECONFIG` or the pod's service account (in that order,
//! as Filebeat's client), and plain GETs of JSON objects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

/// Where a pod's service account is mounted.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How a request proves who it is.
enum Auth {
    None,
    Token(String),
    /// Re-read for each request: bound service-account tokens are rotated by the kubelet.
    TokenFile(PathBuf),
    Basic(String),
}

pub struct Api {
    base: String,
    agent: ureq::Agent,
    auth: Auth,
    /// Running in a pod: the node is found by asking about that pod.
    pub in_cluster: bool,
}

/// Which configuration applies, or None outside Kubernetes (no kube_config, no `$KUBECONFIG`,
/// no service address in the environment).
pub fn locate(kube_config: Option<&str>) -> Option<Result<Api, String>> {
    let file = kube_config
        .map(str::to_string)
        .or_else(|| std::env::var("KUBECONFIG").ok())
        .filter(|f| !f.is_empty());
    if let Some(file) = file {
        // `$KUBECONFIG` may list several files; the first is the one read.
        let first = file.split(':').next().unwrap_or_default().to_string();
        return Some(from_kubeconfig(Path::new(&first)));
    }
    let host = std::env::var("KUBERNETES_SERVICE_HOST").ok()?;
    Some(in_cluster(&host))
}

fn in_cluster(host: &str) -> Result<Api, String> {
    let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let dir = Path::new(SERVICE_ACCOUNT);
    let ca =
        std::fs::read(dir.join("ca.crt")).map_err(|e| format!("{}/ca.crt: {e}", dir.display()))?;
    Ok(Api {
        base: format!("https://{host}:{port}"),
        agent: agent(Some(&ca), None, false)?,
        auth: Auth::TokenFile(dir.join("token")),
        in_cluster: true,
    })
}

fn from_kubeconfig(file: &Path) -> Result<Api, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let doc: Value =
        serde_saphyr::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let named = |list: &str, name: &str, inner: &str| {
        doc[list]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"].as_str() == Some(name)))
            .map(|x| x[inner].clone())
    };
    let current = doc["current-context"].as_str().unwrap_or_default();
    let context = named("contexts", current, "context")
        .ok_or_else(|| format!("{}: no context `{current}`", file.display()))?;
    let cluster = named(
        "clusters",
        context["cluster"].as_str().unwrap_or_default(),
        "cluster",
    )
    .ok_or_else(|| {
        format!(
            "{}: context `{current}` names no known cluster",
            file.display()
        )
    })?;
    let user = named(
        "users",
        context["user"].as_str().unwrap_or_default(),
        "user",
    )
    .unwrap_or(Value::Null);
    let base = cluster["server"]
        .as_str()
        .ok_or_else(|| format!("{}: cluster has no `server`", file.display()))?
        .trim_end_matches('/')
        .to_string();
    // Relative paths in a kubeconfig are relative to the file.
    let dir = file.parent().unwrap_or(Path::new("."));
    let bytes = |data: &str, path: &str, v: &Value| -> Result<Option<Vec<u8>>, String> {
        if let Some(d) = v[data].as_str() {
            return base64::engine::general_purpose::STANDARD
                .decode(d.trim())
                .map(Some)
                .map_err(|e| format!("{}: `{data}`: {e}", file.display()));
        }
        match v[path].as_str() {
            Some(p) => std::fs::read(dir.join(p))
                .map(Some)
                .map_err(|e| format!("{}: `{path}` {p}: {e}", file.display())),
            None => Ok(None),
        }
    };
    let ca = bytes(
        "certificate-authority-data",
        "certificate-authority",
        &cluster,
    )?;
    let cert = bytes("client-certificate-data", "client-certificate", &user)?;
    let key = bytes("client-key-data", "client-key", &user)?;
    if user.get("exec").is_some() || user.get("auth-provider").is_some() {
        return Err(format!(
            "{}: credential plugins (`exec`, `auth-provider`) are not supported; use a token or a client certificate",
            file.display()
        ));
    }
    let auth = if let Some(t) = user["token"].as_str() {
        Auth::Token(t.to_string())
    } else if let Some(f) = user["tokenFile"].as_str() {
        Auth::TokenFile(dir.join(f))
    } else if let (Some(u), Some(p)) = (user["username"].as_str(), user["password"].as_str()) {
        Auth::Basic(base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}")))
    } else {
        Auth::None
    };
    let insecure = cluster["insecure-skip-tls-verify"].as_bool() == Some(true);
    let client = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        _ => None,
    };
    Ok(Api {
        base,
        agent: agent(ca.as_deref(), client, insecure)?,
        auth,
        in_cluster: false,
    })
}

fn agent(
    ca: Option<&[u8]>,
    client: Option<(Vec<u8>, Vec<u8>)>,
    insecure: bool,
) -> Result<ureq::Agent, String> {
    use ureq::tls::{parse_pem, ClientCert, PemItem, RootCerts, TlsConfig};
    let mut tls = TlsConfig::builder().disable_verification(insecure);
    if let Some(ca) = ca {
        let certs: Vec<_> = parse_pem(ca)
            .flatten()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err("the certificate authority holds no PEM certificate".into());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let Some((cert, key)) = client {
        let chain: Vec<_> = parse_pem(&cert)
            .flatten()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        let key = parse_pem(&key)
            .flatten()
            .find_map(|i| match i {
                PemItem::PrivateKey(k) => Some(k.to_owned()),
                _ => None,
            })
            .ok_or("the client key holds no PEM private key")?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(5)))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into())
}

impl Api {
    /// `GET path`: the object, None when the server says 404.
    pub fn get(&self, path: &str) -> Result<Option<Value>, String> {
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.get(&url).header("Accept", "application/json");
        match &self.auth {
            Auth::None => {}
            Auth::Token(t) => req = req.header("Authorization", format!("Bearer {t}")),
            Auth::TokenFile(f) => {
                let t = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
                req = req.header("Authorization", format!("Bearer {}", t.trim()));
            }
            Auth::Basic(b) => req = req.header("Authorization", format!("Basic {b}")),
        }
        let mut resp = req.call().map_err(|e| format!("GET {url}: {e}"))?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        let body = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| format!("GET {url}: {e}"))?;
        if status != 200 {
            let why: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let why = why["message"].as_str().unwrap_or(body.trim());
            return Err(format!("GET {url}: {status}: {why}"));
        }
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| format!("GET {url}: {e}"))
    }

    /// The namespace of the pod rbeat runs in (its service account says).
    pub fn own_namespace() -> Option<String> {
        std::fs::read_to_string(Path::new(SERVICE_ACCOUNT).join("namespace"))
            .ok()
            .map(|s| s.trim().to_string())
    }
}
