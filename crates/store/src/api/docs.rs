//! Document APIs: bulk, index, create, get, delete.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use super::source::SourceSpec;
use super::{blocking, err, ndjson_lines, parse_body, reply, reply_raw, Params};
use crate::index::{Cond, EsError, Index, Op, OpResult};
use crate::json::Json;
use crate::store::Store;

/// `?refresh`: `true` (or empty) refreshes the indices written at once, `wait_for` answers once
/// a refresh has made the writes visible, `false` (the default) does neither.
#[derive(Clone, Copy, PartialEq)]
pub(super) enum Refresh {
    No,
    Now,
    WaitFor,
}

pub(super) fn refresh_param(p: &HashMap<String, String>) -> Result<Refresh, EsError> {
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
pub(super) fn after_write(indices: &[Arc<Index>], refresh: Refresh) -> Result<(), EsError> {
    for i in indices {
        match refresh {
            Refresh::No => {}
            Refresh::Now => i.refresh()?,
            Refresh::WaitFor => i.wait_for_refresh()?,
        }
    }
    Ok(())
}

pub(super) fn item_json(index: &str, r: &OpResult) -> Value {
    match &r.error {
        Some((kind, reason)) => {
            json!({"_index": index, "_id": r.id, "status": r.status, "error": {"type": kind, "reason": reason, "index": index, "shard": "0", "index_uuid": format!("rstore-{index}")}})
        }
        None => serde_json::to_value(Success::of(index, r)).unwrap_or(Value::Null),
    }
}

/// A successful write's answer: built as a value by `item_json`, written straight into a bulk
/// answer by `write_success`.
#[derive(serde::Serialize)]
struct Success<'a> {
    _index: &'a str,
    _id: &'a str,
    _version: u64,
    result: &'a str,
    _shards: Shards,
    _seq_no: u64,
    _primary_term: u64,
    status: u16,
}

#[derive(serde::Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

impl<'a> Success<'a> {
    fn of(index: &'a str, r: &'a OpResult) -> Success<'a> {
        Success {
            _index: index,
            _id: &r.id,
            _version: r.version,
            result: r.result,
            _shards: Shards {
                total: 1,
                successful: 1,
                failed: 0,
            },
            _seq_no: r.seq_no,
            _primary_term: 1,
            status: r.status,
        }
    }
}

pub(super) fn malformed(reason: impl Into<String>) -> Response {
    err(
        EsError::bad_request("illegal_argument_exception", reason),
        None,
    )
}

/// A bulk item whose source is not JSON.
fn parse_failure(index: &str, id: Option<String>, e: serde_json::Error) -> Value {
    json!({"_index": index, "_id": id, "status": 400, "error": {"type": "document_parsing_exception", "reason": format!("failed to parse: {e}")}})
}

