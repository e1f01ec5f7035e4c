//! The REST API: Elasticsearch's paths, status codes and body shapes, and the
//! `X-Elastic-Product: Elasticsearch` header the official clients check for.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::index::EsError;
use crate::store::Store;

mod caps;
mod cat;
mod docs;
mod indices;
mod search;
mod shape;
mod source;
use caps::*;
use cat::*;
use docs::*;
use indices::*;
use search::*;

pub(super) type Params = Query<HashMap<String, String>>;
pub const MAX_BODY: usize = 100 << 20;

pub(crate) fn reply(status: u16, body: Value) -> Response {
    reply_raw(status, body.to_string().into_bytes())
}

/// An answer whose JSON the handler wrote itself.
pub(crate) fn reply_raw(status: u16, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

/// A handler's result as its answer: 200 with the body, or Elasticsearch's error.
pub(crate) fn answer(r: Result<Value, EsError>, index: Option<&str>) -> Response {
    match r {
        Ok(v) => reply(200, v),
        Err(e) => err(e, index),
    }
}

pub(crate) fn err(e: EsError, index: Option<&str>) -> Response {
    reply(e.status(), e.body(index))
}

/// One route for the three kinds of templates (the path says which).
fn template_routes() -> axum::routing::MethodRouter<Arc<Store>> {
    get(template_get)
        .put(template_put)
        .post(template_put)
        .delete(template_delete)
        .head(template_exists)
}

pub(super) async fn blocking<F: FnOnce() -> Response + Send + 'static>(f: F) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| err(EsError::internal(e), None))
}

