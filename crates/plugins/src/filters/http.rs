//! `http` filter: calls a URL (sprintf) per event and stores the answer: a JSON body parsed, any
//! other body as trimmed text, in `target_body`; response headers in `target_headers`. A failed
//! request or a non-2xx answer tags `_httprequestfailure`; bad JSON tags `_jsonparsefailure`.
//! Timeouts (`connect_timeout`, `socket_timeout`, `request_timeout`) bound what an unreachable
//! server costs each event.

use rstash_pipeline::{opt, Options, Ty};
use std::io::Read;

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Map, Template, Value};
use rstash_pipeline::{Args, ConfValue, Filter, FilterOutcome};

use crate::http_client::HttpClient;

/// An option value with sprintf applied to every string in it (`body`, `headers`, `query`).
enum Templated {
    Text(Template),
    Literal(Value),
    List(Vec<Templated>),
    Hash(Vec<(Template, Templated)>),
}

impl Templated {
    fn from_conf(args: &Args, name: &str, v: &ConfValue) -> Result<Templated, ConfigError> {
        Ok(match v {
            ConfValue::Str(s) => Templated::Text(args.make_template(name, s)?),
            ConfValue::Array(a) => Templated::List(
                a.iter()
                    .map(|x| Templated::from_conf(args, name, x))
                    .collect::<Result<_, _>>()?,
            ),
            ConfValue::Hash(h) => Templated::Hash(
                h.iter()
                    .map(|(k, x)| {
                        Ok((
                            args.make_template(name, k)?,
                            Templated::from_conf(args, name, x)?,
                        ))
                    })
                    .collect::<Result<_, ConfigError>>()?,
            ),
            other => Templated::Literal(other.to_value()),
        })
    }

    fn render(&self, e: &Event) -> Value {
        match self {
            Templated::Text(t) => Value::String(t.render(e).into_owned().into()),
            Templated::Literal(v) => v.clone(),
            Templated::List(a) => Value::Array(a.iter().map(|x| x.render(e)).collect()),
            Templated::Hash(h) => Value::Object(
                h.iter()
                    .map(|(k, x)| (k.render(e).as_ref().into(), x.render(e)))
                    .collect(),
            ),
        }
    }
}

pub struct HttpFilter {
    client: HttpClient,
    url: Template,
    verb: ureq::http::Method,
    headers: Vec<(Template, Template)>,
    query: Vec<(Template, Template)>,
    body: Option<Templated>,
    json_body: bool,
    target_body: FieldRef,
    target_headers: FieldRef,
    request_tags: Vec<String>,
    json_tags: Vec<String>,
}

pub const OPTIONS: Options = &[
    &[
        opt("url", Ty::Str).required(),
        opt(
            "verb",
            Ty::Choice(&["GET", "HEAD", "PATCH", "DELETE", "POST", "PUT"]),
        )
        .default("GET"),
        opt("headers", Ty::Hash),
        opt("query", Ty::Hash),
        opt("body", Ty::Any),
        opt("body_format", Ty::Choice(&["text", "json"])).default("text"),
        opt("target_body", Ty::Str),
        opt("target_headers", Ty::Str),
        opt("tag_on_request_failure", Ty::Array).default("[\"_httprequestfailure\"]"),
        opt("tag_on_json_failure", Ty::Array).default("[\"_jsonparsefailure\"]"),
    ],
    crate::http_client::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let ecs = args.ecs()?.enabled();
    let url = args
        .template("url")?
        .ok_or_else(|| args.error("http filter needs `url`"))?;
    let verb = args.choice(
        "verb",
        &["GET", "HEAD", "PATCH", "DELETE", "POST", "PUT"],
        "GET",
    )?;
    let verb = ureq::http::Method::from_bytes(verb.as_bytes())
        .map_err(|e| args.error_at("verb", e.to_string()))?;
    let pairs = |args: &mut Args, name: &str| -> Result<Vec<(Template, Template)>, ConfigError> {
        args.string_hash(name)?
            .into_iter()
            .map(|(k, v)| Ok((args.make_template(name, &k)?, args.make_template(name, &v)?)))
            .collect()
    };
    let headers = pairs(args, "headers")?;
    let query = pairs(args, "query")?;
    let body = match args.raw("body") {
        Some(v) => Some(Templated::from_conf(args, "body", &v)?),
        None => None,
    };
    let json_body = args.choice("body_format", &["text", "json"], "text")? == "json";
    let target_body = match args.field("target_body")? {
        Some(f) => f,
        None if ecs => {
            return Err(args.error("in ECS compatibility mode the http filter needs `target_body`"))
        }
        None => FieldRef::key("body"),
    };
    let target_headers = match args.field("target_headers")? {
        Some(f) => f,
        None => args.make_field(
            "target_headers",
            if ecs {
                "[@metadata][filter][http][response][headers]"
            } else {
                "headers"
            },
        )?,
    };
    let tags = |args: &mut Args, name: &str, default: &str| -> Result<Vec<String>, ConfigError> {
        if args.has(name) {
            args.strings(name)
        } else {
            Ok(vec![default.to_string()])
        }
    };
    Ok(Box::new(HttpFilter {
        request_tags: tags(args, "tag_on_request_failure", "_httprequestfailure")?,
        json_tags: tags(args, "tag_on_json_failure", "_jsonparsefailure")?,
        client: HttpClient::from_args(args)?,
        url,
        verb,
        headers,
        query,
        body,
        json_body,
        target_body,
        target_headers,
    }))
}

