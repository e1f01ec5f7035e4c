//! Aggregations through tantivy's Elasticsearch-compatible aggregation module (terms,
//! date_histogram, histogram, range, avg/min/max/sum/value_count/stats, ...), merged across the
//! indices a pattern names.

use std::sync::Arc;

use serde_json::Value;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};

use crate::dsl::{self, aggs_to_tantivy};
use crate::index::{EsError, Index};

fn bad(e: impl std::fmt::Display) -> EsError {
    EsError::bad_request("x_content_parse_exception", format!("aggregations: {e}"))
}

/// Elasticsearch request forms tantivy lacks, rewritten: `meta` (kept aside, put back on the
/// result), `calendar_interval` of fixed length, and range keys as Elasticsearch writes them.
struct Rewrites {
    metas: Vec<(Vec<String>, Value)>,
    /// Top-level date histograms by calendar month/quarter/year: asked of tantivy by day, the
    /// days then merged (name, months per bucket, descending).
    calendar: Vec<(String, u32, bool)>,
}

fn prepare(aggs: &Value, rw: &mut Rewrites, path: &mut Vec<String>) -> Result<Value, EsError> {
    let Value::Object(o) = aggs else {
        return Ok(aggs.clone());
    };
    let mut out = serde_json::Map::new();
    for (name, spec) in o {
        let Value::Object(spec) = spec else {
            return Err(bad(format!("aggregation [{name}] must be an object")));
        };
        let mut spec = spec.clone();
        path.push(name.clone());
        if let Some(m) = spec.remove("meta") {
            rw.metas.push((path.clone(), m));
        }
        let has_subs = spec.contains_key("aggs") || spec.contains_key("aggregations");
        if let Some(pt) = spec
            .get("cardinality")
            .and_then(|c| c.get("precision_threshold"))
            .and_then(Value::as_i64)
        {
            if pt < 0 {
                path.pop();
                return Err(EsError::bad_request(
                    "illegal_argument_exception",
                    format!("[precisionThreshold] must be greater than or equal to 0. Found [{pt}] in [{name}]"),
                ));
            }
        }
        for b in ["hard_bounds", "extended_bounds"] {
            // tantivy takes RFC 3339 instants for date bounds; Elasticsearch any date the field takes.
            if let Some(Value::Object(bounds)) =
                spec.get_mut("date_histogram").and_then(|d| d.get_mut(b))
            {
                for v in bounds.values_mut() {
                    if let Some(d) = v.as_str().and_then(crate::mapping::parse_date) {
                        *v = Value::from(d.into_timestamp_millis());
                    }
                }
            }
        }
        if let Some(Value::Object(dh)) = spec.get_mut("date_histogram") {
            if let Some(Value::Object(order)) = dh.get_mut("order") {
                if let Some(v) = order.remove("_time") {
                    order.insert("_key".into(), v);
                }
            }
            let desc = dh
                .get("order")
                .and_then(|o| o.get("_key"))
                .and_then(Value::as_str)
                == Some("desc");
            if let Some(ci) = dh.remove("calendar_interval") {
                let months = match ci.as_str().unwrap_or_default() {
                    "month" | "1M" => Some(1),
                    "quarter" | "1q" => Some(3),
                    "year" | "1y" => Some(12),
                    _ => None,
                };
                if let Some(months) = months {
                    if path.len() > 1 || has_subs {
                        path.pop();
                        return Err(EsError::bad_request(
                            "illegal_argument_exception",
                            format!("calendar_interval [{ci}] is supported on a top-level date_histogram without sub-aggregations; use fixed_interval"),
                        ));
                    }
                    rw.calendar.push((name.clone(), months, desc));
                    dh.insert("fixed_interval".into(), Value::String("1d".into()));
                    dh.remove("order");
                    path.pop();
                    out.insert(name.clone(), Value::Object(spec));
                    continue;
                }
                let fixed = match ci.as_str().unwrap_or_default() {
                    "1s" | "second" => "1s",
                    "1m" | "minute" => "1m",
                    "1h" | "hour" => "1h",
                    "1d" | "day" => "1d",
                    "1w" | "week" => "7d",
                    other => {
                        path.pop();
                        return Err(EsError::bad_request(
                            "illegal_argument_exception",
                            format!("calendar_interval [{other}] is not supported by rstore; use fixed_interval"),
                        ));
                    }
                };
                if fixed == "7d" {
                    // Weeks start on Monday; the epoch was a Thursday.
                    dh.entry("offset").or_insert(Value::String("-3d".into()));
                }
                dh.insert("fixed_interval".into(), Value::String(fixed.into()));
            }
        }
        if let Some(Value::Object(r)) = spec.get_mut("range") {
            if let Some(Value::Array(ranges)) = r.get_mut("ranges") {
                for range in ranges.iter_mut().filter_map(Value::as_object_mut) {
                    if !range.contains_key("key") {
                        let f = |k: &str| {
                            range
                                .get(k)
                                .and_then(Value::as_f64)
                                .map_or("*".to_string(), java_double)
                        };
                        let key = format!("{}-{}", f("from"), f("to"));
                        range.insert("key".into(), Value::String(key));
                    }
                }
            }
        }
        for sub in ["aggs", "aggregations"] {
            if let Some(inner) = spec.get(sub).cloned() {
                spec.insert(sub.into(), prepare(&inner, rw, path)?);
            }
        }
        path.pop();
        out.insert(name.clone(), Value::Object(spec));
    }
    Ok(Value::Object(out))
}

