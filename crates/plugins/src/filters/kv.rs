//! `kv`: parses `key=value` pairs with Logstash's kv filter semantics. The options build one Ruby
//! regex exactly as the plugin's `register` does (keys and unquoted values are runs of
//! backslash-escaped or non-separator characters; values may be quoted or bracketed; the
//! separators may be user regexes), scanned left to right as Ruby's `String#scan` does, so every
//! edge case of the plugin (escaped spaces, quotes followed by more text, look-ahead in
//! `field_split_pattern`) comes out the same. A runaway user pattern is cut by `timeout_millis`.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Template, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use rstash_regex::{Exceeded, Regex};
use tracing::warn;

use super::{failure_tags, field_or_key, TextCase};

pub struct Kv {
    source: FieldRef,
    target: Option<FieldRef>,
    /// Key, then one group per kind of value (quoted, bracketed, unquoted).
    scan: Regex,
    /// The value separator alone: text without one is not parsed at all.
    value_split: Regex,
    recursive: bool,
    trim_key: Option<Regex>,
    trim_value: Option<Regex>,
    remove_char_key: Option<Regex>,
    remove_char_value: Option<Regex>,
    transform_key: Option<TextCase>,
    transform_value: Option<TextCase>,
    include_keys: Vec<Template>,
    exclude_keys: Vec<Template>,
    prefix: Template,
    allow_duplicate_values: bool,
    allow_empty_values: bool,
    default_keys: Vec<(String, String)>,
    tag_on_failure: Vec<String>,
    tag_on_timeout: Vec<String>,
}

/// A Ruby regex interpolated into another (`/#{re}/`): a group of its own.
fn group(p: &str) -> String {
    format!("(?:{p})")
}

/// Characters that are backslash-escaped or not in the class, captured.
fn until_class(class: &str) -> String {
    format!(r"((?:\\.|[^{class}])+)")
}

/// Characters that do not start a match of `pattern` (backslash-escaped ones as pairs),
/// captured. The separator is looked for first, so a separator that itself begins with a
/// backslash (`\\r\\n`) still ends the run.
fn until_pattern(pattern: &str) -> String {
    format!(r"((?:(?!{pattern})(?:\\.|.))+)")
}

