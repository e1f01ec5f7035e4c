//! `rabbitmq`: publishes each event (codec `json`) to an exchange with routing key `key`
//! (sprintf), `persistent` messages and `message_properties`, as Logstash's output does. Unlike
//! Logstash's, publishes are confirmed by the broker (publisher confirms) before the batch counts
//! as delivered; a lost connection or a refused message is retried until it goes through.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};
use rstash_config::ConfigError;
use rstash_event::{Event, Template, Value};
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::warn;

use crate::amqp_link::{self, Link, EXCHANGE_TYPES};

pub struct RabbitMq {
    link: Link,
    exchange: String,
    exchange_type: String,
    durable: bool,
    key: Template,
    properties: BasicProperties,
    codec: Box<dyn Codec>,
    rt: Option<tokio::runtime::Runtime>,
    open: Option<(Connection, Channel)>,
}

pub const OPTIONS: Options = &[
    &[
        opt("codec", Ty::Codec).default("json"),
        opt("exchange", Ty::Str).required(),
        opt("exchange_type", Ty::Choice(&EXCHANGE_TYPES)).required(),
        opt("key", Ty::Str).default("logstash"),
        opt("persistent", Ty::Boolean).default("true"),
        opt("durable", Ty::Boolean).default("true"),
        opt("message_properties", Ty::Hash).default("{}"),
    ],
    crate::amqp_link::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let link = amqp_link::options(args)?;
    let Some(exchange) = args.string("exchange")? else {
        return Err(args.error("rabbitmq output needs `exchange`"));
    };
    let exchange_type = args.choice("exchange_type", &EXCHANGE_TYPES, "direct")?;
    let persistent = args.bool("persistent", true)?;
    let mut props = BasicProperties::default();
    for (k, v) in args.hash("message_properties")? {
        let text = v.text().unwrap_or_default();
        props = match k.as_str() {
            "content_type" => props.with_content_type(text.as_str().into()),
            "content_encoding" => props.with_content_encoding(text.as_str().into()),
            "priority" => props.with_priority(text.parse().unwrap_or(0)),
            "correlation_id" => props.with_correlation_id(text.as_str().into()),
            "reply_to" => props.with_reply_to(text.as_str().into()),
            "expiration" => props.with_expiration(text.as_str().into()),
            "message_id" => props.with_message_id(text.as_str().into()),
            "type" => props.with_type(text.as_str().into()),
            "user_id" => props.with_user_id(text.as_str().into()),
            "app_id" => props.with_app_id(text.as_str().into()),
            "headers" => props.with_headers(headers(&v.to_value())),
            other => {
                return Err(args.error_at(
                    "message_properties",
                    format!("unknown message property `{other}`"),
                ))
            }
        };
    }
    if persistent {
        props = props.with_delivery_mode(2);
    }
    let key = args.template("key")?;
    Ok(Box::new(RabbitMq {
        link,
        exchange,
        exchange_type,
        durable: args.bool("durable", true)?,
        key: match key {
            Some(k) => k,
            None => args.make_template("key", "logstash")?,
        },
        properties: props,
        codec: args.codec("json")?,
        rt: None,
        open: None,
    }))
}

fn headers(v: &Value) -> FieldTable {
    let mut t = FieldTable::default();
    if let Value::Object(m) = v {
        for (k, v) in m {
            t.insert(
                k.as_str().into(),
                AMQPValue::LongString(v.to_java_string().as_str().into()),
            );
        }
    }
    t
}

impl RabbitMq {
    async fn open(&self) -> Result<(Connection, Channel), String> {
        let conn = self
            .link
            .connect()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let ch = conn.create_channel().await.map_err(|e| e.to_string())?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        amqp_link::declare_exchange(
            &ch,
            &self.exchange,
            &self.exchange_type,
            self.durable,
            self.link.passive,
        )
        .await
        .map_err(|e| format!("cannot declare exchange `{}`: {e}", self.exchange))?;
        Ok((conn, ch))
    }

    /// Publishes the messages and waits for the broker to confirm every one.
    async fn publish(
        ch: &Channel,
        exchange: &str,
        msgs: &[(String, Vec<u8>)],
        props: &BasicProperties,
    ) -> Result<(), String> {
        let mut confirms = Vec::with_capacity(msgs.len());
        for (key, body) in msgs {
            let c = ch
                .basic_publish(
                    ShortString::from(exchange),
                    key.as_str().into(),
                    BasicPublishOptions::default(),
                    body,
                    props.clone(),
                )
                .await
                .map_err(|e| e.to_string())?;
            confirms.push(c);
        }
        for c in confirms {
            let confirmation = c.await.map_err(|e| e.to_string())?;
            if confirmation.is_nack() {
                return Err("the broker refused a message (nack)".into());
            }
        }
        Ok(())
    }
}

impl Output for RabbitMq {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        let msgs: Vec<(String, Vec<u8>)> = events
            .iter()
            .map(|e| {
                let mut body = Vec::new();
                self.codec.encode(e, &mut body);
                (self.key.render(e).into_owned(), body)
            })
            .collect();
        let rt = match self.rt.take() {
            Some(rt) => rt,
            None => amqp_link::runtime()?,
        };
        loop {
            let result = rt.block_on(async {
                if self.open.is_none() {
                    self.open = Some(self.open().await?);
                }
                match &self.open {
                    Some((_, ch)) => {
                        Self::publish(ch, &self.exchange, &msgs, &self.properties).await
                    }
                    None => Err("not connected".to_string()),
                }
            });
            match result {
                Ok(()) => {
                    self.rt = Some(rt);
                    return Ok(());
                }
                Err(e) => {
                    warn!(
                        "rabbitmq output: {e} ({}); retrying in {:?}",
                        self.link.shown, self.link.retry
                    );
                    self.open = None;
                    std::thread::sleep(self.link.retry.max(Duration::from_millis(100)));
                }
            }
        }
    }

    fn close(&mut self) -> Result<(), PluginError> {
        if let (Some(rt), Some((conn, _))) = (self.rt.as_ref(), self.open.take()) {
            let _ = rt.block_on(conn.close(200, "rstash stopping".into()));
        }
        Ok(())
    }
}
