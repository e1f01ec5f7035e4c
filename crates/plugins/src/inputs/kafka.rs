//! `kafka`: events from Kafka topics (or a `topics_pattern`) as a member of consumer group
//! `group_id`, on librdkafka. Offsets are committed only for messages whose events are in the
//! queue: every `auto_commit_interval_ms` (and at stop) the offsets after the last queued batch
//! are committed; librdkafka's own auto-commit, which commits what was polled, is off. `decorate_events` adds `[@metadata][kafka]` (topic,
//! consumer_group, partition, offset, key, timestamp; `extended` adds headers).

use rstash_pipeline::{opt, Options, Ty};
use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rstash_config::ConfigError;
use rstash_event::{FieldRef, Map, Value};
use rstash_pipeline::{Args, Codec, Input, InputContext, PluginError};
use tracing::{info, warn};

#[derive(Clone, Copy, PartialEq)]
enum Decorate {
    None,
    Basic,
    Extended,
}

pub struct Kafka {
    /// How often queued events' offsets are committed; None: only at stop.
    auto_commit: Option<Duration>,
    config: ClientConfig,
    topics: Vec<String>,
    group: String,
    threads: usize,
    poll: Duration,
    max_records: usize,
    decorate: Decorate,
    /// Each consumer thread decodes with its own copy.
    codec: std::sync::Mutex<Box<dyn Codec>>,
}

