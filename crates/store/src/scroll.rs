//! Scroll contexts: a search's remaining hits on the searchers it ran on (a point-in-time view:
//! later writes do not show), kept for their `scroll` keep-alive, renewed by each page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::index::{Hit, Index};

/// One remaining hit: its index, the searcher it came from, the hit.
pub type Pending = (Arc<Index>, Arc<tantivy::Searcher>, Hit);

pub struct Context {
    pub hits: std::collections::VecDeque<Pending>,
    pub total: usize,
    pub size: usize,
    /// The request, to shape each page as the first one.
    pub req: Value,
    pub expires: Instant,
}

#[derive(Default)]
pub struct Scrolls {
    map: Mutex<HashMap<String, Context>>,
}

/// Open scroll contexts at most; past it a new scroll is refused, as Elasticsearch's
/// `search.max_open_scroll_context` (500).
pub const MAX_OPEN: usize = 500;

impl Scrolls {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Context>> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        m.retain(|_, c| c.expires > now);
        m
    }

    /// Stores a context; None when too many are open.
    pub fn open(&self, ctx: Context) -> Option<String> {
        let mut m = self.lock();
        if m.len() >= MAX_OPEN {
            return None;
        }
        let id = crate::index::new_id();
        m.insert(id.clone(), ctx);
        Some(id)
    }

    /// Takes the next page of `id`, renewing its keep-alive.
    pub fn next(&self, id: &str, keep_alive: Duration) -> Option<(Vec<Pending>, usize, Value)> {
        let mut m = self.lock();
        let c = m.get_mut(id)?;
        c.expires = Instant::now() + keep_alive;
        let n = c.size.min(c.hits.len());
        let page: Vec<Pending> = c.hits.drain(..n).collect();
        Some((page, c.total, c.req.clone()))
    }

    pub fn clear(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    pub fn clear_all(&self) -> usize {
        let mut m = self.lock();
        let n = m.len();
        m.clear();
        n
    }
}
