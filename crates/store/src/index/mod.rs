//! One Elasticsearch index: a tantivy index, its dynamic mapping, the writes it holds but has not
//! committed yet, and (while it is being written) a tantivy writer lent by the engine.
//!
//! A bulk's operations are logged to the node's write-ahead log and queued here; the writer takes
//! the queue; a refresh commits, recording in the commit the log position it covers, and reloads
//! the reader. Versions come from what is pending or from the committed `_version`, so memory
//! does not grow with the number of documents, and auto-generated ids need no lookup at all.

mod doc;
mod meta;
mod read;
mod upgrade;
mod write;
mod writer;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tantivy::schema::{
    Field, JsonObjectOptions, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STORED, STRING,
};
use tantivy::{IndexReader, ReloadPolicy};

use crate::engine::Engine;
use crate::error::tv;
pub use crate::error::EsError;
use crate::mapping::Mapping;
pub use meta::{alias_def, flatten, flatten_plain, nest as nest_settings, Meta};
pub use read::{cmp_sort, Hit, Search, SortKey};
pub(crate) use write::build_doc;
pub use write::{new_id, Cond, Op, OpResult, Record};
use writer::Writer;
pub use writer::LIVE_WRITERS;

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub id: Field,
    pub source: Field,
    pub version: Field,
    /// Indices created before sequence numbers were stored lack it.
    pub seq_no: Option<Field>,
    pub text: Field,
    pub kw: Field,
}

/// A write the index holds but has not committed: what `GET _doc` and version checks see.
struct Pending {
    pos: u64,
    version: u64,
    seq_no: u64,
    /// `None`: deleted.
    src: Option<Arc<str>>,
}

enum Queued {
    /// A document built on the request's thread: its index had a writer taking the queue.
    Add(doc::Doc),
    /// A document of an index without a writer, kept as its source and built when a writer
    /// takes it. A built document holds about five times its source, and how much waits decides
    /// how small the segments of a backfill over many cold indices are. Built with the mapping
    /// of that moment: dynamic mapping only adds fields of the documents that have them, which
    /// does not change how an earlier one builds; an explicit mapping change builds the waiting
    /// ones first (`put_mapping`).
    Source {
        id: String,
        src: Arc<str>,
        version: u64,
        seq_no: u64,
    },
    Delete(String),
}

struct State {
    pending: HashMap<String, Pending>,
    /// Operations waiting for a writer, in order.
    queue: Vec<Queued>,
    queue_bytes: usize,
    pending_bytes: usize,
    /// Log position of the last operation taken in.
    last_pos: u64,
    seq_no: u64,
    mapping: Arc<Mapping>,
    /// Explicit mapping changes so far: a bulk validated before one builds its documents at
    /// once instead of queueing their sources.
    mapping_epoch: u64,
}

/// Index settings rstore honours; the rest are accepted and ignored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// `index.refresh_interval`: None = the node default with search-idle skipping, Some(None) =
    /// `-1` (no background refresh), Some(Some(d)) = every d.
    pub refresh_interval: Option<Option<Duration>>,
    /// `index.max_result_window`: the most `from + size` a search may ask for.
    pub max_result_window: usize,
    /// `index.mapping.total_fields.limit`: the most fields (objects and multi-fields included)
    /// the mapping may grow to, so a document with ever-new keys cannot explode it.
    pub total_fields_limit: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            refresh_interval: None,
            max_result_window: 10_000,
            total_fields_limit: 1000,
        }
    }
}

impl Settings {
    /// `refresh_interval` as Elasticsearch writes it (`-1`, `500ms`), when set.
    pub fn refresh_interval_text(&self) -> Option<String> {
        self.refresh_interval.map(|ri| match ri {
            None => "-1".to_string(),
            Some(d) => format!("{}ms", d.as_millis()),
        })
    }
}

pub struct Index {
    pub name: String,
    dir: PathBuf,
    tindex: tantivy::Index,
    reader: IndexReader,
    pub(crate) f: Fields,
    state: Mutex<State>,
    writer: Mutex<Option<Writer>>,
    engine: Arc<Engine>,
    /// Log position up to which everything of this index is committed and searchable.
    committed: AtomicU64,
    last_read: AtomicU64,
    last_refresh: AtomicU64,
    settings: Mutex<Settings>,
    meta: Mutex<Meta>,
    pub created: u64,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("_id", STRING | STORED);
    let source = b.add_text_field("_source", TextOptions::default().set_stored());
    let version = b.add_u64_field("_version", STORED | INDEXED | FAST);
    let seq_no = b.add_u64_field("_seq_no", STORED | FAST);
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
            seq_no: Some(seq_no),
            text,
            kw,
        },
    )
}

