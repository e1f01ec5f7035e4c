//! `json` (a chunk is one document, encoded without delimiter) and `json_lines` (one document per
//! line). Text that is not JSON becomes an event with `message` and `_jsonparsefailure`.

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Codec, Ecs};

use super::{delimiter, Charset, Splitter};

#[derive(Clone)]
pub struct Json {
    lines: Option<Splitter>,
    delimiter: String,
    charset: Charset,
    ecs: Ecs,
}

pub const OPTIONS: Options = &[&[opt("charset", Ty::Str).default("UTF-8")]];

pub const LINES_OPTIONS: Options = &[&[opt("delimiter", Ty::Str).default("\\n")], OPTIONS[0]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(Json {
        lines: None,
        delimiter: String::new(),
        charset: Charset::from_args(args)?,
        ecs: args.ecs()?,
    }))
}

pub fn build_lines(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    let d = delimiter(args)?;
    Ok(Box::new(Json {
        lines: Some(Splitter::new(&d)),
        delimiter: d,
        charset: Charset::from_args(args)?,
        ecs: args.ecs()?,
    }))
}

fn decode_doc(data: &[u8], charset: Charset, ecs: Ecs, emit: &mut dyn FnMut(Event)) {
    let text = match charset {
        Charset::Utf8 => std::borrow::Cow::Borrowed(data),
        Charset::Latin1 => std::borrow::Cow::Owned(charset.decode(data).0.into_bytes()),
    };
    if text.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    match json::parse_events(&text) {
        Ok(events) => {
            let single = events.len() == 1;
            for mut e in events {
                if ecs.enabled() && single {
                    if let Ok(r) = FieldRef::parse("[event][original]") {
                        let _ = e.set(
                            &r,
                            Value::String(String::from_utf8_lossy(&text).into_owned().into()),
                        );
                    }
                }
                emit(e)
            }
        }
        Err(err) => {
            tracing::warn!("JSON parse error, original data now in message field: {err}");
            let mut e = Event::with_message(String::from_utf8_lossy(&text).into_owned());
            e.tag("_jsonparsefailure");
            emit(e)
        }
    }
}

impl Codec for Json {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        let (charset, ecs) = (self.charset, self.ecs);
        match &mut self.lines {
            Some(s) => s.feed(data, |line| decode_doc(line, charset, ecs, emit)),
            None => decode_doc(data, charset, ecs, emit),
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Some(rest) = self.lines.as_mut().and_then(Splitter::take_rest) {
            decode_doc(&rest, self.charset, self.ecs, emit)
        }
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        json::write_event(e, out);
        out.extend_from_slice(self.delimiter.as_bytes());
    }

    fn fresh(&self) -> Box<dyn Codec> {
        let mut c = self.clone();
        c.lines = self.lines.as_ref().map(|_| Splitter::new(&self.delimiter));
        Box::new(c)
    }

    fn streaming(&self) -> Option<Box<dyn Codec>> {
        self.lines.is_none().then(|| {
            Box::new(Json {
                lines: Some(Splitter::new("\n")),
                delimiter: "\n".into(),
                charset: self.charset,
                ecs: self.ecs,
            }) as Box<dyn Codec>
        })
    }

    fn name(&self) -> &'static str {
        if self.lines.is_some() {
            "json_lines"
        } else {
            "json"
        }
    }
}
