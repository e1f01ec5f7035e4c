//! `tcp`: writes encoded events (codec `json` by default, as Logstash) to a server it connects to
//! (`mode => client`, retrying every `reconnect_interval` seconds until written: nothing is
//! dropped), or to every client connected to it (`mode => server`). Optional TLS.

use rstash_pipeline::{opt, Options, Ty};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_net::TlsConnector;
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::Mutex;
use tracing::{info, warn};

type Sink = Box<dyn AsyncWrite + Unpin + Send>;

pub struct TcpOut {
    host: String,
    port: u16,
    codec: Box<dyn Codec>,
    rt: tokio::runtime::Runtime,
    reconnect: Duration,
    tls: Option<TlsConnector>,
    conn: Option<Sink>,
    clients: Option<Arc<Mutex<Vec<Sink>>>>,
    buf: Vec<u8>,
}

pub const OPTIONS: Options = &[&[
    opt("codec", Ty::Codec).default("json"),
    opt("host", Ty::Str).required(),
    opt("port", Ty::Number).required(),
    opt("mode", Ty::Choice(&["server", "client"])).default("client"),
    opt("reconnect_interval", Ty::Number).default("10"),
    opt("ssl_enabled", Ty::Boolean).default("false"),
    opt("ssl_enable", Ty::Boolean).deprecated("use ssl_enabled"),
    opt("ssl_certificate_authorities", Ty::Array).default("[]"),
    opt("ssl_cacert", Ty::Path).deprecated("use ssl_certificate_authorities"),
    opt("ssl_certificate", Ty::Path),
    opt("ssl_cert", Ty::Path).deprecated("use ssl_certificate"),
    opt("ssl_key", Ty::Path),
    opt("ssl_verification_mode", Ty::Choice(&["full", "none"]))
        .default("full")
        .ignored("server certificates are always verified"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(host) = args.string("host")? else {
        return Err(args.error("tcp output needs `host`"));
    };
    let port = args.int("port", -1)?;
    let port = u16::try_from(port).map_err(|_| args.error("tcp output needs `port` (0-65535)"))?;
    let server = args.choice("mode", &["server", "client"], "client")? == "server";
    let reconnect = Duration::from_secs(args.int("reconnect_interval", 10)?.max(1) as u64);
    let tls = if args.bool("ssl_enabled", false)? || args.bool("ssl_enable", false)? {
        let cas: Vec<PathBuf> = args
            .strings("ssl_certificate_authorities")?
            .into_iter()
            .chain(args.string("ssl_cacert")?)
            .map(PathBuf::from)
            .collect();
        let cert = args.string("ssl_certificate")?.or(args.string("ssl_cert")?);
        let key = args.string("ssl_key")?;
        let identity = match (&cert, &key) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            _ => None,
        };
        Some(
            rstash_net::client(
                &cas,
                identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
            )
            .map_err(|e| args.unavailable("ssl_certificate", format!("tcp output TLS: {e}")))?,
        )
    } else {
        None
    };
    let rt =
        rstash_net::runtime("tcp-output", 1).map_err(|e| args.error(format!("tcp output: {e}")))?;
    // Server mode listens from `register`, at start: `-t` must not take the port.
    let clients = server.then(Arc::<Mutex<Vec<Sink>>>::default);
    Ok(Box::new(TcpOut {
        host,
        port,
        codec: args.codec("json")?,
        rt,
        reconnect,
        tls,
        conn: None,
        clients,
        buf: Vec::new(),
    }))
}

impl TcpOut {
    async fn connect(host: &str, port: u16, tls: &Option<TlsConnector>) -> std::io::Result<Sink> {
        let s = tokio::net::TcpStream::connect((host, port)).await?;
        s.set_nodelay(true)?;
        Ok(match tls {
            Some(t) => Box::new(
                t.connect(
                    rstash_net::server_name(host).map_err(std::io::Error::other)?,
                    s,
                )
                .await?,
            ),
            None => Box::new(s),
        })
    }
}

impl Output for TcpOut {
    fn register(&mut self) -> Result<(), PluginError> {
        let Some(clients) = self.clients.clone() else {
            return Ok(());
        };
        let (host, port) = (self.host.as_str(), self.port);
        let listener = self
            .rt
            .block_on(tokio::net::TcpListener::bind((host, port)))
            .map_err(|e| PluginError(format!("tcp output cannot listen on {host}:{port}: {e}")))?;
        // As the inputs do: where clients are to connect.
        info!("tcp output listening on {host}:{port}");
        self.rt.spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                clients.lock().await.push(Box::new(s));
            }
        });
        Ok(())
    }

    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        self.buf.clear();
        for e in events {
            self.codec.encode(e, &mut self.buf);
        }
        let buf = &self.buf;
        if let Some(clients) = &self.clients {
            return self.rt.block_on(async {
                let mut cs = clients.lock().await;
                let mut alive = Vec::with_capacity(cs.len());
                for mut c in cs.drain(..) {
                    if c.write_all(buf).await.is_ok() && c.flush().await.is_ok() {
                        alive.push(c);
                    }
                }
                *cs = alive;
                Ok(())
            });
        }
        let (host, port, tls, reconnect, conn) = (
            &self.host,
            self.port,
            &self.tls,
            self.reconnect,
            &mut self.conn,
        );
        self.rt.block_on(async {
            loop {
                if conn.is_none() {
                    match Self::connect(host, port, tls).await {
                        Ok(c) => *conn = Some(c),
                        Err(e) => {
                            warn!("tcp output cannot connect to {host}:{port}: {e}; retrying in {reconnect:?}");
                            tokio::time::sleep(reconnect).await;
                            continue;
                        }
                    }
                }
                if let Some(c) = conn.as_mut() {
                    match async { c.write_all(buf).await?; c.flush().await }.await {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            warn!("tcp output write to {host}:{port} failed: {e}; reconnecting");
                            *conn = None;
                        }
                    }
                }
            }
        })
    }
}
