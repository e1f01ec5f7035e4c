//! The file server shared by rbeat's log inputs and rstash's file input: a scanner that globs
//! the paths every `scan_frequency`, and one harvester thread per file reading from the offset
//! that was stored (or that this run reached). Files are known by (device, inode): a renamed
//! file keeps its harvester and offset; a file shorter than its offset was truncated and is read
//! again from 0; a deleted file is closed at EOF. At start, a stored entry whose path now holds
//! another file (or nothing) is looked up by inode in the same directory, so a file rotated
//! while we were down is read to its end before the new file.
//! What happens to each message, and where offsets are kept, is the `Sink`'s business.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regex::Regex;
use tracing::{debug, info, warn};

use crate::acks::{AckRef, Tracker};
use crate::container::{ContainerConfig, Decoder};
use crate::multiline::{Message, Multiline, MultilineConfig};
use crate::registry::{self, Entry, Kind};
use crate::{identity, FileId, LineReader};

/// Files the paths match but that are skipped.
#[derive(Debug, Clone)]
pub enum Exclude {
    /// Filebeat's `exclude_files`: a regex on the whole path.
    PathRegex(Regex),
    /// Logstash's `exclude`: a glob on the file name.
    NameGlob(glob::Pattern),
}

impl Exclude {
    fn excludes(&self, path: &Path) -> bool {
        match self {
            Exclude::PathRegex(r) => r.is_match(&path.to_string_lossy()),
            Exclude::NameGlob(g) => path
                .file_name()
                .is_some_and(|n| g.matches(&n.to_string_lossy())),
        }
    }
}

#[derive(Debug, Clone)]
pub struct WatchConfig {
    pub kind: Kind,
    pub paths: Vec<String>,
    pub exclude: Vec<Exclude>,
    pub ignore_older: Option<Duration>,
    pub close_inactive: Option<Duration>,
    pub close_removed: bool,
    pub close_renamed: bool,
    /// Stop reading a file at its end (Filebeat's close_eof, Logstash's read mode).
    pub close_eof: bool,
    pub clean_removed: bool,
    /// Stored entries' time to live, for the registry (`clean_inactive`).
    pub clean_inactive: Option<Duration>,
    pub scan_frequency: Duration,
    /// New files start at their end (Filebeat's tail_files, Logstash's start_position => end).
    pub tail_files: bool,
    /// At most this many files are read at once (0: no limit).
    pub harvester_limit: usize,
    pub max_bytes: usize,
    /// Wait after reaching a file's end, doubling up to `max_backoff` while nothing comes.
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub multiline: Option<MultilineConfig>,
    /// Lines are container runtime logs, decoded before multiline (Filebeat's container input).
    pub container: Option<ContainerConfig>,
    /// Symbolic links matched by `paths` are read (the file they point to, known by its own
    /// identity); Filebeat's `symlinks`, off by default.
    pub symlinks: bool,
    pub delimiter: Vec<u8>,
    /// Read every file to its end once, then return (rbeat's `--once`).
    pub once: bool,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            kind: Kind::Log,
            paths: Vec::new(),
            exclude: Vec::new(),
            ignore_older: None,
            close_inactive: Some(Duration::from_secs(300)),
            close_removed: true,
            close_renamed: false,
            close_eof: false,
            clean_removed: true,
            clean_inactive: None,
            scan_frequency: Duration::from_secs(10),
            tail_files: false,
            harvester_limit: 0,
            max_bytes: 10 * 1024 * 1024,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(10),
            multiline: None,
            container: None,
            symlinks: false,
            delimiter: b"\n".to_vec(),
            once: false,
        }
    }
}

/// Where offsets are stored and messages go.
pub trait Sink: Send + Sync + 'static {
    type File: FileSink;
    /// The tracker holding what is read but not yet acknowledged.
    fn tracker(&self) -> &Tracker;
    /// The offset an earlier run stored for `key`.
    fn stored_offset(&self, key: &str) -> Option<u64>;
    /// Everything stored by earlier runs (to find files moved meanwhile).
    fn stored_entries(&self) -> Vec<Entry>;
    /// Drops stored entries (their files are gone).
    fn remove(&self, keys: &[String]);
    /// A harvester starts on the file tracked as `key`, currently at `source`.
    fn open(&self, key: Arc<str>, source: &str) -> Self::File;
}

