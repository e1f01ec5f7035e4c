//! `_cat` APIs: plain-text tables with `v` (header), `h` (columns, by name or alias), `s` (sort,
//! `col:desc`), `health` filter, or JSON with `?format=json`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{blocking, err, reply, Params};
use crate::index::{EsError, Index};
use crate::store::Store;

/// Columns: (name, aliases, shown by default).
const INDEX_COLS: &Cols = &[
    ("health", &["h"], true),
    ("status", &["s"], true),
    ("index", &["i", "idx"], true),
    ("uuid", &["id", "uuid"], true),
    ("pri", &["p", "shards.primary", "shardsPrimary"], true),
    ("rep", &["r", "shards.replica", "shardsReplica"], true),
    ("docs.count", &["dc", "docsCount"], true),
    ("docs.deleted", &["dd", "docsDeleted"], true),
    ("store.size", &["ss", "storeSize"], true),
    ("pri.store.size", &[], true),
    ("creation.date", &["cd"], false),
    ("creation.date.string", &["cds"], false),
];

const HEALTH_COLS: &Cols = &[
    ("epoch", &["t", "time"], true),
    ("timestamp", &["ts", "hms", "hhmmss"], true),
    ("cluster", &["cl"], true),
    ("status", &["st"], true),
    ("node.total", &["nt", "nodeTotal"], true),
    ("node.data", &["nd", "nodeData"], true),
    ("discovered_cluster_manager", &["dcm"], true),
    ("shards", &["t", "sh", "shards.total", "shardsTotal"], true),
    ("pri", &["p", "shards.primary", "shardsPrimary"], true),
    (
        "relo",
        &["r", "shards.relocating", "shardsRelocating"],
        true,
    ),
    (
        "init",
        &["i", "shards.initializing", "shardsInitializing"],
        true,
    ),
    (
        "unassign",
        &["u", "shards.unassigned", "shardsUnassigned"],
        true,
    ),
    ("pending_tasks", &["pt", "pendingTasks"], true),
    ("max_task_wait_time", &["mtwt", "maxTaskWaitTime"], true),
    (
        "active_shards_percent",
        &["asp", "activeShardsPercent"],
        true,
    ),
];

const COUNT_COLS: &Cols = &[
    ("epoch", &["t", "time"], true),
    ("timestamp", &["ts", "hms", "hhmmss"], true),
    ("count", &["dc", "docs.count", "docsCount"], true),
];

