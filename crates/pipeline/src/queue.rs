//! The queue between inputs and workers. Two kinds share one trait: the in-memory queue, bounded
//! (batch size × workers events, as Logstash's) so a slow output blocks the inputs instead of
//! growing memory, and the persisted queue (crate rstash-queue), which keeps events on disk until
//! the outputs are done with them.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rstash_event::Event;

use crate::plugin::Stopped;

/// What the pipeline needs of a queue. Inputs push (blocking while full); workers read batches
/// and acknowledge each once its events went through the outputs.
pub trait Queue: Send + Sync {
    /// Appends events in order, waiting while the queue is full. Fails once the queue is closed.
    fn push(&self, events: Vec<Event>) -> Result<(), Stopped>;
    /// Appends events if there is room now; otherwise hands them back (`Err(Ok(events))`), or
    /// reports a closed queue (`Err(Err(Stopped))`).
    fn try_push(&self, events: Vec<Event>) -> Result<(), Result<Vec<Event>, Stopped>>;
    /// Takes up to `max` events: waits for the first, then up to `delay` for the batch to fill.
    /// None once the queue is closed (and, if it drains, empty).
    fn read_batch(&self, max: usize, delay: Duration) -> Option<Batch>;
    /// The batch's events went through every output.
    fn ack(&self, batch: BatchId);
    /// No more pushes. `drain`: readers still get what is queued (the inputs finished);
    /// otherwise a queue that keeps its events (persisted) may stop handing them out.
    fn close(&self, drain: bool);
    /// Events waiting to be read.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `type`, sizes and counters of Logstash's `queue` stats block.
    fn stats(&self) -> serde_json::Value {
        serde_json::json!({"type": "memory", "events_count": self.len(), "queue_size_in_bytes": 0, "max_queue_size_in_bytes": 0})
    }
}

/// Names a batch for `ack`: the queue's sequence numbers of its first and last event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchId {
    pub first: u64,
    pub last: u64,
}

pub struct Batch {
    pub events: Vec<Event>,
    pub id: BatchId,
}

pub struct MemoryQueue {
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
    capacity: usize,
}

struct State {
    items: VecDeque<Event>,
    closed: bool,
}

impl MemoryQueue {
    pub fn new(capacity: usize) -> MemoryQueue {
        MemoryQueue {
            state: Mutex::new(State {
                items: VecDeque::with_capacity(capacity),
                closed: false,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A worker that panicked cannot leave the deque half-updated; keep going with its data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Queue for MemoryQueue {
    fn push(&self, events: Vec<Event>) -> Result<(), Stopped> {
        let mut st = self.lock();
        while st.items.len() >= self.capacity && !st.closed {
            st = self.not_full.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.closed {
            return Err(Stopped);
        }
        st.items.extend(events);
        drop(st);
        self.not_empty.notify_one();
        Ok(())
    }

    fn try_push(&self, events: Vec<Event>) -> Result<(), Result<Vec<Event>, Stopped>> {
        let mut st = self.lock();
        if st.closed {
            return Err(Err(Stopped));
        }
        if st.items.len() >= self.capacity {
            return Err(Ok(events));
        }
        st.items.extend(events);
        drop(st);
        self.not_empty.notify_one();
        Ok(())
    }

    fn read_batch(&self, max: usize, delay: Duration) -> Option<Batch> {
        let mut st = self.lock();
        while st.items.is_empty() && !st.closed {
            st = self.not_empty.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.items.is_empty() {
            return None;
        }
        let mut batch = Vec::with_capacity(max.min(st.items.len()).max(1));
        let deadline = Instant::now() + delay;
        loop {
            let n = (max - batch.len()).min(st.items.len());
            batch.extend(st.items.drain(..n));
            // Only when a blocked `push` can go on: woken for nothing, an input pinned to the
            // worker's core took the core, found the queue still full and slept again.
            if st.items.len() < self.capacity {
                self.not_full.notify_all();
            }
            if batch.len() >= max || st.closed {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .not_empty
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            if st.items.is_empty() && Instant::now() >= deadline {
                break;
            }
        }
        drop(st);
        // Another worker may take what is left.
        self.not_empty.notify_one();
        let id = BatchId { first: 0, last: 0 };
        Some(Batch { events: batch, id })
    }

    /// Nothing to do: events in memory are gone once read.
    fn ack(&self, _batch: BatchId) {}

    /// Readers always drain what is queued, then get None.
    fn close(&self, _drain: bool) {
        self.lock().closed = true;
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn len(&self) -> usize {
        self.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn drains_after_close_in_order() {
        let q = MemoryQueue::new(10);
        q.push((0..5).map(|i| Event::with_message(i.to_string())).collect())
            .unwrap();
        q.close(false);
        assert_eq!(q.push(vec![Event::new()]), Err(Stopped));
        let b = q.read_batch(3, Duration::from_millis(1)).unwrap().events;
        assert_eq!(
            b.iter()
                .map(|e| e.get_str("message").unwrap().to_string())
                .collect::<Vec<_>>(),
            ["0", "1", "2"]
        );
        assert_eq!(q.read_batch(3, Duration::ZERO).unwrap().events.len(), 2);
        assert!(q.read_batch(3, Duration::ZERO).is_none());
    }

    #[test]
    fn full_queue_blocks_until_read() {
        let q = Arc::new(MemoryQueue::new(2));
        q.push(vec![Event::new(), Event::new()]).unwrap();
        let q2 = q.clone();
        let h = std::thread::spawn(move || q2.push(vec![Event::new()]));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(q.len(), 2, "the producer must wait while full");
        q.read_batch(2, Duration::ZERO).unwrap();
        h.join().unwrap().unwrap();
        assert_eq!(q.len(), 1);
    }
}
