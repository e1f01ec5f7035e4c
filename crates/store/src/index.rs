//! One Elasticsearch index: a tantivy index, its dynamic mapping, the id → version table, and a
//! write-ahead log. A bulk's operations are appended to the log and fsynced before the bulk is
//! answered; a refresh commits tantivy and then empties the log. On open, the log is replayed.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{AllQuery, Query};
use tantivy::schema::{
    Field, JsonObjectOptions, Schema, TextFieldIndexing, TextOptions, Value as _, FAST, INDEXED,
    STORED, STRING,
};
use tantivy::{IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::dsl;
use crate::mapping::{self, Mapping};

#[derive(Debug, thiserror::Error)]
pub enum EsError {
    #[error("{reason}")]
    Status {
        status: u16,
        kind: &'static str,
        reason: String,
    },
}

impl EsError {
    pub fn bad_request(kind: &'static str, reason: impl Into<String>) -> EsError {
        EsError::Status {
            status: 400,
            kind,
            reason: reason.into(),
        }
    }
    pub fn internal(reason: impl std::fmt::Display) -> EsError {
        EsError::Status {
            status: 500,
            kind: "exception",
            reason: reason.to_string(),
        }
    }
    pub fn not_found(kind: &'static str, reason: impl Into<String>) -> EsError {
        EsError::Status {
            status: 404,
            kind,
            reason: reason.into(),
        }
    }
    pub fn status(&self) -> u16 {
        match self {
            EsError::Status { status, .. } => *status,
        }
    }
    /// Elasticsearch's error body.
    pub fn body(&self, index: Option<&str>) -> Value {
        let EsError::Status {
            status,
            kind,
            reason,
        } = self;
        let mut cause = json!({"type": kind, "reason": reason});
        if let Some(i) = index {
            cause["index"] = json!(i);
        }
        json!({"error": {"root_cause": [cause.clone()], "type": kind, "reason": reason, "index": index}, "status": status})
    }
}

fn tv<E: std::fmt::Display>(e: E) -> EsError {
    EsError::internal(e)
}

#[derive(Debug, Clone)]
pub enum Op {
    Index {
        id: Option<String>,
        source: Value,
    },
    Create {
        id: Option<String>,
        source: Value,
    },
    Update {
        id: String,
        doc: Value,
        upsert: bool,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Clone)]
pub struct OpResult {
    pub id: String,
    pub status: u16,
    pub result: &'static str,
    pub version: u64,
    pub seq_no: u64,
    pub error: Option<(&'static str, String)>,
}

/// A search hit: score (NaN when sorted by field), source, id.
pub type Hit = (f32, Value, String);

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub source: Field,
    pub version: Field,
    pub text: Field,
    pub kw: Field,
}

struct State {
    versions: HashMap<String, u64>,
    /// Sources written since the last refresh: `GET _doc` and updates see them at once.
    pending: HashMap<String, Option<Value>>,
    seq_no: u64,
    mapping: Mapping,
    wal: File,
    dirty: bool,
}

pub struct Index {
    pub name: String,
    dir: PathBuf,
    tindex: tantivy::Index,
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    pub(crate) f: Fields,
    state: Mutex<State>,
    pub created: u64,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("_id", STRING | STORED);
    let source = b.add_text_field("_source", TextOptions::default().set_stored());
    let version = b.add_u64_field("_version", STORED | INDEXED | FAST);
    let text_opts = JsonObjectOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("default")
            .set_index_option(tantivy::schema::IndexRecordOption::WithFreqsAndPositions),
    );
    let text = b.add_json_field("text", text_opts);
    let kw_opts = JsonObjectOptions::default()
        .set_indexing_options(TextFieldIndexing::default().set_tokenizer("raw"))
        .set_fast("raw");
    let kw = b.add_json_field("kw", kw_opts);
    (
        b.build(),
        Fields {
            id,
            source,
            version,
            text,
            kw,
        },
    )
}

fn new_id() -> String {
    // Time-ordered 20-character ids, like Elasticsearch's auto ids in length and alphabet.
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut v =
        ((nanos as u128) << 64) | ((n as u128) << 16) | (std::process::id() as u128 & 0xffff);
    (0..20)
        .map(|_| {
            let c = ALPHABET[(v & 63) as usize] as char;
            v >>= 6;
            c
        })
        .collect()
}

