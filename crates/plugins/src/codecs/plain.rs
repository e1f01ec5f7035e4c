//! `plain`: a chunk is one event; encodes `format` or `Event#toString`, no newline.

use rstash_config::ConfigError;
use rstash_event::{Event, Str, Template};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Codec, Ecs};

use super::{format_or_to_s, line::Line, text_event, Charset};

#[derive(Clone)]
pub struct Plain {
    format: Option<Template>,
    charset: Charset,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[
    opt("charset", Ty::Str).default("UTF-8"),
    opt("format", Ty::Str),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(Plain {
        format: args.template("format")?,
        charset: Charset::from_args(args)?,
        ecs: args.ecs()?,
    }))
}

impl Codec for Plain {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let (text, invalid) = self.charset.decode(data);
        emit(text_event(text, invalid, self.ecs))
    }

    fn decode_text(&mut self, text: Str, emit: &mut dyn FnMut(Event)) {
        match self.charset {
            // Valid UTF-8 already: decoding it would copy it unchanged.
            Charset::Utf8 => emit(text_event(text, false, self.ecs)),
            Charset::Latin1 => self.decode(text.as_bytes(), emit),
        }
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        out.extend_from_slice(format_or_to_s(&self.format, e).as_bytes())
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(self.clone())
    }

    fn streaming(&self) -> Option<Box<dyn Codec>> {
        Some(Box::new(Line::new(
            self.format.clone(),
            self.charset,
            self.ecs,
            "\n",
        )))
    }

    fn name(&self) -> &'static str {
        "plain"
    }
}