/// NDJSON bulk: action lines and sources; per-item results in request order.
pub(super) fn run_bulk<'b>(
    s: &Store,
    default_index: Option<&str>,
    body: &'b [u8],
    refresh: Refresh,
    p: &HashMap<String, String>,
) -> Response {
    let start = Instant::now();
    // Updates that asked for their document back (`_source` on the action, its body or the URL).
    let mut wants_source: HashMap<usize, SourceSpec> = HashMap::new();
    enum Slot<'a> {
        Op(Cow<'a, str>, String, Op<'a>),
        Failed(Cow<'a, str>, Value),
    }
    let mut slots: Vec<Slot<'b>> = Vec::new();
    let mut lines = ndjson_lines(body);
    while let Some(action_line) = lines.next() {
        // Read borrowed: a `Value` built a map, its keys and its strings for every item.
        let Ok(Json::Object(action)) = Json::parse(action_line) else {
            return malformed("Malformed action/metadata line, expected START_OBJECT");
        };
        let Some((kind, meta)) = action.into_iter().next() else {
            return malformed("Malformed action/metadata line: empty");
        };
        let meta = meta.as_object().unwrap_or_default();
        let field = |k: &str| meta.iter().find(|(key, _)| key == k).map(|(_, v)| v);
        let index = match field("_index").and_then(Json::as_str).or(default_index) {
            Some(i) => i.to_string(),
            None => return malformed("Validation Failed: 1: index is missing;"),
        };
        let id = field("_id").and_then(|v| match v {
            Json::String(s) => Some(s.to_string()),
            Json::Number(n) => n.as_u64().map(|n| n.to_string()),
            _ => None,
        });
        let op = match &*kind {
            "delete" => match id {
                Some(id) => Op::Delete { id },
                None => return malformed("Validation Failed: 1: id is missing;"),
            },
            "index" | "create" => {
                let Some(src_line) = lines.next() else {
                    return malformed(format!("the {kind} action needs a document line"));
                };
                let (source, raw) = match Json::parse_text(src_line) {
                    Ok((v, text)) => (v, Some(text.trim())),
                    Err(e) => {
                        slots.push(Slot::Failed(kind, parse_failure(&index, id, e)));
                        continue;
                    }
                };
                if kind == "index" {
                    Op::Index { id, source, raw }
                } else {
                    Op::Create { id, source, raw }
                }
            }
            "update" => {
                let Some(src_line) = lines.next() else {
                    return malformed(format!("the {kind} action needs a document line"));
                };
                let src: Value = match serde_json::from_slice(src_line) {
                    Ok(v) => v,
                    Err(e) => {
                        slots.push(Slot::Failed(kind, parse_failure(&index, id, e)));
                        continue;
                    }
                };
                let Some(id) = id else {
                    return malformed("Validation Failed: 1: id is missing;");
                };
                let meta_spec = field("_source").map(Json::to_value);
                let spec = meta_spec.as_ref().or(src.get("_source"));
                if spec.is_some() || p.contains_key("_source") {
                    if let Ok(spec) = SourceSpec::new(spec, p) {
                        wants_source.insert(slots.len(), spec);
                    }
                }
                update_op(id, &src)
            }
            other => {
                return malformed(format!(
                    "Malformed action/metadata line, unknown action [{other}]"
                ))
            }
        };
        let text =
            |k: &str| field(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
        match versioned(op, text) {
            Ok(op) => slots.push(Slot::Op(kind, index, op)),
            Err(e) => {
                let body = json!({"_index": index, "status": e.status(), "error": e.body(Some(&index))["error"]});
                slots.push(Slot::Failed(kind, body));
            }
        }
    }
    // One durable write for the whole bulk, then the results back in request order.
    // Grouped by index in order of first appearance (a backfill's bulk names ~100 indices).
    let mut by_index: Vec<(String, Vec<(usize, Op)>)> = Vec::new();
    let mut group_of: HashMap<&str, usize> = HashMap::new();
    for (pos, slot) in slots.iter_mut().enumerate() {
        if let Slot::Op(_, index, op) = slot {
            let op = std::mem::replace(op, Op::Delete { id: String::new() });
            let g = *group_of.entry(index.as_str()).or_insert_with(|| {
                by_index.push((index.clone(), Vec::new()));
                by_index.len() - 1
            });
            by_index[g].1.push((pos, op));
        }
    }
    // Each slot's answer: a plain success is written straight into the response (most items
    // of a log stream), anything else through a JSON value.
    enum Item {
        Done(usize, OpResult),
        Json(Value),
    }
    let mut results: Vec<Option<Item>> = (0..slots.len()).map(|_| None).collect();
    let mut groups = Vec::new();
    for (index, ops) in by_index {
        match s.write_target(&index) {
            Ok(idx) => groups.push((idx, ops)),
            Err(e) => {
                for (pos, _) in ops {
                    results[pos] = Some(Item::Json(
                        json!({"_index": index, "status": e.status(), "error": e.body(Some(&index))["error"]}),
                    ));
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
            for (g, ((idx, rs), ps)) in indices.iter().zip(all).zip(positions).enumerate() {
                for (pos, r) in ps.into_iter().zip(rs) {
                    results[pos] = Some(if r.error.is_none() && !wants_source.contains_key(&pos) {
                        Item::Done(g, r)
                    } else {
                        Item::Json(item_json(&idx.name, &r))
                    });
                }
            }
        }
        Err(e) => return err(e, None),
    }
    if let Err(e) = after_write(&indices, refresh) {
        return err(e, None);
    }
    let mut errors = false;
    let mut items = Vec::with_capacity(slots.len() * 220);
    for (pos, slot) in slots.into_iter().enumerate() {
        if pos > 0 {
            items.push(b',');
        }
        let (kind, mut body) = match (slot, results[pos].take()) {
            (Slot::Op(kind, _, _), Some(Item::Done(g, r))) => {
                write_success(&mut items, &kind, &indices[g].name, &r);
                continue;
            }
            (Slot::Op(kind, _, _), Some(Item::Json(body))) => (kind, body),
            (Slot::Op(kind, _, _), None) => (kind, Value::Null),
            (Slot::Failed(kind, body), _) => (kind, body),
        };
        if let (Some(spec), None) = (wants_source.get(&pos), body.get("error")) {
            let (i, id) = (
                body["_index"].as_str().unwrap_or_default(),
                body["_id"].as_str().unwrap_or_default(),
            );
            if let Some((src, _)) = s.get(i).and_then(|idx| idx.get(id)) {
                body["get"] = json!({"found": true, "_source": spec.apply(&src)});
            }
        }
        errors |= body.get("error").is_some();
        items.extend_from_slice(json!({ kind: body }).to_string().as_bytes());
    }
    let mut out = Vec::with_capacity(items.len() + 48);
    let _ = write!(
        out,
        "{{\"took\":{},\"errors\":{errors},\"items\":[",
        start.elapsed().as_millis()
    );
    out.extend_from_slice(&items);
    out.extend_from_slice(b"]}");
    reply_raw(200, out)
}

/// A successful bulk item, `{kind: answer}`, written without building a JSON value: the keys as
/// literals (the derived serializer escaped all 13 of them, for every item of every bulk), the
/// same bytes `Success`'s serializer writes.
fn write_success(out: &mut Vec<u8>, kind: &str, index: &str, r: &OpResult) {
    // Writing into a `Vec` cannot fail.
    let text = |out: &mut Vec<u8>, t: &str| {
        let _ = serde_json::to_writer(&mut *out, t);
    };
    let mut num = itoa::Buffer::new();
    out.push(b'{');
    text(out, kind);
    out.extend_from_slice(b":{\"_index\":");
    text(out, index);
    out.extend_from_slice(b",\"_id\":");
    text(out, &r.id);
    out.extend_from_slice(b",\"_version\":");
    out.extend_from_slice(num.format(r.version).as_bytes());
    out.extend_from_slice(b",\"result\":");
    text(out, r.result);
    out.extend_from_slice(b",\"_shards\":{\"total\":1,\"successful\":1,\"failed\":0},\"_seq_no\":");
    out.extend_from_slice(num.format(r.seq_no).as_bytes());
    out.extend_from_slice(b",\"_primary_term\":1,\"status\":");
    out.extend_from_slice(num.format(r.status).as_bytes());
    out.extend_from_slice(b"}}");
}

pub(super) async fn bulk_all(
    State(s): State<Arc<Store>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || match refresh_param(&p) {
        Ok(r) => run_bulk(&s, None, &body, r, &p),
        Err(e) => err(e, None),
    })
    .await
}

pub(super) async fn bulk_index(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || match refresh_param(&p) {
        Ok(r) => run_bulk(&s, Some(&index), &body, r, &p),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

/// An update body (`doc`, `upsert`, `doc_as_upsert`, `detect_noop`) as an operation.
pub(super) fn update_op(id: String, body: &Value) -> Op<'static> {
    let doc = body.get("doc").cloned().unwrap_or(json!({}));
    let as_upsert = body
        .get("doc_as_upsert")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Op::Update {
        id,
        upsert: if as_upsert {
            Some(doc.clone())
        } else {
            body.get("upsert").cloned()
        },
        detect_noop: body
            .get("detect_noop")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        doc,
    }
}

/// `version` with `version_type=external|external_gte` (in the URL, or a bulk action's metadata).
pub(super) fn versioned<'a>(
    op: Op<'a>,
    get: impl Fn(&str) -> Option<String>,
) -> Result<Op<'a>, EsError> {
    let invalid = |m: &str| {
        EsError::bad_request(
            "action_request_validation_exception",
            format!("Validation Failed: 1: {m};"),
        )
    };
    match (get("if_seq_no"), get("if_primary_term")) {
        (Some(s), Some(t)) => {
            let seq_no = s
                .parse::<u64>()
                .map_err(|_| invalid(&format!("illegal if_seq_no value [{s}]")))?;
            let primary_term = t
                .parse::<u64>()
                .map_err(|_| invalid(&format!("illegal if_primary_term value [{t}]")))?;
            if get("version").is_some() {
                return Err(invalid(
                    "compare and write operations can not use versioning",
                ));
            }
            return Ok(Op::Cond {
                op: Box::new(op),
                cond: Cond::SeqNo {
                    seq_no,
                    primary_term,
                },
            });
        }
        (Some(_), None) => return Err(invalid("ifSeqNo is set, but primary term is [0]")),
        (None, Some(_)) => return Err(invalid("ifSeqNo is unassigned, but primary term is [1]")),
        (None, None) => {}
    }
    let (version, version_type) = (get("version"), get("version_type"));
    match (version_type.as_deref(), version.as_deref()) {
        (None | Some("internal"), None) => Ok(op),
        (None | Some("internal"), Some(_)) => Err(invalid("internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead")),
        (Some(t @ ("external" | "external_gte")), Some(v)) => {
            let version = v.parse::<u64>().map_err(|_| invalid(&format!("illegal version value [{v}] for version type [{t}]")))?;
            Ok(Op::Cond { op: Box::new(op), cond: Cond::External { version, gte: t == "external_gte" } })
        }
        (Some("external" | "external_gte"), None) => Err(invalid("an external version is needed")),
        (Some(other), _) => Err(EsError::bad_request("illegal_argument_exception", format!("No version type match [{other}]"))),
    }
}

fn versioned_by<'a>(op: Op<'a>, p: &HashMap<String, String>) -> Result<Op<'a>, EsError> {
    versioned(op, |k| p.get(k).cloned())
}

