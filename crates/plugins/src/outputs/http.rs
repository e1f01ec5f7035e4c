//! `http`: sends events to a URL (sprintf) with `http_method`, as `json` (one event per request),
//! `json_batch` (an array per URL), `form` or `message`. A retryable status (429, 5xx) or a
//! connection failure is retried with backoff until it goes through (`retry_failed`); other
//! statuses are logged and the event dropped, as in Logstash, unless listed in `ignorable_codes`.

use rstash_pipeline::{opt, Options, Ty};
use std::io::Write;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{json, Event, Template, Value};
use rstash_pipeline::{Args, Output, PluginError};
use tracing::{error, warn};

use crate::http_client::{statuses, HttpClient};

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Json,
    JsonBatch,
    Form,
    Message,
}

pub struct HttpOut {
    agent: ureq::Agent,
    url: Template,
    method: ureq::http::Method,
    format: Format,
    content_type: String,
    headers: Vec<(String, Template)>,
    message: Option<Template>,
    mapping: Vec<(Template, Template)>,
    auth: Option<String>,
    retry_failed: bool,
    automatic_retries: u32,
    retryable: Vec<u16>,
    ignorable: Vec<u16>,
    compress: bool,
}

pub const OPTIONS: Options = &[
    &[
        opt("url", Ty::Str).required(),
        opt(
            "http_method",
            Ty::Choice(&["put", "post", "patch", "delete", "get", "head"]),
        )
        .required(),
        opt(
            "format",
            Ty::Choice(&["json", "json_batch", "form", "message"]),
        )
        .default("json"),
        opt("message", Ty::Str),
        opt("content_type", Ty::Str),
        opt("headers", Ty::Hash),
        opt("mapping", Ty::Hash),
        opt("retryable_codes", Ty::Array).default("[429, 500, 502, 503, 504]"),
        opt("ignorable_codes", Ty::Array),
        opt("retry_failed", Ty::Boolean).default("true"),
        opt("http_compression", Ty::Boolean).default("false"),
    ],
    crate::http_client::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(url) = args.template("url")? else {
        return Err(args.error("http output needs `url`"));
    };
    let Some(method) = args.string("http_method")? else {
        return Err(
            args.error("http output needs `http_method` (put, post, patch, delete, get or head)")
        );
    };
    let method = match method.as_str() {
        "put" | "post" | "patch" | "delete" | "get" | "head" => {
            ureq::http::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .map_err(|e| args.error(e.to_string()))?
        }
        other => {
            return Err(args.error_at(
                "http_method",
                format!("http_method must be put, post, patch, delete, get or head, got `{other}`"),
            ))
        }
    };
    let format = match args
        .choice("format", &["json", "json_batch", "form", "message"], "json")?
        .as_str()
    {
        "json_batch" => Format::JsonBatch,
        "form" => Format::Form,
        "message" => Format::Message,
        _ => Format::Json,
    };
    let message = args.template("message")?;
    if format == Format::Message && message.is_none() {
        return Err(args.error_at("format", "format => message needs `message`"));
    }
    let content_type = args.string("content_type")?.unwrap_or_else(|| {
        match format {
            Format::Form => "application/x-www-form-urlencoded",
            Format::Message => "text/plain",
            _ => "application/json",
        }
        .to_string()
    });
    let headers = args
        .string_hash("headers")?
        .into_iter()
        .map(|(k, v)| Ok((k, args.make_template("headers", &v)?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let mapping = args
        .string_hash("mapping")?
        .into_iter()
        .map(|(k, v)| {
            Ok((
                args.make_template("mapping", &k)?,
                args.make_template("mapping", &v)?,
            ))
        })
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let retryable = statuses(args, "retryable_codes", &[429, 500, 502, 503, 504])?;
    let ignorable = statuses(args, "ignorable_codes", &[])?;
    let client = HttpClient::from_args(args)?;
    Ok(Box::new(HttpOut {
        agent: client.agent,
        url,
        method,
        format,
        content_type,
        headers,
        message,
        mapping,
        auth: client.auth,
        retry_failed: args.bool("retry_failed", true)?,
        automatic_retries: client.automatic_retries,
        retryable,
        ignorable,
        compress: args.bool("http_compression", false)?,
    }))
}

/// `application/x-www-form-urlencoded` escaping.
fn form_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

enum Outcome {
    Done,
    Retry(String),
}

impl HttpOut {
    /// The event as the body format wants it (the `mapping` if given, else the whole event).
    fn document(&self, e: &Event) -> Value {
        if self.mapping.is_empty() {
            return Value::Object(e.data().clone());
        }
        Value::Object(
            self.mapping
                .iter()
                .map(|(k, v)| {
                    (
                        k.render(e).as_ref().into(),
                        Value::String(v.render(e).into_owned().into()),
                    )
                })
                .collect(),
        )
    }

    fn body(&self, events: &[&Event]) -> Vec<u8> {
        match self.format {
            Format::Message => self
                .message
                .as_ref()
                .map(|m| m.render(events[0]).into_owned())
                .unwrap_or_default()
                .into_bytes(),
            Format::Form => {
                let mut out = String::new();
                if let Value::Object(m) = self.document(events[0]) {
                    for (i, (k, v)) in m.iter().enumerate() {
                        if i > 0 {
                            out.push('&');
                        }
                        form_escape(k, &mut out);
                        out.push('=');
                        form_escape(&v.to_java_string(), &mut out);
                    }
                }
                out.into_bytes()
            }
            Format::Json => {
                let mut out = Vec::new();
                json::write_value(&self.document(events[0]), &mut out);
                out
            }
            Format::JsonBatch => {
                let docs: Vec<Value> = events.iter().map(|e| self.document(e)).collect();
                let mut out = Vec::new();
                json::write_value(&Value::Array(docs), &mut out);
                out
            }
        }
    }

    fn attempt(&self, url: &str, first: &Event, body: &[u8]) -> Outcome {
        let mut req = ureq::http::Request::builder()
            .method(self.method.clone())
            .uri(url)
            .header("Content-Type", &self.content_type);
        for (k, v) in &self.headers {
            req = req.header(k.as_str(), v.render(first).as_ref());
        }
        if let Some(a) = &self.auth {
            req = req.header("Authorization", a);
        }
        let gz;
        let body = if self.compress {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            if enc.write_all(body).is_err() {
                return Outcome::Retry("compression failed".into());
            }
            gz = enc.finish().unwrap_or_default();
            req = req.header("Content-Encoding", "gzip");
            &gz[..]
        } else {
            body
        };
        let req = match req.body(body) {
            Ok(r) => r,
            Err(e) => {
                error!("http output: bad request to {url}: {e}; event dropped");
                return Outcome::Done;
            }
        };
        match self.agent.run(req) {
            Ok(resp) => {
                let code = resp.status().as_u16();
                if resp.status().is_success() || self.ignorable.contains(&code) {
                    Outcome::Done
                } else if self.retryable.contains(&code) {
                    Outcome::Retry(format!("status {code}"))
                } else {
                    error!("http output: {url} answered {code}; the event is dropped (not a retryable code)");
                    Outcome::Done
                }
            }
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// Sends one request, retrying as configured.
    fn send(&self, url: &str, events: &[&Event]) {
        let body = self.body(events);
        let mut tries = 0u32;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.attempt(url, events[0], &body) {
                Outcome::Done => return,
                Outcome::Retry(why) => {
                    tries += 1;
                    if !self.retry_failed && tries > self.automatic_retries {
                        error!("http output: {url} failed ({why}); {} event(s) dropped (retry_failed is off)", events.len());
                        return;
                    }
                    warn!("http output: {url} failed ({why}); retrying in {backoff:?}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(60));
                }
            }
        }
    }
}

impl Output for HttpOut {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        if self.format == Format::JsonBatch {
            // One request per distinct URL, events in their order.
            let mut groups: Vec<(String, Vec<&Event>)> = Vec::new();
            for e in events {
                let url = self.url.render(e).into_owned();
                match groups.iter_mut().find(|(u, _)| *u == url) {
                    Some((_, g)) => g.push(e),
                    None => groups.push((url, vec![e])),
                }
            }
            for (url, g) in groups {
                self.send(&url, &g);
            }
            return Ok(());
        }
        for e in events {
            let url = self.url.render(e).into_owned();
            self.send(&url, &[e]);
        }
        Ok(())
    }
}