/// One file's messages.
pub trait FileSink: Send + 'static {
    /// A message; `ack` is acknowledged (through the tracker) once it is safe downstream.
    /// False when the consumer is gone.
    fn emit(&mut self, msg: Message, ack: AckRef) -> bool;
    /// Nothing new to read for now (called before each wait). False when the consumer is gone.
    fn idle(&mut self) -> bool {
        true
    }
    /// Reading stopped at `offset`; `at_end` when it stopped because the file was read to its
    /// end and is closed for good (close_eof).
    fn close(self, _offset: u64, _at_end: bool)
    where
        Self: Sized,
    {
    }
}

struct Known {
    /// Where this run's reading stopped (past the last event handed on).
    read_offset: u64,
}

/// Sleeps up to `d`, waking early when `stop` is set.
pub fn nap(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

struct Watcher<S: Sink> {
    cfg: Arc<WatchConfig>,
    sink: Arc<S>,
    stop: Arc<AtomicBool>,
    known: HashMap<FileId, Known>,
    running: HashMap<FileId, JoinHandle<u64>>,
}

/// Runs until `stop` (or, with `once`, until every file was read to its end).
pub fn run<S: Sink>(cfg: Arc<WatchConfig>, sink: Arc<S>, stop: Arc<AtomicBool>) {
    let mut w = Watcher {
        cfg,
        sink,
        stop,
        known: HashMap::new(),
        running: HashMap::new(),
    };
    w.recover_moved_files();
    let mut first_scan = true;
    loop {
        w.reap(false);
        if w.stop.load(Ordering::Relaxed) {
            break;
        }
        let seen = w.scan(first_scan);
        w.clean_removed(&seen);
        first_scan = false;
        if w.cfg.once {
            while !w.running.is_empty() && !w.stop.load(Ordering::Relaxed) {
                w.reap(false);
                std::thread::sleep(Duration::from_millis(20));
            }
            break;
        }
        nap(&w.stop, w.cfg.scan_frequency);
    }
    w.reap(true);
}

fn matches_input(cfg: &WatchConfig, path: &Path) -> bool {
    cfg.paths
        .iter()
        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches_path(path)))
        && !cfg.exclude.iter().any(|x| x.excludes(path))
}

