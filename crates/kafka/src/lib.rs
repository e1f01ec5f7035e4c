//! Producing a batch to Kafka at least once: every message is enqueued (librdkafka batches
//! them), then each acknowledgement awaited; what failed is produced again after a pause, until
//! all are acknowledged or the caller gives up. Shared by rstash's `kafka` output and rbeat's
//! `output.kafka`.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::warn;

/// One message: its topic, optional key and payload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
}

/// Produces every record, retrying failures after `backoff` (which `next_backoff` may grow).
/// Returns Err when `give_up()` says so before all were acknowledged.
pub fn produce_all(
    producer: &FutureProducer,
    rt: &tokio::runtime::Runtime,
    mut pending: Vec<Record>,
    mut backoff: Duration,
    next_backoff: impl Fn(Duration) -> Duration,
    give_up: impl Fn() -> bool,
) -> Result<(), String> {
    while !pending.is_empty() {
        let mut waiting = Vec::with_capacity(pending.len());
        let mut failed = Vec::new();
        for (i, r) in pending.iter().enumerate() {
            loop {
                let mut rec = FutureRecord::<[u8], [u8]>::to(&r.topic).payload(&r.payload);
                if let Some(k) = &r.key {
                    rec = rec.key(k);
                }
                match producer.send_result(rec) {
                    Ok(f) => waiting.push((i, f)),
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        if give_up() {
                            return Err("stopped while the producer's queue was full".into());
                        }
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err((e, _)) => {
                        warn!("kafka: cannot produce to {}: {e}; retrying", r.topic);
                        failed.push(i);
                    }
                }
                break;
            }
        }
        for (i, f) in waiting {
            match rt.block_on(f) {
                Ok(Ok(_)) => {}
                Ok(Err((e, _))) => {
                    warn!(
                        "kafka: producing to {} failed: {e}; retrying",
                        pending[i].topic
                    );
                    failed.push(i);
                }
                Err(_) => failed.push(i),
            }
        }
        if failed.is_empty() {
            break;
        }
        let until = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < until {
            if give_up() {
                return Err(format!("{} messages not acknowledged", failed.len()));
            }
            std::thread::sleep(Duration::from_millis(20).min(backoff));
        }
        backoff = next_backoff(backoff);
        failed.sort_unstable();
        pending = failed
            .into_iter()
            .map(|i| std::mem::take(&mut pending[i]))
            .collect();
    }
    Ok(())
}
