//! `elasticsearch` filter: searches an index per event (a `query` string, or a `query_template`
//! of query DSL, both sprintf'd) and copies fields of the hits (`fields`, `docinfo_fields`) and
//! aggregations (`aggregation_fields`) into the event, as Logstash's DSL executor does: one hit
//! gives values, several give arrays. `[@metadata][total_hits]` gets the count. A failed search
//! tags `_elasticsearch_lookup_failure`.

use rstash_pipeline::{opt, Options, Ty};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Template, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use super::failure_tags;

pub struct EsFilter {
    hosts: Vec<String>,
    next: AtomicUsize,
    agent: ureq::Agent,
    auth: Option<String>,
    index: Template,
    query: Option<Template>,
    dsl: Option<Template>,
    size: i64,
    sort: Option<String>,
    fields: Vec<(Vec<String>, FieldRef)>,
    docinfo: Vec<(Vec<String>, FieldRef)>,
    aggregations: Vec<(String, FieldRef)>,
    tags: Vec<String>,
    total_hits: FieldRef,
    /// Further tries of a search that failed to connect or got one of `retry_on_status`.
    retries: u32,
    retry_on_status: Vec<u16>,
}

/// `[a][b]` → ["a", "b"]; a plain name is one key (Logstash's `extract_path`).
fn path(reference: &str) -> Vec<String> {
    match reference
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
    {
        Some(inner) => inner.split("][").map(str::to_string).collect(),
        None => vec![reference.to_string()],
    }
}

/// Percent-encoding for a query-string parameter.
fn escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub const OPTIONS: Options = &[
    &[
        opt("hosts", Ty::Array).default("[\"localhost:9200\"]"),
        opt("index", Ty::Str).default(""),
        opt("query", Ty::Str),
        opt("query_template", Ty::Path),
        opt("sort", Ty::Str).default("@timestamp:desc"),
        opt("result_size", Ty::Number).default("1"),
        opt("enable_sort", Ty::Boolean).default("true"),
        opt("fields", Ty::Hash).default("{}"),
        opt("docinfo_fields", Ty::Hash).default("{}"),
        opt("aggregation_fields", Ty::Hash).default("{}"),
        opt("user", Ty::Str),
        opt("password", Ty::Password),
        opt("api_key", Ty::Password),
        opt("ssl_enabled", Ty::Boolean),
        opt("ssl", Ty::Boolean).deprecated("use ssl_enabled"),
        opt("ssl_verification_mode", Ty::Choice(&["full", "none"])).default("full"),
        opt("retry_on_failure", Ty::Number).default("0"),
        opt("retry_on_status", Ty::Array).default("[500, 502, 503, 504]"),
        opt("tag_on_failure", Ty::Array).default("[\"_elasticsearch_lookup_failure\"]"),
    ],
    crate::http_client::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let ssl = args.bool("ssl_enabled", false)? || args.bool("ssl", false)?;
    let mut hosts = args.strings("hosts")?;
    if hosts.is_empty() {
        hosts.push("localhost:9200".into());
    }
    let hosts = hosts
        .iter()
        .map(|h| {
            let h = h.trim_end_matches('/');
            if h.starts_with("http://") || h.starts_with("https://") {
                h.to_string()
            } else {
                format!("{}://{h}", if ssl { "https" } else { "http" })
            }
        })
        .collect();
    let query = args.template("query")?;
    let dsl = match args.string("query_template")? {
        Some(p) => {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| args.unavailable("query_template", format!("cannot read {p}: {e}")))?;
            Some(args.make_template("query_template", &text)?)
        }
        None => None,
    };
    if query.is_some() == dsl.is_some() {
        return Err(
            args.error("elasticsearch filter needs exactly one of `query` and `query_template`")
        );
    }
    let pairs =
        |args: &mut Args, name: &str| -> Result<Vec<(Vec<String>, FieldRef)>, ConfigError> {
            args.string_hash(name)?
                .into_iter()
                .map(|(old, new)| Ok((path(&old), args.make_field(name, &new)?)))
                .collect()
        };
    let fields = pairs(args, "fields")?;
    let docinfo = pairs(args, "docinfo_fields")?;
    let aggregations = args
        .string_hash("aggregation_fields")?
        .into_iter()
        .map(|(name, f)| Ok((name, args.make_field("aggregation_fields", &f)?)))
        .collect::<Result<_, ConfigError>>()?;
    let timeout = Duration::from_secs(args.int("request_timeout", 60)?.max(1) as u64);
    let verify = args.choice("ssl_verification_mode", &["full", "none"], "full")? == "full";
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(!verify)
                .build(),
        )
        .build()
        .into();
    let auth = rstash_net::es_authorization(
        args.string("user")?.as_deref(),
        args.string("password")?.as_deref(),
        args.string("api_key")?.as_deref(),
    );
    let sort = args.string_or("sort", "@timestamp:desc")?;
    let index = args.string_or("index", "")?;
    let index = args.make_template("index", &index)?;
    Ok(Box::new(EsFilter {
        hosts,
        next: AtomicUsize::new(0),
        agent,
        auth,
        index,
        query,
        dsl,
        size: args.int("result_size", 1)?,
        sort: args.bool("enable_sort", true)?.then_some(sort),
        fields,
        docinfo,
        aggregations,
        tags: failure_tags(args, "_elasticsearch_lookup_failure")?,
        total_hits: args.make_field("fields", "[@metadata][total_hits]")?,
        retries: args.int("retry_on_failure", 0)?.clamp(0, u32::MAX as i64) as u32,
        retry_on_status: crate::http_client::statuses(
            args,
            "retry_on_status",
            &[500, 502, 503, 504],
        )?,
    }))
}

