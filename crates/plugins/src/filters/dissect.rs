//! `dissect`: splits a field on the literal delimiters of a `%{a} - %{b}` pattern. Every field
//! must be found or the event is left as it was and tagged (`_dissectfailure`); a source field the
//! event does not have is only logged, as Logstash does. A `convert_datatype` that cannot apply
//! tags the event `_dataconversionnullvalue_<field>_<type>` (no value) or
//! `_dataconversionuncoercible_<field>_<type>` (a value that is not a number).

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use tracing::warn;

use super::{failure_tags, field_or_key};

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Normal,
    Skip,
    Append(u32),
    Indirect,
}

#[derive(Debug, Clone)]
struct Field {
    key: String,
    kind: Kind,
    /// `->`: the delimiter after this field may repeat (padding).
    padded: bool,
    /// The delimiter before the field ("" for none), which append fields join with.
    before: String,
    /// The delimiter after the field; "" for the last field (it takes the rest).
    after: String,
}

struct Dissection {
    source: FieldRef,
    leading: String,
    fields: Vec<Field>,
}

#[derive(Clone, Copy)]
enum Convert {
    Int,
    Float,
}

/// Why a dissection did not apply.
enum Miss {
    /// The source field is not in the event: logged, not tagged.
    NoSource,
    /// The text does not fit the pattern (or the result cannot be set): tagged.
    Failed(String),
}

pub struct Dissect {
    dissections: Vec<Dissection>,
    /// The field as written, its reference, the conversion and its name.
    convert: Vec<(String, FieldRef, Convert, String)>,
    tag_on_failure: Vec<String>,
}

/// Parses `%{a} %{+b/2}...` into the leading delimiter and the fields.
fn compile(pattern: &str) -> Result<(String, Vec<Field>), String> {
    let mut leading = String::new();
    let mut fields: Vec<Field> = Vec::new();
    let mut rest = pattern;
    loop {
        let Some(open) = rest.find("%{") else {
            match fields.last_mut() {
                Some(f) => f.after.push_str(rest),
                None => leading.push_str(rest),
            }
            break;
        };
        match fields.last_mut() {
            Some(f) => f.after.push_str(&rest[..open]),
            None => leading.push_str(&rest[..open]),
        }
        let body_start = open + 2;
        let Some(close) = rest[body_start..].find('}') else {
            return Err(format!("unclosed `%{{` in dissect pattern `{pattern}`"));
        };
        let body = &rest[body_start..body_start + close];
        let before = fields.last().map(|f| f.after.clone()).unwrap_or_default();
        fields.push(field(body, before)?);
        rest = &rest[body_start + close + 1..];
    }
    // `%{a} ... %{+a}`: the plain field is the first part of the appended value.
    let appended: Vec<String> = fields
        .iter()
        .filter(|f| matches!(f.kind, Kind::Append(_)))
        .map(|f| f.key.clone())
        .collect();
    for f in &mut fields {
        if f.kind == Kind::Normal && appended.contains(&f.key) {
            f.kind = Kind::Append(0);
        }
    }
    for w in fields.windows(2) {
        if w[0].after.is_empty() {
            return Err(format!(
                "dissect pattern `{pattern}`: fields `{}` and `{}` have no delimiter between them",
                w[0].key, w[1].key
            ));
        }
    }
    Ok((leading, fields))
}

fn field(body: &str, before: String) -> Result<Field, String> {
    let (body, padded) = match body.strip_suffix("->") {
        Some(b) => (b, true),
        None => (body, false),
    };
    if body.starts_with("+&") || body.starts_with("&+") {
        return Err(format!(
            "Field cannot prefix with both Append and Indirect Prefix ({}): {body}",
            &body[..2]
        ));
    }
    let (kind, name) = if body.is_empty() {
        (Kind::Skip, "")
    } else if let Some(n) = body.strip_prefix('?') {
        (Kind::Skip, n)
    } else if let Some(n) = body.strip_prefix('&') {
        (Kind::Indirect, n)
    } else if let Some(n) = body.strip_prefix('+') {
        match n.rsplit_once('/') {
            Some((k, ord)) if !ord.is_empty() && ord.bytes().all(|b| b.is_ascii_digit()) => (
                Kind::Append(
                    ord.parse()
                        .map_err(|_| format!("bad order in `%{{{body}}}`"))?,
                ),
                k,
            ),
            _ => (Kind::Append(u32::MAX), n),
        }
    } else {
        (Kind::Normal, body)
    };
    if matches!(kind, Kind::Append(_) | Kind::Indirect) && name.is_empty() {
        return Err(format!("`%{{{body}}}` needs a key name"));
    }
    Ok(Field {
        key: name.to_string(),
        kind,
        padded,
        before,
        after: String::new(),
    })
}

