//! `kv`: parses `key=value` pairs (Logstash's kv filter). Values stay strings; quoted and bracketed
//! values keep their spaces; repeated keys become arrays. The scanner is linear, so the
//! `timeout_millis` guard Logstash needs for its regexes can never fire here.

use regex::Regex;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use tracing::warn;

use super::{failure_tags, field_or_key, TextCase};

/// A separator: any one of some characters, or a regex.
enum Split {
    Chars(Vec<char>),
    Pattern(Regex),
}

impl Split {
    fn build(
        args: &mut Args,
        chars: &str,
        default: &str,
        pattern: &str,
    ) -> Result<Split, ConfigError> {
        if let Some(p) = args.string(pattern)? {
            let re = Regex::new(&format!("^(?:{p})"))
                .map_err(|e| args.error_at(pattern, format!("invalid `{pattern}`: {e}")))?;
            return Ok(Split::Pattern(re));
        }
        let c = args.string_or(chars, default)?;
        if c.is_empty() {
            return Err(args.error_at(chars, format!("`{chars}` must not be empty")));
        }
        Ok(Split::Chars(unescape(&c).chars().collect()))
    }

    /// Length of the separator at the start of `s`, if there is one.
    fn at(&self, s: &str) -> Option<usize> {
        match self {
            Split::Chars(cs) => s
                .chars()
                .next()
                .filter(|c| cs.contains(c))
                .map(char::len_utf8),
            Split::Pattern(re) => re.find(s).map(|m| m.end()).filter(|&n| n > 0),
        }
    }
}

/// `\t`, `\n` written in a config mean the characters (Logstash unescapes these options).
fn unescape(s: &str) -> String {
    s.replace("\\t", "\t")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
}

pub struct Kv {
    source: FieldRef,
    target: Option<FieldRef>,
    field_split: Split,
    value_split: Split,
    lenient: bool,
    include_brackets: bool,
    recursive: bool,
    trim_key: Vec<char>,
    trim_value: Vec<char>,
    remove_char_key: Vec<char>,
    remove_char_value: Vec<char>,
    transform_key: Option<TextCase>,
    transform_value: Option<TextCase>,
    include_keys: Vec<String>,
    exclude_keys: Vec<String>,
    prefix: String,
    allow_duplicate_values: bool,
    default_keys: Vec<(String, String)>,
    tag_on_failure: Vec<String>,
}

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let chars = |args: &mut Args, name: &str| -> Result<Vec<char>, ConfigError> {
        Ok(unescape(&args.string_or(name, "")?).chars().collect())
    };
    let case = |args: &mut Args, name: &str| -> Result<Option<TextCase>, ConfigError> {
        match args.string(name)? {
            None => Ok(None),
            Some(s) => TextCase::parse(&s).map(Some).ok_or_else(|| {
                args.error_at(
                    name,
                    format!("`{name}` must be lowercase, uppercase or capitalize"),
                )
            }),
        }
    };
    let _ = args.int("timeout_millis", 30_000)?;
    let _ = args.strings("tag_on_timeout")?;
    Ok(Box::new(Kv {
        source: args
            .field("source")?
            .unwrap_or_else(|| FieldRef::key("message")),
        target: args.field("target")?,
        field_split: Split::build(args, "field_split", " ", "field_split_pattern")?,
        value_split: Split::build(args, "value_split", "=", "value_split_pattern")?,
        lenient: args.choice("whitespace", &["lenient", "strict"], "lenient")? == "lenient",
        include_brackets: args.bool("include_brackets", true)?,
        recursive: args.bool("recursive", false)?,
        trim_key: chars(args, "trim_key")?,
        trim_value: chars(args, "trim_value")?,
        remove_char_key: chars(args, "remove_char_key")?,
        remove_char_value: chars(args, "remove_char_value")?,
        transform_key: case(args, "transform_key")?,
        transform_value: case(args, "transform_value")?,
        include_keys: args.strings("include_keys")?,
        exclude_keys: args.strings("exclude_keys")?,
        prefix: args.string_or("prefix", "")?,
        allow_duplicate_values: args.bool("allow_duplicate_values", true)?,
        default_keys: args.string_hash("default_keys")?,
        tag_on_failure: failure_tags(args, "_kv_filter_error")?,
    }))
}

/// The character that closes a quoted or (with `include_brackets`) bracketed value opened by `open`.
fn closing(open: char, include_brackets: bool) -> Option<char> {
    match open {
        '"' => Some('"'),
        '\'' => Some('\''),
        '(' if include_brackets => Some(')'),
        '[' if include_brackets => Some(']'),
        '<' if include_brackets => Some('>'),
        _ => None,
    }
}

impl Kv {
    /// Position of the value separator ending the key that starts at `from`, and where the value
    /// starts; `None` when a field separator or the end comes first.
    fn key_end(&self, s: &str, from: usize) -> Option<(usize, usize)> {
        let mut i = from;
        while i < s.len() {
            let rest = &s[i..];
            if let Some(n) = self.value_split.at(rest) {
                return Some((i, i + n));
            }
            if self.lenient && rest.starts_with(char::is_whitespace) {
                let ws = rest.len() - rest.trim_start().len();
                if let Some(n) = self.value_split.at(&rest[ws..]) {
                    return Some((i, i + ws + n));
                }
            }
            if self.field_split.at(rest).is_some() {
                return None;
            }
            i += rest.chars().next().map_or(1, char::len_utf8);
        }
        None
    }

