//! The four plugin kinds. A plugin is a config struct built by `Args` plus one of these traits.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::{Event, Template, Value};

use crate::queue::Queue;

#[derive(Debug)]
pub struct PluginError(pub String);

impl std::fmt::Display for PluginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PluginError {}

impl From<std::io::Error> for PluginError {
    fn from(e: std::io::Error) -> Self {
        PluginError(e.to_string())
    }
}

/// The queue was closed: the pipeline is shutting down.
#[derive(Debug, PartialEq, Eq)]
pub struct Stopped;

/// ECS compatibility mode (`pipeline.ecs_compatibility`, per-plugin `ecs_compatibility`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ecs {
    Disabled,
    V1,
    V8,
}

impl Ecs {
    pub fn parse(s: &str) -> Option<Ecs> {
        match s {
            "disabled" => Some(Ecs::Disabled),
            "v1" => Some(Ecs::V1),
            "v8" => Some(Ecs::V8),
            _ => None,
        }
    }

    pub fn enabled(self) -> bool {
        self != Ecs::Disabled
    }
}

/// Where outputs put events the destination refused for good (Logstash's dead letter queue,
/// `dead_letter_queue.enable`). Implemented by rstash-queue.
pub trait DeadLetters: Send + Sync {
    /// Keeps a copy of `event` with why it was refused and by which plugin.
    fn write(&self, event: &Event, plugin_type: &str, plugin_id: &str, reason: &str);
}

#[derive(Clone, Default)]
pub struct DeadLetterQueue(pub Option<Arc<dyn DeadLetters>>);

impl std::fmt::Debug for DeadLetterQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "enabled"
        } else {
            "disabled"
        })
    }
}

#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub id: String,
    pub workers: usize,
    /// Whether `pipeline.workers` was set explicitly (ordering only applies then, as in Logstash).
    pub workers_set: bool,
    pub batch_size: usize,
    pub batch_delay: Duration,
    pub ecs: Ecs,
    pub ordered: String,
    pub dead_letters: DeadLetterQueue,
    /// `path.data`: where plugins keep state (the file input's sincedb).
    pub data_dir: std::path::PathBuf,
    /// Distinguishes one build of the pipeline from the next (a reload builds the new pipeline
    /// before the old one stops): plugins that share state per pipeline key it by this.
    pub build_id: u64,
    /// `-t`: plugins are built to check their options, never run. What only `register` would
    /// refuse (`ConfigError::unavailable`) is collected here instead of failing the check.
    pub check_only: Option<Arc<Mutex<Vec<ConfigError>>>>,
}

impl Default for PipelineSettings {
    fn default() -> Self {
        PipelineSettings {
            id: "main".into(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            workers_set: false,
            batch_size: 125,
            batch_delay: Duration::from_millis(50),
            ecs: Ecs::Disabled,
            ordered: "auto".into(),
            dead_letters: DeadLetterQueue::default(),
            data_dir: "data".into(),
            build_id: 0,
            check_only: None,
        }
    }
}

/// A codec turns bytes into events (inputs) and events into bytes (outputs).
pub trait Codec: Send {
    /// Decodes a chunk; streaming codecs keep an incomplete tail for the next call.
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event));
    /// Emits whatever is buffered (end of stream).
    fn flush(&mut self, _emit: &mut dyn FnMut(Event)) {}
    /// Decodes one complete message (a line of a file, a Kafka record): `decode` then `flush`,
    /// except for codecs that join messages (multiline), which keep what they hold.
    fn decode_message(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        self.decode(data, emit);
        self.flush(emit);
    }
    /// Decodes a message that is text already (a beats event's `message`): `decode`, then
    /// `flush`; when that makes no event, the text becomes the message of one. Codecs for which
    /// decoding would only copy the text take it as it is.
    fn decode_text(&mut self, text: rstash_event::Str, emit: &mut dyn FnMut(Event)) {
        let mut made = false;
        let mut each = |e| {
            made = true;
            emit(e)
        };
        self.decode(text.as_bytes(), &mut each);
        self.flush(&mut each);
        if !made {
            emit(Event::with_message(text));
        }
    }
    /// How many decoded messages the codec holds, not yet emitted (multiline's buffer).
    fn held(&self) -> usize {
        0
    }
    /// How long a held message may wait for more data (multiline's `auto_flush_interval`).
    fn auto_flush(&self) -> Option<std::time::Duration> {
        None
    }
    /// Called when no data came for a while: emits what has waited `auto_flush` or longer.
    fn tick(&mut self, _emit: &mut dyn FnMut(Event)) {}
    fn encode(&mut self, event: &Event, out: &mut Vec<u8>);
    /// A fresh instance with the same options (one per connection or file).
    fn fresh(&self) -> Box<dyn Codec>;
    /// `plain`/`json` become `line`/`json_lines` on streaming inputs (Logstash's `fix_streaming_codecs`).
    fn streaming(&self) -> Option<Box<dyn Codec>> {
        None
    }
    fn name(&self) -> &'static str;
}

