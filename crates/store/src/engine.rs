//! What the indices of a node share: the write-ahead log, the indexing memory budget
//! (Elasticsearch's `indices.memory.index_buffer_size`) and the tantivy writers it allows, and
//! the disk watermark that blocks writes before the disk is full.
//!
//! Memory is bounded by the budget, not by the number of indices: documents wait in their index's
//! queue (counted here) until a writer takes them; writers are opened on demand, at most as many
//! as the budget holds, and the least recently used one is committed and closed to make room.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::index::Index;
use crate::wal::Wal;

/// A disk threshold: a share of the disk used, or bytes that must stay free.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Watermark {
    UsedPercent(f64),
    FreeBytes(u64),
}

impl std::str::FromStr for Watermark {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_lowercase();
        if let Some(p) = t.strip_suffix('%') {
            return match p.trim().parse::<f64>() {
                Ok(v) if (0.0..=100.0).contains(&v) => Ok(Watermark::UsedPercent(v)),
                _ => Err(format!("`{s}`: a percentage must be between 0% and 100%")),
            };
        }
        parse_bytes(&t).map(Watermark::FreeBytes)
    }
}

/// `512mb`, `1gb`, `300kb`, `1024b` or a plain number of bytes (Elasticsearch's byte sizes).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected a size like 512mb or 95%"))?;
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        "t" | "tb" => 1 << 40,
        other => return Err(format!("`{s}`: unknown unit `{other}` (b, kb, mb, gb, tb)")),
    };
    Ok((n * mult as f64) as u64)
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes for documents waiting to be indexed plus the writers' arenas.
    pub budget: usize,
    /// Writes are refused (429) past this; allowed again below `release`.
    pub flood_stage: Watermark,
    pub release: Watermark,
    /// A checkpoint (every index committed, the log emptied) once the log holds this much.
    pub flush_threshold: u64,
    /// Default `index.refresh_interval`.
    pub refresh: Duration,
    /// Indices not searched for this long are not refreshed in the background (Elasticsearch's
    /// `index.search.idle.after`); a search refreshes them first.
    pub search_idle: Duration,
    /// Called after a writer closes: its threads have exited and its arena is free, memory the
    /// allocator should give back now (rstore's mimalloc otherwise kept the pages of exited
    /// threads, so resident memory followed the writer churn of a backfill, not the budget).
    pub return_freed_memory: fn(),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            budget: 512 << 20,
            flood_stage: Watermark::UsedPercent(95.0),
            release: Watermark::UsedPercent(90.0),
            flush_threshold: 512 << 20,
            refresh: Duration::from_secs(1),
            search_idle: Duration::from_secs(30),
            return_freed_memory: || {},
        }
    }
}

pub struct Engine {
    pub wal: Wal,
    pub opts: Options,
    data: PathBuf,
    used: AtomicUsize,
    /// Indices with an open writer, least recently used first.
    writers: Mutex<Vec<Arc<Index>>>,
    room: (Mutex<()>, Condvar),
    blocked: AtomicBool,
    pub checkpoint_wanted: AtomicBool,
    /// When `return_freed_memory` last ran (ms since `born`).
    last_return: AtomicU64,
    born: std::time::Instant,
}

/// Tantivy's smallest arena per indexing thread.
pub const MIN_ARENA: usize = 15_000_000;

impl Engine {
    pub fn new(wal: Wal, opts: Options, data: PathBuf) -> Engine {
        Engine {
            wal,
            opts,
            data,
            used: AtomicUsize::new(0),
            writers: Mutex::new(Vec::new()),
            room: (Mutex::new(()), Condvar::new()),
            blocked: AtomicBool::new(false),
            checkpoint_wanted: AtomicBool::new(false),
            last_return: AtomicU64::new(0),
            born: std::time::Instant::now(),
        }
    }

