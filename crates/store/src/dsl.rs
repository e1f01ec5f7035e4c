//! Elasticsearch's query DSL → tantivy queries. Text fields are searched through the analysed
//! `text` JSON field, `.keyword` and typed values (numbers, dates, booleans) through `kw`.

use std::ops::Bound;

use serde_json::Value;
use tantivy::query::{
    AllQuery, BooleanQuery, EmptyQuery, ExistsQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DateTime, Term};

use crate::index::{EsError, Index};
use crate::mapping::{parse_date, Mapping};

fn bad(reason: impl Into<String>) -> EsError {
    EsError::bad_request("parsing_exception", reason)
}

/// `{field: value}` or `{field: {key: value}}` → (field, inner).
fn single(v: &Value, what: &str) -> Result<(String, Value), EsError> {
    let obj = v
        .as_object()
        .ok_or_else(|| bad(format!("[{what}] query malformed, expected an object")))?;
    let (k, v) = obj
        .iter()
        .next()
        .ok_or_else(|| bad(format!("[{what}] query malformed, no field specified")))?;
    Ok((k.clone(), v.clone()))
}

fn kw_term(idx: &Index, m: &Mapping, field: &str, v: &Value) -> Option<Term> {
    let field = m.resolve(field);
    let keyword = field.strip_suffix(".keyword");
    let path = keyword.unwrap_or(field);
    let mut t = Term::from_field_json_path(idx.f.kw, path, false);
    match (m.get(path), v) {
        (Some("date"), Value::String(s)) => t.append_type_and_fast_value(parse_date(s)?),
        // Numbers and booleans given as text (`q=response:404`) are matched as their type.
        (Some("long"), Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(i) => t.append_type_and_fast_value(i),
            Err(_) => {
                let f = s.trim().parse::<f64>().ok().filter(|f| f.fract() == 0.0)?;
                t.append_type_and_fast_value(f as i64)
            }
        },
        (Some("unsigned_long"), Value::String(s)) => {
            t.append_type_and_fast_value(s.trim().parse::<u64>().ok()?)
        }
        (Some("float"), Value::String(s)) => {
            let f = s.trim().parse::<f64>().ok()?;
            if f.fract() == 0.0 && f.abs() < 9e15 {
                t.append_type_and_fast_value(f as i64)
            } else {
                t.append_type_and_fast_value(f)
            }
        }
        (Some("boolean"), Value::String(s)) => {
            t.append_type_and_fast_value(s.trim().parse::<bool>().ok()?)
        }
        (_, Value::String(s)) => t.append_type_and_str(s),
        (_, Value::Bool(b)) => t.append_type_and_fast_value(*b),
        (_, Value::Number(n)) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => t.append_type_and_fast_value(i),
            (None, Some(u), _) => t.append_type_and_fast_value(u),
            (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => {
                t.append_type_and_fast_value(f as i64)
            }
            (_, _, Some(f)) => t.append_type_and_fast_value(f),
            _ => return None,
        },
        _ => return None,
    }
    Some(t)
}

fn term_query(idx: &Index, m: &Mapping, field: &str, v: &Value) -> Box<dyn Query> {
    // A `term` on a text field matches its analysed tokens, as in Elasticsearch.
    if m.get(field) == Some("text") {
        if let Value::String(s) = v {
            let mut t = Term::from_field_json_path(idx.f.text, field, false);
            t.append_type_and_str(s);
            return Box::new(TermQuery::new(t, IndexRecordOption::Basic));
        }
    }
    // An IPv4 CIDR block on an `ip` field: the addresses it holds, as a pattern over their text.
    if let (Some("ip"), Value::String(s)) = (m.get(field), v) {
        if let Some(rx) = s.split_once('/').and_then(|(a, n)| cidr_regex(a, n)) {
            return regex_query(idx, m, field, &rx).unwrap_or_else(|_| Box::new(EmptyQuery));
        }
    }
    match kw_term(idx, m, field, v) {
        Some(t) => Box::new(TermQuery::new(t, IndexRecordOption::Basic)),
        None => Box::new(EmptyQuery),
    }
}

