//! Lumberjack v2, the protocol between Beats (Filebeat) and Logstash: frames `W` (window), `J`
//! (JSON event), `D` (v1 key/value event), `C` (zlib, nested) and `A` (ACK). Big-endian u32s.
//!
//! The decoder never trusts a length: frame, window, pair and inflated sizes are bounded by
//! [`Limits`], so a malformed or hostile peer costs at most that much memory before its
//! connection is dropped.

mod batch;
mod client;
mod frame;

pub use batch::{Assembler, Batch, RawEvent};
pub use client::{BoxStream, Client, ClientConfig, ClientError, Connector};
pub use frame::{
    decode, encode_ack, encode_batch, encode_json, encode_window, inflate, Frame, Limits,
    ProtocolError,
};
