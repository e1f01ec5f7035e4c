//! Inputs: a scanner per input that globs its paths every `scan_frequency`, and one harvester
//! thread per file, reading from the offset the registry (or this run) left off. Files are known
//! by (device, inode): a renamed file keeps its harvester and offset; a file shorter than its
//! offset was truncated and is read again from 0; a deleted file is closed at EOF.
//! Beyond Filebeat: at start, a registry entry whose path now holds another file (or nothing) is
//! looked up by inode in the same directory, so a file rotated while rbeat was down is read to
//! its end before the new file.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rstash_tail::multiline::{Message, Multiline};
use rstash_tail::registry::{self, Kind};
use rstash_tail::{identity, Entry, FileId, LineReader, Registry};
use tracing::{debug, info, warn};

use crate::acks::{AckRef, Tracker};
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

struct Known {
    /// Where this run's reading stopped (past the last event handed to the queue).
    read_offset: u64,
}

/// Sleeps up to `d`, waking early when `stop` is set.
fn nap(stop: &AtomicBool, d: Duration) {
    let end = Instant::now() + d;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= end {
            return;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Runs one input until stopped (or, with `--once`, until every file was read to its end).
pub fn run_input(cfg: Arc<InputConfig>, sh: Shared) {
    let mut known: HashMap<FileId, Known> = HashMap::new();
    let mut running: HashMap<FileId, JoinHandle<u64>> = HashMap::new();
    recover_moved_files(&cfg, &sh, &mut running);
    let mut first_scan = true;
    loop {
        reap(&mut running, &mut known, false);
        if sh.stop.load(Ordering::Relaxed) {
            break;
        }
        let seen = scan(&cfg, &sh, &mut known, &mut running, first_scan);
        clean_removed(&cfg, &sh, &mut known, &running, &seen);
        first_scan = false;
        if sh.once {
            while !running.is_empty() && !sh.stop.load(Ordering::Relaxed) {
                reap(&mut running, &mut known, false);
                std::thread::sleep(Duration::from_millis(20));
            }
            break;
        }
        nap(&sh.stop, cfg.scan_frequency);
    }
    reap(&mut running, &mut known, true);
}

fn reap(
    running: &mut HashMap<FileId, JoinHandle<u64>>,
    known: &mut HashMap<FileId, Known>,
    all: bool,
) {
    let done: Vec<FileId> = running
        .iter()
        .filter(|(_, h)| all || h.is_finished())
        .map(|(id, _)| *id)
        .collect();
    for id in done {
        if let Some(h) = running.remove(&id) {
            if let Ok(offset) = h.join() {
                known.insert(
                    id,
                    Known {
                        read_offset: offset,
                    },
                );
            }
        }
    }
}

fn matches_input(cfg: &InputConfig, path: &Path) -> bool {
    let s = path.to_string_lossy();
    cfg.paths
        .iter()
        .any(|p| glob::Pattern::new(p).is_ok_and(|g| g.matches_path(path)))
        && !cfg.exclude_files.iter().any(|r| r.is_match(&s))
}

fn entry_of(cfg: &InputConfig, id: FileId, source: &Path, offset: u64) -> Entry {
    Entry {
        kind: cfg.kind.clone(),
        id,
        source: source.to_string_lossy().into_owned(),
        offset,
        updated: jiff::Timestamp::now().as_second(),
        ttl: cfg.clean_inactive.map_or(-1, |d| d.as_nanos() as i64),
    }
}

fn same_kind(a: &Kind, b: &Kind) -> bool {
    a == b
}

/// Registry entries of this input whose file is no longer at its path: find them by inode in
/// the same directory and read what is left of them.
fn recover_moved_files(
    cfg: &Arc<InputConfig>,
    sh: &Shared,
    running: &mut HashMap<FileId, JoinHandle<u64>>,
) {
    let entries: Vec<Entry> = match sh.registry.lock() {
        Ok(r) => r.entries().cloned().collect(),
        Err(_) => return,
    };
    let mut gone = Vec::new();
    for e in entries {
        if !same_kind(&e.kind, &cfg.kind) || !matches_input(cfg, Path::new(&e.source)) {
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
                        "{} was renamed to {} while rbeat was not running: reading its last {} bytes",
                        e.source,
                        moved.display(),
                        size - e.offset
                    );
                    let h = spawn(cfg.clone(), sh.clone(), e.id, moved, e.offset, true);
                    running.insert(e.id, h);
                }
            }
            None if cfg.clean_removed => gone.push(e.key()),
            None => {}
        }
    }
    if !gone.is_empty() {
        if let Ok(mut r) = sh.registry.lock() {
            if let Err(err) = r.update(&[], &gone) {
                warn!("registry: {err}");
            }
        }
    }
}

