//! `grok`: named-pattern regex parsing with Logstash's capture semantics (see rstash-grok).

use rstash_pipeline::{opt, Options, Ty};
use std::path::Path;
use std::sync::Arc;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_grok::{Captured, CompileOptions, Grok as Compiled, Library, Mode, Outcome};
use rstash_pipeline::{Args, ConfValue, Ecs, Filter, FilterOutcome};
use smallvec::SmallVec;
use tracing::warn;

use super::failure_tags;

/// One compiled pattern and, per capture, where its value goes and whether it overwrites.
struct Pattern {
    grok: Arc<Compiled>,
    targets: Vec<(FieldRef, bool)>,
}

/// The patterns matched against one field.
struct Match {
    source: FieldRef,
    patterns: Vec<Pattern>,
    /// No capture of any pattern goes into the source's top-level field: the captures can be
    /// set while the text is lent out of the event (see `match_lent`).
    apart: bool,
}

pub struct Grok {
    matches: Vec<Match>,
    break_on_match: bool,
    keep_empty_captures: bool,
    tag_on_failure: Vec<String>,
    tag_on_timeout: String,
}

/// Compiles a pattern of option `option`. As Logstash: a missing `patterns_dir` (in `missing`)
/// matters only when a pattern needs it, and then it is the machine, not the config, that is
/// wrong (`-t` warns, a start refuses).
pub(crate) fn compile(
    args: &Args,
    library: &Library,
    option: &str,
    text: &str,
    opts: &CompileOptions,
    missing: &[&str],
) -> Result<rstash_grok::Grok, ConfigError> {
    library.compile(text, opts).map_err(|e| {
        let msg = format!("grok pattern `{text}`: {e}");
        match missing {
            [] => args.error_at(option, msg),
            dirs => args.unavailable(
                "patterns_dir",
                format!("{msg} (no patterns_dir {})", dirs.join(", ")),
            ),
        }
    })
}

