//! rstore: the part of Elasticsearch's REST API that log pipelines, Filebeat and the official
//! clients use, on tantivy. One tantivy index per Elasticsearch index; a write-ahead log makes a
//! bulk durable before it is answered; refresh (every second, or on request) makes it searchable.

mod aggs;
pub mod api;
mod dsl;
mod index;
mod mapping;
pub mod security;
mod security_api;
mod store;
pub mod tls;

pub use index::{EsError, Index, Op, OpResult};
pub use store::Store;