/// One write through the bulk path; answers as the single-document APIs do.
pub(super) fn single_op(s: &Store, index: &str, op: Op, p: &HashMap<String, String>) -> Response {
    match write_one(s, index, op, p) {
        Ok((status, body)) => reply(status, body),
        Err(e) => err(e, Some(index)),
    }
}

fn write_one(
    s: &Store,
    index: &str,
    op: Op,
    p: &HashMap<String, String>,
) -> Result<(u16, Value), EsError> {
    let refresh = refresh_param(p)?;
    if p.get("require_alias")
        .is_some_and(|v| v == "true" || v.is_empty())
        && !s.all().iter().any(|i| i.meta().aliases.contains_key(index))
    {
        return Err(EsError::not_found(
            "index_not_found_exception",
            format!("no such index [{index}] and [require_alias] request flag is [true] and [{index}] is not an alias"),
        ));
    }
    let op = versioned_by(op, p)?;
    let idx = s.write_target(index)?;
    let rs = s.bulk(vec![(idx.clone(), vec![op])])?;
    let r = rs
        .into_iter()
        .flatten()
        .next()
        .ok_or_else(|| EsError::internal("no result for the operation"))?;
    if let Some((kind, reason)) = &r.error {
        return Err(EsError::Status {
            status: r.status,
            kind,
            reason: reason.clone(),
        });
    }
    after_write(std::slice::from_ref(&idx), refresh)?;
    let mut body = item_json(&idx.name, &r);
    if let Some(o) = body.as_object_mut() {
        o.remove("status");
    }
    if refresh == Refresh::Now && r.result != "noop" {
        body["forced_refresh"] = json!(true);
    }
    Ok((r.status, body))
}

