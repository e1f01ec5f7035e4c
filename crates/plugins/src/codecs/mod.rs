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
use rstash_event::{Event, FieldRef, Str, Template, Value};
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
            // SIMD validation: std's byte loop was 8% of `stdin -> null` (every line is checked).
            Charset::Utf8 => match simdutf8::basic::from_utf8(b) {
                Ok(s) => (s.to_string(), false),
                Err(_) => (String::from_utf8_lossy(b).into_owned(), true),
            },
            Charset::Latin1 => (b.iter().map(|&c| c as char).collect(), false),
        }
    }
}

/// A text event as plain/line build it: `message`, plus `[event][original]` under ECS.
pub fn text_event(text: impl Into<Str>, invalid: bool, ecs: Ecs) -> Event {
    let text = text.into();
    let mut e = if ecs.enabled() {
        let mut e = Event::new();
        if let Ok(r) = FieldRef::parse("[event][original]") {
            let _ = e.set(&r, Value::String(text.clone()));
        }
        e.data_mut().insert("message".into(), Value::String(text));
        e
    } else {
        Event::with_message(text)
    };
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

/// Splits a stream on a delimiter, keeping the unfinished tail between calls. Whole lines are
/// handed out straight from the chunk; only a line cut by a chunk's end is copied aside.
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
        let mut rest = data;
        if !self.buf.is_empty() {
            match self.finish_tail(data) {
                Some((line_end, resume)) => {
                    each(&self.buf[..line_end]);
                    self.buf.clear();
                    rest = &data[resume..];
                }
                None => {
                    self.buf.extend_from_slice(data);
                    return;
                }
            }
        }
        let d = self.delimiter.as_slice();
        while let Some(pos) = find(rest, d) {
            each(&rest[..pos]);
            rest = &rest[pos + d.len()..];
        }
        self.buf.extend_from_slice(rest);
    }

    /// Ends the buffered line with the first delimiter of `buf ++ data`, which may straddle the
    /// two: the line's length in `buf` (after appending what `data` adds to it) and where `data`
    /// resumes; None when `data` holds no delimiter end.
    fn finish_tail(&mut self, data: &[u8]) -> Option<(usize, usize)> {
        let d = self.delimiter.as_slice();
        // A delimiter begun at the end of `buf`: the longest such start is the earliest.
        for k in (1..d.len().min(self.buf.len() + 1)).rev() {
            if self.buf.ends_with(&d[..k]) && data.starts_with(&d[k..]) {
                return Some((self.buf.len() - k, d.len() - k));
            }
        }
        let pos = find(data, d)?;
        self.buf.extend_from_slice(&data[..pos]);
        Some((self.buf.len(), pos + d.len()))
    }

    pub fn take_rest(&mut self) -> Option<Vec<u8>> {
        (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [b] => memchr::memchr(*b, hay),
        _ => memchr::memmem::find(hay, needle),
    }
}

/// The `delimiter` option; `\n`-style escapes in it are read as Logstash's validator does.
pub fn delimiter(args: &mut Args) -> Result<String, ConfigError> {
    Ok(args
        .string_or("delimiter", "\n")?
        .replace("\\n", "\n")
        .replace("\\r", "\r")
        .replace("\\t", "\t"))
}

#[cfg(test)]
mod tests {
    use super::Splitter;
    use proptest::prelude::*;

    /// Lines of `text` fed in the given chunk sizes, the unfinished tail last.
    fn split(delim: &str, text: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
        let mut s = Splitter::new(delim);
        let mut out = Vec::new();
        let mut rest = text;
        for &n in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at(n.clamp(1, rest.len()));
            s.feed(chunk, |l| out.push(l.to_vec()));
            rest = tail;
        }
        out.extend(s.take_rest());
        out
    }

    proptest! {
        /// Text as std reads it: valid UTF-8 as is, anything else lossily and flagged.
        #[test]
        fn utf8_decoding_reads_as_std(
            mut text in proptest::collection::vec(prop::sample::select(b"ab\xc3\xa9\xe2\x82\xac\xff".to_vec()), 0..80),
            ascii in "[ -~]{0,100}",
        ) {
            text.extend_from_slice(ascii.as_bytes());
            let want = (
                String::from_utf8_lossy(&text).into_owned(),
                std::str::from_utf8(&text).is_err(),
            );
            prop_assert_eq!(super::Charset::Utf8.decode(&text), want);
        }

        #[test]
        fn chunking_never_changes_the_lines(
            text in proptest::collection::vec(prop::sample::select(b"ab\r\n".to_vec()), 0..60),
            sizes in proptest::collection::vec(1usize..8, 1..6),
            delim in prop::sample::select(vec!["\n", "\r\n", "a\r\n", "aa"]),
        ) {
            let whole = split(delim, &text, &[text.len().max(1)]);
            let mut expected: Vec<Vec<u8>> = String::from_utf8_lossy(&text)
                .split(delim)
                .map(|l| l.as_bytes().to_vec())
                .collect();
            if expected.last().is_some_and(|l| l.is_empty()) {
                expected.pop();
            }
            prop_assert_eq!(&whole, &expected);
            prop_assert_eq!(split(delim, &text, &sizes), expected);
        }
    }
}
