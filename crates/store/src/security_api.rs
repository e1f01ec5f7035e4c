//! The REST side of security: every request is authenticated (when security is on) before it
//! reaches a handler, with Elasticsearch's 401 answer otherwise; and the `_security` endpoints
//! clients use: `_authenticate`, and creating, listing and invalidating API keys.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Query, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

use crate::api::{err, reply};
use crate::index::EsError;
use crate::security::{Security, Who, API_KEY_REALM, FILE_REALM};

const CHALLENGE: &str = r#"Basic realm="security" charset="UTF-8""#;

fn unauthorized(reason: String) -> Response {
    let header = json!({"WWW-Authenticate": [CHALLENGE, "ApiKey"]});
    let mut r = reply(
        401,
        json!({
            "error": {
                "root_cause": [{"type": "security_exception", "reason": reason, "header": header}],
                "type": "security_exception", "reason": reason, "header": header,
            },
            "status": 401
        }),
    );
    r.headers_mut()
        .insert("www-authenticate", HeaderValue::from_static(CHALLENGE));
    r.headers_mut()
        .append("www-authenticate", HeaderValue::from_static("ApiKey"));
    r
}

fn bad(kind: &'static str, reason: impl Into<String>) -> Response {
    err(EsError::bad_request(kind, reason), None)
}

fn internal(e: impl std::fmt::Display) -> Response {
    err(EsError::internal(e), None)
}

/// Authenticates the request (bcrypt runs off the async threads) and hands handlers `Who`.
pub async fn require(State(sec): State<Arc<Security>>, mut req: Request, next: Next) -> Response {
    // Security off (no users): nothing to check, no blocking task on every bulk.
    if !sec.enabled() {
        req.extensions_mut().insert(Who::Anonymous);
        return next.run(req).await;
    }
    let header = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = req.uri().path().to_string();
    let checked =
        tokio::task::spawn_blocking(move || sec.authenticate(header.as_deref(), &path)).await;
    match checked {
        Ok(Ok(who)) => {
            req.extensions_mut().insert(who);
            next.run(req).await
        }
        Ok(Err(reason)) => unauthorized(reason),
        Err(e) => internal(e),
    }
}

pub fn routes(sec: Arc<Security>) -> Router {
    Router::new()
        .route("/_security/_authenticate", get(authenticate))
        .route(
            "/_security/api_key",
            get(list_keys)
                .post(create_key)
                .put(create_key)
                .delete(invalidate_keys),
        )
        .with_state(sec)
}

fn user_json(who: &Who) -> Value {
    let realm = |n: &str, t: &str| json!({"name": n, "type": t});
    let base = |username: &str, realm_v: Value, kind: &str| {
        json!({
            "username": username, "roles": ["superuser"], "full_name": null, "email": null,
            "metadata": {}, "enabled": true, "authentication_realm": realm_v.clone(),
            "lookup_realm": realm_v, "authentication_type": kind,
        })
    };
    match who {
        Who::Anonymous => base("_anonymous", realm("__anonymous", "anonymous"), "anonymous"),
        Who::User(u) => base(u, realm(FILE_REALM, "file"), "realm"),
        Who::ApiKey { id, name, owner } => {
            let mut v = base(owner, realm(API_KEY_REALM, API_KEY_REALM), "api_key");
            v["lookup_realm"] = realm(FILE_REALM, "file");
            v["api_key"] = json!({"id": id, "name": name});
            v
        }
    }
}

async fn authenticate(Extension(who): Extension<Who>) -> Response {
    reply(200, user_json(&who))
}

/// The answer to a `_security` call while security is off (no user yet).
fn security_off(sec: &Security) -> Option<Response> {
    (!sec.enabled()).then(|| {
        bad(
            "illegal_state_exception",
            "security is not enabled: add a user with `rstore users add NAME` first",
        )
    })
}

/// Elasticsearch's time units for `expiration` (`1d`, `12h`, `30m`, `90s`, `500ms`).
fn parse_expiration(s: &str) -> Option<Duration> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: u64 = digits.parse().ok()?;
    let unit = &s[digits.len()..];
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(n.checked_mul(ms)?))
}