/// A document write (`_doc` with or without an id, `_create`): `op_type=create` refuses to
/// replace an existing document.
fn write_doc(
    s: &Store,
    index: &str,
    id: Option<String>,
    body: &[u8],
    p: &HashMap<String, String>,
) -> Response {
    let (source, raw) = match Json::parse_text(body) {
        Ok((v, text)) => (v, Some(text.trim())),
        Err(e) => {
            let e = EsError::bad_request(
                "document_parsing_exception",
                format!("failed to parse: {e}"),
            );
            return err(e, Some(index));
        }
    };
    let op = match p.get("op_type").map(String::as_str) {
        Some("create") => Op::Create { id, source, raw },
        None | Some("index") => Op::Index { id, source, raw },
        Some(other) => {
            return err(
                EsError::bad_request(
                    "illegal_argument_exception",
                    format!("opType must be 'create' or 'index', found: [{other}]"),
                ),
                Some(index),
            )
        }
    };
    single_op(s, index, op, p)
}

pub(super) async fn index_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || write_doc(&s, &index, Some(id), &body, &p)).await
}

pub(super) async fn create_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(mut p): Params,
    body: Bytes,
) -> Response {
    p.insert("op_type".into(), "create".into());
    blocking(move || write_doc(&s, &index, Some(id), &body, &p)).await
}

