//! Filebeat's `tcp`, `udp` and `syslog` inputs: messages received on a socket become events with
//! `log.source.address` (the sender); the syslog input reads each as syslog (`syslog.rs`). TCP
//! streams are split by `line_delimiter` or, with `framing: rfc6587`, by octet counting
//! (`LEN SP MSG`) where a frame starts with a digit.
//! A network sender gets no acknowledgement, so these events are not tracked in the registry.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstash_tail::acks::AckRef;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::config::{ConfigError, Section};
use crate::harvest::{Item, Shared};
use crate::input::InputConfig;
use crate::monitor::Metrics;

#[derive(Debug, Clone, PartialEq)]
pub enum Framing {
    Delimiter(Vec<u8>),
    /// RFC 6587: octet counting, or the delimiter for frames that do not start with a digit.
    Rfc6587(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Proto {
    Tcp {
        framing: Framing,
        max_connections: usize,
    },
    Udp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    pub proto: Proto,
    pub host: String,
    pub max_message_size: usize,
    /// A TCP connection idle this long is closed.
    pub timeout: Duration,
    /// The syslog input's: how each message is read.
    pub syslog: Option<crate::syslog::SyslogConfig>,
}

/// The options of a `tcp` or `udp` input, with Filebeat's defaults.
pub fn parse(s: &Section, udp: bool) -> Result<NetConfig, ConfigError> {
    let host = s
        .string("host")?
        .ok_or_else(|| ConfigError(format!("setting `{}.host` is required", s.path)))?;
    let timeout = s
        .duration("timeout", Duration::from_secs(300))?
        .unwrap_or(Duration::from_secs(300));
    if udp {
        s.raw("read_buffer");
        return Ok(NetConfig {
            proto: Proto::Udp,
            host,
            max_message_size: s.byte_size("max_message_size", 10 * 1024)?,
            timeout,
            syslog: None,
        });
    }
    let delimiter = s.string_or("line_delimiter", "\n")?.into_bytes();
    if delimiter.is_empty() {
        return Err(ConfigError(format!(
            "setting `{}.line_delimiter`: must not be empty",
            s.path
        )));
    }
    let framing = match s.string_or("framing", "delimiter")?.as_str() {
        "delimiter" => Framing::Delimiter(delimiter),
        "rfc6587" => Framing::Rfc6587(delimiter),
        other => {
            return Err(ConfigError(format!(
                "setting `{}.framing`: `{other}` is not delimiter or rfc6587",
                s.path
            )))
        }
    };
    Ok(NetConfig {
        proto: Proto::Tcp {
            framing,
            max_connections: s.int("max_connections", 0)?.max(0) as usize,
        },
        host,
        max_message_size: s.byte_size("max_message_size", 20 * 1024 * 1024)?,
        timeout,
        syslog: None,
    })
}

/// The syslog input's options: `protocol.udp` or `protocol.tcp` (each with the udp or tcp
/// input's options), `format`, `timezone`.
pub fn parse_syslog(s: &Section) -> Result<NetConfig, ConfigError> {
    let proto = s.section("protocol")?;
    let (udp, tcp) = (proto.section("udp")?, proto.section("tcp")?);
    if proto.section("unix")?.exists() {
        return Err(ConfigError(format!(
            "setting `{}.protocol.unix`: unix sockets are not supported (udp or tcp)",
            s.path
        )));
    }
    let mut net = match (udp.exists(), tcp.exists()) {
        (true, false) => parse(&udp, true)?,
        (false, true) => parse(&tcp, false)?,
        _ => {
            return Err(ConfigError(format!(
                "setting `{}.protocol`: choose one of protocol.udp or protocol.tcp",
                s.path
            )))
        }
    };
    net.syslog = Some(crate::syslog::parse_config(s)?);
    Ok(net)
}

/// Splits a TCP stream into messages.
struct Splitter {
    framing: Framing,
    max: usize,
    buf: Vec<u8>,
    /// Where the unread part of `buf` begins: taking a message moves it, and `feed` drops what
    /// was read once per read rather than shifting the buffer once per message.
    start: usize,
}

impl Splitter {
    fn new(framing: Framing, max: usize) -> Splitter {
        Splitter {
            framing,
            max,
            buf: Vec::new(),
            start: 0,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.buf.drain(..self.start);
        self.start = 0;
        self.buf.extend_from_slice(bytes);
    }

    /// What is left unread (a last message without its delimiter).
    fn rest(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next complete message in the buffer; `Err` when one exceeds the size limit.
    fn next(&mut self) -> Result<Option<Vec<u8>>, String> {
        let (delim, counted) = match &self.framing {
            Framing::Delimiter(d) => (d.as_slice(), false),
            Framing::Rfc6587(d) => (d.as_slice(), true),
        };
        let data = &self.buf[self.start..];
        if counted && data.first().is_some_and(u8::is_ascii_digit) {
            let Some(sp) = data.iter().position(|&b| b == b' ') else {
                return match data.len() > 20 {
                    true => Err("octet count without a space after it".into()),
                    false => Ok(None),
                };
            };
            let len: usize = std::str::from_utf8(&data[..sp])
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or("an octet count that is not a number")?;
            if len > self.max {
                return Err(format!("message size {len} exceeds {}", self.max));
            }
            if data.len() < sp + 1 + len {
                return Ok(None);
            }
            let msg = data[sp + 1..sp + 1 + len].to_vec();
            self.start += sp + 1 + len;
            return Ok(Some(msg));
        }
        match memchr::memmem::find(data, delim) {
            Some(i) if i > self.max => Err(format!("message size exceeds {} bytes", self.max)),
            Some(i) => {
                let mut msg = data[..i].to_vec();
                // As Go's ScanLines for the default delimiter: a `\r` before it goes too.
                if delim == b"\n" && msg.last() == Some(&b'\r') {
                    msg.pop();
                }
                self.start += i + delim.len();
                Ok(Some(msg))
            }
            None if data.len() > self.max => {
                Err(format!("message size exceeds {} bytes", self.max))
            }
            None => Ok(None),
        }
    }
}

/// Sends one message's event to the queue; false when the pipeline is gone.
fn publish(
    cfg: &InputConfig,
    sh: &Shared,
    net: &NetConfig,
    from: &SocketAddr,
    raw: &[u8],
    meta: Option<Value>,
) -> bool {
    let m = &sh.metrics;
    Metrics::add(&m.added, 1);
    let from_text = from.to_string();
    let built = match net.syslog.as_ref().map(|s| crate::syslog::parse(s, raw)) {
        Some(Ok(p)) => sh.builder.build_read(cfg, &from_text, p.time, p.fields),
        other => {
            let text = String::from_utf8_lossy(raw).into_owned();
            if let Some(Err(why)) = other {
                warn!("syslog input: {why}: {text:?}");
            }
            sh.builder.build_received(cfg, &from_text, text)
        }
    };
    let Some(mut e) = built else {
        Metrics::add(&m.filtered, 1);
        Metrics::add(&m.done, 1);
        return true;
    };
    // UDP's `@metadata.truncated`, as Filebeat sets it.
    if let (Some(Value::Object(add)), Some(Value::Object(md))) = (meta, e.get_mut("@metadata")) {
        md.extend(add);
    }
    Metrics::add(&m.published, 1);
    let ack = AckRef {
        key: Arc::from(""),
        seq: 0,
    };
    let event = (sh.encoder)(&e);
    sh.queue.send(Item { event, ack }).is_ok()
}

fn bind_addr(host: &str) -> io::Result<SocketAddr> {
    host.to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::other(format!("{host} resolves to no address")))
}

/// Runs the input until `stop` (or, with `--once`, `done`) is set.
pub fn run(cfg: Arc<InputConfig>, net: NetConfig, sh: Shared, done: Arc<AtomicBool>) {
    let stopped = || sh.stop.load(Ordering::Relaxed) || done.load(Ordering::Relaxed);
    let addr = match bind_addr(&net.host) {
        Ok(a) => a,
        Err(e) => {
            warn!("{} input: cannot resolve {}: {e}", cfg.type_name, net.host);
            return;
        }
    };
    match &net.proto {
        Proto::Udp => {
            let sock = match UdpSocket::bind(addr) {
                Ok(s) => s,
                Err(e) => {
                    warn!("{} input: cannot listen on {addr}: {e}", cfg.type_name);
                    return;
                }
            };
            info!("{} input listening on udp {addr}", cfg.type_name);
            let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
            // One byte more than allowed tells a datagram that was cut.
            let mut buf = vec![0u8; net.max_message_size + 1];
            while !stopped() {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let truncated = n > net.max_message_size;
                        let n = n.min(net.max_message_size);
                        let meta = json!({ "truncated": truncated });
                        if !publish(&cfg, &sh, &net, &from, &buf[..n], Some(meta)) {
                            return;
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => warn!("udp input: {e}"),
                }
            }
        }
        Proto::Tcp {
            framing,
            max_connections,
        } => {
            let listener = match TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    warn!("{} input: cannot listen on {addr}: {e}", cfg.type_name);
                    return;
                }
            };
            info!("{} input listening on tcp {addr}", cfg.type_name);
            let _ = listener.set_nonblocking(true);
            let open = Arc::new(AtomicUsize::new(0));
            std::thread::scope(|scope| {
                while !stopped() {
                    match listener.accept() {
                        Ok((conn, from)) => {
                            if *max_connections > 0
                                && open.load(Ordering::Relaxed) >= *max_connections
                            {
                                warn!("tcp input: {from} refused: max_connections ({max_connections}) reached");
                                continue;
                            }
                            open.fetch_add(1, Ordering::Relaxed);
                            let (cfg, sh, net, open, done) = (&cfg, &sh, &net, open.clone(), &done);
                            let splitter = Splitter::new(framing.clone(), net.max_message_size);
                            scope.spawn(move || {
                                serve(cfg, sh, net, conn, from, splitter, done);
                                open.fetch_sub(1, Ordering::Relaxed);
                            });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(e) => {
                            warn!("tcp input: accept: {e}");
                            std::thread::sleep(Duration::from_millis(50));
                        }
                    }
                }
            });
        }
    }
}

/// One TCP connection, until it closes, idles past `timeout`, breaks the size limit, or the
/// input stops.
fn serve(
    cfg: &InputConfig,
    sh: &Shared,
    net: &NetConfig,
    mut conn: TcpStream,
    from: SocketAddr,
    mut split: Splitter,
    done: &AtomicBool,
) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_millis(100)));
    let mut chunk = vec![0u8; 64 * 1024];
    let mut last = Instant::now();
    loop {
        if sh.stop.load(Ordering::Relaxed) || done.load(Ordering::Relaxed) {
            return;
        }
        match conn.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                last = Instant::now();
                split.feed(&chunk[..n]);
                loop {
                    match split.next() {
                        Ok(Some(msg)) => {
                            if !publish(cfg, sh, net, &from, &msg, None) {
                                return;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            warn!("tcp input: closing the connection from {from}: {e}");
                            return;
                        }
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if last.elapsed() >= net.timeout {
                    info!(
                        "tcp input: closing the connection from {from}: idle for {:?}",
                        net.timeout
                    );
                    return;
                }
            }
            Err(e) => {
                warn!("tcp input: reading from {from}: {e}");
                return;
            }
        }
    }
    // What is left without a delimiter at the end of the stream is a message too (as Go's
    // scanner gives the final token).
    if !split.rest().is_empty() {
        publish(cfg, sh, net, &from, split.rest(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(framing: Framing, max: usize, input: &[u8]) -> (Vec<String>, Option<String>) {
        let mut s = Splitter::new(framing, max);
        s.feed(input);
        let mut out = Vec::new();
        loop {
            match s.next() {
                Ok(Some(m)) => out.push(String::from_utf8(m).unwrap()),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn lines_split_on_the_delimiter() {
        let (out, err) = split(Framing::Delimiter(b"\n".to_vec()), 100, b"a\r\nb\n\nc");
        assert_eq!(out, ["a", "b", ""]);
        assert!(err.is_none());
        let (out, _) = split(Framing::Delimiter(b"||".to_vec()), 100, b"x\r||y||");
        assert_eq!(out, ["x\r", "y"]);
    }

    #[test]
    fn rfc6587_counts_octets_and_falls_back_to_the_delimiter() {
        let (out, err) = split(
            Framing::Rfc6587(b"\n".to_vec()),
            100,
            b"11 hello\nworld<13>plain line\n5 abc",
        );
        assert_eq!(out, ["hello\nworld", "<13>plain line"]);
        assert!(err.is_none(), "the last frame waits for its bytes");
    }

    proptest::proptest! {
        /// Any stream, cut anywhere into reads: the same messages as when read whole, each
        /// within the size limit, and never a panic.
        #[test]
        fn messages_do_not_depend_on_how_the_stream_was_cut(
            data in proptest::collection::vec(proptest::sample::select(b"12 ab\n<>x".to_vec()), 0..120),
            cut in 0..120usize,
            octets in proptest::bool::ANY,
        ) {
            let framing = || if octets { Framing::Rfc6587(b"\n".to_vec()) } else { Framing::Delimiter(b"\n".to_vec()) };
            let whole = split(framing(), 16, &data);
            let mut s = Splitter::new(framing(), 16);
            let (mut out, mut err) = (Vec::new(), None);
            let cut = cut.min(data.len());
            'feed: for part in [&data[..cut], &data[cut..]] {
                s.feed(part);
                loop {
                    match s.next() {
                        Ok(Some(m)) => out.push(String::from_utf8(m).unwrap()),
                        Ok(None) => break,
                        Err(e) => { err = Some(e); break 'feed; }
                    }
                }
            }
            proptest::prop_assert!(out.iter().all(|m| m.len() <= 16));
            if whole.1.is_none() && err.is_none() {
                proptest::prop_assert_eq!(out, whole.0);
            }
        }
    }

    #[test]
    fn oversized_messages_are_refused() {
        let (_, err) = split(Framing::Delimiter(b"\n".to_vec()), 4, b"too long for four");
        assert!(err.unwrap().contains("exceeds 4"));
        let (_, err) = split(Framing::Rfc6587(b"\n".to_vec()), 4, b"9 123456789");
        assert!(err.unwrap().contains("exceeds 4"));
    }
}
