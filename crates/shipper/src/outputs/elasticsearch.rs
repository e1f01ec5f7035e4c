//! `output.elasticsearch`: `_bulk` with `create` actions, as Filebeat sends them. Per item:
//! created or 409 (already there) is done, 429 and 5xx are sent again after a backoff, any other
//! refusal is logged and dropped; a failed request is retried whole. Hosts take turns.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use super::format::FormatString;
use super::{backoff_sleep, Output, OutputConfig};
use crate::config::{ConfigError, Section};
use crate::fields::Fields;

struct Es {
    agent: ureq::Agent,
    hosts: Vec<String>,
    next: usize,
    auth: Option<String>,
    backoff_init: Duration,
    backoff_max: Duration,
    abort: Arc<AtomicBool>,
}

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let protocol = s.string("protocol")?;
    let path = s.string_or("path", "")?;
    let mut hosts: Vec<String> = s.strings("hosts")?;
    if hosts.is_empty() {
        hosts.push("localhost:9200".into());
    }
    let hosts: Vec<String> = hosts
        .iter()
        .map(|h| {
            let h = h.trim_end_matches('/');
            let with_scheme = if h.contains("://") {
                h.to_string()
            } else {
                format!("{}://{h}", protocol.as_deref().unwrap_or("http"))
            };
            let has_port = with_scheme.rsplit_once(':').is_some_and(|(a, p)| {
                !a.ends_with("http") && !a.ends_with("https") && p.parse::<u16>().is_ok()
            });
            let base = if has_port {
                with_scheme
            } else {
                format!("{with_scheme}:9200")
            };
            format!("{base}{path}")
        })
        .collect();
    let index_text = s.string_or("index", "filebeat-%{[agent.version]}-%{+yyyy.MM.dd}")?;
    let index = Arc::new(
        FormatString::parse(&index_text)
            .map_err(|e| ConfigError(format!("setting `output.elasticsearch.index`: {e}")))?,
    );
    let auth = rstash_net::es_authorization(
        s.string("username")?.as_deref(),
        s.string("password")?.as_deref(),
        s.string("api_key")?.as_deref(),
    );
    let (backoff_init, backoff_max) = super::backoff_settings(s)?;
    let timeout = s
        .duration("timeout", Duration::from_secs(90))?
        .unwrap_or(Duration::from_secs(90));
    let ssl = s.section("ssl")?;
    let mut tls = ureq::tls::TlsConfig::builder();
    let cas = ssl.strings("certificate_authorities")?;
    if !cas.is_empty() {
        let mut certs = Vec::new();
        for ca in &cas {
            let pem = std::fs::read(ca).map_err(|e| {
                ConfigError(format!(
                    "setting `output.elasticsearch.ssl.certificate_authorities`: {ca}: {e}"
                ))
            })?;
            for item in ureq::tls::parse_pem(&pem).flatten() {
                if let ureq::tls::PemItem::Certificate(c) = item {
                    certs.push(c.to_owned());
                }
            }
        }
        tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
    }
    if ssl.string("verification_mode")?.as_deref() == Some("none") {
        tls = tls.disable_verification(true);
    }
    ssl.raw("enabled");
    ssl.warn_unknown();
    s.raw("compression_level");
    s.raw("max_retries");
    s.raw("pipeline");
    s.raw("enabled");
    s.raw("escape_html");
    s.raw("allow_older_versions");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .tls_config(tls.build())
        .build()
        .into();
    let describe = hosts
        .iter()
        .map(|h| format!("elasticsearch: {h}..."))
        .collect();
    let workers = s.int("worker", 1)?.max(1) as usize * hosts.len();
    let probe: super::Probe = {
        let (agent, hosts, auth) = (agent.clone(), hosts.clone(), auth.clone());
        Arc::new(move |say| {
            let mut ok = true;
            for h in &hosts {
                ok &= probe(&agent, h, auth.as_deref(), say);
            }
            ok
        })
    };
    Ok(OutputConfig {
        probe: Some(probe),
        name: "elasticsearch",
        workers,
        pipelining: 1,
        bulk_max_size: s.int("bulk_max_size", 1600)?.max(1) as usize,
        beat_index: "filebeat".into(),
        describe,
        plain_json: false,
        encoder: {
            let index = index.clone();
            Arc::new(move |e: &Fields| bulk_lines(&index, e))
        },
        factory: Arc::new(move |i, abort| {
            Ok(Box::new(Es {
                agent: agent.clone(),
                hosts: hosts.clone(),
                next: i % hosts.len(),
                auth: auth.clone(),
                backoff_init,
                backoff_max,
                abort,
            }) as Box<dyn Output>)
        }),
    })
}

