//! `output.logstash`: Lumberjack v2 through the protocol crate's client (windowed batches, ACKs,
//! pipelining, reconnect with backoff). With `loadbalance`, `worker` connections per host share
//! the batches; without, one host at a time, failing over to the next.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rstash_beats_protocol::{BoxStream, Client, ClientConfig, Connector};

use super::{encode, Output, OutputConfig};
use crate::config::{ConfigError, Section};

struct Tls {
    cas: Vec<PathBuf>,
    identity: Option<(PathBuf, PathBuf)>,
}

struct Logstash {
    rt: tokio::runtime::Runtime,
    client: Client,
    abort: Arc<AtomicBool>,
}

fn with_port(h: &str) -> String {
    if h.rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        h.to_string()
    } else {
        format!("{h}:5044")
    }
}

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let hosts: Vec<String> = s.strings("hosts")?.iter().map(|h| with_port(h)).collect();
    if hosts.is_empty() {
        return Err(ConfigError(
            "setting `output.logstash.hosts`: at least one host is required".into(),
        ));
    }
    let loadbalance = s.bool("loadbalance", false)?;
    let worker = s.int("worker", 1)?.max(1) as usize;
    let (backoff_init, backoff_max) = super::backoff_settings(s)?;
    let client = ClientConfig {
        compression_level: s.int("compression_level", 3)?.clamp(0, 9) as u32,
        timeout: s
            .duration("timeout", Duration::from_secs(30))?
            .unwrap_or(Duration::from_secs(30)),
        pipelining: s.int("pipelining", 2)?.max(0) as usize,
        backoff_init,
        backoff_max,
        max_retries: None,
    };
    s.raw("ttl");
    s.raw("slow_start");
    s.raw("escape_html");
    s.raw("proxy_url");
    s.raw("enabled");
    s.raw("max_retries");
    let ssl = s.section("ssl")?;
    let tls = if ssl.bool("enabled", ssl.exists())? {
        let cas = ssl
            .strings("certificate_authorities")?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let identity = match (ssl.string("certificate")?, ssl.string("key")?) {
            (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
            _ => None,
        };
        if let Some(mode) = ssl.string("verification_mode")? {
            if mode != "full" && mode != "strict" {
                return Err(ConfigError(format!(
                    "setting `output.logstash.ssl.verification_mode`: `{mode}` is not supported (full)"
                )));
            }
        }
        ssl.warn_unknown();
        Some(Arc::new(Tls { cas, identity }))
    } else {
        None
    };
    let index = s.string_or("index", "filebeat")?;
    let workers = if loadbalance {
        worker * hosts.len()
    } else {
        worker
    };
    let factory_hosts = hosts.clone();
    let probe_tls = tls.clone();
    Ok(OutputConfig {
        name: "logstash",
        workers,
        pipelining: client.pipelining.max(1),
        bulk_max_size: s.int("bulk_max_size", 2048)?.max(1) as usize,
        beat_index: index,
        describe: Vec::new(),
        probe: Some(Arc::new(move |say| {
            let mut ok = true;
            for h in &hosts {
                ok &= probe(h, probe_tls.as_deref(), say);
            }
            ok
        })),
        plain_json: true,
        encoder: Arc::new(encode),
        factory: Arc::new(move |i, abort| {
            // Load balancing pins each worker to one host; failover walks the list.
            let targets = if loadbalance {
                vec![factory_hosts[i % factory_hosts.len()].clone()]
            } else {
                factory_hosts.clone()
            };
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let connector = connector(targets, tls.clone());
            Ok(Box::new(Logstash {
                rt,
                client: Client::new(connector, client.clone()),
                abort,
            }) as Box<dyn Output>)
        }),
    })
}

fn connector(hosts: Vec<String>, tls: Option<Arc<Tls>>) -> Connector {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Connector::new(move || {
        let hosts = hosts.clone();
        let tls = tls.clone();
        let next = next.clone();
        async move {
            let mut last = None;
            for _ in 0..hosts.len() {
                let i = next.load(Ordering::Relaxed) % hosts.len();
                let addr = &hosts[i];
                match connect(addr, tls.as_deref()).await {
                    Ok(s) => return Ok(s),
                    Err(e) => {
                        tracing::warn!("logstash output: cannot connect to {addr}: {e}");
                        next.fetch_add(1, Ordering::Relaxed);
                        last = Some(e);
                    }
                }
            }
            Err(last.unwrap_or_else(|| std::io::Error::other("no hosts")))
        }
    })
}

/// `rbeat test output` for one host: dials, does the TLS handshake, then opens an empty
/// Lumberjack window (`2W`, size 0). A beats server waits for the window's events and leaves
/// the connection open; anything else (a close, bytes that are not an ACK) is not one. No
/// event is sent.
fn probe(addr: &str, tls: Option<&Tls>, say: &mut dyn FnMut(String)) -> bool {
    say(format!("logstash: {addr}..."));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            say(format!("  connection... ERROR {e}"));
            return false;
        }
    };
    rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let limit = Duration::from_secs(5);
        let stream = tokio::time::timeout(limit, connect(addr, tls)).await;
        let mut stream = match stream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                say(format!("  connection... ERROR {e}"));
                return false;
            }
            Err(_) => {
                say(format!("  connection... ERROR no answer in {limit:?}"));
                return false;
            }
        };
        say("  connection... OK".into());
        say(match tls {
            Some(_) => "  TLS... OK".into(),
            None => "  TLS... WARN secure connection disabled".into(),
        });
        if let Err(e) = stream.write_all(b"2W\0\0\0\0").await {
            say(format!("  talk to server... ERROR {e}"));
            return false;
        }
        let mut buf = [0u8; 64];
        let answer = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await;
        let verdict = match answer {
            Err(_) => Ok(()),
            Ok(Ok(0)) => {
                Err("the server closed the connection: not a beats (Lumberjack v2) server".into())
            }
            Ok(Ok(n)) if buf[..n].starts_with(b"2A") => Ok(()),
            Ok(Ok(n)) => Err(format!(
                "not a beats (Lumberjack v2) server: it answered {:?}",
                String::from_utf8_lossy(&buf[..n.min(32)])
            )),
            Ok(Err(e)) => Err(e.to_string()),
        };
        match verdict {
            Ok(()) => {
                say("  talk to server... OK".into());
                true
            }
            Err(e) => {
                say(format!("  talk to server... ERROR {e}"));
                false
            }
        }
    })
}

async fn connect(addr: &str, tls: Option<&Tls>) -> std::io::Result<BoxStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Box::new(tcp));
    };
    let identity = tls
        .identity
        .as_ref()
        .map(|(c, k)| (c.as_path(), k.as_path()));
    let connector =
        rstash_net::client(&tls.cas, identity).map_err(|e| std::io::Error::other(e.to_string()))?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = rstash_net::server_name(host).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Box::new(connector.connect(name, tcp).await?))
}

impl Output for Logstash {
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String> {
        self.publish_all(vec![events.to_vec()], &mut |_| {})
    }

    /// The batches go out pipelined on one connection, as Filebeat's `pipelining` does; each
    /// is reported as soon as its ACK arrives.
    fn publish_all(
        &mut self,
        batches: Vec<Vec<Bytes>>,
        done: &mut dyn FnMut(usize),
    ) -> Result<(), String> {
        let abort = self.abort.clone();
        let client = &mut self.client;
        self.rt.block_on(async move {
            tokio::select! {
                r = client.publish_notify(batches, done) => r.map_err(|e| e.to_string()),
                _ = async {
                    while !abort.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                } => Err("shutting down before the batch was acknowledged".to_string()),
            }
        })
    }
}
