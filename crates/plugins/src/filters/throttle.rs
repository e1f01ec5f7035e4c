//! `throttle`: counts events per key in time windows of `period` seconds (by the events'
//! @timestamp, as Logstash does) and marks those below `before_count` or above `after_count`
//! through the common options (`add_tag => "throttled"`).

use rstash_pipeline::{opt, Options, Ty};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use rstash_config::ConfigError;
use rstash_event::{Event, Template, Timestamp};
use rstash_pipeline::{Args, Filter, FilterOutcome};

/// key → window start (epoch seconds) → count.
type Windows = HashMap<String, BTreeMap<i64, i64>>;

pub struct Throttle {
    key: Template,
    before_count: i64,
    after_count: i64,
    period: Template,
    max_age: i64,
    max_counters: usize,
    /// The windows, and the newest epoch seen.
    state: Mutex<(Windows, i64)>,
}

pub const OPTIONS: Options = &[&[
    opt("key", Ty::Str).required(),
    opt("before_count", Ty::Number).default("-1"),
    opt("after_count", Ty::Number).default("-1"),
    opt("period", Ty::Str).default("60"),
    opt("max_age", Ty::Number).default("3600"),
    opt("max_counters", Ty::Number).default("100000"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let Some(key) = args.template("key")? else {
        return Err(args.error("throttle filter needs `key`"));
    };
    let before_count = args.int("before_count", -1)?;
    let after_count = args.int("after_count", -1)?;
    if before_count == -1 && after_count == -1 {
        return Err(args.error("throttle filter needs `before_count` or `after_count`"));
    }
    let period = match args.raw("period") {
        Some(v) => v
            .text()
            .or_else(|| Some(v.to_value().to_java_string()))
            .unwrap_or_default(),
        None => "60".into(),
    };
    Ok(Box::new(Throttle {
        key,
        before_count,
        after_count,
        period: args.make_template("period", &period)?,
        max_age: args.int("max_age", 3600)?,
        max_counters: args.int("max_counters", 100_000)?.max(1) as usize,
        state: Mutex::new((HashMap::new(), i64::MIN)),
    }))
}

impl Throttle {
    fn count(&self, key: String, epoch: i64, period: i64) -> i64 {
        let Ok(mut guard) = self.state.lock() else {
            return 0;
        };
        let (keys, newest) = &mut *guard;
        *newest = (*newest).max(epoch);
        let horizon = *newest - self.max_age;
        if keys.len() >= self.max_counters && !keys.contains_key(&key) {
            // Forget the keys whose last window is oldest (Logstash's max_counters).
            let mut by_age: Vec<(i64, String)> = keys
                .iter()
                .map(|(k, w)| (w.keys().next_back().copied().unwrap_or(i64::MIN), k.clone()))
                .collect();
            by_age.sort();
            for (_, k) in by_age.into_iter().take(keys.len() / 4 + 1) {
                keys.remove(&k);
            }
        }
        let windows = keys.entry(key).or_default();
        windows.retain(|start, _| *start + period > horizon);
        let start = match windows.range(..=epoch).next_back() {
            Some((s, _)) if epoch < *s + period => *s,
            _ => epoch,
        };
        let c = windows.entry(start).or_insert(0);
        *c += 1;
        *c
    }
}

impl Filter for Throttle {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let key = self.key.render(e).into_owned();
        let period = self
            .period
            .render(e)
            .trim()
            .parse::<i64>()
            .unwrap_or(0)
            .max(1);
        let epoch = e.timestamp().unwrap_or_else(Timestamp::now).epoch_seconds();
        let n = self.count(key, epoch, period);
        let throttled = (self.before_count != -1 && n < self.before_count)
            || (self.after_count != -1 && n > self.after_count);
        if throttled {
            FilterOutcome::Matched
        } else {
            FilterOutcome::Unmatched
        }
    }
}
