//! An async Lumberjack v2 client, framing like Filebeat: each batch a `W` window then a `C`
//! frame of `J` events numbered from 1; up to `pipelining` batches in flight (ACKs answer them
//! in order), keep-alive and partial ACKs, and reconnection with exponential backoff that
//! resends whatever was not ACKed.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::frame::encode_batch;

pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}
pub type BoxStream = Box<dyn AsyncStream>;
type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<BoxStream>> + Send>>;

/// Opens a connection (plain TCP, TLS, ...) each time it is called.
#[derive(Clone)]
pub struct Connector(Arc<dyn Fn() -> ConnectFuture + Send + Sync>);

impl Connector {
    pub fn new<F, Fut>(f: F) -> Connector
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = io::Result<BoxStream>> + Send + 'static,
    {
        Connector(Arc::new(move || Box::pin(f())))
    }

    /// Plain TCP to `addr`.
    pub fn tcp(addr: String) -> Connector {
        Connector::new(move || {
            let addr = addr.clone();
            async move {
                let s = tokio::net::TcpStream::connect(&addr).await?;
                s.set_nodelay(true)?;
                Ok(Box::new(s) as BoxStream)
            }
        })
    }
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// zlib level of the `C` frame; 0 sends plain `J` frames.
    pub compression_level: u32,
    /// How long to wait for a write or for the next ACK (keep-alives re-arm it).
    pub timeout: Duration,
    /// Batches in flight on one connection.
    pub pipelining: usize,
    pub backoff_init: Duration,
    pub backoff_max: Duration,
    /// Give up after this many failed connection attempts in a row (None: never).
    pub max_retries: Option<usize>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            compression_level: 3,
            timeout: Duration::from_secs(30),
            pipelining: 2,
            backoff_init: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            max_retries: None,
        }
    }
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("timed out waiting for the server")]
    Timeout,
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("gave up after {0} failed attempts; last error: {1}")]
    GaveUp(usize, Box<ClientError>),
}

struct InFlight {
    /// Index of the batch in the `publish` call.
    index: usize,
    events: Vec<Bytes>,
    /// How many of `events` the server has acknowledged (partial ACKs).
    acked: usize,
}

pub struct Client {
    connector: Connector,
    cfg: ClientConfig,
    stream: Option<BoxStream>,
}

impl Client {
    pub fn new(connector: Connector, cfg: ClientConfig) -> Client {
        Client {
            connector,
            cfg,
            stream: None,
        }
    }

    /// Sends every batch and returns once all are ACKed, reconnecting (with backoff) as needed.
    /// Events are JSON documents. At least once: a batch cut off by a failure is sent again.
    pub async fn publish(&mut self, batches: Vec<Vec<Bytes>>) -> Result<(), ClientError> {
        self.publish_notify(batches, |_| {}).await
    }

    /// `publish`, calling `done(i)` as soon as batch `i` is wholly ACKed, so a caller can record
    /// progress batch by batch while later ones are still in flight.
    pub async fn publish_notify(
        &mut self,
        batches: Vec<Vec<Bytes>>,
        mut done: impl FnMut(usize),
    ) -> Result<(), ClientError> {
        let mut todo: VecDeque<(usize, Vec<Bytes>)> = VecDeque::new();
        for (i, b) in batches.into_iter().enumerate() {
            if b.is_empty() {
                done(i);
            } else {
                todo.push_back((i, b));
            }
        }
        let mut failures = 0usize;
        let mut backoff = self.cfg.backoff_init;
        while !todo.is_empty() {
            match self.publish_once(&mut todo, &mut done).await {
                Ok(()) => {}
                Err(e) => {
                    self.stream = None;
                    failures += 1;
                    if self.cfg.max_retries.is_some_and(|m| failures > m) {
                        return Err(ClientError::GaveUp(failures, Box::new(e)));
                    }
                    tracing::warn!("beats client: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.backoff_max);
                }
            }
        }
        Ok(())
    }

    async fn connection(&mut self) -> Result<&mut BoxStream, ClientError> {
        if self.stream.is_none() {
            let s = tokio::time::timeout(self.cfg.timeout, (self.connector.0)())
                .await
                .map_err(|_| ClientError::Timeout)??;
            self.stream = Some(s);
        }
        self.stream.as_mut().ok_or(ClientError::Timeout)
    }

    /// One connection's worth of work: on error, the un-ACKed events are back at the front of
    /// `todo`. As Filebeat does, every batch is numbered from 1, and an ACK refers to the oldest
    /// batch in flight (the server answers batches in order).
    async fn publish_once(
        &mut self,
        todo: &mut VecDeque<(usize, Vec<Bytes>)>,
        done: &mut impl FnMut(usize),
    ) -> Result<(), ClientError> {
        let cfg = self.cfg.clone();
        let mut inflight: VecDeque<InFlight> = VecDeque::new();
        let result = async {
            let stream = self.connection().await?;
            let mut buf = BytesMut::new();
            while !todo.is_empty() || !inflight.is_empty() {
                while inflight.len() < cfg.pipelining.max(1) {
                    let Some((index, events)) = todo.pop_front() else {
                        break;
                    };
                    buf.clear();
                    encode_batch(&mut buf, 1, &events, cfg.compression_level);
                    inflight.push_back(InFlight {
                        index,
                        events,
                        acked: 0,
                    });
                    tokio::time::timeout(cfg.timeout, stream.write_all(&buf))
                        .await
                        .map_err(|_| ClientError::Timeout)??;
                }
                let ack = read_ack(stream, cfg.timeout).await? as usize;
                if ack == 0 {
                    continue; // keep-alive
                }
                let Some(front) = inflight.front_mut() else {
                    return Err(ClientError::Protocol(format!(
                        "unexpected ACK {ack}: nothing in flight"
                    )));
                };
                if ack > front.events.len() {
                    return Err(ClientError::Protocol(format!(
                        "invalid sequence number received: {ack} (batch of {})",
                        front.events.len()
                    )));
                }
                if ack == front.events.len() {
                    done(front.index);
                    inflight.pop_front();
                } else if ack > front.acked {
                    front.acked = ack;
                }
            }
            Ok(())
        }
        .await;
        if result.is_err() {
            for b in inflight.into_iter().rev() {
                let rest: Vec<Bytes> = b.events[b.acked..].to_vec();
                if !rest.is_empty() {
                    todo.push_front((b.index, rest));
                }
            }
        }
        result
    }
}

async fn read_ack(stream: &mut BoxStream, timeout: Duration) -> Result<u32, ClientError> {
    let mut f = [0u8; 6];
    tokio::time::timeout(timeout, stream.read_exact(&mut f))
        .await
        .map_err(|_| ClientError::Timeout)??;
    if !(f[0] == b'1' || f[0] == b'2') || f[1] != b'A' {
        return Err(ClientError::Protocol(format!(
            "expected an ACK frame, got 0x{:02x} 0x{:02x}",
            f[0], f[1]
        )));
    }
    Ok(u32::from_be_bytes([f[2], f[3], f[4], f[5]]))
}
