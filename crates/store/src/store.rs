//! The node: the set of indices under `path.data`, name resolution (`server1-*`, `a,b`, `_all`),
//! the bulk path (disk block, memory back-pressure, one fsync for all waiting bulks), and the
//! engine thread (background refresh, memory budget, checkpoints, retention).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::engine::{Engine, Options};
use crate::index::{EsError, Index, Op, OpResult, Record};
use crate::mapping::Mapping;
use crate::templates::Templates;
use crate::wal::Wal;

pub struct Store {
    dir: PathBuf,
    indices: RwLock<BTreeMap<String, Arc<Index>>>,
    pub engine: Arc<Engine>,
    pub templates: Templates,
    pub scrolls: crate::scroll::Scrolls,
    /// `PUT _cluster/settings` (`persistent`, `transient`), kept in memory.
    pub cluster_settings: std::sync::Mutex<serde_json::Value>,
    stopping: AtomicBool,
}

fn valid_name(name: &str) -> Result<(), EsError> {
    let bad = name.is_empty()
        || name.starts_with(['_', '-', '+'])
        || name != name.to_lowercase()
        || name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
        || name == "."
        || name == ".."
        || name.len() > 255;
    if bad {
        return Err(EsError::bad_request(
            "invalid_index_name_exception",
            format!("Invalid index name [{name}]"),
        ));
    }
    Ok(())
}

pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, rest)) => {
            name.starts_with(pre) && {
                let tail = &name[pre.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && wildcard(rest, &tail[i..]))
            }
        }
    }
}

