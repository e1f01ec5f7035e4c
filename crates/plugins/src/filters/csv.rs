//! `csv`: one line of comma-separated values into named fields (Logstash's csv filter, with
//! Ruby CSV's strict quoting: a stray quote is a `_csvparsefailure`).

use rstash_pipeline::{opt, Options, Ty};
use std::sync::Mutex;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Timestamp, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use tracing::warn;

use super::{failure_tags, field_or_key};

#[derive(Clone, Copy)]
enum Convert {
    Integer,
    Float,
    Boolean,
    Date,
}

pub struct Csv {
    source: FieldRef,
    target: Option<FieldRef>,
    separator: String,
    quote: char,
    columns: Mutex<Vec<String>>,
    autodetect: bool,
    autogenerate: bool,
    skip_empty_columns: bool,
    skip_empty_rows: bool,
    skip_header: bool,
    convert: Vec<(String, Convert)>,
    tag_on_failure: Vec<String>,
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str).default("message"),
    opt("target", Ty::Str),
    opt("separator", Ty::Str).default(","),
    opt("quote_char", Ty::Str).default("\""),
    opt("columns", Ty::Array).default("[]"),
    opt("autodetect_column_names", Ty::Boolean).default("false"),
    opt("autogenerate_column_names", Ty::Boolean).default("true"),
    opt("skip_empty_columns", Ty::Boolean).default("false"),
    opt("skip_empty_rows", Ty::Boolean).default("false"),
    opt("skip_header", Ty::Boolean).default("false"),
    opt("convert", Ty::Hash).default("{}"),
    opt("tag_on_failure", Ty::Array).default("[\"_csvparsefailure\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let separator = args.string_or("separator", ",")?.replace("\\t", "\t");
    if separator.is_empty() {
        return Err(args.error_at("separator", "`separator` must not be empty"));
    }
    let mut quote = args.string_or("quote_char", "\"")?;
    // A config cannot hold a NUL byte: `\x00` written there means it (no quoting at all).
    if quote == "\\x00" {
        quote = "\0".into();
    }
    let mut qc = quote.chars();
    let (Some(quote), None) = (qc.next(), qc.next()) else {
        return Err(args.error_at("quote_char", "`quote_char` must be one character"));
    };
    let mut convert = Vec::new();
    for (col, ty) in args.string_hash("convert")? {
        let c = match ty.as_str() {
            "integer" => Convert::Integer,
            "float" => Convert::Float,
            "boolean" => Convert::Boolean,
            "date" | "date_time" => Convert::Date,
            other => {
                return Err(args.error_at(
                    "convert",
                    format!("convert for `{col}` must be integer, float, boolean, date or date_time, got `{other}`"),
                ))
            }
        };
        convert.push((col, c));
    }
    let autodetect = args.bool("autodetect_column_names", false)?;
    if autodetect && args.settings.workers > 1 {
        warn!("csv: autodetect_column_names needs pipeline.workers 1 to see the header line first");
    }
    Ok(Box::new(Csv {
        source: args
            .field("source")?
            .unwrap_or_else(|| FieldRef::key("message")),
        target: args.field("target")?,
        separator,
        quote,
        columns: Mutex::new(args.strings("columns")?),
        autodetect,
        autogenerate: args.bool("autogenerate_column_names", true)?,
        skip_empty_columns: args.bool("skip_empty_columns", false)?,
        skip_empty_rows: args.bool("skip_empty_rows", false)?,
        skip_header: args.bool("skip_header", false)?,
        convert,
        tag_on_failure: failure_tags(args, "_csvparsefailure")?,
    }))
}