impl Index {
    pub fn open(name: &str, dir: &Path) -> Result<Index, EsError> {
        std::fs::create_dir_all(dir.join("tantivy")).map_err(tv)?;
        let (schema, f) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir.join("tantivy")).map_err(tv)?;
        let tindex = tantivy::Index::open_or_create(mmap, schema).map_err(tv)?;
        // One indexing thread per index: the arena is reused across commits instead of faulting in
        // fresh pages for several threads every second (that page zeroing led the profile).
        let writer: IndexWriter = tindex.writer_with_num_threads(1, 32_000_000).map_err(tv)?;
        let reader = tindex
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv)?;
        let mapping: Mapping = std::fs::read(dir.join("mapping.json"))
            .ok()
            .and_then(|b| {
                serde_json::from_slice::<std::collections::BTreeMap<String, String>>(&b).ok()
            })
            .map(|m| m.into_iter().map(|(k, v)| (k, intern(&v))).collect())
            .unwrap_or_default();
        let created = std::fs::read_to_string(dir.join("created"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                let now = jiff::Timestamp::now().as_millisecond() as u64;
                let _ = std::fs::write(dir.join("created"), now.to_string());
                now
            });
        let wal_path = dir.join("wal.jsonl");
        let replay: Vec<Value> = File::open(&wal_path)
            .map(|f| {
                BufReader::new(f)
                    .lines()
                    .map_while(Result::ok)
                    .filter_map(|l| serde_json::from_str(&l).ok())
                    .collect()
            })
            .unwrap_or_default();
        let wal = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&wal_path)
            .map_err(tv)?;
        let idx = Index {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            tindex,
            writer: Mutex::new(writer),
            reader,
            f,
            state: Mutex::new(State {
                versions: HashMap::new(),
                pending: HashMap::new(),
                seq_no: 0,
                mapping,
                wal,
                dirty: false,
            }),
            created,
        };
        idx.load_versions()?;
        if !replay.is_empty() {
            tracing::info!(
                index = name,
                ops = replay.len(),
                "replaying the write-ahead log"
            );
            let mut st = idx.lock_state();
            for entry in replay {
                let op = match entry["a"].as_str() {
                    Some("delete") => Op::Delete {
                        id: entry["id"].as_str().unwrap_or_default().to_string(),
                    },
                    _ => Op::Index {
                        id: entry["id"].as_str().map(str::to_string),
                        source: entry["src"].clone(),
                    },
                };
                idx.apply(&mut st, op, false);
            }
            drop(st);
            idx.refresh()?;
        }
        Ok(idx)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_versions(&self) -> Result<(), EsError> {
        let searcher = self.reader.searcher();
        let docs = searcher.search(&AllQuery, &DocSetCollector).map_err(tv)?;
        let mut st = self.lock_state();
        for addr in docs {
            let d: TantivyDocument = searcher.doc(addr).map_err(tv)?;
            let id = d
                .get_first(self.f.id)
                .and_then(|v| v.as_str().map(str::to_string));
            let ver = d.get_first(self.f.version).and_then(|v| v.as_u64());
            if let Some(id) = id {
                st.versions.insert(id, ver.unwrap_or(1));
            }
        }
        st.seq_no = st.versions.len() as u64;
        Ok(())
    }

    pub fn mapping(&self) -> Value {
        mapping::to_json(&self.lock_state().mapping)
    }

    /// Applies a bulk's operations for this index, durably (the log is fsynced before returning).
    pub fn bulk(&self, ops: Vec<Op>) -> Result<Vec<OpResult>, EsError> {
        let mut st = self.lock_state();
        let results: Vec<OpResult> = ops
            .into_iter()
            .map(|op| self.apply(&mut st, op, true))
            .collect();
        st.wal.flush().map_err(tv)?;
        st.wal.sync_data().map_err(tv)?;
        Ok(results)
    }

    /// Appends one operation to the log; the caller answers with an error if it fails.
    fn wal_append(st: &mut State, action: &str, id: &str, src: Option<&str>) -> Result<(), String> {
        let id = serde_json::to_string(id).map_err(|e| e.to_string())?;
        let line = match src {
            Some(src) => format!("{{\"a\":\"{action}\",\"id\":{id},\"src\":{src}}}\n"),
            None => format!("{{\"a\":\"{action}\",\"id\":{id}}}\n"),
        };
        st.wal
            .write_all(line.as_bytes())
            .map_err(|e| format!("write-ahead log: {e}"))
    }

    fn exists(st: &State, id: &str) -> bool {
        match st.pending.get(id) {
            Some(p) => p.is_some(),
            None => st.versions.contains_key(id),
        }
    }

    fn apply(&self, st: &mut State, op: Op, log: bool) -> OpResult {
        match op {
            Op::Index { id, source } => self.write_doc(st, id, source, false, log),
            Op::Create { id, source } => self.write_doc(st, id, source, true, log),
            Op::Update { id, doc, upsert } => {
                let current = if Self::exists(st, &id) {
                    self.get_source_locked(st, &id)
                } else {
                    None
                };
                match (current, upsert) {
                    (Some(mut cur), _) => {
                        merge(&mut cur, doc);
                        let mut r = self.write_doc(st, Some(id), cur, false, log);
                        if r.error.is_none() {
                            r.result = "updated";
                        }
                        r
                    }
                    (None, true) => self.write_doc(st, Some(id), doc, false, log),
                    (None, false) => OpResult {
                        id: id.clone(),
                        status: 404,
                        result: "not_found",
                        version: 0,
                        seq_no: 0,
                        error: Some((
                            "document_missing_exception",
                            format!("[{id}]: document missing"),
                        )),
                    },
                }
            }
            Op::Delete { id } => {
                let found = Self::exists(st, &id);
                if log {
                    if let Err(e) = Self::wal_append(st, "delete", &id, None) {
                        return OpResult {
                            id,
                            status: 500,
                            result: "error",
                            version: 0,
                            seq_no: 0,
                            error: Some(("exception", e)),
                        };
                    }
                }
                if let Ok(w) = self.writer.lock() {
                    w.delete_term(Term::from_field_text(self.f.id, &id));
                }
                st.seq_no += 1;
                let version = st.versions.remove(&id).map(|v| v + 1).unwrap_or(1);
                st.pending.insert(id.clone(), None);
                st.dirty = true;
                OpResult {
                    id,
                    status: if found { 200 } else { 404 },
                    result: if found { "deleted" } else { "not_found" },
                    version,
                    seq_no: st.seq_no - 1,
                    error: None,
                }
            }
        }
    }

    fn write_doc(
        &self,
        st: &mut State,
        id: Option<String>,
        source: Value,
        create: bool,
        log: bool,
    ) -> OpResult {
        let id = id.unwrap_or_else(new_id);
        let fail = |status, kind, reason: String| OpResult {
            id: id.clone(),
            status,
            result: "error",
            version: 0,
            seq_no: 0,
            error: Some((kind, reason)),
        };
        let Some(obj) = source.as_object() else {
            return fail(
                400,
                "mapper_parsing_exception",
                "failed to parse: the document must be a JSON object".into(),
            );
        };
        let existed = Self::exists(st, &id);
        if create && existed {
            return fail(
                409,
                "version_conflict_engine_exception",
                format!(
                    "[{id}]: version conflict, document already exists (current version [{}])",
                    st.versions.get(&id).copied().unwrap_or(1)
                ),
            );
        }
        if mapping::learn(&mut st.mapping, "", obj) {
            let m: std::collections::BTreeMap<&String, &&str> = st.mapping.iter().collect();
            if let Ok(b) = serde_json::to_vec(&m) {
                let _ = std::fs::write(self.dir.join("mapping.json"), b);
            }
        }
        let version = st.versions.get(&id).copied().unwrap_or(0) + 1;
        let mut doc = TantivyDocument::default();
        doc.add_text(self.f.id, &id);
        // Serialised once: stored as `_source` and written to the log.
        let src_text = source.to_string();
        if log {
            if let Err(e) = Self::wal_append(st, "index", &id, Some(&src_text)) {
                return fail(500, "exception", e);
            }
        }
        doc.add_text(self.f.source, src_text);
        doc.add_u64(self.f.version, version);
        if let Some(v) = mapping::to_owned(&st.mapping, "", &source, false) {
            doc.add_field_value(self.f.text, &v);
        }
        if let Some(v) = mapping::to_owned(&st.mapping, "", &source, true) {
            doc.add_field_value(self.f.kw, &v);
        }
        let added = match self.writer.lock() {
            Ok(w) => {
                if existed {
                    w.delete_term(Term::from_field_text(self.f.id, &id));
                }
                w.add_document(doc).map_err(|e| e.to_string())
            }
            Err(_) => Err("index writer unavailable".into()),
        };
        if let Err(e) = added {
            return fail(500, "exception", e);
        }
        st.versions.insert(id.clone(), version);
        st.pending.insert(id.clone(), Some(source));
        st.seq_no += 1;
        st.dirty = true;
        OpResult {
            id,
            status: if existed { 200 } else { 201 },
            result: if existed { "updated" } else { "created" },
            version,
            seq_no: st.seq_no - 1,
            error: None,
        }
    }

    /// Commits and reopens the searcher; the log can then be emptied.
    pub fn refresh(&self) -> Result<(), EsError> {
        let mut st = self.lock_state();
        if !st.dirty {
            return Ok(());
        }
        self.writer
            .lock()
            .map_err(|_| EsError::internal("index writer unavailable"))?
            .commit()
            .map_err(tv)?;
        self.reader.reload().map_err(tv)?;
        st.wal.set_len(0).map_err(tv)?;
        st.wal.sync_data().map_err(tv)?;
        st.pending.clear();
        st.dirty = false;
        Ok(())
    }

    pub fn doc_count(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    pub fn store_size(&self) -> u64 {
        std::fs::read_dir(self.dir.join("tantivy"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    fn get_source_locked(&self, st: &State, id: &str) -> Option<Value> {
        if let Some(p) = st.pending.get(id) {
            return p.clone();
        }
        let searcher = self.reader.searcher();
        let q = tantivy::query::TermQuery::new(
            Term::from_field_text(self.f.id, id),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let top = searcher
            .search(&q, &TopDocs::with_limit(1).order_by_score())
            .ok()?;
        let (_, addr) = top.into_iter().next()?;
        let d: TantivyDocument = searcher.doc(addr).ok()?;
        serde_json::from_str(d.get_first(self.f.source)?.as_str()?).ok()
    }

    /// Real-time get, as Elasticsearch's: sees writes not yet refreshed.
    pub fn get(&self, id: &str) -> Option<(Value, u64)> {
        let st = self.lock_state();
        let v = *st.versions.get(id)?;
        self.get_source_locked(&st, id).map(|s| (s, v))
    }

    pub fn searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    pub fn tantivy(&self) -> &tantivy::Index {
        &self.tindex
    }

    pub fn with_mapping<R>(&self, f: impl FnOnce(&Mapping) -> R) -> R {
        f(&self.lock_state().mapping)
    }

    /// Matches of `query`: (total, hits as (score, source, id)) for `from`/`size`, optionally sorted.
    pub fn search(
        &self,
        query: &Value,
        from: usize,
        size: usize,
        sort: &[(String, bool)],
    ) -> Result<(usize, Vec<Hit>), EsError> {
        let q: Box<dyn Query> = self.with_mapping(|m| dsl::build(self, m, query))?;
        let searcher = self.reader.searcher();
        let load = |addr| -> Option<(Value, String)> {
            let d: TantivyDocument = searcher.doc(addr).ok()?;
            let src = serde_json::from_str(d.get_first(self.f.source)?.as_str()?).ok()?;
            let id = d.get_first(self.f.id)?.as_str()?.to_string();
            Some((src, id))
        };
        // No more hits than documents: the collector allocates its whole limit up front.
        let limit = from
            .saturating_add(size)
            .min(usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX));
        if limit == 0 {
            return Ok((searcher.search(&q, &Count).map_err(tv)?, Vec::new()));
        }
        if sort.is_empty() {
            let (top, total) = searcher
                .search(&q, &(TopDocs::with_limit(limit).order_by_score(), Count))
                .map_err(tv)?;
            let hits = top
                .into_iter()
                .skip(from)
                .filter_map(|(score, addr)| load(addr).map(|(s, id)| (score, s, id)))
                .collect();
            return Ok((total, hits));
        }
        // Sorting: every match is loaded and ordered by its source values (fine at log-index sizes).
        let all = searcher.search(&q, &DocSetCollector).map_err(tv)?;
        let total = all.len();
        let mut docs: Vec<(Value, String)> = all.into_iter().filter_map(load).collect();
        docs.sort_by(|a, b| {
            for (field, desc) in sort {
                let o = cmp_json(lookup(&a.0, field), lookup(&b.0, field));
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
        Ok((
            total,
            docs.into_iter()
                .skip(from)
                .take(size)
                .map(|(s, id)| (f32::NAN, s, id))
                .collect(),
        ))
    }
}

fn intern(s: &str) -> &'static str {
    match s {
        "text" => "text",
        "long" => "long",
        "float" => "float",
        "boolean" => "boolean",
        "date" => "date",
        "keyword" => "keyword",
        _ => "object",
    }
}

/// `update` with `doc`: objects merge recursively, everything else replaces.
fn merge(target: &mut Value, doc: Value) {
    match (target, doc) {
        (Value::Object(t), Value::Object(d)) => {
            for (k, v) in d {
                match t.get_mut(&k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        t.insert(k, v);
                    }
                }
            }
        }
        (t, d) => *t = d,
    }
}

/// A dotted path into a source document (`http.response.status_code`, or a key with dots).
pub fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let path = path.strip_suffix(".keyword").unwrap_or(path);
    if let Some(x) = v.get(path) {
        return Some(x);
    }
    let (head, rest) = path.split_once('.')?;
    lookup(v.get(head)?, rest)
}

pub(crate) fn cmp_json(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (None, None) => Equal,
        // Missing values sort last, as Elasticsearch's default `missing: _last`.
        (None, _) => Greater,
        (_, None) => Less,
        (Some(Value::Number(x)), Some(Value::Number(y))) => {
            x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Equal)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => {
            match (mapping::parse_date(x), mapping::parse_date(y)) {
                (Some(dx), Some(dy)) => dx.cmp(&dy),
                _ => x.cmp(y),
            }
        }
        (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
    }
}
