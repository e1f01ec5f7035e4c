//! Beats' `dissect` processor: a tokenizer of `%{key}` fields between literal delimiters.
//! Beats' dialect differs from Logstash's dissect filter, and this follows Beats: suffixes
//! `/N` (append order), `#N` (fixed length), `->` (skip repeated delimiters), `|type`
//! (integer, long, float, double, boolean, ip, string); prefixes `+` (append), `?` and `*`
//! (referenced, not kept), `&` (indirect); the first delimiter must match at the start; values
//! are trimmed only when nothing is converted (as Beats does).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::{self, Fields};

static DELIMITER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)(.*?)%\{([^}]*?)}").expect("a valid constant regex"));
static SUFFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(.+?)(/(\d{1,2}))?(#(\d{1,2}))?(->)?(\|([[:alpha:]]*))?$")
        .expect("a valid constant regex")
});

/// The tag Beats adds to `log.flags` when a message does not fit the tokenizer.
const PARSING_ERROR: &str = "dissect_parsing_error";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Normal,
    Skip,
    NamedSkip,
    Pointer,
    Indirect,
    Append,
}

#[derive(Debug, Clone)]
struct Field {
    id: usize,
    kind: Kind,
    key: String,
    ordinal: usize,
    length: usize,
    /// `->`: the delimiter after it may repeat (padding). Only plain and append fields.
    greedy: bool,
    data_type: Option<String>,
    /// The delimiter before this field: an append joins with it (a space when it is empty).
    join: String,
}

impl Field {
    fn saveable(&self) -> bool {
        !matches!(self.kind, Kind::Skip | Kind::NamedSkip | Kind::Pointer)
    }

    fn apply(&self, v: &str, m: &mut Vec<(String, String)>) {
        let set = |m: &mut Vec<(String, String)>, k: &str, v: String| match m
            .iter_mut()
            .find(|(key, _)| key == k)
        {
            Some(slot) => slot.1 = v,
            None => m.push((k.to_string(), v)),
        };
        let get = |m: &[(String, String)], k: &str| {
            m.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone())
        };
        match self.kind {
            Kind::Skip => {}
            Kind::Normal | Kind::NamedSkip | Kind::Pointer => set(m, &self.key, v.to_string()),
            Kind::Indirect => {
                if let Some(name) = get(m, &self.key) {
                    set(m, &name, v.to_string());
                }
            }
            Kind::Append => {
                let joined = match get(m, &self.key) {
                    Some(prev) => {
                        let sep = if self.join.is_empty() {
                            " "
                        } else {
                            &self.join
                        };
                        format!("{prev}{sep}{v}")
                    }
                    None => v.to_string(),
                };
                set(m, &self.key, joined);
            }
        }
    }
}

#[derive(Debug, Clone)]
struct Delimiter {
    needle: String,
    greedy: bool,
}

