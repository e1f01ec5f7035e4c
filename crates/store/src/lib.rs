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
