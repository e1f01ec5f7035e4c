//! ACK tracking: events leave a file in order but may be acknowledged out of order (several
//! output workers); a file's registry offset only moves past an event once it and every event
//! before it are acknowledged.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::registry::Entry;

/// Names one event of one file for acknowledgement.
#[derive(Debug, Clone)]
pub struct AckRef {
    pub key: Arc<str>,
    pub seq: u64,
}

struct Track {
    entry: Entry,
    base: u64,
    /// End offsets of events not yet committed, oldest first, with their ACK state.
    window: VecDeque<(u64, bool)>,
    dirty: bool,
}

#[derive(Default, Clone)]
pub struct Tracker(Arc<Mutex<HashMap<Arc<str>, Track>>>);

impl Tracker {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, Track>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts (or resumes) tracking a file whose acknowledged state is `entry`.
    pub fn track(&self, entry: Entry) -> Arc<str> {
        let key: Arc<str> = entry.key().into();
        let mut m = self.lock();
        match m.get_mut(&key) {
            Some(t) => {
                if t.entry.source != entry.source {
                    t.entry.source = entry.source;
                    t.dirty = true;
                }
            }
            None => {
                m.insert(
                    key.clone(),
                    Track {
                        entry,
                        base: 0,
                        window: VecDeque::new(),
                        dirty: false,
                    },
                );
            }
        }
        key
    }

    /// A new event read up to `end`; its ACK comes later.
    pub fn register(&self, key: &Arc<str>, end: u64) -> AckRef {
        let mut m = self.lock();
        let seq = match m.get_mut(key) {
            Some(t) => {
                t.window.push_back((end, false));
                t.base + t.window.len() as u64 - 1
            }
            None => 0,
        };
        AckRef {
            key: key.clone(),
            seq,
        }
    }

    /// Marks events acknowledged and advances each file's committed offset.
    pub fn ack(&self, refs: &[AckRef]) {
        let mut m = self.lock();
        for r in refs {
            let Some(t) = m.get_mut(&r.key) else { continue };
            if let Some(slot) = r
                .seq
                .checked_sub(t.base)
                .and_then(|i| t.window.get_mut(i as usize))
            {
                slot.1 = true;
            }
            while let Some(&(end, true)) = t.window.front() {
                t.window.pop_front();
                t.base += 1;
                t.entry.offset = end;
                t.dirty = true;
            }
        }
    }

    /// Files whose committed state changed since the last call, stamped `now`.
    pub fn take_dirty(&self, now: i64) -> Vec<Entry> {
        let mut m = self.lock();
        m.values_mut()
            .filter(|t| t.dirty)
            .map(|t| {
                t.dirty = false;
                t.entry.updated = now;
                t.entry.clone()
            })
            .collect()
    }

    pub fn set_source(&self, key: &Arc<str>, source: &str) {
        if let Some(t) = self.lock().get_mut(key) {
            if t.entry.source != source {
                t.entry.source = source.to_string();
                t.dirty = true;
            }
        }
    }

    /// Events read but not yet acknowledged, over all files.
    /// Files being tracked (the registry's current states).
    pub fn files(&self) -> usize {
        self.lock().len()
    }

    pub fn in_flight(&self) -> usize {
        self.lock().values().map(|t| t.window.len()).sum()
    }

    /// Forgets a file (it is gone); true if nothing was in flight for it.
    pub fn forget(&self, key: &str) -> bool {
        let mut m = self.lock();
        match m.get(key) {
            Some(t) if !t.window.is_empty() => false,
            _ => {
                m.remove(key);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Kind;
    use crate::FileId;

    #[test]
    fn offset_moves_only_over_contiguous_acks() {
        let t = Tracker::default();
        let key = t.track(Entry {
            kind: Kind::Log,
            id: FileId { dev: 1, ino: 2 },
            source: "/a".into(),
            offset: 0,
            updated: 0,
            ttl: -1,
        });
        let a = t.register(&key, 10);
        let b = t.register(&key, 20);
        let c = t.register(&key, 30);
        t.ack(std::slice::from_ref(&b));
        assert!(t.take_dirty(1).is_empty());
        t.ack(&[a]);
        assert_eq!(t.take_dirty(1)[0].offset, 20);
        t.ack(&[c, b]);
        assert_eq!(t.take_dirty(2)[0].offset, 30);
        assert_eq!(t.in_flight(), 0);
    }
}
