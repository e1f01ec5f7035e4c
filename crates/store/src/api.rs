//! The REST API: Elasticsearch's paths, status codes and body shapes, and the
//! `X-Elastic-Product: Elasticsearch` header the official clients check for.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::index::{EsError, Index, Op, OpResult};
use crate::store::Store;

type Params = Query<HashMap<String, String>>;
pub const MAX_BODY: usize = 100 << 20;

pub(crate) fn reply(status: u16, body: Value) -> Response {
    let mut r = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        body.to_string(),
    )
        .into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

pub(crate) fn err(e: EsError, index: Option<&str>) -> Response {
    reply(e.status(), e.body(index))
}

async fn blocking<F: FnOnce() -> Response + Send + 'static>(f: F) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| err(EsError::internal(e), None))
}

/// The whole API. With users in `security`, every request must authenticate first.
pub fn router(store: Arc<Store>, security: Arc<crate::security::Security>) -> Router {
    let api = Router::new()
        .route("/", get(info).head(|| async { reply(200, json!({})) }))
        .route("/_license", get(license))
        .route(
            "/_xpack",
            get(|| async {
                reply(
                    200,
                    json!({"features": {}, "license": {"type": "basic", "status": "active"}}),
                )
            }),
        )
        .route("/_cluster/health", get(health))
        .route("/_cat/indices", get(cat_indices))
        .route("/_cat/indices/{index}", get(cat_indices_of))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route("/_refresh", post(refresh_all).get(refresh_all))
        .route("/_search", post(search_all).get(search_all))
        .route("/_count", post(count_all).get(count_all))
        .route(
            "/{index}",
            get(index_info)
                .head(index_exists)
                .put(create_index)
                .delete(delete_index),
        )
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/_refresh", post(refresh).get(refresh))
        .route("/{index}/_search", post(search).get(search))
        .route("/{index}/_count", post(count).get(count))
        .route("/{index}/_mapping", get(mapping))
        .route("/{index}/_settings", get(get_settings).put(put_settings))
        .route("/{index}/_doc", post(index_auto))
        .route(
            "/{index}/_doc/{id}",
            get(get_doc)
                .put(index_doc)
                .post(index_doc)
                .delete(delete_doc),
        )
        .route("/{index}/_create/{id}", put(create_doc).post(create_doc))
        .fallback(no_handler)
        .with_state(store);
    api.merge(crate::security_api::routes(security.clone()))
        .layer(axum::middleware::from_fn_with_state(security, crate::security_api::require))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::map_response(|mut r: Response| async move {
            r.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                let body = json!({"error": {"root_cause": [{"type": "content_too_long_exception", "reason": "request body is too large"}], "type": "content_too_long_exception", "reason": format!("request body is larger than {MAX_BODY} bytes")}, "status": 413});
                let mut r2 = reply(413, body);
                r2.headers_mut().insert("x-elastic-product", HeaderValue::from_static("Elasticsearch"));
                return r2;
            }
            r
        }))
}

use axum::routing::put;

async fn no_handler(method: Method, uri: Uri) -> Response {
    reply(
        400,
        json!({"error": format!("no handler found for uri [{}] and method [{method}]", uri.path()), "status": 400}),
    )
}