pub trait Input: Send {
    /// Runs until the input is done (stdin EOF, generator count) or `ctx` reports a stop.
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterOutcome {
    /// The filter did its work: the common add_field/add_tag/remove_* options apply.
    Matched,
    /// Nothing to do, or failed (and tagged): common options do not apply.
    Unmatched,
    /// The filter made new events (clone, split): common options apply to each of those only.
    Emitted,
}

/// Filters are shared by all workers, as in Logstash.
pub trait Filter: Send + Sync {
    /// Filters one event in place. New events (clone, split) go to `emit`; `event.cancel()` drops it.
    fn filter(&self, event: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome;
    /// Whether the runtime should hand this filter whole batches (`filter_batch`): for filters
    /// whose every call has a fixed cost, such as the ruby filter's hop to the Ruby thread.
    fn batched(&self) -> bool {
        false
    }
    /// Filters a batch: per event, the event, the events it made and the outcome.
    fn filter_batch(&self, events: Vec<Event>) -> Vec<(Event, Vec<Event>, FilterOutcome)> {
        events
            .into_iter()
            .map(|mut e| {
                let mut emit = Vec::new();
                let outcome = self.filter(&mut e, &mut emit);
                (e, emit, outcome)
            })
            .collect()
    }
    /// Whether `flush` is to be called every 5 s (Logstash's `periodic_flush`).
    fn periodic_flush(&self) -> bool {
        false
    }
    /// Events the filter held (aggregate's maps) that are due now, or all of them when `last`
    /// (the pipeline is stopping). They continue through the filters after this one.
    fn flush(&self, _last: bool) -> Vec<Event> {
        Vec::new()
    }
    /// The pipeline has stopped: release what the filter keeps (after the last flush).
    fn close(&self) {}
    /// Tags for an event whose common options failed (an `add_field` key that is not a valid
    /// field reference). Logstash's mutate rescues that and adds its `tag_on_failure`; other
    /// filters only log it.
    fn failure_tags(&self) -> &[String] {
        &[]
    }
}

/// `Filter::filter` for filters that work by batches (`batched`): a batch of one.
pub fn filter_as_batch(f: &dyn Filter, event: &mut Event, emit: &mut Vec<Event>) -> FilterOutcome {
    let mut results = f.filter_batch(vec![std::mem::take(event)]);
    let Some((e, new, outcome)) = results.pop() else {
        return FilterOutcome::Unmatched;
    };
    *event = e;
    emit.extend(new);
    outcome
}

pub trait Output: Send {
    /// Called once before the pipeline runs, never by `-t` (Logstash's `register`): where an
    /// output checks its destination, recovers what a crash left and starts background work.
    fn register(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
    /// Receives the batch's events routed to this output, in order.
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError>;
    /// Logstash's `concurrency :shared`: an output that can send from several pipeline workers
    /// at once gives each further worker an instance of its own (called after `register`,
    /// sharing what it must: a connection pool, hosts' health). `None`, the default, is
    /// `:single`: the workers take turns on this one.
    fn worker(&self) -> Option<Box<dyn Output>> {
        None
    }
    /// Where an output that retries says what holds it back (shown while rstash drains).
    fn report_problems_to(&mut self, _problem: crate::metrics::Problem) {}
    fn close(&mut self) -> Result<(), PluginError> {
        Ok(())
    }
}

/// What every input has: `type`, `tags`, `add_field`, applied to each event it produces.
#[derive(Debug, Clone, Default)]
pub struct Decoration {
    pub type_: Option<String>,
    pub tags: Vec<Template>,
    pub add_field: Vec<(Template, Template)>,
}

impl Decoration {
    pub fn apply(&self, e: &mut Event) {
        if let Some(t) = &self.type_ {
            if !e.data().contains_key("type") {
                e.data_mut()
                    .insert("type".into(), Value::String(t.as_str().into()));
            }
        }
        for (k, v) in &self.add_field {
            if let Err(why) = crate::args::add_field(e, k, v) {
                tracing::warn!("{why}");
            }
        }
        for t in &self.tags {
            let tag = t.render(e).into_owned();
            e.push_tag(tag);
        }
    }
}

/// Handed to an input's `run`: where its events go. Cheap to clone (for connection tasks).
#[derive(Clone)]
pub struct InputContext {
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) decoration: Decoration,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) stats: Arc<crate::metrics::PipelineStats>,
    pub(crate) plugin: Arc<crate::metrics::PluginStats>,
}

impl InputContext {
    /// Queues one event; returns once it is in the queue (backpressure blocks here).
    pub fn push(&self, mut e: Event) -> Result<(), Stopped> {
        self.decoration.apply(&mut e);
        self.timed_push(vec![e])
    }

