//! The write path: a bulk's operations validated, documents built outside the lock, logged to
//! the node's write-ahead log, then queued for the writer in log order.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tantivy::Term;

use super::doc::Doc;
use crate::view::Views;

use super::writer::Writer;
use super::{Fields, Index, Pending, Queued, State};
use crate::error::EsError;
use crate::json::Json;
use crate::mapping::Mapping;

#[derive(Debug, Clone)]
pub enum Op<'a> {
    /// `raw`: the source's text as the client sent it, kept as `_source`, which `source` was
    /// parsed from: its strings are indexed as ranges of the kept copy (see `build_doc`).
    Index {
        id: Option<String>,
        source: Json<'a>,
        raw: Option<&'a str>,
    },
    Create {
        id: Option<String>,
        source: Json<'a>,
        raw: Option<&'a str>,
    },
    /// A partial document merged into the current one; `upsert` is indexed when there is none.
    /// With `detect_noop`, a merge that changes nothing writes nothing (result `noop`).
    Update {
        id: String,
        doc: Value,
        upsert: Option<Value>,
        detect_noop: bool,
    },
    Delete {
        id: String,
    },
    /// A write under a condition on the document's current version or sequence number.
    Cond {
        op: Box<Op<'a>>,
        cond: Cond,
    },
}

/// `version_type=external` (`gte`: `external_gte`): the write carries its own version, which
/// must be above (or at least) the current one. `if_seq_no` + `if_primary_term`: the document
/// must be at that sequence number (optimistic concurrency control).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cond {
    External { version: u64, gte: bool },
    SeqNo { seq_no: u64, primary_term: u64 },
}

impl Op<'_> {
    pub fn id(&self) -> Option<&str> {
        match self {
            Op::Index { id, .. } | Op::Create { id, .. } => id.as_deref(),
            Op::Update { id, .. } | Op::Delete { id } => Some(id),
            Op::Cond { op, .. } => op.id(),
        }
    }
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

/// A write-ahead log record: one index or delete operation of one index.
#[derive(serde::Deserialize)]
pub struct Record {
    pub i: String,
    pub a: String,
    pub id: String,
    #[serde(default)]
    pub v: u64,
    #[serde(default)]
    pub auto: bool,
    /// The sequence number the operation was given (absent in older logs).
    #[serde(default)]
    pub s: Option<u64>,
    #[serde(default)]
    pub src: Option<Box<serde_json::value::RawValue>>,
}

/// Appends the record to `r`, field by field (on the path of every document).
fn record(
    r: &mut Vec<u8>,
    index: &str,
    action: &str,
    id: &str,
    (version, seq_no): (u64, u64),
    auto: bool,
    src: Option<&str>,
) {
    let put = |r: &mut Vec<u8>, key: &str, text: &str| {
        r.extend_from_slice(key.as_bytes());
        // Writing a `str` into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut *r, text);
    };
    put(r, "{\"i\":", index);
    put(r, ",\"a\":", action);
    put(r, ",\"id\":", id);
    let _ = write!(r, ",\"v\":{version},\"s\":{seq_no}");
    if auto {
        r.extend_from_slice(b",\"auto\":true");
    }
    if let Some(src) = src {
        r.extend_from_slice(b",\"src\":");
        r.extend_from_slice(src.as_bytes());
    }
    r.push(b'}');
}

/// A document ready for the writer but for its version, built outside the index's lock.
pub struct Prepared {
    /// None: only validated, built when a writer takes it (`Queued::Source`).
    doc: Option<Doc>,
    src: Arc<str>,
    bytes: usize,
    /// Built with a mapping that lacks some of its fields (see `Mapping::views`).
    new: bool,
}