impl Store {
    /// Opens the node's indices and replays the write-ahead log into them.
    pub fn open(dir: &Path, opts: Options) -> Result<Store, EsError> {
        let root = dir.join("indices");
        std::fs::create_dir_all(&root).map_err(EsError::internal)?;
        let wal = Wal::open(&dir.join("wal")).map_err(EsError::internal)?;
        let engine = Arc::new(Engine::new(wal, opts, dir.to_path_buf()));
        let mut indices = BTreeMap::new();
        for entry in std::fs::read_dir(&root)
            .map_err(EsError::internal)?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("tantivy").is_dir() {
                let idx = Index::open(&name, &entry.path(), engine.clone())?;
                indices.insert(name.clone(), Arc::new(idx));
            }
        }
        let store = Store {
            templates: Templates::open(dir),
            scrolls: Default::default(),
            cluster_settings: std::sync::Mutex::new(
                serde_json::json!({"persistent": {}, "transient": {}}),
            ),
            dir: dir.to_path_buf(),
            indices: RwLock::new(indices),
            engine,
            stopping: AtomicBool::new(false),
        };
        store.replay()?;
        Ok(store)
    }

    fn replay(&self) -> Result<(), EsError> {
        let indices = self
            .indices
            .read()
            .map_err(|_| EsError::internal("index table poisoned"))?
            .clone();
        let mut n = 0u64;
        let mut err = None;
        self.engine
            .wal
            .read_from(
                0,
                &mut |pos, payload| match serde_json::from_slice::<Record>(payload) {
                    Ok(rec) => {
                        if let Some(idx) = indices.get(&rec.i).filter(|i| pos > i.committed()) {
                            idx.replay(pos, rec);
                            n += 1;
                            if n.is_multiple_of(1024) && self.engine.under_pressure() {
                                err = self.relieve().err().or(err.take());
                            }
                        }
                    }
                    Err(e) => tracing::warn!(
                        position = pos,
                        "write-ahead log: an unreadable record is skipped: {e}"
                    ),
                },
            )
            .map_err(EsError::internal)?;
        if n > 0 {
            tracing::info!(operations = n, "replayed the write-ahead log");
        }
        match err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indices.read().ok()?.get(name).cloned()
    }

    pub fn get_or_create(&self, name: &str) -> Result<Arc<Index>, EsError> {
        if let Some(i) = self.get(name) {
            return Ok(i);
        }
        self.create_with(name, &serde_json::Value::Null)
            .or_else(|e| self.get(name).ok_or(e))
    }

    /// The index a write to `name` goes to: the index, an alias's write index (or its only
    /// index), or a new index (auto-created, from templates).
    pub fn write_target(&self, name: &str) -> Result<Arc<Index>, EsError> {
        if let Some(i) = self.get(name) {
            return Ok(i);
        }
        let via: Vec<Arc<Index>> = self
            .all()
            .into_iter()
            .filter(|i| i.meta().aliases.contains_key(name))
            .collect();
        match via.len() {
            0 => self.get_or_create(name),
            1 => Ok(via[0].clone()),
            _ => via
                .iter()
                .find(|i| i.meta().aliases.get(name).and_then(|a| a.get("is_write_index")) == Some(&serde_json::json!(true)))
                .cloned()
                .ok_or_else(|| EsError::bad_request(
                    "illegal_argument_exception",
                    format!("no write index is defined for alias [{name}]. The write index may be explicitly disabled using is_write_index=false or the alias points to multiple indices without one being designated as a write index"),
                )),
        }
    }

    /// Creates an index from its templates and the request body (`settings`, `mappings`,
    /// `aliases`), all validated before anything is created.
    pub fn create_with(&self, name: &str, body: &serde_json::Value) -> Result<Arc<Index>, EsError> {
        use serde_json::{Map, Value};
        valid_name(name)?;
        if let Some(Value::Object(b)) = Some(body) {
            if let Some(k) = b
                .keys()
                .find(|k| !matches!(k.as_str(), "settings" | "mappings" | "aliases"))
            {
                return Err(EsError::bad_request(
                    "parsing_exception",
                    format!("unknown key [{k}] for create index"),
                ));
            }
        }
        let applied = self.templates.apply(name);
        let mut mapping = Mapping::new();
        for m in &applied.mappings {
            mapping.merge(m)?;
        }
        if let Some(m) = body.get("mappings") {
            mapping.merge(m)?;
        }
        let mut settings: Map<String, Value> = applied.settings;
        if let Some(s) = body.get("settings") {
            crate::index::parse_settings(s)?;
            settings.extend(crate::index::flatten(s));
        }
        let settings = Value::Object(settings);
        crate::index::parse_settings(&settings)?;
        let mut aliases = applied.aliases;
        if let Some(Value::Object(a)) = body.get("aliases") {
            for (k, v) in a {
                aliases.insert(k.clone(), crate::index::alias_def(v));
            }
        }
        let idx = self.create(name)?;
        idx.put_mapping(&mapping.to_json())?;
        idx.update_settings(&settings)?;
        for (k, v) in aliases {
            idx.set_alias(&k, v)?;
        }
        Ok(idx)
    }

    fn create(&self, name: &str) -> Result<Arc<Index>, EsError> {
        let mut map = self
            .indices
            .write()
            .map_err(|_| EsError::internal("index table poisoned"))?;
        if map.contains_key(name) {
            return Err(EsError::bad_request(
                "resource_already_exists_exception",
                format!("index [{name}] already exists"),
            ));
        }
        let idx = Arc::new(Index::open(
            name,
            &self.dir.join("indices").join(name),
            self.engine.clone(),
        )?);
        map.insert(name.to_string(), idx.clone());
        Ok(idx)
    }

    /// Deletes an index and its files at once; the log's share of it goes at the next checkpoint.
    pub fn delete(&self, name: &str) -> Result<(), EsError> {
        let idx = {
            let mut map = self
                .indices
                .write()
                .map_err(|_| EsError::internal("index table poisoned"))?;
            map.remove(name).ok_or_else(|| {
                EsError::not_found(
                    "index_not_found_exception",
                    format!("no such index [{name}]"),
                )
            })?
        };
        idx.discard();
        drop(idx);
        self.engine.checkpoint_wanted.store(true, Ordering::Release);
        std::fs::remove_dir_all(self.dir.join("indices").join(name)).map_err(EsError::internal)
    }

    /// Takes a bulk's operations grouped by index; answers once they are all durable. With the
    /// disk past its flood stage, every operation is refused with Elasticsearch's 429.
    pub fn bulk(&self, groups: Vec<(Arc<Index>, Vec<Op>)>) -> Result<Vec<Vec<OpResult>>, EsError> {
        if self.engine.disk_blocked() {
            return Ok(groups
                .into_iter()
                .map(|(idx, ops)| {
                    let reason = format!("index [{}] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, index has read-only-allow-delete block];", idx.name);
                    ops.into_iter()
                        .map(|op| OpResult {
                            id: op.id().unwrap_or_default().to_string(),
                            status: 429,
                            result: "error",
                            version: 0,
                            seq_no: 0,
                            error: Some(("cluster_block_exception", reason.clone())),
                        })
                        .collect()
                })
                .collect());
        }
        self.engine.wait_for_room(Duration::from_secs(30));
        let mut end = 0;
        let mut out = Vec::with_capacity(groups.len());
        for (idx, ops) in groups {
            let (rs, e) = idx.bulk(ops)?;
            end = end.max(e);
            out.push(rs);
        }
        if end > 0 {
            if let Err(e) = self.engine.wal.sync(end) {
                return Err(EsError::internal(format!("write-ahead log: {e}")));
            }
        }
        Ok(out)
    }

    /// Indices matching a comma-separated list of names and wildcards; a missing concrete name is
    /// an error, a wildcard that matches nothing is not.
    pub fn resolve(&self, expr: &str) -> Result<Vec<Arc<Index>>, EsError> {
        let map = self
            .indices
            .read()
            .map_err(|_| EsError::internal("index table poisoned"))?;
        let mut out: Vec<Arc<Index>> = Vec::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "_all" || part == "*" {
                out.extend(map.values().cloned());
            } else if part.contains('*') {
                out.extend(
                    map.iter()
                        .filter(|(n, i)| {
                            wildcard(part, n) || i.meta().aliases.keys().any(|a| wildcard(part, a))
                        })
                        .map(|(_, i)| i.clone()),
                );
            } else {
                match map.get(part) {
                    Some(i) => out.push(i.clone()),
                    None => {
                        let via_alias: Vec<Arc<Index>> = map
                            .values()
                            .filter(|i| i.meta().aliases.contains_key(part))
                            .cloned()
                            .collect();
                        if via_alias.is_empty() {
                            return Err(EsError::not_found(
                                "index_not_found_exception",
                                format!("no such index [{part}]"),
                            ));
                        }
                        out.extend(via_alias);
                    }
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    /// `resolve` with Elasticsearch's index options: `ignore_unavailable` (skip missing names),
    /// `allow_no_indices=false` (nothing matched is a 404), `expand_wildcards`
    /// (`open`, the default, `closed`, `all`: which indices a wildcard reaches).
    pub fn resolve_opts(
        &self,
        expr: &str,
        p: &std::collections::HashMap<String, String>,
    ) -> Result<Vec<Arc<Index>>, EsError> {
        let ignore = p
            .get("ignore_unavailable")
            .is_some_and(|v| v == "true" || v.is_empty());
        let expand = p.get("expand_wildcards").map_or("open", String::as_str);
        let (open, closed) = match expand {
            "all" => (true, true),
            "closed" => (false, true),
            "none" => (false, false),
            x if x.contains("open") && x.contains("closed") => (true, true),
            _ => (true, false),
        };
        let mut out = Vec::new();
        for part in expr.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            let wild = part == "_all" || part.contains('*');
            match self.resolve(part) {
                Ok(v) => out.extend(
                    v.into_iter()
                        .filter(|i| !wild || if i.is_closed() { closed } else { open }),
                ),
                Err(_) if ignore => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        if out.is_empty() && p.get("allow_no_indices").is_some_and(|v| v == "false") {
            return Err(EsError::not_found(
                "index_not_found_exception",
                format!("no such index [{expr}]"),
            ));
        }
        Ok(out)
    }

    /// `resolve`, for a read: indices that skipped background refreshes catch up first.
    pub fn resolve_for_read(&self, expr: &str) -> Result<Vec<Arc<Index>>, EsError> {
        let indices = self.resolve(expr)?;
        Index::before_read_all(&indices)?;
        Ok(indices)
    }

    pub fn all(&self) -> Vec<Arc<Index>> {
        self.indices
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn refresh_all(&self) {
        for i in self.all() {
            if let Err(e) = i.refresh() {
                tracing::error!(index = %i.name, "refresh failed: {e}");
            }
        }
    }

    /// Flushes the indices holding the most memory until the budget has room again.
    fn relieve(&self) -> Result<(), EsError> {
        let mut rounds = 0;
        while self.engine.under_pressure() && rounds < 64 {
            rounds += 1;
            let Some(biggest) = self.all().into_iter().max_by_key(|i| i.held_bytes()) else {
                break;
            };
            if biggest.held_bytes() == 0 {
                break;
            }
            biggest.refresh()?;
        }
        Ok(())
    }

    /// Commits every index and drops the log segments they no longer need.
    pub fn checkpoint(&self) -> Result<(), EsError> {
        let cut = self.engine.wal.rotate().map_err(EsError::internal)?;
        for i in self.all() {
            if i.committed() < cut {
                i.refresh()?;
            }
        }
        self.engine
            .wal
            .remove_before(cut)
            .map_err(EsError::internal)
    }

    /// One round of the engine thread's work; `now` in milliseconds.
    fn tick(&self, now: u64, idle_writer: Duration) {
        let report = |i: &Index, what: &str, e: EsError| tracing::error!(index = %i.name, "{what} failed: {e}");
        for i in self.all() {
            if i.refresh_due(now) {
                if let Err(e) = i.refresh() {
                    report(&i, "refresh", e);
                }
            } else if let Err(e) = i.tend_writer(idle_writer) {
                report(&i, "indexing", e);
            }
        }
        if now % 2000 < 100 {
            tracing::debug!(
                writers = crate::index::LIVE_WRITERS.load(Ordering::Relaxed),
                held_bytes = self.engine.used(),
                "indexing memory"
            );
        }
        if let Err(e) = self.relieve() {
            tracing::error!("flushing to free indexing memory failed: {e}");
        }
        for i in self.engine.excess() {
            i.evict();
        }
        let wanted = self.engine.checkpoint_wanted.swap(false, Ordering::AcqRel);
        if wanted || self.engine.wal.size() > self.engine.opts.flush_threshold {
            if let Err(e) = self.checkpoint() {
                tracing::error!("checkpoint failed (the write-ahead log is kept): {e}");
            }
        }
    }

    /// The engine thread: background refresh, memory budget, checkpoints, retention. Returns when
    /// `shutdown` is called.
    pub fn run_engine(&self, retention: Option<crate::retention::Retention>) {
        let mut last_retention: Option<Instant> = None;
        while !self.stopping.load(Ordering::Acquire) {
            std::thread::sleep(Duration::from_millis(100));
            let now = jiff::Timestamp::now().as_millisecond().max(0) as u64;
            self.tick(now, Duration::from_secs(30));
            if let Some(r) = &retention {
                if last_retention.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                    last_retention = Some(Instant::now());
                    for name in r.expired(
                        self.all().iter().map(|i| i.name.as_str()),
                        jiff::Timestamp::now(),
                    ) {
                        tracing::info!(index = %name, days = r.days, "deleting an index past its retention");
                        if let Err(e) = self.delete(&name) {
                            tracing::error!(index = %name, "retention: deleting failed: {e}");
                        }
                    }
                }
            }
        }
    }

    /// Stops the engine thread and commits everything, so a restart replays nothing.
    pub fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        if let Err(e) = self.checkpoint() {
            tracing::error!(
                "final checkpoint failed (the write-ahead log is kept and replays at start): {e}"
            );
        }
        for i in self.all() {
            if let Err(e) = i.close_writer() {
                tracing::error!(index = %i.name, "closing failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(wildcard("server1-*", "server1-2024.05.01"));
        assert!(!wildcard("server1-*", "server2-2024.05.01"));
        assert!(wildcard("*-2024.*", "a-2024.05"));
        assert!(valid_name("weblogs-2024.05.01").is_ok());
        assert!(valid_name("Upper").is_err());
        assert!(valid_name("_x").is_err());
    }
}