pub const OPTIONS: Options = &[&[
    opt("match", Ty::Hash).default("{}"),
    opt("pattern_definitions", Ty::Hash).default("{}"),
    opt("patterns_dir", Ty::Array).default("[]"),
    opt("patterns_files_glob", Ty::Str).default("*"),
    opt("break_on_match", Ty::Boolean).default("true"),
    opt("named_captures_only", Ty::Boolean).default("true"),
    opt("keep_empty_captures", Ty::Boolean).default("false"),
    opt("overwrite", Ty::Array).default("[]"),
    opt("target", Ty::Str),
    opt("timeout_millis", Ty::Number).default("30000"),
    opt("tag_on_failure", Ty::Array).default("[\"_grokparsefailure\"]"),
    opt("tag_on_timeout", Ty::Str).default("_groktimeout"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let mode = match args.ecs()? {
        Ecs::Disabled => Mode::Legacy,
        Ecs::V1 | Ecs::V8 => Mode::EcsV1,
    };
    let mut library = Library::builtin(mode);
    let dirs = args.strings("patterns_dir")?;
    let glob = args.string_or("patterns_files_glob", "*")?;
    let mut missing = Vec::new();
    for dir in &dirs {
        if !load_dir(args, &mut library, dir, &glob)? {
            missing.push(dir.as_str());
        }
    }
    for (name, def) in args.string_hash("pattern_definitions")? {
        library.add(&name, &def);
    }
    let timeout_millis = args.int("timeout_millis", 30_000)?;
    let opts = CompileOptions {
        capture_all: !args.bool("named_captures_only", true)?,
        // Logstash interrupts a match after `timeout_millis`; PCRE2 cannot be interrupted, so the
        // time budget becomes a backtracking budget.
        match_limit: rstash_regex::limit_for_millis(timeout_millis),
    };
    let overwrite = args.strings("overwrite")?;
    let target = args.string("target")?;
    let mut matches = Vec::new();
    for (field, value) in args.hash("match")? {
        let source = args.make_field("match", &field)?;
        let texts: Vec<String> = match &value {
            ConfValue::Array(items) => items.iter().filter_map(ConfValue::text).collect(),
            other => other.text().into_iter().collect(),
        };
        let mut patterns = Vec::with_capacity(texts.len());
        for text in texts {
            let grok = compile(args, &library, "match", &text, &opts, &missing)?;
            let targets = grok
                .captures()
                .iter()
                .map(|c| {
                    let r = capture_ref(args, target.as_deref(), &c.field)?;
                    Ok((r, overwrite.contains(&c.field)))
                })
                .collect::<Result<Vec<_>, ConfigError>>()?;
            patterns.push(Pattern {
                grok: Arc::new(grok),
                targets,
            });
        }
        let apart = patterns
            .iter()
            .flat_map(|p| &p.targets)
            .all(|(r, _)| !same_root(r, &source));
        matches.push(Match {
            source,
            patterns,
            apart,
        });
    }
    if matches.is_empty() {
        return Err(args.error(
            "grok filter needs `match`, e.g. match => { \"message\" => \"%{COMBINEDAPACHELOG}\" }",
        ));
    }
    Ok(Box::new(Grok {
        matches,
        break_on_match: args.bool("break_on_match", true)?,
        keep_empty_captures: args.bool("keep_empty_captures", false)?,
        tag_on_failure: failure_tags(args, "_grokparsefailure")?,
        tag_on_timeout: args.string_or("tag_on_timeout", "_groktimeout")?,
    }))
}

/// Loads the pattern files of `dir` matching `glob`, or `dir` itself when it is a file (as
/// Logstash); false when there is nothing at `dir`.
pub(crate) fn load_dir(
    args: &Args,
    lib: &mut Library,
    dir: &str,
    glob: &str,
) -> Result<bool, ConfigError> {
    let read = |lib: &mut Library, f: &Path| {
        lib.add_file(f).map_err(|e| {
            args.unavailable(
                "patterns_dir",
                format!("cannot read pattern file {}: {e}", f.display()),
            )
        })
    };
    let at = Path::new(dir);
    if at.is_file() {
        read(lib, at)?;
        return Ok(true);
    }
    if !at.is_dir() {
        return Ok(false);
    }
    let pattern = Path::new(dir).join(glob);
    let pattern = pattern.to_string_lossy();
    let paths = ::glob::glob(&pattern)
        .map_err(|e| args.error_at("patterns_files_glob", format!("bad glob `{glob}`: {e}")))?;
    let mut files: Vec<_> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        read(lib, &f)?;
    }
    Ok(true)
}

/// Where a capture named `field` goes: a field reference, under `target` when one is set.
fn capture_ref(args: &Args, target: Option<&str>, field: &str) -> Result<FieldRef, ConfigError> {
    let bracketed = |s: &str| {
        if s.starts_with('[') {
            s.to_string()
        } else {
            format!("[{s}]")
        }
    };
    let text = match target {
        Some(t) => format!("{}{}", bracketed(t), bracketed(field)),
        None => field.to_string(),
    };
    FieldRef::parse(&text)
        .map_err(|e| args.error_at("match", format!("capture name `{field}`: {}", e.0)))
}

#[inline]
fn to_value(c: Captured<'_>) -> Value {
    match c {
        Captured::Str(s) => Value::String(s.into()),
        Captured::Int(i) => Value::Int(i),
        Captured::Float(f) => Value::Float(f),
    }
}

enum Tried {
    Matched,
    NoMatch,
    TimedOut,
}

impl Grok {
    /// Whether a capture is set: an empty one only with `keep_empty_captures`.
    fn keeps(&self, v: &Captured) -> bool {
        self.keep_empty_captures || !matches!(v, Captured::Str(""))
    }

    /// Tries `patterns` in turn with `one` (which sets a match's captures), as `break_on_match`
    /// says: Matched when any matched, TimedOut at once on a time-out.
    fn try_patterns<'p>(
        &self,
        patterns: &'p [Pattern],
        mut one: impl FnMut(&'p Pattern) -> Outcome,
    ) -> Tried {
        let mut tried = Tried::NoMatch;
        for p in patterns {
            match one(p) {
                Outcome::TimedOut => return Tried::TimedOut,
                Outcome::NoMatch => continue,
                Outcome::Matched => tried = Tried::Matched,
            }
            if self.break_on_match {
                break;
            }
        }
        tried
    }

    /// Runs `patterns` over one input text; captures are collected first so the event can be
    /// changed afterwards (the text is borrowed from it).
    fn match_text(
        &self,
        e: &mut Event,
        patterns: &[Pattern],
        idx: Option<usize>,
        src: &FieldRef,
    ) -> Tried {
        // On the stack: no allocation per event, and memory that stays in cache.
        let mut found: SmallVec<[(usize, Value); 16]> = SmallVec::new();
        self.try_patterns(patterns, |p| {
            found.clear();
            let outcome = {
                let text = input_text(e, src, idx);
                p.grok.match_with(&text, |i, v| {
                    if self.keeps(&v) {
                        found.push((i, to_value(v)));
                    }
                })
            };
            if matches!(outcome, Outcome::Matched) {
                e.reserve(found.len());
                for (i, v) in found.drain(..) {
                    let (r, overwrite) = &p.targets[i];
                    handle(e, r, *overwrite, || v);
                }
            }
            outcome
        })
    }
}

impl Grok {
    /// Runs one `match` entry: Matched when a pattern matched the field (or, for an array, any
    /// element); TimedOut at the first time-out.
    fn match_field(&self, e: &mut Event, m: &Match) -> Tried {
        if m.apart {
            if let Some(tried) = self.match_lent(e, m) {
                return tried;
            }
        }
        // An array is matched element by element; anything else once, as a whole.
        let len = match e.get(&m.source) {
            Some(Value::Array(a)) => Some(a.len()),
            _ => None,
        };
        let mut tried = Tried::NoMatch;
        for idx in (0..len.unwrap_or(1)).map(|i| len.map(|_| i)) {
            match self.match_text(e, &m.patterns, idx, &m.source) {
                Tried::TimedOut => return Tried::TimedOut,
                Tried::Matched => tried = Tried::Matched,
                Tried::NoMatch => {}
            }
        }
        tried
    }

    /// Matches a string field with its text lent out of the event, each capture set as it is
    /// read: no capture is held in between (copying them through a buffer cost a tenth of the
    /// filter). The field keeps its place, empty meanwhile, which no capture can see (`apart`).
    /// None when the field holds no string (an array is matched element by element).
    fn match_lent(&self, e: &mut Event, m: &Match) -> Option<Tried> {
        e.lend_str(&m.source, |e, text| {
            self.try_patterns(&m.patterns, |p| {
                e.reserve(p.targets.len());
                p.grok.match_with(text, |i, v| {
                    if self.keeps(&v) {
                        let (r, overwrite) = &p.targets[i];
                        handle(e, r, *overwrite, || to_value(v));
                    }
                })
            })
        })
    }
}

/// Whether `a` and `b` start at the same top-level field (of the same root).
fn same_root(a: &FieldRef, b: &FieldRef) -> bool {
    a.is_metadata() == b.is_metadata() && a.path().first() == b.path().first()
}

/// The text a pattern sees: strings as they are, other values as Logstash's `to_s`, nothing as "".
fn input_text<'e>(e: &'e Event, src: &FieldRef, idx: Option<usize>) -> std::borrow::Cow<'e, str> {
    let v = match (e.get(src), idx) {
        (Some(Value::Array(a)), Some(i)) => a.get(i),
        (v, _) => v,
    };
    match v {
        Some(Value::String(s)) => std::borrow::Cow::Borrowed(s.as_str()),
        None | Some(Value::Null) => std::borrow::Cow::Borrowed(""),
        Some(other) => std::borrow::Cow::Owned(other.to_java_string()),
    }
}

