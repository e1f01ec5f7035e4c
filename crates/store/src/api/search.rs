//! Search, count, multi-search and scroll: request parsing and validation as Elasticsearch's,
//! hits merged across indices, and the response shapes clients read (`hits.total` as an object
//! or, with `rest_total_hits_as_int`, a number; `sort` values for `search_after`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::source::{fields_of, SourceSpec};
use super::{answer, blocking, err, ndjson_lines, reply, Params};
use crate::index::{cmp_sort, EsError, Hit, Index, Search, SortKey};
use crate::scroll::{Context, Pending};
use crate::store::Store;

/// Keys a search body may have; any other is a `parsing_exception`, as in Elasticsearch.
const KEYS: &[&str] = &[
    "query",
    "from",
    "size",
    "sort",
    "_source",
    "aggs",
    "aggregations",
    "track_total_hits",
    "search_after",
    "fields",
    "docvalue_fields",
    "stored_fields",
    "script_fields",
    "highlight",
    "timeout",
    "version",
    "seq_no_primary_term",
    "explain",
    "min_score",
    "post_filter",
    "collapse",
    "pit",
    "terminate_after",
    "track_scores",
    "indices_boost",
    "rescore",
    "suggest",
    "profile",
    "stats",
    "ext",
    "runtime_mappings",
    "slice",
];

fn bad(kind: &'static str, reason: impl Into<String>) -> EsError {
    EsError::bad_request(kind, reason)
}

