//! `redis`: events from a Redis list (`data_type => list`), channel or pattern channel (codec
//! `json`). A list is read reliably, unlike Logstash's pop: up to `batch_count` items move
//! atomically to an in-flight list of this input, and are deleted from it only once their
//! events are in the queue; items found in flight at start (a crash) are delivered first.
//! Channels are Redis pub/sub: what is published while we are disconnected is not seen.
//! A lost connection is retried with backoff.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{Args, Codec, Input, InputContext, PluginError};
use tracing::{info, warn};

use crate::redis_link::{self, Link};

/// Moves up to ARGV[1] items from the list to the in-flight list, returning them.
const TAKE: &str = r"
local items = redis.call('lrange', KEYS[1], 0, tonumber(ARGV[1]) - 1)
if #items > 0 then
  redis.call('ltrim', KEYS[1], #items, -1)
  redis.call('rpush', KEYS[2], unpack(items))
end
return items
";

#[derive(PartialEq)]
enum Mode {
    List,
    Channel,
    Pattern,
}

pub struct Redis {
    link: Link,
    mode: Mode,
    key: String,
    inflight: String,
    batch: usize,
    codec: Box<dyn Codec>,
}

pub const OPTIONS: Options = &[
    &[
        opt("codec", Ty::Codec).default("json"),
        opt("host", Ty::Str).default("127.0.0.1"),
        opt("batch_count", Ty::Number).default("125"),
        opt("threads", Ty::Number).default("1"),
    ],
    crate::redis_link::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let host = args.string_or("host", "127.0.0.1")?;
    let (port, password, db, timeout) = redis_link::options(args)?;
    let (dt, key) = redis_link::data_type(args, &["list", "channel", "pattern_channel"])?;
    let batch = args.int("batch_count", 125)?.clamp(1, 5000) as usize;
    args.int("threads", 1)?;
    let id = args.plugin_id()?;
    Ok(Box::new(Redis {
        link: Link::new(&host, port, password.as_deref(), db, timeout),
        mode: match dt.as_str() {
            "list" => Mode::List,
            "channel" => Mode::Channel,
            _ => Mode::Pattern,
        },
        inflight: format!("{key}:rstash:inflight:{}:{id}", args.settings.id),
        key,
        batch,
        codec: args.codec("json")?,
    }))
}

enum Ended {
    Stopped,
    Lost(redis::RedisError),
}

impl From<redis::RedisError> for Ended {
    fn from(e: redis::RedisError) -> Ended {
        Ended::Lost(e)
    }
}

impl Redis {
    fn decode(&mut self, items: &[Vec<u8>]) -> Vec<Event> {
        let mut events = Vec::new();
        for item in items {
            self.codec.decode_message(item, &mut |e| events.push(e));
        }
        events
    }

    /// Queues the in-flight items' events, then forgets the items.
    fn deliver(
        &mut self,
        con: &mut redis::Connection,
        ctx: &InputContext,
        items: &[Vec<u8>],
    ) -> Result<(), Ended> {
        if items.is_empty() {
            return Ok(());
        }
        let events = self.decode(items);
        if !events.is_empty() && ctx.push_all(events).is_err() {
            return Err(Ended::Stopped); // left in flight: delivered at the next start
        }
        redis::cmd("DEL").arg(&self.inflight).exec(con)?;
        Ok(())
    }

    fn run_list(&mut self, con: &mut redis::Connection, ctx: &InputContext) -> Result<(), Ended> {
        let left: Vec<Vec<u8>> = redis::cmd("LRANGE")
            .arg(&self.inflight)
            .arg(0)
            .arg(-1)
            .query(con)?;
        if !left.is_empty() {
            info!(
                "redis input: {} item(s) of {} were in flight at the last stop; delivering them",
                left.len(),
                self.key
            );
        }
        self.deliver(con, ctx, &left)?;
        let take = redis::Script::new(TAKE);
        loop {
            if ctx.is_stopping() {
                return Err(Ended::Stopped);
            }
            let items: Vec<Vec<u8>> = take
                .key(&self.key)
                .key(&self.inflight)
                .arg(self.batch)
                .invoke(con)?;
            if !items.is_empty() {
                self.deliver(con, ctx, &items)?;
                continue;
            }
            // Nothing waiting: block up to a second for one item, moved into flight as well.
            let one: Option<Vec<u8>> = redis::cmd("BLMOVE")
                .arg(&self.key)
                .arg(&self.inflight)
                .arg("LEFT")
                .arg("RIGHT")
                .arg(1)
                .query(con)?;
            if let Some(item) = one {
                self.deliver(con, ctx, &[item])?;
            }
        }
    }

    fn run_channel(
        &mut self,
        con: &mut redis::Connection,
        ctx: &InputContext,
    ) -> Result<(), Ended> {
        let mut ps = con.as_pubsub();
        if self.mode == Mode::Pattern {
            ps.psubscribe(&self.key)?;
        } else {
            ps.subscribe(&self.key)?;
        }
        ps.set_read_timeout(Some(Duration::from_millis(300)))?;
        info!("redis input subscribed to {}", self.key);
        loop {
            if ctx.is_stopping() {
                return Err(Ended::Stopped);
            }
            match ps.get_message() {
                Ok(msg) => {
                    let item = msg.get_payload_bytes().to_vec();
                    let mut events = Vec::new();
                    self.codec.decode_message(&item, &mut |e| events.push(e));
                    if !events.is_empty() && ctx.push_all(events).is_err() {
                        return Err(Ended::Stopped);
                    }
                }
                Err(e) if e.is_timeout() => {}
                Err(e) => return Err(Ended::Lost(e)),
            }
        }
    }
}

impl Input for Redis {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let mut backoff = Duration::from_millis(100);
        loop {
            let mut con = match self.link.connect() {
                Ok(c) => c,
                Err(e) => {
                    warn!(
                        "redis input: cannot connect to {}: {e}; retrying in {backoff:?}",
                        self.link.name
                    );
                    if ctx.stopping_within(backoff) {
                        return Ok(());
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            // Reads block up to a second (BLMOVE): allow for that on top of `timeout`.
            let _ = con.set_read_timeout(Some(self.link.timeout + Duration::from_secs(2)));
            backoff = Duration::from_millis(100);
            let ended = match self.mode {
                Mode::List => self.run_list(&mut con, ctx),
                _ => self.run_channel(&mut con, ctx),
            };
            match ended {
                Ok(()) | Err(Ended::Stopped) => return Ok(()),
                Err(Ended::Lost(e)) => {
                    warn!(
                        "redis input: connection to {} lost: {e}; reconnecting",
                        self.link.name
                    );
                    if ctx.stopping_within(backoff) {
                        return Ok(());
                    }
                }
            }
        }
    }
}
