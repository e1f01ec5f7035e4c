//! The read side: real-time get (pending writes first, then the committed index) and search.

use serde_json::json;
use serde_json::Value;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query};
use tantivy::schema::Value as _;
use tantivy::DocAddress;
use tantivy::{TantivyDocument, Term};

use super::{lookup, Index, State};
use crate::dsl;
use crate::error::{tv, EsError};
use crate::mapping::{self, Mapping};

impl Index {
    /// The committed document `id`: (version, source text).
    pub(super) fn committed_doc(&self, id: &str) -> Option<(u64, String)> {
        self.committed_full(id).map(|d| (d.version, d.src))
    }

    /// The committed document `id` with its sequence number.
    pub(super) fn committed_full(&self, id: &str) -> Option<Doc> {
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
        let version = d
            .get_first(self.f.version)
            .and_then(|v| v.as_u64())
            .unwrap_or(1);
        // Indices from before stored sequence numbers: one less than the version.
        let seq_no = self
            .f
            .seq_no
            .and_then(|f| d.get_first(f)?.as_u64())
            .unwrap_or(version.saturating_sub(1));
        Some(Doc {
            version,
            seq_no,
            src: d.get_first(self.f.source)?.as_str()?.to_string(),
        })
    }

    pub(super) fn source_locked(&self, st: &State, id: &str) -> Option<Value> {
        match st.pending.get(id) {
            Some(p) => serde_json::from_str(p.src.as_deref()?).ok(),
            None => serde_json::from_str(&self.committed_doc(id)?.1).ok(),
        }
    }

    /// Real-time get with the document's sequence number: (source, version, seq_no).
    pub fn get_full(&self, id: &str, realtime: bool) -> Option<(Value, u64, u64)> {
        if realtime {
            let st = self.lock_state();
            if let Some(p) = st.pending.get(id) {
                return Some((
                    serde_json::from_str(p.src.as_deref()?).ok()?,
                    p.version,
                    p.seq_no,
                ));
            }
        }
        let d = self.committed_full(id)?;
        Some((serde_json::from_str(&d.src).ok()?, d.version, d.seq_no))
    }

    /// Real-time get, as Elasticsearch's: sees writes not yet refreshed.
    pub fn get(&self, id: &str) -> Option<(Value, u64)> {
        self.get_full(id, true)
            .map(|(src, version, _)| (src, version))
    }

    /// A hit's stored source and id.
    pub fn load(&self, searcher: &tantivy::Searcher, addr: DocAddress) -> Option<(Value, String)> {
        let d: TantivyDocument = searcher.doc(addr).ok()?;
        let src = serde_json::from_str(d.get_first(self.f.source)?.as_str()?).ok()?;
        let id = d.get_first(self.f.id)?.as_str()?.to_string();
        Some((src, id))
    }

    /// How many documents match `query`.
    pub fn count(&self, query: &Value) -> Result<usize, EsError> {
        let search = Search {
            query,
            post_filter: None,
            limit: 0,
            sort: &[],
            after: None,
            min_score: None,
        };
        Ok(self.search(&search)?.1)
    }

