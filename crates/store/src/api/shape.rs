//! `?filter_path=` and `?pretty`, on every JSON answer: Elasticsearch's response filtering
//! (`a.b`, `*` within a name, `**` across levels, a leading `-` to exclude) and indentation.

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use crate::store::wildcard;

/// The answer kept by the inclusion patterns (each split on dots); None when nothing is.
fn include(v: &Value, pats: &[Vec<&str>]) -> Option<Value> {
    if pats.iter().any(Vec::is_empty) {
        return Some(v.clone());
    }
    match v {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, x) in o {
                let mut sub: Vec<Vec<&str>> = Vec::new();
                for p in pats {
                    if p[0] == "**" {
                        sub.push(p.clone());
                        if p.len() > 1 && wildcard(p[1], k) {
                            sub.push(p[2..].to_vec());
                        }
                    } else if wildcard(p[0], k) {
                        sub.push(p[1..].to_vec());
                    }
                }
                if !sub.is_empty() {
                    if let Some(kept) = include(x, &sub) {
                        out.insert(k.clone(), kept);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(a) => {
            let kept: Vec<Value> = a.iter().filter_map(|x| include(x, pats)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// The answer less what the exclusion patterns name.
fn exclude(v: &mut Value, pats: &[Vec<&str>]) {
    match v {
        Value::Object(o) => {
            let keys: Vec<String> = o.keys().cloned().collect();
            for k in keys {
                let mut sub: Vec<Vec<&str>> = Vec::new();
                let mut drop = false;
                for p in pats {
                    if p[0] == "**" {
                        sub.push(p.clone());
                        if p.len() == 2 && wildcard(p[1], &k) {
                            drop = true;
                        }
                    } else if wildcard(p[0], &k) {
                        if p.len() == 1 {
                            drop = true;
                        } else {
                            sub.push(p[1..].to_vec());
                        }
                    }
                }
                if drop {
                    o.remove(&k);
                } else if let Some(x) = o.get_mut(&k) {
                    if !sub.is_empty() {
                        exclude(x, &sub);
                    }
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| exclude(x, pats)),
        _ => {}
    }
}

pub fn filter(v: &Value, filter_path: &str) -> Value {
    let (neg, pos): (Vec<&str>, Vec<&str>) = filter_path
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .partition(|p| p.starts_with('-'));
    let split = |ps: &[&'_ str]| -> Vec<Vec<String>> {
        ps.iter()
            .map(|p| {
                p.trim_start_matches('-')
                    .split('.')
                    .map(str::to_string)
                    .collect()
            })
            .collect()
    };
    let mut out = if pos.is_empty() {
        v.clone()
    } else {
        let owned = split(&pos);
        let pats: Vec<Vec<&str>> = owned
            .iter()
            .map(|p| p.iter().map(String::as_str).collect())
            .collect();
        include(v, &pats).unwrap_or_else(|| Value::Object(Default::default()))
    };
    if !neg.is_empty() {
        let owned = split(&neg);
        let pats: Vec<Vec<&str>> = owned
            .iter()
            .map(|p| p.iter().map(String::as_str).collect())
            .collect();
        exclude(&mut out, &pats);
    }
    out
}

fn param<'a>(query: &'a str, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == name).then(|| urlencoding_decode(v))
    })
}

fn urlencoding_decode(v: &str) -> std::borrow::Cow<'_, str> {
    if !v.contains(['%', '+']) {
        return std::borrow::Cow::Borrowed(v);
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
                {
                    Ok(x) => {
                        out.push(x);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    std::borrow::Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The middleware: reshapes a JSON answer when the request asked for it.
pub async fn reshape(req: Request, next: Next) -> Response {
    let query = req.uri().query().unwrap_or("").to_string();
    let pretty = param(&query, "pretty").is_some_and(|v| v != "false");
    let fp = param(&query, "filter_path").map(|c| c.into_owned());
    let resp = next.run(req).await;
    if !pretty && fp.is_none() {
        return resp;
    }
    let is_json = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    if !is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, super::MAX_BODY * 4).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if let Some(fp) = fp {
        v = filter(&v, &fp);
    }
    let text = if pretty {
        serde_json::to_string_pretty(&v).unwrap_or_default() + "\n"
    } else {
        v.to_string()
    };
    parts.headers.remove("content-length");
    parts.headers.insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    Response::from_parts(parts, Body::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_path_as_elasticsearch() {
        let v = json!({"took": 1, "hits": {"total": {"value": 2}, "hits": [{"_id": "a", "_source": {"x": 1, "y": 2}}, {"_id": "b", "_source": {"x": 3}}]}});
        assert_eq!(
            filter(&v, "hits.hits._id"),
            json!({"hits": {"hits": [{"_id": "a"}, {"_id": "b"}]}})
        );
        assert_eq!(
            filter(&v, "took,hits.total.value"),
            json!({"took": 1, "hits": {"total": {"value": 2}}})
        );
        assert_eq!(
            filter(&v, "**.x"),
            json!({"hits": {"hits": [{"_source": {"x": 1}}, {"_source": {"x": 3}}]}})
        );
        assert_eq!(filter(&v, "-hits"), json!({"took": 1}));
        assert_eq!(
            filter(&v, "hits.hits._s*.y"),
            json!({"hits": {"hits": [{"_source": {"y": 2}}]}})
        );
    }
}
