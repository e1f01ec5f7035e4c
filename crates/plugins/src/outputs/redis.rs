//! `redis`: RPUSH events to a list or PUBLISH them to a channel (codec `json`), `key` through
//! sprintf. Hosts are tried in turn (`shuffle_hosts`), and a failed write is retried every
//! `reconnect_interval` until it succeeds: nothing is dropped. With `congestion_threshold`,
//! writing waits while the list is that long.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::warn;

use crate::redis_link::{self, Link};

pub struct RedisOut {
    links: Vec<Link>,
    current: usize,
    con: Option<redis::Connection>,
    list: bool,
    key: Template,
    codec: Box<dyn Codec>,
    reconnect: Duration,
    congestion_threshold: i64,
    congestion_interval: Duration,
}

pub const OPTIONS: Options = &[
    &[
        opt("codec", Ty::Codec).default("json"),
        opt("host", Ty::Array).default("[\"127.0.0.1\"]"),
        opt("shuffle_hosts", Ty::Boolean).default("true"),
        opt("reconnect_interval", Ty::Number).default("1"),
        opt("congestion_threshold", Ty::Number).default("0"),
        opt("congestion_interval", Ty::Number).default("1"),
        opt("batch", Ty::Boolean).default("false").ignored(BATCHED),
        opt("batch_events", Ty::Number)
            .default("50")
            .ignored(BATCHED),
        opt("batch_timeout", Ty::Number)
            .default("5")
            .ignored(BATCHED),
    ],
    crate::redis_link::OPTIONS,
];

const BATCHED: &str = "each pipeline batch is written with one RPUSH per key";

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let hosts = if args.has("host") {
        args.strings("host")?
    } else {
        vec!["127.0.0.1".to_string()]
    };
    let (port, password, db, timeout) = redis_link::options(args)?;
    let (dt, key) = redis_link::data_type(args, &["list", "channel"])?;
    let mut links: Vec<Link> = hosts
        .iter()
        .map(|h| Link::new(h, port, password.as_deref(), db, timeout))
        .collect();
    if args.bool("shuffle_hosts", true)? && links.len() > 1 {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos() as usize)
            .unwrap_or(0);
        let n = links.len();
        links.rotate_left(seed % n);
    }
    Ok(Box::new(RedisOut {
        links,
        current: 0,
        con: None,
        list: dt == "list",
        key: args.make_template("key", &key)?,
        codec: args.codec("json")?,
        reconnect: Duration::from_secs(args.int("reconnect_interval", 1)?.max(1) as u64),
        congestion_threshold: args.int("congestion_threshold", 0)?,
        congestion_interval: Duration::from_secs(args.int("congestion_interval", 1)?.max(1) as u64),
    }))
}

impl RedisOut {
    fn connection(&mut self) -> redis::RedisResult<&mut redis::Connection> {
        if self.con.is_none() {
            let link = &self.links[self.current % self.links.len()];
            let c = link.connect()?;
            c.set_read_timeout(Some(link.timeout))?;
            self.con = Some(c);
        }
        match self.con.as_mut() {
            Some(c) => Ok(c),
            None => Err(redis::RedisError::from(std::io::Error::other(
                "not connected",
            ))),
        }
    }

    /// Writes one key's payloads; Err leaves the connection to be re-made.
    fn write(&mut self, key: &str, payloads: &[Vec<u8>]) -> redis::RedisResult<()> {
        let (list, threshold, interval) = (
            self.list,
            self.congestion_threshold,
            self.congestion_interval,
        );
        let con = self.connection()?;
        if list {
            if threshold > 0 {
                loop {
                    let len: i64 = redis::cmd("LLEN").arg(key).query(con)?;
                    if len < threshold {
                        break;
                    }
                    warn!("redis output: {key} holds {len} items (congestion_threshold {threshold}); waiting");
                    std::thread::sleep(interval);
                }
            }
            redis::cmd("RPUSH").arg(key).arg(payloads).exec(con)
        } else {
            let mut pipe = redis::pipe();
            for p in payloads {
                pipe.cmd("PUBLISH").arg(key).arg(p).ignore();
            }
            pipe.exec(con)
        }
    }
}

impl Output for RedisOut {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        let mut groups: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        for e in events {
            let key = self.key.render(e).into_owned();
            let mut buf = Vec::new();
            self.codec.encode(e, &mut buf);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, g)) => g.push(buf),
                None => groups.push((key, vec![buf])),
            }
        }
        for (key, payloads) in groups {
            while let Err(e) = self.write(&key, &payloads) {
                let name = &self.links[self.current % self.links.len()].name;
                warn!(
                    "redis output: writing to {name} failed: {e}; retrying in {:?}",
                    self.reconnect
                );
                self.con = None;
                self.current += 1;
                std::thread::sleep(self.reconnect);
            }
        }
        Ok(())
    }
}