fn scan(
    cfg: &Arc<InputConfig>,
    sh: &Shared,
    known: &mut HashMap<FileId, Known>,
    running: &mut HashMap<FileId, JoinHandle<u64>>,
    first_scan: bool,
) -> HashSet<FileId> {
    let mut seen = HashSet::new();
    for pattern in &cfg.paths {
        let Ok(paths) = glob::glob(pattern) else {
            warn!("invalid glob pattern {pattern}");
            continue;
        };
        for path in paths.flatten() {
            let s = path.to_string_lossy();
            if cfg.exclude_files.iter().any(|r| r.is_match(&s)) {
                continue;
            }
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            let id = FileId::of(&meta);
            if !seen.insert(id) {
                continue;
            }
            let key: std::sync::Arc<str> = registry::key(&cfg.kind, id).into();
            if running.contains_key(&id) {
                sh.tracker.set_source(&key, &s);
                continue;
            }
            let size = meta.len();
            let offset = match known.get(&id) {
                Some(k) => k.read_offset,
                None => {
                    let stored = sh
                        .registry
                        .lock()
                        .ok()
                        .and_then(|r| r.get(&key).map(|e| e.offset));
                    match stored {
                        Some(o) => o,
                        None if cfg.tail_files => size,
                        None => {
                            let old = cfg.ignore_older.is_some_and(|age| {
                                meta.modified()
                                    .ok()
                                    .and_then(|m| m.elapsed().ok())
                                    .is_some_and(|e| e > age)
                            });
                            if old {
                                continue;
                            }
                            0
                        }
                    }
                }
            };
            let offset = if size < offset {
                info!("{s} was truncated ({size} < {offset} bytes): reading it from the start");
                0
            } else {
                offset
            };
            if size == offset && (known.contains_key(&id) || !first_scan || size == 0) {
                known.entry(id).or_insert(Known {
                    read_offset: offset,
                });
                continue;
            }
            if cfg.harvester_limit > 0 && running.len() >= cfg.harvester_limit {
                debug!("harvester_limit reached; {s} waits");
                continue;
            }
            let close_eof = cfg.close_eof || sh.once;
            let h = spawn(cfg.clone(), sh.clone(), id, path.clone(), offset, close_eof);
            running.insert(id, h);
        }
    }
    seen
}

/// Registry entries of files that no longer exist anywhere are dropped (`clean_removed`).
fn clean_removed(
    cfg: &InputConfig,
    sh: &Shared,
    known: &mut HashMap<FileId, Known>,
    running: &HashMap<FileId, JoinHandle<u64>>,
    seen: &HashSet<FileId>,
) {
    if !cfg.clean_removed {
        return;
    }
    let gone: Vec<FileId> = known
        .keys()
        .filter(|id| !seen.contains(id) && !running.contains_key(id))
        .copied()
        .collect();
    let mut remove = Vec::new();
    for id in gone {
        let key = registry::key(&cfg.kind, id);
        let source = sh
            .registry
            .lock()
            .ok()
            .and_then(|r| r.get(&key).map(|e| e.source.clone()));
        let still_there = source
            .as_ref()
            .is_some_and(|s| fs::metadata(s).is_ok_and(|m| FileId::of(&m) == id));
        let dir = source
            .as_ref()
            .and_then(|s| Path::new(s).parent().map(Path::to_path_buf));
        let moved = dir.is_some_and(|d| identity::find_in_dir(&d, id).is_some());
        if still_there || moved {
            continue;
        }
        if sh.tracker.forget(&key) {
            known.remove(&id);
            remove.push(key);
        }
    }
    if !remove.is_empty() {
        if let Ok(mut r) = sh.registry.lock() {
            if let Err(err) = r.update(&[], &remove) {
                warn!("registry: {err}");
            }
            debug!(
                "clean_removed: {} entries of removed files dropped",
                remove.len()
            );
        }
    }
}

fn spawn(
    cfg: Arc<InputConfig>,
    sh: Shared,
    id: FileId,
    path: PathBuf,
    offset: u64,
    close_eof: bool,
) -> JoinHandle<u64> {
    std::thread::Builder::new()
        .name("harvester".into())
        .spawn(move || {
            Metrics::add(&sh.metrics.harvesters_started, 1);
            let end = harvest(&cfg, &sh, id, &path, offset, close_eof);
            Metrics::add(&sh.metrics.harvesters_closed, 1);
            end
        })
        .unwrap_or_else(|e| {
            warn!("cannot start a harvester: {e}");
            std::thread::spawn(move || offset)
        })
}

