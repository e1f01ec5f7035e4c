//! `udp`: one event per datagram (codec `plain`), read by `workers` tasks sharing the socket.
//! The sender's address goes to `host` (ECS: `[host][ip]`).

use rstash_pipeline::{opt, Options, Ty};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{Args, Codec, Ecs, Input, InputContext, PluginError};
use tracing::{info, warn};

pub struct Udp {
    addr: String,
    buffer_size: usize,
    receive_buffer: Option<usize>,
    workers: usize,
    codec: Arc<Mutex<Box<dyn Codec>>>,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[
    opt("port", Ty::Number).required(),
    opt("host", Ty::Str).default("0.0.0.0"),
    opt("buffer_size", Ty::Number).default("65536"),
    opt("receive_buffer_bytes", Ty::Number),
    opt("queue_size", Ty::Number).default("2000"),
    opt("workers", Ty::Number).default("2"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let port = args.int("port", -1)?;
    if !(0..=65535).contains(&port) {
        return Err(args.error("udp input needs `port` (0-65535)"));
    }
    let host = args.string_or("host", "0.0.0.0")?;
    let receive_buffer = match args.int("receive_buffer_bytes", 0)? {
        n if n > 0 => Some(n as usize),
        _ => None,
    };
    // Logstash's internal hand-off queue between the reader and its workers; here the queue
    // itself is the hand-off.
    args.int("queue_size", 2000)?;
    Ok(Box::new(Udp {
        addr: format!("{host}:{port}"),
        buffer_size: args.int("buffer_size", 65536)?.clamp(1, 65536) as usize,
        receive_buffer,
        workers: args.int("workers", 2)?.max(1) as usize,
        codec: Arc::new(Mutex::new(args.codec("plain")?)),
        ecs: args.ecs()?,
    }))
}

/// A UDP socket bound to `addr`, with SO_RCVBUF set when asked.
pub fn bind_udp(addr: &str, receive_buffer: Option<usize>) -> std::io::Result<std::net::UdpSocket> {
    let addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{addr}: {e}"))
    })?;
    let sock = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::DGRAM,
        None,
    )?;
    if let Some(n) = receive_buffer {
        sock.set_recv_buffer_size(n)?;
    }
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.set_nonblocking(true)?;
    Ok(sock.into())
}

/// The sender's address on the event (`host`, or `[host][ip]` with ECS).
pub fn stamp_sender(e: &mut Event, peer: SocketAddr, ecs: Ecs) {
    let field = if ecs.enabled() {
        FieldRef::parse("[host][ip]").unwrap_or_else(|_| FieldRef::key("host"))
    } else {
        FieldRef::key("host")
    };
    if !e.includes(&field) {
        let _ = e.set(&field, Value::String(peer.ip().to_string().into()));
    }
}

impl Input for Udp {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let rt = rstash_net::runtime("udp-input", self.workers.min(4))?;
        rt.block_on(async {
            let std_sock = bind_udp(&self.addr, self.receive_buffer).map_err(|e| {
                PluginError(format!("udp input cannot listen on {}: {e}", self.addr))
            })?;
            let sock = Arc::new(tokio::net::UdpSocket::from_std(std_sock)?);
            info!("udp input listening on {}", self.addr);
            let mut tasks = Vec::new();
            for _ in 0..self.workers {
                let (sock, ctx, ecs, size) =
                    (sock.clone(), ctx.clone(), self.ecs, self.buffer_size);
                let codec = self
                    .codec
                    .lock()
                    .map(|c| c.fresh())
                    .unwrap_or_else(|p| p.into_inner().fresh());
                tasks.push(tokio::spawn(receive(sock, ctx, codec, ecs, size)));
            }
            for t in tasks {
                let _ = t.await;
            }
            Ok(())
        })
    }
}

async fn receive(
    sock: Arc<tokio::net::UdpSocket>,
    ctx: InputContext,
    mut codec: Box<dyn Codec>,
    ecs: Ecs,
    size: usize,
) {
    let mut buf = vec![0u8; size];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let (n, peer) = match r {
                    Ok(x) => x,
                    Err(e) => {
                        warn!("udp input: {e}");
                        continue;
                    }
                };
                let mut events = Vec::new();
                codec.decode_message(&buf[..n], &mut |e| events.push(e));
                for e in &mut events {
                    stamp_sender(e, peer, ecs);
                }
                let c = ctx.clone();
                match tokio::task::spawn_blocking(move || c.push_all(events)).await {
                    Ok(Ok(())) => {}
                    _ => return,
                }
            }
            _ = tick.tick() => if ctx.is_stopping() { return; }
        }
    }
}