    /// Pushes and counts: `in` for the pipeline, `out` and time blocked for the input.
    fn timed_push(&self, events: Vec<Event>) -> Result<(), Stopped> {
        let n = events.len();
        let t = Instant::now();
        self.queue.push(events)?;
        self.counted(n, t.elapsed());
        Ok(())
    }

    fn counted(&self, n: usize, blocked: Duration) {
        self.stats.add_in(n as u64);
        let nanos = blocked.as_nanos() as u64;
        self.stats
            .queue_push_nanos
            .fetch_add(nanos, Ordering::Relaxed);
        self.plugin.record(0, n, blocked);
    }

    /// Queues several events at once (one lock), in order.
    pub fn push_all(&self, mut events: Vec<Event>) -> Result<(), Stopped> {
        for e in &mut events {
            self.decoration.apply(e);
        }
        self.timed_push(events)
    }

    /// Queues the events if the queue has room now, without blocking; otherwise gives them back
    /// (already decorated: pass them to `push_all`).
    pub fn try_push_all(&self, mut events: Vec<Event>) -> Result<(), Result<Vec<Event>, Stopped>> {
        for e in &mut events {
            self.decoration.apply(e);
        }
        let n = events.len();
        self.queue.try_push(events)?;
        self.counted(n, Duration::ZERO);
        Ok(())
    }

    /// `push_all` for events that `try_push_all` gave back (they are decorated already).
    pub fn push_decorated(&self, events: Vec<Event>) -> Result<(), Stopped> {
        self.timed_push(events)
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits up to `d` (before retrying a lost connection), returning early, true, on a stop.
    pub fn stopping_within(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.is_stopping() {
                return true;
            }
            std::thread::sleep(
                Duration::from_millis(50).min(end.saturating_duration_since(Instant::now())),
            );
        }
        self.is_stopping()
    }

    /// A context for tests and tools: events go to `queue`.
    pub fn for_queue(queue: Arc<dyn Queue>) -> InputContext {
        InputContext {
            queue,
            decoration: Decoration::default(),
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::default(),
            plugin: crate::metrics::PluginStats::new("test".into(), "test"),
        }
    }
}