impl Delimiter {
    fn index_of(&self, s: &str, offset: usize) -> Option<usize> {
        if self.needle.is_empty() {
            return Some(offset);
        }
        s.get(offset..)?.find(&self.needle).map(|i| i + offset)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Trim {
    None,
    Left,
    Right,
    All,
}

#[derive(Debug)]
pub struct Tokenizer {
    delimiters: Vec<Delimiter>,
    /// In application order (by `/N` ordinal, stable).
    fields: Vec<Field>,
    /// Field id → index in `fields`.
    by_id: Vec<usize>,
    trim: Trim,
    trim_chars: Vec<char>,
}

fn invalid(raw: &str, why: &str) -> String {
    format!("invalid dissect tokenizer `{raw}`: {why}")
}

impl Tokenizer {
    pub fn new(raw: &str) -> Result<Tokenizer, String> {
        let mut delimiters = Vec::new();
        let mut fields = Vec::new();
        let mut pos = 0;
        for (id, c) in DELIMITER.captures_iter(raw).enumerate() {
            let (Some(before), Some(key)) = (c.get(1), c.get(2)) else {
                continue;
            };
            let join = before.as_str().to_string();
            let f = field(id, key.as_str(), join.clone()).map_err(|e| invalid(raw, &e))?;
            delimiters.push(Delimiter {
                needle: join,
                greedy: f.greedy,
            });
            fields.push(f);
            pos = key.end() + 1;
        }
        if fields.is_empty() {
            return Err(invalid(raw, "no %{key} in it"));
        }
        if pos < raw.len() {
            delimiters.push(Delimiter {
                needle: raw[pos..].to_string(),
                greedy: false,
            });
        }
        fields.sort_by_key(|f| f.ordinal);
        let mut by_id = vec![0; fields.len()];
        for (i, f) in fields.iter().enumerate() {
            by_id[f.id] = i;
        }
        for f in fields.iter().filter(|f| f.kind == Kind::Indirect) {
            if !fields.iter().any(|r| !r.saveable() && r.key == f.key) {
                return Err(invalid(
                    raw,
                    &format!("missing reference for key '{}'", f.key),
                ));
            }
        }
        Ok(Tokenizer {
            delimiters,
            fields,
            by_id,
            trim: Trim::None,
            trim_chars: vec![' '],
        })
    }

    fn field_by_id(&self, id: usize) -> &Field {
        // Beats looks ids up in a map: a missing one reads as 0.
        &self.fields[self.by_id.get(id).copied().unwrap_or(0)]
    }

    /// Where each field's value lies, by field id.
    fn extract(&self, s: &str) -> Result<Vec<(usize, usize)>, String> {
        let mut positions = vec![(0, 0); self.fields.len()];
        let first = &self.delimiters[0];
        if first.index_of(s, 0) != Some(0) {
            return Err(format!(
                "could not find beginning delimiter: `{}` in remaining: `{s}`, (offset: 0)",
                first.needle
            ));
        }
        let mut offset = first.needle.len();
        let mut i = 0;
        let mut d = 0;
        while d + 1 < self.delimiters.len() {
            let (dl, next) = (&self.delimiters[d], &self.delimiters[d + 1]);
            let start = offset;
            let field = self.field_by_id(i);
            let end = if field.length > 0 {
                let end = offset + field.length;
                if end > s.len() || !s.is_char_boundary(end) {
                    return Err(format!(
                        "field length is greater than string length: remaining: `{}`, (offset: {offset}), field: {}",
                        s.get(offset..).unwrap_or(""),
                        field.key
                    ));
                }
                end
            } else {
                next.index_of(s, offset).ok_or_else(|| {
                    format!(
                        "could not find delimiter: `{}` in remaining: `{}`, (offset: {offset})",
                        dl.needle,
                        s.get(offset..).unwrap_or("")
                    )
                })?
            };
            offset = end;
            if dl.greedy {
                // Padding: the next delimiter repeated right after itself is skipped.
                while offset < s.len() && next.index_of(s, offset + 1) == Some(offset + 1) {
                    offset += 1;
                }
            }
            positions[i] = (start, end);
            offset += next.needle.len();
            i += 1;
            d += 1;
        }
        let field = self.field_by_id(i);
        if field.length > 0 && offset + field.length != s.len() {
            return Err(format!(
                "last fixed length key `{}` (length: {}) does not fit into remaining: `{s}`, (offset: {offset})",
                field.key, field.length
            ));
        }
        if offset < s.len() && i < self.fields.len() {
            positions[i] = (offset, s.len());
        }
        Ok(positions)
    }

    fn trimmed<'a>(&self, v: &'a str) -> &'a str {
        let chars = &self.trim_chars;
        match self.trim {
            Trim::None => v,
            Trim::Left => v.trim_start_matches(|c| chars.contains(&c)),
            Trim::Right => v.trim_end_matches(|c| chars.contains(&c)),
            Trim::All => v.trim_matches(|c| chars.contains(&c)),
        }
    }