pub const OPTIONS: Options = &[&[
    opt("bootstrap_servers", Ty::Str).default("localhost:9092"),
    opt("topics", Ty::Array).default("[\"logstash\"]"),
    opt("topics_pattern", Ty::Str),
    opt("group_id", Ty::Str).default("logstash"),
    opt("client_id", Ty::Str).default("logstash"),
    opt("consumer_threads", Ty::Number).default("1"),
    opt(
        "decorate_events",
        Ty::Choice(&["none", "basic", "extended", "false", "true"]),
    )
    .default("none"),
    opt("auto_offset_reset", Ty::Str),
    opt("enable_auto_commit", Ty::Boolean).default("true"),
    opt("auto_commit_interval_ms", Ty::Number).default("5000"),
    opt("session_timeout_ms", Ty::Number).default("10000"),
    opt("heartbeat_interval_ms", Ty::Number).default("3000"),
    opt("max_poll_interval_ms", Ty::Number).default("300000"),
    opt("max_poll_records", Ty::Number).default("500"),
    opt("poll_timeout_ms", Ty::Number).default("100"),
    opt("fetch_min_bytes", Ty::Number),
    opt("fetch_max_wait_ms", Ty::Number),
    opt("max_partition_fetch_bytes", Ty::Number),
    opt(
        "isolation_level",
        Ty::Choice(&["read_uncommitted", "read_committed"]),
    ),
    opt("client_rack", Ty::Str),
    opt("key_deserializer_class", Ty::Str)
        .default("org.apache.kafka.common.serialization.StringDeserializer"),
    opt("value_deserializer_class", Ty::Str)
        .default("org.apache.kafka.common.serialization.StringDeserializer"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let bootstrap = args.string_or("bootstrap_servers", "localhost:9092")?;
    let group = args.string_or("group_id", "logstash")?;
    let topics = match args.string("topics_pattern")? {
        // librdkafka subscribes to a regex when the name starts with `^`.
        Some(p) => vec![if p.starts_with('^') {
            p
        } else {
            format!("^{p}")
        }],
        None if args.has("topics") => args.strings("topics")?,
        None => vec!["logstash".to_string()],
    };
    let decorate = match args.string("decorate_events")?.as_deref() {
        None | Some("false") | Some("none") => Decorate::None,
        Some("true") | Some("basic") => Decorate::Basic,
        Some("extended") => Decorate::Extended,
        Some(other) => {
            return Err(args.error_at(
                "decorate_events",
                format!(
                    "decorate_events must be none, basic, extended, true or false, got `{other}`"
                ),
            ))
        }
    };
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", &group)
        .set("client.id", args.string_or("client_id", "logstash")?)
        // Offsets are committed here, and only for events in the queue.
        .set("enable.auto.commit", "false")
        .set(
            "session.timeout.ms",
            args.int("session_timeout_ms", 10_000)?.to_string(),
        )
        .set(
            "heartbeat.interval.ms",
            args.int("heartbeat_interval_ms", 3000)?.to_string(),
        )
        // Also the rebalance timeout a broker waits for members to rejoin.
        .set(
            "max.poll.interval.ms",
            args.int("max_poll_interval_ms", 300_000)?.to_string(),
        );
    if let Some(r) = args.string("auto_offset_reset")? {
        let r = match r.as_str() {
            "earliest" | "latest" => r,
            "none" => "error".to_string(),
            other => {
                return Err(args.error_at(
                    "auto_offset_reset",
                    format!("auto_offset_reset must be earliest, latest or none, got `{other}`"),
                ))
            }
        };
        config.set("auto.offset.reset", r);
    }
    if let Some(n) = args.number("fetch_min_bytes")? {
        config.set("fetch.min.bytes", (n as i64).to_string());
    }
    if let Some(n) = args.number("fetch_max_wait_ms")? {
        config.set("fetch.wait.max.ms", (n as i64).to_string());
    }
    if let Some(n) = args.number("max_partition_fetch_bytes")? {
        config.set("max.partition.fetch.bytes", (n as i64).to_string());
    }
    if let Some(s) = args.string("isolation_level")? {
        config.set("isolation.level", s);
    }
    if let Some(s) = args.string("client_rack")? {
        config.set("client.rack", s);
    }
    for o in ["key_deserializer_class", "value_deserializer_class"] {
        if let Some(c) = args.string(o)? {
            if c != "org.apache.kafka.common.serialization.StringDeserializer" {
                return Err(args.error_at(
                    o,
                    format!("only the StringDeserializer is supported, got `{c}`"),
                ));
            }
        }
    }
    let auto_commit = args
        .bool("enable_auto_commit", true)?
        .then_some(Duration::from_millis(
            args.int("auto_commit_interval_ms", 5000)?.max(1) as u64,
        ));
    Ok(Box::new(Kafka {
        auto_commit,
        config,
        topics,
        group,
        threads: args.int("consumer_threads", 1)?.clamp(1, 64) as usize,
        poll: Duration::from_millis(args.int("poll_timeout_ms", 100)?.max(1) as u64),
        max_records: args.int("max_poll_records", 500)?.max(1) as usize,
        decorate,
        codec: std::sync::Mutex::new(args.codec("plain")?),
    }))
}

impl Kafka {
    fn metadata(&self, m: &BorrowedMessage) -> Value {
        let mut k = Map::default();
        k.insert("topic".into(), Value::String(m.topic().into()));
        k.insert(
            "consumer_group".into(),
            Value::String(self.group.as_str().into()),
        );
        k.insert("partition".into(), Value::Int(m.partition() as i64));
        k.insert("offset".into(), Value::Int(m.offset()));
        k.insert(
            "key".into(),
            m.key().map_or(Value::Null, |b| {
                Value::String(String::from_utf8_lossy(b).into_owned().into())
            }),
        );
        k.insert(
            "timestamp".into(),
            m.timestamp().to_millis().map_or(Value::Null, Value::Int),
        );
        if self.decorate == Decorate::Extended {
            if let Some(hs) = m.headers() {
                let mut h = Map::default();
                for hd in hs.iter() {
                    h.insert(
                        hd.key.into(),
                        hd.value.map_or(Value::Null, |v| {
                            Value::String(String::from_utf8_lossy(v).into_owned().into())
                        }),
                    );
                }
                k.insert("headers".into(), Value::Object(h));
            }
        }
        Value::Object(k)
    }

    /// One consumer of the group: poll a batch, queue its events, then store its offsets.
    fn consume(&self, ctx: &InputContext, mut codec: Box<dyn Codec>) -> Result<(), PluginError> {
        let consumer: BaseConsumer = self
            .config
            .create()
            .map_err(|e| PluginError(format!("kafka input: {e}")))?;
        let topics: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| PluginError(format!("kafka input: subscribe: {e}")))?;
        info!(
            "kafka input: consumer of group {} subscribed to {:?}",
            self.group, self.topics
        );
        let field =
            FieldRef::parse("[@metadata][kafka]").map_err(|e| PluginError(e.to_string()))?;
        // Next offset per partition, for events already in the queue.
        let mut done: HashMap<(String, i32), i64> = HashMap::new();
        let mut last_commit = Instant::now();
        while !ctx.is_stopping() {
            let mut events = Vec::new();
            let mut polled = Vec::new();
            while polled.len() < self.max_records {
                let timeout = if polled.is_empty() {
                    self.poll
                } else {
                    Duration::ZERO
                };
                match consumer.poll(timeout) {
                    None => break,
                    Some(Err(e)) => {
                        warn!("kafka input: {e}");
                        break;
                    }
                    Some(Ok(m)) => {
                        let start = events.len();
                        codec.decode_message(m.payload().unwrap_or_default(), &mut |e| {
                            events.push(e)
                        });
                        if self.decorate != Decorate::None {
                            let meta = self.metadata(&m);
                            for e in &mut events[start..] {
                                let _ = e.set(&field, meta.clone());
                            }
                        }
                        polled.push((m.topic().to_string(), m.partition(), m.offset() + 1));
                    }
                }
            }
            if !events.is_empty() && ctx.push_all(events).is_err() {
                break;
            }
            for (t, p, o) in polled {
                done.insert((t, p), o);
            }
            if self
                .auto_commit
                .is_some_and(|every| last_commit.elapsed() >= every)
            {
                commit(&consumer, &mut done, CommitMode::Async);
                last_commit = Instant::now();
            }
        }
        // What was queued is committed now rather than at the next interval.
        commit(&consumer, &mut done, CommitMode::Sync);
        // Leave the group now, so that its partitions move to other members without waiting
        // for this member's session to time out.
        consumer.unsubscribe();
        Ok(())
    }
}

/// Commits the offsets of queued events.
fn commit(consumer: &BaseConsumer, done: &mut HashMap<(String, i32), i64>, mode: CommitMode) {
    if done.is_empty() {
        return;
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    for ((t, p), o) in done.iter() {
        let _ = tpl.add_partition_offset(t, *p, rdkafka::Offset::Offset(*o));
    }
    // Cleared either way: after a rebalance, committing a revoked partition fails and must not
    // be retried (its new owner commits it); a partition still ours is committed next time.
    if let Err(e) = consumer.commit(&tpl, mode) {
        warn!("kafka input: committing offsets: {e}");
    }
    done.clear();
}

impl Input for Kafka {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let me: &Kafka = self;
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..me.threads)
                .map(|_| {
                    let codec = me
                        .codec
                        .lock()
                        .map(|c| c.fresh())
                        .unwrap_or_else(|p| p.into_inner().fresh());
                    s.spawn(move || me.consume(ctx, codec))
                })
                .collect();
            let mut result = Ok(());
            for h in handles {
                match h.join() {
                    Ok(Err(e)) => result = Err(e),
                    Err(_) => {
                        result = Err(PluginError("kafka input: a consumer thread failed".into()))
                    }
                    Ok(Ok(())) => {}
                }
            }
            result
        })
    }
}
