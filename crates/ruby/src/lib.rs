//! Ruby for rstash's `ruby` filter: CRuby embedded on one thread, with Logstash's event API
//! (`LogStash::Event`, `LogStash::Timestamp`), inline `init`/`code` and `path` scripts (with
//! `register`, `filter` and the script `test` blocks), and a watchdog that interrupts code that
//! runs too long.

mod event;
mod signals;
mod vm;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use rstash_event::{Event, Map};

/// What a ruby filter runs.
#[derive(Debug, Clone)]
pub enum Source {
    /// `init` (run once) and `code` (run per event with `event` bound).
    Inline { init: Option<String>, code: String },
    /// A script file defining `register(params)` and `filter(event)`.
    File { path: PathBuf, params: Map },
    /// The aggregate filter: its options by Logstash name (plus `timeout_options`, the names of
    /// those set). `key` names the pipeline build whose aggregate filters share maps.
    Aggregate { key: String, options: Map },
}

/// What became of the event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The code ran (Logstash then applies add_field & co.).
    Done,
    /// A script left the event out of its results: it is to be dropped.
    Dropped,
    /// Nothing was done (aggregate: no task id, or map_action said no; or the code failed).
    Skipped,
}

/// One event's way through a script.
#[derive(Debug)]
pub struct Filtered {
    pub event: Event,
    pub status: Status,
    /// Events made by `new_event_block` or returned by a script's `filter`.
    pub new_events: Vec<Event>,
    /// The exception (or time-out) that stopped the code.
    pub error: Option<RubyError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RubyError {
    /// The exception's message (what `tag_with_exception_message` appends).
    pub message: String,
    /// Class, message and where it was raised: for the log.
    pub detail: String,
}

impl RubyError {
    fn stopped() -> RubyError {
        RubyError {
            message: STOPPED.into(),
            detail: STOPPED.into(),
        }
    }
}

/// A compiled script in the Ruby VM.
#[derive(Debug)]
pub struct Script {
    id: usize,
    limit: f64,
}

impl Script {
    /// Compiles (and for files, registers and tests) a script. `name` labels its log lines.
    pub fn compile(name: &str, source: Source, timeout: Duration) -> Result<Script, String> {
        let tx = vm::sender()?;
        let (reply, rx) = mpsc::sync_channel(1);
        tx.send(vm::Request::Compile {
            name: name.to_string(),
            source,
            reply,
        })
        .map_err(|_| STOPPED.to_string())?;
        let id = rx.recv().map_err(|_| STOPPED.to_string())??;
        Ok(Script {
            id,
            limit: timeout.as_secs_f64(),
        })
    }

    /// Runs the script on each event in turn, in the Ruby thread (one hop there and back for
    /// the whole batch: the hop costs more than most snippets).
    pub fn filter(&self, events: Vec<Event>) -> Vec<Filtered> {
        let failed = |events: Vec<Event>| {
            events
                .into_iter()
                .map(|event| Filtered {
                    event,
                    status: Status::Skipped,
                    new_events: Vec::new(),
                    error: Some(RubyError::stopped()),
                })
                .collect()
        };
        let Ok(tx) = vm::sender() else {
            return failed(events);
        };
        let (reply, rx) = mpsc::sync_channel(1);
        let req = vm::Request::Run {
            id: self.id,
            events,
            limit: self.limit,
            reply,
        };
        if let Err(mpsc::SendError(vm::Request::Run { events, .. })) = tx.send(req) {
            return failed(events);
        }
        // Only a crash of the Ruby thread loses the batch; it is reported as a failure.
        rx.recv().unwrap_or_else(|_| failed(Vec::new()))
    }

    /// Events the script releases on its own (aggregate's timed-out maps); all when `last`.
    pub fn flush(&self, last: bool) -> Vec<Event> {
        let (reply, rx) = mpsc::sync_channel(1);
        let sent = vm::sender().ok().is_some_and(|tx| {
            tx.send(vm::Request::Flush {
                id: self.id,
                last,
                reply,
            })
            .is_ok()
        });
        if !sent {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }

    /// The pipeline stopped: the script lets go of what it keeps (aggregate saves its maps).
    pub fn close(&self) {
        let (reply, rx) = mpsc::sync_channel(1);
        if let Ok(tx) = vm::sender() {
            if tx.send(vm::Request::Close { id: self.id, reply }).is_ok() {
                let _ = rx.recv();
            }
        }
    }
}

impl Drop for Script {
    /// Lets the VM forget the script (a reloaded pipeline's filters are dropped).
    fn drop(&mut self) {
        let (reply, _) = mpsc::sync_channel(1);
        if let Ok(tx) = vm::sender() {
            let _ = tx.send(vm::Request::Close { id: self.id, reply });
        }
    }
}

const STOPPED: &str = "the Ruby thread has stopped";