/// The whole API. With users in `security`, every request must authenticate first.
pub fn router(store: Arc<Store>, security: Arc<crate::security::Security>) -> Router {
    let api = Router::new()
        .route("/", get(root).head(|| async { reply(200, json!({})) }))
        .merge(crate::discover::routes())
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
        .route("/_cluster/health/{index}", get(health_of))
        .route(
            "/_cluster/settings",
            get(cluster_settings).put(cluster_settings),
        )
        .route("/_cat/indices", get(cat_indices))
        .route("/_cat/indices/{index}", get(cat_indices_of))
        .route("/_cat/health", get(cat_health))
        .route("/_cat/count", get(cat_count))
        .route("/_cat/count/{index}", get(cat_count_of))
        .route("/_bulk", post(bulk_all).put(bulk_all))
        .route("/_refresh", post(refresh_all).get(refresh_all))
        .route("/_flush", post(refresh).get(refresh))
        .route("/_forcemerge", post(refresh))
        .route("/_stats", get(stats))
        .route("/_search", post(search).get(search))
        .route("/_count", post(count).get(count))
        .route("/_msearch", post(msearch).get(msearch))
        .route("/_mget", post(mget).get(mget))
        .route(
            "/_search/scroll",
            post(scroll).get(scroll).delete(clear_scroll),
        )
        .route(
            "/_search/scroll/{id}",
            post(scroll_id).get(scroll_id).delete(clear_scroll_id),
        )
        .route("/_field_caps", post(field_caps).get(field_caps))
        .route("/_mapping", get(get_mapping_all).put(put_mapping_all))
        .route("/_settings", get(get_settings_all))
        .route("/_alias", get(alias_get))
        .route("/_alias/{name}", get(alias_get).head(alias_exists))
        .route("/_aliases", post(aliases_actions))
        .route("/_template", get(template_get))
        .route("/_index_template", get(template_get))
        .route("/_component_template", get(template_get))
        .route("/_template/{name}", template_routes())
        .route("/_index_template/{name}", template_routes())
        .route("/_component_template/{name}", template_routes())
        .route(
            "/{index}",
            get(index_info)
                .head(index_exists)
                .put(create_index)
                .delete(delete_index),
        )
        .route("/{index}/_bulk", post(bulk_index).put(bulk_index))
        .route("/{index}/_refresh", post(refresh).get(refresh))
        .route("/{index}/_flush", post(refresh).get(refresh))
        .route("/{index}/_forcemerge", post(refresh))
        .route("/{index}/_stats", get(stats))
        .route("/{index}/_stats/{metric}", get(stats_metric))
        .route("/{index}/_close", post(close_index))
        .route("/{index}/_open", post(open_index))
        .route("/{index}/_search", post(search).get(search))
        .route("/{index}/_count", post(count).get(count))
        .route("/{index}/_msearch", post(msearch).get(msearch))
        .route("/{index}/_mget", post(mget).get(mget))
        .route("/{index}/_field_caps", post(field_caps).get(field_caps))
        .route(
            "/{index}/_mapping",
            get(get_mapping).put(put_mapping).post(put_mapping),
        )
        .route(
            "/{index}/_mappings",
            get(get_mapping).put(put_mapping).post(put_mapping),
        )
        .route("/{index}/_settings", get(get_settings).put(put_settings))
        .route("/{index}/_alias", get(alias_get))
        .route(
            "/{index}/_alias/{name}",
            get(alias_get)
                .head(alias_exists)
                .put(alias_put)
                .post(alias_put)
                .delete(alias_delete),
        )
        .route(
            "/{index}/_aliases/{name}",
            put(alias_put).post(alias_put).delete(alias_delete),
        )
        .route("/{index}/_doc", post(index_auto))
        .route(
            "/{index}/_doc/{id}",
            get(get_doc)
                .head(doc_exists)
                .put(index_doc)
                .post(index_doc)
                .delete(delete_doc),
        )
        .route("/{index}/_source/{id}", get(get_source).head(doc_exists))
        .route("/{index}/_create/{id}", put(create_doc).post(create_doc))
        .route("/{index}/_update/{id}", post(update_doc))
        .fallback(no_handler)
        .with_state(store);
    api.merge(crate::security_api::routes(security.clone()))
        .layer(axum::middleware::from_fn_with_state(security, crate::security_api::require))
        .layer(axum::middleware::from_fn(shape::reshape))
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

/// `GET /`: the node's information for clients; a browser is sent to Discover.
async fn root(headers: axum::http::HeaderMap) -> Response {
    if crate::discover::wants_page(&headers) {
        return axum::response::Redirect::to("/app/discover").into_response();
    }
    info().await
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

async fn health(State(s): State<Arc<Store>>, Query(p): Params) -> Response {
    health_for(&s, "_all", &p)
}

async fn health_of(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
) -> Response {
    health_for(&s, &index, &p)
}

/// One node holds every shard: green, as many active shards as the indices declare.
fn health_for(s: &Store, expr: &str, p: &HashMap<String, String>) -> Response {
    let mut p = p.clone();
    p.entry("expand_wildcards".into())
        .or_insert_with(|| "all".into());
    let indices = match s.resolve_opts(expr, &p) {
        Ok(i) => i,
        Err(e) => return err(e, Some(expr)),
    };
    let shards = |i: &crate::Index| -> u64 {
        i.meta()
            .settings
            .get("index.number_of_shards")
            .and_then(|v| v.as_str()?.parse().ok())
            .unwrap_or(1)
    };
    let n: u64 = indices.iter().map(|i| shards(i)).sum();
    let status = if indices.iter().any(|i| cat::health_of(i) == "yellow") {
        "yellow"
    } else {
        "green"
    };
    let mut body = json!({"cluster_name": "rstore", "status": status, "timed_out": false, "number_of_nodes": 1, "number_of_data_nodes": 1, "discovered_master": true, "discovered_cluster_manager": true, "active_primary_shards": n, "active_shards": n, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0, "delayed_unassigned_shards": 0, "number_of_pending_tasks": 0, "number_of_in_flight_fetch": 0, "task_max_waiting_in_queue_millis": 0, "active_shards_percent_as_number": 100.0});
    if matches!(
        p.get("level").map(String::as_str),
        Some("indices" | "shards")
    ) {
        body["indices"] = Value::Object(
            indices
                .iter()
                .map(|i| {
                    let k = shards(i);
                    (i.name.clone(), json!({"status": cat::health_of(i), "number_of_shards": k, "number_of_replicas": 0, "active_primary_shards": k, "active_shards": k, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 0}))
                })
                .collect(),
        );
    }
    reply(200, body)
}

/// `GET/PUT _cluster/settings`: kept in memory; `null` removes a setting.
async fn cluster_settings(State(s): State<Arc<Store>>, method: Method, body: Bytes) -> Response {
    let Ok(mut cur) = s.cluster_settings.lock() else {
        return err(EsError::internal("cluster settings poisoned"), None);
    };
    if method == Method::PUT {
        let b: Value = match parse_body(&body) {
            Ok(b) => b,
            Err(e) => return err(e, None),
        };
        for scope in ["persistent", "transient"] {
            if let Some(Value::Object(o)) = b.get(scope) {
                let flat = crate::index::flatten_plain(&Value::Object(o.clone()));
                for (k, v) in flat {
                    if v.is_null() {
                        if let Some(m) = cur[scope].as_object_mut() {
                            m.remove(&k);
                        }
                    } else {
                        cur[scope][k] = v;
                    }
                }
            }
        }
        let mut out = cur.clone();
        out["acknowledged"] = json!(true);
        return reply(200, out);
    }
    reply(200, cur.clone())
}

/// The lines of an NDJSON body (`_bulk`, `_msearch`), blank ones skipped. Found with `memchr`:
/// a bulk is megabytes, and a byte-at-a-time split was 1% of rstore's work under a bulk stream.
pub(super) fn ndjson_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    let ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    ends.map(move |end| {
        let line = &body[start..end];
        start = end + 1;
        line
    })
    .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

pub(super) fn parse_body(body: &[u8]) -> Result<Value, EsError> {
    serde_json::from_slice(body).map_err(|e| {
        EsError::bad_request(
            "document_parsing_exception",
            format!("failed to parse: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The lines are those of a split at every newline, blank ones left out: with or without
        /// a last newline, `\r\n` endings, runs of blank lines.
        #[test]
        fn ndjson_lines_are_the_non_blank_lines(
            body in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'{'), Just(b'x')], 0..64)
        ) {
            let want: Vec<&[u8]> = body
                .split(|&b| b == b'\n')
                .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
                .collect();
            let got: Vec<&[u8]> = super::ndjson_lines(&body).collect();
            prop_assert_eq!(got, want);
        }
    }
}
