//! Connecting to Redis for the redis input and output: `host`, `port`, `password`, `db`,
//! `timeout` as Logstash names them, and reconnection with backoff.

use rstash_pipeline::{opt, Opt, Ty};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_pipeline::Args;

#[derive(Clone)]
pub struct Link {
    pub url: String,
    /// What logs show (no password).
    pub name: String,
    pub timeout: Duration,
}

/// Percent-encodes what may not appear as-is in a URL's userinfo.
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Link {
    /// `host` may carry its own port (`"10.0.0.1:6380"`), as the output's host list allows.
    pub fn new(host: &str, port: i64, password: Option<&str>, db: i64, timeout: Duration) -> Link {
        let (h, p) = match host.rsplit_once(':') {
            Some((h, p)) if p.parse::<u16>().is_ok() && !h.contains(':') => {
                (h.to_string(), p.to_string())
            }
            _ => (host.to_string(), port.to_string()),
        };
        let auth = password
            .map(|p| format!(":{}@", escape(p)))
            .unwrap_or_default();
        Link {
            url: format!("redis://{auth}{h}:{p}/{db}"),
            name: format!("redis://{h}:{p}/{db}"),
            timeout,
        }
    }

    pub fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let c =
            redis::Client::open(self.url.as_str())?.get_connection_with_timeout(self.timeout)?;
        c.set_write_timeout(Some(self.timeout))?;
        Ok(c)
    }
}

/// The connection options of the redis input and output.
pub const OPTIONS: &[Opt] = &[
    opt("port", Ty::Number).default("6379"),
    opt("password", Ty::Password),
    opt("db", Ty::Number).default("0"),
    opt("timeout", Ty::Number).default("5"),
    opt(
        "data_type",
        Ty::Choice(&["list", "channel", "pattern_channel"]),
    )
    .required(),
    opt("key", Ty::Str).required(),
];

/// `port`, `password`, `db`, `timeout` (the host is the caller's: one, or a list).
pub fn options(args: &mut Args) -> Result<(i64, Option<String>, i64, Duration), ConfigError> {
    let port = args.int("port", 6379)?;
    if !(1..=65535).contains(&port) {
        return Err(args.error_at("port", "port must be 1-65535"));
    }
    let password = args.string("password")?;
    let db = args.int("db", 0)?;
    let timeout = Duration::from_secs(args.int("timeout", 5)?.max(1) as u64);
    Ok((port, password, db, timeout))
}

/// `data_type` and `key`, both required by the declaration (`OPTIONS`).
pub fn data_type(args: &mut Args, choices: &[&str]) -> Result<(String, String), ConfigError> {
    let dt = args.choice("data_type", choices, choices[0])?;
    let Some(key) = args.string("key")? else {
        return Err(args.error("redis needs `key`"));
    };
    Ok((dt, key))
}
