//! `exec`: runs a shell command every `interval` seconds or on a cron `schedule`; its whole
//! stdout goes through the codec (one event with `plain`). `command`, exit status and duration
//! are added (ECS: `[process][command_line]`, `[process][exit_code]`).

use rstash_pipeline::{opt, Options, Ty};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{hostname, Args, Codec, Ecs, Input, InputContext, PluginError};
use tracing::warn;

use super::{HostField, Schedule};

pub struct Exec {
    command: String,
    schedule: Schedule,
    codec: Box<dyn Codec>,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[
    opt("command", Ty::Str).required(),
    opt("interval", Ty::Duration),
    opt("schedule", Ty::Str),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(command) = args.string("command")? else {
        return Err(args.error("exec input needs `command`"));
    };
    if args.has("interval") && args.has("schedule") {
        return Err(args.error("exec input: set `interval` or `schedule`, not both"));
    }
    let Some(schedule) = Schedule::from_args(args, "interval", None)? else {
        return Err(args.error("exec input needs `interval` (seconds) or `schedule` (cron)"));
    };
    Ok(Box::new(Exec {
        command,
        schedule,
        codec: args.codec("plain")?,
        ecs: args.ecs()?,
    }))
}

impl Exec {
    fn stamp(&self, e: &mut Event, host: &HostField, status: Option<i32>, took: Duration) {
        host.stamp(e);
        let fields: [(&str, &str, Value); 3] = [
            (
                "command",
                "[process][command_line]",
                Value::String(self.command.as_str().into()),
            ),
            (
                "[@metadata][exit_status]",
                "[process][exit_code]",
                status.map_or(Value::Null, |s| Value::Int(s as i64)),
            ),
            (
                "[@metadata][duration]",
                "[@metadata][input][exec][process][elapsed_time]",
                if self.ecs.enabled() {
                    Value::Int(took.as_nanos() as i64)
                } else {
                    Value::Float(took.as_secs_f64())
                },
            ),
        ];
        for (legacy, ecs, v) in fields {
            let name = if self.ecs.enabled() { ecs } else { legacy };
            if let Ok(r) = FieldRef::parse(name) {
                if !e.includes(&r) {
                    let _ = e.set(&r, v);
                }
            }
        }
    }
}

impl Input for Exec {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let host = HostField::new(self.ecs, "[host][name]", &hostname());
        loop {
            let started = Instant::now();
            match Command::new("sh")
                .args(["-c", &self.command])
                .stdin(Stdio::null())
                .output()
            {
                Ok(out) => {
                    let took = started.elapsed();
                    let mut events = Vec::new();
                    let mut codec = self.codec.fresh();
                    codec.decode(&out.stdout, &mut |e| events.push(e));
                    codec.flush(&mut |e| events.push(e));
                    for e in &mut events {
                        self.stamp(e, &host, out.status.code(), took);
                    }
                    if ctx.push_all(events).is_err() {
                        return Ok(());
                    }
                }
                Err(e) => warn!("exec input: cannot run `{}`: {e}", self.command),
            }
            // The next run is timed from the start of this one, as with Logstash's interval.
            let wait = match &self.schedule {
                Schedule::Every(d) => d.saturating_sub(started.elapsed()),
                other => other.wait(),
            };
            let until = Instant::now() + wait;
            while Instant::now() < until {
                if ctx.is_stopping() {
                    return Ok(());
                }
                std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
            }
        }
    }
}