    /// The keys and values `s` yields, in the order they were set.
    pub fn dissect(&self, s: &str) -> Result<Vec<(String, Value)>, String> {
        if s.is_empty() {
            return Err("empty string provided".into());
        }
        let positions = self.extract(s)?;
        let convert = self.fields.iter().any(|f| f.data_type.is_some());
        let mut m: Vec<(String, String)> = Vec::new();
        let mut out: Vec<(String, Value)> = Vec::new();
        let mut lookup: Vec<(String, String)> = Vec::new();
        for f in &self.fields {
            let (a, b) = positions[f.id];
            let raw = s.get(a..b).unwrap_or("");
            if !convert {
                f.apply(self.trimmed(raw), &mut m);
                continue;
            }
            f.apply(raw, &mut m);
            if !f.saveable() {
                lookup.push((f.key.clone(), raw.to_string()));
                continue;
            }
            let key = lookup
                .iter()
                .find(|(k, _)| *k == f.key)
                .map_or(f.key.clone(), |(_, v)| v.clone());
            let v = m
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
                .unwrap_or_default();
            let v = match &f.data_type {
                Some(t) => convert_value(t, &v),
                None => Value::String(v),
            };
            match out.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => out.push((key, v)),
            }
        }
        let hidden = |k: &str| self.fields.iter().any(|f| !f.saveable() && f.key == k);
        if convert {
            out.retain(|(k, _)| !hidden(k));
            return Ok(out);
        }
        Ok(m.into_iter()
            .filter(|(k, _)| !hidden(k))
            .map(|(k, v)| (k, Value::String(v)))
            .collect())
    }
}

fn field(id: usize, raw: &str, join: String) -> Result<Field, String> {
    let mut f = Field {
        id,
        kind: Kind::Skip,
        key: String::new(),
        ordinal: 0,
        length: 0,
        greedy: false,
        data_type: None,
        join,
    };
    if raw.is_empty() {
        return Ok(f);
    }
    let c = SUFFIX.captures(raw).ok_or("empty key")?;
    let key = c.get(1).map_or("", |m| m.as_str());
    f.ordinal = c.get(3).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
    f.length = c.get(5).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
    f.greedy = c.get(6).is_some();
    if raw.ends_with('|') {
        return Err("missing data type".into());
    }
    if let Some(t) = c.get(8).map(|m| m.as_str()).filter(|t| !t.is_empty()) {
        if !matches!(
            t,
            "integer" | "long" | "float" | "double" | "string" | "boolean" | "ip"
        ) {
            return Err("invalid data type".into());
        }
        f.data_type = Some(t.to_string());
    }
    if key.starts_with("+&") || key.starts_with("&+") {
        return Err("mixed prefix `&+`".into());
    }
    let (kind, name) = match key.split_at(key.chars().next().map_or(0, char::len_utf8)) {
        ("?", rest) => (Kind::NamedSkip, rest),
        ("*", rest) => (Kind::Pointer, rest),
        ("+", rest) => (Kind::Append, rest),
        ("&", rest) => (Kind::Indirect, rest),
        _ => (Kind::Normal, key),
    };
    // Only plain and indirect fields convert; only plain and append fields keep an ordinal.
    if !matches!(kind, Kind::Normal | Kind::Indirect) {
        f.data_type = None;
    }
    if !matches!(kind, Kind::Normal | Kind::Append) {
        f.ordinal = 0;
        f.greedy = false;
    }
    f.kind = kind;
    f.key = name.to_string();
    Ok(f)
}

/// Go's ParseInt as Beats calls it: base 10, or 16 when the text starts with `0x`.
fn parse_int(s: &str) -> Option<i64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) if !hex.starts_with(['+', '-']) => i64::from_str_radix(hex, 16).ok(),
        Some(_) => None,
        None => s.parse::<i64>().ok(),
    }
}

/// A float as Go's JSON writes it: integral values without a fraction.
fn float_value(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        Value::from(v as i64)
    } else {
        serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number)
    }
}

