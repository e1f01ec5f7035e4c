//! `http`: events from HTTP requests. The body goes through the codec its Content-Type names in
//! `additional_codecs` (JSON by default for application/json, so an array is many events), else
//! `codec`. Request details go to `headers` (ECS: `[@metadata][input][http][request][headers]`,
//! `[http][request][method]`, `[url][path]`...). Basic auth, TLS, 413 over
//! `max_content_length`, and 429 once `max_pending_requests` are waiting on a full queue.

use rstash_pipeline::{opt, Options, Ty};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::connect_info::Connected;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_net::{ClientAuth, TlsAcceptor};
use rstash_pipeline::{Args, Codec, Ecs, Input, InputContext, PluginError};
use tracing::{info, warn};

struct Shared {
    ctx: InputContext,
    codec: Mutex<Box<dyn Codec>>,
    by_type: Vec<(String, Mutex<Box<dyn Codec>>)>,
    auth: Option<String>,
    ecs: Ecs,
    remote_host_field: FieldRef,
    headers_field: FieldRef,
    response_code: StatusCode,
    response_headers: Vec<(HeaderName, HeaderValue)>,
    max_content_length: usize,
    max_pending: usize,
    pending: AtomicUsize,
}

pub struct Http {
    addr: String,
    tls: Option<TlsAcceptor>,
    threads: usize,
    /// Everything but the context, which arrives with `run`.
    parts: Option<Box<dyn FnOnce(InputContext) -> Shared + Send>>,
}