    /// Runs a search on this index: the searcher it ran on (hits load from it), the total and
    /// the first `limit` hits, sorted and past `search_after` as asked.
    pub fn search(&self, req: &Search) -> Result<(tantivy::Searcher, usize, Vec<Hit>), EsError> {
        let (q, sort_values) = self.with_mapping(|m| -> Result<_, EsError> {
            let mut q = dsl::build(self, m, req.query)?;
            if let Some(pf) = req.post_filter {
                q = Box::new(BooleanQuery::new(vec![
                    (Occur::Must, q),
                    (Occur::Must, dsl::build(self, m, pf)?),
                ]));
            }
            let keys: Vec<SortKey> = req.sort.to_vec();
            for k in &keys {
                if !k.is_special() && !m.contains(k.path()) && k.unmapped_type.is_none() {
                    return Err(EsError::bad_request(
                        "query_shard_exception",
                        format!("No mapping found for [{}] in order to sort on", k.field),
                    ));
                }
            }
            Ok((q, m.clone()))
        })?;
        let searcher = self.reader.searcher();
        let docs = usize::try_from(searcher.num_docs()).unwrap_or(usize::MAX);
        // No more hits than documents: the collector allocates its whole limit up front.
        let limit = req.limit.min(docs);
        let scored = req.sort.is_empty() || req.sort.iter().any(|k| k.field == "_score");
        if req.sort.is_empty() && req.after.is_none() {
            if limit == 0 {
                return Ok((
                    searcher.clone(),
                    searcher.search(&q, &Count).map_err(tv)?,
                    Vec::new(),
                ));
            }
            let (top, total) = searcher
                .search(&q, &(TopDocs::with_limit(limit).order_by_score(), Count))
                .map_err(tv)?;
            let hits = top
                .into_iter()
                .filter(|(score, _)| req.min_score.is_none_or(|m| *score >= m))
                .map(|(score, addr)| Hit {
                    score,
                    addr,
                    sort: Vec::new(),
                    doc: None,
                })
                .collect();
            return Ok((searcher, total, hits));
        }
        if let Some(found) = self.by_date(req, &q, &sort_values, &searcher, limit)? {
            return Ok((searcher, found.0, found.1));
        }
        // Sorting: every match is loaded and ordered by its values as its field's type has them.
        let matches: Vec<(f32, DocAddress)> = if scored && docs > 0 {
            searcher
                .search(&q, &TopDocs::with_limit(docs).order_by_score())
                .map_err(tv)?
        } else {
            let mut v: Vec<(f32, DocAddress)> = searcher
                .search(&q, &DocSetCollector)
                .map_err(tv)?
                .into_iter()
                .map(|a| (1.0, a))
                .collect();
            v.sort_by_key(|(_, a)| (a.segment_ord, a.doc_id));
            v
        };
        let total = matches.len();
        let mut hits: Vec<Hit> = matches
            .into_iter()
            .filter_map(|(score, addr)| {
                let (src, id) = self.load(&searcher, addr)?;
                let sort = req
                    .sort
                    .iter()
                    .map(|k| k.value(&sort_values, &src, &id, score, addr))
                    .collect();
                Some(Hit {
                    score,
                    addr,
                    sort,
                    doc: Some((src, id)),
                })
            })
            .collect();
        if let Some(after) = req.after {
            // A date may come back formatted as its field's format has it.
            let after: Vec<Value> = after
                .iter()
                .zip(req.sort)
                .map(|(v, k)| match (v, sort_values.field(k.path())) {
                    (Value::String(_), Some(f)) if f.family() == "date" => {
                        match mapping::parse_date_with(v, &f.formats) {
                            Some(d) if f.ty == "date_nanos" => json!(d.into_timestamp_nanos()),
                            Some(d) => json!(d.into_timestamp_millis()),
                            None => v.clone(),
                        }
                    }
                    _ => v.clone(),
                })
                .collect();
            hits.retain(|h| cmp_sort(&h.sort, &after, req.sort).is_gt());
        }
        hits.sort_by(|a, b| cmp_sort(&a.sort, &b.sort, req.sort));
        hits.truncate(limit);
        Ok((searcher, total, hits))
    }
}

