//! `kafka`: produces each event (codec `plain`) to `topic_id` (sprintf) with an optional
//! `message_key`, on librdkafka. A batch returns once every message is acknowledged by the
//! broker (`acks`); a message that fails is produced again after a pause, so nothing is dropped.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::producer::FutureProducer;
use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_kafka::{produce_all, Record};
use rstash_pipeline::{Args, Codec, Output, PluginError};

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

pub const OPTIONS: Options = &[&[
    opt("topic_id", Ty::Str).required(),
    opt("bootstrap_servers", Ty::Str).default("localhost:9092"),
    opt("client_id", Ty::Str).default("logstash"),
    opt("message_key", Ty::Str),
    opt("acks", Ty::Choice(&["0", "1", "all", "-1"])).default("1"),
    opt(
        "compression_type",
        Ty::Choice(&["none", "gzip", "snappy", "lz4", "zstd"]),
    )
    .default("none"),
    opt("linger_ms", Ty::Number).default("0"),
    opt("batch_size", Ty::Number).default("16384"),
    opt("max_request_size", Ty::Number).default("1048576"),
    opt("request_timeout_ms", Ty::Number).default("40000"),
    opt("partitioner", Ty::Str),
    opt("retries", Ty::Number),
    opt("retry_backoff_ms", Ty::Number).default("100"),
    opt("key_serializer", Ty::Str)
        .default("org.apache.kafka.common.serialization.StringSerializer"),
    opt("value_serializer", Ty::Str)
        .default("org.apache.kafka.common.serialization.StringSerializer"),
]];

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
        let records = events
            .iter()
            .map(|e| {
                let mut payload = Vec::new();
                self.codec.encode(e, &mut payload);
                Record {
                    topic: self.topic.render(e).into_owned(),
                    key: self
                        .key
                        .as_ref()
                        .map(|k| k.render(e).into_owned().into_bytes()),
                    payload,
                }
            })
            .collect();
        // Logstash's output retries for ever (`retries` unset): nothing gives up.
        produce_all(
            producer,
            &self.rt,
            records,
            self.retry_backoff,
            |b| b,
            || false,
        )
        .map_err(|e| PluginError(format!("kafka output: {e}")))?;
        Ok(())
    }
}
