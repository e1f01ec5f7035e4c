//! `rabbitmq`: events from a RabbitMQ queue (codec `json`), declared and bound as Logstash's
//! input does (`queue`, `durable`, `exclusive`, `auto_delete`, `arguments`, `exchange`,
//! `exchange_type`, `key`). With `ack` (the default) deliveries are acknowledged only once their
//! events are in the pipeline's queue, so a crash leaves them to be redelivered. `metadata_enabled`
//! puts headers and properties in `[@metadata][rabbitmq_headers]`/`[rabbitmq_properties]`.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use futures_lite::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicQosOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_pipeline::{Args, Codec, Input, InputContext, PluginError};
use tracing::{info, warn};

use crate::amqp_link::{self, Link};

pub struct RabbitMq {
    link: Link,
    queue: String,
    durable: bool,
    exclusive: bool,
    auto_delete: bool,
    arguments: Map,
    exchange: Option<(String, Option<String>)>,
    key: String,
    ack: bool,
    prefetch: u16,
    subscribe_retry: Duration,
    headers: bool,
    payload: bool,
    codec: Box<dyn Codec>,
}

pub const OPTIONS: Options = &[
    &[
        opt("codec", Ty::Codec).default("json"),
        opt("queue", Ty::Str).default(""),
        opt("durable", Ty::Boolean).default("false"),
        opt("exclusive", Ty::Boolean).default("false"),
        opt("auto_delete", Ty::Boolean).default("false"),
        opt("arguments", Ty::Hash).default("{}"),
        opt("exchange", Ty::Str),
        opt("exchange_type", Ty::Str),
        opt("key", Ty::Str).default("logstash"),
        opt("ack", Ty::Boolean).default("true"),
        opt("prefetch_count", Ty::Number).default("256"),
        opt(
            "metadata_enabled",
            Ty::Choice(&["none", "basic", "extended", "false", "true"]),
        )
        .default("none"),
        opt("subscription_retry_interval_seconds", Ty::Number).default("5"),
        opt("threads", Ty::Number).default("1"),
    ],
    crate::amqp_link::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let link = amqp_link::options(args)?;
    let metadata = args.choice(
        "metadata_enabled",
        &["none", "basic", "extended", "false", "true"],
        "none",
    )?;
    let exchange = args.string("exchange")?;
    let exchange_type = args.string("exchange_type")?;
    if exchange.is_none() && exchange_type.is_some() {
        return Err(args.error_at("exchange_type", "`exchange_type` needs `exchange`"));
    }
    args.int("threads", 1)?;
    Ok(Box::new(RabbitMq {
        link,
        queue: args.string_or("queue", "")?,
        durable: args.bool("durable", false)?,
        exclusive: args.bool("exclusive", false)?,
        auto_delete: args.bool("auto_delete", false)?,
        arguments: args
            .hash("arguments")?
            .into_iter()
            .map(|(k, v)| (k.into(), v.to_value()))
            .collect(),
        exchange: exchange.map(|e| (e, exchange_type)),
        key: args.string_or("key", "logstash")?,
        ack: args.bool("ack", true)?,
        prefetch: args.int("prefetch_count", 256)?.clamp(1, u16::MAX as i64) as u16,
        subscribe_retry: Duration::from_secs_f64(
            args.number("subscription_retry_interval_seconds")?
                .unwrap_or(5.0)
                .max(0.05),
        ),
        headers: matches!(metadata.as_str(), "basic" | "extended" | "true"),
        payload: metadata == "extended",
        codec: args.codec("json")?,
    }))
}

/// How a consuming session ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl Input for RabbitMq {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let rt = amqp_link::runtime()?;
        loop {
            match rt.block_on(self.session(ctx)) {
                Ended::Stopped => return Ok(()),
                Ended::Lost(e) => {
                    warn!(
                        "rabbitmq input: {} ({}); retrying in {:?}",
                        e, self.link.shown, self.subscribe_retry
                    );
                    if ctx.stopping_within(self.subscribe_retry) {
                        return Ok(());
                    }
                }
            }
        }
    }
}

impl RabbitMq {
    async fn session(&mut self, ctx: &InputContext) -> Ended {
        let conn = match self.link.connect().await {
            Ok(c) => c,
            Err(e) => return Ended::Lost(format!("cannot connect: {e}")),
        };
        let ended = self.consume(&conn, ctx).await;
        // Unacknowledged deliveries go back to the queue when the connection closes.
        let _ = conn.close(200, "rstash stopping".into()).await;
        ended
    }

