//! `beats`: the Lumberjack v2 server Filebeat ships to. Each batch's events go into the queue, then
//! the batch is ACKed with its highest sequence number; while the queue pushes back, `ACK 0` goes
//! out every 5 s so the client waits instead of timing out. Connections are independent: a bad
//! frame closes only its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use rstash_beats_protocol::{decode, encode_ack, Assembler, Batch, Limits, RawEvent};
use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Map, Value};
use rstash_net::{ClientAuth, TlsAcceptor};
use rstash_pipeline::{Args, Codec, Ecs, Input, InputContext, PluginError};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tracing::{debug, info, warn};

pub struct Beats {
    addr: String,
    tls: Option<TlsAcceptor>,
    inactivity: Duration,
    opts: Transform,
    limits: Limits,
    threads: usize,
}

/// What each decoded JSON object becomes (Logstash's MessageListener and EventTransform).
#[derive(Clone)]
struct Transform {
    codec: std::sync::Arc<dyn Fn() -> Box<dyn Codec> + Send + Sync>,
    codec_tag: Option<String>,
    source_metadata: bool,
    add_hostname: bool,
    ecs: Ecs,
}

const KEEPALIVE: Duration = Duration::from_secs(5);

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let port = args.int("port", -1)?;
    if !(0..=65535).contains(&port) {
        return Err(args.error("beats input needs `port` (0-65535)"));
    }
    let host = args.string_or("host", "0.0.0.0")?;
    let ssl = args.bool("ssl_enabled", false)? || args.bool("ssl", false)?;
    let tls = if ssl {
        let cert = args
            .string("ssl_certificate")?
            .ok_or_else(|| args.error("ssl_enabled needs ssl_certificate"))?;
        let key = args
            .string("ssl_key")?
            .ok_or_else(|| args.error("ssl_enabled needs ssl_key"))?;
        let cas: Vec<PathBuf> = args
            .strings("ssl_certificate_authorities")?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let default_auth = if cas.is_empty() { "none" } else { "required" };
        let auth = args.choice(
            "ssl_client_authentication",
            &["none", "optional", "required"],
            default_auth,
        )?;
        let auth = ClientAuth::parse(&auth).unwrap_or(ClientAuth::None);
        Some(
            rstash_net::server(&PathBuf::from(cert), &PathBuf::from(key), &cas, auth)
                .map_err(|e| args.error(format!("beats TLS: {e}")))?,
        )
    } else {
        None
    };
    for o in [
        "ssl_handshake_timeout",
        "ssl_supported_protocols",
        "ssl_cipher_suites",
        "ssl_key_passphrase",
        "executor_threads",
    ] {
        args.raw(o);
    }
    let inactivity = Duration::from_secs(args.int("client_inactivity_timeout", 60)?.max(1) as u64);
    let include_codec_tag = args.bool("include_codec_tag", true)?;
    let enrich = if args.has("enrich") {
        args.strings("enrich")?
    } else {
        vec!["source_metadata".into(), "codec_metadata".into()]
    };
    let has = |n: &str| enrich.iter().any(|e| e == n || e == "all");
    let codec_metadata =
        has("codec_metadata") && include_codec_tag && !enrich.iter().any(|e| e == "none");
    let source_metadata = has("source_metadata") && !enrich.iter().any(|e| e == "none");
    let ecs = args.ecs()?;
    let codec = args.codec("plain")?;
    let codec_tag = codec_metadata.then(|| format!("beats_input_codec_{}_applied", codec.name()));
    let proto: std::sync::Mutex<Box<dyn Codec>> = std::sync::Mutex::new(codec);
    let factory = move || {
        proto
            .lock()
            .map(|c| c.fresh())
            .unwrap_or_else(|p| p.into_inner().fresh())
    };
    Ok(Box::new(Beats {
        addr: format!("{host}:{port}"),
        tls,
        inactivity,
        opts: Transform {
            codec: std::sync::Arc::new(factory),
            codec_tag,
            source_metadata,
            add_hostname: args.bool("add_hostname", false)?,
            ecs,
        },
        limits: Limits::default(),
        threads: args.int("threads", 2)?.max(1) as usize,
    }))
}

impl Input for Beats {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let rt = rstash_net::runtime("beats-input", self.threads)?;
        rt.block_on(self.serve(ctx.clone()))
    }
}