/// Day buckets merged into calendar buckets of `months` (1, 3, 12), keyed by their UTC start.
fn merge_days(days: &[Value], months: u32, desc: bool) -> Vec<Value> {
    let mut out: Vec<(i64, u64)> = Vec::new();
    for d in days {
        let (Some(key), Some(n)) = (
            d.get("key").and_then(Value::as_f64),
            d.get("doc_count").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let Ok(t) = jiff::Timestamp::from_millisecond(key as i64) else {
            continue;
        };
        let day = t.to_zoned_datetime(jiff::tz::TimeZone::UTC).date();
        let month0 = (day.month() as u32 - 1) / months * months;
        let Ok(start) = jiff::civil::date(day.year(), month0 as i8 + 1, 1)
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        else {
            continue;
        };
        let ms = start.timestamp().as_millisecond();
        match out.last_mut() {
            Some((k, c)) if *k == ms => *c += n,
            _ => out.push((ms, n)),
        }
    }
    if desc {
        out.reverse();
    }
    out.into_iter()
        .map(|(k, n)| {
            let s = jiff::Timestamp::from_millisecond(k)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            serde_json::json!({"key_as_string": s, "key": k, "doc_count": n})
        })
        .collect()
}

/// Multi-field names (`date.nanos`) to the field whose values they index.
fn resolve_fields(v: &mut Value, indices: &[Arc<Index>]) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if let (true, Value::String(f)) = (k == "field", &*x) {
                    let parent = indices.iter().find_map(|i| {
                        i.with_mapping(|m| {
                            (m.resolve(f) != f.as_str()).then(|| m.resolve(f).to_string())
                        })
                    });
                    if let Some(p) = parent {
                        *x = Value::String(p);
                    }
                } else {
                    resolve_fields(x, indices);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| resolve_fields(x, indices)),
        _ => {}
    }
}

/// A double as Java prints it (`50.0`, `0.5`).
fn java_double(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e7 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

pub fn run(indices: &[Arc<Index>], query: &Value, aggs: &Value) -> Result<Value, EsError> {
    // Bucket aggregations tantivy lacks, each bucket a query of its own: `filters`,
    // `date_range` (top level).
    let mut plain = serde_json::Map::new();
    let mut own = serde_json::Map::new();
    if let Value::Object(o) = aggs {
        for (name, spec) in o {
            if spec.get("filters").is_some() || spec.get("date_range").is_some() {
                own.insert(name.clone(), by_query_buckets(indices, query, spec)?);
            } else {
                plain.insert(name.clone(), spec.clone());
            }
        }
    }
    let mut v = if plain.is_empty() && !own.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        run_tantivy(indices, query, &Value::Object(plain))?
    };
    if let Value::Object(o) = &mut v {
        o.extend(own);
    }
    Ok(v)
}

