//! `tcp`: events from TCP connections (codec `line` by default; `plain`/`json` become
//! `line`/`json_lines`), as a server or as a client; optional TLS. The peer's address goes to
//! `host`/`port` (ECS: `[@metadata][input][tcp][source][ip|port]`).

use rstash_pipeline::{opt, Options, Ty};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_net::{ClientAuth, TlsAcceptor};
use rstash_pipeline::{Args, Codec, Ecs, Input, InputContext, PluginError};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::{info, warn};

pub struct Tcp {
    addr: String,
    server: bool,
    tls: Option<TlsAcceptor>,
    codec: Arc<Mutex<Box<dyn Codec>>>,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[
    &[
        opt("codec", Ty::Codec).default("line"),
        opt("port", Ty::Number).required(),
        opt("host", Ty::Str).default("0.0.0.0"),
        opt("mode", Ty::Choice(&["server", "client"])).default("server"),
        opt("ssl_enable", Ty::Boolean).deprecated("use ssl_enabled"),
        opt("ssl_cert", Ty::Path).deprecated("use ssl_certificate"),
        opt("ssl_verify", Ty::Boolean).ignored("use ssl_client_authentication"),
        opt("tcp_keep_alive", Ty::Boolean)
            .default("false")
            .ignored("keep-alive is the system's"),
        opt("dns_reverse_lookup_enabled", Ty::Boolean).ignored("peers are named by address"),
        opt("proxy_protocol", Ty::Boolean).ignored("the PROXY protocol is not read"),
    ],
    super::TLS_SERVER,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let port = args.int("port", -1)?;
    if !(0..=65535).contains(&port) {
        return Err(args.error("tcp input needs `port` (0-65535)"));
    }
    let host = args.string_or("host", "0.0.0.0")?;
    let server = args.choice("mode", &["server", "client"], "server")? == "server";
    let tls = if args.bool("ssl_enabled", false)? || args.bool("ssl_enable", false)? {
        let cert = args
            .string("ssl_certificate")?
            .or(args.string("ssl_cert")?)
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
            if cas.is_empty() { "none" } else { "required" },
        )?;
        let acc = rstash_net::server(
            &PathBuf::from(cert),
            &PathBuf::from(key),
            &cas,
            ClientAuth::parse(&auth).unwrap_or(ClientAuth::None),
        )
        .map_err(|e| args.unavailable("ssl_certificate", format!("tcp TLS: {e}")))?;
        if !server {
            return Err(args.error_at("mode", "TLS on the tcp input is supported in server mode"));
        }
        Some(acc)
    } else {
        None
    };
    let codec = args.codec("line")?;
    let codec = codec.streaming().unwrap_or(codec);
    Ok(Box::new(Tcp {
        addr: format!("{host}:{port}"),
        server,
        tls,
        codec: Arc::new(Mutex::new(codec)),
        ecs: args.ecs()?,
    }))
}

impl Input for Tcp {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let rt = rstash_net::runtime("tcp-input", 2)?;
        rt.block_on(async {
            if self.server {
                self.serve(ctx.clone()).await
            } else {
                self.connect(ctx.clone()).await
            }
        })
    }
}

impl Tcp {
    fn fresh_codec(&self) -> Box<dyn Codec> {
        self.codec
            .lock()
            .map(|c| c.fresh())
            .unwrap_or_else(|p| p.into_inner().fresh())
    }

    async fn serve(&self, ctx: InputContext) -> Result<(), PluginError> {
        let listener = tokio::net::TcpListener::bind(&self.addr)
            .await
            .map_err(|e| PluginError(format!("tcp input cannot listen on {}: {e}", self.addr)))?;
        info!("tcp input listening on {}", self.addr);
        let mut stop = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                a = listener.accept() => {
                    let Ok((sock, peer)) = a else { continue };
                    let (ctx, codec, ecs, tls) = (ctx.clone(), self.fresh_codec(), self.ecs, self.tls.clone());
                    tokio::spawn(async move {
                        let r = match tls {
                            Some(acc) => match acc.accept(sock).await {
                                Ok(s) => read_stream(s, peer, ctx, codec, ecs).await,
                                Err(e) => Err(format!("TLS handshake failed: {e}")),
                            },
                            None => read_stream(sock, peer, ctx, codec, ecs).await,
                        };
                        if let Err(e) = r {
                            warn!("tcp connection from {peer}: {e}");
                        }
                    });
                }
                _ = stop.tick() => if ctx.is_stopping() { return Ok(()); }
            }
        }
    }

    /// Client mode: connect to `host:port` and read; reconnect when the server goes away.
    async fn connect(&self, ctx: InputContext) -> Result<(), PluginError> {
        while !ctx.is_stopping() {
            match tokio::net::TcpStream::connect(&self.addr).await {
                Ok(s) => {
                    let peer = s.peer_addr()?;
                    if let Err(e) =
                        read_stream(s, peer, ctx.clone(), self.fresh_codec(), self.ecs).await
                    {
                        warn!("tcp input connection to {}: {e}", self.addr);
                    }
                }
                Err(e) => warn!("tcp input cannot connect to {}: {e}", self.addr),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    }
}

fn stamp(e: &mut Event, peer: SocketAddr, ecs: Ecs) {
    let (host, port) = if ecs.enabled() {
        (
            "[@metadata][input][tcp][source][ip]",
            "[@metadata][input][tcp][source][port]",
        )
    } else {
        ("host", "port")
    };
    for (f, v) in [
        (host, Value::String(peer.ip().to_string().into())),
        (port, Value::Int(peer.port() as i64)),
    ] {
        if let Ok(r) = FieldRef::parse(f) {
            if !e.includes(&r) {
                let _ = e.set(&r, v);
            }
        }
    }
}

async fn read_stream<S: AsyncRead + Unpin>(
    mut s: S,
    peer: SocketAddr,
    ctx: InputContext,
    mut codec: Box<dyn Codec>,
    ecs: Ecs,
) -> Result<(), String> {
    let mut buf = vec![0u8; 64 << 10];
    // A codec that flushes on idleness (multiline) is ticked while the peer is quiet.
    let tick = codec
        .auto_flush()
        .map(|d| (d / 4).max(std::time::Duration::from_millis(10)));
    loop {
        // None: the codec's idle interval passed without data.
        let read = match tick {
            Some(wait) => tokio::time::timeout(wait, s.read(&mut buf)).await.ok(),
            None => Some(s.read(&mut buf).await),
        };
        let mut events = Vec::new();
        let n = match read {
            None => {
                codec.tick(&mut |e| events.push(e));
                None
            }
            Some(r) => Some(r.map_err(|e| e.to_string())?),
        };
        match n {
            Some(0) => codec.flush(&mut |e| events.push(e)),
            Some(n) => codec.decode(&buf[..n], &mut |e| events.push(e)),
            None => {}
        }
        for e in &mut events {
            stamp(e, peer, ecs);
        }
        if !events.is_empty() {
            let c = ctx.clone();
            let r = tokio::task::spawn_blocking(move || c.push_all(events))
                .await
                .map_err(|e| e.to_string())?;
            if r.is_err() {
                return Ok(());
            }
        }
        if n == Some(0) {
            return Ok(());
        }
    }
}
