//! `multiline`: joins lines into one event as Logstash's codec does. A line matching `pattern`
//! (grok, XOR `negate`) belongs to the `previous` line or to the `next` one; joined lines are
//! tagged `multiline`. Past `max_lines`/`max_bytes` the event is cut and tagged; with
//! `auto_flush_interval`, a held event is emitted after that long without new data.

use rstash_pipeline::{opt, Options, Ty};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstash_config::ConfigError;
use rstash_event::{Event, Timestamp, Value};
use rstash_grok::{CompileOptions, Grok, Library, Mode};
use rstash_pipeline::{Args, Codec, Ecs};

use super::{Charset, Splitter};
use crate::filters::grok::load_dir;

#[derive(Clone)]
pub struct Multiline {
    grok: Arc<Grok>,
    negate: bool,
    previous: bool,
    tag: String,
    max_lines: usize,
    max_bytes: usize,
    auto_flush: Option<Duration>,
    charset: Charset,
    lines: Splitter,
    buffer: Vec<String>,
    bytes: usize,
    started: Option<Timestamp>,
    last_data: Instant,
}

/// `10 MiB`, `512 kb`, `1024`: Logstash's bytes option.
fn parse_bytes(s: &str) -> Option<usize> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    Some((n * mult) as usize)
}

pub const OPTIONS: Options = &[&[
    opt("pattern", Ty::Str).required(),
    opt("what", Ty::Choice(&["previous", "next"])).required(),
    opt("negate", Ty::Boolean).default("false"),
    opt("patterns_dir", Ty::Array).default("[]"),
    opt("charset", Ty::Str).default("UTF-8"),
    opt("multiline_tag", Ty::Str).default("multiline"),
    opt("max_lines", Ty::Number).default("500"),
    opt("max_bytes", Ty::Bytes).default("10 MiB"),
    opt("auto_flush_interval", Ty::Number),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    let mode = match args.ecs()? {
        Ecs::Disabled => Mode::Legacy,
        Ecs::V1 | Ecs::V8 => Mode::EcsV1,
    };
    let mut library = Library::builtin(mode);
    let dirs = args.strings("patterns_dir")?;
    let mut missing = Vec::new();
    for dir in &dirs {
        if !load_dir(args, &mut library, dir, "*")? {
            missing.push(dir.as_str());
        }
    }
    let pattern = args
        .string("pattern")?
        .ok_or_else(|| args.error("multiline codec needs `pattern`"))?;
    let grok = crate::filters::grok::compile(
        args,
        &library,
        "pattern",
        &pattern,
        &CompileOptions::default(),
        &missing,
    )?;
    let previous = args.choice("what", &["previous", "next"], "previous")? == "previous";
    let max_bytes = match args.string("max_bytes")? {
        Some(s) => parse_bytes(&s).ok_or_else(|| {
            args.error_at("max_bytes", format!("`{s}` is not a size like `10 MiB`"))
        })?,
        None => 10 * 1024 * 1024,
    };
    let auto_flush = args
        .number("auto_flush_interval")?
        .filter(|s| *s > 0.0)
        .map(Duration::from_secs_f64);
    Ok(Box::new(Multiline {
        grok: Arc::new(grok),
        negate: args.bool("negate", false)?,
        previous,
        tag: args.string_or("multiline_tag", "multiline")?,
        max_lines: args.int("max_lines", 500)?.max(1) as usize,
        max_bytes,
        auto_flush,
        charset: Charset::from_args(args)?,
        lines: Splitter::new("\n"),
        buffer: Vec::new(),
        bytes: 0,
        started: None,
        last_data: Instant::now(),
    }))
}

impl Multiline {
    fn over_limits(&self) -> bool {
        self.buffer.len() > self.max_lines || self.bytes >= self.max_bytes
    }

    fn push(&mut self, line: String) {
        if self.buffer.is_empty() {
            self.started = Some(Timestamp::now());
        }
        self.bytes += line.len();
        self.buffer.push(line);
    }

    fn merge(&mut self, emit: &mut dyn FnMut(Event)) {
        if self.buffer.is_empty() {
            return;
        }
        let mut e = Event::with_message(self.buffer.join("\n"));
        if let Some(t) = self.started.take() {
            e.set_timestamp(t);
        }
        if self.buffer.len() > 1 {
            e.tag(&self.tag);
        }
        if self.buffer.len() > self.max_lines {
            e.tag("multiline_codec_max_lines_reached");
        }
        if self.bytes >= self.max_bytes {
            e.tag("multiline_codec_max_bytes_reached");
        }
        self.buffer.clear();
        self.bytes = 0;
        emit(e);
    }

    fn line(&mut self, raw: &[u8], emit: &mut dyn FnMut(Event)) {
        let (text, _) = self.charset.decode(raw);
        self.last_data = Instant::now();
        let matched = self.grok.is_match(&text) != self.negate;
        if self.previous {
            if !matched || self.over_limits() {
                self.merge(emit);
            }
            self.push(text);
        } else {
            self.push(text);
            if !matched || self.over_limits() {
                self.merge(emit);
            }
        }
    }
}

impl Codec for Multiline {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let mut lines = Vec::new();
        self.lines.feed(data, |l| lines.push(l.to_vec()));
        for l in lines {
            self.line(&l, emit);
        }
    }

    fn decode_message(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        self.line(data, emit);
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Some(rest) = self.lines.take_rest() {
            self.line(&rest, emit);
        }
        self.merge(emit);
    }

    fn held(&self) -> usize {
        self.buffer.len()
    }

    fn auto_flush(&self) -> Option<Duration> {
        self.auto_flush
    }

    fn tick(&mut self, emit: &mut dyn FnMut(Event)) {
        if self
            .auto_flush
            .is_some_and(|d| self.last_data.elapsed() >= d)
        {
            self.merge(emit);
        }
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        // As Logstash: the message as is (the codec is for decoding).
        if let Some(Value::String(m)) = e.data().get("message") {
            out.extend_from_slice(m.as_bytes());
        }
        out.push(b'\n');
    }

    fn fresh(&self) -> Box<dyn Codec> {
        let mut c = self.clone();
        c.lines = Splitter::new("\n");
        c.buffer.clear();
        c.bytes = 0;
        c.started = None;
        Box::new(c)
    }

    fn name(&self) -> &'static str {
        "multiline"
    }
}