pub const OPTIONS: Options = &[&[
    opt("mapping", Ty::Hash).default("{}"),
    opt("convert_datatype", Ty::Hash).default("{}"),
    opt("tag_on_failure", Ty::Array).default("[\"_dissectfailure\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let mut dissections = Vec::new();
    for (src, pattern) in args.string_hash("mapping")? {
        let (leading, fields) = compile(&pattern).map_err(|e| args.error_at("mapping", e))?;
        dissections.push(Dissection {
            source: args.make_field("mapping", &src)?,
            leading,
            fields,
        });
    }
    let mut convert = Vec::new();
    for (f, ty) in args.string_hash("convert_datatype")? {
        let c = match ty.as_str() {
            "int" => Convert::Int,
            "float" => Convert::Float,
            other => {
                return Err(args.error_at(
                    "convert_datatype",
                    format!("convert_datatype for `{f}` must be int or float, got `{other}`"),
                ))
            }
        };
        convert.push((f.clone(), args.make_field("convert_datatype", &f)?, c, ty));
    }
    Ok(Box::new(Dissect {
        dissections,
        convert,
        tag_on_failure: failure_tags(args, "_dissectfailure")?,
    }))
}

impl Dissection {
    /// The values of each field, in pattern order; `None` when a delimiter is missing.
    fn split<'s>(&self, text: &'s str) -> Option<Vec<&'s str>> {
        let mut pos = 0;
        if !self.leading.is_empty() {
            pos = text.find(&self.leading)? + self.leading.len();
        }
        let mut values = Vec::with_capacity(self.fields.len());
        for f in &self.fields {
            if f.after.is_empty() {
                values.push(&text[pos..]);
                pos = text.len();
                continue;
            }
            let at = pos + text[pos..].find(&f.after)?;
            values.push(&text[pos..at]);
            pos = at + f.after.len();
            if f.padded {
                while text[pos..].starts_with(&f.after) {
                    pos += f.after.len();
                }
            }
        }
        Some(values)
    }

    fn apply(&self, e: &mut Event) -> Result<(), Miss> {
        let text = match e.get(&self.source) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_java_string().into(),
            None => return Err(Miss::NoSource),
        };
        let values = self.split(&text).ok_or_else(|| {
            Miss::Failed(format!(
                "{} does not match the dissect pattern",
                self.source
            ))
        })?;
        let mut skipped: Vec<(&str, &str)> = Vec::new();
        let mut appends: Vec<(&str, u32, usize, &str, &str)> = Vec::new();
        let mut sets: Vec<(String, String)> = Vec::new();
        for (i, (f, v)) in self.fields.iter().zip(&values).enumerate() {
            match f.kind {
                Kind::Normal => sets.push((f.key.clone(), v.to_string())),
                Kind::Skip => {
                    if !f.key.is_empty() {
                        skipped.push((&f.key, v));
                    }
                }
                Kind::Append(ord) => appends.push((&f.key, ord, i, &f.before, v)),
                Kind::Indirect => {
                    let key = skipped
                        .iter()
                        .rev()
                        .find(|(k, _)| *k == f.key)
                        .map(|(_, v)| v.to_string())
                        .or_else(|| {
                            sets.iter()
                                .rev()
                                .find(|(k, _)| *k == f.key)
                                .map(|(_, v)| v.clone())
                        })
                        .or_else(|| e.get(&field_or_key(&f.key)).map(Value::to_java_string));
                    if let Some(k) = key.filter(|k| !k.is_empty()) {
                        sets.push((k, v.to_string()));
                    }
                }
            }
        }
        appends.sort_by_key(|(_, ord, i, _, _)| (*ord, *i));
        let mut joined: Vec<(String, String)> = Vec::new();
        for (key, _, _, before, v) in appends {
            match joined.iter_mut().find(|(k, _)| k == key) {
                Some((_, acc)) => {
                    acc.push_str(if before.is_empty() { " " } else { before });
                    acc.push_str(v);
                }
                None => joined.push((key.to_string(), v.to_string())),
            }
        }
        for (key, v) in sets.into_iter().chain(joined) {
            e.set(&field_or_key(&key), Value::String(v.into()))
                .map_err(|err| Miss::Failed(err.to_string()))?;
        }
        Ok(())
    }
}