/// `filters` (named or anonymous) and `date_range`: each bucket counts the documents of the
/// search that also match its query, and runs the sub-aggregations on them.
fn by_query_buckets(indices: &[Arc<Index>], query: &Value, spec: &Value) -> Result<Value, EsError> {
    let subs = spec.get("aggs").or_else(|| spec.get("aggregations"));
    let mut buckets: Vec<(Option<String>, Value, serde_json::Map<String, Value>)> = Vec::new();
    let mut keyed = false;
    if let Some(f) = spec.get("filters") {
        keyed = f.get("filters").is_some_and(Value::is_object);
        match f.get("filters") {
            Some(Value::Object(named)) => {
                for (k, q) in named {
                    buckets.push((Some(k.clone()), q.clone(), serde_json::Map::new()));
                }
            }
            Some(Value::Array(list)) => {
                for q in list {
                    buckets.push((None, q.clone(), serde_json::Map::new()));
                }
            }
            _ => return Err(bad("[filters] needs a `filters` object or array")),
        }
        if let Some(other) = f.get("other_bucket_key").and_then(Value::as_str) {
            let all: Vec<Value> = buckets.iter().map(|b| b.1.clone()).collect();
            buckets.push((
                Some(other.to_string()),
                serde_json::json!({"bool": {"must_not": all}}),
                serde_json::Map::new(),
            ));
        }
    } else if let Some(dr) = spec.get("date_range") {
        let field = dr
            .get("field")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("[date_range] needs a field"))?;
        keyed = dr.get("keyed").and_then(Value::as_bool).unwrap_or(false);
        for r in dr
            .get("ranges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let mut range = serde_json::Map::new();
            let mut extra = serde_json::Map::new();
            for (k, op) in [("from", "gte"), ("to", "lt")] {
                if let Some(x) = r.get(k).filter(|x| !x.is_null()) {
                    range.insert(op.into(), x.clone());
                    let ms = match x {
                        Value::String(t) => crate::mapping::parse_date_with(x, &[])
                            .or_else(|| crate::mapping::parse_date(t)),
                        other => crate::mapping::parse_date_with(other, &[]),
                    };
                    if let Some(d) = ms {
                        extra.insert(k.into(), Value::from(d.into_timestamp_millis() as f64));
                        extra.insert(
                            format!("{k}_as_string"),
                            Value::String(iso_millis(d.into_timestamp_millis())),
                        );
                    }
                }
            }
            let key = r
                .get("key")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| {
                    let side = |k: &str| {
                        extra
                            .get(&format!("{k}_as_string"))
                            .and_then(Value::as_str)
                            .unwrap_or("*")
                            .to_string()
                    };
                    format!("{}-{}", side("from"), side("to"))
                });
            buckets.push((
                Some(key),
                serde_json::json!({"range": {field: range}}),
                extra,
            ));
        }
    }
    let mut out_keyed = serde_json::Map::new();
    let mut out_list = Vec::new();
    for (key, q, extra) in buckets {
        let both = serde_json::json!({"bool": {"must": [query.clone(), q]}});
        let mut n = 0u64;
        for idx in indices {
            n += idx.count(&both)? as u64;
        }
        let mut b = serde_json::Map::new();
        if let (Some(k), false) = (&key, keyed) {
            b.insert("key".into(), Value::String(k.clone()));
        }
        b.extend(extra);
        b.insert("doc_count".into(), Value::from(n));
        if let Some(Value::Object(sub)) = subs.map(|s| run(indices, &both, s)).transpose()? {
            b.extend(sub);
        }
        match key {
            Some(k) if keyed => {
                out_keyed.insert(k, Value::Object(b));
            }
            _ => out_list.push(Value::Object(b)),
        }
    }
    Ok(if keyed {
        serde_json::json!({"buckets": out_keyed})
    } else {
        serde_json::json!({"buckets": out_list})
    })
}