/// Text between `open` and `close`, captured (possibly empty: then the group is unset).
fn quoted(open: &str, close: &str) -> String {
    format!("{open}{}?{close}", until_class(close))
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str).default("message"),
    opt("target", Ty::Str),
    opt("prefix", Ty::Str).default(""),
    opt("field_split", Ty::Str).default(" "),
    opt("field_split_pattern", Ty::Str),
    opt("value_split", Ty::Str).default("="),
    opt("value_split_pattern", Ty::Str),
    opt("whitespace", Ty::Choice(&["lenient", "strict"])).default("lenient"),
    opt("include_brackets", Ty::Boolean).default("true"),
    opt("recursive", Ty::Boolean).default("false"),
    opt("trim_key", Ty::Str),
    opt("trim_value", Ty::Str),
    opt("remove_char_key", Ty::Str),
    opt("remove_char_value", Ty::Str),
    opt(
        "transform_key",
        Ty::Choice(&["uppercase", "lowercase", "capitalize"]),
    ),
    opt(
        "transform_value",
        Ty::Choice(&["uppercase", "lowercase", "capitalize"]),
    ),
    opt("include_keys", Ty::Array).default("[]"),
    opt("exclude_keys", Ty::Array).default("[]"),
    opt("default_keys", Ty::Hash).default("{}"),
    opt("allow_duplicate_values", Ty::Boolean).default("true"),
    opt("allow_empty_values", Ty::Boolean).default("false"),
    opt("timeout_millis", Ty::Number).default("30000"),
    opt("tag_on_timeout", Ty::Array).default("[\"_kv_filter_timeout\"]"),
    opt("tag_on_failure", Ty::Array).default("[\"_kv_filter_error\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
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
    let timeout = args.int("timeout_millis", 30_000)?;
    let limit = rstash_regex::limit_for_millis(timeout);
    let compile = |args: &Args, name: &str, p: &str| {
        Regex::with_limit(p, limit)
            .map_err(|e| args.error_at(name, format!("invalid regular expression /{p}/: {e}")))
    };
    let chars = |args: &mut Args, name: &str, shape: fn(&str) -> String| match args.string(name)? {
        None => Ok(None),
        Some(c) if c.is_empty() => Ok(None),
        Some(c) => compile(args, name, &shape(&c)).map(Some),
    };

    let field_split = args.string_or("field_split", " ")?;
    let value_split = args.string_or("value_split", "=")?;
    if value_split.is_empty() {
        return Err(args.error_at("value_split", "`value_split` must be a non-empty string"));
    }
    let fsp = args.string("field_split_pattern")?;
    let vsp = args.string("value_split_pattern")?;
    for (name, p) in [("field_split_pattern", &fsp), ("value_split_pattern", &vsp)] {
        if p.as_deref() == Some("") {
            return Err(args.error_at(name, format!("`{name}` must be a non-empty string")));
        }
    }
    let custom = fsp.is_some() || vsp.is_some();
    let fs = group(&fsp.clone().unwrap_or_else(|| format!("[{field_split}]")));
    let mut vs = group(&vsp.unwrap_or_else(|| format!("[{value_split}]")));
    if args.choice("whitespace", &["lenient", "strict"], "lenient")? == "lenient" {
        vs = group(&format!(" *{vs} *"));
    }
    let key = if custom {
        until_pattern(&format!("{vs}|{fs}"))
    } else {
        until_class(&format!("{value_split}{field_split}"))
    };
    let mut values = vec![quoted("\"", "\""), quoted("'", "'")];
    if args.bool("include_brackets", true)? {
        values.extend([quoted(r"\(", r"\)"), quoted(r"\[", r"\]"), quoted("<", ">")]);
    }
    values.push(match &fsp {
        Some(_) => until_pattern(&fs),
        None => until_class(&field_split),
    });
    let union = values
        .iter()
        .map(|v| group(v))
        .collect::<Vec<_>>()
        .join("|");
    let scan = format!("{key}{vs}(?:{union})?(?:{fs}|$)");
    let scan = compile(args, "field_split_pattern", &scan)?;
    let value_split = compile(args, "value_split_pattern", &vs)?;

    let templates = |args: &mut Args, name: &str| -> Result<Vec<Template>, ConfigError> {
        let keys = args.strings(name)?;
        keys.iter().map(|k| args.make_template(name, k)).collect()
    };
    let prefix = args.string_or("prefix", "")?;
    Ok(Box::new(Kv {
        source: args
            .field("source")?
            .unwrap_or_else(|| FieldRef::key("message")),
        target: args.field("target")?,
        scan,
        value_split,
        recursive: args.bool("recursive", false)?,
        trim_key: chars(args, "trim_key", |c| format!("^[{c}]+|[{c}]+$"))?,
        trim_value: chars(args, "trim_value", |c| format!("^[{c}]+|[{c}]+$"))?,
        remove_char_key: chars(args, "remove_char_key", |c| format!("[{c}]"))?,
        remove_char_value: chars(args, "remove_char_value", |c| format!("[{c}]"))?,
        transform_key: case(args, "transform_key")?,
        transform_value: case(args, "transform_value")?,
        include_keys: templates(args, "include_keys")?,
        exclude_keys: templates(args, "exclude_keys")?,
        prefix: args.make_template("prefix", &prefix)?,
        allow_duplicate_values: args.bool("allow_duplicate_values", true)?,
        allow_empty_values: args.bool("allow_empty_values", false)?,
        default_keys: args.string_hash("default_keys")?,
        tag_on_failure: failure_tags(args, "_kv_filter_error")?,
        tag_on_timeout: if args.has("tag_on_timeout") {
            args.strings("tag_on_timeout")?
        } else {
            vec!["_kv_filter_timeout".into()]
        },
    }))
}

/// The keys `include_keys`/`exclude_keys` name for this event (they may hold `%{field}`).
struct Keys {
    include: Vec<String>,
    exclude: Vec<String>,
    prefix: String,
}

impl Kv {
    fn strip(re: &Option<Regex>, s: String) -> Result<String, Exceeded> {
        match re {
            Some(re) => re.replace_all(&s, ""),
            None => Ok(s),
        }
    }