type Cols = [(&'static str, &'static [&'static str], bool)];

fn col_name(cols: &Cols, h: &str) -> Option<&'static str> {
    cols.iter()
        .find(|(n, a, _)| *n == h || a.contains(&h))
        .map(|(n, _, _)| *n)
}

fn split(v: Option<&String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// Renders rows (column name → text) as `_cat` does.
fn table(cols: &Cols, rows: Vec<Map<String, Value>>, p: &HashMap<String, String>) -> Response {
    let wanted: Vec<&'static str> = match p.get("h") {
        Some(h) => split(Some(h))
            .iter()
            .filter_map(|h| col_name(cols, h))
            .collect(),
        None => cols.iter().filter(|c| c.2).map(|c| c.0).collect(),
    };
    let mut rows = rows;
    for key in split(p.get("s")).iter().rev() {
        let (k, desc) = match key.split_once(':') {
            Some((k, o)) => (k, o == "desc"),
            None => (key.as_str(), false),
        };
        let Some(name) = col_name(cols, k) else {
            continue;
        };
        rows.sort_by(|a, b| {
            let (x, y) = (&a[name], &b[name]);
            let o = match (
                x.as_str().and_then(|t| t.parse::<f64>().ok()),
                y.as_str().and_then(|t| t.parse::<f64>().ok()),
            ) {
                (Some(i), Some(j)) => i.partial_cmp(&j).unwrap_or(std::cmp::Ordering::Equal),
                _ => x.as_str().cmp(&y.as_str()),
            };
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    if p.get("format").map(String::as_str) == Some("json") {
        let out: Vec<Value> = rows
            .iter()
            .map(|r| {
                Value::Object(
                    wanted
                        .iter()
                        .map(|c| (c.to_string(), r.get(*c).cloned().unwrap_or(Value::Null)))
                        .collect(),
                )
            })
            .collect();
        return reply(200, Value::Array(out));
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    if p.get("v").is_some_and(|v| v.is_empty() || v == "true") {
        lines.push(wanted.iter().map(|c| c.to_string()).collect());
    }
    for r in &rows {
        lines.push(
            wanted
                .iter()
                .map(|c| {
                    r.get(*c)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..wanted.len())
        .map(|c| lines.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &lines {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out.push_str(&cells.join(" "));
        out.push('\n');
    }
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

/// An index's health on one node: replicas cannot be assigned, so any makes it yellow.
pub(super) fn health_of(i: &Index) -> &'static str {
    let replicas = i
        .meta()
        .settings
        .get("index.number_of_replicas")
        .and_then(|v| v.as_str()?.parse::<u64>().ok())
        .unwrap_or(1);
    if replicas > 0 {
        "yellow"
    } else {
        "green"
    }
}

fn setting(i: &Index, k: &str, default: &str) -> String {
    i.meta()
        .settings
        .get(k)
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| default.to_string())
}

fn cat_rows(indices: Vec<Arc<Index>>, p: &HashMap<String, String>) -> Result<Response, EsError> {
    let health = p.get("health").map(String::as_str);
    if let Some(h) = health {
        if !matches!(h, "green" | "yellow" | "red") {
            return Err(EsError::bad_request(
                "illegal_argument_exception",
                format!("Unknown health status [{h}]"),
            ));
        }
    }
    let rows: Vec<Map<String, Value>> = indices
        .iter()
        .filter(|i| health.is_none_or(|h| h == health_of(i)))
        .map(|i| {
            let closed = i.is_closed();
            let created = jiff::Timestamp::from_millisecond(i.created as i64)
                .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
                .unwrap_or_default();
            let size = format!("{}b", i.store_size());
            let v = json!({"health": health_of(i), "status": if closed { "close" } else { "open" }, "index": i.name, "uuid": i.uuid(),
                "pri": setting(i, "index.number_of_shards", "1"), "rep": setting(i, "index.number_of_replicas", "1"),
                "docs.count": if closed { String::new() } else { i.doc_count().to_string() }, "docs.deleted": if closed { String::new() } else { "0".into() },
                "store.size": if closed { String::new() } else { size.clone() }, "pri.store.size": if closed { String::new() } else { size },
                "creation.date": i.created.to_string(), "creation.date.string": created});
            v.as_object().cloned().unwrap_or_default()
        })
        .collect();
    Ok(table(INDEX_COLS, rows, p))
}

fn cat_for(s: &Store, expr: &str, p: &HashMap<String, String>) -> Response {
    let mut p2 = p.clone();
    p2.entry("expand_wildcards".into())
        .or_insert_with(|| "all".into());
    match s.resolve_opts(expr, &p2).and_then(|i| cat_rows(i, p)) {
        Ok(r) => r,
        Err(e) => err(e, Some(expr)),
    }
}

pub(super) async fn cat_indices(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    blocking(move || cat_for(&s, "_all", &p)).await
}

pub(super) async fn cat_indices_of(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    blocking(move || cat_for(&s, &index, &p)).await
}

pub(super) async fn cat_health(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    let indices = s.all();
    let shards: u64 = indices.len() as u64;
    let status = if indices.iter().any(|i| health_of(i) == "yellow") {
        "yellow"
    } else {
        "green"
    };
    let unassigned: u64 = indices.iter().filter(|i| health_of(i) == "yellow").count() as u64;
    let now = jiff::Timestamp::now();
    let row = json!({"epoch": now.as_second().to_string(), "timestamp": now.strftime("%H:%M:%S").to_string(), "cluster": "rstore", "status": status,
        "node.total": "1", "node.data": "1", "discovered_cluster_manager": "true", "shards": shards.to_string(), "pri": shards.to_string(), "relo": "0", "init": "0",
        "unassign": unassigned.to_string(), "pending_tasks": "0", "max_task_wait_time": "-", "active_shards_percent": "100.0%"});
    let mut p = p;
    if p.get("ts").is_some_and(|v| v == "false") {
        let h: Vec<&str> = HEALTH_COLS
            .iter()
            .map(|c| c.0)
            .filter(|c| *c != "epoch" && *c != "timestamp")
            .collect();
        p.entry("h".into()).or_insert_with(|| h.join(","));
    }
    table(
        HEALTH_COLS,
        vec![row.as_object().cloned().unwrap_or_default()],
        &p,
    )
}

/// `_cat/count[/{index}]`: the documents of the open indices an expression names, with the time.
fn cat_count_for(s: &Store, expr: &str, p: &HashMap<String, String>) -> Response {
    // A count, as `_count` is: a search-idle index is refreshed first.
    let open = s.resolve_opts(expr, p).and_then(|indices| {
        let open: Vec<Arc<Index>> = indices.into_iter().filter(|i| !i.is_closed()).collect();
        Index::before_read_all(&open)?;
        Ok(open)
    });
    match open {
        Ok(indices) => {
            let count: u64 = indices.iter().map(|i| i.doc_count()).sum();
            let now = jiff::Timestamp::now();
            let row = json!({"epoch": now.as_second().to_string(),
                "timestamp": now.strftime("%H:%M:%S").to_string(), "count": count.to_string()});
            table(
                COUNT_COLS,
                vec![row.as_object().cloned().unwrap_or_default()],
                p,
            )
        }
        Err(e) => err(e, Some(expr)),
    }
}

pub(super) async fn cat_count(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    blocking(move || cat_count_for(&s, "_all", &p)).await
}

pub(super) async fn cat_count_of(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    blocking(move || cat_count_for(&s, &index, &p)).await
}