fn iso_millis(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn run_tantivy(indices: &[Arc<Index>], query: &Value, aggs: &Value) -> Result<Value, EsError> {
    let mut rw = Rewrites {
        metas: Vec::new(),
        calendar: Vec::new(),
    };
    let mut aggs = prepare(aggs, &mut rw, &mut Vec::new())?;
    resolve_fields(&mut aggs, indices);
    let mut v = run_prepared(indices, query, &aggs)?;
    for (name, months, desc) in rw.calendar {
        if let Some(Value::Array(days)) = v.get(&name).and_then(|a| a.get("buckets")).cloned() {
            v[&name]["buckets"] = Value::Array(merge_days(&days, months, desc));
        }
    }
    for (path, meta) in rw.metas {
        let mut cur = &mut v;
        for (i, p) in path.iter().enumerate() {
            let Some(next) = cur.get_mut(p) else { break };
            if i + 1 == path.len() {
                next["meta"] = meta.clone();
            }
            cur = next;
        }
    }
    // Metrics over dates: tantivy answers in nanoseconds, Elasticsearch in milliseconds with
    // the date beside them.
    if let (Value::Object(req), Value::Object(res)) = (&aggs, &mut v) {
        for (name, spec) in req {
            let Some((kind, body)) = spec.as_object().and_then(|o| {
                o.iter()
                    .find(|(k, _)| matches!(k.as_str(), "min" | "max" | "avg"))
            }) else {
                continue;
            };
            let _ = kind;
            let Some(field) = body.get("field").and_then(Value::as_str) else {
                continue;
            };
            let is_date = indices
                .iter()
                .any(|i| i.with_mapping(|m| m.get(field) == Some("date")));
            if let (true, Some(r)) = (is_date, res.get_mut(name)) {
                if let Some(ns) = r.get("value").and_then(Value::as_f64) {
                    let ms = (ns / 1e6).round();
                    r["value"] = Value::from(ms);
                    r["value_as_string"] = Value::String(iso_millis(ms as i64));
                }
            }
        }
    }
    Ok(v)
}

fn run_prepared(indices: &[Arc<Index>], query: &Value, aggs: &Value) -> Result<Value, EsError> {
    let req: Aggregations = serde_json::from_value(aggs_to_tantivy(aggs)).map_err(bad)?;
    let mut merged: Option<IntermediateAggregationResults> = None;
    for idx in indices {
        let q = idx.with_mapping(|m| dsl::build(idx, m, query))?;
        let ctx = AggContextParams::new(
            AggregationLimitsGuard::default(),
            idx.tantivy().tokenizers().clone(),
        );
        let collector = DistributedAggregationCollector::from_aggs(req.clone(), ctx);
        let r = idx.searcher().search(&q, &collector).map_err(bad)?;
        match &mut merged {
            Some(m) => m.merge_fruits(r).map_err(bad)?,
            None => merged = Some(r),
        }
    }
    let merged = merged.unwrap_or_default();
    let result = merged
        .into_final_result(req, AggregationLimitsGuard::default())
        .map_err(bad)?;
    let mut v = serde_json::to_value(result).map_err(EsError::internal)?;
    es_shapes(&mut v);
    Ok(v)
}

/// Elasticsearch's shapes where tantivy's differ: date bucket keys are integer milliseconds and
/// their `key_as_string` carries milliseconds.
fn es_shapes(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(s)) = o.get("key_as_string") {
                if let Ok(t) = s.parse::<jiff::Timestamp>() {
                    let fixed = t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                    o.insert("key_as_string".into(), Value::String(fixed));
                    if let Some(k) = o.get("key").and_then(Value::as_f64) {
                        o.insert("key".into(), Value::from(k as i64));
                    }
                }
            }
            for x in o.values_mut() {
                es_shapes(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(es_shapes),
        _ => {}
    }
}

/// `?typed_keys`: each aggregation's name in the answer prefixed by its type (`sterms#codes`),
/// as clients that parse aggregations by type ask.
pub fn typed_keys(req: &Value, res: &mut Value, indices: &[Arc<Index>]) {
    let (Value::Object(req), Value::Object(res)) = (req, res) else {
        return;
    };
    for (name, spec) in req {
        let Some(mut r) = res.remove(name) else {
            continue;
        };
        let Some((kind, body)) = spec.as_object().and_then(|o| {
            o.iter()
                .find(|(k, _)| !matches!(k.as_str(), "aggs" | "aggregations" | "meta"))
        }) else {
            res.insert(name.clone(), r);
            continue;
        };
        let ty = match kind.as_str() {
            "terms" => {
                let field = body.get("field").and_then(Value::as_str).unwrap_or("");
                let fam = indices.iter().find_map(|i| {
                    i.with_mapping(|m| {
                        m.get(m.resolve(field).strip_suffix(".keyword").unwrap_or(field))
                    })
                });
                match fam {
                    Some("long" | "date" | "boolean") => "lterms",
                    Some("unsigned_long") => "ulterms",
                    Some("float") => "dterms",
                    _ => "sterms",
                }
            }
            "percentiles" => "tdigest_percentiles",
            "percentile_ranks" => "tdigest_percentile_ranks",
            other => other,
        }
        .to_string();
        if let Some(sub) = spec.get("aggs").or_else(|| spec.get("aggregations")) {
            match r.get_mut("buckets") {
                Some(Value::Array(bs)) => bs.iter_mut().for_each(|b| typed_keys(sub, b, indices)),
                Some(Value::Object(bs)) => {
                    bs.values_mut().for_each(|b| typed_keys(sub, b, indices))
                }
                _ => typed_keys(sub, &mut r, indices),
            }
        }
        res.insert(format!("{ty}#{name}"), r);
    }
}
