//! Codecs: bytes ⇄ events.

pub mod cef;
pub mod dots;
pub mod edn;
pub mod es_bulk;
pub mod json;
pub mod line;
pub mod msgpack;
pub mod multiline;
pub mod plain;
pub mod rubydebug;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Template, Value};
use rstash_pipeline::{Args, Ecs};

/// Text decoding by `charset` (UTF-8 or ISO-8859-1). Invalid UTF-8 is kept, lossily, and tagged.
#[derive(Clone, Copy, Debug)]
pub enum Charset {
    Utf8,
    Latin1,
}

pub const INVALID_UTF8_TAG: &str = "_utf8parsefailure";

impl Charset {
    pub fn from_args(args: &mut Args) -> Result<Charset, ConfigError> {
        match args
            .string_or("charset", "UTF-8")?
            .to_ascii_uppercase()
            .as_str()
        {
            "UTF-8" | "UTF8" | "US-ASCII" | "ASCII" => Ok(Charset::Utf8),
            "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "WINDOWS-1252" | "CP1252" => {
                Ok(Charset::Latin1)
            }
            other => Err(args.error_at(
                "charset",
                format!("unsupported charset `{other}` (UTF-8 or ISO-8859-1)"),
            )),
        }
    }

    /// The text, and whether bytes had to be replaced.
    pub fn decode(self, b: &[u8]) -> (String, bool) {
        match self {
            Charset::Utf8 => match std::str::from_utf8(b) {
                Ok(s) => (s.to_string(), false),
                Err(_) => (String::from_utf8_lossy(b).into_owned(), true),
            },
            Charset::Latin1 => (b.iter().map(|&c| c as char).collect(), false),
        }
    }
}

/// A text event as plain/line build it: `message`, plus `[event][original]` under ECS.
pub fn text_event(text: String, invalid: bool, ecs: Ecs) -> Event {
    let mut e = Event::new();
    if ecs.enabled() {
        if let Ok(r) = FieldRef::parse("[event][original]") {
            let _ = e.set(&r, Value::String(text.clone()));
        }
    }
    e.data_mut().insert("message".into(), Value::String(text));
    if invalid {
        e.tag(INVALID_UTF8_TAG);
    }
    e
}

/// `Event#toString`: `<@timestamp> <host> <message>`, missing fields left as `%{host}` / `%{message}`.
pub fn event_to_s(e: &Event) -> String {
    let part = |k: &str| {
        e.data()
            .get(k)
            .map(|v| v.to_java_string())
            .unwrap_or_else(|| format!("%{{{k}}}"))
    };
    match e.timestamp() {
        Some(t) => format!("{} {} {}", t.to_iso(), part("host"), part("message")),
        None => format!("{} {}", part("host"), part("message")),
    }
}

pub fn format_or_to_s(format: &Option<Template>, e: &Event) -> String {
    match format {
        Some(t) => t.render(e).into_owned(),
        None => event_to_s(e),
    }
}

/// Splits a stream on a delimiter, keeping the unfinished tail between calls.
#[derive(Clone, Debug, Default)]
pub struct Splitter {
    delimiter: Vec<u8>,
    buf: Vec<u8>,
}

impl Splitter {
    pub fn new(delimiter: &str) -> Splitter {
        Splitter {
            delimiter: delimiter.as_bytes().to_vec(),
            buf: Vec::new(),
        }
    }

    pub fn feed(&mut self, data: &[u8], mut each: impl FnMut(&[u8])) {
        if self.delimiter.is_empty() {
            each(data);
            return;
        }
        self.buf.extend_from_slice(data);
        let mut start = 0;
        let d = &self.delimiter;
        while let Some(pos) = find(&self.buf[start..], d) {
            each(&self.buf[start..start + pos]);
            start += pos + d.len();
        }
        self.buf.drain(..start);
    }

    pub fn take_rest(&mut self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `delimiter` option; `\n`-style escapes in it are read as Logstash's validator does.
pub fn delimiter(args: &mut Args) -> Result<String, ConfigError> {
    Ok(args
        .string_or("delimiter", "\n")?
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t"))
}
