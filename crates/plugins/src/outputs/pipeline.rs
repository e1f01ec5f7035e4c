//! `pipeline { send_to => [...] }`: hands each event to the pipelines listening on those
//! addresses, into their queues. `receive` returns only once every copy is queued downstream
//! (or, with a persisted queue there, written), so the sending pipeline's own ACK — and with it
//! at-least-once — carries across. `ensure_delivery => true` (the default) waits for an absent or
//! reloading receiver; `false` drops the events for it with a warning.

use rstash_pipeline::{opt, Options, Ty};
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{Args, Output, PluginError};
use tracing::warn;

use crate::bus;

pub struct PipelineOutput {
    send_to: Vec<String>,
    ensure_delivery: bool,
}

pub const OPTIONS: Options = &[&[
    opt("send_to", Ty::Array).required(),
    opt("ensure_delivery", Ty::Boolean).default("true"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let send_to = args.strings("send_to")?;
    if send_to.is_empty() {
        return Err(args.error("pipeline output needs `send_to` (one or more addresses)"));
    }
    let ensure_delivery = args.bool("ensure_delivery", true)?;
    bus::declare_sender(&args.settings.id, &send_to);
    Ok(Box::new(PipelineOutput {
        send_to,
        ensure_delivery,
    }))
}

impl PipelineOutput {
    fn deliver(&self, address: &str, events: &[&Event]) {
        let mut waiting_since: Option<Instant> = None;
        loop {
            let wait = if self.ensure_delivery {
                Duration::from_secs(5)
            } else {
                Duration::ZERO
            };
            if let Some(ctx) = bus::target(address, wait) {
                let copies: Vec<Event> = events.iter().map(|e| (*e).clone()).collect();
                // Stopped: the receiver is being reloaded or stopped; look it up again.
                if ctx.push_all(copies).is_ok() {
                    return;
                }
            }
            if !self.ensure_delivery {
                warn!(
                    "pipeline output: no pipeline listens on `{address}`: {} events dropped (ensure_delivery => false)",
                    events.len()
                );
                return;
            }
            let since = *waiting_since.get_or_insert_with(Instant::now);
            warn!(
                "pipeline output: waiting {:.0} s for a pipeline to listen on `{address}`",
                since.elapsed().as_secs_f64()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Output for PipelineOutput {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        for address in &self.send_to {
            self.deliver(address, events);
        }
        Ok(())
    }
}