/// `10.1.16.0/20` as a regular expression over dotted IPv4 text: whole octets fixed, the
/// partial one as the alternatives it allows, the rest any octet.
fn cidr_regex(addr: &str, bits: &str) -> Option<String> {
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let o = ip.octets();
    let mut parts = Vec::with_capacity(4);
    for (k, octet) in o.iter().enumerate() {
        let fixed = bits.saturating_sub(8 * k as u32).min(8);
        let part = match fixed {
            8 => octet.to_string(),
            0 => "[0-9]{1,3}".to_string(),
            f => {
                let lo = octet & (0xffu8 << (8 - f));
                let hi = lo | (0xffu8 >> f);
                let alts: Vec<String> = (lo..=hi).map(|x| x.to_string()).collect();
                format!("({})", alts.join("|"))
            }
        };
        parts.push(part);
    }
    Some(parts.join("\\."))
}

fn tokens(idx: &Index, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(mut a) = idx.tantivy().tokenizers().get("default").ok_or(()) {
        let mut stream = a.token_stream(text);
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
    }
    out
}

/// `now`, `now-1d`, `now+2h`, or a date string.
fn date_value(s: &str) -> Option<DateTime> {
    if let Some(rest) = s.strip_prefix("now") {
        let now = jiff::Timestamp::now().as_nanosecond() as i64;
        let rest = rest.split('/').next().unwrap_or("");
        if rest.is_empty() {
            return Some(DateTime::from_timestamp_nanos(now));
        }
        let (sign, num) = match rest.as_bytes().first()? {
            b'-' => (-1i64, &rest[1..]),
            b'+' => (1, &rest[1..]),
            _ => return None,
        };
        let unit = num.chars().last()?;
        let n: i64 = num[..num.len() - 1].parse().ok()?;
        let secs = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            'M' => 30 * 86400,
            'y' => 365 * 86400,
            _ => return None,
        };
        return Some(DateTime::from_timestamp_nanos(
            now + sign * n * secs * 1_000_000_000,
        ));
    }
    parse_date(s)
}

fn bound_term(idx: &Index, m: &Mapping, field: &str, v: &Value) -> Result<Term, EsError> {
    let field = m.resolve(field);
    let path = field.strip_suffix(".keyword").unwrap_or(field);
    let mut t = Term::from_field_json_path(idx.f.kw, path, false);
    match (m.get(path), v) {
        (Some("date"), Value::String(s)) => t.append_type_and_fast_value(
            date_value(s).ok_or_else(|| bad(format!("failed to parse date field [{s}]")))?,
        ),
        (Some("date"), Value::Number(n)) => {
            let formats = m.field(path).map_or(&[][..], |f| &f.formats[..]);
            let d = crate::mapping::parse_date_with(&Value::String(n.to_string()), formats)
                .or_else(|| crate::mapping::parse_date_with(v, formats))
                .ok_or_else(|| bad(format!("failed to parse date field [{n}]")))?;
            t.append_type_and_fast_value(d)
        }
        (Some("long"), Value::String(s)) => t.append_type_and_fast_value(
            s.parse::<i64>()
                .map_err(|_| bad(format!("cannot parse [{s}] as a number")))?,
        ),
        (Some("float"), v) => t.append_type_and_fast_value(
            v.as_f64()
                .or_else(|| v.as_str()?.parse().ok())
                .ok_or_else(|| bad("range bound is not a number"))?,
        ),
        (_, Value::Number(n)) => match n.as_i64() {
            Some(i) => t.append_type_and_fast_value(i),
            None => t.append_type_and_fast_value(n.as_f64().unwrap_or(0.0)),
        },
        (_, Value::String(s)) => t.append_type_and_str(s),
        _ => return Err(bad("unsupported range bound")),
    }
    Ok(t)
}

/// `query_string`, `simple_query_string` and (rstore's) `kql`: the text parsed into the DSL.
fn query_string(idx: &Index, m: &Mapping, q: &Value, kql: bool) -> Result<Box<dyn Query>, EsError> {
    let text = q
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("[query_string] requires a query"))?;
    let fields: Vec<String> = match (q.get("fields"), q.get("default_field")) {
        (Some(Value::Array(a)), _) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|f| f.split('^').next().unwrap_or(f).to_string())
            .collect(),
        (_, Some(Value::String(f))) => vec![f.clone()],
        _ => vec!["*".to_string()],
    };
    let and = q
        .get("default_operator")
        .and_then(Value::as_str)
        .is_some_and(|o| o.eq_ignore_ascii_case("and"));
    let dsl = crate::query_string::to_dsl(text, &fields, and, kql).map_err(|e| {
        EsError::bad_request(
            "query_shard_exception",
            format!("Failed to parse query [{text}]: {e}"),
        )
    })?;
    build(idx, m, &dsl)
}