fn token_name(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "START_OBJECT",
        Value::Array(_) => "START_ARRAY",
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Null => "VALUE_NULL",
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Track {
    No,
    Upto(usize),
    All,
}

/// A search request: body and URL parameters, validated.
pub(super) struct Req {
    pub body: Value,
    query: Value,
    from: usize,
    size: usize,
    sort: Vec<SortKey>,
    after: Option<Vec<Value>>,
    source: SourceSpec,
    track: Track,
    total_as_int: bool,
    scroll: Option<Duration>,
    min_score: Option<f32>,
    typed_keys: bool,
}

fn int_param(v: &Value, name: &str) -> Result<i64, EsError> {
    match v {
        Value::Number(n) => n.as_i64().ok_or_else(|| {
            bad(
                "input_coercion_exception",
                format!("Numeric value ({n}) out of range of int"),
            )
        }),
        Value::String(s) => s.trim().parse().map_err(|_| {
            bad(
                "illegal_argument_exception",
                format!("Failed to parse int parameter [{name}] with value [{s}]"),
            )
        }),
        other => Err(bad(
            "parsing_exception",
            format!("[{name}] must be a number, got {other}"),
        )),
    }
}

fn time_value(s: &str, what: &str) -> Result<Duration, EsError> {
    crate::index::parse_duration(s).ok_or_else(|| {
        bad("illegal_argument_exception", format!("failed to parse setting [{what}] with value [{s}] as a time value: unit is missing or unrecognized"))
    })
}

pub(super) fn sort_keys(v: &Value) -> Result<Vec<SortKey>, EsError> {
    let items = match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    };
    let mut out = Vec::new();
    for it in items {
        let (field, spec) = match it {
            Value::String(f) => (f, Value::Null),
            Value::Object(o) if o.len() == 1 => o
                .into_iter()
                .next()
                .unwrap_or_else(|| (String::new(), Value::Null)),
            other => {
                return Err(bad(
                    "parsing_exception",
                    format!("malformed sort format, got {other}"),
                ))
            }
        };
        let (order, missing, unmapped) = match &spec {
            Value::String(s) => (Some(s.as_str()), None, None),
            Value::Object(o) => (
                o.get("order").and_then(Value::as_str),
                o.get("missing").and_then(Value::as_str),
                o.get("unmapped_type")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            _ => (None, None, None),
        };
        let desc = match order {
            Some("desc") => true,
            Some("asc") => false,
            None => field == "_score",
            Some(o) => {
                return Err(bad(
                    "illegal_argument_exception",
                    format!("Unknown SortOrder [{o}]"),
                ))
            }
        };
        out.push(SortKey {
            field,
            desc,
            missing_first: missing == Some("_first"),
            unmapped_type: unmapped,
        });
    }
    Ok(out)
}

impl Req {
    pub(super) fn parse(body: &[u8], p: &HashMap<String, String>) -> Result<Req, EsError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                bad(
                    "parsing_exception",
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        };
        Req::from_value(body, p)
    }

    pub(super) fn from_value(mut body: Value, p: &HashMap<String, String>) -> Result<Req, EsError> {
        let obj = body
            .as_object()
            .ok_or_else(|| bad("parsing_exception", "the search body must be an object"))?;
        if let Some((k, v)) = obj.iter().find(|(k, _)| !KEYS.contains(&k.as_str())) {
            return Err(bad(
                "parsing_exception",
                format!("Unknown key for a {} in [{k}].", token_name(v)),
            ));
        }
        if let Some(q) = p.get("q") {
            let mut qs = json!({"query": q});
            for k in ["df", "default_operator", "analyze_wildcard", "lenient"] {
                if let Some(v) = p.get(k) {
                    qs[if k == "df" { "default_field" } else { k }] = json!(v);
                }
            }
            body["query"] = json!({"query_string": qs});
        }
        let num = |k: &str| -> Result<Option<i64>, EsError> {
            match p.get(k) {
                Some(v) => int_param(&json!(v), k).map(Some),
                None => body.get(k).map(|v| int_param(v, k)).transpose(),
            }
        };
        let from = num("from")?.unwrap_or(0);
        let size = num("size")?.unwrap_or(10);
        if from < 0 {
            return Err(bad(
                "illegal_argument_exception",
                format!("[from] parameter cannot be negative, found [{from}]"),
            ));
        }
        if size < 0 {
            return Err(bad(
                "illegal_argument_exception",
                format!("[size] parameter cannot be negative, found [{size}]"),
            ));
        }
        if size > i32::MAX as i64 || from > i32::MAX as i64 {
            return Err(bad(
                "input_coercion_exception",
                format!("Numeric value ({}) out of range of int", size.max(from)),
            ));
        }
        let sort = match p.get("sort") {
            Some(s) => sort_keys(&Value::Array(
                s.split(',')
                    .map(|x| match x.split_once(':') {
                        Some((f, o)) => json!({f: {"order": o}}),
                        None => json!(x),
                    })
                    .collect(),
            ))?,
            None => sort_keys(body.get("sort").unwrap_or(&Value::Null))?,
        };
        let after = match body.get("search_after") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => {
                if a.len() != sort.len() {
                    return Err(bad(
                        "illegal_argument_exception",
                        format!(
                            "search_after has {} value(s) but sort has {}.",
                            a.len(),
                            sort.len()
                        ),
                    ));
                }
                Some(a.clone())
            }
            Some(_) => return Err(bad("parsing_exception", "[search_after] must be an array")),
        };
        let total_as_int = p
            .get("rest_total_hits_as_int")
            .is_some_and(|v| v == "true" || v.is_empty());
        let track_v = p
            .get("track_total_hits")
            .map(|v| json!(v))
            .or_else(|| body.get("track_total_hits").cloned());
        let track = match track_v {
            None | Some(Value::Null) => {
                if total_as_int {
                    Track::All
                } else {
                    Track::Upto(10_000)
                }
            }
            Some(Value::Bool(true)) => Track::All,
            Some(Value::Bool(false)) => Track::No,
            Some(Value::String(s)) if s == "true" => Track::All,
            Some(Value::String(s)) if s == "false" => Track::No,
            Some(v) => {
                let n = int_param(&v, "track_total_hits")?;
                if n == -1 {
                    Track::All
                } else if n < 0 {
                    return Err(bad("illegal_argument_exception", format!("[track_total_hits] parameter must be positive or equals to -1, got {n}")));
                } else {
                    Track::Upto(n as usize)
                }
            }
        };
        if total_as_int && matches!(track, Track::Upto(_)) {
            if let Track::Upto(n) = track {
                return Err(bad("illegal_argument_exception", format!("[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {n}")));
            }
        }
        let scroll = p
            .get("scroll")
            .map(|s| time_value(s, "scroll"))
            .transpose()?;
        if scroll.is_some() && after.is_some() {
            return Err(bad(
                "action_request_validation_exception",
                "Validation Failed: 1: `search_after` cannot be used in a scroll context.;",
            ));
        }
        let source = SourceSpec::new(body.get("_source"), p)?;
        let min_score = body
            .get("min_score")
            .and_then(Value::as_f64)
            .map(|f| f as f32);
        Ok(Req {
            query: body.get("query").cloned().unwrap_or(Value::Null),
            from: from as usize,
            size: size as usize,
            sort,
            after,
            source,
            track,
            total_as_int,
            scroll,
            min_score,
            typed_keys: p
                .get("typed_keys")
                .is_some_and(|v| v.is_empty() || v == "true"),
            body,
        })
    }

    /// Limits as Elasticsearch checks them, by the strictest index's settings.
    fn check_limits(&self, indices: &[Arc<Index>]) -> Result<(), EsError> {
        let setting = |k: &str, default: usize| {
            indices
                .iter()
                .filter_map(|i| {
                    i.meta()
                        .settings
                        .get(k)
                        .and_then(|v| v.as_str()?.parse::<usize>().ok())
                })
                .min()
                .unwrap_or(default)
        };
        let window = indices
            .iter()
            .map(|i| i.settings().max_result_window)
            .min()
            .unwrap_or(10_000);
        if self.scroll.is_some() {
            if self.size > window {
                return Err(bad("illegal_argument_exception", format!("Batch size is too large, size must be less than or equal to: [{window}] but was [{}]. Scroll batch sizes cost as much memory as result windows so they are controlled by the [index.max_result_window] index level setting.", self.size)));
            }
        } else if self.from + self.size > window {
            return Err(bad("illegal_argument_exception", format!("Result window is too large, from + size must be less than or equal to: [{window}] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.", self.from + self.size)));
        }
        let dv = self
            .body
            .get("docvalue_fields")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let max_dv = setting("index.max_docvalue_fields_search", 100);
        if dv > max_dv {
            return Err(bad("illegal_argument_exception", format!("Trying to retrieve too many docvalue_fields. Must be less than or equal to: [{max_dv}] but was [{dv}]. This limit can be set by changing the [index.max_docvalue_fields_search] index level setting.")));
        }
        let sf = self
            .body
            .get("script_fields")
            .and_then(Value::as_object)
            .map_or(0, Map::len);
        let max_sf = setting("index.max_script_fields", 32);
        if sf > max_sf {
            return Err(bad("illegal_argument_exception", format!("Trying to retrieve too many script_fields. Must be less than or equal to: [{max_sf}] but was [{sf}]. This limit can be set by changing the [index.max_script_fields] index level setting.")));
        }
        let rescores = match self.body.get("rescore") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => vec![],
        };
        for r in rescores {
            let w = r.get("window_size").and_then(Value::as_u64).unwrap_or(10) as usize;
            if w > window {
                return Err(bad(
                    "illegal_argument_exception",
                    format!("Rescore window [{w}] is too large. It must be less than [{window}]."),
                ));
            }
        }
        Ok(())
    }
}

