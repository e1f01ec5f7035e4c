//! `drop`: cancels the event (`percentage` of the time).

use rstash_pipeline::{opt, Options, Ty};
use std::sync::atomic::{AtomicU64, Ordering};

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{Args, Filter, FilterOutcome};

pub struct Drop {
    percentage: u64,
    state: AtomicU64,
}

pub const OPTIONS: Options = &[&[opt("percentage", Ty::Number).default("100")]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let percentage = args.int("percentage", 100)?;
    if !(0..=100).contains(&percentage) {
        return Err(args.error_at("percentage", "percentage must be between 0 and 100"));
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    Ok(Box::new(Drop {
        percentage: percentage as u64,
        state: AtomicU64::new(seed | 1),
    }))
}

impl Drop {
    /// splitmix64 step: cheap, lock-free, good enough to sample.
    fn roll(&self) -> u64 {
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % 100
    }
}

impl Filter for Drop {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        if self.percentage == 100 || self.roll() < self.percentage {
            e.cancel();
        }
        FilterOutcome::Matched
    }
}