/// `|type`: the value converted, or the text as it was when it does not convert.
fn convert_value(t: &str, raw: &str) -> Value {
    let v = raw.trim_end_matches(' ');
    let converted = match t {
        "string" => Some(Value::String(v.to_string())),
        "long" => parse_int(v).map(Value::from),
        "integer" => parse_int(v)
            .filter(|n| i32::try_from(*n).is_ok())
            .map(Value::from),
        // float32 precision, written as its shortest decimal (3.14, not 3.140000104904175).
        "float" => v
            .parse::<f32>()
            .ok()
            .filter(|f| f.is_finite())
            .and_then(|f| f.to_string().parse::<f64>().ok())
            .map(float_value),
        "double" => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(float_value),
        "boolean" => match v {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(Value::Bool(true)),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(Value::Bool(false)),
            _ => None,
        },
        "ip" => v
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|_| Value::String(v.to_string())),
        _ => None,
    };
    converted.unwrap_or_else(|| Value::String(raw.to_string()))
}

/// The processor: its tokenizer and where the values go.
pub struct Dissect {
    tokenizer: Tokenizer,
    field: String,
    prefix: String,
    ignore_failure: bool,
    overwrite_keys: bool,
}

impl Dissect {
    pub fn parse(path: &str, s: &Section) -> Result<Dissect, ConfigError> {
        let raw = s
            .string("tokenizer")?
            .ok_or_else(|| ConfigError(format!("setting `{path}.tokenizer` is required")))?;
        let mut tokenizer = Tokenizer::new(&raw)
            .map_err(|e| ConfigError(format!("setting `{path}.tokenizer`: {e}")))?;
        tokenizer.trim = match s.string_or("trim_values", "none")?.as_str() {
            "none" => Trim::None,
            "left" => Trim::Left,
            "right" => Trim::Right,
            "all" => Trim::All,
            other => {
                return Err(ConfigError(format!(
                    "setting `{path}.trim_values`: `{other}` is not none, left, right or all"
                )))
            }
        };
        tokenizer.trim_chars = s.string_or("trim_chars", " ")?.chars().collect();
        Ok(Dissect {
            tokenizer,
            field: s.string_or("field", "message")?,
            prefix: match s.string_or("target_prefix", "dissect")?.as_str() {
                "" => String::new(),
                p => format!("{p}."),
            },
            ignore_failure: s.bool("ignore_failure", false)?,
            overwrite_keys: s.bool("overwrite_keys", false)?,
        })
    }

    /// Applies the tokenizer; on a mismatch the event gets `log.flags: [dissect_parsing_error]`
    /// and is otherwise left as it was, as it is when a key already exists.
    pub fn run(&self, e: &mut Fields) {
        let Some(Value::String(text)) = fields::get(e, &self.field) else {
            tracing::debug!("dissect: field `{}` is missing or not a string", self.field);
            return;
        };
        let found = match self.tokenizer.dissect(text) {
            Ok(found) => found,
            Err(err) => {
                fields::append_tags(e, "log.flags", &[PARSING_ERROR.to_string()], false);
                if !self.ignore_failure {
                    tracing::debug!("dissect: {err}");
                }
                return;
            }
        };
        if !self.overwrite_keys {
            for (k, _) in &found {
                let key = format!("{}{k}", self.prefix);
                if fields::get(e, &key).is_some() || blocked(e, &key) {
                    tracing::debug!("dissect: cannot override existing key with `{key}`");
                    return;
                }
            }
        }
        for (k, v) in found {
            fields::put(e, &format!("{}{k}", self.prefix), v);
        }
    }
}