/// The tantivy document of a source, all but its version and sequence number; whether the
/// source has fields the mapping lacks. `base`: the text `source` was parsed from, whose bytes
/// `src` holds (its strings become ranges of `src`); any other text, "" say, copies them.
pub(crate) fn build_doc(
    f: &Fields,
    m: &Mapping,
    id: &str,
    source: &Json,
    base: &str,
    src: Arc<str>,
) -> Result<(Doc, bool), EsError> {
    let mut views = Views::new(base, true);
    // Two nodes a top-level entry, about (a text field's keyword beside it, a nested field):
    // growing the lists node by node was 1% of a bulk stream.
    views.reserve(source.as_object().map_or(0, <[_]>::len) * 2 + 2);
    let new = m.views(source, &mut views)?;
    Ok((Doc::new(f, id, src, views), new))
}

/// A source to index: as parsed from the request, or an update's merge.
enum Src<'a> {
    Parsed(Json<'a>),
    Edited(Value),
}

impl Src<'_> {
    fn with<R>(&self, f: impl FnOnce(&Json) -> R) -> R {
        match self {
            Src::Parsed(j) => f(j),
            Src::Edited(v) => f(&Json::from(v)),
        }
    }
}

pub fn new_id() -> String {
    // Time-ordered 20-character ids, like Elasticsearch's auto ids in length and alphabet.
    use std::sync::atomic::AtomicU64;
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
    /// The current (version, sequence number) of `id` when it exists.
    pub(super) fn current_full(&self, st: &State, id: &str) -> Option<(u64, u64)> {
        if let Some(p) = st.pending.get(id) {
            return p.src.is_some().then_some((p.version, p.seq_no));
        }
        self.committed_full(id).map(|d| (d.version, d.seq_no))
    }

    /// Learns the new fields of a document into the mapping (persisted when it grew).
    pub(super) fn learn(&self, st: &mut State, doc: &Json) -> Result<(), EsError> {
        let Some(o) = doc.as_object().filter(|o| st.mapping.has_new("", o)) else {
            return Ok(());
        };
        let mut m = (*st.mapping).clone();
        if m.learn("", o)? {
            m.check_total_fields(
                self.settings().total_fields_limit,
                Some(st.mapping.total_fields()),
            )?;
            st.mapping = Arc::new(m);
            self.save_mapping(&st.mapping);
        }
        Ok(())
    }

    /// Builds the tantivy document for `source`, all but its version; a value its field's type
    /// cannot take is a `mapper_parsing_exception`.
    /// `build`: the document is built now (for a writer already taking the queue), else only
    /// validated.
    pub(super) fn prepare(
        &self,
        m: &Mapping,
        id: &str,
        source: &Json,
        raw: Option<&str>,
        build: bool,
    ) -> Result<Prepared, EsError> {
        let src: Arc<str> = match raw {
            Some(raw) => Arc::from(raw),
            None => Arc::from(source.to_string()),
        };
        self.prepare_src(m, id, source, raw.unwrap_or(""), src, build)
    }

    /// As `prepare`, with the source's text made (`src`) from `base` (see `build_doc`).
    fn prepare_src(
        &self,
        m: &Mapping,
        id: &str,
        source: &Json,
        base: &str,
        src: Arc<str>,
        build: bool,
    ) -> Result<Prepared, EsError> {
        if !build {
            let new = m.views(source, &mut Views::new(base, false))?;
            let bytes = pending_cost(id, Some(&src)) + source_entry_cost(id);
            return Ok(Prepared {
                doc: None,
                src,
                bytes,
                new,
            });
        }
        let (doc, new) = build_doc(&self.f, m, id, source, base, src.clone())?;
        let bytes = built_cost(id, &src, &doc);
        Ok(Prepared {
            doc: Some(doc),
            src,
            bytes,
            new,
        })
    }

    /// The tantivy document of a validated source, all but its version.
    fn build_source(&self, m: &Mapping, id: &str, src: &Arc<str>) -> Result<Doc, EsError> {
        let j = Json::parse(src.as_bytes()).map_err(|e| EsError::internal(e.to_string()))?;
        build_doc(&self.f, m, id, &j, src, src.clone()).map(|(doc, _)| doc)
    }

    /// Builds a document that waited as its source (`Queued::Source`). It was validated with a
    /// mapping that builds it the same way (see `Queued::Source`), so this does not fail;
    /// should it anyway, the document is still stored, found by id.
    fn build_queued(
        &self,
        m: &Mapping,
        id: &str,
        src: &Arc<str>,
        version: u64,
        seq_no: u64,
    ) -> Doc {
        let mut doc = match self.build_source(m, id, src) {
            Ok(doc) => doc,
            Err(e) => {
                tracing::error!(index = %self.name, id, "a validated document failed to build; stored unindexed: {e}");
                Doc::stored_only(&self.f, id, src.clone())
            }
        };
        doc.stamp(version, Some(seq_no));
        doc
    }

    /// Builds the documents waiting as their sources, before an explicit mapping change that
    /// could build them otherwise (see `Queued::Source`).
    pub(super) fn build_waiting(&self, st: &mut State) {
        let m = st.mapping.clone();
        let mut added = 0usize;
        for q in st.queue.iter_mut() {
            if let Queued::Source {
                id,
                src,
                version,
                seq_no,
            } = q
            {
                let doc = self.build_queued(&m, id, src, *version, *seq_no);
                added += built_cost(id, src, &doc)
                    .saturating_sub(pending_cost(id, Some(src)) + source_entry_cost(id));
                *q = Queued::Add(doc);
            }
        }
        st.queue_bytes += added;
        self.engine.charge(added as isize);
    }

    /// Takes a bulk's operations for this index: each is validated, logged to the node's
    /// write-ahead log and queued for the writer. Returns the results and the log position the
    /// caller must have synced before answering.
    pub fn bulk(&self, ops: Vec<Op>) -> Result<(Vec<OpResult>, u64), EsError> {
        enum Step<'a> {
            Write {
                id: String,
                auto: bool,
                create: bool,
                updated: bool,
                source: Src<'a>,
                raw: Option<&'a str>,
                cond: Option<Cond>,
            },
            Delete {
                id: String,
                cond: Option<Cond>,
            },
            Failed(OpResult),
        }
        let failed = |id: &str, status, kind, reason: String| OpResult {
            id: id.to_string(),
            status,
            result: "error",
            version: 0,
            seq_no: 0,
            error: Some((kind, reason)),
        };
        // 1. Under the lock: updates read the current document.
        let (steps, mapping, epoch) = {
            let st = self.lock_state();
            let steps: Vec<Step> = ops
                .into_iter()
                .map(|op| match op {
                    Op::Cond { op, cond } => (*op, Some(cond)),
                    other => (other, None),
                })
                .map(|(op, cond)| match op {
                    Op::Cond { op, .. } => Step::Failed(failed(
                        op.id().unwrap_or(""),
                        400,
                        "illegal_argument_exception",
                        "two conditions on one write".into(),
                    )),
                    Op::Index { id, source, raw } | Op::Create { id, source, raw }
                        if !source.is_object() =>
                    {
                        let _ = raw;
                        Step::Failed(failed(
                            id.as_deref().unwrap_or(""),
                            400,
                            "mapper_parsing_exception",
                            "failed to parse: the document must be a JSON object".into(),
                        ))
                    }
                    Op::Index { id, source, raw } => Step::Write {
                        auto: id.is_none(),
                        id: id.unwrap_or_else(new_id),
                        create: false,
                        updated: false,
                        source: Src::Parsed(source),
                        raw,
                        cond,
                    },
                    Op::Create { id, source, raw } => Step::Write {
                        auto: id.is_none(),
                        id: id.unwrap_or_else(new_id),
                        create: true,
                        updated: false,
                        source: Src::Parsed(source),
                        raw,
                        cond,
                    },
                    Op::Update {
                        id,
                        doc,
                        upsert,
                        detect_noop,
                    } => match (self.source_locked(&st, &id), upsert) {
                        (Some(cur), _) => {
                            let mut merged = cur.clone();
                            merge(&mut merged, doc);
                            if detect_noop && merged == cur {
                                let (version, seq_no) =
                                    self.current_full(&st, &id).unwrap_or((0, 0));
                                Step::Failed(OpResult {
                                    id,
                                    status: 200,
                                    result: "noop",
                                    version,
                                    seq_no,
                                    error: None,
                                })
                            } else {
                                Step::Write {
                                    id,
                                    auto: false,
                                    create: false,
                                    updated: true,
                                    source: Src::Edited(merged),
                                    raw: None,
                                    cond: cond.filter(|c| matches!(c, Cond::SeqNo { .. })),
                                }
                            }
                        }
                        (None, Some(up)) if up.is_object() => Step::Write {
                            id,
                            auto: false,
                            create: false,
                            updated: false,
                            source: Src::Edited(up),
                            raw: None,
                            cond: cond.filter(|c| matches!(c, Cond::SeqNo { .. })),
                        },
                        (None, _) => Step::Failed(OpResult {
                            id: id.clone(),
                            status: 404,
                            result: "not_found",
                            version: 0,
                            seq_no: 0,
                            error: Some((
                                "document_missing_exception",
                                format!("[{id}]: document missing"),
                            )),
                        }),
                    },
                    Op::Delete { id } => Step::Delete { id, cond },
                })
                .collect();
            (steps, st.mapping.clone(), st.mapping_epoch)
        };
        // 2. Documents are built on the request's thread, outside the lock; one with fields the
        // mapping lacks has them learned (under the lock) and is built again. Without a writer
        // (or one busy right now) they are only validated: built when a writer takes them.
        let build = self.writer.try_lock().map_or(true, |g| g.is_some());
        let mut mapping = mapping;
        enum Ready {
            Write {
                id: String,
                auto: bool,
                create: bool,
                updated: bool,
                prep: Prepared,
                cond: Option<Cond>,
            },
            Delete {
                id: String,
                cond: Option<Cond>,
            },
            Failed(OpResult),
        }
        let mut ready: Vec<Ready> = steps
            .into_iter()
            .map(|s| match s {
                Step::Write {
                    id,
                    auto,
                    create,
                    updated,
                    source,
                    raw,
                    cond,
                } => match source.with(|j| {
                    let p = self.prepare(&mapping, &id, j, raw, build)?;
                    if !p.new {
                        return Ok(p);
                    }
                    let learned = {
                        let mut st = self.lock_state();
                        self.learn(&mut st, j)?;
                        st.mapping.clone()
                    };
                    if Arc::ptr_eq(&learned, &mapping) {
                        return Ok(p);
                    }
                    mapping = learned;
                    self.prepare_src(&mapping, &id, j, raw.unwrap_or(""), p.src, build)
                }) {
                    Ok(prep) => Ready::Write {
                        id,
                        auto,
                        create,
                        updated,
                        prep,
                        cond,
                    },
                    Err(e) => Ready::Failed(failed(&id, e.status(), e.kind(), e.reason())),
                },
                Step::Delete { id, cond } => Ready::Delete { id, cond },
                Step::Failed(r) => Ready::Failed(r),
            })
            .collect();
        // 3. Under the lock again: versions, the log, the queue, in one order.
        let mut st = self.lock_state();
        // The mapping was changed since they were validated: the documents left to build are
        // built now, with the mapping they are accepted under, or refused.
        if st.mapping_epoch != epoch {
            for r in ready.iter_mut() {
                let Ready::Write { id, prep, .. } = r else {
                    continue;
                };
                if prep.doc.is_some() {
                    continue;
                }
                let refused = match self.build_source(&st.mapping, id, &prep.src) {
                    Ok(doc) => {
                        prep.bytes = built_cost(id, &prep.src, &doc);
                        prep.doc = Some(doc);
                        continue;
                    }
                    Err(e) => failed(id, e.status(), e.kind(), e.reason()),
                };
                *r = Ready::Failed(refused);
            }
        }
        let mut results = Vec::with_capacity(ready.len());
        // (operation, current version (0: none), the version it gets)
        let mut accepted: Vec<(Ready, u64, u64)> = Vec::new();
        for r in ready {
            let (id, cond, exists) = match &r {
                Ready::Failed(res) => {
                    results.push(Some(res.clone()));
                    continue;
                }
                Ready::Write { id, auto: true, .. } => (id.clone(), None, None),
                Ready::Write { id, cond, .. } | Ready::Delete { id, cond } => {
                    (id.clone(), *cond, self.current_full(&st, id))
                }
            };
            let current = exists.map_or(0, |(v, _)| v);
            if let (Ready::Write { create: true, .. }, Some((c, _))) = (&r, exists) {
                results.push(Some(failed(
                    &id,
                    409,
                    "version_conflict_engine_exception",
                    format!(
                        "[{id}]: version conflict, document already exists (current version [{c}])"
                    ),
                )));
                continue;
            }
            let conflict = |reason: String| {
                Some(failed(
                    &id,
                    409,
                    "version_conflict_engine_exception",
                    reason,
                ))
            };
            let version = match (cond, exists) {
                (Some(Cond::External { version: v, gte }), Some((c, _)))
                    if v < c || (v == c && !gte) =>
                {
                    let how = if gte {
                        "higher than"
                    } else {
                        "higher or equal to"
                    };
                    results.push(conflict(format!("[{id}]: version conflict, current version [{c}] is {how} the one provided [{v}]")));
                    continue;
                }
                (Some(Cond::External { version: v, .. }), _) => v,
                (
                    Some(Cond::SeqNo {
                        seq_no,
                        primary_term,
                    }),
                    found,
                ) => match found {
                    Some((_, s)) if s == seq_no && primary_term == 1 => current + 1,
                    Some((_, s)) => {
                        results.push(conflict(format!("[{id}]: version conflict, required seqNo [{seq_no}], primary term [{primary_term}]. current document has seqNo [{s}] and primary term [1]")));
                        continue;
                    }
                    None => {
                        results.push(conflict(format!("[{id}]: version conflict, required seqNo [{seq_no}], primary term [{primary_term}]. but no document was found")));
                        continue;
                    }
                },
                (None, _) => current + 1,
            };
            results.push(None);
            accepted.push((r, current, version));
        }
        let name = &self.name;
        let first_seq = st.seq_no;
        let logged = self.engine.wal.append_with(|start, buf| {
            // Sized up front: a bulk's log is its sources and then some, grown once.
            let sources: usize = accepted
                .iter()
                .map(|(r, _, _)| match r {
                    Ready::Write { id, prep, .. } => prep.src.len() + id.len(),
                    Ready::Delete { id, .. } => id.len(),
                    Ready::Failed(_) => 0,
                })
                .sum();
            buf.reserve(sources + accepted.len() * (100 + name.len()));
            let mut positions = Vec::with_capacity(accepted.len());
            for (i, (r, _, version)) in accepted.iter().enumerate() {
                let seq = first_seq + i as u64;
                let (action, id, auto, src) = match r {
                    Ready::Write { id, auto, prep, .. } => ("index", id, *auto, Some(&*prep.src)),
                    Ready::Delete { id, .. } => ("delete", id, false, None),
                    Ready::Failed(_) => continue,
                };
                crate::wal::frame_with(buf, |b| {
                    record(b, name, action, id, (*version, seq), auto, src)
                });
                positions.push(start + buf.len() as u64);
            }
            positions
        });
        let (end, positions) = match logged {
            Ok(x) => x,
            Err(e) => {
                let kind = if e.raw_os_error() == Some(libc::ENOSPC) {
                    (429, "cluster_block_exception")
                } else {
                    (500, "exception")
                };
                let reason = format!("write-ahead log: {e}");
                let mut it = accepted.into_iter();
                let out = results
                    .into_iter()
                    .map(|r| {
                        r.unwrap_or_else(|| {
                            let id = match it.next() {
                                Some((
                                    Ready::Write { id, .. } | Ready::Delete { id, .. },
                                    _,
                                    _,
                                )) => id,
                                _ => String::new(),
                            };
                            failed(&id, kind.0, kind.1, reason.clone())
                        })
                    })
                    .collect();
                return Ok((out, 0));
            }
        };
        let mut done = Vec::with_capacity(accepted.len());
        let mut charged = 0isize;
        for ((r, current, version), pos) in accepted.into_iter().zip(positions) {
            let seq_no = st.seq_no;
            done.push(match r {
                Ready::Write {
                    id,
                    auto,
                    updated,
                    prep,
                    ..
                } => {
                    let replaces = !auto && current > 0;
                    charged += st.enqueue(id.clone(), pos, version, replaces, Some(prep));
                    OpResult {
                        status: if current > 0 { 200 } else { 201 },
                        result: if updated || current > 0 {
                            "updated"
                        } else {
                            "created"
                        },
                        id,
                        version,
                        seq_no,
                        error: None,
                    }
                }
                Ready::Delete { id, .. } => {
                    charged += st.enqueue(id.clone(), pos, version, true, None);
                    OpResult {
                        status: if current > 0 { 200 } else { 404 },
                        result: if current > 0 { "deleted" } else { "not_found" },
                        id,
                        version,
                        seq_no,
                        error: None,
                    }
                }
                Ready::Failed(res) => res,
            });
        }
        drop(st);
        self.engine.charge(charged);
        let mut done = done.into_iter();
        let out = results
            .into_iter()
            .map(|r| r.or_else(|| done.next()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| EsError::internal("bulk results out of step"))?;
        self.feed_if_open();
        Ok((out, end))
    }

    /// Hands queued operations to the writer when one is open and free (the common case of a
    /// busy index), so its threads index while requests keep arriving.
    pub(super) fn feed_if_open(&self) {
        if let Ok(mut g) = self.writer.try_lock() {
            if let Some(w) = g.as_mut() {
                self.feed(w);
            }
        }
    }

    pub(super) fn feed(&self, w: &mut Writer) {
        let (queue, bytes, pos, mapping) = {
            let mut st = self.lock_state();
            let bytes = std::mem::take(&mut st.queue_bytes);
            let queue = std::mem::take(&mut st.queue);
            (queue, bytes, st.last_pos, st.mapping.clone())
        };
        for q in queue {
            let r = match q {
                Queued::Add(d) => w.w.add_document(d).map(|_| ()),
                Queued::Source {
                    id,
                    src,
                    version,
                    seq_no,
                } => {
                    let d = self.build_queued(&mapping, &id, &src, version, seq_no);
                    w.w.add_document(d).map(|_| ())
                }
                Queued::Delete(id) => {
                    w.w.delete_term(Term::from_field_text(self.f.id, &id));
                    Ok(())
                }
            };
            if let Err(e) = r {
                tracing::error!(index = %self.name, "indexing failed: {e}");
            }
        }
        w.fed = w.fed.max(pos);
        w.used = Instant::now();
        self.engine.charge(-(bytes as isize));
    }

    /// Replays one record of the node's log (after a crash) unless this index already has it.
    pub fn replay(&self, pos: u64, rec: Record) {
        let mut st = self.lock_state();
        self.replay_locked(&mut st, pos, rec);
    }

    pub(super) fn replay_locked(&self, st: &mut State, pos: u64, rec: Record) {
        if pos <= self.committed.load(Ordering::Acquire) {
            return;
        }
        if let Some(s) = rec.s {
            st.seq_no = st.seq_no.max(s);
        }
        let charged = match (rec.a.as_str(), rec.src) {
            ("delete", _) => st.enqueue(rec.id, pos, rec.v, true, None),
            (_, Some(raw)) => {
                let Ok(source) = Json::parse(raw.get().as_bytes()) else {
                    return;
                };
                // A logged record was accepted once: the mapping took it then.
                let _ = self.learn(st, &source);
                let m = st.mapping.clone();
                let Ok(prep) = self.prepare(&m, &rec.id, &source, Some(raw.get()), false) else {
                    tracing::warn!(index = %self.name, id = %rec.id, "a logged document no longer fits the mapping; skipped");
                    return;
                };
                st.enqueue(rec.id, pos, rec.v, !rec.auto, Some(prep))
            }
            _ => return,
        };
        self.engine.charge(charged);
    }
}

