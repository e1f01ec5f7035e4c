//! `mutate`, in Logstash's fixed order: coerce, rename, update, replace, convert, gsub, uppercase,
//! capitalize, lowercase, strip, split, join, merge, copy. Any error stops the remaining operations
//! for that event and tags it `_mutate_error`. `convert` follows mutate <= 3.5.8 (lenient numbers).

use regex::Regex;
use rstash_config::ConfigError;
use rstash_event::numfmt::{ruby_to_f, ruby_to_i};
use rstash_event::{Event, FieldRef, Template, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use rstash_regex::Regex as RubyRegex;

use super::failure_tags;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Conv {
    Integer,
    Float,
    String,
    Boolean,
    IntegerEu,
    FloatEu,
}

enum Pattern {
    Fixed(RubyRegex),
    PerEvent(Template),
}

struct Gsub {
    field: FieldRef,
    pattern: Pattern,
    replacement: Template,
}

pub struct Mutate {
    coerce: Vec<(FieldRef, Template)>,
    rename: Vec<(Template, Template)>,
    update: Vec<(FieldRef, Template)>,
    replace: Vec<(Template, Template)>,
    convert: Vec<(FieldRef, Conv)>,
    gsub: Vec<Gsub>,
    uppercase: Vec<FieldRef>,
    capitalize: Vec<FieldRef>,
    lowercase: Vec<FieldRef>,
    strip: Vec<FieldRef>,
    split: Vec<(FieldRef, String)>,
    join: Vec<(FieldRef, String)>,
    merge: Vec<(FieldRef, FieldRef)>,
    copy: Vec<(FieldRef, FieldRef)>,
    tag_on_failure: Vec<String>,
}

fn fields(args: &mut Args, name: &str) -> Result<Vec<FieldRef>, ConfigError> {
    args.strings(name)?
        .iter()
        .map(|s| args.make_field(name, s))
        .collect()
}

fn field_text(args: &mut Args, name: &str) -> Result<Vec<(FieldRef, String)>, ConfigError> {
    args.string_hash(name)?
        .into_iter()
        .map(|(k, v)| Ok((args.make_field(name, &k)?, v)))
        .collect()
}

fn field_template(args: &mut Args, name: &str) -> Result<Vec<(FieldRef, Template)>, ConfigError> {
    field_text(args, name)?
        .into_iter()
        .map(|(k, v)| Ok((k, args.make_template(name, &v)?)))
        .collect()
}

fn template_pairs(args: &mut Args, name: &str) -> Result<Vec<(Template, Template)>, ConfigError> {
    args.string_hash(name)?
        .into_iter()
        .map(|(k, v)| Ok((args.make_template(name, &k)?, args.make_template(name, &v)?)))
        .collect()
}

fn field_pairs(args: &mut Args, name: &str) -> Result<Vec<(FieldRef, FieldRef)>, ConfigError> {
    field_text(args, name)?
        .into_iter()
        .map(|(k, v)| Ok((k, args.make_field(name, &v)?)))
        .collect()
}

pub const OPTIONS: Options = &[&[
    opt("coerce", Ty::Hash),
    opt("rename", Ty::Hash),
    opt("update", Ty::Hash),
    opt("replace", Ty::Hash),
    opt("convert", Ty::Hash),
    opt("gsub", Ty::Array),
    opt("uppercase", Ty::Array),
    opt("capitalize", Ty::Array),
    opt("lowercase", Ty::Array),
    opt("strip", Ty::Array),
    opt("split", Ty::Hash),
    opt("join", Ty::Hash),
    opt("merge", Ty::Hash),
    opt("copy", Ty::Hash),
    opt("tag_on_failure", Ty::Array).default("[\"_mutate_error\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let mut convert = Vec::new();
    for (f, t) in field_text(args, "convert")? {
        let c = match t.as_str() {
            "integer" => Conv::Integer,
            "float" => Conv::Float,
            "string" => Conv::String,
            "boolean" => Conv::Boolean,
            "integer_eu" => Conv::IntegerEu,
            "float_eu" => Conv::FloatEu,
            other => {
                return Err(args.error_at(
                    "convert",
                    format!("invalid conversion type `{other}`: expected integer, float, string, boolean, integer_eu or float_eu"),
                ))
            }
        };
        convert.push((f, c));
    }
    let g = args.strings("gsub")?;
    if g.len() % 3 != 0 {
        return Err(args.error_at(
            "gsub",
            "gsub takes triples: [field, pattern, replacement, ...]",
        ));
    }
    let mut gsub = Vec::new();
    for t in g.chunks(3) {
        let pattern =
            if t[1].contains("%{") {
                Pattern::PerEvent(args.make_template("gsub", &t[1])?)
            } else {
                Pattern::Fixed(RubyRegex::new(&t[1]).map_err(|e| {
                    args.error_at("gsub", format!("invalid pattern `{}`: {e}", t[1]))
                })?)
            };
        gsub.push(Gsub {
            field: args.make_field("gsub", &t[0])?,
            pattern,
            replacement: args.make_template("gsub", &t[2])?,
        });
    }
    Ok(Box::new(Mutate {
        coerce: field_template(args, "coerce")?,
        rename: template_pairs(args, "rename")?,
        update: field_template(args, "update")?,
        replace: template_pairs(args, "replace")?,
        convert,
        gsub,
        uppercase: fields(args, "uppercase")?,
        capitalize: fields(args, "capitalize")?,
        lowercase: fields(args, "lowercase")?,
        strip: fields(args, "strip")?,
        split: field_text(args, "split")?,
        join: field_text(args, "join")?,
        merge: field_pairs(args, "merge")?,
        copy: field_pairs(args, "copy")?,
        tag_on_failure: failure_tags(args, "_mutate_error")?,
    }))
}

type Op = Result<(), String>;

fn parse_ref(s: &str) -> Result<FieldRef, String> {
    FieldRef::parse(s).map_err(|e| e.to_string())
}

impl Mutate {
    fn apply(&self, e: &mut Event) -> Op {
        for (f, default) in &self.coerce {
            if matches!(e.get(f), Some(Value::Null)) {
                let v = default.render(e).into_owned();
                e.set(f, Value::String(v.into()))
                    .map_err(|x| x.to_string())?;
            }
        }
        for (from, to) in &self.rename {
            let (from, to) = (parse_ref(&from.render(e))?, parse_ref(&to.render(e))?);
            if e.includes(&from) {
                if let Some(v) = e.remove(&from) {
                    e.set(&to, v).map_err(|x| x.to_string())?;
                }
            }
        }
        for (f, v) in &self.update {
            if e.includes(f) {
                let v = v.render(e).into_owned();
                e.set(f, Value::String(v.into()))
                    .map_err(|x| x.to_string())?;
            }
        }
        for (f, v) in &self.replace {
            let (f, v) = (parse_ref(&f.render(e))?, v.render(e).into_owned());
            e.set(&f, Value::String(v.into()))
                .map_err(|x| x.to_string())?;
        }
        for (f, c) in &self.convert {
            if let Some(v) = e.get_mut(f) {
                convert_value(v, *c)?;
            }
        }
        for g in &self.gsub {
            self.gsub_one(e, g)?;
        }
        strings_in_place(e, &self.uppercase, |s| s.to_uppercase());
        strings_in_place(e, &self.capitalize, capitalize);
        strings_in_place(e, &self.lowercase, |s| s.to_lowercase());
        for f in &self.strip {
            match e.get_mut(f) {
                Some(Value::String(s)) => *s = ruby_strip(s).to_string().into(),
                Some(Value::Array(a)) => {
                    for x in a.iter_mut() {
                        match x {
                            Value::String(s) => *s = ruby_strip(s).to_string().into(),
                            other => {
                                return Err(format!(
                                    "undefined method `strip' for {}",
                                    other.to_java_string()
                                ))
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (f, sep) in &self.split {
            if let Some(Value::String(s)) = e.get(f) {
                let parts = ruby_split(s, sep).into_iter().map(Value::from).collect();
                e.set(f, Value::Array(parts)).map_err(|x| x.to_string())?;
            }
        }
        for (f, sep) in &self.join {
            if let Some(Value::Array(a)) = e.get(f) {
                let mut parts = Vec::new();
                flatten_strings(a, &mut parts);
                e.set(f, Value::String(parts.join(sep).into()))
                    .map_err(|x| x.to_string())?;
            }
        }
        for (dest, added) in &self.merge {
            merge(e, dest, added)?;
        }
        for (src, dest) in &self.copy {
            match e.get(src) {
                None | Some(Value::Null) => {}
                Some(v) => {
                    let v = v.clone();
                    e.set(dest, v).map_err(|x| x.to_string())?;
                }
            }
        }
        Ok(())
    }

    fn gsub_one(&self, e: &mut Event, g: &Gsub) -> Op {
        let dynamic;
        let re = match &g.pattern {
            Pattern::Fixed(r) => r,
            Pattern::PerEvent(t) => {
                dynamic = RubyRegex::new(&t.render(e))?;
                &dynamic
            }
        };
        let repl = g.replacement.render(e).into_owned();
        // A regex that runs out of its budget fails the mutate: the event is tagged.
        match e.get_mut(&g.field) {
            Some(Value::String(s)) => {
                *s = re.replace_all(s, &repl).map_err(|x| x.to_string())?.into()
            }
            Some(Value::Array(a)) => {
                for x in a.iter_mut() {
                    if let Value::String(s) = x {
                        *s = re.replace_all(s, &repl).map_err(|x| x.to_string())?.into();
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

impl Filter for Mutate {
    fn failure_tags(&self) -> &[String] {
        &self.tag_on_failure
    }

    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        match self.apply(e) {
            Ok(()) => FilterOutcome::Matched,
            Err(msg) => {
                tracing::warn!("Exception caught while applying mutate filter: {msg}");
                for t in &self.tag_on_failure {
                    e.tag(t);
                }
                FilterOutcome::Unmatched
            }
        }
    }
}

fn strings_in_place(e: &mut Event, fields: &[FieldRef], f: impl Fn(&str) -> String) {
    for r in fields {
        match e.get_mut(r) {
            Some(Value::String(s)) => *s = f(s).into(),
            Some(Value::Array(a)) => {
                for x in a.iter_mut() {
                    if let Value::String(s) = x {
                        *s = f(s).into();
                    }
                }
            }
            _ => {}
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first
            .to_uppercase()
            .chain(c.as_str().to_lowercase().chars())
            .collect(),
        None => String::new(),
    }
}

fn ruby_strip(s: &str) -> &str {
    s.trim_matches(|c: char| matches!(c, '\0' | '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' '))
}

/// Ruby `String#split(sep)`: `" "` splits on whitespace runs; trailing empty strings are dropped.
fn ruby_split(s: &str, sep: &str) -> Vec<String> {
    let mut parts: Vec<String> = if sep == " " {
        s.split_ascii_whitespace().map(str::to_string).collect()
    } else if sep.is_empty() {
        s.chars().map(|c| c.to_string()).collect()
    } else {
        s.split(sep).map(str::to_string).collect()
    };
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

fn flatten_strings(a: &[Value], out: &mut Vec<String>) {
    for v in a {
        match v {
            Value::Array(inner) => flatten_strings(inner, out),
            other => out.push(other.to_ruby_string()),
        }
    }
}

fn merge(e: &mut Event, dest: &FieldRef, added: &FieldRef) -> Op {
    let add = e.get(added).cloned();
    let cur = e.get(dest).cloned();
    let merged = match (cur, add) {
        (Some(Value::Object(mut d)), Some(Value::Object(a))) => {
            d.extend(a);
            Value::Object(d)
        }
        (Some(Value::Object(_)), _) | (_, Some(Value::Object(_))) => {
            tracing::error!(
                "Not possible to merge an array and a hash: dest={dest}, added={added}"
            );
            return Ok(());
        }
        (d, a) => {
            let to_vec = |v: Option<Value>| match v {
                None | Some(Value::Null) => vec![],
                Some(Value::Array(x)) => x,
                Some(x) => vec![x],
            };
            let mut v = to_vec(d);
            v.extend(to_vec(a));
            Value::Array(v)
        }
    };
    e.set(dest, merged).map_err(|x| x.to_string())
}

fn eu(s: &str) -> String {
    s.replace('.', "").replace(',', ".")
}

fn convert_scalar(v: &Value, c: Conv) -> Option<Value> {
    Some(match (c, v) {
        (_, Value::Null) => return None,
        (Conv::String, v) => Value::String(v.to_ruby_string().into()),
        (Conv::Integer | Conv::IntegerEu, Value::Bool(b)) => Value::Int(*b as i64),
        (Conv::Integer | Conv::IntegerEu, Value::Int(i)) => Value::Int(*i),
        (Conv::Integer | Conv::IntegerEu, Value::Float(f)) => Value::Int(f.trunc() as i64),
        (Conv::Integer | Conv::IntegerEu, Value::BigInt(d)) => Value::BigInt(d.clone()),
        (Conv::Float | Conv::FloatEu, Value::BigInt(d)) => Value::Float(d.parse().unwrap_or(0.0)),
        (Conv::Integer, Value::String(s)) => Value::Int(ruby_to_i(&s.replace(',', ""))),
        (Conv::IntegerEu, Value::String(s)) => Value::Int(ruby_to_i(&eu(s))),
        (Conv::Float | Conv::FloatEu, Value::Bool(b)) => Value::Float(if *b { 1.0 } else { 0.0 }),
        (Conv::Float | Conv::FloatEu, Value::Int(i)) => Value::Float(*i as f64),
        (Conv::Float | Conv::FloatEu, Value::Float(f)) => Value::Float(*f),
        (Conv::Float, Value::String(s)) => Value::Float(ruby_to_f(&s.replace(',', ""))),
        (Conv::FloatEu, Value::String(s)) => Value::Float(ruby_to_f(&eu(s))),
        (Conv::Boolean, Value::Bool(b)) => Value::Bool(*b),
        (Conv::Boolean, v) => {
            static TRUE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
            static FALSE: std::sync::OnceLock<Option<Regex>> = std::sync::OnceLock::new();
            let t = TRUE.get_or_init(|| Regex::new(r"(?im)^(true|t|yes|y|1|1.0)$").ok());
            let f = FALSE.get_or_init(|| Regex::new(r"(?im)^(false|f|no|n|0|0.0)$").ok());
            let s = v.to_ruby_string();
            if t.as_ref().is_some_and(|r| r.is_match(&s)) {
                Value::Bool(true)
            } else if s.is_empty() || f.as_ref().is_some_and(|r| r.is_match(&s)) {
                Value::Bool(false)
            } else {
                tracing::warn!("Failed to convert {s} into boolean.");
                return None;
            }
        }
        _ => return None,
    })
}

fn convert_value(v: &mut Value, c: Conv) -> Op {
    match v {
        Value::Object(_) => {}
        Value::Array(a) => {
            for x in a.iter_mut() {
                if let Some(n) = convert_scalar(x, c) {
                    *x = n;
                }
            }
        }
        other => {
            if let Some(n) = convert_scalar(other, c) {
                *other = n;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_numbers() {
        assert_eq!(ruby_to_i("1,000".replace(',', "").as_str()), 1000);
        for (s, n) in [
            ("1.5", 1),
            ("abc", 0),
            ("1e5", 1),
            ("12abc", 12),
            ("", 0),
            ("  -7x", -7),
        ] {
            assert_eq!(ruby_to_i(s), n, "{s}");
        }
        for (s, f) in [
            ("abc", 0.0),
            ("1e5", 100000.0),
            (".5", 0.5),
            ("0.5", 0.5),
            ("3.", 3.0),
        ] {
            assert_eq!(ruby_to_f(s), f, "{s}");
        }
        assert_eq!(
            convert_scalar(&Value::from("1.000,5"), Conv::FloatEu),
            Some(Value::Float(1000.5))
        );
        assert_eq!(
            convert_scalar(&Value::Float(-2.7), Conv::Integer),
            Some(Value::Int(-2))
        );
    }

    #[test]
    fn booleans() {
        assert_eq!(
            convert_scalar(&Value::from("Yes"), Conv::Boolean),
            Some(Value::Bool(true))
        );
        assert_eq!(
            convert_scalar(&Value::from("1x0"), Conv::Boolean),
            Some(Value::Bool(true))
        );
        assert_eq!(
            convert_scalar(&Value::from(""), Conv::Boolean),
            Some(Value::Bool(false))
        );
        assert_eq!(
            convert_scalar(&Value::Int(0), Conv::Boolean),
            Some(Value::Bool(false))
        );
        assert_eq!(convert_scalar(&Value::from("maybe"), Conv::Boolean), None);
    }

    #[test]
    fn split_like_ruby() {
        assert_eq!(ruby_split("a,b,,", ","), ["a", "b"]);
        assert_eq!(ruby_split(",a", ","), ["", "a"]);
        assert_eq!(ruby_split("  a  b ", " "), ["a", "b"]);
        assert!(ruby_split("", ",").is_empty());
        assert_eq!(ruby_split("ab", ""), ["a", "b"]);
    }
}