/// Whether a dotted path runs through a value that is not an object (Beats refuses to replace it).
fn blocked(e: &Fields, path: &str) -> bool {
    let mut cur = e;
    let parts: Vec<&str> = path.split('.').collect();
    for p in &parts[..parts.len().saturating_sub(1)] {
        match cur.get(*p) {
            Some(Value::Object(m)) => cur = m,
            Some(_) => return true,
            None => return false,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(tok: &str, s: &str) -> Result<Value, String> {
        let t = Tokenizer::new(tok)?;
        let out = t.dissect(s)?;
        Ok(Value::Object(out.into_iter().collect()))
    }

    #[test]
    fn plain_fields_and_delimiters() {
        assert_eq!(
            run("%{a} %{b} - %{c}", "one two - three four").unwrap(),
            json!({"a": "one", "b": "two", "c": "three four"})
        );
        // The first delimiter must be at the very start.
        assert!(run("[%{a}]", "x[y]").is_err());
        assert!(run("%{a} %{b}", "nospace").is_err());
    }

    #[test]
    fn greedy_padding_append_and_references() {
        assert_eq!(
            run("%{a->} %{b}", "left     right").unwrap(),
            json!({"a": "left", "b": "right"})
        );
        assert_eq!(
            run("%{+n/2} %{+n/1}", "world hello").unwrap(),
            json!({"n": "hello world"})
        );
        assert_eq!(
            run("%{+n}, %{+n}", "a, b").unwrap(),
            json!({"n": "a, b"}),
            "appends join with the delimiter before them"
        );
        assert_eq!(
            run("%{?k}=%{&k}", "user=ann").unwrap(),
            json!({"user": "ann"})
        );
        assert_eq!(
            run("%{*k}=%{&k}", "user=ann").unwrap(),
            json!({"user": "ann"})
        );
        assert_eq!(run("%{} %{b}", "skip keep").unwrap(), json!({"b": "keep"}));
        assert!(
            Tokenizer::new("%{&k}").is_err(),
            "indirect without a reference"
        );
    }

    #[test]
    fn fixed_lengths_and_types() {
        assert_eq!(
            run("%{a#3}%{b}", "abcdef").unwrap(),
            json!({"a": "abc", "b": "def"})
        );
        assert_eq!(
            run(
                "%{n|integer} %{l|long} %{f|float} %{d|double} %{b|boolean} %{ip|ip} %{x|integer}",
                "0x1F 9000000000 2.5 2.0 true 10.0.0.1 nope"
            )
            .unwrap(),
            json!({"n": 31, "l": 9000000000i64, "f": 2.5, "d": 2, "b": true, "ip": "10.0.0.1", "x": "nope"})
        );
        // float32 precision, written as its shortest decimal.
        assert_eq!(run("%{f|float}", "1.1").unwrap(), json!({"f": 1.1}));
        assert!(Tokenizer::new("%{a|}").is_err());
        assert!(Tokenizer::new("%{a|number}").is_err());
    }

    proptest::proptest! {
        /// Any tokenizer either is refused or, on any text, gives values or an error: never a
        /// panic, whatever the delimiters, suffixes and multi-byte characters.
        #[test]
        fn any_tokenizer_on_any_text(
            tok in "([a-z ,|:é#/+&?*>-]{0,4}%\\{[a-z?*&+]{0,3}(/[0-9])?(#[0-9])?(->)?(\\|[a-z]{0,7})?\\}){1,4}[a-z ,é]{0,3}",
            text in "[a-z0-9 ,|:é#.x-]{0,40}",
        ) {
            if let Ok(t) = Tokenizer::new(&tok) {
                let _ = t.dissect(&text);
            }
        }
    }

    #[test]
    fn processor_writes_under_the_prefix_and_flags_failures() {
        let cfg = json!({"tokenizer": "%{pid|integer} - %{name}", "target_prefix": "service"});
        let s = Section::new("p", Some(&cfg)).unwrap();
        let d = Dissect::parse("p", &s).unwrap();
        let mut e: Fields = json!({"message": "321 - App01"})
            .as_object()
            .unwrap()
            .clone();
        d.run(&mut e);
        assert_eq!(e["service"], json!({"pid": 321, "name": "App01"}));
        // Again: the keys exist now, so nothing changes.
        let before = e.clone();
        d.run(&mut e);
        assert_eq!(e, before);
        let mut bad: Fields = json!({"message": "no dash"}).as_object().unwrap().clone();
        d.run(&mut bad);
        assert_eq!(bad["log"]["flags"], json!(["dissect_parsing_error"]));
    }
}