    /// The value starting at `from`: (text, end position).
    fn value<'s>(&self, s: &'s str, mut from: usize) -> (&'s str, usize) {
        if self.lenient {
            from = s.len() - s[from..].trim_start().len();
        }
        let rest = &s[from..];
        if let Some(open) = rest.chars().next() {
            if let Some(close) = closing(open, self.include_brackets) {
                if let Some(n) = rest[1..].find(close) {
                    return (&rest[1..1 + n], from + n + 2);
                }
            }
        }
        let mut i = 0;
        while i < rest.len() && self.field_split.at(&rest[i..]).is_none() {
            i += rest[i..].chars().next().map_or(1, char::len_utf8);
        }
        (&rest[..i], from + i)
    }

    fn parse(&self, s: &str, kv: &mut Map) {
        self.parse_at(s, kv, 0)
    }

    /// `depth`: how many values this one is nested in (`recursive`); past
    /// `MAX_DECODE_DEPTH` a value stays a string, so `a=b=c=…` cannot exhaust the stack.
    fn parse_at(&self, s: &str, kv: &mut Map, depth: usize) {
        let mut pos = 0;
        while pos < s.len() {
            while let Some(n) = self.field_split.at(&s[pos..]) {
                pos += n;
            }
            if pos >= s.len() {
                break;
            }
            let Some((kend, vstart)) = self.key_end(s, pos) else {
                // Not a pair: skip to the next field separator.
                let (_, end) = self.value(s, pos);
                pos = end.max(pos + 1);
                continue;
            };
            let raw_key = &s[pos..kend];
            let (raw_value, end) = self.value(s, vstart);
            pos = end.max(vstart);
            if raw_key.is_empty() || raw_value.is_empty() {
                continue;
            }
            self.insert(raw_key, raw_value, kv, depth);
        }
    }

    fn insert(&self, raw_key: &str, raw_value: &str, kv: &mut Map, depth: usize) {
        let mut key = clean(raw_key, &self.trim_key, &self.remove_char_key);
        if let Some(c) = self.transform_key {
            key = c.apply(&key);
        }
        if (!self.include_keys.is_empty() && !self.include_keys.contains(&key))
            || self.exclude_keys.contains(&key)
        {
            return;
        }
        let mut text = clean(raw_value, &self.trim_value, &self.remove_char_value);
        if let Some(c) = self.transform_value {
            text = c.apply(&text);
        }
        let value =
            if self.recursive && depth < rstash_event::MAX_DECODE_DEPTH && self.has_pair(&text) {
                let mut inner = Map::default();
                self.parse_at(&text, &mut inner, depth + 1);
                Value::Object(inner)
            } else {
                Value::String(text)
            };
        let key = format!("{}{key}", self.prefix);
        match kv.get_mut(key.as_str()) {
            None => {
                kv.insert(key.into(), value);
            }
            Some(Value::Array(a)) => {
                if self.allow_duplicate_values || !a.contains(&value) {
                    a.push(value);
                }
            }
            Some(old) => {
                if self.allow_duplicate_values || *old != value {
                    let first = std::mem::replace(old, Value::Null);
                    *old = Value::Array(vec![first, value]);
                }
            }
        }
    }

    fn has_pair(&self, s: &str) -> bool {
        s.char_indices()
            .any(|(i, _)| self.value_split.at(&s[i..]).is_some())
    }
}

/// trim_* strips these characters at both ends; remove_char_* removes them everywhere.
fn clean(s: &str, trim: &[char], remove: &[char]) -> String {
    let t = if trim.is_empty() {
        s
    } else {
        s.trim_matches(|c| trim.contains(&c))
    };
    if remove.is_empty() {
        t.to_string()
    } else {
        t.chars().filter(|c| !remove.contains(c)).collect()
    }
}

impl Filter for Kv {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let mut kv = Map::default();
        match e.get(&self.source) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => self.parse(s, &mut kv),
            Some(Value::Array(items)) => {
                for v in items {
                    if let Value::String(s) = v {
                        self.parse(s, &mut kv);
                    }
                }
            }
            Some(other) => {
                warn!(
                    "kv filter: source is neither a string nor an array, got {}",
                    other.to_java_string()
                );
                return FilterOutcome::Unmatched;
            }
        }
        for (k, v) in &self.default_keys {
            if !kv.contains_key(k.as_str()) {
                kv.insert(k.into(), Value::String(v.clone()));
            }
        }
        if kv.is_empty() {
            return FilterOutcome::Unmatched;
        }
        let result = match &self.target {
            Some(t) => e.set(t, Value::Object(kv)),
            None => kv
                .into_iter()
                .try_for_each(|(k, v)| e.set(&field_or_key(&k), v)),
        };
        if let Err(err) = result {
            warn!("kv filter: {err}");
            for t in &self.tag_on_failure {
                e.tag(t);
            }
            return FilterOutcome::Unmatched;
        }
        FilterOutcome::Matched
    }
}
