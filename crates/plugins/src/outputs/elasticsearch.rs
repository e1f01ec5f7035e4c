//! `elasticsearch`: bulk requests to Elasticsearch-compatible clusters (rstore, Elasticsearch,
//! OpenSearch). A batch returns only once every event is indexed, rejected for good (400/404:
//! logged; 409: dropped, as Logstash does), or retried to success: connection errors, any non-2xx
//! answer to the request (429, 5xx, 401 ...) and items refused with 429/5xx are retried with
//! exponential backoff, on the next live host.

use rstash_pipeline::{opt, Opt, Options, Ty, ECS};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::{json, Event, Str, Template};
use rstash_pipeline::{Args, Output, PluginError};
use serde_json::Value;
use tracing::{debug, error, warn};
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

const MAX_BULK_BYTES: usize = 20 << 20;

struct Host {
    url: String,
    /// Shared by the workers' instances: one that finds a host dead spares the others the wait.
    dead_until: Mutex<Option<Instant>>,
}

impl Host {
    fn dead_until(&self) -> Option<Instant> {
        *self.dead_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_dead_until(&self, t: Option<Instant>) {
        *self.dead_until.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }
}

/// Cloned once per pipeline worker (Logstash's `concurrency :shared`): the instances share the
/// connection pool and the hosts' health, and send their bulks in parallel.
#[derive(Clone)]
pub struct Elasticsearch {
    hosts: Arc<Vec<Host>>,
    next: usize,
    agent: ureq::Agent,
    auth: Option<String>,
    index: Template,
    document_id: Option<Template>,
    action: Template,
    routing: Option<Template>,
    pipeline: Option<Template>,
    retry_on_conflict: i64,
    doc_as_upsert: bool,
    compress: bool,
    retry_initial: Duration,
    retry_max: Duration,
    /// Item statuses that send the event to the dead letter queue: 400, 404 and `dlq_custom_codes`.
    dlq_codes: Vec<u64>,
    dead_letters: rstash_pipeline::DeadLetterQueue,
    id: String,
    /// What holds retried events back, for the shutdown's drain report.
    problem: rstash_pipeline::Problem,
}

fn normalize_host(h: &str, ssl: bool) -> String {
    let h = h.trim_end_matches('/');
    if h.starts_with("http://") || h.starts_with("https://") {
        h.to_string()
    } else {
        let scheme = if ssl { "https" } else { "http" };
        if h.contains(':') {
            format!("{scheme}://{h}")
        } else {
            format!("{scheme}://{h}:9200")
        }
    }
}

/// The elasticsearch output's: its own, then what it shares with the opensearch output.
pub const OPTIONS: Options = &[
    &[
        opt("api_key", Ty::Password),
        opt("data_stream", Ty::Str).default("false"),
        opt("ssl_certificate_verification", Ty::Boolean)
            .default("true")
            .deprecated("use ssl_verification_mode"),
        opt("ecs_compatibility", ECS).ignored("no index template is installed"),
    ],
    SHARED,
];

/// The opensearch output's, as the OpenSearch plugin names them.
pub const OPENSEARCH_OPTIONS: Options = &[
    &[
        opt("auth_type", Ty::Hash),
        opt("ssl_certificate_verification", Ty::Boolean).default("true"),
    ],
    SHARED,
];

const SHARED: &[Opt] = &[
    opt("hosts", Ty::Array).default("[\"http://127.0.0.1:9200\"]"),
    opt("index", Ty::Str).default("logstash-%{+YYYY.MM.dd}"),
    opt("action", Ty::Str).default("index"),
    opt("document_id", Ty::Str),
    opt("routing", Ty::Str),
    opt("pipeline", Ty::Str),
    opt("doc_as_upsert", Ty::Boolean).default("false"),
    opt("retry_on_conflict", Ty::Number).default("1"),
    opt("user", Ty::Str),
    opt("password", Ty::Password),
    opt("ssl_enabled", Ty::Boolean),
    opt("ssl", Ty::Boolean).deprecated("use ssl_enabled"),
    opt("ssl_certificate_authorities", Ty::Array).default("[]"),
    opt("cacert", Ty::Path).deprecated("use ssl_certificate_authorities"),
    opt("ssl_certificate", Ty::Path),
    opt("ssl_key", Ty::Path),
    opt("ssl_verification_mode", Ty::Choice(&["full", "none"])).default("full"),
    opt("timeout", Ty::Number).default("60"),
    opt("pool_max", Ty::Number).default("1000"),
    opt("pool_max_per_route", Ty::Number).default("100"),
    opt("http_compression", Ty::Boolean).default("false"),
    opt("retry_initial_interval", Ty::Number).default("2"),
    opt("retry_max_interval", Ty::Number).default("64"),
    opt("dlq_custom_codes", Ty::Array).default("[]"),
    opt("flush_size", Ty::Number).ignored("a bulk request carries one pipeline batch"),
    opt("idle_flush_time", Ty::Number).ignored("a bulk request carries one pipeline batch"),
    opt("manage_template", Ty::Boolean).ignored(NO_TEMPLATES),
    opt("template", Ty::Path).ignored(NO_TEMPLATES),
    opt("template_name", Ty::Str).ignored(NO_TEMPLATES),
    opt("template_overwrite", Ty::Boolean).ignored(NO_TEMPLATES),
    opt("ilm_enabled", Ty::Str).ignored(NO_ILM),
    opt("ilm_rollover_alias", Ty::Str).ignored(NO_ILM),
    opt("ilm_pattern", Ty::Str).ignored(NO_ILM),
    opt("ilm_policy", Ty::Str).ignored(NO_ILM),
    opt("dlq_on_failed_indexname", Ty::Boolean)
        .ignored("events whose index is refused go to the DLQ"),
    opt("sniffing", Ty::Boolean).ignored("the hosts given are used"),
    opt("resurrect_delay", Ty::Number).ignored("a failed host is retried with backoff"),
    opt("validate_after_inactivity", Ty::Number).ignored(POOL),
    opt("healthcheck_path", Ty::Str).ignored("hosts are checked by the bulk requests themselves"),
    opt("silence_errors_in_log", Ty::Array).ignored("every refused document is logged"),
    opt("failure_type_logging_whitelist", Ty::Array).ignored("every refused document is logged"),
];

const NO_TEMPLATES: &str = "no index template is installed; rstore maps fields dynamically";
const NO_ILM: &str = "no ILM; rstore's --retention.days deletes old daily indices";
const POOL: &str = "connections are pooled by the HTTP client";

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    build_for(args, false)
}