impl Beats {
    async fn serve(&self, ctx: InputContext) -> Result<(), PluginError> {
        let listener = TcpListener::bind(&self.addr)
            .await
            .map_err(|e| PluginError(format!("beats input cannot listen on {}: {e}", self.addr)))?;
        info!(
            "beats input listening on {}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        );
        let mut stop_check = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (sock, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => { warn!("beats accept: {e}"); continue; }
                    };
                    let _ = sock.set_nodelay(true);
                    let (ctx, opts, tls, limits, inactivity) = (ctx.clone(), self.opts.clone(), self.tls.clone(), self.limits, self.inactivity);
                    tokio::spawn(async move {
                        let r = match tls {
                            Some(acc) => match tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await {
                                Ok(Ok(s)) => connection(s, peer, ctx, opts, limits, inactivity).await,
                                Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                                Err(_) => Err("TLS handshake timed out".into()),
                            },
                            None => connection(sock, peer, ctx, opts, limits, inactivity).await,
                        };
                        match r {
                            Ok(()) => debug!("beats connection from {peer} closed"),
                            Err(e) => warn!("beats connection from {peer} closed: {e}"),
                        }
                    });
                }
                _ = stop_check.tick() => {
                    if ctx.is_stopping() {
                        return Ok(());
                    }
                }
            }
        }
    }
}

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    peer: SocketAddr,
    ctx: InputContext,
    opts: Transform,
    limits: Limits,
    inactivity: Duration,
) -> Result<(), String> {
    let mut buf = BytesMut::with_capacity(64 << 10);
    let mut asm = Assembler::new(limits);
    let mut batches: Vec<Batch> = Vec::new();
    let mut codec = Some((opts.codec)());
    loop {
        let n = match tokio::time::timeout(inactivity, s.read_buf(&mut buf)).await {
            Err(_) => {
                return Err(format!(
                    "no data for {inactivity:?} (client_inactivity_timeout)"
                ))
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => n,
        };
        debug!("read {n} bytes from {peer}");
        while let Some(frame) = decode(&mut buf, &limits).map_err(|e| e.to_string())? {
            asm.push(frame, &mut batches).map_err(|e| e.to_string())?;
        }
        for batch in batches.drain(..) {
            let (version, seq) = (batch.version, batch.highest_seq);
            if !batch.events.is_empty() {
                let (ctx2, opts2, mut c) = (
                    ctx.clone(),
                    opts.clone(),
                    codec.take().unwrap_or_else(|| (opts.codec)()),
                );
                let mut push = tokio::task::spawn_blocking(move || {
                    let events: Vec<Event> = batch
                        .events
                        .into_iter()
                        .map(|raw| to_event(raw, peer, &opts2, c.as_mut()))
                        .collect();
                    (ctx2.push_all(events), c)
                });
                let mut ka =
                    tokio::time::interval_at(tokio::time::Instant::now() + KEEPALIVE, KEEPALIVE);
                let pushed = loop {
                    tokio::select! {
                        r = &mut push => break r,
                        _ = ka.tick() => {
                            debug!("queue is full: keep-alive ACK 0 to {peer}");
                            s.write_all(&encode_ack(b'2', 0)).await.map_err(|e| e.to_string())?;
                            s.flush().await.map_err(|e| e.to_string())?;
                        }
                    }
                };
                let (result, c) = pushed.map_err(|e| format!("event conversion failed: {e}"))?;
                codec = Some(c);
                if result.is_err() {
                    return Err("pipeline is stopping; batch not acknowledged".into());
                }
            }
            s.write_all(&encode_ack(version, seq))
                .await
                .map_err(|e| e.to_string())?;
        }
        s.flush().await.map_err(|e| e.to_string())?;
    }
}

fn set(e: &mut Event, field: &str, v: Value) {
    if let Ok(r) = FieldRef::parse(field) {
        let _ = e.set(&r, v);
    }
}

/// Merges `v` into an existing hash at `key` (Beats send nested objects that may meet codec output).
fn merge_into(target: &mut Map, key: rstash_event::Key, v: Value) {
    match (target.get_mut(&key), v) {
        (Some(Value::Object(existing)), Value::Object(new)) => {
            for (k, v) in new {
                merge_into(existing, k, v);
            }
        }
        (_, v) => {
            target.insert(key, v);
        }
    }
}

fn to_event(raw: RawEvent, peer: SocketAddr, o: &Transform, codec: &mut dyn Codec) -> Event {
    let mut hash: Map = match raw {
        RawEvent::Json(bytes) => match json::parse(&bytes) {
            Ok(Value::Object(m)) => m,
            Ok(other) => {
                let mut e = Event::with_message(json::value_to_string(&other));
                e.tag("_jsonparsefailure");
                return e;
            }
            Err(err) => {
                warn!("beats event is not JSON: {err}");
                let mut e = Event::with_message(String::from_utf8_lossy(&bytes).into_owned());
                e.tag("_jsonparsefailure");
                return e;
            }
        },
        RawEvent::Data(pairs) => pairs
            .into_iter()
            .map(|(k, v)| (k.into(), Value::String(v)))
            .collect(),
    };
    let target = ["message", "line"]
        .into_iter()
        .find(|k| matches!(hash.get(*k), Some(Value::String(_))));
    let mut e = match target.and_then(|k| hash.shift_remove(k)) {
        Some(Value::String(text)) => {
            let mut decoded = None;
            codec.decode(text.as_bytes(), &mut |ev| {
                decoded.get_or_insert(ev);
            });
            codec.flush(&mut |ev| {
                decoded.get_or_insert(ev);
            });
            let mut e = decoded.unwrap_or_else(|| Event::with_message(text));
            if let Some(ts) = hash.shift_remove("@timestamp") {
                e.set_timestamp_value(ts);
            }
            if let Some(Value::Object(meta)) = hash.shift_remove("@metadata") {
                for (k, v) in meta {
                    merge_into(e.metadata_mut(), k, v);
                }
            }
            for (k, v) in hash {
                merge_into(e.data_mut(), k, v);
            }
            if let Some(t) = &o.codec_tag {
                e.push_tag(t.clone());
            }
            e
        }
        _ => {
            let mut e = Event::from_map(hash);
            if o.codec_tag.is_some() {
                e.push_tag("beats_input_raw_event".into());
            }
            e
        }
    };
    if o.source_metadata {
        let f = if o.ecs.enabled() {
            "[@metadata][input][beats][host][ip]"
        } else {
            "[@metadata][ip_address]"
        };
        set(&mut e, f, Value::String(peer.ip().to_string()));
    }
    if o.add_hostname {
        let host_field = if o.ecs.enabled() {
            "[@metadata][input][beats][host][name]"
        } else {
            "host"
        };
        let hn = FieldRef::parse("[beat][hostname]")
            .ok()
            .and_then(|r| e.get(&r).cloned());
        if let (Some(h), Ok(hf)) = (hn, FieldRef::parse(host_field)) {
            if !e.includes(&hf) {
                let _ = e.set(&hf, h);
            }
        }
    }
    e
}
