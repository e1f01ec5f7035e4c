//! Counters the monitoring API reads: per pipeline and per plugin, in Logstash's terms (`in`,
//! `filtered`, `out`, `duration_in_millis`, `queue_push_duration_in_millis`). Relaxed atomics
//! bumped once per batch, so counting costs nothing measurable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::plugin::PipelineSettings;
use crate::queue::Queue;

/// One pipeline's totals. They outlive reloads: the agent hands the same one to each new
/// instance, so a node's totals count every event whatever was reloaded in between.
#[derive(Debug, Default)]
pub struct PipelineStats {
    pub events_in: AtomicU64,
    pub filtered: AtomicU64,
    pub events_out: AtomicU64,
    pub duration_nanos: AtomicU64,
    pub queue_push_nanos: AtomicU64,
}

impl PipelineStats {
    pub fn add_in(&self, n: u64) {
        self.events_in.fetch_add(n, Ordering::Relaxed);
    }

    pub fn events_json(&self) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "in": g(&self.events_in),
            "filtered": g(&self.filtered),
            "out": g(&self.events_out),
            "duration_in_millis": g(&self.duration_nanos) / 1_000_000,
            "queue_push_duration_in_millis": g(&self.queue_push_nanos) / 1_000_000,
        })
    }
}

/// One plugin instance: `id` is the config's `id =>` or a stable generated one.
#[derive(Debug)]
pub struct PluginStats {
    pub id: String,
    pub name: String,
    pub events_in: AtomicU64,
    pub events_out: AtomicU64,
    /// Filters and outputs: time spent in the plugin; inputs: time blocked pushing to the queue.
    pub nanos: AtomicU64,
    /// Outputs: events handed to the output (or waiting for it) and not yet returned.
    pub busy: AtomicU64,
    /// Outputs: what keeps the output from delivering, as it last said; None while it delivers.
    pub problem: Problem,
}

/// Where an output says what holds its events back (`127.0.0.1:9200 unreachable`), so that a
/// draining shutdown can tell the user what it waits for. Cheap to clone; shared with the output.
#[derive(Debug, Default, Clone)]
pub struct Problem(Arc<std::sync::Mutex<Option<String>>>);

impl Problem {
    pub fn set(&self, what: impl Into<String>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(what.into());
    }

    pub fn clear(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Counts events as in flight in an output for as long as it lives.
pub struct InFlight<'a>(&'a AtomicU64, u64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

impl PluginStats {
    pub fn new(id: String, name: &str) -> Arc<PluginStats> {
        Arc::new(PluginStats {
            id,
            name: name.to_string(),
            events_in: AtomicU64::new(0),
            events_out: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            problem: Problem::default(),
        })
    }

    /// Marks `n` events as in flight until the guard is dropped.
    pub fn in_flight(&self, n: usize) -> InFlight<'_> {
        self.busy.fetch_add(n as u64, Ordering::Relaxed);
        InFlight(&self.busy, n as u64)
    }

    pub fn record(&self, n_in: usize, n_out: usize, took: Duration) {
        self.events_in.fetch_add(n_in as u64, Ordering::Relaxed);
        self.events_out.fetch_add(n_out as u64, Ordering::Relaxed);
        self.nanos
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    fn json(&self, input: bool) -> Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let events = if input {
            json!({"out": g(&self.events_out), "queue_push_duration_in_millis": g(&self.nanos) / 1_000_000})
        } else {
            json!({"in": g(&self.events_in), "out": g(&self.events_out), "duration_in_millis": g(&self.nanos) / 1_000_000})
        };
        json!({"id": self.id, "name": self.name, "events": events})
    }
}

/// Handles on a running pipeline instance's counters, for the monitoring API.
#[derive(Clone)]
pub struct PipelineMetrics {
    pub settings: PipelineSettings,
    pub stats: Arc<PipelineStats>,
    pub inputs: Vec<Arc<PluginStats>>,
    pub filters: Vec<Arc<PluginStats>>,
    pub outputs: Vec<Arc<PluginStats>>,
    pub(crate) queue: Arc<dyn Queue>,
}

impl PipelineMetrics {
    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Logstash's `pipelines.<id>` object of `/_node/stats`, without `reloads` (the agent's).
    pub fn stats_json(&self) -> Value {
        let list = |v: &[Arc<PluginStats>], input| -> Vec<Value> {
            v.iter().map(|p| p.json(input)).collect()
        };
        json!({
            "events": self.stats.events_json(),
            "plugins": {
                "inputs": list(&self.inputs, true),
                "codecs": [],
                "filters": list(&self.filters, false),
                "outputs": list(&self.outputs, false),
            },
            "queue": self.queue.stats(),
        })
    }
}

/// A stable id for a plugin without `id =>`: Logstash generates a 64-hex-digit one; ours hashes
/// where the plugin sits (pipeline, section, position, name) so it survives restarts.
pub fn generated_id(pipeline: &str, kind: &str, offset: usize, name: &str) -> String {
    digest(&format!("{pipeline}\0{kind}\0{offset}\0{name}"))
}

/// 64 hex digits identifying a text (plugin ids, a pipeline's config `hash`). Not for security:
/// four FNV-1a passes with different seeds, where only stability and spread matter.
pub fn digest(text: &str) -> String {
    let mut out = String::with_capacity(64);
    for seed in 0..4u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in text.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_stable_and_distinct() {
        let a = generated_id("main", "filter", 0, "grok");
        assert_eq!(a.len(), 64);
        assert_eq!(a, generated_id("main", "filter", 0, "grok"));
        assert_ne!(a, generated_id("main", "filter", 1, "grok"));
        assert_ne!(a, generated_id("other", "filter", 0, "grok"));
    }
}