/// Memory a pending write holds: its id, its source, the map's own share.
pub(super) fn pending_cost(id: &str, src: Option<&str>) -> usize {
    id.len() + src.map_or(0, str::len) + 96
}

/// Memory a `Queued::Source` adds to its pending write (which holds the source): the id again.
fn source_entry_cost(id: &str) -> usize {
    id.len() + 64
}

/// Memory a built document and its pending write hold: the source once (the document's
/// strings are ranges of it), the document's own nodes and text.
fn built_cost(id: &str, src: &str, doc: &Doc) -> usize {
    pending_cost(id, Some(src)) + doc.heap_bytes()
}

impl State {
    /// Queues a write at log position `pos` (a document, or a delete when `add` is None; a
    /// document that `replaces` one deletes it first) and records it as pending for real-time
    /// get and versions. Returns the bytes it adds to what the index holds (less what the
    /// pending write it replaces held).
    fn enqueue(
        &mut self,
        id: String,
        pos: u64,
        version: u64,
        replaces: bool,
        add: Option<Prepared>,
    ) -> isize {
        self.seq_no += 1;
        self.last_pos = pos;
        if replaces {
            self.queue.push(Queued::Delete(id.clone()));
        }
        let mut added = 0usize;
        let src = add.map(|p| {
            let queued = p.bytes.saturating_sub(pending_cost(&id, Some(&p.src)));
            let seq_no = self.seq_no - 1;
            self.queue.push(match p.doc {
                Some(mut doc) => {
                    doc.stamp(version, Some(seq_no));
                    Queued::Add(doc)
                }
                None => Queued::Source {
                    id: id.clone(),
                    src: p.src.clone(),
                    version,
                    seq_no,
                },
            });
            self.queue_bytes += queued;
            added += queued;
            p.src
        });
        let cost = pending_cost(&id, src.as_deref());
        self.pending_bytes += cost;
        added += cost;
        let replaced = self
            .pending
            .get(&id)
            .map_or(0, |old| pending_cost(&id, old.src.as_deref()))
            .min(self.pending_bytes);
        let seq_no = self.seq_no - 1;
        self.pending.insert(
            id,
            Pending {
                pos,
                version,
                seq_no,
                src,
            },
        );
        self.pending_bytes -= replaced;
        added as isize - replaced as isize
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let src = r#"{"message":"a \"quoted\" line","n":1}"#;
        let mut r = b"earlier bytes stay".to_vec();
        record(
            &mut r,
            "logs-\"x\"",
            "index",
            "id\n1",
            (3, 7),
            true,
            Some(src),
        );
        let back: Record = serde_json::from_slice(&r[18..]).unwrap();
        assert_eq!((back.i.as_str(), back.a.as_str()), ("logs-\"x\"", "index"));
        assert_eq!(
            (back.id.as_str(), back.v, back.s, back.auto),
            ("id\n1", 3, Some(7), true)
        );
        assert_eq!(back.src.unwrap().get(), src);
        let mut r = Vec::new();
        record(&mut r, "i", "delete", "x", (2, 9), false, None);
        let d: Record = serde_json::from_slice(&r).unwrap();
        assert!(d.src.is_none() && !d.auto && d.v == 2);
    }
}
