//! `rubydebug`: the pretty layout of `stdout`; `metadata => true` adds a non-empty `@metadata`.

use rstash_pipeline::{opt, Options, Ty};
use std::io::IsTerminal;

use rstash_config::ConfigError;
use rstash_event::{rubydebug, Event, Value};
use rstash_pipeline::{Args, Codec};

#[derive(Clone)]
pub struct RubyDebug {
    metadata: bool,
    colour: bool,
}

/// amazing_print colours only a terminal with a usable TERM.
fn colour_terminal() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
}

pub const OPTIONS: Options = &[&[opt("metadata", Ty::Boolean).default("false")]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(RubyDebug {
        metadata: args.bool("metadata", false)?,
        colour: colour_terminal(),
    }))
}

impl Codec for RubyDebug {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        emit(Event::with_message(
            String::from_utf8_lossy(data).into_owned(),
        ))
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        let text = if self.metadata && !e.metadata().is_empty() {
            let mut m = e.data().clone();
            m.insert("@metadata".into(), Value::Object(e.metadata().clone()));
            rubydebug::format(&m, self.colour)
        } else {
            rubydebug::format(e.data(), self.colour)
        };
        out.extend_from_slice(text.as_bytes());
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(self.clone())
    }

    fn name(&self) -> &'static str {
        "rubydebug"
    }
}
