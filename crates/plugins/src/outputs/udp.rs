//! `udp`: one datagram per event (codec `json`), with `retry_count` retries `retry_backoff_ms`
//! apart when a send fails. UDP has no acknowledgement: a datagram the network drops is lost.

use rstash_pipeline::{opt, Options, Ty};
use std::net::UdpSocket;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::warn;

pub struct UdpOut {
    target: String,
    sock: UdpSocket,
    codec: Box<dyn Codec>,
    retries: u32,
    backoff: Duration,
    buf: Vec<u8>,
}

pub const OPTIONS: Options = &[&[
    opt("codec", Ty::Codec).default("json"),
    opt("host", Ty::Str).required(),
    opt("port", Ty::Number).required(),
    opt("retry_count", Ty::Number).default("0"),
    opt("retry_backoff_ms", Ty::Number).default("10"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(host) = args.string("host")? else {
        return Err(args.error("udp output needs `host`"));
    };
    let port = u16::try_from(args.int("port", -1)?)
        .map_err(|_| args.error("udp output needs `port` (0-65535)"))?;
    let bind = if host.contains(':') {
        "[::]:0"
    } else {
        "0.0.0.0:0"
    };
    let sock = UdpSocket::bind(bind).map_err(|e| args.error(format!("udp output: {e}")))?;
    Ok(Box::new(UdpOut {
        target: if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        },
        sock,
        codec: args.codec("json")?,
        retries: args.int("retry_count", 0)?.max(0) as u32,
        backoff: Duration::from_millis(args.int("retry_backoff_ms", 10)?.max(0) as u64),
        buf: Vec::new(),
    }))
}

impl Output for UdpOut {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        for e in events {
            self.buf.clear();
            self.codec.encode(e, &mut self.buf);
            let mut attempt = 0;
            while let Err(err) = self.sock.send_to(&self.buf, &self.target) {
                if attempt >= self.retries {
                    warn!("udp output: event to {} dropped: {err}", self.target);
                    break;
                }
                attempt += 1;
                std::thread::sleep(self.backoff);
            }
        }
        Ok(())
    }
}
