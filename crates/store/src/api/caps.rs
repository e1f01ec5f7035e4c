//! `_field_caps`: each field's types across the indices, searchable and aggregatable as the
//! store indexes them; `index_filter` drops the indices with no match.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::{answer, blocking, Params};
use crate::index::EsError;
use crate::store::{wildcard, Store};

fn run(s: &Store, expr: &str, body: &[u8], p: &HashMap<String, String>) -> Result<Value, EsError> {
    let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            EsError::bad_request(
                "parsing_exception",
                format!("request body is not valid JSON: {e}"),
            )
        })?
    };
    let patterns: Vec<String> = match (p.get("fields"), body.get("fields")) {
        (Some(f), _) => f.split(',').map(str::to_string).collect(),
        (None, Some(Value::Array(a))) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        (None, Some(Value::String(f))) => f.split(',').map(str::to_string).collect(),
        _ => {
            return Err(EsError::bad_request(
                "action_request_validation_exception",
                "Validation Failed: 1: specified fields can't be null or empty;",
            ))
        }
    };
    let mut indices = s.resolve_opts(expr, p)?;
    if let Some(filter) = body.get("index_filter") {
        let mut kept = Vec::new();
        for i in indices {
            i.before_read()?;
            if i.count(filter)? > 0 {
                kept.push(i);
            }
        }
        indices = kept;
    }
    // field → type → indices
    let mut fields: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for i in &indices {
        i.with_mapping(|m| {
            for (path, f) in m.fields() {
                let mut add = |name: String, ty: String| {
                    if patterns.iter().any(|p| wildcard(p, &name)) {
                        fields
                            .entry(name)
                            .or_default()
                            .entry(ty)
                            .or_default()
                            .push(i.name.clone());
                    }
                };
                add(path.clone(), f.ty.clone());
                if f.ty == "text" && f.ignore_above.is_some() {
                    add(format!("{path}.keyword"), "keyword".into());
                }
            }
        });
    }
    let out: Map<String, Value> = fields
        .into_iter()
        .map(|(name, types)| {
            let several = types.len() > 1;
            let caps: Map<String, Value> = types
                .into_iter()
                .map(|(ty, idx)| {
                    let agg = !matches!(crate::mapping::family(&ty), "text" | "object" | "other");
                    let mut c =
                        json!({"type": ty, "searchable": ty != "object", "aggregatable": agg});
                    if several {
                        c["indices"] = json!(idx);
                    }
                    (ty, c)
                })
                .collect();
            (name, Value::Object(caps))
        })
        .collect();
    let names: Vec<&str> = indices.iter().map(|i| i.name.as_str()).collect();
    Ok(json!({"indices": names, "fields": out}))
}

pub(super) async fn field_caps(
    State(s): State<Arc<Store>>,
    index: Option<Path<String>>,
    Query(p): Params,
    body: Bytes,
) -> Response {
    let index = index.map_or_else(|| "_all".to_string(), |Path(i)| i);
    blocking(move || answer(run(&s, &index, &body, &p), Some(&index))).await
}