/// Splits one record. Unquoted empty fields are `None` (Ruby's nil), quoted ones `Some("")`.
pub fn parse_line(line: &str, sep: &str, quote: char) -> Result<Vec<Option<String>>, String> {
    let line = line.strip_suffix('\n').unwrap_or(line);
    let line = line.strip_suffix('\r').unwrap_or(line);
    let mut out = Vec::new();
    let mut rest = line;
    loop {
        if let Some(body) = rest.strip_prefix(quote) {
            let mut value = String::new();
            let mut i = 0;
            loop {
                let Some(q) = body[i..].find(quote) else {
                    return Err("Unclosed quoted field".into());
                };
                value.push_str(&body[i..i + q]);
                let after = i + q + quote.len_utf8();
                if body[after..].starts_with(quote) {
                    value.push(quote);
                    i = after + quote.len_utf8();
                    continue;
                }
                rest = &body[after..];
                break;
            }
            out.push(Some(value));
            if rest.is_empty() {
                return Ok(out);
            }
            rest = rest
                .strip_prefix(sep)
                .ok_or_else(|| "Any value after quoted field isn't allowed".to_string())?;
        } else {
            let end = rest.find(sep).unwrap_or(rest.len());
            let field = &rest[..end];
            if field.contains(quote) {
                return Err("Illegal quoting".into());
            }
            out.push((!field.is_empty()).then(|| field.to_string()));
            if end == rest.len() {
                return Ok(out);
            }
            rest = &rest[end + sep.len()..];
        }
    }
}

fn convert(v: &str, c: Convert) -> Value {
    match c {
        Convert::Integer => v
            .trim()
            .parse::<i64>()
            .map(Value::Int)
            .unwrap_or_else(|_| v.into()),
        Convert::Float => v
            .trim()
            .parse::<f64>()
            .map(Value::Float)
            .unwrap_or_else(|_| v.into()),
        Convert::Boolean => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "t" | "yes" | "y" | "1" => Value::Bool(true),
            "false" | "f" | "no" | "n" | "0" => Value::Bool(false),
            _ => v.into(),
        },
        Convert::Date => Timestamp::parse_lenient(v.trim())
            .map(Value::Timestamp)
            .unwrap_or_else(|| v.into()),
    }
}

impl Csv {
    fn fail(&self, e: &mut Event, why: &str) -> FilterOutcome {
        warn!("Error parsing csv: {why}");
        for t in &self.tag_on_failure {
            e.tag(t);
        }
        FilterOutcome::Unmatched
    }
}

impl Filter for Csv {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let text = match e.get(&self.source) {
            None | Some(Value::Null) => return FilterOutcome::Unmatched,
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_java_string().into(),
        };
        let values = match parse_line(&text, &self.separator, self.quote) {
            Ok(v) => v,
            Err(why) => return self.fail(e, &why),
        };
        let columns = {
            let Ok(mut cols) = self.columns.lock() else {
                return self.fail(e, "column names are unavailable");
            };
            if self.autodetect && cols.is_empty() {
                *cols = values
                    .iter()
                    .map(|v| v.clone().unwrap_or_default())
                    .collect();
                e.cancel();
                return FilterOutcome::Unmatched;
            }
            cols.clone()
        };
        if self.skip_header
            && !columns.is_empty()
            && values
                .iter()
                .map(|v| v.as_deref().unwrap_or(""))
                .eq(columns.iter().map(String::as_str))
        {
            e.cancel();
            return FilterOutcome::Unmatched;
        }
        // An empty line is tagged, not dropped (csv 3.1): a user can drop it on the tag.
        if self.skip_empty_rows && text.trim_end_matches(['\r', '\n']).is_empty() {
            e.tag("_csvskippedemptyfield");
            return FilterOutcome::Unmatched;
        }
        for (i, v) in values.into_iter().enumerate() {
            if self.skip_empty_columns && v.as_deref().is_none_or(str::is_empty) {
                continue;
            }
            let name = match columns.get(i) {
                Some(c) => c.clone(),
                None if self.autogenerate => format!("column{}", i + 1),
                None => continue,
            };
            let value = match (&v, self.convert.iter().find(|(c, _)| *c == name)) {
                (None, _) => Value::Null,
                (Some(s), Some((_, c))) => convert(s, *c),
                (Some(s), None) => Value::String(s.as_str().into()),
            };
            let field = match &self.target {
                Some(t) => format!("{t}[{name}]"),
                None => name,
            };
            if let Err(err) = e.set(&field_or_key(&field), value) {
                return self.fail(e, &err.to_string());
            }
        }
        FilterOutcome::Matched
    }
}
