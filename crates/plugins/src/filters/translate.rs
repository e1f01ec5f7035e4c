//! `translate`: replaces a field's value through a dictionary, inline or from a YAML, JSON or
//! CSV file that is re-read every `refresh_interval`. Exact, regex, or substring replacement.

use rstash_pipeline::{opt, Options, Ty};
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Template, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use rstash_regex::Regex;
use tracing::warn;

/// Keys in file order, values as the file gives them, and the regexes the mode needs.
struct Dictionary {
    entries: IndexMap<String, Value>,
    /// One regex per key (`regex => true, exact => true`).
    each: Vec<Regex>,
    /// All keys as one alternation (`exact => false`).
    union: Option<Regex>,
}

impl Dictionary {
    fn new(
        entries: IndexMap<String, Value>,
        exact: bool,
        regex: bool,
    ) -> Result<Dictionary, String> {
        let mut d = Dictionary {
            entries,
            each: Vec::new(),
            union: None,
        };
        if regex && exact {
            d.each = d
                .entries
                .keys()
                .map(|k| {
                    Regex::new(k).map_err(|e| format!("dictionary key `{k}` is not a regex: {e}"))
                })
                .collect::<Result<_, _>>()?;
        }
        if !exact && !d.entries.is_empty() {
            let alts: Vec<String> = d
                .entries
                .keys()
                .map(|k| {
                    if regex {
                        format!("(?:{k})")
                    } else {
                        regex::escape(k)
                    }
                })
                .collect();
            d.union =
                Some(Regex::new(&alts.join("|")).map_err(|e| format!("dictionary keys: {e}"))?);
        }
        Ok(d)
    }

    /// A key regex that runs out of its budget translates nothing (with a warning).
    fn lookup(&self, source: &str) -> Option<Value> {
        let gave_up = |x: rstash_regex::Exceeded| warn!("translate: {x}; no translation");
        if let Some(u) = &self.union {
            // Ruby's `gsub(union) { |k| dictionary[k] }`.
            let (mut out, mut last) = (String::with_capacity(source.len()), 0);
            let done = u.for_each_match(source, |c| {
                let m = c.range(0).unwrap_or(last..last);
                out.push_str(&source[last..m.start]);
                if let Some(v) = self.entries.get(&source[m.clone()]) {
                    out.push_str(&v.to_ruby_string());
                }
                last = m.end;
            });
            if let Err(x) = done {
                gave_up(x);
                return None;
            }
            out.push_str(&source[last..]);
            return (out != source).then_some(Value::String(out.into()));
        }
        if !self.each.is_empty() {
            let mut found = None;
            for (i, r) in self.each.iter().enumerate() {
                match r.is_match(source) {
                    Ok(true) => {
                        found = Some(i);
                        break;
                    }
                    Ok(false) => {}
                    Err(x) => {
                        gave_up(x);
                        return None;
                    }
                }
            }
            return self.entries.get_index(found?).map(|(_, v)| v.clone());
        }
        self.entries.get(source).cloned()
    }
}

struct FileSource {
    path: PathBuf,
    interval: Duration,
    merge: bool,
    next: Mutex<Instant>,
}

pub struct Translate {
    /// `iterate_on`: an array of values (the same field as `source`) or of objects (each
    /// translated from its own `source` key into its own `target` key).
    iterate_on: Option<FieldRef>,
    source: FieldRef,
    target: FieldRef,
    override_: bool,
    fallback: Option<Template>,
    exact: bool,
    regex: bool,
    inline: IndexMap<String, Value>,
    dict: RwLock<Dictionary>,
    file: Option<FileSource>,
}

