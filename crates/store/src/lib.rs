//! rstore: the part of Elasticsearch's REST API that log pipelines, Filebeat and the official
//! clients use, on tantivy. One tantivy index per Elasticsearch index; the node's write-ahead log
//! makes a bulk durable before it is answered; refresh makes it searchable; the engine keeps
//! indexing memory within a budget whatever the number of indices.

mod aggs;
pub mod api;
mod discover;
mod dsl;
pub mod engine;
mod error;
mod index;
mod json;
mod mapping;
mod query_string;
pub mod retention;
mod scroll;
pub mod security;
mod security_api;
mod store;
mod templates;
pub mod tls;
mod view;
mod wal;

pub use engine::{Options, Watermark};
pub use index::{EsError, Index, Op, OpResult};
pub use store::Store;

/// The per-document work of a bulk before the writer, for `benches/` (not an API).
#[doc(hidden)]
pub mod bench {
    use crate::index::{build_doc, fields, Fields};
    use crate::mapping::Mapping;

    pub struct Learned(Mapping, Fields);

    /// The mapping dynamic mapping makes from an index's first document.
    pub fn learned(doc: &[u8]) -> Learned {
        let mut m = Mapping::new();
        if let Ok(crate::json::Json::Object(o)) = crate::json::Json::parse(doc) {
            let _ = m.learn("", &o);
        }
        Learned(m, fields())
    }

    /// Parses one bulk source line; returns its top-level entry count.
    pub fn parse(line: &[u8]) -> usize {
        crate::json::Json::parse(line)
            .ok()
            .and_then(|j| j.as_object().map(<[_]>::len))
            .unwrap_or(0)
    }

    /// Parses one bulk source line and builds the tantivy document (both views, and whether it
    /// has new fields); returns its value count so nothing is optimised away.
    pub fn document(l: &Learned, line: &[u8]) -> usize {
        let Ok(v) = crate::json::Json::parse(line) else {
            return 0;
        };
        let raw = std::str::from_utf8(line).unwrap_or_default();
        match build_doc(&l.1, &l.0, "id", &v, raw, raw.into()) {
            Ok((d, new)) => d.values() + usize::from(new),
            Err(_) => 0,
        }
    }
}