pub(super) async fn index_auto(
    State(s): State<Arc<Store>>,
    Path(index): Path<String>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || write_doc(&s, &index, None, &body, &p)).await
}

pub(super) async fn delete_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    blocking(move || {
        if s.resolve(&index).is_err() {
            return err(
                EsError::not_found(
                    "index_not_found_exception",
                    format!("no such index [{index}]"),
                ),
                Some(&index),
            );
        }
        // A delete of a missing document answers 404 with its result, as Elasticsearch's.
        match write_one(&s, &index, Op::Delete { id }, &p) {
            Ok((_, body)) if body["result"] == "not_found" => reply(404, body),
            Ok((status, body)) => reply(status, body),
            Err(e) => err(e, Some(&index)),
        }
    })
    .await
}

pub(super) async fn update_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    blocking(move || {
        let body = match parse_body(&body) {
            Ok(v) => v,
            Err(e) => return err(e, Some(&index)),
        };
        if let Some(k) = body.as_object().and_then(|o| {
            o.keys().find(|k| {
                !matches!(
                    k.as_str(),
                    "doc"
                        | "upsert"
                        | "doc_as_upsert"
                        | "detect_noop"
                        | "_source"
                        | "scripted_upsert"
                )
            })
        }) {
            return err(
                EsError::bad_request(
                    "x_content_parse_exception",
                    format!("[UpdateRequest] unknown field [{k}]"),
                ),
                Some(&index),
            );
        }
        let wants_source = p.contains_key("_source") || body.get("_source").is_some();
        match write_one(&s, &index, update_op(id.clone(), &body), &p) {
            Ok((status, mut out)) => {
                if wants_source {
                    let spec = SourceSpec::new(body.get("_source"), &p).unwrap_or_default();
                    let name = out["_index"].as_str().unwrap_or(&index).to_string();
                    if let Some((src, _)) = s.get(&name).and_then(|i| i.get(&id)) {
                        out["get"] = json!({"found": true, "_source": spec.apply(&src)});
                    }
                }
                reply(status, out)
            }
            Err(e) => err(e, Some(&index)),
        }
    })
    .await
}

/// One document as `GET _doc` shows it, with `_source` filtering and `stored_fields`.
fn doc_json(
    s: &Store,
    index: &str,
    id: &str,
    p: &HashMap<String, String>,
    source: Option<&Value>,
) -> Result<(bool, Value), EsError> {
    let idx = s.resolve(index)?.into_iter().next().ok_or_else(|| {
        EsError::not_found(
            "index_not_found_exception",
            format!("no such index [{index}]"),
        )
    })?;
    if p.get("refresh")
        .is_some_and(|v| v == "true" || v.is_empty())
    {
        idx.refresh()?;
    }
    let realtime = p.get("realtime").is_none_or(|v| v != "false");
    let Some((src, version, seq_no)) = idx.get_full(id, realtime) else {
        return Ok((
            false,
            json!({"_index": idx.name, "_id": id, "found": false}),
        ));
    };
    let mut out = json!({"_index": idx.name, "_id": id, "_version": version, "_seq_no": seq_no, "_primary_term": 1, "found": true});
    let mut spec = SourceSpec::new(source, p)?;
    if let Some(sf) = p.get("stored_fields") {
        let wanted: Vec<String> = sf.split(',').map(str::to_string).collect();
        if !wanted.iter().any(|f| f == "_source") && !p.contains_key("_source") {
            spec.off = true;
        }
        let fields =
            idx.with_mapping(|m| super::source::fields_of(m, &src, Some(&json!(wanted)), None));
        if !fields.is_empty() {
            out["fields"] = Value::Object(fields);
        }
    }
    if let Some(x) = spec.apply(&src) {
        out["_source"] = x;
    }
    Ok((true, out))
}