/// `opensearch`: the same bulk protocol with the OpenSearch plugin's option names
/// (`ssl_certificate_verification`, `auth_type`).
pub fn build_opensearch(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    build_for(args, true)
}

/// `auth_type => { type => "basic" user => ... password => ... }` of the opensearch output.
fn opensearch_auth(args: &mut Args) -> Result<Option<(String, String)>, ConfigError> {
    if !args.has("auth_type") {
        return Ok(None);
    }
    let mut kind = String::new();
    let (mut user, mut password) = (String::new(), String::new());
    for (k, v) in args.hash("auth_type")? {
        let text = v.text().unwrap_or_default();
        match k.as_str() {
            "type" => kind = text,
            "user" => user = text,
            "password" => password = text,
            _ => {}
        }
    }
    match kind.as_str() {
        "basic" => Ok(Some((user, password))),
        other => Err(args.error_at(
            "auth_type",
            format!("auth_type `{other}` is not supported (AWS IAM request signing is not built in); use `basic`"),
        )),
    }
}

fn build_for(args: &mut Args, opensearch: bool) -> Result<Box<dyn Output>, ConfigError> {
    let ssl = args.bool("ssl_enabled", false)? || args.bool("ssl", false)?;
    let mut hosts = args.strings("hosts")?;
    if hosts.is_empty() {
        hosts.push("127.0.0.1:9200".into());
    }
    let hosts: Arc<Vec<Host>> = Arc::new(
        hosts
            .iter()
            .map(|h| Host {
                url: normalize_host(h, ssl),
                dead_until: Mutex::new(None),
            })
            .collect(),
    );
    let mut tls = TlsConfig::builder();
    let cas: Vec<String> = args
        .strings("ssl_certificate_authorities")?
        .into_iter()
        .chain(args.string("cacert")?)
        .collect();
    if !cas.is_empty() {
        let mut certs: Vec<Certificate<'static>> = Vec::new();
        for ca in &cas {
            let pem = std::fs::read(ca).map_err(|e| {
                args.unavailable(
                    "ssl_certificate_authorities",
                    format!("cannot read {ca}: {e}"),
                )
            })?;
            for item in ureq::tls::parse_pem(&pem) {
                if let Ok(PemItem::Certificate(c)) = item {
                    certs.push(c.to_owned());
                }
            }
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let (Some(cert), Some(key)) = (args.string("ssl_certificate")?, args.string("ssl_key")?) {
        let read = |p: &str| {
            std::fs::read(p)
                .map_err(|e| args.unavailable("ssl_certificate", format!("cannot read {p}: {e}")))
        };
        let (cert_pem, key_pem) = (read(&cert)?, read(&key)?);
        let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&cert_pem)
            .filter_map(|i| match i {
                Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                _ => None,
            })
            .collect();
        let key = ureq::tls::parse_pem(&key_pem)
            .find_map(|i| match i {
                Ok(PemItem::PrivateKey(k)) => Some(k.to_owned()),
                _ => None,
            })
            .ok_or_else(|| args.error_at("ssl_key", format!("no private key in {key}")))?;
        tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(&chain, key)));
    }
    let verification = args.choice("ssl_verification_mode", &["full", "none"], "full")?;
    let verify = if args.has("ssl_certificate_verification") {
        args.bool("ssl_certificate_verification", true)?
    } else {
        verification == "full"
    };
    tls = tls.disable_verification(!verify);
    let timeout = Duration::from_secs(args.int("timeout", 60)?.max(1) as u64);
    // Logstash's connection pool limits; each pipeline worker holds one connection at a time.
    let pool_max = args.int("pool_max", 1000)?.max(1) as usize;
    let pool_per_host = args.int("pool_max_per_route", 100)?.max(1) as usize;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_idle_connections(pool_max)
        .max_idle_connections_per_host(pool_per_host)
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into();
    let (mut user, mut password) = (args.string("user")?, args.string("password")?);
    if opensearch {
        if let Some((u, p)) = opensearch_auth(args)? {
            (user, password) = (Some(u), Some(p));
        }
    }
    let api_key = if opensearch {
        None
    } else {
        args.string("api_key")?
    };
    let auth =
        rstash_net::es_authorization(user.as_deref(), password.as_deref(), api_key.as_deref());
    if !opensearch && args.string("data_stream")?.as_deref() == Some("true") {
        return Err(args.error_at(
            "data_stream",
            "data streams are not supported yet; index into daily indices",
        ));
    }
    let action = args
        .template("action")?
        .unwrap_or(Template::parse("index").map_err(|e| args.error(e.to_string()))?);
    let mut dlq_codes = vec![400, 404];
    dlq_codes.extend(
        crate::http_client::statuses(args, "dlq_custom_codes", &[])?
            .into_iter()
            .map(u64::from),
    );
    let dead_letters = args.settings.dead_letters.clone();
    let id = args.plugin_id()?;
    Ok(Box::new(Elasticsearch {
        problem: Default::default(),
        dlq_codes,
        dead_letters,
        id,
        hosts,
        next: 0,
        agent,
        auth,
        index: args.template("index")?.unwrap_or(
            Template::parse("logstash-%{+YYYY.MM.dd}").map_err(|e| args.error(e.to_string()))?,
        ),
        document_id: args.template("document_id")?,
        action,
        routing: args.template("routing")?,
        pipeline: args.template("pipeline")?,
        retry_on_conflict: args.int("retry_on_conflict", 1)?,
        doc_as_upsert: args.bool("doc_as_upsert", false)?,
        compress: args.bool("http_compression", false)?,
        retry_initial: Duration::from_secs(args.int("retry_initial_interval", 2)?.max(1) as u64),
        retry_max: Duration::from_secs(args.int("retry_max_interval", 64)?.max(1) as u64),
    }))
}

