//! A memcached client speaking the text protocol, laid out like Dalli (the Ruby client Logstash's
//! memcached filter uses) so both share one cache: keys spread over servers on Dalli's
//! consistent-hash ring (160 SHA1 points per server, CRC32 of the key), values with Dalli's flags
//! (1 = Ruby-marshalled, 2 = zlib-compressed). A server that fails is skipped for a few seconds
//! instead of costing every event a connect timeout.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};

use rstash_event::Value;

use crate::ruby_marshal;

const FLAG_SERIALIZED: u32 = 1;
const FLAG_COMPRESSED: u32 = 2;
const POINTS_PER_SERVER: usize = 160;
const TIMEOUT: Duration = Duration::from_secs(1);
const DOWN_RETRY: Duration = Duration::from_secs(5);

struct Server {
    /// `host:port`, the name Dalli hashes.
    name: String,
    conn: Mutex<Conn>,
}

#[derive(Default)]
struct Conn {
    stream: Option<BufReader<TcpStream>>,
    down_until: Option<Instant>,
}

pub struct Memcached {
    servers: Vec<Server>,
    /// (point, server index), sorted by point; empty with one server.
    continuum: Vec<(u32, usize)>,
    namespace: Option<String>,
    ttl: u32,
}

/// `host`, `host:port`, `[v6]:port`, with memcached's default port.
fn server_name(h: &str) -> String {
    let h = h.trim();
    if h.starts_with('[') {
        if h.contains("]:") {
            h.to_string()
        } else {
            format!("{h}:11211")
        }
    } else if h.matches(':').count() == 1 {
        h.to_string()
    } else if h.contains(':') {
        format!("[{h}]:11211")
    } else {
        format!("{h}:11211")
    }
}

impl Memcached {
    pub fn new(hosts: &[String], namespace: Option<String>, ttl: u32) -> Memcached {
        let servers: Vec<Server> = hosts
            .iter()
            .map(|h| Server {
                name: server_name(h),
                conn: Mutex::new(Conn::default()),
            })
            .collect();
        let mut continuum = Vec::new();
        if servers.len() > 1 {
            for (i, s) in servers.iter().enumerate() {
                for idx in 0..POINTS_PER_SERVER {
                    let digest = Sha1::digest(format!("{}:{idx}", s.name).as_bytes());
                    let point = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
                    continuum.push((point, i));
                }
            }
            continuum.sort_by_key(|(p, _)| *p);
        }
        Memcached {
            servers,
            continuum,
            namespace: namespace.filter(|n| !n.is_empty()),
            ttl,
        }
    }