/// `rbeat test output` for one host: `GET /` must answer 200 with a version, as Filebeat checks.
fn probe(agent: &ureq::Agent, host: &str, auth: Option<&str>, say: &mut dyn FnMut(String)) -> bool {
    say(format!("elasticsearch: {host}..."));
    let mut req = agent
        .get(format!("{host}/"))
        .config()
        .timeout_global(Some(Duration::from_secs(5)))
        .build();
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let mut resp = match req.call() {
        Ok(r) => r,
        Err(e) => {
            say(format!("  connection... ERROR {e}"));
            return false;
        }
    };
    say("  connection... OK".into());
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap_or_default();
    let version = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
        v.pointer("/version/number")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    match (status, version) {
        (200, Some(v)) => {
            say("  talk to server... OK".into());
            say(format!("  version: {v}"));
            true
        }
        (200, None) => {
            say(
                "  talk to server... ERROR GET / answered without a version: not Elasticsearch"
                    .into(),
            );
            false
        }
        (st, _) => {
            let body: String = body.chars().take(200).collect();
            say(format!(
                "  talk to server... ERROR GET / answered {st}: {body}"
            ));
            false
        }
    }
}

impl Es {
    fn post(&mut self, body: &[u8]) -> Result<(u16, Value), String> {
        let host = &self.hosts[self.next % self.hosts.len()];
        let mut req = self
            .agent
            .post(format!(
                "{host}/_bulk?filter_path=errors,items.*.error,items.*.status"
            ))
            .header("Content-Type", "application/json");
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let mut resp = req.send(body).map_err(|e| format!("{host}: {e}"))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(256 << 20)
            .read_to_string()
            .map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }
}

impl Output for Es {
    /// Each event arrives as its two bulk lines (action and document), made by the encoder.
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String> {
        let mut todo: Vec<&Bytes> = events.iter().collect();
        let mut wait = self.backoff_init;
        while !todo.is_empty() {
            let body: Vec<u8> = todo.iter().flat_map(|b| b.iter().copied()).collect();
            let retry: Vec<&Bytes> = match self.post(&body) {
                Ok((200, resp)) => {
                    let items = resp
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let mut retry = Vec::new();
                    for (i, e) in todo.iter().enumerate() {
                        let item = items
                            .get(i)
                            .and_then(|it| it.as_object())
                            .and_then(|o| o.values().next());
                        let status = item
                            .and_then(|it| it.get("status"))
                            .and_then(Value::as_u64)
                            .unwrap_or(200);
                        match status {
                            s if s < 300 || s == 409 => {}
                            429 | 500.. => retry.push(*e),
                            s => {
                                let why = item
                                    .and_then(|it| it.get("error"))
                                    .map(|v| v.to_string())
                                    .unwrap_or_default();
                                tracing::warn!(
                                    "elasticsearch output: event dropped, status {s}: {why}"
                                );
                            }
                        }
                    }
                    retry
                }
                Ok((status, resp)) => {
                    tracing::warn!(
                        "elasticsearch output: bulk refused with {status}: {resp}; retrying"
                    );
                    self.next += 1;
                    todo.clone()
                }
                Err(e) => {
                    tracing::warn!("elasticsearch output: {e}; retrying");
                    self.next += 1;
                    todo.clone()
                }
            };
            if retry.is_empty() {
                return Ok(());
            }
            todo = retry;
            if !backoff_sleep(&self.abort, &mut wait, self.backoff_max) {
                return Err("shutting down before the batch was indexed".into());
            }
        }
        Ok(())
    }
}

/// The `create` action and the document (without `@metadata`), as two NDJSON lines.
fn bulk_lines(index: &FormatString, e: &Fields) -> Bytes {
    let mut out = Vec::with_capacity(512);
    // Index names are lowercase in Elasticsearch; Filebeat lowercases what it renders.
    let action = json!({"create": {"_index": index.render(e).to_lowercase()}});
    let _ = serde_json::to_writer(&mut out, &action);
    out.push(b'\n');
    let mut doc = e.clone();
    doc.remove("@metadata");
    let _ = serde_json::to_writer(&mut out, &doc);
    out.push(b'\n');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_lowercased() {
        let index = FormatString::parse("%{[fields][app]}-logs").unwrap();
        let e = json!({"fields": {"app": "Web"}});
        let lines = bulk_lines(&index, e.as_object().unwrap());
        assert!(std::str::from_utf8(&lines)
            .unwrap()
            .starts_with(r#"{"create":{"_index":"web-logs"}}"#));
    }
}
