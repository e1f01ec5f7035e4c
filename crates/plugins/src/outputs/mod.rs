//! Outputs.

pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod kafka;
pub mod null;
pub mod pipeline;
pub mod rabbitmq;
pub mod redis;
pub mod s3;
pub mod stdout;
pub mod syslog;
pub mod tcp;
pub mod udp;

/// `data` as one complete gzip member: the file and s3 outputs append one per batch, so a file
/// cut by a crash still holds its whole batches.
pub fn gzip_member(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data)?;
    gz.finish()
}