/// The next sequence number of an index: past the highest its segments hold (deleted documents
/// included; indices from before sequence numbers count their documents).
fn next_seq_no(searcher: &tantivy::Searcher) -> u64 {
    searcher
        .segment_readers()
        .iter()
        .filter_map(|r| r.fast_fields().u64("_seq_no").ok())
        .map(|c| c.max_value() + 1)
        .max()
        .unwrap_or(0)
        .max(searcher.num_docs())
}

/// The fields of a new index's schema.
pub(crate) fn fields() -> Fields {
    schema().1
}

fn now_ms() -> u64 {
    jiff::Timestamp::now().as_millisecond().max(0) as u64
}

impl Index {
    pub fn open(name: &str, dir: &Path, engine: Arc<Engine>) -> Result<Index, EsError> {
        let mapping: Mapping = std::fs::read(dir.join("mapping.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|v| Mapping::load(&v))
            .unwrap_or_default();
        upgrade::upgrade_if_needed(name, dir, &mapping)?;
        std::fs::create_dir_all(dir.join("tantivy")).map_err(tv)?;
        let (schema, f) = schema();
        let mmap = tantivy::directory::MmapDirectory::open(dir.join("tantivy")).map_err(tv)?;
        let fresh = !tantivy::Index::exists(&mmap).map_err(tv)?;
        // An existing index keeps the schema it was made with.
        let (tindex, f) = if fresh {
            let t = tantivy::Index::create(mmap, schema, Default::default()).map_err(tv)?;
            upgrade::mark(&dir.join("tantivy"))?;
            (t, f)
        } else {
            let t = tantivy::Index::open(mmap).map_err(tv)?;
            let s = t.schema();
            let field = |n: &str| s.get_field(n).map_err(tv);
            let f = Fields {
                id: field("_id")?,
                source: field("_source")?,
                version: field("_version")?,
                seq_no: s.get_field("_seq_no").ok(),
                text: field("text")?,
                kw: field("kw")?,
            };
            (t, f)
        };
        let mut tindex = tindex;
        // The indexing thread compresses the stored sources itself: a compressor thread per
        // writer woke for every 16 KB block (two context switches each on two shared cores).
        tindex.settings_mut().docstore_compress_dedicated_thread = false;
        // Records the log holds from before this index existed (an index of the same name,
        // deleted) are not its own: the log position at creation bounds the replay.
        let start_file = dir.join("log_start");
        if fresh {
            std::fs::write(&start_file, engine.wal.end().to_string()).map_err(tv)?;
        }
        let born: u64 = std::fs::read_to_string(&start_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let committed = tindex
            .load_metas()
            .map_err(tv)?
            .payload
            .and_then(|p| p.parse().ok())
            .unwrap_or(0u64)
            .max(born);
        let reader = tindex
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(tv)?;
        // `meta.json`; indices from before it kept only `settings.json`.
        let meta: Meta = std::fs::read(dir.join("meta.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .or_else(|| {
                let b = std::fs::read(dir.join("settings.json")).ok()?;
                let v: Value = serde_json::from_slice(&b).ok()?;
                Some(Meta {
                    settings: flatten(&v)
                        .into_iter()
                        .filter(|(_, v)| !v.is_null())
                        .collect(),
                    ..Meta::default()
                })
            })
            .unwrap_or_default();
        let settings = parse_settings(&Value::Object(meta.settings.clone().into_iter().collect()))
            .unwrap_or_default();
        let created = std::fs::read_to_string(dir.join("created"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| {
                let now = now_ms();
                let _ = std::fs::write(dir.join("created"), now.to_string());
                now
            });
        // The next sequence number: past the highest committed one (or a rebuilt index's floor).
        let seq_no = next_seq_no(&reader.searcher()).max(
            std::fs::read_to_string(dir.join("tantivy").join(upgrade::SEQ_FLOOR))
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
        );
        let idx = Index {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            tindex,
            reader,
            f,
            state: Mutex::new(State {
                pending: HashMap::new(),
                queue: Vec::new(),
                queue_bytes: 0,
                pending_bytes: 0,
                last_pos: committed,
                seq_no,
                mapping: Arc::new(mapping),
                mapping_epoch: 0,
            }),
            writer: Mutex::new(None),
            engine,
            committed: AtomicU64::new(committed),
            last_read: AtomicU64::new(0),
            last_refresh: AtomicU64::new(now_ms()),
            settings: Mutex::new(settings),
            meta: Mutex::new(meta),
            created,
        };
        idx.replay_legacy_log()?;
        Ok(idx)
    }

    /// Before the node-wide log, each index had its own `wal.jsonl`; its operations are taken in
    /// (and logged anew) so an upgrade loses nothing.
    fn replay_legacy_log(&self) -> Result<(), EsError> {
        let path = self.dir.join("wal.jsonl");
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(());
        };
        let entries: Vec<Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect();
        let ops: Vec<Op> = entries
            .iter()
            .map(|e| match e["a"].as_str() {
                Some("delete") => Op::Delete {
                    id: e["id"].as_str().unwrap_or_default().to_string(),
                },
                _ => Op::Index {
                    id: e["id"].as_str().map(str::to_string),
                    source: crate::json::Json::from(&e["src"]),
                    raw: None,
                },
            })
            .collect();
        if !ops.is_empty() {
            tracing::info!(index = %self.name, ops = ops.len(), "taking in the operations of the old per-index log");
            let (_, end) = self.bulk(ops)?;
            self.engine.wal.sync(end).map_err(tv)?;
        }
        std::fs::remove_file(&path).map_err(tv)
    }

    fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Option<Writer>> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn mapping(&self) -> Value {
        self.lock_state().mapping.to_json()
    }

    /// Merges a `mappings` body (`PUT /{index}/_mapping`, a template at creation).
    pub fn put_mapping(&self, body: &Value) -> Result<(), EsError> {
        let mut st = self.lock_state();
        let mut m = (*st.mapping).clone();
        m.merge(body)?;
        m.check_total_fields(self.settings().total_fields_limit, None)?;
        self.build_waiting(&mut st);
        st.mapping_epoch += 1;
        st.mapping = Arc::new(m);
        self.save_mapping(&st.mapping);
        Ok(())
    }

    fn save_mapping(&self, m: &Mapping) {
        if let Err(e) = std::fs::write(self.dir.join("mapping.json"), m.to_json().to_string()) {
            tracing::warn!(index = %self.name, "cannot save the mapping: {e}");
        }
    }

    pub fn settings(&self) -> Settings {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Log position up to which this index has committed everything.
    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
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

    pub fn searcher(&self) -> tantivy::Searcher {
        self.reader.searcher()
    }

    pub fn tantivy(&self) -> &tantivy::Index {
        &self.tindex
    }

    pub fn with_mapping<R>(&self, f: impl FnOnce(&Mapping) -> R) -> R {
        let m = self.lock_state().mapping.clone();
        f(&m)
    }
}

/// The settings rstore acts on, from a settings body (`{"index": {...}}`, flat or dotted keys).
pub fn parse_settings(body: &Value) -> Result<Settings, EsError> {
    let flat = flatten(body.get("settings").unwrap_or(body));
    let count = |key: &str, default: usize| -> Result<usize, EsError> {
        match flat.get(key) {
            None | Some(Value::Null) => Ok(default),
            Some(v) => v
                .as_str()
                .and_then(|t| t.parse::<usize>().ok())
                .ok_or_else(|| {
                    EsError::bad_request(
                        "illegal_argument_exception",
                        format!(
                            "Failed to parse value [{}] for setting [{key}]",
                            v.as_str().unwrap_or_default()
                        ),
                    )
                }),
        }
    };
    let max_result_window = count("index.max_result_window", 10_000)?;
    let total_fields_limit = count("index.mapping.total_fields.limit", 1000)?;
    for (k, v) in [
        ("index.number_of_shards", 1),
        ("index.number_of_replicas", 0),
    ] {
        if let Some(t) = flat.get(k).and_then(Value::as_str) {
            if t.parse::<i64>().map_or(true, |n| n < v) {
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!("Failed to parse value [{t}] for setting [{k}] must be >= {v}"),
                ));
            }
        }
    }
    let ri = flat.get("index.refresh_interval");
    let refresh_interval = match ri {
        None | Some(Value::Null) => None,
        Some(v) => {
            let text = match v {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            if text.trim() == "-1" {
                Some(None)
            } else {
                Some(Some(parse_duration(&text).ok_or_else(|| {
                    EsError::bad_request(
                        "illegal_argument_exception",
                        format!("failed to parse setting [index.refresh_interval] with value [{text}] as a time value: unit is missing or unrecognized"),
                    )
                })?))
            }
        }
    };
    Ok(Settings {
        refresh_interval,
        max_result_window,
        total_fields_limit,
    })
}

/// Elasticsearch time values: `500ms`, `1s`, `2m`, `1h`, `1d`.
pub fn parse_duration(t: &str) -> Option<Duration> {
    let t = t.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit {
        "nanos" => return Some(Duration::from_nanos(n)),
        "micros" => return Some(Duration::from_micros(n)),
        "ms" => n,
        "s" => n * 1000,
        "m" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
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
