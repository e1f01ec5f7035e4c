//! Harvesters → a bounded in-memory queue (`queue.mem.events`) → batches (`flush.min_events`,
//! `flush.timeout`, at most `bulk_max_size`) → output workers → ACKs → the registry. A full queue
//! blocks the harvesters, so a slow or absent output slows reading instead of piling up memory.

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rstash_tail::Registry;
use tracing::warn;

use crate::config::{ConfigError, Section};
use crate::harvest::Item;
use crate::monitor::Metrics;
use crate::outputs::OutputConfig;
use bytes::Bytes;
use rstash_tail::acks::{AckRef, Tracker};

pub struct QueueConfig {
    pub events: usize,
    pub flush_min_events: usize,
    pub flush_timeout: Duration,
}

impl QueueConfig {
    pub fn parse(root: &Section) -> Result<QueueConfig, ConfigError> {
        let q = root.section("queue")?;
        let mem = q.section("mem")?;
        let flush = mem.section("flush")?;
        let cfg = QueueConfig {
            events: mem.int("events", 4096)?.max(1) as usize,
            flush_min_events: flush.int("min_events", 2048)?.max(1) as usize,
            flush_timeout: flush
                .duration("timeout", Duration::from_secs(1))?
                .unwrap_or(Duration::ZERO),
        };
        flush.warn_unknown();
        mem.warn_unknown();
        q.warn_unknown();
        Ok(cfg)
    }
}

struct Batch {
    events: Vec<Bytes>,
    acks: Vec<AckRef>,
}

pub struct Running {
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits until every batch is delivered (or abandoned on abort) and the registry written.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Starts the batching, the output workers and the ACK writer; returns the queue's sender.
pub fn start(
    out: &OutputConfig,
    q: &QueueConfig,
    tracker: Tracker,
    registry: Arc<Mutex<Registry>>,
    abort: Arc<AtomicBool>,
    metrics: Arc<Metrics>,
) -> Result<(SyncSender<Item>, Running), String> {
    let (tx, rx) = mpsc::sync_channel::<Item>(q.events);
    let (batch_tx, batch_rx) = mpsc::sync_channel::<Batch>(out.workers * out.pipelining);
    let pipelining = out.pipelining;
    let batch_rx = Arc::new(Mutex::new(batch_rx));
    let (ack_tx, ack_rx) = mpsc::channel::<Vec<AckRef>>();
    let mut threads = Vec::new();
    let (bulk, min, timeout) = (
        out.bulk_max_size,
        q.flush_min_events.min(out.bulk_max_size),
        q.flush_timeout,
    );
    let a = abort.clone();
    threads.push(spawn("batcher", move || {
        batcher(rx, batch_tx, bulk, min, timeout, &a)
    })?);
    for i in 0..out.workers {
        let mut output = (out.factory)(i, abort.clone())?;
        let rx = batch_rx.clone();
        let acks = ack_tx.clone();
        let m = metrics.clone();
        threads.push(spawn("output", move || loop {
            // One batch, plus whatever else is ready, up to `pipelining` in flight.
            let mut group = Vec::new();
            match rx.lock() {
                Ok(r) => {
                    match r.recv() {
                        Ok(b) => group.push(b),
                        Err(_) => break,
                    }
                    while group.len() < pipelining {
                        match r.try_recv() {
                            Ok(b) => group.push(b),
                            Err(_) => break,
                        }
                    }
                }
                Err(_) => break,
            }
            let (events, mut acks_of): (Vec<Vec<Bytes>>, Vec<Vec<AckRef>>) =
                group.into_iter().map(|b| (b.events, b.acks)).unzip();
            let n: usize = events.iter().map(Vec::len).sum();
            Metrics::add(&m.batches, events.len() as u64);
            Metrics::add(&m.sent, n as u64);
            let bytes: usize = events.iter().flatten().map(Bytes::len).sum();
            Metrics::add(&m.write_bytes, bytes as u64);
            let mut acked = 0;
            // Each batch is recorded as soon as it is delivered, not when the group is.
            let mut done = |i: usize| {
                if let Some(a) = acks_of.get_mut(i) {
                    acked += a.len();
                    Metrics::add(&m.acked, a.len() as u64);
                    let _ = acks.send(std::mem::take(a));
                }
            };
            if let Err(e) = output.publish_all(events, &mut done) {
                Metrics::add(&m.failed, (n - acked) as u64);
                warn!("output: {e}: up to {n} events will be sent again after a restart");
            }
        })?);
    }
    drop(ack_tx);
    threads.push(spawn("registrar", move || {
        registrar(ack_rx, &tracker, &registry, &metrics)
    })?);
    Ok((tx, Running { threads }))
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, String> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|e| e.to_string())
}

fn batcher(
    rx: Receiver<Item>,
    tx: SyncSender<Batch>,
    bulk: usize,
    min: usize,
    timeout: Duration,
    abort: &AtomicBool,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = Batch {
            events: Vec::with_capacity(bulk.min(4096)),
            acks: Vec::with_capacity(bulk.min(4096)),
        };
        let push = |b: &mut Batch, i: Item| {
            b.events.push(i.event);
            b.acks.push(i.ack);
        };
        push(&mut batch, first);
        let deadline = Instant::now() + timeout;
        while batch.events.len() < min {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(i) => push(&mut batch, i),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        while batch.events.len() < bulk {
            match rx.try_recv() {
                Ok(i) => push(&mut batch, i),
                Err(_) => break,
            }
        }
        if abort.load(std::sync::atomic::Ordering::Relaxed) {
            continue; // shutting down without an output: drain so harvesters can stop
        }
        if tx.send(batch).is_err() {
            break;
        }
    }
}

/// Applies ACKs and writes the registry (fsynced) after each group of them.
fn registrar(
    rx: Receiver<Vec<AckRef>>,
    tracker: &Tracker,
    registry: &Mutex<Registry>,
    m: &Metrics,
) {
    let write = || {
        let dirty = tracker.take_dirty(jiff::Timestamp::now().as_second());
        if dirty.is_empty() {
            return;
        }
        if let Ok(mut r) = registry.lock() {
            Metrics::add(&m.registry_updates, dirty.len() as u64);
            match r.update(&dirty, &[]) {
                Ok(()) => Metrics::add(&m.registry_writes, 1),
                Err(e) => {
                    Metrics::add(&m.registry_write_failures, 1);
                    warn!("registry: cannot write: {e}");
                }
            }
        }
    };
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(acks) => {
                tracker.ack(&acks);
                Metrics::add(&m.done, acks.len() as u64);
                while let Ok(more) = rx.try_recv() {
                    tracker.ack(&more);
                    Metrics::add(&m.done, more.len() as u64);
                }
                write();
            }
            // Acknowledgements of filtered lines arrive through the tracker directly.
            Err(RecvTimeoutError::Timeout) => write(),
            Err(RecvTimeoutError::Disconnected) => {
                write();
                return;
            }
        }
    }
}
