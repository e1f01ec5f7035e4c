//! `line`: one event per delimited line (the trailing `\r` is kept, as in Logstash); encodes
//! `format` or `Event#toString` plus the delimiter.

use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Codec, Ecs};

use super::{delimiter, format_or_to_s, text_event, Charset, Splitter};

#[derive(Clone)]
pub struct Line {
    format: Option<Template>,
    charset: Charset,
    ecs: Ecs,
    delimiter: String,
    splitter: Splitter,
}

impl Line {
    pub fn new(format: Option<Template>, charset: Charset, ecs: Ecs, delim: &str) -> Line {
        Line {
            format,
            charset,
            ecs,
            delimiter: delim.to_string(),
            splitter: Splitter::new(delim),
        }
    }
}

pub const OPTIONS: Options = &[&[
    opt("charset", Ty::Str).default("UTF-8"),
    opt("delimiter", Ty::Str).default("\\n"),
    opt("format", Ty::Str),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    let format = args.template("format")?;
    let charset = Charset::from_args(args)?;
    let ecs = args.ecs()?;
    Ok(Box::new(Line::new(format, charset, ecs, &delimiter(args)?)))
}

impl Codec for Line {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let (charset, ecs) = (self.charset, self.ecs);
        self.splitter.feed(data, |line| {
            let (text, invalid) = charset.decode(line);
            emit(text_event(text, invalid, ecs))
        })
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Some(rest) = self.splitter.take_rest() {
            let (text, invalid) = self.charset.decode(&rest);
            emit(text_event(text, invalid, self.ecs))
        }
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        out.extend_from_slice(format_or_to_s(&self.format, e).as_bytes());
        out.extend_from_slice(self.delimiter.as_bytes());
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(Line::new(
            self.format.clone(),
            self.charset,
            self.ecs,
            &self.delimiter,
        ))
    }

    fn name(&self) -> &'static str {
        "line"
    }
}
