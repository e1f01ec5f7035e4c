//! The read side: real-time get (pending writes first, then the committed index) and search.

use serde_json::Value;
use tantivy::collector::{Count, DocSetCollector, TopDocs};
use tantivy::query::Query;
use tantivy::schema::Value as _;
use tantivy::{TantivyDocument, Term};

use super::{lookup, Hit, Index, State};
use crate::dsl;
use crate::error::{tv, EsError};
use crate::mapping;

impl Index {
    /// The committed document `id`: (version, source text).
    pub(super) fn committed_doc(&self, id: &str) -> Option<(u64, String)> {
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
        let v = d
            .get_first(self.f.version)
            .and_then(|v| v.as_u64())
            .unwrap_or(1);
        Some((v, d.get_first(self.f.source)?.as_str()?.to_string()))
    }

    pub(super) fn source_locked(&self, st: &State, id: &str) -> Option<Value> {
        match st.pending.get(id) {
            Some(p) => serde_json::from_str(p.src.as_deref()?).ok(),
            None => serde_json::from_str(&self.committed_doc(id)?.1).ok(),
        }
    }

    /// Real-time get, as Elasticsearch's: sees writes not yet refreshed.
    pub fn get(&self, id: &str) -> Option<(Value, u64)> {
        let st = self.lock_state();
        match st.pending.get(id) {
            Some(p) => Some((serde_json::from_str(p.src.as_deref()?).ok()?, p.version)),
            None => {
                drop(st);
                let (v, src) = self.committed_doc(id)?;
                Some((serde_json::from_str(&src).ok()?, v))
            }
        }
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
