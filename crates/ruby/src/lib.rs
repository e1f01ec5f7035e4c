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
}

/// One event's way through a script.
#[derive(Debug)]
pub struct Filtered {
    pub event: Event,
    /// False when a `path` script left the original event out of its results (it is dropped).
    pub kept: bool,
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

    /// Runs the script on one event (in the Ruby thread; this call waits for it).
    pub fn filter(&self, event: Event) -> Filtered {
        let failed = |event| Filtered {
            event,
            kept: true,
            new_events: Vec::new(),
            error: Some(RubyError::stopped()),
        };
        let Ok(tx) = vm::sender() else {
            return failed(event);
        };
        let (reply, rx) = mpsc::sync_channel(1);
        let req = vm::Request::Run {
            id: self.id,
            event,
            limit: self.limit,
            reply,
        };
        if let Err(mpsc::SendError(vm::Request::Run { event, .. })) = tx.send(req) {
            return failed(event);
        }
        rx.recv().unwrap_or_else(|_| failed(Event::default()))
    }
}

const STOPPED: &str = "the Ruby thread has stopped";
