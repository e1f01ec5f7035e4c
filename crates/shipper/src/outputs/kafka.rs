//! `output.kafka`: each event produced to its topic (a format string, or the first matching rule
//! of `topics`) with an optional key, as Beats' JSON or `codec.format`. A batch is done once the
//! broker acknowledged every message (`required_acks`); what fails is produced again after a
//! backoff until it is, as Filebeat does whatever `max_retries` says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, Producer};
use rstash_kafka::{produce_all, Record};
use serde_json::Value;

use super::format::FormatString;
use super::{Output, OutputConfig};
use crate::config::{ConfigError, Section};
use crate::fields::Fields;
use crate::processors::Condition;

/// One entry of `topics`: its topic, optionally mapped, when its condition holds.
struct Rule {
    topic: FormatString,
    mappings: Vec<(String, String)>,
    default: Option<String>,
    when: Option<Condition>,
}

impl Rule {
    fn topic(&self, e: &Fields) -> Option<String> {
        if self.when.as_ref().is_some_and(|c| !c.matches(e)) {
            return None;
        }
        let t = self.topic.render(e);
        if self.mappings.is_empty() {
            return (!t.is_empty())
                .then_some(t)
                .or_else(|| self.default.clone());
        }
        match self.mappings.iter().find(|(k, _)| *k == t) {
            Some((_, v)) => Some(v.clone()),
            None => self.default.clone(),
        }
    }
}

struct Route {
    topic: Option<FormatString>,
    rules: Vec<Rule>,
    key: Option<FormatString>,
    /// `codec.format.string`; Beats' JSON otherwise.
    format: Option<FormatString>,
}

impl Route {
    /// The message for `e`, framed for the queue: topic, key, payload (length-prefixed).
    fn encode(&self, e: &Fields) -> Bytes {
        let topic = self
            .rules
            .iter()
            .find_map(|r| r.topic(e))
            .or_else(|| self.topic.as_ref().map(|t| t.render(e)))
            .unwrap_or_default();
        let key = self.key.as_ref().map(|k| k.render(e));
        let payload = match &self.format {
            Some(f) => Bytes::from(f.render(e)),
            None => super::encode(e),
        };
        let mut b = BytesMut::with_capacity(topic.len() + payload.len() + 64);
        b.put_u32(topic.len() as u32);
        b.put_slice(topic.as_bytes());
        match &key {
            Some(k) => {
                b.put_u32(k.len() as u32);
                b.put_slice(k.as_bytes());
            }
            None => b.put_u32(u32::MAX),
        }
        b.put_slice(&payload);
        b.freeze()
    }
}

/// The record a framed event stands for.
fn decode(frame: &[u8]) -> Option<Record> {
    let take = |at: usize, n: usize| frame.get(at..at + n);
    let tl = u32::from_be_bytes(take(0, 4)?.try_into().ok()?) as usize;
    let topic = String::from_utf8_lossy(take(4, tl)?).into_owned();
    let at = 4 + tl;
    let kl = u32::from_be_bytes(take(at, 4)?.try_into().ok()?);
    let (key, at) = if kl == u32::MAX {
        (None, at + 4)
    } else {
        (
            Some(take(at + 4, kl as usize)?.to_vec()),
            at + 4 + kl as usize,
        )
    };
    Some(Record {
        topic,
        key,
        payload: frame.get(at..)?.to_vec(),
    })
}

fn format_string(s: &Section, key: &'static str) -> Result<Option<FormatString>, ConfigError> {
    s.string(key)?
        .map(|t| {
            FormatString::parse(&t)
                .map_err(|e| ConfigError(format!("setting `{}.{key}`: {e}", s.path)))
        })
        .transpose()
}

