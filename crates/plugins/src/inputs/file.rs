//! `file`: tails (or, in read mode, reads once) the files matching `path`, one event per line,
//! remembering offsets in Logstash's sincedb format. The watching is rbeat's (`rstash_tail::watch`):
//! rotation by rename, copytruncate and truncation are handled the same way. An offset is
//! recorded once the line's event is in the queue (with a persisted queue: on disk).

use rstash_pipeline::{opt, Options, Ty};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use md5::Digest;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{hostname, Args, Codec, Ecs, Input, InputContext, PluginError};
use rstash_tail::acks::{AckRef, Tracker};
use rstash_tail::multiline::Message;
use rstash_tail::sincedb::Sincedb;
use rstash_tail::watch::{self, Exclude, FileSink, Sink, WatchConfig};
use rstash_tail::Entry;
use tracing::{info, warn};

use super::{duration, HostField};

#[derive(Clone, Default)]
struct Completed {
    delete: bool,
    log: Option<PathBuf>,
}

pub struct File {
    watch: WatchConfig,
    sincedb_path: PathBuf,
    write_interval: Duration,
    clean_after: f64,
    completed: Option<Completed>,
    codec: Box<dyn Codec>,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[
    opt("path", Ty::Array).required(),
    opt("exclude", Ty::Array),
    opt("mode", Ty::Choice(&["tail", "read"])).default("tail"),
    opt("start_position", Ty::Choice(&["beginning", "end"])).default("end"),
    opt("delimiter", Ty::Str).default("\\n"),
    opt("stat_interval", Ty::Duration).default("1"),
    opt("discover_interval", Ty::Number).default("15"),
    opt("close_older", Ty::Duration).default("3600"),
    opt("ignore_older", Ty::Duration),
    opt(
        "file_completed_action",
        Ty::Choice(&["delete", "log", "log_and_delete"]),
    )
    .default("delete"),
    opt("file_completed_log_path", Ty::Path),
    opt("exit_after_read", Ty::Boolean).default("false"),
    opt("sincedb_path", Ty::Path),
    opt("sincedb_write_interval", Ty::Duration).default("15"),
    opt("sincedb_clean_after", Ty::Duration).default("1209600 (2 weeks)"),
    opt("max_open_files", Ty::Number).default("4095"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let paths = args.strings("path")?;
    if paths.is_empty() {
        return Err(args.error("file input needs `path`"));
    }
    if let Some(rel) = paths.iter().find(|p| !Path::new(p).is_absolute()) {
        return Err(args.error_at(
            "path",
            format!("File paths must be absolute, relative path specified: {rel}"),
        ));
    }
    let exclude = args
        .strings("exclude")?
        .iter()
        .map(|g| {
            glob::Pattern::new(g)
                .map(Exclude::NameGlob)
                .map_err(|e| args.error_at("exclude", format!("`{g}` is not a glob: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let read_mode = args.choice("mode", &["tail", "read"], "tail")? == "read";
    let beginning = args.choice("start_position", &["beginning", "end"], "end")? == "beginning";
    let stat = duration(args, "stat_interval", Duration::from_secs(1), 1.0)?;
    let discover = args.int("discover_interval", 15)?.max(1) as u32;
    let close_older = duration(args, "close_older", Duration::from_secs(3600), 1.0)?;
    let ignore_older = args
        .has("ignore_older")
        .then(|| duration(args, "ignore_older", Duration::ZERO, 1.0))
        .transpose()?;
    let delimiter = args
        .string_or("delimiter", "\n")?
        .replace("\\n", "\n")
        .replace("\\r", "\r");
    let action = args.choice(
        "file_completed_action",
        &["delete", "log", "log_and_delete"],
        "delete",
    )?;
    let log = args.string("file_completed_log_path")?.map(PathBuf::from);
    if read_mode && action.starts_with("log") && log.is_none() {
        return Err(args.error_at(
            "file_completed_action",
            "file_completed_action => log needs file_completed_log_path",
        ));
    }
    let exit_after_read = args.bool("exit_after_read", false)?;
    if exit_after_read && !read_mode {
        return Err(args.error_at(
            "exit_after_read",
            "exit_after_read only applies to mode => read",
        ));
    }
    let sincedb_path = match args.string("sincedb_path")? {
        Some(p) => PathBuf::from(p),
        None => {
            let digest = md5::Md5::digest(paths.join(",").as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            args.settings
                .data_dir
                .join("plugins/inputs/file")
                .join(format!(".sincedb_{hex}"))
        }
    };
    let watch = WatchConfig {
        paths,
        exclude,
        ignore_older,
        close_inactive: (!read_mode).then_some(close_older),
        close_eof: read_mode,
        scan_frequency: stat * discover,
        tail_files: !read_mode && !beginning,
        harvester_limit: args.int("max_open_files", 4095)?.max(1) as usize,
        backoff: stat,
        max_backoff: stat,
        delimiter: delimiter.into_bytes(),
        once: exit_after_read,
        ..WatchConfig::default()
    };
    Ok(Box::new(File {
        watch,
        write_interval: duration(args, "sincedb_write_interval", Duration::from_secs(15), 1.0)?,
        clean_after: duration(
            args,
            "sincedb_clean_after",
            Duration::from_secs(14 * 86400),
            86400.0,
        )?
        .as_secs_f64(),
        sincedb_path,
        completed: read_mode.then(|| Completed {
            delete: action.ends_with("delete"),
            log: if action.starts_with("log") { log } else { None },
        }),
        codec: args.codec("plain")?,
        ecs: args.ecs()?,
    }))
}

struct FileInputSink {
    tracker: Tracker,
    db: Mutex<Sincedb>,
    ctx: InputContext,
    /// Each file gets a fresh copy (codecs keep per-stream state).
    codec: Mutex<Box<dyn Codec>>,
    ecs: Ecs,
    host: HostField,
    completed: Option<Completed>,
}

impl FileInputSink {
    /// Moves acknowledged offsets into the sincedb and writes it.
    fn flush(&self, clean_after: f64) {
        let dirty = self.tracker.take_dirty(jiff::Timestamp::now().as_second());
        let Ok(mut db) = self.db.lock() else { return };
        if !dirty.is_empty() {
            db.update(dirty, &[]);
        }
        if let Err(e) = db.write(clean_after) {
            warn!("cannot write the sincedb: {e}");
        }
    }
}

impl Sink for FileInputSink {
    type File = OneFile;

    fn tracker(&self) -> &Tracker {
        &self.tracker
    }

    fn stored_offset(&self, key: &str) -> Option<u64> {
        self.db.lock().ok()?.get(key).map(|e| e.offset)
    }

    fn stored_entries(&self) -> Vec<Entry> {
        match self.db.lock() {
            Ok(db) => db.entries().cloned().collect(),
            Err(_) => Vec::new(),
        }
    }

    fn remove(&self, keys: &[String]) {
        if let Ok(mut db) = self.db.lock() {
            db.update(Vec::new(), keys);
        }
    }

    fn open(&self, _key: Arc<str>, source: &str) -> OneFile {
        OneFile {
            tracker: self.tracker.clone(),
            ctx: self.ctx.clone(),
            codec: match self.codec.lock() {
                Ok(c) => c.fresh(),
                Err(p) => p.into_inner().fresh(),
            },
            ecs: self.ecs,
            host: self.host.clone(),
            source: source.to_string(),
            completed: self.completed.clone(),
            held: Vec::new(),
        }
    }
}

struct OneFile {
    tracker: Tracker,
    ctx: InputContext,
    codec: Box<dyn Codec>,
    ecs: Ecs,
    host: HostField,
    source: String,
    completed: Option<Completed>,
    /// Acknowledgements of lines handed to the codec and not yet queued as events.
    held: Vec<AckRef>,
}

impl OneFile {
    /// Queues what the codec gave, then acknowledges the lines the codec no longer holds (a
    /// multiline codec keeps lines until their event is complete: those stay unacknowledged).
    fn deliver(&mut self, mut events: Vec<Event>) -> bool {
        let path = if self.ecs.enabled() {
            FieldRef::parse("[log][file][path]").unwrap_or_else(|_| FieldRef::key("path"))
        } else {
            FieldRef::key("path")
        };
        for e in &mut events {
            self.host.stamp(e);
            if !e.includes(&path) {
                let _ = e.set(&path, Value::String(self.source.as_str().into()));
            }
        }
        if !events.is_empty() && self.ctx.push_all(events).is_err() {
            return false;
        }
        let done = self.held.len().saturating_sub(self.codec.held());
        let acks: Vec<AckRef> = self.held.drain(..done).collect();
        self.tracker.ack(&acks);
        true
    }
}

impl FileSink for OneFile {
    fn emit(&mut self, msg: Message, ack: AckRef) -> bool {
        let mut events = Vec::new();
        self.codec
            .decode_message(&msg.bytes, &mut |e| events.push(e));
        self.held.push(ack);
        self.deliver(events)
    }

    fn idle(&mut self) -> bool {
        let mut events = Vec::new();
        self.codec.tick(&mut |e| events.push(e));
        self.deliver(events)
    }

    fn close(mut self, _offset: u64, at_end: bool) {
        let mut events = Vec::new();
        self.codec.flush(&mut |e| events.push(e));
        self.deliver(events);
        let Some(done) = self.completed.filter(|_| at_end) else {
            return;
        };
        if let Some(log) = &done.log {
            let line = format!("{}\n", self.source);
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .and_then(|mut f| f.write_all(line.as_bytes()));
            if let Err(e) = written {
                warn!("cannot append to {}: {e}", log.display());
            }
        }
        if done.delete {
            match std::fs::remove_file(&self.source) {
                Ok(()) => info!("{} was read to its end and deleted", self.source),
                Err(e) => warn!("cannot delete {}: {e}", self.source),
            }
        }
    }
}

impl Input for File {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let db = Sincedb::open(&self.sincedb_path)
            .map_err(|e| PluginError(format!("sincedb {}: {e}", self.sincedb_path.display())))?;
        let sink = Arc::new(FileInputSink {
            tracker: Tracker::default(),
            db: Mutex::new(db),
            ctx: ctx.clone(),
            codec: Mutex::new(self.codec.fresh()),
            ecs: self.ecs,
            host: HostField::new(self.ecs, "[host][name]", &hostname()),
            completed: self.completed.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let (cfg, sink, stop) = (Arc::new(self.watch.clone()), sink.clone(), stop.clone());
            std::thread::Builder::new()
                .name("file-watcher".into())
                .spawn(move || watch::run(cfg, sink, stop))?
        };
        let mut last_write = Instant::now();
        while !watcher.is_finished() {
            if ctx.is_stopping() {
                stop.store(true, Ordering::Relaxed);
            }
            if last_write.elapsed() >= self.write_interval {
                sink.flush(self.clean_after);
                last_write = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = watcher.join();
        sink.flush(self.clean_after);
        Ok(())
    }
}