    fn key(&self, k: &str) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}:{k}"),
            None => k.to_string(),
        }
    }

    /// Dalli's ring: the last point at or below the key's CRC32 (wrapping to the last point);
    /// a dead server is skipped by rehashing `"{try}{key}"`, up to 20 times.
    fn server_for(&self, key: &str) -> Option<usize> {
        if self.continuum.is_empty() {
            return (!self.servers.is_empty() && self.alive(0)).then_some(0);
        }
        let mut h = crc32fast::hash(key.as_bytes());
        for attempt in 0..20 {
            let above = self.continuum.partition_point(|(p, _)| *p <= h);
            let i = self.continuum[above.checked_sub(1).unwrap_or(self.continuum.len() - 1)].1;
            if self.alive(i) {
                return Some(i);
            }
            h = crc32fast::hash(format!("{attempt}{key}").as_bytes());
        }
        None
    }

    fn alive(&self, i: usize) -> bool {
        let Ok(mut c) = self.servers[i].conn.lock() else {
            return false;
        };
        if c.stream.is_some() {
            return true;
        }
        if c.down_until.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match connect(&self.servers[i].name) {
            Ok(s) => {
                c.stream = Some(BufReader::new(s));
                c.down_until = None;
                true
            }
            Err(e) => {
                tracing::error!("memcached: cannot connect to {}: {e}", self.servers[i].name);
                c.down_until = Some(Instant::now() + DOWN_RETRY);
                false
            }
        }
    }

    /// Runs `f` on server `i`'s connection; an I/O error closes it and marks the server down.
    fn with<T>(
        &self,
        i: usize,
        f: impl FnOnce(&mut BufReader<TcpStream>) -> std::io::Result<T>,
    ) -> Result<T, String> {
        let mut c = self.servers[i]
            .conn
            .lock()
            .map_err(|_| "lock poisoned".to_string())?;
        let Some(stream) = c.stream.as_mut() else {
            return Err(format!("{} is down", self.servers[i].name));
        };
        match f(stream) {
            Ok(v) => Ok(v),
            Err(e) => {
                c.stream = None;
                c.down_until = Some(Instant::now() + DOWN_RETRY);
                Err(format!("{}: {e}", self.servers[i].name))
            }
        }
    }

    /// The values found for `keys` (as given, before the namespace), misses left out.
    pub fn get_multi(&self, keys: &[String]) -> Result<Vec<(String, Value)>, String> {
        let mut by_server: Vec<Vec<(String, String)>> = vec![Vec::new(); self.servers.len()];
        for k in keys {
            let full = self.key(k);
            let i = self
                .server_for(&full)
                .ok_or("no memcached server available")?;
            by_server[i].push((k.clone(), full));
        }
        let mut found = Vec::new();
        for (i, group) in by_server.iter().enumerate().filter(|(_, g)| !g.is_empty()) {
            let hits = self.with(i, |s| {
                let mut cmd = String::from("get");
                for (_, full) in group {
                    cmd.push(' ');
                    cmd.push_str(full);
                }
                cmd.push_str("\r\n");
                s.get_mut().write_all(cmd.as_bytes())?;
                read_values(s)
            })?;
            for (full, flags, data) in hits {
                if let Some((k, _)) = group.iter().find(|(_, f)| *f == full) {
                    found.push((k.clone(), decode(flags, data)));
                }
            }
        }
        Ok(found)
    }

    pub fn set(&self, key: &str, value: &Value) -> Result<(), String> {
        let full = self.key(key);
        let i = self
            .server_for(&full)
            .ok_or("no memcached server available")?;
        let (flags, data) = match value {
            Value::String(s) => (0, s.as_bytes().to_vec()),
            other => (FLAG_SERIALIZED, ruby_marshal::dump(other)),
        };
        let answer = self.with(i, |s| {
            let mut cmd =
                format!("set {full} {flags} {} {}\r\n", self.ttl, data.len()).into_bytes();
            cmd.extend_from_slice(&data);
            cmd.extend_from_slice(b"\r\n");
            s.get_mut().write_all(&cmd)?;
            let mut line = String::new();
            s.read_line(&mut line)?;
            Ok(line)
        })?;
        match answer.trim_end() {
            "STORED" => Ok(()),
            other => Err(format!("set {full}: the server answered {other:?}")),
        }
    }
}

fn connect(name: &str) -> std::io::Result<TcpStream> {
    let addr = name
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))?;
    let s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn bad(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// `VALUE <key> <flags> <bytes>\r\n<data>\r\n` ... `END\r\n`.
fn read_values(s: &mut BufReader<TcpStream>) -> std::io::Result<Vec<(String, u32, Vec<u8>)>> {
    let mut out = Vec::new();
    loop {
        let mut line = String::new();
        if s.read_line(&mut line)? == 0 {
            return Err(bad("connection closed".into()));
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["END"] => return Ok(out),
            ["VALUE", key, flags, len, ..] => {
                let flags: u32 = flags
                    .parse()
                    .map_err(|_| bad(format!("bad flags in {line:?}")))?;
                let len: usize = len
                    .parse()
                    .map_err(|_| bad(format!("bad length in {line:?}")))?;
                let mut data = vec![0; len + 2];
                s.read_exact(&mut data)?;
                data.truncate(len);
                out.push((key.to_string(), flags, data));
            }
            _ => return Err(bad(format!("unexpected answer {line:?}"))),
        }
    }
}

/// A stored value as Dalli would return it: inflated, unmarshalled, else the raw text.
fn decode(flags: u32, data: Vec<u8>) -> Value {
    let data = if flags & FLAG_COMPRESSED != 0 {
        let mut out = Vec::new();
        match flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => data,
        }
    } else {
        data
    };
    if flags & FLAG_SERIALIZED != 0 {
        if let Some(v) = ruby_marshal::load(&data) {
            return v;
        }
    }
    Value::String(String::from_utf8_lossy(&data).into_owned().into())
}