async fn create_key(
    State(sec): State<Arc<Security>>,
    Extension(who): Extension<Who>,
    body: Bytes,
) -> Response {
    if let Some(r) = security_off(&sec) {
        return r;
    }
    let owner = match &who {
        Who::User(u) => u.clone(),
        Who::ApiKey { owner, .. } => owner.clone(),
        Who::Anonymous => return unauthorized("an API key needs an authenticated user".into()),
    };
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return bad(
            "parsing_exception",
            "the request body must be a JSON object",
        );
    };
    let Some(name) = v.get("name").and_then(Value::as_str) else {
        return bad(
            "action_request_validation_exception",
            "Validation Failed: 1: api key name is required;",
        );
    };
    let expiration = match v.get("expiration") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_expiration(s) {
            Some(d) => Some(d),
            None => {
                return bad(
                    "illegal_argument_exception",
                    format!(
                        "failed to parse setting [expiration] with value [{s}] as a time value"
                    ),
                )
            }
        },
        Some(other) => {
            return bad(
                "illegal_argument_exception",
                format!("bad expiration {other}"),
            )
        }
    };
    let name = name.to_string();
    let made = tokio::task::spawn_blocking(move || sec.create_key(&owner, &name, expiration)).await;
    match made {
        Ok(Ok((key, secret))) => {
            let mut out = json!({
                "id": key.id, "name": key.name, "api_key": secret,
                "encoded": rstash_net::base64(format!("{}:{secret}", key.id).as_bytes()),
            });
            if let Some(e) = key.expiration {
                out["expiration"] = json!(e);
            }
            reply(200, out)
        }
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}

async fn list_keys(
    State(sec): State<Arc<Security>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = security_off(&sec) {
        return r;
    }
    let keys: Vec<Value> = sec
        .keys()
        .into_iter()
        .filter(|k| q.get("id").is_none_or(|id| *id == k.id))
        .filter(|k| q.get("name").is_none_or(|n| *n == k.name))
        .filter(|k| q.get("username").is_none_or(|u| *u == k.username))
        .map(|k| {
            json!({"id": k.id, "name": k.name, "creation": k.creation, "expiration": k.expiration,
                   "invalidated": k.invalidated, "username": k.username, "realm": FILE_REALM,
                   "metadata": {}})
        })
        .collect();
    if keys.is_empty() && (q.contains_key("id") || q.contains_key("name")) {
        return err(
            EsError::not_found(
                "resource_not_found_exception",
                "unable to find apikey with given search criteria",
            ),
            None,
        );
    }
    reply(200, json!({"api_keys": keys}))
}

async fn invalidate_keys(State(sec): State<Arc<Security>>, body: Bytes) -> Response {
    if let Some(r) = security_off(&sec) {
        return r;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut ids: Vec<String> = v
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    ids.extend(v.get("id").and_then(Value::as_str).map(str::to_string));
    let name = v.get("name").and_then(Value::as_str).map(str::to_string);
    let user = v
        .get("username")
        .and_then(Value::as_str)
        .map(str::to_string);
    if ids.is_empty() && name.is_none() && user.is_none() {
        return bad(
            "action_request_validation_exception",
            "Validation Failed: 1: One of [api key id(s), api key name, username, realm name] must be specified if [owner] flag is false;",
        );
    }
    let done = tokio::task::spawn_blocking(move || {
        sec.invalidate(|k| {
            (ids.is_empty() || ids.contains(&k.id))
                && name.as_ref().is_none_or(|n| *n == k.name)
                && user.as_ref().is_none_or(|u| *u == k.username)
        })
    })
    .await;
    match done {
        Ok(Ok((now, before))) => reply(
            200,
            json!({"invalidated_api_keys": now, "previously_invalidated_api_keys": before, "error_count": 0}),
        ),
        Ok(Err(e)) => internal(e),
        Err(e) => internal(e),
    }
}
