//! Writers and refresh: a tantivy writer is lent to an index while it is written (within the
//! engine's budget), a refresh commits with the log position it covers and reloads the reader,
//! and indices nobody searches skip background refreshes until searched (search-idle).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tantivy::IndexWriter;

use super::{now_ms, Index, State};
use crate::error::{tv, EsError};
use crate::index::write::{pending_cost, Record};

pub(super) struct Writer {
    pub(super) w: IndexWriter<super::doc::Doc>,
    /// Log position of the last operation given to `w`.
    pub(super) fed: u64,
    pub(super) used: Instant,
}

/// Writers open in this process (the budget's other half), for the engine's debug log.
pub static LIVE_WRITERS: AtomicU64 = AtomicU64::new(0);

impl Drop for Writer {
    fn drop(&mut self) {
        LIVE_WRITERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Queued operations that make an index busy enough for a full writer of its own (a quarter
/// of a second of a bulk stream): fewer are indexed by a small one when refreshed or flushed.
const BUSY_QUEUE: usize = 4096;

/// Tantivy's log merge policy tuned for append-only logs: segments merge in tens, in the
/// background, and deletes (rare in logs) are reclaimed once a fifth of a segment.
fn log_merge_policy() -> tantivy::indexer::LogMergePolicy {
    let mut p = tantivy::indexer::LogMergePolicy::default();
    p.set_min_num_segments(10);
    p.set_min_layer_size(20_000);
    p.set_del_docs_ratio_before_merge(0.2);
    p
}

impl Index {
    /// Whether this index holds writes not yet committed.
    pub fn has_changes(&self) -> bool {
        self.lock_state().last_pos > self.committed.load(Ordering::Acquire)
    }

    /// Bytes this index holds for documents not yet committed.
    pub fn held_bytes(&self) -> usize {
        let st = self.lock_state();
        st.queue_bytes + st.pending_bytes
    }

    /// Opens a writer into `g` if there is none; writers beyond the budget are closed, least
    /// recently used first.
    /// A `small` one (one thread, tantivy's smallest arena) is for a refresh of a few documents:
    /// a year of daily indices refreshed one after another must not each allocate a full arena.
    pub(super) fn open_locked(
        self: &Arc<Self>,
        g: &mut Option<Writer>,
        small: bool,
    ) -> Result<(), EsError> {
        if g.is_none() {
            let (threads, arena) = if small {
                (1, crate::engine::MIN_ARENA)
            } else {
                self.engine.writer_shape()
            };
            let w: IndexWriter<super::doc::Doc> = self
                .tindex
                .writer_with_num_threads(threads, arena)
                .map_err(tv)?;
            w.set_merge_policy(Box::new(log_merge_policy()));
            LIVE_WRITERS.fetch_add(1, Ordering::Relaxed);
            *g = Some(Writer {
                w,
                fed: self.committed.load(Ordering::Acquire),
                used: Instant::now(),
            });
        }
        for victim in self.engine.admit(self) {
            victim.evict();
        }
        Ok(())
    }

    /// Commits and closes the writer to make room, unless it is busy right now (waiting on it
    /// could deadlock with its holder evicting ours); it stays listed and goes on a later round.
    pub fn evict(&self) {
        if let Ok(mut g) = self.writer.try_lock() {
            if let Err(e) = self.close_locked(&mut g) {
                tracing::error!(index = %self.name, "closing its writer failed: {e}");
            }
        }
    }

    /// Makes everything written so far searchable and durable in the index: queued operations go
    /// to a writer (opened if needed), the writer commits, the reader reloads.
    pub fn refresh(self: &Arc<Self>) -> Result<(), EsError> {
        let mut g = self.lock_writer();
        if g.is_none() && !self.has_changes() {
            return Ok(());
        }
        let small = self.lock_state().queue.len() < BUSY_QUEUE;
        self.open_locked(&mut g, small)?;
        let Some(w) = g.as_mut() else {
            return Ok(());
        };
        self.feed(w);
        let r = self.commit_locked(w);
        if r.is_err() {
            self.drop_failed_writer(&mut g);
        }
        self.last_refresh.store(now_ms(), Ordering::Release);
        r
    }

    /// Background care of the writer: an open one takes the queue, or is committed and closed
    /// after `idle`; a busy index without one gets one while the budget has room.
    pub fn tend_writer(self: &Arc<Self>, idle: Duration) -> Result<(), EsError> {
        let mut g = self.lock_writer();
        let queued = self.lock_state().queue.len();
        match g.as_mut() {
            Some(w) if queued > 0 => {
                self.feed(w);
                Ok(())
            }
            Some(w) if w.used.elapsed() >= idle => self.close_locked(&mut g),
            Some(_) => Ok(()),
            None if queued >= BUSY_QUEUE
                && self.engine.open_writers().len() < self.engine.max_writers() =>
            {
                self.open_locked(&mut g, false)?;
                if let Some(w) = g.as_mut() {
                    self.feed(w);
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The index is being deleted: its writer and what it holds are dropped, uncommitted.
    pub fn discard(&self) {
        *self.lock_writer() = None;
        self.engine.release(self);
        let mut st = self.lock_state();
        let freed = Self::drop_held(&mut st);
        drop(st);
        self.engine.charge(-(freed as isize));
    }

    pub(super) fn commit_locked(&self, w: &mut Writer) -> Result<(), EsError> {
        if w.fed <= self.committed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut c = w.w.prepare_commit().map_err(tv)?;
        c.set_payload(&w.fed.to_string());
        c.commit().map_err(tv)?;
        self.reader.reload().map_err(tv)?;
        self.committed.store(w.fed, Ordering::Release);
        let fed = w.fed;
        let mut st = self.lock_state();
        let mut freed = 0usize;
        st.pending.retain(|id, p| {
            let keep = p.pos > fed;
            if !keep {
                freed += pending_cost(id, p.src.as_deref());
            }
            keep
        });
        let freed = freed.min(st.pending_bytes);
        st.pending_bytes -= freed;
        drop(st);
        self.engine.charge(-(freed as isize));
        Ok(())
    }

    /// Commits and closes the writer (idle, or to make room for another index's).
    pub(super) fn close_locked(&self, g: &mut Option<Writer>) -> Result<(), EsError> {
        if let Some(w) = g.as_mut() {
            self.feed(w);
            if let Err(e) = self.commit_locked(w) {
                self.drop_failed_writer(g);
                return Err(e);
            }
        }
        *g = None;
        self.engine.writer_closed();
        self.engine.release(self);
        Ok(())
    }

    /// A writer whose commit failed is not used again; what it held but had not committed is
    /// read back from the log, so the next refresh commits it instead of skipping past it.
    fn drop_failed_writer(&self, g: &mut Option<Writer>) {
        *g = None;
        self.engine.release(self);
        self.requeue_from_log();
    }

    /// Commits and closes this index's writer if it has one.
    pub fn close_writer(&self) -> Result<(), EsError> {
        self.close_locked(&mut self.lock_writer())
    }

    /// Forgets the writes held but not committed; returns the bytes they held.
    fn drop_held(st: &mut State) -> usize {
        let bytes = st.queue_bytes + st.pending_bytes;
        st.queue.clear();
        st.pending.clear();
        st.queue_bytes = 0;
        st.pending_bytes = 0;
        bytes
    }

    /// The writer's uncommitted operations read back from the log. The index's lock is held throughout, so no bulk slips in between (its records would be
    /// read twice).
    fn requeue_from_log(&self) {
        let from = self.committed.load(Ordering::Acquire);
        let mut st = self.lock_state();
        let freed = Self::drop_held(&mut st);
        st.last_pos = from;
        let name = self.name.clone();
        let r = self.engine.wal.read_from(from, &mut |pos, payload| {
            if let Ok(rec) = serde_json::from_slice::<Record>(payload) {
                if rec.i == name {
                    self.replay_locked(&mut st, pos, rec);
                }
            }
        });
        drop(st);
        self.engine.charge(-(freed as isize));
        if let Err(e) = r {
            tracing::error!(index = %self.name, "re-reading the write-ahead log failed: {e}");
        }
    }

    /// Whether a search at `last` (ms) is older than `index.search.idle.after` at `now`.
    fn idle_since(&self, last: u64, now: u64) -> bool {
        now.saturating_sub(last) >= self.engine.opts.search_idle.as_millis() as u64
    }

    /// How often the background refreshes this index at `now`: its `refresh_interval`, else the
    /// node's default while it is searched; None when it is not refreshed in the background.
    fn background_interval(&self, now: u64) -> Option<Duration> {
        match self.settings().refresh_interval {
            Some(explicit) => explicit,
            None if self.idle_since(self.last_read.load(Ordering::Acquire), now) => None,
            None => Some(self.engine.opts.refresh),
        }
    }

    /// Called before a search: an index not searched lately has skipped background refreshes
    /// (search-idle), so it refreshes now; then it counts as searched.
    pub fn before_read(self: &Arc<Self>) -> Result<(), EsError> {
        if self.mark_read() {
            self.refresh()?;
        }
        Ok(())
    }

    /// Counts the index as searched now; true when it must refresh first (it was search-idle
    /// and holds writes).
    fn mark_read(&self) -> bool {
        let now = now_ms();
        let idle = self.idle_since(self.last_read.swap(now, Ordering::AcqRel), now);
        self.settings().refresh_interval.is_none() && idle && self.has_changes()
    }

    /// `before_read` for every index a read names. The refreshes run on twice as many threads
    /// as there are cores: the first search over a backfilled year refreshes ~365 search-idle
    /// daily indices, each partly waiting on the file system (a segment's files, a commit).
    pub fn before_read_all(indices: &[Arc<Index>]) -> Result<(), EsError> {
        let due: Vec<&Arc<Index>> = indices.iter().filter(|i| i.mark_read()).collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = (2 * cores).min(due.len());
        if threads <= 1 {
            return due.iter().try_for_each(|i| i.refresh());
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || -> Result<(), EsError> {
            while let Some(i) = due.get(next.fetch_add(1, Ordering::Relaxed)) {
                i.refresh()?;
            }
            Ok(())
        };
        std::thread::scope(|s| {
            let helpers: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
            let mine = work();
            helpers
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(EsError::internal("a refresh thread panicked")))
                })
                .fold(mine, |acc, r| acc.and(r))
        })
    }

    /// `?refresh=wait_for`: returns once a refresh has made what this index holds visible —
    /// the scheduled one when the index refreshes in the background, else one of its own.
    pub fn wait_for_refresh(self: &Arc<Self>) -> Result<(), EsError> {
        let target = self.lock_state().last_pos;
        if let Some(d) = self.background_interval(now_ms()) {
            let end = Instant::now() + d + Duration::from_secs(1);
            while Instant::now() < end && self.committed() < target {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if self.committed() >= target {
            return Ok(());
        }
        self.refresh()
    }

    /// Whether the background refresh is due for this index now.
    pub fn refresh_due(&self, now: u64) -> bool {
        self.background_interval(now).is_some_and(|interval| {
            now.saturating_sub(self.last_refresh.load(Ordering::Acquire))
                >= interval.as_millis() as u64
        }) && self.has_changes()
    }
}