/// Replaces `__field__` in a query template by `field`.
fn with_field(v: &Value, field: &str) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| {
                    let k = if k == "__field__" {
                        field.to_string()
                    } else {
                        k.clone()
                    };
                    let x = match x {
                        Value::String(s) if s == "__field__" => Value::String(field.to_string()),
                        other => with_field(other, field),
                    };
                    (k, x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_field(x, field)).collect()),
        other => other.clone(),
    }
}

/// A regular expression over one field's terms: the text terms of a text field, else the
/// exact values. Term bytes of a JSON field are the path (segments split by 1), 0, a type
/// byte (`s` for strings), then the value.
fn regex_query(
    idx: &Index,
    m: &Mapping,
    field: &str,
    pattern: &str,
) -> Result<Box<dyn Query>, EsError> {
    if pattern.len() > 1000 {
        return Err(bad(format!("The length of regex [{}] used in the Regexp Query request has exceeded the allowed maximum of [1000]. This maximum can be set by changing the [index.max_regex_length] index level setting.", pattern.len())));
    }
    let path = field.strip_suffix(".keyword").unwrap_or(field);
    let on_text = m.get(field) == Some("text");
    // Text fields hold lowercased tokens.
    let pattern = if on_text {
        pattern.to_lowercase()
    } else {
        pattern.to_string()
    };
    let prefix: String = path
        .split('.')
        .map(regex_syntax_escape)
        .collect::<Vec<_>>()
        .join("\\x01");
    let full = format!("{prefix}\\x00s{pattern}");
    let f = if on_text { idx.f.text } else { idx.f.kw };
    tantivy::query::RegexQuery::from_pattern(&full, f)
        .map(|q| Box::new(q) as Box<dyn Query>)
        .map_err(|e| bad(format!("failed to create query: {e}")))
}

fn regex_syntax_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~\"<>@".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `*` and `?` of a wildcard pattern as a regular expression.
fn wildcard_regex(w: &str) -> String {
    let mut out = String::new();
    for c in w.chars() {
        match c {
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            c => out.push_str(&regex_syntax_escape(&c.to_string())),
        }
    }
    out
}

/// `{field: "v"}` or `{field: {value: "v", ...}}` → (field, value as text).
fn field_value(body: &Value, what: &str) -> Result<(String, String), EsError> {
    let (field, v) = single(body, what)?;
    let v = v.get("value").cloned().unwrap_or(v);
    match v {
        Value::String(s) => Ok((field, s)),
        other => Ok((field, other.to_string())),
    }
}

/// Documents whose `_id` is one of `ids`.
fn ids_query(idx: &Index, ids: &[Value]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        ids.iter()
            .map(|v| {
                let id = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                let t = Term::from_field_text(idx.f.id, &id);
                (
                    Occur::Should,
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                )
            })
            .collect(),
    ))
}

/// Metadata fields every document has.
fn always_present(field: &str) -> bool {
    matches!(
        field,
        "_id" | "_index" | "_seq_no" | "_version" | "_primary_term"
    )
}

