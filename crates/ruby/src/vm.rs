//! The one thread that runs Ruby. CRuby is single-threaded at heart (one VM, one global lock),
//! so every script lives here and pipeline workers hand it events over a channel; everything
//! else in the pipeline stays parallel.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::OnceLock;

use magnus::{function, prelude::*, Error, RArray, RModule, Ruby, TryConvert, Value};
use rstash_event::{Event, Map};

use crate::event::{self, RbEvent};
use crate::{Filtered, RubyError, Source, Status};

pub(crate) enum Request {
    Compile {
        name: String,
        source: Source,
        reply: SyncSender<Result<usize, String>>,
    },
    Run {
        id: usize,
        events: Vec<Event>,
        limit: f64,
        reply: SyncSender<Vec<Filtered>>,
    },
    Flush {
        id: usize,
        last: bool,
        reply: SyncSender<Vec<Event>>,
    },
    Close {
        id: usize,
        reply: SyncSender<()>,
    },
}

/// What the prelude's `RStash.run` returns: true (done), false (drop the event) or nil
/// (skipped), new events, and [message, detail] of an error.
type RunResult = (Option<bool>, RArray, Option<(String, String)>);

static VM: OnceLock<Result<Sender<Request>, String>> = OnceLock::new();

/// The Ruby thread's mailbox, starting the VM on first use.
pub(crate) fn sender() -> Result<&'static Sender<Request>, String> {
    VM.get_or_init(start).as_ref().map_err(Clone::clone)
}

fn start() -> Result<Sender<Request>, String> {
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("ruby".into())
        // Ruby code recurses on the machine stack; give it what `ruby` itself gets.
        .stack_size(64 << 20)
        .spawn(move || serve(rx, ready_tx))
        .map_err(|e| format!("cannot start the Ruby thread: {e}"))?;
    match ready_rx.recv() {
        Ok(r) => r.map(|()| tx),
        Err(_) => Err("the embedded Ruby VM failed to start".into()),
    }
}

fn serve(rx: Receiver<Request>, ready: SyncSender<Result<(), String>>) {
    let saved = crate::signals::save();
    // SAFETY: called once, on this thread, which then runs all Ruby code until it ends.
    let vm = unsafe { magnus::embed::init() };
    // Ruby installs its own handlers for INT, TERM, HUP...: rstash's must stay in charge.
    crate::signals::restore(&saved);
    let ruby: &Ruby = &vm;
    let driver = match setup(ruby) {
        Ok(m) => m,
        Err(e) => {
            let _ = ready.send(Err(format!("the Ruby prelude failed: {}", describe(&e))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    while let Ok(req) = rx.recv() {
        handle(ruby, driver, req);
    }
}

fn setup(ruby: &Ruby) -> Result<RModule, Error> {
    event::define(ruby)?;
    let m = ruby.define_module("RStash")?;
    m.define_module_function("__log", function!(log, 3))?;
    let src = ruby.str_new(include_str!("prelude.rb"));
    let _: Value = ruby
        .module_kernel()
        .funcall("eval", (src, ruby.qnil(), "rstash/ruby/prelude.rb", 1))?;
    let src = ruby.str_new(include_str!("aggregate.rb"));
    let _: Value = ruby
        .module_kernel()
        .funcall("eval", (src, ruby.qnil(), "rstash/ruby/aggregate.rb", 1))?;
    Ok(m)
}

fn log(level: String, name: String, text: String) {
    match level.as_str() {
        "trace" => tracing::trace!(plugin = %name, "{text}"),
        "debug" => tracing::debug!(plugin = %name, "{text}"),
        "info" => tracing::info!(plugin = %name, "{text}"),
        "warn" => tracing::warn!(plugin = %name, "{text}"),
        _ => tracing::error!(plugin = %name, "{text}"),
    }
}

fn handle(ruby: &Ruby, driver: RModule, req: Request) {
    match req {
        Request::Compile {
            name,
            source,
            reply,
        } => {
            let r = match source {
                Source::Inline { init, code } => {
                    driver.funcall("compile_inline", (name, init, code))
                }
                Source::File { path, params } => params_hash(ruby, &params).and_then(|h| {
                    driver.funcall("compile_file", (name, path.display().to_string(), h))
                }),
                Source::Aggregate { key, options } => params_hash(ruby, &options)
                    .and_then(|h| driver.funcall("compile_aggregate", (name, key, h))),
            };
            let _ = reply.send(r.map_err(|e| describe(&e)));
        }
        Request::Run {
            id,
            events,
            limit,
            reply,
        } => {
            let out = events
                .into_iter()
                .map(|e| run(ruby, driver, id, e, limit))
                .collect();
            let _ = reply.send(out);
        }
        Request::Flush { id, last, reply } => {
            let r: Result<RArray, Error> = driver.funcall("flush", (id, last));
            let events = match r {
                Ok(a) => a
                    .into_iter()
                    .filter_map(|v| <&RbEvent>::try_convert(v).ok().map(event::take))
                    .collect(),
                Err(e) => {
                    tracing::error!("flushing a Ruby filter failed: {}", describe(&e));
                    Vec::new()
                }
            };
            let _ = reply.send(events);
        }
        Request::Close { id, reply } => {
            if let Err(e) = driver.funcall::<_, _, Value>("close", (id,)) {
                tracing::error!("closing a Ruby filter failed: {}", describe(&e));
            }
            let _ = reply.send(());
        }
    }
}

/// Runs script `id` on one event, in the Ruby thread.
fn run(ruby: &Ruby, driver: RModule, id: usize, event: Event, limit: f64) -> Filtered {
    let obj = event::wrap(ruby, event);
    let r: Result<RunResult, Error> = driver.funcall("run", (id, obj, limit));
    match r {
        Ok((status, news, error)) => Filtered {
            error: error.map(|(message, detail)| RubyError { message, detail }),
            event: event::take(&obj),
            status: match status {
                Some(true) => Status::Done,
                Some(false) => Status::Dropped,
                None => Status::Skipped,
            },
            new_events: news
                .into_iter()
                .filter_map(|v| <&RbEvent>::try_convert(v).ok().map(event::take))
                .collect(),
        },
        Err(e) => Filtered {
            event: event::take(&obj),
            status: Status::Skipped,
            new_events: Vec::new(),
            error: Some(RubyError {
                message: describe(&e),
                detail: describe(&e),
            }),
        },
    }
}

fn params_hash(ruby: &Ruby, params: &Map) -> Result<Value, Error> {
    Ok(event::map_to_ruby(ruby, params)?.as_value())
}

/// A Ruby exception as one line: its message (class and message when it is not a RuntimeError).
fn describe(e: &Error) -> String {
    match e.value() {
        Some(exc) => {
            let msg: String = exc.funcall("message", ()).unwrap_or_else(|_| e.to_string());
            let class = unsafe { exc.class().name() }.into_owned();
            if class == "RuntimeError" {
                msg
            } else {
                format!("{class}: {msg}")
            }
        }
        None => e.to_string(),
    }
}
