//! Discover, the page a log user opens Kibana for: served at `/app/discover` (and `/` to a
//! browser), its HTML, CSS and JavaScript embedded in the binary. It uses only the public API.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const HTML: &str = include_str!("../assets/discover.html");
const JS: &str = include_str!("../assets/discover.js");
const CSS: &str = include_str!("../assets/discover.css");

fn asset(body: &'static str, kind: &'static str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/app/discover",
            get(|| async { asset(HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app/discover/",
            get(|| async { asset(HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app/discover/discover.js",
            get(|| async { asset(JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app/discover/discover.css",
            get(|| async { asset(CSS, "text/css; charset=utf-8") }),
        )
        // Browsers ask for it on every page; no icon, and no 404 in their console.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// A browser asking for `/` (it accepts HTML; Elasticsearch clients ask for JSON) goes to Discover.
pub fn wants_page(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}