impl EsFilter {
    /// One search, tried again up to `retry_on_failure` times when no host could be reached or
    /// the answer's status is one of `retry_on_status` (as the Elasticsearch client's transport
    /// the Logstash filter uses).
    fn search(&self, e: &Event) -> Result<serde_json::Value, String> {
        let mut tries = 0;
        loop {
            match self.search_once(e) {
                Err((err, true)) if tries < self.retries => {
                    tries += 1;
                    tracing::debug!(
                        "elasticsearch filter: {err}; retry {tries} of {}",
                        self.retries
                    );
                }
                r => return r.map_err(|(err, _)| err),
            }
        }
    }

    /// One search, trying each host once, starting with the next in turn; an error says whether
    /// it is worth another try.
    fn search_once(&self, e: &Event) -> Result<serde_json::Value, (String, bool)> {
        let index = self.index.render(e);
        let mut tail = String::from("/_search");
        let body = match (&self.query, &self.dsl) {
            (Some(q), _) => {
                tail.push_str(&format!("?q={}&size={}", escape(&q.render(e)), self.size));
                if let Some(s) = &self.sort {
                    tail.push_str(&format!("&sort={}", escape(s)));
                }
                None
            }
            (None, Some(d)) => {
                let text = d.render(e).into_owned();
                serde_json::from_str::<serde_json::Value>(&text).map_err(|err| {
                    (
                        format!("query_template is not JSON after sprintf: {err}"),
                        false,
                    )
                })?;
                Some(text)
            }
            (None, None) => None,
        };
        let prefix = if index.is_empty() {
            String::new()
        } else {
            format!(
                "/{}",
                escape(&index).replace("%2A", "*").replace("%2C", ",")
            )
        };
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = String::new();
        for k in 0..self.hosts.len() {
            let url = format!(
                "{}{prefix}{tail}",
                self.hosts[(start + k) % self.hosts.len()]
            );
            let mut req = ureq::http::Request::builder()
                .method(if body.is_some() { "POST" } else { "GET" })
                .uri(&url)
                .header("content-type", "application/json");
            if let Some(a) = &self.auth {
                req = req.header("authorization", a);
            }
            let req = req
                .body(body.clone().unwrap_or_default().into_bytes())
                .map_err(|err| (err.to_string(), false))?;
            match self.agent.run(req) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let mut text = String::new();
                    resp.into_body()
                        .into_reader()
                        .read_to_string(&mut text)
                        .map_err(|err| (format!("{url}: {err}"), true))?;
                    if self.retry_on_status.contains(&status) {
                        last = format!("{url} answered {status}: {text}");
                        continue;
                    }
                    if !(200..300).contains(&status) {
                        return Err((format!("{url} answered {status}: {text}"), false));
                    }
                    return serde_json::from_str(&text)
                        .map_err(|err| (format!("{url}: {err}"), false));
                }
                Err(err) => last = format!("{url}: {err}"),
            }
        }
        Err((last, true))
    }
}

fn at<'a>(v: &'a serde_json::Value, path: &[String]) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(v, |cur, k| cur.get(k.as_str()))
}

fn value(v: Option<&serde_json::Value>) -> Value {
    v.and_then(|v| json::parse(v.to_string().as_bytes()).ok())
        .unwrap_or(Value::Null)
}

/// One hit's value, or an array of all of them (Logstash's `set.count > 1 ? set : set.first`).
fn one_or_many(mut vals: Vec<Value>) -> Value {
    if vals.len() > 1 {
        Value::Array(vals)
    } else {
        vals.pop().unwrap_or(Value::Null)
    }
}

impl Filter for EsFilter {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let results = match self.search(e) {
            Ok(r) if r["_shards"].get("failures").is_none() => r,
            Ok(r) => {
                tracing::warn!(
                    "elasticsearch filter: query error: {}",
                    r["_shards"]["failures"]
                );
                return self.fail(e);
            }
            Err(err) => {
                tracing::warn!("elasticsearch filter: failed to query elasticsearch: {err}");
                return self.fail(e);
            }
        };
        let total = &results["hits"]["total"];
        let total = total.get("value").unwrap_or(total);
        let _ = e.set(&self.total_hits, value(Some(total)));
        let mut matched = false;
        if let Some(hits) = results["hits"]["hits"].as_array().filter(|h| !h.is_empty()) {
            matched = true;
            for (old, new) in &self.fields {
                let vals = hits.iter().map(|h| value(at(&h["_source"], old))).collect();
                let _ = e.set(new, one_or_many(vals));
            }
            for (old, new) in &self.docinfo {
                let vals = hits.iter().map(|h| value(at(h, old))).collect();
                let _ = e.set(new, one_or_many(vals));
            }
        }
        if let Some(aggs) = results
            .get("aggregations")
            .and_then(|a| a.as_object())
            .filter(|a| !a.is_empty())
        {
            matched = true;
            for (name, field) in &self.aggregations {
                let _ = e.set(field, value(aggs.get(name)));
            }
        }
        if matched {
            FilterOutcome::Matched
        } else {
            FilterOutcome::Unmatched
        }
    }
}

impl EsFilter {
    fn fail(&self, e: &mut Event) -> FilterOutcome {
        for t in &self.tags {
            e.tag(t);
        }
        FilterOutcome::Unmatched
    }
}