pub(super) async fn get_doc(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    blocking(move || match doc_json(&s, &index, &id, &p, None) {
        Ok((true, v)) => reply(200, v),
        Ok((false, v)) => reply(404, v),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

pub(super) async fn doc_exists(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    use axum::http::StatusCode;
    blocking(move || match doc_json(&s, &index, &id, &p, None) {
        Ok((true, _)) => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await
}

pub(super) async fn get_source(
    State(s): State<Arc<Store>>,
    Path((index, id)): Path<(String, String)>,
    Query(p): Params,
) -> Response {
    blocking(move || match doc_json(&s, &index, &id, &p, None) {
        Ok((true, v)) => reply(200, v.get("_source").cloned().unwrap_or(json!({}))),
        Ok((false, _)) => err(
            EsError::not_found(
                "resource_not_found_exception",
                format!("Document not found [{index}]/[{id}]"),
            ),
            Some(&index),
        ),
        Err(e) => err(e, Some(&index)),
    })
    .await
}

/// `_mget`: `docs` (each with `_index`, `_id`, optional `_source`) or `ids` against the path's
/// index; a missing index or document is that entry's answer, not the request's.
fn run_mget(
    s: &Store,
    default: Option<&str>,
    body: &[u8],
    p: &HashMap<String, String>,
) -> Response {
    let body = match parse_body(body) {
        Ok(b) => b,
        Err(e) => return err(e, default),
    };
    let entries: Vec<Value> = match (body.get("docs"), body.get("ids")) {
        (Some(Value::Array(d)), _) => d.clone(),
        (_, Some(Value::Array(ids))) => ids.iter().map(|i| json!({"_id": i})).collect(),
        _ => {
            return err(
                EsError::bad_request(
                    "action_request_validation_exception",
                    "Validation Failed: 1: no documents to get;",
                ),
                default,
            )
        }
    };
    if entries.is_empty() {
        return err(
            EsError::bad_request(
                "action_request_validation_exception",
                "Validation Failed: 1: no documents to get;",
            ),
            default,
        );
    }
    let mut docs = Vec::with_capacity(entries.len());
    for e in entries {
        let id = match e.get("_id") {
            Some(Value::String(x)) => x.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return err(
                    EsError::bad_request(
                        "action_request_validation_exception",
                        "Validation Failed: 1: id is missing;",
                    ),
                    default,
                )
            }
        };
        let Some(index) = e.get("_index").and_then(Value::as_str).or(default) else {
            return err(
                EsError::bad_request(
                    "action_request_validation_exception",
                    "Validation Failed: 1: index is missing;",
                ),
                default,
            );
        };
        let mut params = p.clone();
        if let Some(sf) = e.get("stored_fields") {
            params.insert(
                "stored_fields".into(),
                match sf {
                    Value::Array(a) => a
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.as_str().unwrap_or_default().to_string(),
                },
            );
        }
        docs.push(match doc_json(s, index, &id, &params, e.get("_source")) {
            Ok((_, v)) => v,
            Err(err) => {
                json!({"_index": index, "_id": id, "error": err.body(Some(index))["error"]})
            }
        });
    }
    reply(200, json!({ "docs": docs }))
}

pub(super) async fn mget(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let index = index.map(|Path(i)| i);
    blocking(move || run_mget(&s, index.as_deref(), &body, &p)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The literal writer and the serializer agree byte for byte (escaped ids and index names
    /// included), so the two answer paths of a bulk cannot drift apart.
    #[test]
    fn a_success_item_is_written_as_its_serializer_writes_it() {
        for (kind, index, id, result) in [
            ("index", "weblogs-2026.12.05", "x1", "created"),
            ("create", "a\"b\\c", "id\n\u{1}é", "updated"),
        ] {
            let r = OpResult {
                id: id.to_string(),
                status: 201,
                result,
                version: 3,
                seq_no: 18_446_744_073_709_551_615,
                error: None,
            };
            let mut got = Vec::new();
            super::write_success(&mut got, kind, index, &r);
            let want =
                serde_json::to_vec(&serde_json::json!({ kind: super::item_json(index, &r) }))
                    .unwrap();
            let mut derived = format!("{{{}:", serde_json::to_string(kind).unwrap()).into_bytes();
            derived.extend(serde_json::to_vec(&super::Success::of(index, &r)).unwrap());
            derived.push(b'}');
            assert_eq!(
                String::from_utf8(got.clone()).unwrap(),
                String::from_utf8(derived).unwrap()
            );
            let back: Value = serde_json::from_slice(&got).unwrap();
            assert_eq!(back, serde_json::from_slice::<Value>(&want).unwrap());
        }
    }
}