pub const OPTIONS: Options = &[
    &[
        opt("port", Ty::Number).default("8080"),
        opt("host", Ty::Str).default("0.0.0.0"),
        opt("additional_codecs", Ty::Hash).default("{\"application/json\" => \"json\"}"),
        opt("user", Ty::Str),
        opt("password", Ty::Password),
        opt("response_code", Ty::Number).default("200"),
        opt("response_headers", Ty::Hash).default("{\"Content-Type\" => \"text/plain\"}"),
        opt("remote_host_target_field", Ty::Str),
        opt("request_headers_target_field", Ty::Str),
        opt("max_content_length", Ty::Number).default("104857600"),
        opt("max_pending_requests", Ty::Number).default("200"),
        opt("threads", Ty::Number).default("2"),
    ],
    super::TLS_SERVER,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let port = args.int("port", 8080)?;
    if !(0..=65535).contains(&port) {
        return Err(args.error_at("port", "port must be 0-65535"));
    }
    let host = args.string_or("host", "0.0.0.0")?;
    let ecs = args.ecs()?;
    let codec = args.codec("plain")?;
    let mut by_type = Vec::new();
    let additional = if args.has("additional_codecs") {
        args.string_hash("additional_codecs")?
    } else {
        vec![("application/json".to_string(), "json".to_string())]
    };
    for (ct, name) in additional {
        by_type.push((
            ct.to_ascii_lowercase(),
            Mutex::new(args.codec_named("additional_codecs", &name)?),
        ));
    }
    let auth = match (args.string("user")?, args.string("password")?) {
        (Some(u), Some(p)) => Some(format!(
            "Basic {}",
            rstash_net::base64(format!("{u}:{p}").as_bytes())
        )),
        (None, None) => None,
        _ => return Err(args.error("http input: set both `user` and `password`, or neither")),
    };
    let code = args.int("response_code", 200)?;
    let response_code = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| args.error_at("response_code", format!("`{code}` is not an HTTP status")))?;
    let headers = if args.has("response_headers") {
        args.string_hash("response_headers")?
    } else {
        vec![("Content-Type".into(), "text/plain".into())]
    };
    let response_headers = headers
        .into_iter()
        .map(|(k, v)| {
            match (
                HeaderName::try_from(k.as_str()),
                HeaderValue::try_from(v.as_str()),
            ) {
                (Ok(k), Ok(v)) => Ok((k, v)),
                _ => Err(args.error_at(
                    "response_headers",
                    format!("`{k}: {v}` is not a valid header"),
                )),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let field = |args: &mut Args,
                 name: &str,
                 legacy: &str,
                 ecs_path: &str|
     -> Result<FieldRef, ConfigError> {
        let default = if ecs.enabled() { ecs_path } else { legacy };
        let s = args.string_or(name, default)?;
        args.make_field(name, &s)
    };
    let remote_host_field = field(args, "remote_host_target_field", "host", "[host][ip]")?;
    let headers_field = field(
        args,
        "request_headers_target_field",
        "headers",
        "[@metadata][input][http][request][headers]",
    )?;
    let tls = if args.bool("ssl_enabled", false)? || args.bool("ssl", false)? {
        let cert = args
            .string("ssl_certificate")?
            .ok_or_else(|| args.error("TLS needs ssl_certificate"))?;
        let key = args
            .string("ssl_key")?
            .ok_or_else(|| args.error("TLS needs ssl_key"))?;
        let cas: Vec<PathBuf> = args
            .strings("ssl_certificate_authorities")?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let auth = args.choice(
            "ssl_client_authentication",
            &["none", "optional", "required"],
            "none",
        )?;
        Some(
            rstash_net::server(
                &PathBuf::from(cert),
                &PathBuf::from(key),
                &cas,
                ClientAuth::parse(&auth).unwrap_or(ClientAuth::None),
            )
            .map_err(|e| args.unavailable("ssl_certificate", format!("http input TLS: {e}")))?,
        )
    } else {
        None
    };
    let max_content_length = args.int("max_content_length", 100 * 1024 * 1024)?.max(0) as usize;
    let max_pending = args.int("max_pending_requests", 200)?.max(1) as usize;
    let threads = args.int("threads", 2)?.clamp(1, 64) as usize;
    Ok(Box::new(Http {
        addr: format!("{host}:{port}"),
        tls,
        threads,
        parts: Some(Box::new(move |ctx| Shared {
            ctx,
            codec: Mutex::new(codec),
            by_type,
            auth,
            ecs,
            remote_host_field,
            headers_field,
            response_code,
            response_headers,
            max_content_length,
            max_pending,
            pending: AtomicUsize::new(0),
        })),
    }))
}

fn reply(code: StatusCode, body: &'static str) -> Response {
    (code, body).into_response()
}

/// Rack-style names, as Logstash's legacy `headers`: `http_user_agent`, `content_type`...
fn legacy_header_name(name: &str) -> String {
    let n = name.to_ascii_lowercase().replace('-', "_");
    if n == "content_type" || n == "content_length" {
        n
    } else {
        format!("http_{n}")
    }
}

impl Shared {
    fn decorate(&self, e: &mut Event, req: &axum::http::request::Parts, peer: SocketAddr) {
        let set = |e: &mut Event, f: &FieldRef, v: Value| {
            if !e.includes(f) {
                let _ = e.set(f, v);
            }
        };
        set(
            e,
            &self.remote_host_field,
            Value::String(peer.ip().to_string().into()),
        );
        let version = format!("{:?}", req.version);
        let mut headers = Map::default();
        if self.ecs.enabled() {
            for (k, v) in &req.headers {
                headers.insert(
                    k.as_str().into(),
                    Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned().into()),
                );
            }
            let mut put = |path: &str, v: Value| {
                if let Ok(f) = FieldRef::parse(path) {
                    set(e, &f, v);
                }
            };
            put("[http][request][method]", req.method.as_str().into());
            put(
                "[http][version]",
                version.trim_start_matches("HTTP/").into(),
            );
            put("[url][path]", req.uri.path().into());
            if let Some(q) = req.uri.query() {
                put("[url][query]", q.into());
            }
            if let Some(ua) = req.headers.get("user-agent") {
                put(
                    "[user_agent][original]",
                    String::from_utf8_lossy(ua.as_bytes()).into_owned().into(),
                );
            }
            if let Some(ct) = req.headers.get("content-type") {
                put(
                    "[http][request][mime_type]",
                    String::from_utf8_lossy(ct.as_bytes()).into_owned().into(),
                );
            }
        } else {
            headers.insert("request_method".into(), req.method.as_str().into());
            headers.insert("request_path".into(), req.uri.path().into());
            headers.insert(
                "request_uri".into(),
                req.uri.path_and_query().map_or("/", |p| p.as_str()).into(),
            );
            headers.insert("http_version".into(), version.into());
            for (k, v) in &req.headers {
                headers.insert(
                    legacy_header_name(k.as_str()).into(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
                );
            }
        }
        set(e, &self.headers_field, Value::Object(headers));
    }

    fn decode(&self, content_type: Option<&str>, body: &[u8]) -> Vec<Event> {
        let mime = content_type.map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        let codec = mime
            .and_then(|m| self.by_type.iter().find(|(t, _)| *t == m).map(|(_, c)| c))
            .unwrap_or(&self.codec);
        let mut c = codec
            .lock()
            .map(|c| c.fresh())
            .unwrap_or_else(|p| p.into_inner().fresh());
        let mut events = Vec::new();
        c.decode(body, &mut |e| events.push(e));
        c.flush(&mut |e| events.push(e));
        events
    }

    async fn handle(self: Arc<Self>, peer: SocketAddr, req: Request) -> Response {
        if let Some(auth) = &self.auth {
            if req.headers().get("authorization").map(|v| v.as_bytes()) != Some(auth.as_bytes()) {
                let mut r = reply(StatusCode::UNAUTHORIZED, "failed to authenticate");
                r.headers_mut().insert(
                    "www-authenticate",
                    HeaderValue::from_static("Basic realm=\"Logstash HTTP Input\""),
                );
                return r;
            }
        }
        let (parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(Body::new(body), self.max_content_length).await {
            Ok(b) => b,
            Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, "request entity too large"),
        };
        let ct = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let mut events = self.decode(ct, &body);
        for e in &mut events {
            self.decorate(e, &parts, peer);
        }
        // Room in the queue: in at once. Full: wait, unless too many requests already wait.
        let events = match self.ctx.try_push_all(events) {
            Ok(()) => return self.ok(),
            Err(Err(_)) => return reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            Err(Ok(back)) => back,
        };
        if self.pending.fetch_add(1, Ordering::SeqCst) >= self.max_pending {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            return reply(StatusCode::TOO_MANY_REQUESTS, "too many requests");
        }
        let sh = self.clone();
        let pushed = tokio::task::spawn_blocking(move || sh.ctx.push_decorated(events)).await;
        self.pending.fetch_sub(1, Ordering::SeqCst);
        match pushed {
            Ok(Ok(())) => self.ok(),
            _ => reply(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
        }
    }

    fn ok(&self) -> Response {
        let mut r = (self.response_code, "ok").into_response();
        for (k, v) in &self.response_headers {
            r.headers_mut().insert(k.clone(), v.clone());
        }
        r
    }
}

/// Accepts TCP and hands over TLS streams once their handshake is done (a slow handshake does
/// not hold up other clients).
struct TlsListener {
    rx: tokio::sync::mpsc::Receiver<(
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    )>,
    local: SocketAddr,
}

impl TlsListener {
    fn new(listener: tokio::net::TcpListener, acc: TlsAcceptor) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((sock, peer)) = listener.accept().await else {
                    continue;
                };
                let (acc, tx) = (acc.clone(), tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => warn!("http input: TLS handshake with {peer} failed: {e}"),
                        Err(_) => warn!("http input: TLS handshake with {peer} timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { rx, local })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(x) => x,
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The client's address, for plain and TLS connections alike.
#[derive(Clone, Copy)]
struct Peer(SocketAddr);

impl Connected<IncomingStream<'_, TlsListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, TlsListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

impl Connected<IncomingStream<'_, tokio::net::TcpListener>> for Peer {
    fn connect_info(s: IncomingStream<'_, tokio::net::TcpListener>) -> Peer {
        Peer(*s.remote_addr())
    }
}

impl Input for Http {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let Some(parts) = self.parts.take() else {
            return Err(PluginError("http input started twice".into()));
        };
        let shared = Arc::new(parts(ctx.clone()));
        let rt = rstash_net::runtime("http-input", self.threads)?;
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(&self.addr)
                .await
                .map_err(|e| {
                    PluginError(format!("http input cannot listen on {}: {e}", self.addr))
                })?;
            info!("http input listening on {}", self.addr);
            let sh = shared.clone();
            let app = axum::Router::new().fallback(
                move |ConnectInfo(peer): ConnectInfo<Peer>, req: Request| {
                    let sh = sh.clone();
                    async move { sh.handle(peer.0, req).await }
                },
            );
            let stop = {
                let ctx = ctx.clone();
                async move {
                    while !ctx.is_stopping() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            };
            let served = match &self.tls {
                None => {
                    axum::serve(listener, app.into_make_service_with_connect_info::<Peer>())
                        .with_graceful_shutdown(stop)
                        .await
                }
                Some(acc) => {
                    let l = TlsListener::new(listener, acc.clone())?;
                    axum::serve(l, app.into_make_service_with_connect_info::<Peer>())
                        .with_graceful_shutdown(stop)
                        .await
                }
            };
            served.map_err(|e| PluginError(format!("http input: {e}")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_header_names_follow_rack() {
        assert_eq!(legacy_header_name("User-Agent"), "http_user_agent");
        assert_eq!(legacy_header_name("Content-Type"), "content_type");
        assert_eq!(legacy_header_name("X-Request-Id"), "http_x_request_id");
    }
}