fn millis(d: Duration) -> String {
    d.as_millis().max(1).to_string()
}

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let hosts = s.strings("hosts")?;
    if hosts.is_empty() {
        return Err(ConfigError(format!(
            "setting `{}.hosts`: at least one broker is required",
            s.path
        )));
    }
    let mut rules = Vec::new();
    if let Some(Value::Array(items)) = s.raw("topics") {
        for (i, item) in items.iter().enumerate() {
            let r = Section::new(&format!("{}.topics.{i}", s.path), Some(item))?;
            let topic = format_string(&r, "topic")?
                .ok_or_else(|| ConfigError(format!("setting `{}.topic` is required", r.path)))?;
            let mappings = r
                .section("mappings")?
                .map()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            let when = match r.raw("when") {
                Some(c) => Some(Condition::parse(&format!("{}.when", r.path), c)?),
                None => None,
            };
            rules.push(Rule {
                topic,
                mappings,
                default: r.string("default")?,
                when,
            });
            r.warn_unknown();
        }
    }
    let topic = format_string(s, "topic")?;
    if topic.is_none() && rules.is_empty() {
        return Err(ConfigError(format!(
            "setting `{}.topic` is required (or `topics`)",
            s.path
        )));
    }
    let codec = s.section("codec")?;
    let format =
        match codec.section("format")?.string("string")? {
            Some(f) => Some(FormatString::parse(&f).map_err(|e| {
                ConfigError(format!("setting `{}.codec.format.string`: {e}", s.path))
            })?),
            None => None,
        };
    codec.raw("json");
    let route = Arc::new(Route {
        topic,
        rules,
        key: format_string(s, "key")?,
        format,
    });

    let mut config = ClientConfig::new();
    let acks = match s.int("required_acks", 1)? {
        0 => "0",
        -1 => "all",
        _ => "1",
    };
    let compression = s.string_or("compression", "gzip")?;
    if !matches!(
        compression.as_str(),
        "none" | "gzip" | "snappy" | "lz4" | "zstd"
    ) {
        return Err(ConfigError(format!(
            "setting `{}.compression`: `{compression}` is not none, gzip, snappy, lz4 or zstd",
            s.path
        )));
    }
    let partition = s.section("partition")?;
    // Sarama's hash partitioner (Filebeat's default) is FNV-1a of the key, random without one.
    let partitioner = if partition.section("random")?.exists()
        || partition.section("round_robin")?.exists()
    {
        "random"
    } else {
        let hash = partition.section("hash")?;
        if !hash.strings("hash")?.is_empty() {
            tracing::warn!(
                "{}.partition.hash.hash: partitioning by event fields is not supported; the key is hashed",
                s.path
            );
        }
        hash.raw("random");
        "fnv1a_random"
    };
    let dur = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
        Ok(s.duration(key, Duration::from_secs(default))?
            .unwrap_or(Duration::from_secs(default)))
    };
    let timeout = dur("timeout", 30)?;
    config
        .set("bootstrap.servers", hosts.join(","))
        .set("client.id", s.string_or("client_id", "beats")?)
        .set("acks", acks)
        .set("compression.type", &compression)
        .set("partitioner", partitioner)
        .set(
            "message.max.bytes",
            s.int("max_message_bytes", 1_000_000)?.max(1000).to_string(),
        )
        .set("request.timeout.ms", millis(dur("broker_timeout", 10)?))
        .set("socket.timeout.ms", millis(timeout))
        // Delivery reports come back within the timeout; the retry loop takes it from there.
        .set("message.timeout.ms", millis(timeout))
        .set(
            "linger.ms",
            s.duration("bulk_flush_frequency", Duration::ZERO)?
                .unwrap_or(Duration::ZERO)
                .as_millis()
                .to_string(),
        );
    if compression == "gzip" {
        config.set(
            "compression.level",
            s.int("compression_level", 4)?.to_string(),
        );
    } else {
        s.raw("compression_level");
    }
    if let Some(user) = s.string("username")? {
        config
            .set("security.protocol", "SASL_PLAINTEXT")
            .set(
                "sasl.mechanisms",
                s.section("sasl")?.string_or("mechanism", "PLAIN")?,
            )
            .set("sasl.username", user)
            .set("sasl.password", s.string_or("password", "")?);
    }
    if s.section("ssl")?.exists() && s.section("ssl")?.bool("enabled", true)? {
        return Err(ConfigError(format!(
            "setting `{}.ssl`: rbeat's Kafka client is built without TLS",
            s.path
        )));
    }
    for accepted in [
        "version",
        "keep_alive",
        "max_retries",
        "channel_buffer_size",
        "metadata",
        "enabled",
        "headers",
    ] {
        s.raw(accepted);
    }
    // librdkafka checks each property here, without connecting.
    config
        .create_native_config()
        .map_err(|e| ConfigError(format!("setting `{}`: {e}", s.path)))?;
    let (backoff_init, backoff_max) = super::backoff_settings(s)?;
    let brokers = hosts.join(",");
    let probe: super::Probe = {
        let (config, brokers) = (config.clone(), brokers.clone());
        Arc::new(move |say| {
            say(format!("kafka: {brokers}..."));
            let producer: Result<FutureProducer, _> = config.create();
            let answer = producer.map_err(|e| e.to_string()).and_then(|p| {
                p.client()
                    .fetch_metadata(None, Duration::from_secs(5))
                    .map_err(|e| e.to_string())
            });
            match answer {
                Ok(m) => {
                    say(format!(
                        "  talk to brokers... OK ({} known)",
                        m.brokers().len()
                    ));
                    true
                }
                Err(e) => {
                    say(format!("  talk to brokers... ERROR {e}"));
                    false
                }
            }
        })
    };
    Ok(OutputConfig {
        name: "kafka",
        workers: s.int("worker", 1)?.max(1) as usize,
        pipelining: 1,
        bulk_max_size: s.int("bulk_max_size", 2048)?.max(1) as usize,
        beat_index: "filebeat".into(),
        describe: vec![format!("kafka: {brokers}")],
        probe: Some(probe),
        plain_json: false,
        encoder: Arc::new(move |e: &Fields| route.encode(e)),
        factory: Arc::new(move |_, abort| {
            let producer: FutureProducer =
                config.create().map_err(|e| format!("kafka output: {e}"))?;
            let rt =
                rstash_net::runtime("kafka-output", 1).map_err(|e| format!("kafka output: {e}"))?;
            Ok(Box::new(Kafka {
                producer,
                rt,
                backoff_init,
                backoff_max,
                abort,
            }) as Box<dyn Output>)
        }),
    })
}