impl Index {
    /// The common log search, newest (or oldest) first by one date field, through the field's
    /// column: only the page is loaded. None when the request is not of that shape, or when the
    /// page comes out short (documents missing the field may follow; the general path has them).
    fn by_date(
        &self,
        req: &Search,
        q: &dyn Query,
        m: &Mapping,
        searcher: &tantivy::Searcher,
        limit: usize,
    ) -> Result<Option<(usize, Vec<Hit>)>, EsError> {
        let [key] = req.sort else { return Ok(None) };
        let Some(field) = m.field(key.path()).filter(|f| f.family() == "date") else {
            return Ok(None);
        };
        if key.missing_first || req.min_score.is_some() || limit == 0 {
            return Ok(None);
        }
        let nanos = field.ty == "date_nanos";
        let total = searcher.search(q, &Count).map_err(tv)?;
        let after = match req.after.map(|a| a.first()) {
            None => None,
            Some(Some(Value::Number(n))) => match n.as_i64() {
                Some(v) if nanos => Some(tantivy::DateTime::from_timestamp_nanos(v)),
                Some(v) => Some(tantivy::DateTime::from_timestamp_millis(v)),
                None => return Ok(None),
            },
            Some(_) => return Ok(None),
        };
        let bounded: Box<dyn Query>;
        let q: &dyn Query = match after {
            None => q,
            Some(a) => {
                let mut t = Term::from_field_json_path(self.f.kw, key.path(), false);
                t.append_type_and_fast_value(a);
                let range = if key.desc {
                    tantivy::query::RangeQuery::new(
                        std::ops::Bound::Unbounded,
                        std::ops::Bound::Excluded(t),
                    )
                } else {
                    tantivy::query::RangeQuery::new(
                        std::ops::Bound::Excluded(t),
                        std::ops::Bound::Unbounded,
                    )
                };
                bounded = Box::new(BooleanQuery::new(vec![
                    (Occur::Must, q.box_clone()),
                    (Occur::Must, Box::new(range)),
                ]));
                bounded.as_ref()
            }
        };
        // The column read directly (tantivy's order_by_fast_field takes no JSON path): the newest
        // first as the highest key, the oldest first by its negation; a document without the
        // field ranks last and sends the request to the general path.
        let path = format!("kw.{}", key.path());
        let desc = key.desc;
        let collector =
            TopDocs::with_limit(limit).tweak_score(move |seg: &tantivy::SegmentReader| {
                let col = seg
                    .fast_fields()
                    .column_opt::<tantivy::DateTime>(&path)
                    .ok()
                    .flatten();
                move |doc: tantivy::DocId, _: tantivy::Score| -> Option<i64> {
                    let n = col.as_ref()?.first(doc)?.into_timestamp_nanos();
                    Some(if desc { n } else { -n })
                }
            });
        let top = searcher.search(q, &collector).map_err(tv)?;
        if top.len() < limit || top.iter().any(|(v, _)| v.is_none()) {
            return Ok(None);
        }
        let hits = top
            .into_iter()
            .filter_map(|(v, addr)| {
                let n = if desc { v? } else { -v? };
                let sort = if nanos {
                    json!(n)
                } else {
                    json!(n.div_euclid(1_000_000))
                };
                Some(Hit {
                    score: f32::NAN,
                    addr,
                    sort: vec![sort],
                    doc: None,
                })
            })
            .collect();
        Ok(Some((total, hits)))
    }
}

/// One `sort` entry of a search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: String,
    pub desc: bool,
    /// `missing: _first` (default `_last`).
    pub missing_first: bool,
    pub unmapped_type: Option<String>,
}

impl SortKey {
    fn is_special(&self) -> bool {
        matches!(self.field.as_str(), "_score" | "_doc" | "_id" | "_index")
    }

    fn path(&self) -> &str {
        self.field.strip_suffix(".keyword").unwrap_or(&self.field)
    }

