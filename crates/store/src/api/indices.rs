//! Index management: create, get, delete, settings, mappings, aliases, open/close, refresh,
//! stats, and the index templates new indices take their settings from.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::{answer, blocking, err, reply, Params};
use crate::index::{alias_def, EsError, Index};
use crate::store::{wildcard, Store};
use crate::templates::{self, Kind};

fn truthy(p: &HashMap<String, String>, k: &str) -> bool {
    p.get(k).is_some_and(|v| v.is_empty() || v == "true")
}

/// A JSON body, or `{}` when there is none.
fn body_or_empty(body: &[u8]) -> Result<Value, EsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| {
        EsError::bad_request(
            "parsing_exception",
            format!("request body is not valid JSON: {e}"),
        )
    })
}

fn aliases_of(i: &Index) -> Value {
    Value::Object(i.meta().aliases)
}

/// Runs `f` over the indices of `expr` and answers with an object keyed by index name.
fn per_index(
    s: &Store,
    expr: &str,
    p: &HashMap<String, String>,
    f: impl Fn(&Index) -> Value,
) -> Response {
    match s.resolve_opts(expr, p) {
        Ok(is) => reply(
            200,
            Value::Object(is.iter().map(|i| (i.name.clone(), f(i))).collect()),
        ),
        Err(e) => err(e, Some(expr)),
    }
}

pub(super) async fn index_info(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    let flat = truthy(&p, "flat_settings");
    per_index(
        &s,
        &index,
        &p,
        |i| json!({"aliases": aliases_of(i), "mappings": i.mapping(), "settings": i.settings_json(flat)}),
    )
}

pub(super) async fn index_exists(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    let code = if s.resolve_opts(&index, &p).is_ok_and(|v| !v.is_empty()) {
        StatusCode::OK
    } else {
        StatusCode::NOT_FOUND
    };
    code.into_response()
}

pub(super) async fn create_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    body: Bytes,
) -> Response {
    blocking(move || {
        let body = match body_or_empty(&body) {
            Ok(b) => b,
            Err(e) => return err(e, Some(&index)),
        };
        match s.create_with(&index, &body) {
            Ok(_) => reply(
                200,
                json!({"acknowledged": true, "shards_acknowledged": true, "index": index}),
            ),
            Err(e) => err(e, Some(&index)),
        }
    })
    .await
}

pub(super) async fn get_settings(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    let flat = truthy(&p, "flat_settings");
    per_index(
        &s,
        &index,
        &p,
        |i| json!({"settings": i.settings_json(flat)}),
    )
}

pub(super) async fn get_settings_all(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    get_settings(State(s), Path("_all".into()), Query(p)).await
}

/// The shape of the index-changing handlers: the body parsed, the indices of `expr` resolved
/// (with the request's index options), `f` run on them, the result or the first error answered.
async fn on_indices(
    s: Arc<Store>,
    expr: String,
    p: HashMap<String, String>,
    body: Bytes,
    f: impl FnOnce(&Store, Vec<Arc<Index>>, Value) -> Result<Value, EsError> + Send + 'static,
) -> Response {
    blocking(move || {
        let r = body_or_empty(&body)
            .and_then(|b| Ok((b, s.resolve_opts(&expr, &p)?)))
            .and_then(|(b, indices)| f(&s, indices, b));
        answer(r, Some(&expr))
    })
    .await
}

fn acknowledged() -> Value {
    json!({"acknowledged": true})
}

pub(super) async fn put_settings(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    on_indices(s, index, p, body, |_, indices, body| {
        crate::index::parse_settings(&body)?;
        for i in &indices {
            i.update_settings(&body)?;
        }
        Ok(acknowledged())
    })
    .await
}

/// `DELETE /{index}`: names, comma lists, wildcards and `_all` (a pattern that matches nothing
/// is no error, as in Elasticsearch; a missing concrete name is a 404).
pub(super) async fn delete_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(mut p): Params,
) -> Response {
    p.entry("expand_wildcards".into())
        .or_insert_with(|| "all".into());
    on_indices(s, index, p, Bytes::new(), |s, indices, _| {
        for i in indices {
            s.delete(&i.name)?;
        }
        Ok(acknowledged())
    })
    .await
}

pub(super) async fn get_mapping(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    per_index(&s, &index, &p, |i| json!({"mappings": i.mapping()}))
}

pub(super) async fn get_mapping_all(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    get_mapping(State(s), Path("_all".into()), Query(p)).await
}

pub(super) async fn put_mapping(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    on_indices(s, index, p, body, |_, indices, body| {
        // All or none: every index must take the mapping before any does.
        for i in &indices {
            crate::mapping::Mapping::from_json(&i.mapping())
                .unwrap_or_default()
                .merge(&body)?;
        }
        for i in &indices {
            i.put_mapping(&body)?;
        }
        Ok(acknowledged())
    })
    .await
}