/// One event's bulk lines, kept so that a retried item can be sent again as it was.
struct Item {
    action: Str,
    lines: Vec<u8>,
    /// The event's position in the batch (for the dead letter queue).
    pos: usize,
}

impl Elasticsearch {
    fn item(&self, e: &Event, pos: usize) -> Result<Item, String> {
        let action = Str::from(self.action.render(e));
        if !["index", "create", "update", "delete"].contains(&action.as_str()) {
            return Err(format!("unknown action `{action}`"));
        }
        if (action == "update" || action == "delete") && self.document_id.is_none() {
            return Err(format!("action `{action}` needs document_id"));
        }
        // The action line, written directly: `{"index":{"_index":"...","_id":"..."}}`.
        let mut lines = Vec::with_capacity(1024);
        lines.extend_from_slice(b"{");
        json::write_str(&action, &mut lines);
        lines.extend_from_slice(b":{\"_index\":");
        json::write_str(&self.index.render(e), &mut lines);
        for (key, t) in [
            ("_id", &self.document_id),
            ("routing", &self.routing),
            ("pipeline", &self.pipeline),
        ] {
            if let Some(t) = t {
                lines.extend_from_slice(b",\"");
                lines.extend_from_slice(key.as_bytes());
                lines.extend_from_slice(b"\":");
                json::write_str(&t.render(e), &mut lines);
            }
        }
        if action == "update" {
            let n = self.retry_on_conflict;
            lines.extend_from_slice(format!(",\"retry_on_conflict\":{n}").as_bytes());
        }
        lines.extend_from_slice(b"}}\n");
        match action.as_str() {
            "delete" => {}
            "update" => {
                lines.extend_from_slice(b"{\"doc\":");
                json::write_event(e, &mut lines);
                lines.extend_from_slice(if self.doc_as_upsert {
                    b",\"doc_as_upsert\":true}"
                } else {
                    b"}"
                });
                lines.push(b'\n');
            }
            _ => {
                json::write_event(e, &mut lines);
                lines.push(b'\n');
            }
        }
        Ok(Item { action, lines, pos })
    }