/// A plain decimal number as BigDecimal reads one: sign, digits, fraction, exponent.
fn decimal(t: &str) -> bool {
    let t = t.strip_prefix(['+', '-']).unwrap_or(t);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    !(int.is_empty() && frac.is_empty())
        && digits(int)
        && digits(frac)
        && exp.is_none_or(|x| {
            let x = x.strip_prefix(['+', '-']).unwrap_or(x);
            !x.is_empty() && digits(x)
        })
}

impl Dissect {
    /// `convert_datatype` on one field; the tag to add when it cannot apply.
    fn convert(e: &mut Event, name: &str, f: &FieldRef, c: Convert, ty: &str) -> Option<String> {
        let v = match e.get_mut(f) {
            None | Some(Value::Null) => {
                return Some(format!("_dataconversionnullvalue_{name}_{ty}"))
            }
            Some(v) => v,
        };
        let converted = match (c, &*v) {
            // A decimal becomes its integer part (Logstash goes through BigDecimal: "3.5" → 3).
            (Convert::Int, Value::String(s)) => {
                let t = s.trim();
                // Past 64 bits a BigInteger, as Logstash's conversion gives.
                Value::big_int(t).or_else(|| {
                    decimal(t)
                        .then(|| t.parse::<f64>().ok())
                        .flatten()
                        .filter(|x| x.abs() < 9.2e18)
                        .map(|x| Value::Int(x.trunc() as i64))
                })
            }
            (Convert::Float, Value::String(s)) => s.trim().parse::<f64>().ok().map(Value::Float),
            (Convert::Int, Value::Int(i)) => Some(Value::Int(*i)),
            (Convert::Int, Value::Float(x)) => Some(Value::Int(*x as i64)),
            (Convert::Float, Value::Int(i)) => Some(Value::Float(*i as f64)),
            (Convert::Float, Value::Float(x)) => Some(Value::Float(*x)),
            _ => None,
        };
        match converted {
            Some(n) => {
                *v = n;
                None
            }
            None => {
                warn!(
                    "Dissector datatype conversion, value cannot be coerced, key: {name}, value: {}",
                    v.to_java_string()
                );
                Some(format!("_dataconversionuncoercible_{name}_{ty}"))
            }
        }
    }
}

impl Filter for Dissect {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let (mut failed, mut missing) = (false, false);
        for d in &self.dissections {
            match d.apply(e) {
                Ok(()) => {}
                Err(Miss::NoSource) => {
                    warn!("Dissector mapping, key not found in event: {}", d.source);
                    missing = true;
                }
                Err(Miss::Failed(why)) => {
                    warn!("Dissector mapping: {why}");
                    failed = true;
                }
            }
        }
        if failed {
            for t in &self.tag_on_failure {
                e.tag(t);
            }
        }
        // Conversions run whatever the dissection did (a field it did not set: a null-value tag).
        for (name, f, c, ty) in &self.convert {
            if let Some(tag) = Self::convert(e, name, f, *c, ty) {
                e.tag(&tag);
            }
        }
        if failed || missing {
            return FilterOutcome::Unmatched;
        }
        FilterOutcome::Matched
    }
}