pub(super) async fn put_mapping_all(
    State(s): State<Arc<Store>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    put_mapping(State(s), Path("_all".into()), Query(p), body).await
}

pub(super) async fn refresh_all(State(s): State<Arc<Store>>) -> Response {
    refresh(State(s), Some(Path("_all".into())), Query(HashMap::new())).await
}

/// `_refresh`, `_flush` and `_forcemerge`: everything held made searchable and committed
/// (tantivy merges segments on its own).
pub(super) async fn refresh(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    on_indices(s, index, p, Bytes::new(), |_, indices, _| {
        for i in indices.iter().filter(|i| !i.is_closed()) {
            i.refresh()?;
        }
        let n = indices.len();
        Ok(json!({"_shards": {"total": n, "successful": n, "failed": 0}}))
    })
    .await
}

async fn open_close(
    s: Arc<Store>,
    index: String,
    p: HashMap<String, String>,
    close: bool,
) -> Response {
    on_indices(s, index, p, Bytes::new(), move |_, indices, _| {
        let mut shown = Map::new();
        for i in &indices {
            if close {
                i.refresh()?;
            }
            i.set_closed(close)?;
            shown.insert(i.name.clone(), json!({"closed": close}));
        }
        let mut body = json!({"acknowledged": true, "shards_acknowledged": true});
        if close {
            body["indices"] = Value::Object(shown);
        }
        Ok(body)
    })
    .await
}

pub(super) async fn close_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    open_close(s, index, p, true).await
}

pub(super) async fn open_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(mut p): Params,
) -> Response {
    p.entry("expand_wildcards".into())
        .or_insert_with(|| "closed".into());
    open_close(s, index, p, false).await
}

pub(super) async fn stats(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    let indices = match s.resolve_opts(&index, &p) {
        Ok(i) => i,
        Err(e) => return err(e, Some(&index)),
    };
    let one = |docs: u64, size: u64| json!({"docs": {"count": docs, "deleted": 0}, "store": {"size_in_bytes": size, "reserved_in_bytes": 0}, "indexing": {}, "search": {}});
    let (mut d, mut b) = (0, 0);
    let mut per = Map::new();
    for i in &indices {
        let (docs, size) = (i.doc_count(), i.store_size());
        d += docs;
        b += size;
        per.insert(
            i.name.clone(),
            json!({"uuid": i.uuid(), "health": "green", "status": if i.is_closed() { "close" } else { "open" }, "primaries": one(docs, size), "total": one(docs, size)}),
        );
    }
    reply(
        200,
        json!({"_shards": {"total": indices.len(), "successful": indices.len(), "failed": 0},
               "_all": {"primaries": one(d, b), "total": one(d, b)}, "indices": per}),
    )
}

