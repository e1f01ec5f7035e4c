//! The periodic one-line summary per pipeline (`log.progress.interval`, 30 s by default): rates
//! in and out since the last line, what waits in the queue and what is in flight in workers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstash_metrics::rate;
use tracing::info;

use crate::api::Node;

pub fn spawn(node: Arc<Node>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let mut last: HashMap<String, (u64, u64)> = HashMap::new();
            let mut at = Instant::now();
            loop {
                std::thread::sleep(every);
                let secs = at.elapsed().as_secs_f64();
                at = Instant::now();
                let rows = node.read(|ps| {
                    ps.iter()
                        .map(|e| {
                            let s = &e.stats;
                            (
                                e.settings.id.clone(),
                                s.events_in.load(Ordering::Relaxed),
                                s.events_out.load(Ordering::Relaxed),
                                e.current.as_ref().map(|m| m.queued()).unwrap_or(0),
                            )
                        })
                        .collect::<Vec<_>>()
                });
                for (id, ins, outs, queued) in rows {
                    let (pi, po) = last.insert(id.clone(), (ins, outs)).unwrap_or((0, 0));
                    let in_rate = rate(ins, pi, secs);
                    let out_rate = rate(outs, po, secs);
                    // Taken from the queue but not through the outputs yet.
                    let in_flight = ins.saturating_sub(outs).saturating_sub(queued as u64);
                    let line = format!(
                        "in {ins} ({in_rate:.0}/s), out {outs} ({out_rate:.0}/s), queued {queued}, in flight {in_flight}"
                    );
                    info!(pipeline = %id, "{line}");
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the progress logger: {e}");
    }
}
