//! Outputs: one of `output.logstash`, `output.elasticsearch`, `output.console`, `output.file`.
//! Each worker owns an instance; `publish` returns once the whole batch is delivered (retrying
//! with backoff meanwhile) or the shutdown deadline passed.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod logstash;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::Fields;

pub trait Output: Send {
    /// Delivers every event, or returns Err when `abort` was raised before it could.
    fn publish(&mut self, events: &[Fields]) -> Result<(), String>;
}

/// Builds one output instance per worker.
pub type Factory =
    Arc<dyn Fn(usize, Arc<AtomicBool>) -> Result<Box<dyn Output>, String> + Send + Sync>;

pub struct OutputConfig {
    pub name: &'static str,
    pub workers: usize,
    pub bulk_max_size: usize,
    pub factory: Factory,
    /// `@metadata.beat`: output.logstash.index, else "filebeat".
    pub beat_index: String,
    /// For `rbeat test output`.
    pub describe: Vec<String>,
}

pub fn parse(root: &Section) -> Result<OutputConfig, ConfigError> {
    let out = root.section("output")?;
    let mut chosen = Vec::new();
    for name in ["logstash", "elasticsearch", "console", "file"] {
        let s = out.section(name)?;
        if s.exists() && s.bool("enabled", true)? {
            chosen.push(name);
        }
    }
    let name = match chosen.as_slice() {
        [one] => *one,
        [] => return Err(ConfigError("no output is configured: set output.logstash, output.elasticsearch, output.console or output.file".into())),
        many => return Err(ConfigError(format!("only one output can be enabled, found {}", many.join(", ")))),
    };
    let s = out.section(match name {
        "logstash" => "logstash",
        "elasticsearch" => "elasticsearch",
        "console" => "console",
        _ => "file",
    })?;
    let cfg = match name {
        "logstash" => logstash::parse(&s)?,
        "elasticsearch" => elasticsearch::parse(&s)?,
        "console" => console::parse(&s)?,
        _ => file::parse(&s)?,
    };
    s.warn_unknown();
    out.warn_unknown();
    Ok(cfg)
}

/// The event as Beats' JSON codec writes it: `@timestamp`, `@metadata`, then the rest.
pub fn encode(e: &Fields) -> Vec<u8> {
    serde_json::to_vec(&Value::Object(e.clone())).unwrap_or_default()
}

/// Backoff between retries: doubles from `init` to `max`, waking early on abort.
pub fn backoff_sleep(
    abort: &AtomicBool,
    wait: &mut std::time::Duration,
    max: std::time::Duration,
) -> bool {
    let end = std::time::Instant::now() + *wait;
    while std::time::Instant::now() < end {
        if abort.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    *wait = (*wait * 2).min(max);
    !abort.load(std::sync::atomic::Ordering::Relaxed)
}
