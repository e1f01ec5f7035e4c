//! `beats`: the Lumberjack v2 server Filebeat ships to. Each batch's events go into the queue, then
//! the batch is ACKed with its highest sequence number; while the queue pushes back, `ACK 0` goes
//! out every 5 s so the client waits instead of timing out. Connections are independent: a bad
//! frame closes only its own.

use rstash_pipeline::{opt, Options, Ty};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use bytes::BytesMut;
use rstash_beats_protocol::{decode, encode_ack, Assembler, Batch, Limits, RawEvent};
use rstash_config::ConfigError;
use rstash_event::map::Entry;
use rstash_event::{json, Event, FieldRef, Key, Map, Value};
use rstash_net::{ClientAuth, TlsAcceptor};
use rstash_pipeline::{Args, Codec, Input, InputContext, PluginError};
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
    /// Where the client's IP goes (`enrich => source_metadata`).
    ip_field: Option<FieldRef>,
    /// `add_hostname`: (where Beats put the host name, where it goes), parsed once.
    hostname: Option<(FieldRef, FieldRef)>,
}

const KEEPALIVE: Duration = Duration::from_secs(5);

pub const OPTIONS: Options = &[
    &[
        opt("port", Ty::Number).required(),
        opt("host", Ty::Str).default("0.0.0.0"),
        opt("client_inactivity_timeout", Ty::Number).default("60"),
        opt("include_codec_tag", Ty::Boolean).default("true"),
        opt("enrich", Ty::Array).default("[\"source_metadata\", \"codec_metadata\"]"),
        opt("add_hostname", Ty::Boolean).default("false"),
        opt("threads", Ty::Number).default("2"),
        opt("executor_threads", Ty::Number).ignored("connections run on the input's threads"),
    ],
    super::TLS_SERVER,
];

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
                .map_err(|e| args.unavailable("ssl_certificate", format!("beats TLS: {e}")))?,
        )
    } else {
        None
    };
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
            ip_field: source_metadata
                .then(|| {
                    FieldRef::parse(if ecs.enabled() {
                        "[@metadata][input][beats][host][ip]"
                    } else {
                        "[@metadata][ip_address]"
                    })
                    .ok()
                })
                .flatten(),
            hostname: if args.bool("add_hostname", false)? {
                let to = if ecs.enabled() {
                    "[@metadata][input][beats][host][name]"
                } else {
                    "host"
                };
                FieldRef::parse("[beat][hostname]")
                    .ok()
                    .zip(FieldRef::parse(to).ok())
            } else {
                None
            },
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
    let mut codec: Option<Box<dyn Codec>> = None;
    let peer_ip = Value::String(peer.ip().to_string().into());
    let mut fields = Vec::new();
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
                let c = codec.get_or_insert_with(|| (opts.codec)());
                let events: Vec<Event> = batch
                    .events
                    .into_iter()
                    .map(|raw| to_event(raw, &peer_ip, &opts, c.as_mut(), &mut fields))
                    .collect();
                // Fast path: room in the queue. Otherwise wait on a blocking thread, with keep-alives.
                match ctx.try_push_all(events) {
                    Ok(()) => {}
                    Err(Err(_stopped)) => {
                        return Err("pipeline is stopping; batch not acknowledged".into())
                    }
                    Err(Ok(events)) => {
                        let ctx2 = ctx.clone();
                        let mut push =
                            tokio::task::spawn_blocking(move || ctx2.push_decorated(events));
                        let mut ka = tokio::time::interval_at(
                            tokio::time::Instant::now() + KEEPALIVE,
                            KEEPALIVE,
                        );
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
                        if !matches!(pushed, Ok(Ok(()))) {
                            return Err("pipeline is stopping; batch not acknowledged".into());
                        }
                    }
                }
            }
            s.write_all(&encode_ack(version, seq))
                .await
                .map_err(|e| e.to_string())?;
        }
        s.flush().await.map_err(|e| e.to_string())?;
    }
}

/// Merges `v` into an existing hash at `key` (Beats send nested objects that may meet codec output).
fn merge_into(target: &mut Map, key: rstash_event::Key, v: Value) {
    match (target.entry(key), v) {
        (Entry::Occupied(mut o), Value::Object(new)) => match o.get_mut() {
            Value::Object(existing) => {
                for (k, v) in new {
                    merge_into(existing, k, v);
                }
            }
            old => *old = Value::Object(new),
        },
        (Entry::Occupied(mut o), v) => *o.get_mut() = v,
        (Entry::Vacant(slot), v) => {
            slot.insert(v);
        }
    }
}

/// `fields`: the connection's buffer for the client's top-level entries, reused event to event.
fn to_event(
    raw: RawEvent,
    peer_ip: &Value,
    o: &Transform,
    codec: &mut dyn Codec,
    fields: &mut Vec<(Key, Value)>,
) -> Event {
    match raw {
        RawEvent::Json(bytes) => match json::parse_object_into(&bytes, fields) {
            Ok(true) => {}
            Ok(false) | Err(_) => {
                let mut e = match json::parse(&bytes) {
                    Ok(other) => Event::with_message(json::value_to_string(&other)),
                    Err(err) => {
                        warn!("beats event is not JSON: {err}");
                        Event::with_message(String::from_utf8_lossy(&bytes).into_owned())
                    }
                };
                e.tag("_jsonparsefailure");
                return e;
            }
        },
        RawEvent::Data(pairs) => {
            fields.clear();
            for (k, v) in pairs {
                json::put_entry(fields, k.into(), Value::String(v.into()));
            }
        }
    }
    let target = ["message", "line"].into_iter().find_map(|k| {
        fields
            .iter()
            .position(|(key, v)| key == k && matches!(v, Value::String(_)))
    });
    let mut e = match target {
        Some(target) => {
            // The codec's event first, then every other key merged in, in the client's order.
            let mut e: Option<Event> = None;
            if let Value::String(text) = std::mem::replace(&mut fields[target].1, Value::Null) {
                codec.decode_text(text, &mut |ev| {
                    e.get_or_insert(ev);
                });
            }
            let mut e = e.unwrap_or_default();
            e.reserve(fields.len() - 1);
            for (i, (k, v)) in fields.drain(..).enumerate() {
                if i == target {
                    continue;
                }
                match (k.as_str(), v) {
                    ("@timestamp", v) => e.set_timestamp_value(v),
                    ("@metadata", Value::Object(meta)) => {
                        for (mk, mv) in meta {
                            merge_into(e.metadata_mut(), mk, mv);
                        }
                    }
                    (_, v) => merge_into(e.data_mut(), k, v),
                }
            }
            if let Some(t) = &o.codec_tag {
                e.push_tag(t.clone());
            }
            e
        }
        None => {
            let mut e = Event::from_map(fields.drain(..).collect());
            if o.codec_tag.is_some() {
                e.push_tag("beats_input_raw_event".into());
            }
            e
        }
    };
    if let Some(f) = &o.ip_field {
        let _ = e.set(f, peer_ip.clone());
    }
    if let Some((from, to)) = &o.hostname {
        if let Some(h) = e.get(from).cloned() {
            if !e.includes(to) {
                let _ = e.set(to, h);
            }
        }
    }
    e
}
