//! rbeat's side of file watching (the watcher itself is `rstash_tail::watch`, shared with
//! rstash's file input): offsets come from the Filebeat registry, and each message becomes an
//! event on the queue to the output, unless include/exclude_lines filter it out.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};

use rstash_tail::acks::{AckRef, Tracker};
use rstash_tail::multiline::Message;
use rstash_tail::watch::{self, Exclude, FileSink, Sink, WatchConfig};
use rstash_tail::{Entry, Registry};
use tracing::warn;

use crate::event::Builder;
use crate::input::InputConfig;
use crate::monitor::Metrics;

/// An event on its way to the output, with what to acknowledge once it is delivered.
pub struct Item {
    pub event: bytes::Bytes,
    pub ack: AckRef,
}

#[derive(Clone)]
pub struct Shared {
    pub tracker: Tracker,
    pub registry: Arc<Mutex<Registry>>,
    pub queue: SyncSender<Item>,
    pub builder: Arc<Builder>,
    pub encoder: crate::outputs::Encoder,
    /// The output sends events as plain JSON (the fast path may write them).
    pub plain_json: bool,
    pub stop: Arc<AtomicBool>,
    pub once: bool,
    pub metrics: Arc<crate::monitor::Metrics>,
}

/// Runs one input until stopped (or, with `--once`, until every file was read to its end).
pub fn run_input(cfg: Arc<InputConfig>, sh: Shared) {
    let watch = WatchConfig {
        kind: cfg.kind.clone(),
        paths: cfg.paths.clone(),
        exclude: cfg
            .exclude_files
            .iter()
            .cloned()
            .map(Exclude::PathRegex)
            .collect(),
        ignore_older: cfg.ignore_older,
        close_inactive: cfg.close_inactive,
        close_removed: cfg.close_removed,
        close_renamed: cfg.close_renamed,
        close_eof: cfg.close_eof,
        clean_removed: cfg.clean_removed,
        clean_inactive: cfg.clean_inactive,
        scan_frequency: cfg.scan_frequency,
        tail_files: cfg.tail_files,
        harvester_limit: cfg.harvester_limit,
        max_bytes: cfg.max_bytes,
        backoff: cfg.backoff,
        max_backoff: cfg.max_backoff,
        multiline: cfg.multiline.clone(),
        container: cfg.container.clone(),
        symlinks: cfg.symlinks,
        delimiter: b"\n".to_vec(),
        once: sh.once,
    };
    let stop = sh.stop.clone();
    watch::run(Arc::new(watch), Arc::new(LogSink { cfg, sh }), stop);
}

struct LogSink {
    cfg: Arc<InputConfig>,
    sh: Shared,
}

impl Sink for LogSink {
    type File = LogFile;

    fn tracker(&self) -> &Tracker {
        &self.sh.tracker
    }

    fn stored_offset(&self, key: &str) -> Option<u64> {
        self.sh.registry.lock().ok()?.get(key).map(|e| e.offset)
    }

    fn stored_entries(&self) -> Vec<Entry> {
        match self.sh.registry.lock() {
            Ok(r) => r.entries().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn remove(&self, keys: &[String]) {
        if let Ok(mut r) = self.sh.registry.lock() {
            if let Err(err) = r.update(&[], keys) {
                warn!("registry: {err}");
            }
        }
    }

    fn open(&self, _key: Arc<str>, source: &str) -> LogFile {
        Metrics::add(&self.sh.metrics.harvesters_started, 1);
        let fast = if self.sh.plain_json {
            self.sh
                .builder
                .fast(&self.cfg)
                .map(|f| (f, serde_json::Value::String(source.to_string()).to_string()))
        } else {
            None
        };
        LogFile {
            cfg: self.cfg.clone(),
            sh: self.sh.clone(),
            source: source.to_string(),
            fast,
            clock: Default::default(),
        }
    }
}

struct LogFile {
    cfg: Arc<InputConfig>,
    sh: Shared,
    source: String,
    /// The direct JSON writer, when this input's events allow it.
    fast: Option<(crate::event::Fast, String)>,
    clock: crate::event::Clock,
}

impl FileSink for LogFile {
    /// Hands a message to the queue (or, when filtered or dropped, acknowledges it at once).
    fn emit(&mut self, msg: Message, ack: AckRef) -> bool {
        let text = String::from_utf8_lossy(&msg.bytes);
        let keep = (self.cfg.include_lines.is_empty()
            || self.cfg.include_lines.iter().any(|r| r.is_match(&text)))
            && !self.cfg.exclude_lines.iter().any(|r| r.is_match(&text));
        let m = &self.sh.metrics;
        Metrics::add(&m.added, 1);
        let event = if !keep || (msg.bytes.is_empty() && msg.container.is_none()) {
            None
        } else if let Some((fast, path_json)) = &self.fast {
            Some(fast.encode(self.clock.now(), path_json, &msg))
        } else {
            self.sh
                .builder
                .build(&self.cfg, &self.source, &msg)
                .map(|e| (self.sh.encoder)(&e))
        };
        match event {
            Some(event) => {
                Metrics::add(&m.published, 1);
                self.sh.queue.send(Item { event, ack }).is_ok()
            }
            None => {
                self.sh.tracker.ack(&[ack]);
                Metrics::add(&m.filtered, 1);
                Metrics::add(&m.done, 1);
                true
            }
        }
    }

    fn close(self, _offset: u64, _at_end: bool) {
        Metrics::add(&self.sh.metrics.harvesters_closed, 1);
    }
}