impl<S: Sink> Watcher<S> {
    fn reap(&mut self, all: bool) {
        let done: Vec<FileId> = self
            .running
            .iter()
            .filter(|(_, h)| all || h.is_finished())
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            if let Some(h) = self.running.remove(&id) {
                if let Ok(offset) = h.join() {
                    self.known.insert(
                        id,
                        Known {
                            read_offset: offset,
                        },
                    );
                }
            }
        }
    }

    /// Stored entries whose file is no longer at its path: find them by inode in the same
    /// directory and read what is left of them.
    fn recover_moved_files(&mut self) {
        let mut gone = Vec::new();
        for e in self.sink.stored_entries() {
            if e.kind != self.cfg.kind || !matches_input(&self.cfg, Path::new(&e.source)) {
                continue;
            }
            let at_path = fs::metadata(&e.source).ok().map(|m| FileId::of(&m));
            if at_path == Some(e.id) {
                continue; // still where it was: the scan picks it up
            }
            let dir = Path::new(&e.source).parent().unwrap_or(Path::new("."));
            match identity::find_in_dir(dir, e.id) {
                Some(moved) => {
                    let size = fs::metadata(&moved).map(|m| m.len()).unwrap_or(0);
                    if size > e.offset {
                        info!(
                            "{} was renamed to {} while we were not running: reading its last {} bytes",
                            e.source,
                            moved.display(),
                            size - e.offset
                        );
                        let h = self.spawn(e.id, moved, e.offset, true);
                        self.running.insert(e.id, h);
                    }
                }
                None if self.cfg.clean_removed => gone.push(e.key()),
                None => {}
            }
        }
        if !gone.is_empty() {
            self.sink.remove(&gone);
        }
    }

    /// The offset to start a newly seen file at, or None to leave it alone.
    fn start_offset(&self, id: FileId, key: &str, meta: &fs::Metadata) -> Option<u64> {
        if let Some(k) = self.known.get(&id) {
            return Some(k.read_offset);
        }
        if let Some(o) = self.sink.stored_offset(key) {
            return Some(o);
        }
        if self.cfg.tail_files {
            return Some(meta.len());
        }
        let old = self.cfg.ignore_older.is_some_and(|age| {
            meta.modified()
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|e| e > age)
        });
        (!old).then_some(0)
    }

    fn scan(&mut self, first_scan: bool) -> HashSet<FileId> {
        let mut seen = HashSet::new();
        let cfg = self.cfg.clone();
        for pattern in &cfg.paths {
            let Ok(paths) = glob::glob(pattern) else {
                warn!("invalid glob pattern {pattern}");
                continue;
            };
            for path in paths.flatten() {
                if cfg.exclude.iter().any(|x| x.excludes(&path)) {
                    continue;
                }
                let meta = match fs::symlink_metadata(&path) {
                    Ok(m) if m.file_type().is_symlink() && cfg.symlinks => fs::metadata(&path),
                    other => other,
                };
                let Ok(meta) = meta else {
                    continue;
                };
                if !meta.is_file() {
                    continue;
                }
                let id = FileId::of(&meta);
                if !seen.insert(id) {
                    continue;
                }
                let s = path.to_string_lossy();
                let key: Arc<str> = registry::key(&cfg.kind, id).into();
                if self.running.contains_key(&id) {
                    self.sink.tracker().set_source(&key, &s);
                    continue;
                }
                let Some(offset) = self.start_offset(id, &key, &meta) else {
                    continue;
                };
                let size = meta.len();
                let offset = if size < offset {
                    info!("{s} was truncated ({size} < {offset} bytes): reading it from the start");
                    0
                } else {
                    offset
                };
                if size == offset && (self.known.contains_key(&id) || !first_scan || size == 0) {
                    self.known.entry(id).or_insert(Known {
                        read_offset: offset,
                    });
                    continue;
                }
                if cfg.harvester_limit > 0 && self.running.len() >= cfg.harvester_limit {
                    debug!("harvester limit reached; {s} waits");
                    continue;
                }
                let close_eof = cfg.close_eof || cfg.once;
                let h = self.spawn(id, path.clone(), offset, close_eof);
                self.running.insert(id, h);
            }
        }
        seen
    }

    /// Stored entries of files that no longer exist anywhere are dropped (`clean_removed`).
    fn clean_removed(&mut self, seen: &HashSet<FileId>) {
        if !self.cfg.clean_removed {
            return;
        }
        let gone: Vec<FileId> = self
            .known
            .keys()
            .filter(|id| !seen.contains(id) && !self.running.contains_key(id))
            .copied()
            .collect();
        let stored: HashMap<String, String> = if gone.is_empty() {
            HashMap::new()
        } else {
            self.sink
                .stored_entries()
                .into_iter()
                .map(|e| (e.key(), e.source))
                .collect()
        };
        let mut remove = Vec::new();
        for id in gone {
            let key = registry::key(&self.cfg.kind, id);
            let source = stored.get(&key);
            let still_there =
                source.is_some_and(|s| fs::metadata(s).is_ok_and(|m| FileId::of(&m) == id));
            let moved = source
                .and_then(|s| Path::new(s).parent())
                .is_some_and(|d| identity::find_in_dir(d, id).is_some());
            if still_there || moved {
                continue;
            }
            if self.sink.tracker().forget(&key) {
                self.known.remove(&id);
                remove.push(key);
            }
        }
        if !remove.is_empty() {
            debug!(
                "clean_removed: {} entries of removed files dropped",
                remove.len()
            );
            self.sink.remove(&remove);
        }
    }

    fn spawn(&self, id: FileId, path: PathBuf, offset: u64, close_eof: bool) -> JoinHandle<u64> {
        let (cfg, sink, stop) = (self.cfg.clone(), self.sink.clone(), self.stop.clone());
        std::thread::Builder::new()
            .name("harvester".into())
            .spawn(move || harvest(&cfg, &*sink, &stop, id, &path, offset, close_eof))
            .unwrap_or_else(|e| {
                warn!("cannot start a harvester: {e}");
                std::thread::spawn(move || offset)
            })
    }
}

fn entry_of(cfg: &WatchConfig, id: FileId, source: &Path, offset: u64) -> Entry {
    Entry {
        kind: cfg.kind.clone(),
        id,
        source: source.to_string_lossy().into_owned(),
        offset,
        updated: jiff::Timestamp::now().as_second(),
        ttl: cfg.clean_inactive.map_or(-1, |d| d.as_nanos() as i64),
    }
}