/// Percent-encoding for query parameters.
fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

struct Answer {
    code: u16,
    headers: Map,
    content_type: String,
    body: String,
}

impl HttpFilter {
    fn request(&self, e: &Event) -> Result<Answer, String> {
        let mut url = self.url.render(e).into_owned();
        if !self.query.is_empty() {
            url.push(if url.contains('?') { '&' } else { '?' });
            for (i, (k, v)) in self.query.iter().enumerate() {
                if i > 0 {
                    url.push('&');
                }
                query_escape(&k.render(e), &mut url);
                url.push('=');
                query_escape(&v.render(e), &mut url);
            }
        }
        let mut req = ureq::http::Request::builder()
            .method(self.verb.clone())
            .uri(&url);
        let mut typed = false;
        for (k, v) in &self.headers {
            let k = k.render(e);
            typed |= k.eq_ignore_ascii_case("content-type");
            req = req.header(k.as_ref(), v.render(e).as_ref());
        }
        if !typed {
            req = req.header(
                "content-type",
                if self.json_body {
                    "application/json"
                } else {
                    "text/plain"
                },
            );
        }
        if let Some(a) = &self.client.auth {
            req = req.header("authorization", a);
        }
        let body = match self.body.as_ref().map(|b| b.render(e)) {
            None => Vec::new(),
            Some(Value::String(s)) => s.into_string().into_bytes(),
            Some(v @ (Value::Object(_) | Value::Array(_))) if self.json_body => {
                json::value_to_string(&v).into_bytes()
            }
            Some(v) => v.to_ruby_string().into_bytes(),
        };
        let req = req.body(body).map_err(|e| format!("{url}: {e}"))?;
        let mut tries = 0;
        let resp = loop {
            match self.client.agent.run(req.clone()) {
                Ok(r) => break r,
                Err(err) if tries < self.client.automatic_retries => {
                    tries += 1;
                    tracing::debug!("http filter: {url}: {err}; retrying");
                }
                Err(err) => return Err(format!("{url}: {err}")),
            }
        };
        let code = resp.status().as_u16();
        let mut headers = Map::default();
        for (k, v) in resp.headers() {
            let v = Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned().into());
            match headers.get_mut(k.as_str()) {
                Some(Value::Array(a)) => a.push(v),
                Some(first) => *first = Value::Array(vec![first.clone(), v]),
                None => {
                    headers.insert(k.as_str().into(), v);
                }
            }
        }
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string())
            .unwrap_or_default();
        let mut body = String::new();
        resp.into_body()
            .into_reader()
            .read_to_string(&mut body)
            .map_err(|e| format!("{url}: reading the answer: {e}"))?;
        Ok(Answer {
            code,
            headers,
            content_type,
            body,
        })
    }
}

impl Filter for HttpFilter {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let answer = match self.request(e) {
            Ok(a) if (200..300).contains(&a.code) => a,
            Ok(a) => {
                tracing::error!(
                    code = a.code,
                    "http filter: error during HTTP request: {}",
                    a.body.trim()
                );
                return self.tag(e, &self.request_tags);
            }
            Err(err) => {
                tracing::error!("http filter: error during HTTP request: {err}");
                return self.tag(e, &self.request_tags);
            }
        };
        let _ = e.set(&self.target_headers, Value::Object(answer.headers));
        if answer.content_type == "application/json" {
            match json::parse(answer.body.as_bytes()) {
                Ok(v) => {
                    let _ = e.set(&self.target_body, v);
                }
                Err(err) => {
                    tracing::warn!("http filter: JSON parsing error: {err}");
                    for t in &self.json_tags {
                        e.tag(t);
                    }
                }
            }
        } else {
            let _ = e.set(&self.target_body, Value::String(answer.body.trim().into()));
        }
        FilterOutcome::Matched
    }
}

impl HttpFilter {
    fn tag(&self, e: &mut Event, tags: &[String]) -> FilterOutcome {
        for t in tags {
            e.tag(t);
        }
        FilterOutcome::Unmatched
    }
}
