//! Inputs.

pub mod beats;
pub mod dead_letter_queue;
pub mod exec;
pub mod file;
pub mod generator;
pub mod heartbeat;
pub mod http;
pub mod jdbc;
pub mod kafka;
pub mod pipeline;
pub mod rabbitmq;
pub mod redis;
pub mod s3;
pub mod stdin;
pub mod syslog;
pub mod tcp;
pub mod udp;

use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Ecs, Opt, Ty};

/// The TLS options of the inputs that listen (beats, tcp, http).
pub const TLS_SERVER: &[Opt] = &[
    opt("ssl_enabled", Ty::Boolean).default("false"),
    opt("ssl", Ty::Boolean).deprecated("use ssl_enabled"),
    opt("ssl_certificate", Ty::Path),
    opt("ssl_key", Ty::Path),
    opt("ssl_certificate_authorities", Ty::Array).default("[]"),
    opt(
        "ssl_client_authentication",
        Ty::Choice(&["none", "optional", "required"]),
    )
    .default("none, or required with ssl_certificate_authorities"),
    opt("ssl_key_passphrase", Ty::Password).ignored("the key is read unencrypted"),
    opt("ssl_handshake_timeout", Ty::Number).ignored("rustls's handshake has its own bound"),
    opt("ssl_supported_protocols", Ty::Array).ignored("TLS 1.2 and 1.3, as rustls offers"),
    opt("ssl_cipher_suites", Ty::Array).ignored("rustls's safe defaults"),
];

/// The host field an input stamps (`host`, or the ECS path), its reference parsed once rather
/// than for every event.
#[derive(Clone)]
pub struct HostField {
    field: FieldRef,
    host: Value,
}

impl HostField {
    pub fn new(ecs: Ecs, ecs_path: &str, host: &str) -> HostField {
        let field = match ecs.enabled() {
            true => FieldRef::parse(ecs_path).unwrap_or_else(|_| FieldRef::key("host")),
            false => FieldRef::key("host"),
        };
        HostField {
            field,
            host: Value::String(host.into()),
        }
    }

    /// Sets the host unless the event has one already (a codec may have decoded it).
    pub fn stamp(&self, e: &mut Event) {
        if !e.includes(&self.field) {
            let _ = e.set(&self.field, self.host.clone());
        }
    }
}

/// A Logstash duration option: a number is `unit` seconds; a string is `"500 ms"`, `"5s"`,
/// `"1 hour"`, `"2 weeks"`...
pub fn duration(
    args: &mut rstash_pipeline::Args,
    name: &str,
    default: std::time::Duration,
    unit: f64,
) -> Result<std::time::Duration, rstash_config::ConfigError> {
    let Some(raw) = args.raw(name) else {
        return Ok(default);
    };
    let text = raw
        .text()
        .unwrap_or_else(|| raw.to_value().to_java_string());
    let bad = || {
        args.error_at(
            name,
            format!("option `{name}` must be a duration like 5, \"500 ms\", \"30 seconds\" or \"1 hour\", got `{text}`"),
        )
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let n: f64 = t[..split].parse().map_err(|_| bad())?;
    let secs = match t[split..].trim().trim_end_matches('s') {
        "" if split == t.len() => n * unit,
        "" | "sec" | "second" => n,
        "m" => n / 1000.0, // "ms" less its trailing s
        "msec" | "millisecond" => n / 1000.0,
        "u" | "usec" | "microsecond" => n / 1e6, // "us"
        "min" | "minute" => n * 60.0,
        "h" | "hour" => n * 3600.0,
        "d" | "day" => n * 86400.0,
        "w" | "week" => n * 604_800.0,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// When a polling input runs: every `interval` seconds, or on a cron `schedule` (five fields,
/// or six with seconds first, as rufus-scheduler takes them), in local time.
pub enum Schedule {
    Every(std::time::Duration),
    Cron(Box<croner::Cron>),
}

impl Schedule {
    /// `schedule` if set, else `interval` (seconds), else `default`.
    pub fn from_args(
        args: &mut rstash_pipeline::Args,
        interval_name: &str,
        default: Option<std::time::Duration>,
    ) -> Result<Option<Schedule>, rstash_config::ConfigError> {
        if let Some(cron) = Schedule::cron(args)? {
            return Ok(Some(cron));
        }
        if args.has(interval_name) {
            let d = duration(args, interval_name, std::time::Duration::from_secs(60), 1.0)?;
            return Ok(Some(Schedule::Every(d)));
        }
        Ok(default.map(Schedule::Every))
    }

    /// The `schedule` option alone.
    pub fn cron(
        args: &mut rstash_pipeline::Args,
    ) -> Result<Option<Schedule>, rstash_config::ConfigError> {
        let Some(s) = args.string("schedule")? else {
            return Ok(None);
        };
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(s.trim())
            .map_err(|e| args.error_at("schedule", format!("`{s}` is not a cron schedule: {e}")))?;
        Ok(Some(Schedule::Cron(Box::new(cron))))
    }

    /// How long to wait from now until the next run.
    pub fn wait(&self) -> std::time::Duration {
        match self {
            Schedule::Every(d) => *d,
            Schedule::Cron(c) => {
                let now = chrono::Local::now();
                c.find_next_occurrence(&now, false)
                    .ok()
                    .and_then(|next| (next - now).to_std().ok())
                    .unwrap_or(std::time::Duration::from_secs(60))
            }
        }
    }
}