/// Reads one file from `offset`; returns where reading stopped.
fn harvest<S: Sink>(
    cfg: &WatchConfig,
    sink: &S,
    stop: &AtomicBool,
    id: FileId,
    path: &Path,
    offset: u64,
    close_eof: bool,
) -> u64 {
    let file = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            warn!("cannot open {}: {e}", path.display());
            return offset;
        }
    };
    if file.metadata().map(|m| FileId::of(&m)).ok() != Some(id) {
        return offset; // replaced between the scan and the open
    }
    // A container line carries its text inside JSON or behind a prefix: room for that, as
    // Filebeat gives its raw reader four times max_bytes; the decoded text is cut to max_bytes.
    let raw_max = match cfg.container {
        Some(_) => cfg.max_bytes.saturating_mul(4),
        None => cfg.max_bytes,
    };
    let mut reader = match LineReader::from_file(file, offset, raw_max) {
        Ok(r) => r.with_delimiter(&cfg.delimiter),
        Err(e) => {
            warn!("cannot read {}: {e}", path.display());
            return offset;
        }
    };
    let source = path.to_string_lossy().into_owned();
    let tracker = sink.tracker();
    let key = tracker.track(entry_of(cfg, id, path, offset));
    debug!("harvester started for {source} at offset {offset}");
    let mut out = sink.open(key.clone(), &source);
    let mut ml = cfg.multiline.clone().map(Multiline::new);
    let new_decoder = || {
        cfg.container
            .clone()
            .map(|c| Decoder::new(c, cfg.max_bytes))
    };
    let mut dec = new_decoder();
    let mut last_data = Instant::now();
    let mut backoff = cfg.backoff;
    let emit = |out: &mut S::File, msg: Message| {
        let ack = tracker.register(&key, msg.end);
        out.emit(msg, ack)
    };
    let flush = |ml: &mut Option<Multiline>| ml.as_mut().and_then(Multiline::flush);
    let (end, at_end) = loop {
        if stop.load(Ordering::Relaxed) {
            // Unsent multiline lines (or pieces of a container line) are read again next time.
            let at = ml
                .as_ref()
                .and_then(Multiline::pending_offset)
                .or(dec.as_ref().and_then(Decoder::pending_offset))
                .unwrap_or(reader.offset());
            break (at, false);
        }
        match reader.next_line() {
            Ok(Some(line)) => {
                last_data = Instant::now();
                backoff = cfg.backoff;
                let line = match dec.as_mut() {
                    None => line,
                    Some(d) => {
                        match d.push(line) {
                            Ok(Some(line)) => line,
                            // A piece of a longer line, or a stream this input does not want.
                            Ok(None) => continue,
                            Err(e) => {
                                warn!("{source}: skipping a line that is not a container log line: {e}");
                                continue;
                            }
                        }
                    }
                };
                let msg = match ml.as_mut() {
                    Some(m) => m.push(line),
                    None => Some(line.into()),
                };
                if let Some(msg) = msg {
                    if !emit(&mut out, msg) {
                        break (reader.offset(), false);
                    }
                }
            }
            Ok(None) => {
                if let Some(msg) = ml.as_mut().and_then(Multiline::flush_stale) {
                    if !emit(&mut out, msg) {
                        break (reader.offset(), false);
                    }
                }
                if let Ok(m) = reader.file().metadata() {
                    if m.len() < reader.offset() {
                        info!("{source} was truncated: reading it from the start");
                        if let Some(msg) = flush(&mut ml) {
                            emit(&mut out, msg);
                        }
                        dec = new_decoder();
                        if reader.seek(0).is_err() {
                            break (0, false);
                        }
                        continue;
                    }
                }
                let mut close = close_eof;
                match fs::metadata(path) {
                    Err(_) if cfg.close_removed => close = true,
                    Ok(m) if FileId::of(&m) != id && cfg.close_renamed => close = true,
                    _ => {}
                }
                if cfg.close_inactive.is_some_and(|d| last_data.elapsed() >= d) {
                    close = true;
                }
                // A container line whose last piece has not come is read again next time.
                let partial = dec.as_ref().and_then(Decoder::pending_offset);
                if close {
                    if let Some(msg) = flush(&mut ml) {
                        emit(&mut out, msg);
                    }
                    let at = partial.unwrap_or(reader.offset());
                    debug!("harvester for {source} closed at offset {at}");
                    break (at, close_eof && partial.is_none());
                }
                if !out.idle() {
                    break (partial.unwrap_or(reader.offset()), false);
                }
                let wait = match ml.as_ref() {
                    Some(m) if m.has_pending() => backoff.min(Duration::from_millis(200)),
                    _ => backoff,
                };
                nap(stop, wait);
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
            Err(e) => {
                warn!("reading {source}: {e}");
                break (reader.offset(), false);
            }
        }
    };
    out.close(end, at_end);
    end
}
