//! `sleep`: waits `time` seconds every `every` events (rate limiting, tests of backpressure).

use rstash_pipeline::{opt, Options, Ty};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Filter, FilterOutcome};

pub struct Sleep {
    time: Template,
    every: u64,
    seen: AtomicU64,
}

pub const OPTIONS: Options = &[&[
    opt("time", Ty::Str),
    opt("every", Ty::Number).default("1"),
    opt("replay", Ty::Boolean).default("false"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let Some(time) = args.template("time")? else {
        return Err(args.error("sleep filter needs `time` (seconds)"));
    };
    let every = args.int("every", 1)?;
    if every < 1 {
        return Err(args.error_at("every", "every must be 1 or more"));
    }
    if args.bool("replay", false)? {
        return Err(args.error_at("replay", "replay => true is not supported"));
    }
    Ok(Box::new(Sleep {
        time,
        every: every as u64,
        seen: AtomicU64::new(0),
    }))
}

impl Filter for Sleep {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let n = self.seen.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(self.every) {
            match self.time.render(e).trim().parse::<f64>() {
                Ok(secs) if secs > 0.0 && secs.is_finite() => {
                    std::thread::sleep(Duration::from_secs_f64(secs))
                }
                Ok(_) => {}
                Err(_) => tracing::warn!(
                    "sleep: time `{}` is not a number of seconds",
                    self.time.source()
                ),
            }
        }
        FilterOutcome::Matched
    }
}
