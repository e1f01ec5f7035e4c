//! Outputs: one of `output.logstash`, `output.elasticsearch`, `output.kafka`, `output.console`,
//! `output.file`.
//! Each worker owns an instance; `publish` returns once the whole batch is delivered (retrying
//! with backoff meanwhile) or the shutdown deadline passed.

pub mod console;
pub mod elasticsearch;
pub mod file;
pub mod format;
pub mod kafka;
pub mod logstash;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;

use crate::config::{ConfigError, Section};
use crate::fields::Fields;

pub trait Output: Send {
    /// Delivers every event (each as its encoder made it), or returns Err when `abort` was
    /// raised before it could.
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String>;

    /// Several batches at once, calling `done(i)` as each is delivered; outputs that can keep
    /// more than one in flight override this.
    fn publish_all(
        &mut self,
        batches: Vec<Vec<Bytes>>,
        done: &mut dyn FnMut(usize),
    ) -> Result<(), String> {
        for (i, b) in batches.iter().enumerate() {
            self.publish(b)?;
            done(i);
        }
        Ok(())
    }
}

/// Turns an event into what the output sends; runs in the harvester threads, so a queued event
/// is a few hundred bytes rather than a tree of maps, and encoding is spread over the files.
pub type Encoder = Arc<dyn Fn(&Fields) -> Bytes + Send + Sync>;

/// Builds one output instance per worker.
pub type Factory =
    Arc<dyn Fn(usize, Arc<AtomicBool>) -> Result<Box<dyn Output>, String> + Send + Sync>;

pub struct OutputConfig {
    pub name: &'static str,
    pub workers: usize,
    /// Batches one worker may have in flight.
    pub pipelining: usize,
    pub bulk_max_size: usize,
    pub factory: Factory,
    pub encoder: Encoder,
    /// The encoder is plain JSON of the whole event (Beats' JSON codec).
    pub plain_json: bool,
    /// `@metadata.beat`: output.logstash.index, else "filebeat".
    pub beat_index: String,
    /// For `rbeat test output`: what is configured, one line each.
    pub describe: Vec<String>,
    /// For `rbeat test output`: talks to each host as the real output would (without sending
    /// an event), writing Filebeat's lines (`  talk to server... OK`); false when one failed.
    pub probe: Option<Probe>,
}

pub type Probe = Arc<dyn Fn(&mut dyn FnMut(String)) -> bool + Send + Sync>;

pub fn parse(root: &Section) -> Result<OutputConfig, ConfigError> {
    let out = root.section("output")?;
    let mut chosen = Vec::new();
    for name in ["logstash", "elasticsearch", "kafka", "console", "file"] {
        let s = out.section(name)?;
        if s.exists() && s.bool("enabled", true)? {
            chosen.push(name);
        }
    }
    let name = match chosen.as_slice() {
        [one] => *one,
        [] => return Err(ConfigError("no output is configured: set output.logstash, output.elasticsearch, output.kafka, output.console or output.file".into())),
        many => return Err(ConfigError(format!("only one output can be enabled, found {}", many.join(", ")))),
    };
    let s = out.section(match name {
        "logstash" => "logstash",
        "elasticsearch" => "elasticsearch",
        "kafka" => "kafka",
        "console" => "console",
        _ => "file",
    })?;
    let cfg = match name {
        "logstash" => logstash::parse(&s)?,
        "elasticsearch" => elasticsearch::parse(&s)?,
        "kafka" => kafka::parse(&s)?,
        "console" => console::parse(&s)?,
        _ => file::parse(&s)?,
    };
    s.warn_unknown();
    out.warn_unknown();
    Ok(cfg)
}

/// The event as Beats' JSON codec writes it: `@timestamp`, `@metadata`, then the rest.
pub fn encode(e: &Fields) -> Bytes {
    Bytes::from(serde_json::to_vec(e).unwrap_or_default())
}

/// An output's `backoff.init` (1 s) and `backoff.max` (60 s), Beats' defaults.
pub fn backoff_settings(
    s: &Section,
) -> Result<(std::time::Duration, std::time::Duration), ConfigError> {
    use std::time::Duration;
    let b = s.section("backoff")?;
    let get = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
        Ok(b.duration(key, Duration::from_secs(default))?
            .unwrap_or(Duration::from_secs(default)))
    };
    let both = (get("init", 1)?, get("max", 60)?);
    b.warn_unknown();
    Ok(both)
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