    /// Ruby's `parse`: the pairs of `text` added to `kv` in order.
    fn parse(&self, text: &str, keys: &Keys, kv: &mut Map, depth: usize) -> Result<(), Exceeded> {
        if !self.value_split.is_match(text)? {
            return Ok(());
        }
        let mut pairs = Vec::new();
        self.scan.for_each_match(text, |c| {
            let value = (2..c.len()).find_map(|i| c.get(i));
            pairs.push((c.get(1).unwrap_or(""), value));
        })?;
        for (raw_key, value) in pairs {
            let value = match value {
                Some(v) if !v.is_empty() => v,
                _ if self.allow_empty_values => "",
                _ => continue,
            };
            let mut key = Self::strip(&self.trim_key, raw_key.to_string())?;
            key = Self::strip(&self.remove_char_key, key)?;
            if let Some(c) = self.transform_key {
                key = c.apply(&key);
            }
            if (!keys.include.is_empty() && !keys.include.contains(&key))
                || keys.exclude.contains(&key)
            {
                continue;
            }
            let key = format!("{}{key}", keys.prefix);
            let mut text = Self::strip(&self.trim_value, value.to_string())?;
            text = Self::strip(&self.remove_char_value, text)?;
            if let Some(c) = self.transform_value {
                text = c.apply(&text);
            }
            // `kv[key].include?(value)`: a substring test when the key holds one string.
            if !self.allow_duplicate_values {
                let seen = match kv.get(key.as_str()) {
                    Some(Value::String(s)) => s.contains(text.as_str()),
                    Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(text.as_str())),
                    _ => false,
                };
                if seen {
                    continue;
                }
            }
            let mut value = Value::String(text.into());
            if self.recursive && depth < rstash_event::MAX_DECODE_DEPTH {
                if let Value::String(s) = &value {
                    let mut inner = Map::default();
                    self.parse(s, keys, &mut inner, depth + 1)?;
                    if !inner.is_empty() {
                        value = Value::Object(inner);
                    }
                }
            }
            match kv.get_mut(key.as_str()) {
                None => {
                    kv.insert(key.into(), value);
                }
                Some(Value::Array(a)) => a.push(value),
                Some(old) => {
                    let first = std::mem::replace(old, Value::Null);
                    *old = Value::Array(vec![first, value]);
                }
            }
        }
        Ok(())
    }

    fn pairs(&self, e: &Event) -> Result<Map, Exceeded> {
        let keys = Keys {
            include: self
                .include_keys
                .iter()
                .map(|t| t.render(e).into())
                .collect(),
            exclude: self
                .exclude_keys
                .iter()
                .map(|t| t.render(e).into())
                .collect(),
            prefix: self.prefix.render(e).into(),
        };
        let mut kv = Map::default();
        match e.get(&self.source) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => self.parse(s, &keys, &mut kv, 0)?,
            Some(Value::Array(items)) => {
                for v in items {
                    if let Value::String(s) = v {
                        self.parse(s, &keys, &mut kv, 0)?;
                    }
                }
            }
            Some(other) => warn!(
                "kv filter has no support for this type of data: {}",
                other.to_java_string()
            ),
        }
        // `default_keys.merge(kv)`: the defaults first, in their order, values found replace them.
        if self.default_keys.is_empty() {
            return Ok(kv);
        }
        let mut merged = Map::default();
        for (k, v) in &self.default_keys {
            merged.insert(k.as_str().into(), Value::String(v.as_str().into()));
        }
        for (k, v) in kv {
            merged.insert(k, v);
        }
        Ok(merged)
    }
}

impl Filter for Kv {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let kv = match self.pairs(e) {
            Ok(kv) => kv,
            Err(x) => {
                warn!("kv filter: {x}; the event is tagged");
                for t in &self.tag_on_timeout {
                    e.tag(t);
                }
                return FilterOutcome::Unmatched;
            }
        };
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
            warn!("Exception while parsing KV: {err}");
            for t in &self.tag_on_failure {
                e.tag(t);
            }
            return FilterOutcome::Unmatched;
        }
        FilterOutcome::Matched
    }
}