async fn info() -> Response {
    reply(
        200,
        json!({
            "name": "rstore",
            "cluster_name": "rstore",
            "cluster_uuid": "rstore-single-node-cluster",
            "version": {
                "number": "8.11.0",
                "build_flavor": "default",
                "build_type": "tar",
                "build_hash": "rstore",
                "build_date": "2024-01-01T00:00:00.000Z",
                "build_snapshot": false,
                "lucene_version": "9.8.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }),
    )
}

async fn license() -> Response {
    reply(
        200,
        json!({"license": {"status": "active", "uid": "rstore", "type": "basic", "issue_date": "2024-01-01T00:00:00.000Z", "issue_date_in_millis": 1704067200000u64, "max_nodes": 1000, "max_resource_units": null, "issued_to": "rstore", "issuer": "elasticsearch", "start_date_in_millis": -1}}),
    )
}

async fn health(State(s): State<Arc<Store>>) -> Response {
    let n = s.all().len();
    reply(
        200,
        json!({"cluster_name": "rstore", "status": "green", "timed_out": false, "number_of_nodes": 1, "number_of_data_nodes": 1, "active_primary_shards": n, "active_shards": n, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0}),
    )
}

fn cat(indices: Vec<Arc<Index>>, p: &HashMap<String, String>) -> Response {
    let rows: Vec<Value> = indices
        .iter()
        .map(|i| {
            json!({"health": "green", "status": "open", "index": i.name, "uuid": format!("rstore-{}", i.name), "pri": "1", "rep": "0",
                   "docs.count": i.doc_count().to_string(), "docs.deleted": "0", "store.size": format!("{}b", i.store_size()), "pri.store.size": format!("{}b", i.store_size())})
        })
        .collect();
    if p.get("format").map(String::as_str) == Some("json") {
        return reply(200, Value::Array(rows));
    }
    let cols = [
        "health",
        "status",
        "index",
        "uuid",
        "pri",
        "rep",
        "docs.count",
        "docs.deleted",
        "store.size",
        "pri.store.size",
    ];
    let mut table: Vec<Vec<String>> = Vec::new();
    if p.contains_key("v") {
        table.push(cols.iter().map(|c| c.to_string()).collect());
    }
    for r in &rows {
        table.push(
            cols.iter()
                .map(|c| r[*c].as_str().unwrap_or_default().to_string())
                .collect(),
        );
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| table.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &table {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| format!("{v:<w$}", w = widths[c]))
            .collect();
        out.push_str(line.join(" ").trim_end());
        out.push('\n');
    }
    let mut resp = (StatusCode::OK, out).into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

async fn cat_indices(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    blocking(move || match s.resolve_for_read("_all") {
        Ok(i) => cat(i, &p),
        Err(e) => err(e, None),
    })
    .await
}

async fn cat_indices_of(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    blocking(move || match s.resolve_for_read(&index) {
        Ok(i) => cat(i, &p),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

async fn index_info(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    match s.resolve(&index) {
        Ok(is) => reply(200, Value::Object(is.iter().map(|i| (i.name.clone(), json!({"aliases": {}, "mappings": i.mapping(), "settings": settings_json(i)}))).collect())),
        Err(e) => err(e, Some(&index)),
    }
}

async fn index_exists(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    let code = if s.resolve(&index).is_ok_and(|v| !v.is_empty()) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    code.into_response()
}

async fn create_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let body = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match parse_body(&body) {
                Ok(b) => b,
                Err(e) => return err(e, Some(&index)),
            }
        };
        if let Err(e) = crate::index::parse_settings(&body) {
            return err(e, Some(&index));
        }
        match s.create(&index).and_then(|i| i.update_settings(&body)) {
            Ok(()) => reply(
                200,
                json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
            ),
            Err(e) => err(e, Some(&index)),
        }
    })
    .await
}

fn settings_json(i: &Index) -> Value {
    let mut index = json!({"number_of_shards": "1", "number_of_replicas": "0", "provided_name": i.name, "creation_date": i.created.to_string(), "uuid": format!("rstore-{}", i.name)});
    if let Some(ri) = i.settings().refresh_interval_text() {
        index["refresh_interval"] = json!(ri);
    }
    json!({ "index": index })
}

async fn get_settings(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    match s.resolve(&index) {
        Ok(is) => reply(
            200,
            Value::Object(
                is.iter()
                    .map(|i| (i.name.clone(), json!({"settings": settings_json(i)})))
                    .collect(),
            ),
        ),
        Err(e) => err(e, Some(&index)),
    }
}

async fn put_settings(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let body = match parse_body(&body) {
            Ok(b) => b,
            Err(e) => return err(e, Some(&index)),
        };
        let indices = match s.resolve(&index) {
            Ok(i) => i,
            Err(e) => return err(e, Some(&index)),
        };
        for i in &indices {
            if let Err(e) = i.update_settings(&body) {
                return err(e, Some(&i.name));
            }
        }
        reply(200, json!({"acknowledged": true}))
    })
    .await
}

async fn delete_index(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    blocking(move || match s.delete(&index) {
        Ok(()) => reply(200, json!({"acknowledged": true})),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

async fn mapping(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    match s.resolve(&index) {
        Ok(is) => reply(
            200,
            Value::Object(
                is.iter()
                    .map(|i| (i.name.clone(), json!({"mappings": i.mapping()})))
                    .collect(),
            ),
        ),
        Err(e) => err(e, Some(&index)),
    }
}

async fn refresh_all(State(s): State<Arc<Store>>) -> Response {
    blocking(move || {
        s.refresh_all();
        reply(
            200,
            json!({"_shards": {"total": 1, "successful": 1, "failed": 0}}),
        )
    })
    .await
}

async fn refresh(State(s): State<Arc<Store>>, Path(index): Path<String>) -> Response {
    blocking(move || match s.resolve(&index) {
        Ok(is) => {
            for i in &is {
                if let Err(e) = i.refresh() {
                    return err(e, Some(&i.name));
                }
            }
            reply(
                200,
                json!({"_shards": {"total": is.len(), "successful": is.len(), "failed": 0}}),
            )
        }
        Err(e) => err(e, Some(&index)),
    })
    .await
}

/// `?refresh`: `true` (or empty) refreshes the indices written at once, `wait_for` answers once
/// a refresh has made the writes visible, `false` (the default) does neither.
#[derive(Clone, Copy, PartialEq)]
enum Refresh {
    No,
    Now,
    WaitFor,
}

fn refresh_param(p: &HashMap<String, String>) -> Result<Refresh, EsError> {
    match p.get("refresh").map(String::as_str) {
        None | Some("false") => Ok(Refresh::No),
        Some("" | "true") => Ok(Refresh::Now),
        Some("wait_for") => Ok(Refresh::WaitFor),
        Some(other) => Err(EsError::bad_request(
            "illegal_argument_exception",
            format!("Unknown value for refresh: [{other}]."),
        )),
    }
}

/// Honours `?refresh` once the writes are durable.
fn after_write(indices: &[Arc<Index>], refresh: Refresh) -> Result<(), EsError> {
    for i in indices {
        match refresh {
            Refresh::No => {}
            Refresh::Now => i.refresh()?,
            Refresh::WaitFor => i.wait_for_refresh()?,
        }
    }
    Ok(())
}

/// The source line exactly as sent, stored as `_source`.
fn raw_source(line: &[u8]) -> Option<Box<str>> {
    std::str::from_utf8(line).ok().map(|t| t.trim().into())
}

fn item_json(index: &str, r: &OpResult) -> Value {
    match &r.error {
        Some((kind, reason)) => {
            json!({"_index": index, "_id": r.id, "status": r.status, "error": {"type": kind, "reason": reason, "index": index, "shard": "0", "index_uuid": format!("rstore-{index}")}})
        }
        None => {
            json!({"_index": index, "_id": r.id, "_version": r.version, "result": r.result, "_shards": {"total": 1, "successful": 1, "failed": 0}, "_seq_no": r.seq_no, "_primary_term": 1, "status": r.status})
        }
    }
}

fn malformed(reason: impl Into<String>) -> Response {
    err(
        EsError::bad_request("illegal_argument_exception", reason),
        None,
    )
}

/// NDJSON bulk: action lines and sources; per-item results in request order.
fn run_bulk(s: &Store, default_index: Option<&str>, body: &[u8], refresh: Refresh) -> Response {
    let start = Instant::now();
    enum Slot {
        Op(String, String, Op),
        Failed(String, Value),
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut lines = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    while let Some(action_line) = lines.next() {
        let Ok(Value::Object(action)) = serde_json::from_slice::<Value>(action_line) else {
            return malformed("Malformed action/metadata line, expected START_OBJECT");
        };
        let Some((kind, meta)) = action.into_iter().next() else {
            return malformed("Malformed action/metadata line: empty");
        };
        let index = match meta.get("_index").and_then(Value::as_str).or(default_index) {
            Some(i) => i.to_string(),
            None => return malformed("Validation Failed: 1: index is missing;"),
        };
        let id = meta.get("_id").and_then(|v| {
            v.as_str()
                .map(str::to_string)
                .or_else(|| v.as_u64().map(|n| n.to_string()))
        });
        let op = match kind.as_str() {
            "delete" => match id {
                Some(id) => Op::Delete { id },
                None => return malformed("Validation Failed: 1: id is missing;"),
            },
            "index" | "create" | "update" => {
                let Some(src_line) = lines.next() else {
                    return malformed(format!("the {kind} action needs a document line"));
                };
                let src: Value = match serde_json::from_slice(src_line) {
                    Ok(v) => v,
                    Err(e) => {
                        let name = kind.clone();
                        slots.push(Slot::Failed(name, json!({"_index": index, "_id": id, "status": 400, "error": {"type": "document_parsing_exception", "reason": format!("failed to parse: {e}")}})));
                        continue;
                    }
                };
                match kind.as_str() {
                    "index" => Op::Index {
                        id,
                        source: src,
                        raw: raw_source(src_line),
                    },
                    "create" => Op::Create {
                        id,
                        source: src,
                        raw: raw_source(src_line),
                    },
                    _ => match id {
                        Some(id) => {
                            let upsert = src
                                .get("doc_as_upsert")
                                .and_then(Value::as_bool)
                                .unwrap_or(false);
                            Op::Update {
                                id,
                                doc: src.get("doc").cloned().unwrap_or(json!({})),
                                upsert,
                            }
                        }
                        None => return malformed("Validation Failed: 1: id is missing;"),
                    },
                }
            }
            other => {
                return malformed(format!(
                    "Malformed action/metadata line, unknown action [{other}]"
                ))
            }
        };
        slots.push(Slot::Op(kind, index, op));
    }
    // One durable write for the whole bulk, then the results back in request order.
    let mut by_index: Vec<(String, Vec<(usize, Op)>)> = Vec::new();
    for (pos, slot) in slots.iter_mut().enumerate() {
        if let Slot::Op(_, index, op) = slot {
            let op = std::mem::replace(op, Op::Delete { id: String::new() });
            match by_index.iter_mut().find(|(i, _)| i == index) {
                Some((_, v)) => v.push((pos, op)),
                None => by_index.push((index.clone(), vec![(pos, op)])),
            }
        }
    }
    let mut results: HashMap<usize, Value> = HashMap::new();
    let mut groups = Vec::new();
    for (index, ops) in by_index {
        match s.get_or_create(&index) {
            Ok(idx) => groups.push((idx, ops)),
            Err(e) => {
                for (pos, _) in ops {
                    results.insert(pos, json!({"_index": index, "status": e.status(), "error": e.body(Some(&index))["error"]}));
                }
            }
        }
    }
    let positions: Vec<Vec<usize>> = groups
        .iter()
        .map(|(_, ops)| ops.iter().map(|(p, _)| *p).collect())
        .collect();
    let indices: Vec<Arc<Index>> = groups.iter().map(|(i, _)| i.clone()).collect();
    let groups = groups
        .into_iter()
        .map(|(i, ops)| (i, ops.into_iter().map(|(_, op)| op).collect()))
        .collect();
    match s.bulk(groups) {
        Ok(all) => {
            for ((idx, rs), ps) in indices.iter().zip(all).zip(positions) {
                for (pos, r) in ps.into_iter().zip(rs) {
                    results.insert(pos, item_json(&idx.name, &r));
                }
            }
        }
        Err(e) => return err(e, None),
    }
    if let Err(e) = after_write(&indices, refresh) {
        return err(e, None);
    }
    let mut errors = false;
    let items: Vec<Value> = slots
        .into_iter()
        .enumerate()
        .map(|(pos, s)| {
            let (kind, body) = match s {
                Slot::Op(kind, _, _) => (kind, results.remove(&pos).unwrap_or(Value::Null)),
                Slot::Failed(kind, body) => (kind, body),
            };
            errors |= body.get("error").is_some();
            json!({ kind: body })
        })
        .collect();
    reply(
        200,
        json!({"took": start.elapsed().as_millis() as u64, "errors": errors, "items": items}),
    )
}

async fn bulk_all(State(s): State<Arc<Store>>, Query(p): Params, body: Bytes) -> Response {
    blocking(move || match refresh_param(&p) {
        Ok(r) => run_bulk(&s, None, &body, r),
        Err(e) => err(e, None),
    })
    .await
}

async fn bulk_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || match refresh_param(&p) {
        Ok(r) => run_bulk(&s, Some(&index), &body, r),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

fn single_op(s: &Store, index: &str, op: Op, p: &HashMap<String, String>) -> Response {
    let idx = match s.get_or_create(index) {
        Ok(i) => i,
        Err(e) => return err(e, Some(index)),
    };
    let refresh = match refresh_param(p) {
        Ok(r) => r,
        Err(e) => return err(e, Some(index)),
    };
    match s.bulk(vec![(idx.clone(), vec![op])]) {
        Ok(rs) => {
            if let Err(e) = after_write(std::slice::from_ref(&idx), refresh) {
                return err(e, Some(index));
            }
            let Some(r) = rs.into_iter().flatten().next() else {
                return err(
                    EsError::internal("no result for the operation"),
                    Some(index),
                );
            };
            match &r.error {
                Some((kind, reason)) => err(
                    EsError::Status {
                        status: r.status,
                        kind,
                        reason: reason.clone(),
                    },
                    Some(index),
                ),
                None => reply(r.status, item_json(index, &r)),
            }
        }
        Err(e) => err(e, Some(index)),
    }
}

fn parse_body(body: &[u8]) -> Result<Value, EsError> {
    serde_json::from_slice(body).map_err(|e| {
        EsError::bad_request(
            "document_parsing_exception",
            format!("failed to parse: {e}"),
        )
    })
}

async fn index_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || {
        let source = match parse_body(&body) {
            Ok(v) => v,
            Err(e) => return err(e, Some(&index)),
        };
        let op = if p.get("op_type").map(String::as_str) == Some("create") {
            Op::Create {
                id: Some(id),
                source,
                raw: raw_source(&body),
            }
        } else {
            Op::Index {
                id: Some(id),
                source,
                raw: raw_source(&body),
            }
        };
        single_op(&s, &index, op, &p)
    })
    .await
}

async fn create_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || match parse_body(&body) {
        Ok(source) => single_op(
            &s,
            &index,
            Op::Create {
                id: Some(id),
                source,
                raw: raw_source(&body),
            },
            &p,
        ),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

async fn index_auto(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || match parse_body(&body) {
        Ok(source) => single_op(
            &s,
            &index,
            Op::Index {
                id: None,
                source,
                raw: raw_source(&body),
            },
            &p,
        ),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

async fn delete_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    blocking(move || {
        if s.get(&index).is_none() {
            return err(
                EsError::not_found(
                    "index_not_found_exception",
                    format!("no such index [{index}]"),
                ),
                Some(&index),
            );
        }
        single_op(&s, &index, Op::Delete { id }, &p)
    })
    .await
}

async fn get_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
) -> Response {
    blocking(move || {
        let Some(idx) = s.get(&index) else {
            return err(EsError::not_found("index_not_found_exception", format!("no such index [{index}]")), Some(&index));
        };
        match idx.get(&id) {
            Some((src, version)) => reply(200, json!({"_index": index, "_id": id, "_version": version, "_seq_no": 0, "_primary_term": 1, "found": true, "_source": src})),
            None => reply(404, json!({"_index": index, "_id": id, "found": false})),
        }
    })
    .await
}

fn request_body(body: &[u8], p: &HashMap<String, String>) -> Result<Value, EsError> {
    let mut req = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            EsError::bad_request(
                "parsing_exception",
                format!("request body is not JSON: {e}"),
            )
        })?
    };
    if let Some(q) = p.get("q") {
        req["query"] = json!({"query_string": {"query": q}});
    }
    for k in ["size", "from"] {
        if let Some(v) = p.get(k).and_then(|v| v.parse::<u64>().ok()) {
            req[k] = json!(v);
        }
    }
    if let Some(sort) = p.get("sort") {
        req["sort"] = Value::Array(
            sort.split(',')
                .map(|s| match s.split_once(':') {
                    Some((f, o)) => json!({f: {"order": o}}),
                    None => json!(s),
                })
                .collect(),
        );
    }
    Ok(req)
}

fn sort_spec(v: &Value) -> Vec<(String, bool)> {
    let items = match v {
        Value::Array(a) => a.clone(),
        Value::Null => vec![],
        other => vec![other.clone()],
    };
    items
        .into_iter()
        .filter_map(|it| match it {
            Value::String(f) => (f != "_score").then_some((f, false)),
            Value::Object(o) => {
                let (f, spec) = o.into_iter().next()?;
                let desc = match &spec {
                    Value::String(s) => s == "desc",
                    Value::Object(so) => so.get("order").and_then(Value::as_str) == Some("desc"),
                    _ => false,
                };
                (f != "_score").then_some((f, desc))
            }
            _ => None,
        })
        .collect()
}

fn filter_source(src: Value, spec: &Value) -> Option<Value> {
    let (includes, excludes): (Vec<String>, Vec<String>) = match spec {
        Value::Bool(false) => return None,
        Value::Null | Value::Bool(true) => return Some(src),
        Value::String(s) => (vec![s.clone()], vec![]),
        Value::Array(a) => (
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            vec![],
        ),
        Value::Object(o) => {
            let list = |k: &str| {
                o.get(k)
                    .map(|v| match v {
                        Value::Array(a) => a
                            .iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect(),
                        Value::String(s) => vec![s.clone()],
                        _ => vec![],
                    })
                    .unwrap_or_default()
            };
            (list("includes"), list("excludes"))
        }
        _ => return Some(src),
    };
    let Value::Object(m) = src else {
        return Some(src);
    };
    let keep = |k: &str| {
        let inc = includes.is_empty()
            || includes.iter().any(|p| {
                crate::store::wildcard(p, k)
                    || k.starts_with(&format!("{p}."))
                    || p.starts_with(&format!("{k}."))
            });
        let exc = excludes.iter().any(|p| crate::store::wildcard(p, k));
        inc && !exc
    };
    Some(Value::Object(
        m.into_iter().filter(|(k, _)| keep(k)).collect(),
    ))
}

/// The request body (with URL parameters folded in) and the indices it names, for search and count.
fn parse_request(
    s: &Store,
    expr: &str,
    body: &[u8],
    p: &HashMap<String, String>,
) -> Result<(Value, Vec<Arc<Index>>), Box<Response>> {
    let req = request_body(body, p).map_err(|e| Box::new(err(e, None)))?;
    let indices = s
        .resolve_for_read(expr)
        .map_err(|e| Box::new(err(e, Some(expr))))?;
    Ok((req, indices))
}

fn run_search(s: &Store, expr: &str, body: &[u8], p: &HashMap<String, String>) -> Response {
    let start = Instant::now();
    let (req, indices) = match parse_request(s, expr, body, p) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let size = req.get("size").and_then(Value::as_u64).unwrap_or(10);
    let from = req.get("from").and_then(Value::as_u64).unwrap_or(0);
    // Clamped: no index holds more documents than usize counts; the engine clamps again to the
    // documents it has (a huge `size` must not become a huge allocation).
    let (size, from) = (
        size.min(u32::MAX as u64) as usize,
        from.min(u32::MAX as u64) as usize,
    );
    let sort = sort_spec(req.get("sort").unwrap_or(&Value::Null));
    let query = req.get("query").cloned().unwrap_or(Value::Null);
    let mut total = 0usize;
    let mut hits: Vec<(f32, Value, String, String)> = Vec::new();
    for idx in &indices {
        match idx.search(&query, 0, from.saturating_add(size), &sort) {
            Ok((t, hs)) => {
                total += t;
                hits.extend(
                    hs.into_iter()
                        .map(|(score, src, id)| (score, src, id, idx.name.clone())),
                );
            }
            Err(e) => return err(e, Some(&idx.name)),
        }
    }
    if sort.is_empty() {
        hits.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    } else if indices.len() > 1 {
        hits.sort_by(|a, b| {
            for (f, desc) in &sort {
                let o = crate::index::cmp_json(
                    crate::index::lookup(&a.1, f),
                    crate::index::lookup(&b.1, f),
                );
                let o = if *desc { o.reverse() } else { o };
                if o.is_ne() {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let source_spec = req.get("_source").cloned().unwrap_or(Value::Null);
    let max_score = hits
        .iter()
        .map(|h| h.0)
        .filter(|s| s.is_finite())
        .fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))));
    let hits_json: Vec<Value> = hits
        .into_iter()
        .skip(from)
        .take(size)
        .map(|(score, src, id, index)| {
            let mut h = json!({"_index": index, "_id": id, "_score": if score.is_finite() { json!(score) } else { Value::Null }});
            if let Some(src) = filter_source(src, &source_spec) {
                h["_source"] = src;
            }
            h
        })
        .collect();
    let mut resp = json!({
        "took": start.elapsed().as_millis() as u64,
        "timed_out": false,
        "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0},
        "hits": {"total": {"value": total, "relation": "eq"}, "max_score": max_score, "hits": hits_json}
    });
    if let Some(aggs) = req.get("aggs").or_else(|| req.get("aggregations")) {
        match crate::aggs::run(&indices, &query, aggs) {
            Ok(a) => resp["aggregations"] = a,
            Err(e) => return err(e, None),
        }
    }
    reply(200, resp)
}

async fn search(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || run_search(&s, &index, &body, &p)).await
}

async fn search_all(State(s): State<Arc<Store>>, Query(p): Params, body: Bytes) -> Response {
    blocking(move || run_search(&s, "_all", &body, &p)).await
}

fn run_count(s: &Store, expr: &str, body: &[u8], p: &HashMap<String, String>) -> Response {
    let (req, indices) = match parse_request(s, expr, body, p) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let query = req.get("query").cloned().unwrap_or(Value::Null);
    let mut n = 0;
    for idx in &indices {
        match idx.search(&query, 0, 0, &[]) {
            Ok((t, _)) => n += t,
            Err(e) => return err(e, Some(&idx.name)),
        }
    }
    reply(
        200,
        json!({"count": n, "_shards": {"total": indices.len(), "successful": indices.len(), "skipped": 0, "failed": 0}}),
    )
}

async fn count(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || run_count(&s, &index, &body, &p)).await
}

async fn count_all(State(s): State<Arc<Store>>, Query(p): Params, body: Bytes) -> Response {
    blocking(move || run_count(&s, "_all", &body, &p)).await
}