/// A page of hits as JSON.
fn hit_json(req: &Req, idx: &Index, searcher: &tantivy::Searcher, h: &Hit, sorted: bool) -> Value {
    let loaded;
    let (src, id) = match &h.doc {
        Some((s, i)) => (s, i.as_str()),
        None => {
            loaded = idx
                .load(searcher, h.addr)
                .unwrap_or((Value::Null, String::new()));
            (&loaded.0, loaded.1.as_str())
        }
    };
    let scored = !sorted
        || req.body.get("track_scores") == Some(&json!(true))
        || req.sort.iter().any(|k| k.field == "_score");
    let mut out = json!({"_index": idx.name, "_id": id, "_score": if scored && h.score.is_finite() { json!(h.score) } else { Value::Null }});
    if let Some(s) = req.source.apply(src) {
        out["_source"] = s;
    }
    let wants_version = req.body.get("version") == Some(&json!(true));
    let wants_seq = req.body.get("seq_no_primary_term") == Some(&json!(true));
    if wants_version || wants_seq {
        let (version, seq_no) = idx.get_full(id, false).map_or((1, 0), |(_, v, s)| (v, s));
        if wants_version {
            out["_version"] = json!(version);
        }
        if wants_seq {
            out["_seq_no"] = json!(seq_no);
            out["_primary_term"] = json!(1);
        }
    }
    let fields = idx.with_mapping(|m| {
        fields_of(
            m,
            src,
            req.body.get("fields"),
            req.body.get("docvalue_fields"),
        )
    });
    if !fields.is_empty() {
        out["fields"] = Value::Object(fields);
    }
    if sorted {
        out["sort"] = Value::Array(h.sort.clone());
    }
    out
}

fn total_json(req: &Req, total: usize) -> Option<Value> {
    match (req.track, req.total_as_int) {
        (Track::No, true) => Some(json!(-1)),
        (Track::No, false) => None,
        (_, true) => Some(json!(total)),
        (Track::Upto(n), false) if total > n => Some(json!({"value": n, "relation": "gte"})),
        _ => Some(json!({"value": total, "relation": "eq"})),
    }
}