    /// Whether a host answers `GET /` (a dead host is checked before it is used again).
    fn healthy(&self, i: usize) -> bool {
        let mut req = self.agent.get(&self.hosts[i].url);
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        req.call().is_ok_and(|r| r.status().is_success())
    }

    /// The next live host (or, when none is, the next one anyway: the caller backs off).
    fn host(&mut self) -> usize {
        let now = Instant::now();
        for k in 0..self.hosts.len() {
            let i = (self.next + k) % self.hosts.len();
            let usable = match self.hosts[i].dead_until() {
                None => true,
                Some(t) if t <= now => {
                    let ok = self.healthy(i);
                    self.hosts[i].set_dead_until(if ok {
                        None
                    } else {
                        Some(now + Duration::from_secs(5))
                    });
                    ok
                }
                Some(_) => false,
            };
            if usable {
                self.next = (i + 1) % self.hosts.len();
                return i;
            }
        }
        let i = self.next % self.hosts.len();
        self.next = (i + 1) % self.hosts.len();
        i
    }

    fn post(&self, url: &str, body: &[u8]) -> Result<(u16, String), String> {
        let mut req = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let gz;
        let body = if self.compress {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(body).map_err(|e| e.to_string())?;
            gz = enc.finish().map_err(|e| e.to_string())?;
            req = req.header("Content-Encoding", "gzip");
            &gz[..]
        } else {
            body
        };
        let mut resp = req.send(body).map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// Sends `items` until none is left to retry; returns the items refused for good with a
    /// dead-letter status, and why.
    fn send(&mut self, mut items: Vec<Arc<Item>>) -> Vec<(usize, String)> {
        let mut refused = Vec::new();
        let mut backoff = self.retry_initial;
        while !items.is_empty() {
            let mut retry: Vec<Arc<Item>> = Vec::new();
            let mut start = 0;
            while start < items.len() {
                // Bulk requests of at most 20 MB (a bigger single event goes alone).
                let mut end = start;
                let mut size = 0;
                while end < items.len()
                    && (end == start || size + items[end].lines.len() <= MAX_BULK_BYTES)
                {
                    size += items[end].lines.len();
                    end += 1;
                }
                let chunk = &items[start..end];
                start = end;
                let mut body = Vec::with_capacity(size);
                for i in chunk {
                    body.extend_from_slice(&i.lines);
                }
                let h = self.host();
                let url = format!("{}/_bulk", self.hosts[h].url);
                let host = self.hosts[h]
                    .url
                    .split("://")
                    .last()
                    .unwrap_or_default()
                    .to_string();
                match self.post(&url, &body) {
                    Err(e) => {
                        warn!("elasticsearch output: {url}: {e}; will retry");
                        self.problem.set(format!("{host} unreachable: {e}"));
                        self.hosts[h].set_dead_until(Some(Instant::now() + Duration::from_secs(5)));
                        retry.extend(chunk.iter().cloned());
                    }
                    // Any other answer than 2xx to the whole request is retried, as Logstash
                    // does (a 401 after a password change must not lose the batch).
                    Ok((status, text)) if !(200..300).contains(&status) => {
                        let body: String = text.chars().take(300).collect();
                        if status == 429 {
                            debug!("elasticsearch output: {url} answered 429; will retry");
                        } else {
                            error!(
                                "elasticsearch output: {url} answered {status}: {body}; will retry"
                            );
                        }
                        self.problem.set(format!("{host} answered {status}"));
                        retry.extend(chunk.iter().cloned());
                    }
                    Ok((_, text)) => {
                        self.hosts[h].set_dead_until(None);
                        self.problem.clear();
                        let statuses = item_statuses(&text);
                        if statuses.len() != chunk.len() {
                            warn!("elasticsearch output: {} results for {} items; resending the request", statuses.len(), chunk.len());
                            retry.extend(chunk.iter().cloned());
                            continue;
                        }
                        // The answer's tree, parsed only when an item is refused for good.
                        let mut tree: Option<Value> = None;
                        for (k, (item, st)) in chunk.iter().zip(statuses).enumerate() {
                            match st {
                                200..=299 => {}
                                409 => debug!(
                                    "elasticsearch output: version conflict, event dropped ({})",
                                    item.action
                                ),
                                429 | 500..=599 => {
                                    self.problem
                                        .set(format!("{host} refused items with status {st}"));
                                    retry.push(item.clone());
                                }
                                _ => {
                                    let tree = tree.get_or_insert_with(|| {
                                        serde_json::from_str(&text).unwrap_or(Value::Null)
                                    });
                                    let r = item_result(tree, k);
                                    let why = r.get("error").cloned().unwrap_or(Value::Null);
                                    if self.dlq_codes.contains(&st) {
                                        refused.push((item.pos, format!(
                                            "Could not index event to Elasticsearch. status: {st}, action: [\"{}\"], response: {}",
                                            item.action, r
                                        )));
                                    }
                                    error!(
                                        "elasticsearch output: could not index event ({st}): {why}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
            if !retry.is_empty() {
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(self.retry_max);
            }
            items = retry;
        }
        refused
    }
}

/// Each item's `status` in a bulk answer, in order (500 for an item without one). The answer is
/// read without building its tree: it is parsed for every bulk, and nearly always all is well.
fn item_statuses(text: &str) -> Vec<u64> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(default)]
        items: Vec<Status>,
    }
    /// `{"index": {"status": 201, ...}}`: the status of the first (only) entry.
    struct Status(u64);
    impl<'de> serde::Deserialize<'de> for Status {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Status;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a bulk item result")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut m: A,
                ) -> Result<Status, A::Error> {
                    #[derive(serde::Deserialize)]
                    struct Body {
                        status: Option<u64>,
                    }
                    let mut status = None;
                    while m.next_key::<serde::de::IgnoredAny>()?.is_some() {
                        if status.is_none() {
                            status = Some(m.next_value::<Body>()?.status.unwrap_or(500));
                        } else {
                            m.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                    Ok(Status(status.unwrap_or(500)))
                }
            }
            d.deserialize_map(V)
        }
    }
    match serde_json::from_str::<Answer>(text) {
        Ok(a) => a.items.into_iter().map(|s| s.0).collect(),
        // An answer of another shape: read the tree as it is.
        Err(_) => {
            let tree: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let n = tree
                .get("items")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            (0..n)
                .map(|k| {
                    item_result(&tree, k)
                        .get("status")
                        .and_then(Value::as_u64)
                        .unwrap_or(500)
                })
                .collect()
        }
    }
}

/// The result of item `k` in a bulk answer's tree: the value of its first (only) entry.
fn item_result(tree: &Value, k: usize) -> Value {
    tree.get("items")
        .and_then(|i| i.get(k))
        .and_then(Value::as_object)
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or(Value::Null)
}

impl Output for Elasticsearch {
    fn worker(&self) -> Option<Box<dyn Output>> {
        Some(Box::new(self.clone()))
    }

    fn report_problems_to(&mut self, problem: rstash_pipeline::Problem) {
        self.problem = problem;
    }

    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        let mut items = Vec::with_capacity(events.len());
        for (pos, e) in events.iter().enumerate() {
            match self.item(e, pos) {
                Ok(i) => items.push(Arc::new(i)),
                Err(msg) => error!("elasticsearch output: {msg}; event dropped"),
            }
        }
        let refused = self.send(items);
        if let Some(dlq) = &self.dead_letters.0 {
            for (pos, reason) in refused {
                if let Some(e) = events.get(pos) {
                    dlq.write(e, "elasticsearch", &self.id, &reason);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_hosts() {
        assert_eq!(
            rstash_net::base64(b"elastic:changeme"),
            "ZWxhc3RpYzpjaGFuZ2VtZQ=="
        );
        assert_eq!(rstash_net::base64(b"ab"), "YWI=");
        assert_eq!(normalize_host("localhost", false), "http://localhost:9200");
        assert_eq!(normalize_host("es1:9201", true), "https://es1:9201");
        assert_eq!(normalize_host("http://x:1/", false), "http://x:1");
    }

    #[test]
    fn item_statuses_of_any_answer_shape() {
        let ok = r#"{"took":3,"errors":false,"items":[{"index":{"_id":"x","status":201,"_shards":{"total":1}}},{"create":{"status":409,"error":{"type":"v"}}}]}"#;
        assert_eq!(item_statuses(ok), [201, 409]);
        // Not the usual shape: read from the tree, 500 where an item says nothing usable.
        let odd =
            r#"{"items":[{"index":{"status":"201"}},7,{"index":{"status":200}},{"index":{}}]}"#;
        assert_eq!(item_statuses(odd), [500, 500, 200, 500]);
        assert!(item_statuses("<html>").is_empty());
        assert!(item_statuses(r#"{"errors":false}"#).is_empty());
    }
}
