//! `generator`: `lines` (or `message`) repeated `count` times (0 = forever), each with `sequence`.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Timestamp, Value};
use rstash_pipeline::{hostname, Args, Codec, Ecs, Input, InputContext, PluginError};
use rstash_pipeline::{opt, Options, Ty};

use super::HostField;

pub struct Generator {
    lines: Vec<String>,
    count: u64,
    codec: Box<dyn Codec>,
    ecs: Ecs,
    host: HostField,
}

pub const OPTIONS: Options = &[&[
    opt("message", Ty::Str).default("Hello world!"),
    opt("lines", Ty::Array),
    opt("count", Ty::Number).default("0"),
    opt("threads", Ty::Number)
        .default("1")
        .ignored("one generator thread"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let mut lines = args.strings("lines")?;
    let message = args.string_or("message", "Hello world!")?;
    if lines.is_empty() {
        lines.push(message);
    }
    let count = args.int("count", 0)?;
    if count < 0 {
        return Err(args.error_at("count", "count must be 0 (forever) or more"));
    }
    let ecs = args.ecs()?;
    Ok(Box::new(Generator {
        lines,
        count: count as u64,
        codec: args.codec("plain")?,
        ecs,
        host: HostField::new(ecs, "[host][name]", &hostname()),
    }))
}

/// `message => "stdin"`: the message is one line read from stdin when the input starts.
fn read_stdin_line() -> Result<String, PluginError> {
    let mut s = String::new();
    std::io::stdin().read_line(&mut s)?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Events go to the queue in chunks: one lock per chunk, not per event.
const CHUNK: usize = 64;

impl Input for Generator {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let seq_field = if self.ecs.enabled() {
            "[event][sequence]"
        } else {
            "sequence"
        };
        let seq = FieldRef::parse(seq_field).map_err(|e| PluginError(e.to_string()))?;
        if self.lines.len() == 1 && self.lines[0] == "stdin" {
            self.lines[0] = read_stdin_line()?;
        }
        // The lines never change: decode them once, then stamp a copy per iteration.
        let mut protos: Vec<Event> = Vec::new();
        for line in &self.lines {
            self.codec.decode(line.as_bytes(), &mut |mut e| {
                self.host.stamp(&mut e);
                protos.push(e);
            });
        }
        self.codec.flush(&mut |e| protos.push(e));
        let mut chunk: Vec<Event> = Vec::with_capacity(CHUNK);
        let mut n: u64 = 0;
        while self.count == 0 || n < self.count {
            if ctx.is_stopping() {
                break;
            }
            let now = Timestamp::now();
            for p in &protos {
                let mut e = p.clone();
                e.set_timestamp(now);
                let _ = e.set(&seq, Value::Int(n as i64));
                chunk.push(e);
            }
            n += 1;
            if chunk.len() >= CHUNK
                && ctx
                    .push_all(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK)))
                    .is_err()
            {
                return Ok(());
            }
        }
        let _ = ctx.push_all(chunk);
        Ok(())
    }
}