/// Reads a dictionary file by its extension.
fn load(path: &PathBuf) -> Result<IndexMap<String, Value>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.to_string_lossy();
    let value = if name.ends_with(".yml") || name.ends_with(".yaml") {
        let v: serde_json::Value =
            serde_saphyr::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        json::parse(v.to_string().as_bytes()).map_err(|e| format!("{name}: {e}"))?
    } else if name.ends_with(".json") {
        json::parse(text.as_bytes()).map_err(|e| format!("{name}: {e}"))?
    } else if name.ends_with(".csv") {
        let mut m = IndexMap::new();
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let row = super::csv::parse_line(line, ",", '"')
                .map_err(|e| format!("{name}:{}: {e}", n + 1))?;
            let mut cells = row.into_iter().map(Option::unwrap_or_default);
            let (Some(k), v) = (cells.next(), cells.next()) else {
                continue;
            };
            m.insert(k, v.map(Value::from).unwrap_or(Value::Null));
        }
        return Ok(m);
    } else {
        return Err(format!(
            "dictionary {name} must end in .yml, .yaml, .json or .csv"
        ));
    };
    match value {
        Value::Object(m) => Ok(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()),
        Value::Null => Ok(IndexMap::new()),
        _ => Err(format!("dictionary {name} is not a map of keys to values")),
    }
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str),
    opt("field", Ty::Str).deprecated("use source"),
    opt("target", Ty::Str),
    opt("destination", Ty::Str).deprecated("use target"),
    opt("dictionary", Ty::Hash).default("{}"),
    opt("dictionary_path", Ty::Path),
    opt("refresh_interval", Ty::Number).default("300"),
    opt("refresh_behaviour", Ty::Choice(&["merge", "replace"])).default("merge"),
    opt("override", Ty::Boolean),
    opt("fallback", Ty::Str),
    opt("exact", Ty::Boolean).default("true"),
    opt("regex", Ty::Boolean).default("false"),
    opt("iterate_on", Ty::Str),
    opt("yaml_dictionary_code_point_limit", Ty::Number).default("134217728"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    for (new, old) in [("source", "field"), ("target", "destination")] {
        if args.has(new) && args.has(old) {
            return Err(args.error_at(
                old,
                format!("translate: `{old}` and `{new}` name the same thing; set only `{new}`"),
            ));
        }
    }
    let source_name = if args.has("source") {
        "source"
    } else {
        "field"
    };
    let Some(source) = args.field(source_name)? else {
        return Err(args.error("translate filter needs `source`"));
    };
    let ecs = args.ecs()?.enabled();
    let target_name = if args.has("target") {
        "target"
    } else {
        "destination"
    };
    let target = match args.field(target_name)? {
        Some(t) => t,
        None if ecs => source.clone(),
        None => FieldRef::key("translation"),
    };
    let override_ = args.bool("override", target == source)?;
    let fallback = args.template("fallback")?;
    let exact = args.bool("exact", true)?;
    let regex = args.bool("regex", false)?;
    let inline: IndexMap<String, Value> = args
        .hash("dictionary")?
        .into_iter()
        .map(|(k, v)| (k, v.to_value()))
        .collect();
    let path = args.string("dictionary_path")?.map(PathBuf::from);
    let interval = args.int("refresh_interval", 300)?;
    let merge = args.choice("refresh_behaviour", &["merge", "replace"], "merge")? == "merge";
    let _ = args.int("yaml_dictionary_code_point_limit", 134_217_728)?;
    if !inline.is_empty() && path.is_some() {
        return Err(args.error("translate: set `dictionary` or `dictionary_path`, not both"));
    }
    let mut entries = inline.clone();
    if let Some(p) = &path {
        entries = load(p).map_err(|e| args.unavailable("dictionary_path", e))?;
    }
    let dict = Dictionary::new(entries, exact, regex).map_err(|e| args.error(e))?;
    let file = path.filter(|_| interval > 0).map(|path| FileSource {
        path,
        interval: Duration::from_secs(interval as u64),
        merge,
        next: Mutex::new(Instant::now() + Duration::from_secs(interval as u64)),
    });
    Ok(Box::new(Translate {
        iterate_on: args.field("iterate_on")?,
        source,
        target,
        override_,
        fallback,
        exact,
        regex,
        inline,
        dict: RwLock::new(dict),
        file,
    }))
}

impl Translate {
    /// Re-reads the dictionary file when its refresh interval has passed; a bad file keeps the old.
    fn refresh(&self) {
        let Some(f) = &self.file else { return };
        {
            let Ok(mut next) = f.next.lock() else { return };
            if Instant::now() < *next {
                return;
            }
            *next = Instant::now() + f.interval;
        }
        let fresh = match load(&f.path) {
            Ok(m) => m,
            Err(e) => {
                warn!("translate: {e}, continuing with the old dictionary");
                return;
            }
        };
        let Ok(mut d) = self.dict.write() else { return };
        let mut entries = if f.merge {
            d.entries.clone()
        } else {
            self.inline.clone()
        };
        entries.extend(fresh);
        match Dictionary::new(entries, self.exact, self.regex) {
            Ok(n) => *d = n,
            Err(e) => warn!("translate: {e}, continuing with the old dictionary"),
        }
    }
}

impl Translate {
    /// The translation of one value (as text), else the fallback.
    fn translate(&self, v: &Value, e: &Event) -> Option<Value> {
        let text = match v {
            Value::Array(a) => a.first().map(Value::to_ruby_string).unwrap_or_default(),
            other => other.to_ruby_string(),
        };
        let found = match self.dict.read() {
            Ok(d) => d.lookup(&text),
            Err(_) => None,
        };
        found.or_else(|| {
            self.fallback
                .as_ref()
                .map(|fb| Value::String(fb.render(e).into_owned().into()))
        })
    }

    /// `iterate_on`: each element of the array is translated.
    fn iterate(&self, e: &mut Event, on: &FieldRef) -> FilterOutcome {
        let Some(Value::Array(items)) = e.get(on) else {
            return FilterOutcome::Unmatched;
        };
        if *on == self.source {
            // An array of values: the translations, in order, into the target.
            let out: Vec<Value> = items
                .iter()
                .map(|v| self.translate(v, e).unwrap_or(Value::Null))
                .collect();
            return match e.set(&self.target, Value::Array(out)) {
                Ok(()) => FilterOutcome::Matched,
                Err(_) => FilterOutcome::Unmatched,
            };
        }
        // An array of objects: each gets its translation beside its source key.
        let (Some(src), Some(dst)) = (self.source.path().first(), self.target.path().first())
        else {
            return FilterOutcome::Unmatched;
        };
        let values: Vec<Option<Value>> = items
            .iter()
            .map(|item| match item {
                Value::Object(m) => m.get(src).and_then(|v| self.translate(v, e)),
                _ => None,
            })
            .collect();
        if let Some(Value::Array(items)) = e.get_mut(on) {
            for (item, value) in items.iter_mut().zip(values) {
                if let (Value::Object(m), Some(v)) = (item, value) {
                    if self.override_ || !m.contains_key(dst) {
                        m.insert(dst.clone(), v);
                    }
                }
            }
        }
        FilterOutcome::Matched
    }
}

impl Filter for Translate {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        self.refresh();
        if let Some(on) = &self.iterate_on {
            return self.iterate(e, on);
        }
        let Some(v) = e.get(&self.source) else {
            return FilterOutcome::Unmatched;
        };
        if !self.override_ && self.target != self.source && e.includes(&self.target) {
            return FilterOutcome::Unmatched;
        }
        let Some(value) = self.translate(v, e) else {
            return FilterOutcome::Unmatched;
        };
        match e.set(&self.target, value) {
            Ok(()) => FilterOutcome::Matched,
            Err(_) => FilterOutcome::Unmatched,
        }
    }
}
