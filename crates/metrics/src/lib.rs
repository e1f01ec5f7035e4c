//! What rstash and rbeat report about themselves. Their monitoring APIs differ in shape (each
//! follows its original: Logstash's `:9600`, Filebeat's `:5066`), so this crate only holds what
//! both need: process readings, Prometheus text, and serving a router on a port from a range.

pub mod http;
pub mod process;
pub mod prometheus;

/// Events per second between two readings of a counter.
pub fn rate(now: u64, before: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    now.saturating_sub(before) as f64 / secs
}