    async fn consume(&mut self, conn: &lapin::Connection, ctx: &InputContext) -> Ended {
        let ch = match conn.create_channel().await {
            Ok(c) => c,
            Err(e) => return Ended::Lost(e.to_string()),
        };
        let opts = QueueDeclareOptions {
            durable: self.durable,
            exclusive: self.exclusive,
            auto_delete: self.auto_delete,
            passive: self.link.passive,
            ..Default::default()
        };
        let queue = match ch
            .queue_declare(self.queue.as_str().into(), opts, table(&self.arguments))
            .await
        {
            Ok(q) => q.name().to_string(),
            Err(e) => return Ended::Lost(format!("cannot declare queue `{}`: {e}", self.queue)),
        };
        if let Some((exchange, kind)) = &self.exchange {
            if let Some(kind) = kind {
                let r = amqp_link::declare_exchange(&ch, exchange, kind, self.durable, false).await;
                if let Err(e) = r {
                    return Ended::Lost(format!("cannot declare exchange `{exchange}`: {e}"));
                }
            }
            let r = ch
                .queue_bind(
                    queue.as_str().into(),
                    exchange.as_str().into(),
                    self.key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await;
            if let Err(e) = r {
                return Ended::Lost(format!("cannot bind `{queue}` to `{exchange}`: {e}"));
            }
        }
        if let Err(e) = ch
            .basic_qos(self.prefetch, BasicQosOptions::default())
            .await
        {
            return Ended::Lost(e.to_string());
        }
        let consume = BasicConsumeOptions {
            no_ack: !self.ack,
            ..Default::default()
        };
        let mut consumer = match ch
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                consume,
                FieldTable::default(),
            )
            .await
        {
            Ok(c) => c,
            Err(e) => return Ended::Lost(format!("cannot subscribe to `{queue}`: {e}")),
        };
        info!("rabbitmq input: consuming `{queue}` on {}", self.link.shown);
        let tag = consumer.tag().to_string();
        let mut batch: Vec<Delivery> = Vec::new();
        loop {
            if ctx.is_stopping() {
                let _ = ch
                    .basic_cancel(tag.as_str().into(), BasicCancelOptions::default())
                    .await;
                let _ = ch.close(200, "rstash stopping".into()).await;
                return Ended::Stopped;
            }
            // Gather what is there (up to a batch), waiting briefly for the first delivery.
            let wait = if batch.is_empty() { 200 } else { 5 };
            match tokio::time::timeout(Duration::from_millis(wait), consumer.next()).await {
                Ok(Some(Ok(d))) => {
                    batch.push(d);
                    if batch.len() < 125 {
                        continue;
                    }
                }
                Ok(Some(Err(e))) => return Ended::Lost(e.to_string()),
                Ok(None) => return Ended::Lost("the broker cancelled the consumer".into()),
                Err(_) => {}
            }
            if batch.is_empty() {
                continue;
            }
            let last = batch.last().map(|d| d.delivery_tag);
            let events = self.decode(&batch);
            batch.clear();
            if !events.is_empty() && ctx.push_all(events).is_err() {
                return Ended::Stopped; // not acknowledged: redelivered to the next consumer
            }
            if let (true, Some(tag)) = (self.ack, last) {
                if let Err(e) = ch.basic_ack(tag, BasicAckOptions { multiple: true }).await {
                    return Ended::Lost(e.to_string());
                }
            }
        }
    }

    fn decode(&mut self, deliveries: &[Delivery]) -> Vec<Event> {
        let mut events = Vec::new();
        for d in deliveries {
            let first = events.len();
            self.codec.decode_message(&d.data, &mut |e| events.push(e));
            if !self.headers {
                continue;
            }
            let headers = d
                .properties
                .headers()
                .as_ref()
                .map(|h| table_value(h.inner().iter()))
                .unwrap_or(Value::Object(Map::default()));
            let props = properties(d);
            let payload = String::from_utf8_lossy(&d.data).into_owned();
            for e in &mut events[first..] {
                let _ = e.set(&meta("rabbitmq_headers"), headers.clone());
                let _ = e.set(&meta("rabbitmq_properties"), props.clone());
                if self.payload {
                    let _ = e.set(
                        &meta("rabbitmq_payload"),
                        Value::String(payload.as_str().into()),
                    );
                }
            }
        }
        events
    }
}