pub(super) async fn stats_metric(
    State(s): State<Arc<Store>>,
    Path((index, _metric)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    stats(State(s), Some(Path(index)), Query(p)).await
}

// --- aliases ---

/// `GET /_alias`, `/{index}/_alias`, `/{index}/_alias/{name}`, `/_alias/{name}`.
fn get_aliases(
    s: &Store,
    index: &str,
    name: Option<&str>,
    p: &HashMap<String, String>,
) -> Response {
    let indices = match s.resolve_opts(index, p) {
        Ok(i) => i,
        Err(e) => return err(e, Some(index)),
    };
    let wanted = |a: &str| name.is_none_or(|n| n.split(',').any(|n| n == "_all" || wildcard(n, a)));
    let mut out = Map::new();
    for i in &indices {
        let aliases: Map<String, Value> = i
            .meta()
            .aliases
            .into_iter()
            .filter(|(a, _)| wanted(a))
            .collect();
        if name.is_none() || !aliases.is_empty() {
            out.insert(i.name.clone(), json!({ "aliases": aliases }));
        }
    }
    if let Some(n) = name {
        if out.is_empty() && !n.contains('*') {
            let mut body = Value::Object(out);
            body["error"] = json!(format!("alias [{n}] missing"));
            body["status"] = json!(404);
            return reply(404, body);
        }
    }
    reply(200, Value::Object(out))
}

pub(super) async fn alias_get(
    State(s): State<Arc<Store>>,
    Path(parts): Path<HashMap<String, String>>,
    Query(p): Params,
) -> Response {
    let index = parts.get("index").map_or("_all", String::as_str);
    get_aliases(&s, index, parts.get("name").map(String::as_str), &p)
}

pub(super) async fn alias_exists(
    State(s): State<Arc<Store>>,
    Path(parts): Path<HashMap<String, String>>,
    Query(p): Params,
) -> Response {
    let index = parts.get("index").map_or("_all", String::as_str);
    let r = get_aliases(&s, index, parts.get("name").map(String::as_str), &p);
    r.status().into_response()
}

pub(super) async fn alias_put(
    State(s): State<Arc<Store>>,
    Path((index, name)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    on_indices(s, index, p, body, move |_, indices, body| {
        for i in &indices {
            i.set_alias(&name, alias_def(&body))?;
        }
        Ok(acknowledged())
    })
    .await
}

pub(super) async fn alias_delete(
    State(s): State<Arc<Store>>,
    Path((index, name)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    on_indices(s, index, p, Bytes::new(), move |_, indices, _| {
        let mut any = false;
        for i in &indices {
            let names: Vec<String> = i
                .meta()
                .aliases
                .keys()
                .filter(|a| name.split(',').any(|n| n == "_all" || wildcard(n, a)))
                .cloned()
                .collect();
            for a in names {
                any |= i.remove_alias(&a)?;
            }
        }
        if !any {
            return Err(EsError::not_found(
                "aliases_not_found_exception",
                format!("aliases [{name}] missing"),
            ));
        }
        Ok(acknowledged())
    })
    .await
}

/// `POST /_aliases` with `add`/`remove`/`remove_index` actions.
pub(super) async fn aliases_actions(State(s): State<Arc<Store>>, body: Bytes) -> Response {
    blocking(move || {
        let body = match body_or_empty(&body) {
            Ok(b) => b,
            Err(e) => return err(e, None),
        };
        let Some(actions) = body.get("actions").and_then(Value::as_array) else {
            return err(
                EsError::bad_request(
                    "action_request_validation_exception",
                    "Validation Failed: 1: no aliases actions specified;",
                ),
                None,
            );
        };
        for a in actions {
            let Some((kind, spec)) = a.as_object().and_then(|o| o.iter().next()) else {
                continue;
            };
            let list = |k: &str, ks: &str| -> Vec<String> {
                match (spec.get(k), spec.get(ks)) {
                    (Some(Value::String(x)), _) => vec![x.clone()],
                    (_, Some(Value::Array(v))) => v
                        .iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                    _ => vec![],
                }
            };
            for index in list("index", "indices") {
                let indices = match s.resolve(&index) {
                    Ok(i) => i,
                    Err(e) => return err(e, Some(&index)),
                };
                for i in &indices {
                    let r = match kind.as_str() {
                        "add" => list("alias", "aliases")
                            .iter()
                            .try_for_each(|al| i.set_alias(al, alias_def(spec))),
                        "remove" => list("alias", "aliases")
                            .iter()
                            .try_for_each(|al| i.remove_alias(al).map(|_| ())),
                        "remove_index" => s.delete(&i.name),
                        other => Err(EsError::bad_request(
                            "illegal_argument_exception",
                            format!("Unsupported action [{other}]"),
                        )),
                    };
                    if let Err(e) = r {
                        return err(e, Some(&i.name));
                    }
                }
            }
        }
        reply(200, json!({"acknowledged": true}))
    })
    .await
}

// --- templates ---

fn kind_of(path: &str) -> Kind {
    if path.starts_with("/_index_template") {
        Kind::Composable
    } else if path.starts_with("/_component_template") {
        Kind::Component
    } else {
        Kind::Legacy
    }
}

pub(super) async fn template_put(
    State(s): State<Arc<Store>>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let kind = kind_of(uri.path());
    let body = match body_or_empty(&body) {
        Ok(b) => b,
        Err(e) => return err(e, None),
    };
    match s.templates.put(kind, &name, &body, truthy(&p, "create")) {
        Ok(()) => reply(200, json!({"acknowledged": true})),
        Err(e) => err(e, None),
    }
}

pub(super) async fn template_get(
    State(s): State<Arc<Store>>,
    uri: axum::http::Uri,
    name: Option<Path<String>>,
    Query(p): Params,
) -> Response {
    let kind = kind_of(uri.path());
    let flat = truthy(&p, "flat_settings");
    let name = name.map(|Path(n)| n);
    match s.templates.get(kind, name.as_deref()) {
        Ok(list) => reply(
            200,
            match kind {
                Kind::Legacy => Value::Object(
                    list.into_iter()
                        .map(|(n, t)| (n, templates::show(t, flat)))
                        .collect(),
                ),
                Kind::Composable => {
                    json!({"index_templates": list.into_iter().map(|(n, t)| json!({"name": n, "index_template": templates::show(t, flat)})).collect::<Vec<_>>()})
                }
                Kind::Component => {
                    json!({"component_templates": list.into_iter().map(|(n, t)| json!({"name": n, "component_template": templates::show(t, flat)})).collect::<Vec<_>>()})
                }
            },
        ),
        Err(e) => err(e, None),
    }
}

pub(super) async fn template_exists(
    State(s): State<Arc<Store>>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
) -> Response {
    match s.templates.get(kind_of(uri.path()), Some(&name)) {
        Ok(v) if !v.is_empty() => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

pub(super) async fn template_delete(
    State(s): State<Arc<Store>>,
    uri: axum::http::Uri,
    Path(name): Path<String>,
) -> Response {
    match s.templates.delete(kind_of(uri.path()), &name) {
        Ok(()) => reply(200, json!({"acknowledged": true})),
        Err(e) => err(e, None),
    }
}
