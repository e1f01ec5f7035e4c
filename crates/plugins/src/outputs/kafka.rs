//! `kafka`: produces each event (codec `plain`) to `topic_id` (sprintf) with an optional
//! `message_key`, on librdkafka. A batch returns once every message is acknowledged by the
//! broker (`acks`); a message that fails is produced again after a pause, so nothing is dropped.

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::warn;

pub struct KafkaOut {
    /// Made in `register`: librdkafka starts connecting to the brokers as soon as a producer
    /// exists, which `-t` must not do.
    producer: Option<FutureProducer>,
    config: ClientConfig,
    rt: tokio::runtime::Runtime,
    topic: Template,
    key: Option<Template>,
    codec: Box<dyn Codec>,
    retry_backoff: Duration,
}

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(topic) = args.template("topic_id")? else {
        return Err(args.error("kafka output needs `topic_id`"));
    };
    let acks = args.choice("acks", &["0", "1", "all", "-1"], "1")?;
    let compression = args.choice(
        "compression_type",
        &["none", "gzip", "snappy", "lz4", "zstd"],
        "none",
    )?;
    let mut config = ClientConfig::new();
    config
        .set(
            "bootstrap.servers",
            args.string_or("bootstrap_servers", "localhost:9092")?,
        )
        .set("client.id", args.string_or("client_id", "logstash")?)
        .set("acks", &acks)
        .set("compression.type", &compression)
        .set("linger.ms", args.int("linger_ms", 0)?.to_string())
        .set(
            "batch.size",
            args.int("batch_size", 16_384)?.max(1).to_string(),
        )
        .set(
            "message.max.bytes",
            args.int("max_request_size", 1_048_576)?
                .max(1000)
                .to_string(),
        )
        .set(
            "request.timeout.ms",
            args.int("request_timeout_ms", 40_000)?.max(1).to_string(),
        );
    if let Some(p) = args.string("partitioner")? {
        let p = match p.as_str() {
            "default" | "murmur2" => "murmur2_random",
            "round_robin" | "uniform_sticky" => "random",
            other => return Err(args.error_at("partitioner", format!("partitioner must be default, round_robin, uniform_sticky or murmur2, got `{other}`"))),
        };
        config.set("partitioner", p);
    }
    if let Some(r) = args.number("retries")? {
        config.set("message.send.max.retries", (r as i64).max(0).to_string());
    }
    for o in ["key_serializer", "value_serializer"] {
        if let Some(c) = args.string(o)? {
            if c != "org.apache.kafka.common.serialization.StringSerializer" {
                return Err(args.error_at(
                    o,
                    format!("only the StringSerializer is supported, got `{c}`"),
                ));
            }
        }
    }
    // librdkafka checks each property here, without a client.
    config
        .create_native_config()
        .map_err(|e| args.error(format!("kafka output: {e}")))?;
    Ok(Box::new(KafkaOut {
        producer: None,
        config,
        rt: rstash_net::runtime("kafka-output", 1)
            .map_err(|e| args.error(format!("kafka output: {e}")))?,
        topic,
        key: args.template("message_key")?,
        codec: args.codec("plain")?,
        retry_backoff: Duration::from_millis(args.int("retry_backoff_ms", 100)?.max(1) as u64),
    }))
}

impl Output for KafkaOut {
    fn register(&mut self) -> Result<(), PluginError> {
        if self.producer.is_none() {
            self.producer = Some(
                self.config
                    .create()
                    .map_err(|e| PluginError(format!("kafka output: {e}")))?,
            );
        }
        Ok(())
    }

    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        self.register()?;
        let Some(producer) = &self.producer else {
            return Err(PluginError("kafka output: no producer".into()));
        };
        let mut pending: Vec<(String, Option<String>, Vec<u8>)> = events
            .iter()
            .map(|e| {
                let mut buf = Vec::new();
                self.codec.encode(e, &mut buf);
                (
                    self.topic.render(e).into_owned(),
                    self.key.as_ref().map(|k| k.render(e).into_owned()),
                    buf,
                )
            })
            .collect();
        while !pending.is_empty() {
            // Enqueue everything first (librdkafka batches), then wait for each acknowledgement.
            let mut waiting = Vec::with_capacity(pending.len());
            let mut failed = Vec::new();
            for (i, (topic, key, payload)) in pending.iter().enumerate() {
                loop {
                    let mut rec = FutureRecord::<String, Vec<u8>>::to(topic).payload(payload);
                    if let Some(k) = key {
                        rec = rec.key(k);
                    }
                    match producer.send_result(rec) {
                        Ok(f) => waiting.push((i, f)),
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                        Err((e, _)) => {
                            warn!("kafka output: cannot produce to {topic}: {e}; retrying");
                            failed.push(i);
                        }
                    }
                    break;
                }
            }
            for (i, f) in waiting {
                match self.rt.block_on(f) {
                    Ok(Ok(_)) => {}
                    Ok(Err((e, _))) => {
                        warn!(
                            "kafka output: producing to {} failed: {e}; retrying",
                            pending[i].0
                        );
                        failed.push(i);
                    }
                    Err(_) => failed.push(i),
                }
            }
            if !failed.is_empty() {
                std::thread::sleep(self.retry_backoff);
            }
            failed.sort_unstable();
            pending = failed
                .into_iter()
                .map(|i| std::mem::take(&mut pending[i]))
                .collect();
        }
        Ok(())
    }
}