fn meta(name: &str) -> FieldRef {
    FieldRef::parse(&format!("[@metadata][{name}]")).unwrap_or_else(|_| FieldRef::key(name))
}

/// The message properties Logstash's input lists, under their AMQP names.
fn properties(d: &Delivery) -> Value {
    let p = &d.properties;
    let mut m = Map::default();
    let mut s = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), Value::String(v.into()));
        }
    };
    let txt = |v: &Option<lapin::types::ShortString>| v.as_ref().map(|x| x.to_string());
    s("app-id", txt(p.app_id()));
    s("cluster-id", txt(p.cluster_id()));
    s("content-encoding", txt(p.content_encoding()));
    s("content-type", txt(p.content_type()));
    s("correlation-id", txt(p.correlation_id()));
    s("exchange", Some(d.exchange.to_string()));
    s("expiration", txt(p.expiration()));
    s("message-id", txt(p.message_id()));
    s("reply-to", txt(p.reply_to()));
    s("routing-key", Some(d.routing_key.to_string()));
    s("type", txt(p.kind()));
    s("user-id", txt(p.user_id()));
    if let Some(v) = p.delivery_mode() {
        m.insert("delivery-mode".into(), Value::Int(*v as i64));
    }
    if let Some(v) = p.priority() {
        m.insert("priority".into(), Value::Int(*v as i64));
    }
    // The AMQP timestamp has second resolution: seconds, as Logstash stores it.
    if let Some(v) = p.timestamp() {
        m.insert("timestamp".into(), Value::Int(*v as i64));
    }
    m.insert("redeliver".into(), Value::Bool(d.redelivered));
    m.sort_keys();
    Value::Object(m)
}

fn table_value<'a>(
    entries: impl Iterator<Item = (&'a lapin::types::ShortString, &'a AMQPValue)>,
) -> Value {
    Value::Object(
        entries
            .map(|(k, v)| (k.to_string().into(), amqp_value(v)))
            .collect(),
    )
}

fn amqp_value(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(i) => Value::Int(*i as i64),
        AMQPValue::ShortShortUInt(i) => Value::Int(*i as i64),
        AMQPValue::ShortInt(i) => Value::Int(*i as i64),
        AMQPValue::ShortUInt(i) => Value::Int(*i as i64),
        AMQPValue::LongInt(i) => Value::Int(*i as i64),
        AMQPValue::LongUInt(i) => Value::Int(*i as i64),
        AMQPValue::LongLongInt(i) => Value::Int(*i),
        AMQPValue::Float(f) => Value::Float(*f as f64),
        AMQPValue::Double(f) => Value::Float(*f),
        AMQPValue::DecimalValue(d) => Value::Float(d.value as f64 / 10f64.powi(d.scale as i32)),
        AMQPValue::ShortString(s) => Value::String(s.to_string().into()),
        AMQPValue::LongString(s) => Value::String(String::from_utf8_lossy(s.as_bytes()).into()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(amqp_value).collect()),
        AMQPValue::Timestamp(t) => Value::Int(*t as i64),
        AMQPValue::FieldTable(t) => table_value(t.inner().iter()),
        AMQPValue::ByteArray(b) => {
            Value::String(String::from_utf8_lossy(b.as_slice()).into_owned().into())
        }
        AMQPValue::Void => Value::Null,
    }
}

/// Queue `arguments` as an AMQP table (numbers stay numbers: `x-max-length` wants an integer).
pub fn table(m: &Map) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in m {
        let v = match v {
            Value::Int(i) => AMQPValue::LongLongInt(*i),
            Value::Float(f) => AMQPValue::Double(*f),
            Value::Bool(b) => AMQPValue::Boolean(*b),
            Value::String(s) => match s.parse::<i64>() {
                Ok(i) => AMQPValue::LongLongInt(i),
                Err(_) => AMQPValue::LongString(s.as_str().into()),
            },
            other => AMQPValue::LongString(other.to_java_string().as_str().into()),
        };
        t.insert(k.as_str().into(), v);
    }
    t
}