struct Harvester<'a> {
    cfg: &'a InputConfig,
    sh: &'a Shared,
    key: Arc<str>,
    source: String,
    /// The direct JSON writer, when this input's events allow it.
    fast: Option<(crate::event::Fast, String)>,
    clock: std::cell::RefCell<crate::event::Clock>,
}

impl Harvester<'_> {
    /// Hands a message to the queue (or, when filtered or dropped, acknowledges it at once).
    /// False when the pipeline is gone.
    fn emit(&self, msg: Message) -> bool {
        let text = String::from_utf8_lossy(&msg.bytes);
        let keep = (self.cfg.include_lines.is_empty()
            || self.cfg.include_lines.iter().any(|r| r.is_match(&text)))
            && !self.cfg.exclude_lines.iter().any(|r| r.is_match(&text));
        let ack = self.sh.tracker.register(&self.key, msg.end);
        let m = &self.sh.metrics;
        Metrics::add(&m.added, 1);
        let event = if !keep || msg.bytes.is_empty() {
            None
        } else if let Some((fast, path_json)) = &self.fast {
            Some(fast.encode(self.clock.borrow_mut().now(), path_json, &msg))
        } else {
            self.sh
                .builder
                .build(self.cfg, &self.source, &msg)
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
}

/// Reads one file from `offset`; returns where reading stopped.
fn harvest(
    cfg: &InputConfig,
    sh: &Shared,
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
    let mut reader = match LineReader::from_file(file, offset, cfg.max_bytes) {
        Ok(r) => r,
        Err(e) => {
            warn!("cannot read {}: {e}", path.display());
            return offset;
        }
    };
    let source = path.to_string_lossy().into_owned();
    let key = sh.tracker.track(entry_of(cfg, id, path, offset));
    debug!("harvester started for {source} at offset {offset}");
    let fast = if sh.plain_json {
        sh.builder
            .fast(cfg)
            .map(|f| (f, serde_json::Value::String(source.clone()).to_string()))
    } else {
        None
    };
    let h = Harvester {
        cfg,
        sh,
        key,
        source,
        fast,
        clock: Default::default(),
    };
    let mut ml = cfg.multiline.clone().map(Multiline::new);
    let mut last_data = Instant::now();
    let mut backoff = cfg.backoff;
    let flush = |ml: &mut Option<Multiline>| ml.as_mut().and_then(Multiline::flush);
    loop {
        if sh.stop.load(Ordering::Relaxed) {
            // Unsent multiline lines are read again next time.
            return ml
                .as_ref()
                .and_then(Multiline::pending_offset)
                .unwrap_or(reader.offset());
        }
        match reader.next_line() {
            Ok(Some(line)) => {
                last_data = Instant::now();
                backoff = cfg.backoff;
                let msg = match ml.as_mut() {
                    Some(m) => m.push(line),
                    None => Some(line.into()),
                };
                if let Some(msg) = msg {
                    if !h.emit(msg) {
                        return reader.offset();
                    }
                }
            }
            Ok(None) => {
                if let Some(msg) = ml.as_mut().and_then(Multiline::flush_stale) {
                    if !h.emit(msg) {
                        return reader.offset();
                    }
                }
                let mut close = close_eof;
                if let Ok(m) = reader.file().metadata() {
                    if m.len() < reader.offset() {
                        info!("{} was truncated: reading it from the start", h.source);
                        if let Some(msg) = flush(&mut ml) {
                            h.emit(msg);
                        }
                        if reader.seek(0).is_err() {
                            return 0;
                        }
                        continue;
                    }
                }
                match fs::metadata(path) {
                    Err(_) if cfg.close_removed => close = true,
                    Ok(m) if FileId::of(&m) != id && cfg.close_renamed => close = true,
                    _ => {}
                }
                if cfg.close_inactive.is_some_and(|d| last_data.elapsed() >= d) {
                    close = true;
                }
                if close {
                    if let Some(msg) = flush(&mut ml) {
                        h.emit(msg);
                    }
                    debug!(
                        "harvester for {} closed at offset {}",
                        h.source,
                        reader.offset()
                    );
                    return reader.offset();
                }
                let wait = match ml.as_ref() {
                    Some(m) if m.has_pending() => backoff.min(Duration::from_millis(200)),
                    _ => backoff,
                };
                nap(&sh.stop, wait);
                backoff = (backoff * 2).min(cfg.max_backoff);
            }
            Err(e) => {
                warn!("reading {}: {e}", h.source);
                return reader.offset();
            }
        }
    }
}