struct Kafka {
    producer: FutureProducer,
    rt: tokio::runtime::Runtime,
    backoff_init: Duration,
    backoff_max: Duration,
    abort: Arc<AtomicBool>,
}

impl Output for Kafka {
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String> {
        let records = events.iter().filter_map(|f| decode(f)).collect();
        let max = self.backoff_max;
        let abort = &self.abort;
        produce_all(
            &self.producer,
            &self.rt,
            records,
            self.backoff_init,
            |b| (b * 2).min(max),
            || abort.load(Ordering::Relaxed),
        )
        .map_err(|e| format!("kafka output: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The record an event becomes under `cfg`.
    fn produced(cfg: Value) -> Record {
        let s = Section::new("output.kafka", Some(&cfg)).unwrap();
        let out = parse(&s).unwrap();
        let e = json!({"@timestamp": "2026-12-03T10:00:00.000Z", "message": "hi", "n": 7,
            "fields": {"team": "core", "level": "critical"}});
        decode(&(out.encoder)(e.as_object().unwrap())).unwrap()
    }

    #[test]
    fn topics_keys_and_codecs() {
        let r = produced(
            json!({"hosts": ["b:9092"], "topic": "logs-%{[fields.team]}", "key": "%{[n]}"}),
        );
        assert_eq!(r.topic, "logs-core");
        assert_eq!(r.key.as_deref(), Some(&b"7"[..]));
        let payload = String::from_utf8(r.payload).unwrap();
        assert!(payload.starts_with(r#"{"@timestamp":"2026-12-03T10:00:00.000Z","message":"hi""#));
        let r = produced(json!({"hosts": ["b:9092"], "topic": "fallback",
            "topics": [{"topic": "never", "when": {"equals": {"n": 8}}},
                       {"topic": "%{[fields.level]}", "mappings": {"critical": "sev1"}, "default": "sevx"}],
            "codec": {"format": {"string": "%{[message]} (%{[n]})"}}}));
        assert_eq!(
            (r.topic.as_str(), r.key, r.payload),
            ("sev1", None, b"hi (7)".to_vec())
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let bad = |cfg: Value| {
            let s = Section::new("output.kafka", Some(&cfg)).unwrap();
            parse(&s).err().map(|e| e.0).unwrap_or_default()
        };
        assert!(bad(json!({"topic": "t"})).contains("output.kafka.hosts"));
        assert!(bad(json!({"hosts": ["b:1"]})).contains("output.kafka.topic"));
        assert!(
            bad(json!({"hosts": ["b:1"], "topic": "t", "compression": "brotli"}))
                .contains("brotli")
        );
    }
}
