//! `heartbeat`: an event every `interval` seconds (`count` times, or forever): `message` "ok" (or
//! any text), or with "epoch"/"sequence" a `clock` field holding the time or a counter.

use rstash_pipeline::{opt, Options, Ty};
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{hostname, Args, Ecs, Input, InputContext, PluginError};

use super::{duration, HostField};

pub struct Heartbeat {
    message: String,
    interval: Duration,
    count: i64,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[
    opt("message", Ty::Str).default("ok"),
    opt("interval", Ty::Duration).default("60"),
    opt("count", Ty::Number).default("-1"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Heartbeat {
        message: args.string_or("message", "ok")?,
        interval: duration(args, "interval", Duration::from_secs(60), 1.0)?,
        count: args.int("count", -1)?,
        ecs: args.ecs()?,
    }))
}

impl Input for Heartbeat {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let host = HostField::new(self.ecs, "[host][name]", &hostname());
        let mut sequence = 0i64;
        let mut next = Instant::now();
        while self.count < 0 || sequence < self.count {
            while Instant::now() < next {
                if ctx.is_stopping() {
                    return Ok(());
                }
                std::thread::sleep((next - Instant::now()).min(Duration::from_millis(100)));
            }
            sequence += 1;
            let mut e = Event::new();
            let clock = |ecs_path: &str| {
                if self.ecs.enabled() {
                    FieldRef::parse(ecs_path).unwrap_or_else(|_| FieldRef::key("clock"))
                } else {
                    FieldRef::key("clock")
                }
            };
            let _ = match self.message.as_str() {
                "epoch" => e.set(
                    &clock("[event][created]"),
                    Value::Int(jiff::Timestamp::now().as_second()),
                ),
                "sequence" => e.set(&clock("[event][sequence]"), Value::Int(sequence)),
                m => e.set(&FieldRef::key("message"), Value::String(m.into())),
            };
            host.stamp(&mut e);
            if ctx.push(e).is_err() {
                return Ok(());
            }
            next += self.interval;
        }
        Ok(())
    }
}
