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

/// While rstash drains (after a stop signal, or once every input finished), says every few
/// seconds what it still waits for: outputs holding events and why, events still queued.
pub fn spawn_drain_report(node: Arc<Node>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("drain-report".into())
        .spawn(move || loop {
            std::thread::sleep(every);
            for line in node.read(|ps| ps.iter().flat_map(waiting_for).collect::<Vec<_>>()) {
                info!("{line}");
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot start the drain report: {e}");
    }
}

/// One line per output of `e` that holds events, or one for the queue: what the drain waits for.
fn waiting_for(e: &crate::api::Entry) -> Vec<String> {
    let Some(m) = &e.current else {
        return Vec::new();
    };
    let id = &e.settings.id;
    let mut lines: Vec<String> = m
        .outputs
        .iter()
        .filter_map(|o| {
            let n = o.busy.load(Ordering::Relaxed);
            (n > 0).then(|| {
                let why = o
                    .problem
                    .get()
                    .map(|p| format!("{p}, "))
                    .unwrap_or_default();
                format!(
                    "pipeline {id}: waiting for output {} ({why}{n} events in flight)",
                    o.name
                )
            })
        })
        .collect();
    let queued = m.queued();
    if queued > 0 {
        lines.push(format!("pipeline {id}: {queued} events still queued"));
    }
    lines
}