    /// A writer closed: gives freed memory back, at most every 50 ms (a backfill closes writers
    /// by the hundred a second, and a forced collection walks the whole heap).
    pub fn writer_closed(&self) {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.last_return.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 50
            && self
                .last_return
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            (self.opts.return_freed_memory)();
        }
    }

    /// Indexing threads and arena bytes of one writer: a quarter of the budget, two threads when
    /// it allows (documents are built on the request threads, so both cores stay busy).
    pub fn writer_shape(&self) -> (usize, usize) {
        let quarter = self.opts.budget / 4;
        let threads = if quarter >= 2 * MIN_ARENA { 2 } else { 1 };
        (threads, quarter.max(MIN_ARENA * threads))
    }

    /// Writers the budget holds; queued documents get the other half.
    pub fn max_writers(&self) -> usize {
        (self.opts.budget / 2 / self.writer_shape().1).max(1)
    }

    pub fn charge(&self, bytes: isize) {
        if bytes >= 0 {
            self.used.fetch_add(bytes as usize, Ordering::AcqRel);
        } else {
            self.used.fetch_sub(bytes.unsigned_abs(), Ordering::AcqRel);
            self.room.1.notify_all();
        }
    }

    /// Bytes of documents waiting in queues or for a refresh.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Over half the budget: the engine thread flushes the biggest queues.
    pub fn under_pressure(&self) -> bool {
        self.used() > self.opts.budget / 2
    }

    /// Holds a bulk back while queued documents fill the whole budget (the engine thread frees
    /// room); gives up after `limit` so a request never hangs.
    pub fn wait_for_room(&self, limit: Duration) {
        let end = std::time::Instant::now() + limit;
        let mut g = self.room.0.lock().unwrap_or_else(|p| p.into_inner());
        while self.used() > self.opts.budget {
            let now = std::time::Instant::now();
            if now >= end {
                return;
            }
            g = match self
                .room
                .1
                .wait_timeout(g, (end - now).min(Duration::from_millis(50)))
            {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Whether writes are refused for lack of disk: set past the flood stage, cleared below the
    /// release mark (Elasticsearch releases its block below the high watermark).
    pub fn disk_blocked(&self) -> bool {
        let Some((total, free)) = disk_space(&self.data) else {
            return false;
        };
        let past = |w: Watermark| match w {
            Watermark::UsedPercent(p) => {
                total > 0 && (total - free) as f64 * 100.0 / total as f64 >= p
            }
            Watermark::FreeBytes(b) => free <= b,
        };
        let was = self.blocked.load(Ordering::Acquire);
        let now = if was {
            past(self.opts.release)
        } else {
            past(self.opts.flood_stage)
        };
        if now != was {
            self.blocked.store(now, Ordering::Release);
            if now {
                tracing::warn!(
                    path = %self.data.display(),
                    free_bytes = free,
                    "disk usage exceeded the flood-stage watermark: writes are refused (429) until space returns"
                );
                // The log's segments are the first thing a checkpoint gives back.
                self.checkpoint_wanted.store(true, Ordering::Release);
            } else {
                tracing::info!(path = %self.data.display(), "disk space is back below the watermark: writes are accepted again");
            }
        }
        now
    }

    /// Marks `idx` as the most recently used writer; returns the writers beyond the budget,
    /// least recently used first, never `idx`. They stay listed until actually closed, so one
    /// busy at the moment is closed on a later round instead of being forgotten open.
    pub fn admit(&self, idx: &Arc<Index>) -> Vec<Arc<Index>> {
        let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|i| !Arc::ptr_eq(i, idx));
        w.push(idx.clone());
        let over = w.len().saturating_sub(self.max_writers());
        w[..over].to_vec()
    }

    /// The writers beyond the budget, least recently used first.
    pub fn excess(&self) -> Vec<Arc<Index>> {
        let w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        let over = w.len().saturating_sub(self.max_writers());
        w[..over].to_vec()
    }

    /// Forgets `idx`'s writer (closed or its index deleted).
    pub fn release(&self, idx: &Index) {
        let mut w = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        w.retain(|i| !std::ptr::eq(Arc::as_ptr(i), idx));
    }

    pub fn open_writers(&self) -> Vec<Arc<Index>> {
        self.writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// (total, available) bytes of the file system holding `path`.
fn disk_space(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let unit = st.f_frsize as u64;
    Some((st.f_blocks as u64 * unit, st.f_bavail as u64 * unit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_watermarks() {
        assert_eq!(parse_bytes("512mb"), Ok(512 << 20));
        assert_eq!(parse_bytes("1gb"), Ok(1 << 30));
        assert_eq!(parse_bytes("2048"), Ok(2048));
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!("95%".parse(), Ok(Watermark::UsedPercent(95.0)));
        assert_eq!("500mb".parse(), Ok(Watermark::FreeBytes(500 << 20)));
        assert!("120%".parse::<Watermark>().is_err());
    }
}