pub fn build(idx: &Index, m: &Mapping, q: &Value) -> Result<Box<dyn Query>, EsError> {
    let Some(obj) = q.as_object().filter(|o| !o.is_empty()) else {
        return Ok(Box::new(AllQuery));
    };
    let (kind, body) = obj.iter().next().ok_or_else(|| bad("empty query"))?;
    Ok(match kind.as_str() {
        "match_all" => Box::new(AllQuery),
        "match_none" => Box::new(EmptyQuery),
        "ids" => ids_query(
            idx,
            body.get("values")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice),
        ),
        "constant_score" => {
            let filter = body
                .get("filter")
                .ok_or_else(|| bad("[constant_score] requires a 'filter' element"))?;
            let boost = body.get("boost").and_then(Value::as_f64).unwrap_or(1.0) as f32;
            Box::new(tantivy::query::ConstScoreQuery::new(
                build(idx, m, filter)?,
                boost,
            ))
        }
        "wildcard" => {
            let (field, w) = field_value(body, "wildcard")?;
            regex_query(idx, m, &field, &wildcard_regex(&w))?
        }
        "prefix" => {
            let (field, p) = field_value(body, "prefix")?;
            regex_query(idx, m, &field, &format!("{}.*", regex_syntax_escape(&p)))?
        }
        "regexp" => {
            let (field, r) = field_value(body, "regexp")?;
            regex_query(idx, m, &field, &r)?
        }
        "multi_match" => {
            let text = body
                .get("query")
                .cloned()
                .ok_or_else(|| bad("No text specified for multi_match query"))?;
            let fields: Vec<String> = match body.get("fields") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|f| f.as_str())
                    .map(|f| f.split('^').next().unwrap_or(f).to_string())
                    .collect(),
                _ => m
                    .fields()
                    .filter(|(_, f)| f.family() == "text")
                    .map(|(p, _)| p.clone())
                    .collect(),
            };
            let kind = if body.get("type").and_then(Value::as_str) == Some("phrase") {
                "match_phrase"
            } else {
                "match"
            };
            let mut subs = Vec::new();
            for f in fields {
                let mut inner = serde_json::Map::new();
                inner.insert("query".into(), text.clone());
                if let Some(op) = body.get("operator") {
                    inner.insert("operator".into(), op.clone());
                }
                subs.push((
                    Occur::Should,
                    build(idx, m, &serde_json::json!({kind: {f: inner}}))?,
                ));
            }
            Box::new(BooleanQuery::new(subs))
        }
        "term" | "terms" if single(body, kind).is_ok_and(|(f, _)| f == "_id" || f == "_index") => {
            let (field, v) = single(body, kind)?;
            let v = v.get("value").cloned().unwrap_or(v);
            let vals = match v {
                Value::Array(a) => a,
                other => vec![other],
            };
            if field == "_id" {
                ids_query(idx, &vals)
            } else if vals.iter().any(|x| {
                x.as_str()
                    .is_some_and(|n| crate::store::wildcard(n, &idx.name))
            }) {
                Box::new(AllQuery)
            } else {
                Box::new(EmptyQuery)
            }
        }
        "term" => {
            let (field, v) = single(body, "term")?;
            let v = v.get("value").cloned().unwrap_or(v);
            term_query(idx, m, &field, &v)
        }
        "terms" => {
            let (field, vals) = single(body, "terms")?;
            let vals = vals
                .as_array()
                .ok_or_else(|| bad("[terms] query requires an array of values"))?;
            Box::new(BooleanQuery::new(
                vals.iter()
                    .map(|v| (Occur::Should, term_query(idx, m, &field, v)))
                    .collect(),
            ))
        }
        "match" | "match_phrase" => {
            let (field, v) = single(body, kind)?;
            let (query, and) = match &v {
                Value::Object(o) => (
                    o.get("query").cloned().unwrap_or(Value::Null),
                    o.get("operator")
                        .and_then(Value::as_str)
                        .is_some_and(|x| x.eq_ignore_ascii_case("and"))
                        || kind == "match_phrase",
                ),
                other => (other.clone(), kind == "match_phrase"),
            };
            match (
                &query,
                m.get(field.strip_suffix(".keyword").unwrap_or(&field)),
            ) {
                (Value::String(s), Some("text") | None) if !field.ends_with(".keyword") => {
                    let occur = if and { Occur::Must } else { Occur::Should };
                    let clauses: Vec<(Occur, Box<dyn Query>)> = tokens(idx, s)
                        .into_iter()
                        .map(|tok| {
                            let mut t = Term::from_field_json_path(idx.f.text, &field, false);
                            t.append_type_and_str(&tok);
                            (
                                occur,
                                Box::new(TermQuery::new(t, IndexRecordOption::WithFreqs))
                                    as Box<dyn Query>,
                            )
                        })
                        .collect();
                    if clauses.is_empty() {
                        Box::new(EmptyQuery)
                    } else {
                        Box::new(BooleanQuery::new(clauses))
                    }
                }
                _ => term_query(idx, m, &field, &query),
            }
        }
        "range" => {
            let (field, b) = single(body, "range")?;
            let bound = |k: &str| -> Result<Option<Term>, EsError> {
                b.get(k).map(|v| bound_term(idx, m, &field, v)).transpose()
            };
            let lower = match (bound("gte")?, bound("gt")?) {
                (Some(t), _) => Bound::Included(t),
                (None, Some(t)) => Bound::Excluded(t),
                _ => Bound::Unbounded,
            };
            let upper = match (bound("lte")?, bound("lt")?) {
                (Some(t), _) => Bound::Included(t),
                (None, Some(t)) => Bound::Excluded(t),
                _ => Bound::Unbounded,
            };
            if matches!((&lower, &upper), (Bound::Unbounded, Bound::Unbounded)) {
                Box::new(ExistsQuery::new(format!("kw.{field}"), true))
            } else {
                Box::new(RangeQuery::new(lower, upper))
            }
        }
        "exists" => {
            let field = body
                .get("field")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("[exists] requires a field"))?;
            if always_present(field) {
                return Ok(Box::new(AllQuery));
            }
            if field == "_source" {
                return Err(EsError::bad_request(
                    "query_shard_exception",
                    "the _source field is not searchable",
                ));
            }
            if field.starts_with('_') && !m.contains(field) {
                return Ok(Box::new(EmptyQuery));
            }
            Box::new(ExistsQuery::new(
                format!("kw.{}", field.strip_suffix(".keyword").unwrap_or(field)),
                true,
            ))
        }
        "query_string" | "simple_query_string" => query_string(idx, m, body, false)?,
        "kql" => query_string(idx, m, body, true)?,
        // A query-string term over default fields (patterns, `*`: every searchable field).
        "_default_fields" => {
            let patterns: Vec<&str> = body
                .get("fields")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let each = body.get("each").cloned().unwrap_or(Value::Null);
            let mut subs: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (path, f) in m.fields() {
                if matches!(f.family(), "object" | "other" | "alias") {
                    continue;
                }
                if patterns.iter().any(|p| crate::store::wildcard(p, path)) {
                    subs.push((Occur::Should, build(idx, m, &with_field(&each, path))?));
                }
            }
            if subs.is_empty() {
                Box::new(EmptyQuery)
            } else {
                Box::new(BooleanQuery::new(subs))
            }
        }
        "bool" => {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            let list = |v: Option<&Value>| -> Vec<Value> {
                match v {
                    Some(Value::Array(a)) => a.clone(),
                    Some(Value::Null) | None => vec![],
                    Some(other) => vec![other.clone()],
                }
            };
            for (key, occur) in [
                ("must", Occur::Must),
                ("filter", Occur::Must),
                ("must_not", Occur::MustNot),
            ] {
                for c in list(body.get(key)) {
                    clauses.push((occur, build(idx, m, &c)?));
                }
            }
            let shoulds = list(body.get("should"));
            let has_must = clauses.iter().any(|(o, _)| *o == Occur::Must);
            if !shoulds.is_empty() {
                let subs = shoulds
                    .iter()
                    .map(|c| Ok((Occur::Should, build(idx, m, c)?)))
                    .collect::<Result<Vec<_>, EsError>>()?;
                let needed = body
                    .get("minimum_should_match")
                    .and_then(Value::as_u64)
                    .unwrap_or(if has_must { 0 } else { 1 });
                if needed > 0 {
                    clauses.push((
                        Occur::Must,
                        Box::new(BooleanQuery::with_minimum_required_clauses(
                            subs,
                            needed as usize,
                        )),
                    ));
                } else {
                    clauses.extend(subs);
                }
            }
            if !clauses.iter().any(|(o, _)| *o != Occur::MustNot) {
                clauses.push((Occur::Must, Box::new(AllQuery)));
            }
            Box::new(BooleanQuery::new(clauses))
        }
        other => return Err(bad(format!("unknown query [{other}]"))),
    })
}

/// Renames the fields of an aggregation request to the `kw` fast-field paths.
pub fn aggs_to_tantivy(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("field", Value::String(f)) => {
                            Value::String(format!("kw.{}", f.strip_suffix(".keyword").unwrap_or(f)))
                        }
                        _ => aggs_to_tantivy(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(aggs_to_tantivy).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::cidr_regex;

    #[test]
    fn cidr_blocks_as_patterns() {
        assert_eq!(
            cidr_regex("10.1.0.0", "16").unwrap(),
            r"10\.1\.[0-9]{1,3}\.[0-9]{1,3}"
        );
        assert_eq!(cidr_regex("192.168.1.7", "32").unwrap(), r"192\.168\.1\.7");
        let rx = cidr_regex("10.0.16.0", "20").unwrap();
        assert!(rx.starts_with(r"10\.0\.(16|17|"), "{rx}");
        assert!(rx.contains("|31)"), "{rx}");
        assert!(cidr_regex("fe80::1", "64").is_none());
    }
}
