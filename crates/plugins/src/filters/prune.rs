//! `prune`: keeps or removes top-level fields by name (regexes) and values. With `interpolate`,
//! the patterns go through sprintf per event first.

use rstash_pipeline::{opt, Options, Ty};
use std::borrow::Cow;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Template, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use rstash_regex::Regex;
use tracing::warn;

/// Patterns, compiled once unless they need the event.
enum Patterns {
    Fixed(Vec<Regex>),
    PerEvent(Vec<Template>),
}

impl Patterns {
    fn build(
        args: &mut Args,
        name: &str,
        list: Vec<String>,
        interpolate: bool,
    ) -> Result<Patterns, ConfigError> {
        if interpolate {
            return Ok(Patterns::PerEvent(
                list.iter()
                    .map(|s| args.make_template(name, s))
                    .collect::<Result<_, _>>()?,
            ));
        }
        Ok(Patterns::Fixed(
            list.iter()
                .map(|s| {
                    Regex::new(s)
                        .map_err(|e| args.error_at(name, format!("`{s}` is not a regex: {e}")))
                })
                .collect::<Result<_, _>>()?,
        ))
    }

    fn resolve(&self, e: &Event) -> Cow<'_, [Regex]> {
        match self {
            Patterns::Fixed(r) => Cow::Borrowed(r),
            Patterns::PerEvent(t) => Cow::Owned(
                t.iter()
                    .filter_map(|t| Regex::new(&t.render(e)).ok())
                    .collect(),
            ),
        }
    }

    fn is_empty(&self) -> bool {
        match self {
            Patterns::Fixed(r) => r.is_empty(),
            Patterns::PerEvent(t) => t.is_empty(),
        }
    }
}

pub struct Prune {
    whitelist_names: Patterns,
    blacklist_names: Patterns,
    whitelist_values: Vec<(Name, Patterns)>,
    blacklist_values: Vec<(Name, Patterns)>,
}

/// A field name of `*_values`: as written, or through sprintf with `interpolate`.
enum Name {
    Fixed(String),
    PerEvent(Template),
}

impl Name {
    fn resolve(&self, e: &Event) -> String {
        match self {
            Name::Fixed(s) => s.clone(),
            Name::PerEvent(t) => t.render(e).into_owned(),
        }
    }
}

/// `field => pattern` pairs; with `interpolate`, the field names go through sprintf too.
fn value_patterns(
    args: &mut Args,
    name: &str,
    interpolate: bool,
) -> Result<Vec<(Name, Patterns)>, ConfigError> {
    args.string_hash(name)?
        .into_iter()
        .map(|(k, v)| {
            let key = if interpolate {
                Name::PerEvent(args.make_template(name, &k)?)
            } else {
                Name::Fixed(k)
            };
            Ok((key, Patterns::build(args, name, vec![v], interpolate)?))
        })
        .collect()
}

pub const OPTIONS: Options = &[&[
    opt("interpolate", Ty::Boolean).default("false"),
    opt("whitelist_names", Ty::Array).default("[]"),
    opt("blacklist_names", Ty::Array).default("[\"%{[^}]+}\"]"),
    opt("whitelist_values", Ty::Hash).default("{}"),
    opt("blacklist_values", Ty::Hash).default("{}"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let interpolate = args.bool("interpolate", false)?;
    let white = args.strings("whitelist_names")?;
    let black = if args.has("blacklist_names") {
        args.strings("blacklist_names")?
    } else {
        vec!["%\\{[^}]+\\}".to_string()]
    };
    Ok(Box::new(Prune {
        whitelist_names: Patterns::build(args, "whitelist_names", white, interpolate)?,
        // The default removes fields named like an unresolved `%{...}`; never interpolated.
        blacklist_names: Patterns::build(
            args,
            "blacklist_names",
            black,
            interpolate && args.has("blacklist_names"),
        )?,
        whitelist_values: value_patterns(args, "whitelist_values", interpolate)?,
        blacklist_values: value_patterns(args, "blacklist_values", interpolate)?,
    }))
}

/// Keeps the value (or the array elements) for which `keep` says yes; None removes the field.
fn filter_value(v: &Value, keep: impl Fn(&str) -> bool) -> Option<Value> {
    match v {
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .iter()
                .filter(|i| keep(&i.to_java_string()))
                .cloned()
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        other => keep(&other.to_java_string()).then(|| other.clone()),
    }
}

/// A pattern that runs out of its budget counts as not matching.
fn matches(r: &Regex, s: &str) -> bool {
    r.is_match(s).unwrap_or_else(|x| {
        warn!("prune: {x}; counted as no match");
        false
    })
}

impl Filter for Prune {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        // Every name and pattern is resolved against the event as it came, before anything is
        // removed (a pattern may name a field another one removes), as the plugin does.
        let ev: &Event = e;
        let names: Vec<String> = ev.data().keys().map(|k| k.to_string()).collect();
        let white = self.whitelist_names.resolve(ev);
        let black = self.blacklist_names.resolve(ev);
        let values: Vec<(String, Cow<'_, [Regex]>, bool)> = [
            (&self.whitelist_values, true),
            (&self.blacklist_values, false),
        ]
        .into_iter()
        .flat_map(|(list, keep)| {
            list.iter()
                .map(move |(k, p)| (k.resolve(ev), p.resolve(ev), keep))
        })
        .collect();
        for name in &names {
            let drop = (!self.whitelist_names.is_empty()
                && !white.iter().any(|r| matches(r, name)))
                || black.iter().any(|r| matches(r, name));
            if drop {
                e.remove(&FieldRef::key(name));
            }
        }
        for (field, pats, keep_on_match) in values {
            let r = FieldRef::key(&field);
            let Some(v) = e.get(&r) else { continue };
            match filter_value(v, |s| pats.iter().any(|p| matches(p, s)) == keep_on_match) {
                Some(kept) => {
                    let _ = e.set(&r, kept);
                }
                None => {
                    e.remove(&r);
                }
            }
        }
        FilterOutcome::Matched
    }
}
