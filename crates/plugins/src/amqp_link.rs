//! What the rabbitmq input and output share (Logstash's RabbitMQConnection mixin): connection
//! options with their defaults, the AMQP URI, declaring an exchange, retrying a lost connection.

use rstash_pipeline::{opt, Opt, Ty};
use std::time::Duration;

use lapin::options::ExchangeDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use rstash_config::ConfigError;
use rstash_pipeline::Args;

/// Exchange types Logstash accepts.
pub const EXCHANGE_TYPES: [&str; 5] = [
    "fanout",
    "direct",
    "topic",
    "x-consistent-hash",
    "x-modulus-hash",
];

#[derive(Debug, Clone)]
pub struct Link {
    uri: String,
    /// For log lines: the URI without the password.
    pub shown: String,
    /// `connect_retry_interval`: the wait before reconnecting.
    pub retry: Duration,
    /// Declare passively: the exchange (and the input's queue) must exist already.
    pub passive: bool,
}

/// The connection options of the rabbitmq input and output.
pub const OPTIONS: &[Opt] = &[
    opt("host", Ty::Array).required(),
    opt("port", Ty::Number).default("5672"),
    opt("user", Ty::Str).default("guest"),
    opt("password", Ty::Password).default("guest"),
    opt("vhost", Ty::Str).default("/"),
    opt("ssl", Ty::Boolean).default("false"),
    opt("ssl_certificate_path", Ty::Path),
    opt("ssl_certificate_password", Ty::Password),
    opt("ssl_version", Ty::Str),
    opt("ssl_certificate_verification", Ty::Boolean).default("true"),
    opt("passive", Ty::Boolean).default("false"),
    opt("heartbeat", Ty::Number),
    opt("connection_timeout", Ty::Number),
    opt("connect_retry_interval", Ty::Number).default("1"),
    opt("automatic_recovery", Ty::Boolean)
        .default("true")
        .ignored("the plugin reconnects by itself"),
];

pub fn options(args: &mut Args) -> Result<Link, ConfigError> {
    let hosts = args.strings("host")?;
    let Some(host) = hosts.first().cloned() else {
        return Err(args.error("rabbitmq needs `host`"));
    };
    let port = args.int("port", 5672)?;
    let user = args.string_or("user", "guest")?;
    let password = args.string_or("password", "guest")?;
    let vhost = args.string_or("vhost", "/")?;
    let ssl = args.bool("ssl", false)?;
    for name in [
        "ssl_certificate_path",
        "ssl_certificate_password",
        "ssl_version",
    ] {
        if args.string(name)?.is_some() && !ssl {
            return Err(args.error_at(name, format!("`{name}` needs `ssl => true`")));
        }
    }
    args.bool("ssl_certificate_verification", true)?;
    let passive = args.bool("passive", false)?;
    let heartbeat = args.number("heartbeat")?;
    let timeout = args.number("connection_timeout")?;
    let retry = args
        .number("connect_retry_interval")?
        .unwrap_or(1.0)
        .max(0.05);
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    let scheme = if ssl { "amqps" } else { "amqp" };
    let mut query = Vec::new();
    if let Some(h) = heartbeat {
        query.push(format!("heartbeat={}", h as u64));
    }
    if let Some(t) = timeout {
        query.push(format!("connection_timeout={}", t as u64));
    }
    let q = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    let at = format!("{host}:{port}/{}{q}", enc(&vhost));
    Ok(Link {
        uri: format!("{scheme}://{}:{}@{at}", enc(&user), enc(&password)),
        shown: format!("{scheme}://{}@{at}", enc(&user)),
        retry: Duration::from_secs_f64(retry),
        passive,
    })
}

impl Link {
    pub async fn connect(&self) -> lapin::Result<Connection> {
        Connection::connect(&self.uri, ConnectionProperties::default()).await
    }
}

pub fn exchange_kind(t: &str) -> ExchangeKind {
    match t {
        "fanout" => ExchangeKind::Fanout,
        "direct" => ExchangeKind::Direct,
        "topic" => ExchangeKind::Topic,
        "headers" => ExchangeKind::Headers,
        other => ExchangeKind::Custom(other.to_string()),
    }
}

pub async fn declare_exchange(
    ch: &Channel,
    name: &str,
    kind: &str,
    durable: bool,
    passive: bool,
) -> lapin::Result<()> {
    let opts = ExchangeDeclareOptions {
        durable,
        passive,
        ..Default::default()
    };
    ch.exchange_declare(
        name.into(),
        exchange_kind(kind),
        opts,
        FieldTable::default(),
    )
    .await
}

/// A current-thread runtime for a plugin's own thread.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}