/// Runs a search over `indices`; with `scroll`, the hits past this page are kept for the next.
pub(super) fn execute(s: &Store, indices: &[Arc<Index>], req: &Req) -> Result<Value, EsError> {
    let start = Instant::now();
    req.check_limits(indices)?;
    let scrolling = req.scroll.is_some();
    let sorted = !req.sort.is_empty();
    let want = if scrolling {
        usize::MAX
    } else {
        req.from.saturating_add(req.size)
    };
    let search = Search {
        query: &req.query,
        post_filter: req.body.get("post_filter"),
        limit: want,
        sort: &req.sort,
        after: req.after.as_deref(),
        min_score: req.min_score,
    };
    let mut total = 0;
    let mut all: Vec<Pending> = Vec::new();
    let mapped_somewhere = |k: &SortKey| {
        k.unmapped_type.is_some()
            || matches!(k.field.as_str(), "_score" | "_doc" | "_id" | "_index")
            || indices.iter().any(|i| {
                i.with_mapping(|m| m.contains(k.field.strip_suffix(".keyword").unwrap_or(&k.field)))
            })
    };
    // Sorting across indices where a field is `unsigned_long` in one and another type elsewhere
    // is refused, as in Elasticsearch.
    for k in &req.sort {
        let path = k.field.strip_suffix(".keyword").unwrap_or(&k.field);
        let types: std::collections::BTreeSet<&'static str> = indices
            .iter()
            .filter_map(|i| i.with_mapping(|m| m.get(path)))
            .collect();
        if types.len() > 1 && types.contains("unsigned_long") {
            return Err(EsError::Wrapped {
                kind: "search_phase_execution_exception",
                reason: "all shards failed".into(),
                cause: Box::new(bad("illegal_argument_exception", "Can't do sort across indices, as a field has [unsigned_long] type in one index, and different type in another index!".to_string())),
            });
        }
    }
    if let Some(k) = req.sort.iter().find(|k| !mapped_somewhere(k)) {
        if !indices.is_empty() {
            return Err(bad(
                "search_phase_execution_exception",
                format!(
                    "all shards failed: No mapping found for [{}] in order to sort on",
                    k.field
                ),
            ));
        }
    }
    for idx in indices.iter().filter(|i| !i.is_closed()) {
        // An index lacking a sort field gives no hits (the others answer), as a shard failure would.
        if req.sort.iter().any(|k| {
            k.unmapped_type.is_none()
                && !matches!(k.field.as_str(), "_score" | "_doc" | "_id" | "_index")
                && !idx.with_mapping(|m| {
                    m.contains(k.field.strip_suffix(".keyword").unwrap_or(&k.field))
                })
        }) {
            continue;
        }
        let (searcher, t, hits) = idx.search(&search)?;
        total += t;
        let searcher = Arc::new(searcher);
        all.extend(hits.into_iter().map(|h| (idx.clone(), searcher.clone(), h)));
    }
    if sorted {
        all.sort_by(|a, b| cmp_sort(&a.2.sort, &b.2.sort, &req.sort));
    } else {
        all.sort_by(|a, b| {
            b.2.score
                .partial_cmp(&a.2.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }
    let max_score = if sorted && req.body.get("track_scores") != Some(&json!(true)) {
        None
    } else {
        all.iter()
            .map(|h| h.2.score)
            .filter(|s| s.is_finite())
            .reduce(f32::max)
    };
    let mut rest: std::collections::VecDeque<Pending> = all.into();
    let skip = if scrolling { 0 } else { req.from };
    rest.drain(..skip.min(rest.len()));
    let page: Vec<Pending> = rest.drain(..req.size.min(rest.len())).collect();
    let hits: Vec<Value> = page
        .iter()
        .map(|(i, se, h)| hit_json(req, i, se, h, sorted))
        .collect();
    let mut resp = json!({
        "took": start.elapsed().as_millis() as u64,
        "timed_out": false,
        "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0},
        "hits": {"max_score": max_score, "hits": hits}
    });
    if let Some(t) = total_json(req, total) {
        resp["hits"]["total"] = t;
    }
    if let Some(aggs) = req
        .body
        .get("aggs")
        .or_else(|| req.body.get("aggregations"))
    {
        let open: Vec<Arc<Index>> = indices.iter().filter(|i| !i.is_closed()).cloned().collect();
        resp["aggregations"] = crate::aggs::run(&open, &req.query, aggs)?;
        if req.typed_keys {
            crate::aggs::typed_keys(aggs, &mut resp["aggregations"], &open);
        }
    }
    if let Some(keep) = req.scroll {
        let ctx = Context {
            hits: rest,
            total,
            size: req.size.max(1),
            req: json!({"body": req.body, "total_as_int": req.total_as_int, "source": req.body.get("_source")}),
            expires: Instant::now() + keep,
        };
        let id = s.scrolls.open(ctx).ok_or_else(|| {
            EsError::Status { status: 429, kind: "exception", reason: format!("Trying to create too many scroll contexts. Must be less than or equal to: [{}]. This limit can be set by changing the [search.max_open_scroll_context] setting.", crate::scroll::MAX_OPEN) }
        })?;
        resp["_scroll_id"] = json!(id);
    }
    Ok(resp)
}

fn check_keep_alive(s: &Store, keep: Duration) -> Result<(), EsError> {
    let settings = s
        .cluster_settings
        .lock()
        .map(|v| v.clone())
        .unwrap_or_default();
    let max = ["transient", "persistent"].iter().find_map(|k| {
        settings
            .get(*k)?
            .get("search.max_keep_alive")?
            .as_str()
            .map(str::to_string)
    });
    let max = match max {
        Some(m) => time_value(&m, "search.max_keep_alive")?,
        None => Duration::from_secs(24 * 3600),
    };
    if keep > max {
        return Err(bad("illegal_argument_exception", format!("Keep alive for request ({}) is too large. It must be less than ({}). This limit can be set by changing the [search.max_keep_alive] cluster level setting.", show_time(keep), show_time(max))));
    }
    Ok(())
}

fn show_time(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(3600) && s > 0 {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) && s > 0 {
        format!("{}m", s / 60)
    } else {
        format!("{}s", s)
    }
}

fn run_search(s: &Store, expr: &str, body: &[u8], p: &HashMap<String, String>) -> Response {
    let r = Req::parse(body, p).and_then(|req| {
        if let Some(k) = req.scroll {
            check_keep_alive(s, k)?;
        }
        let indices = s.resolve_opts(expr, p)?;
        Index::before_read_all(&indices)?;
        execute(s, &indices, &req)
    });
    answer(r, None)
}

pub(super) async fn search(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    blocking(move || run_search(&s, &index, &body, &p)).await
}

fn run_count(s: &Store, expr: &str, body: &[u8], p: &HashMap<String, String>) -> Response {
    let r = (|| -> Result<Value, EsError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                bad(
                    "parsing_exception",
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        };
        if let Some((k, v)) = body
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.as_str() != "query"))
        {
            return Err(bad(
                "parsing_exception",
                format!("request does not support [{k}] ({})", token_name(v)),
            ));
        }
        let mut req = Req::from_value(body, p)?;
        req.size = 0;
        req.track = Track::All;
        let indices: Vec<_> = s
            .resolve_opts(expr, p)?
            .into_iter()
            .filter(|i| !i.is_closed())
            .collect();
        Index::before_read_all(&indices)?;
        let mut n = 0;
        for idx in &indices {
            n += idx.count(&req.query)?;
        }
        Ok(
            json!({"count": n, "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0}}),
        )
    })();
    answer(r, None)
}

pub(super) async fn count(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    blocking(move || run_count(&s, &index, &body, &p)).await
}

/// `_msearch`: header and body lines; each search answers on its own (an error in one is that
/// response's `error`, with its `status`).
fn run_msearch(s: &Store, default: &str, body: &[u8], p: &HashMap<String, String>) -> Response {
    let start = Instant::now();
    let mut lines = ndjson_lines(body);
    let mut responses = Vec::new();
    while let Some(head) = lines.next() {
        let head: Value = match serde_json::from_slice(head) {
            Ok(Value::Object(o)) => Value::Object(o),
            _ => {
                return err(
                    bad(
                        "illegal_argument_exception",
                        "msearch: each header line must be a JSON object",
                    ),
                    None,
                )
            }
        };
        let Some(body) = lines.next() else {
            return err(
                bad(
                    "illegal_argument_exception",
                    "msearch: a header line without its body line",
                ),
                None,
            );
        };
        let expr = match head.get("index") {
            Some(Value::String(i)) => i.clone(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
            _ => default.to_string(),
        };
        let mut params = p.clone();
        for k in [
            "ignore_unavailable",
            "allow_no_indices",
            "expand_wildcards",
            "search_type",
        ] {
            if let Some(v) = head.get(k) {
                params.insert(k.into(), v.as_str().map_or(v.to_string(), str::to_string));
            }
        }
        let parsed = Req::parse(body, &params);
        if let Err(e) = &parsed {
            // Checked for the whole request in Elasticsearch, before any search runs.
            if e.reason().contains("[rest_total_hits_as_int]") {
                return err(EsError::bad_request(e.kind(), e.reason()), None);
            }
        }
        let r = parsed.and_then(|req| {
            let indices = s.resolve_opts(&expr, &params)?;
            Index::before_read_all(&indices)?;
            execute(s, &indices, &req)
        });
        responses.push(match r {
            Ok(mut v) => {
                v["status"] = json!(200);
                v
            }
            Err(e) => {
                let mut b = e.body(if e.kind() == "index_not_found_exception" {
                    Some(&expr)
                } else {
                    None
                });
                b["status"] = json!(e.status());
                b
            }
        });
    }
    reply(
        200,
        json!({"took": start.elapsed().as_millis() as u64, "responses": responses}),
    )
}

pub(super) async fn msearch(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    blocking(move || run_msearch(&s, &index, &body, &p)).await
}

/// The next page of a scroll (`scroll_id` in the body or the path, `scroll` renews it).
fn next_page(s: &Store, id: Option<String>, body: &[u8], p: &HashMap<String, String>) -> Response {
    let r = (|| -> Result<Value, EsError> {
        let b: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|e| {
                bad(
                    "parsing_exception",
                    format!("request body is not valid JSON: {e}"),
                )
            })?
        };
        let id = id
            .or_else(|| p.get("scroll_id").cloned())
            .or_else(|| {
                b.get("scroll_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .ok_or_else(|| {
                bad(
                    "action_request_validation_exception",
                    "Validation Failed: 1: scrollId is missing;",
                )
            })?;
        let keep = match p
            .get("scroll")
            .cloned()
            .or_else(|| b.get("scroll").and_then(Value::as_str).map(str::to_string))
        {
            Some(k) => time_value(&k, "scroll")?,
            None => Duration::from_secs(300),
        };
        check_keep_alive(s, keep)?;
        let (page, total, ctx) = s.scrolls.next(&id, keep).ok_or_else(|| {
            EsError::not_found(
                "search_context_missing_exception",
                format!("No search context found for id [{id}]"),
            )
        })?;
        let mut params = p.clone();
        if ctx["total_as_int"] == json!(true) {
            params.insert("rest_total_hits_as_int".into(), "true".into());
        }
        let mut body = ctx["body"].clone();
        if let Some(o) = body.as_object_mut() {
            o.remove("from");
        }
        let req = Req::from_value(body, &params)?;
        let sorted = !req.sort.is_empty();
        let hits: Vec<Value> = page
            .iter()
            .map(|(i, se, h)| hit_json(&req, i, se, h, sorted))
            .collect();
        let mut resp = json!({"_scroll_id": id, "took": 0, "timed_out": false,
            "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
            "hits": {"max_score": Value::Null, "hits": hits}});
        if let Some(t) = total_json(
            &Req {
                track: Track::All,
                ..req
            },
            total,
        ) {
            resp["hits"]["total"] = t;
        }
        Ok(resp)
    })();
    answer(r, None)
}

pub(super) async fn scroll(State(s): State<Arc<Store>>, Query(p): Params, body: Bytes) -> Response {
    blocking(move || next_page(&s, None, &body, &p)).await
}

pub(super) async fn scroll_id(
    State(s): State<Arc<Store>>,
    Path(id): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || next_page(&s, Some(id), &body, &p)).await
}

fn clear(s: &Store, ids: Vec<String>) -> Response {
    let freed = if ids.iter().any(|i| i == "_all") {
        s.scrolls.clear_all()
    } else {
        ids.iter().filter(|i| s.scrolls.clear(i)).count()
    };
    let status = if freed == 0 && !ids.is_empty() {
        404
    } else {
        200
    };
    reply(status, json!({"succeeded": true, "num_freed": freed}))
}

pub(super) async fn clear_scroll(State(s): State<Arc<Store>>, body: Bytes) -> Response {
    let ids = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| match b.get("scroll_id") {
            Some(Value::String(x)) => Some(x.split(',').map(str::to_string).collect()),
            Some(Value::Array(a)) => Some(
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| vec!["_all".to_string()]);
    clear(&s, ids)
}

pub(super) async fn clear_scroll_id(
    State(s): State<Arc<Store>>,
    Path(id): Path<String>,
) -> Response {
    clear(&s, id.split(',').map(str::to_string).collect())
}
