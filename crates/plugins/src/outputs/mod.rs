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
pub mod tcp;
pub mod udp;