    /// The sort value of one document, as Elasticsearch returns it in `sort`: epoch millis for
    /// dates, numbers for numbers, the string for keywords; the min (asc) or max (desc) of a
    /// multi-valued field; null when missing.
    fn value(&self, m: &Mapping, src: &Value, id: &str, score: f32, addr: DocAddress) -> Value {
        match self.field.as_str() {
            "_score" => return json!(score),
            "_doc" => return json!(((addr.segment_ord as u64) << 32) | addr.doc_id as u64),
            "_id" => return json!(id),
            _ => {}
        }
        let field = m.field(self.path());
        let ty = field.map_or_else(
            || {
                self.unmapped_type
                    .as_deref()
                    .map_or("keyword", mapping::family)
            },
            |f| f.family(),
        );
        let one = |v: &Value| -> Option<Value> {
            match ty {
                "date" => {
                    let d = mapping::parse_date_with(v, field.map_or(&[][..], |f| &f.formats))?;
                    if field.is_some_and(|f| f.ty == "date_nanos") {
                        Some(json!(d.into_timestamp_nanos()))
                    } else {
                        Some(json!(d.into_timestamp_millis()))
                    }
                }
                "long" => match v {
                    Value::Number(n) => n
                        .as_i64()
                        .map(Value::from)
                        .or_else(|| n.as_f64().map(|f| json!(f.trunc() as i64))),
                    Value::String(s) => s.parse::<f64>().ok().map(|f| json!(f.trunc() as i64)),
                    _ => None,
                },
                "unsigned_long" => match v {
                    Value::Number(n) => n.as_u64().map(Value::from),
                    Value::String(s) => s.parse::<u64>().ok().map(Value::from),
                    _ => None,
                },
                "float" => match v {
                    Value::Number(n) => n.as_f64().map(|f| match field.map(|f| f.ty.as_str()) {
                        Some("float") => json!(f as f32 as f64),
                        Some("half_float") => json!(half_precision(f)),
                        _ => json!(f),
                    }),
                    Value::String(s) => s.parse::<f64>().ok().map(|f| json!(f)),
                    _ => None,
                },
                "boolean" => match v {
                    Value::Bool(b) => Some(json!(u8::from(*b))),
                    Value::String(s) => Some(json!(u8::from(s == "true"))),
                    _ => None,
                },
                _ => match v {
                    Value::String(s) => Some(json!(s)),
                    Value::Null | Value::Object(_) | Value::Array(_) => None,
                    other => Some(json!(other.to_string())),
                },
            }
        };
        let vals: Vec<Value> = match lookup(src, self.path()) {
            Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
            Some(v) => one(v).into_iter().collect(),
            None => Vec::new(),
        };
        let pick = vals.into_iter().reduce(|a, b| {
            let o = cmp_value(&a, &b);
            if (o.is_gt()) != self.desc {
                b
            } else {
                a
            }
        });
        pick.unwrap_or(Value::Null)
    }
}

/// A value rounded to IEEE half precision (11 significant bits), as a `half_float` holds it.
fn half_precision(f: f64) -> f64 {
    if f == 0.0 || !f.is_finite() {
        return f;
    }
    let exp = f.abs().log2().floor().max(-14.0);
    let ulp = (exp - 10.0).exp2();
    (f / ulp).round() * ulp
}

/// Orders two documents' sort values by the request's keys (missing values last, or first).
pub fn cmp_sort(a: &[Value], b: &[Value], keys: &[SortKey]) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (
            a.get(i).unwrap_or(&Value::Null),
            b.get(i).unwrap_or(&Value::Null),
        );
        let o = match (x.is_null(), y.is_null()) {
            (true, true) => Equal,
            (true, false) => {
                if k.missing_first {
                    Less
                } else {
                    Greater
                }
            }
            (false, true) => {
                if k.missing_first {
                    Greater
                } else {
                    Less
                }
            }
            _ => {
                let o = cmp_value(x, y);
                if k.desc {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Equal {
            return o;
        }
    }
    Equal
}

fn cmp_value(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(i), Some(j), _, _) => i.cmp(&j),
                (_, _, Some(i), Some(j)) => i.cmp(&j),
                _ => x
                    .as_f64()
                    .partial_cmp(&y.as_f64())
                    .unwrap_or(std::cmp::Ordering::Equal),
            }
        }
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(_), _) => std::cmp::Ordering::Less,
        (_, Value::Number(_)) => std::cmp::Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// A committed document.
pub struct Doc {
    pub version: u64,
    pub seq_no: u64,
    pub src: String,
}

/// What a search asks of one index.
pub struct Search<'a> {
    pub query: &'a Value,
    pub post_filter: Option<&'a Value>,
    pub limit: usize,
    pub sort: &'a [SortKey],
    pub after: Option<&'a [Value]>,
    pub min_score: Option<f32>,
}

/// A hit: its score, where it is, its sort values, and its source and id once loaded.
pub struct Hit {
    pub score: f32,
    pub addr: DocAddress,
    pub sort: Vec<Value>,
    pub doc: Option<(Value, String)>,
}