/// Logstash's capture rule: set a missing field, append to an array, turn a string into
/// [old, new]; leave other types alone. `overwrite` replaces.
#[inline]
fn handle(e: &mut Event, r: &FieldRef, overwrite: bool, v: impl FnOnce() -> Value) {
    let set = e.upsert_with(r, v, |slot, v| match slot {
        _ if overwrite => *slot = v,
        Value::Array(a) => a.push(v),
        Value::String(_) => {
            let old = std::mem::replace(slot, Value::Null);
            *slot = Value::Array(vec![old, v]);
        }
        _ => {}
    });
    if let Err(err) = set {
        warn!("grok cannot set a capture: {err}");
    }
}

impl Filter for Grok {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let mut matched = false;
        for m in &self.matches {
            match self.match_field(e, m) {
                Tried::Matched => {
                    matched = true;
                    if self.break_on_match {
                        break;
                    }
                }
                Tried::NoMatch => {}
                Tried::TimedOut => {
                    warn!("grok timed out matching field {:?}", m.source);
                    e.tag(&self.tag_on_timeout);
                    return FilterOutcome::Unmatched;
                }
            }
        }
        if matched {
            FilterOutcome::Matched
        } else {
            for t in &self.tag_on_failure {
                e.tag(t);
            }
            FilterOutcome::Unmatched
        }
    }
}
