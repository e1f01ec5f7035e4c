//! Serving a monitoring router on the first free port of a range, on a thread of its own so that
//! a busy pipeline never delays the answer (and the answer never delays the pipeline).

use std::net::{SocketAddr, TcpListener};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::Value;

/// Binds `host` on the first port of `ports` that is free, like Logstash's `api.http.port`
/// range (9600-9700), and serves `router` until the process exits.
pub fn spawn(
    name: &str,
    host: &str,
    ports: std::ops::RangeInclusive<u16>,
    router: Router,
) -> std::io::Result<SocketAddr> {
    let mut last = None;
    let mut bound = None;
    for port in ports {
        match TcpListener::bind((host, port)) {
            Ok(l) => {
                bound = Some(l);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let listener = match bound {
        Some(l) => l,
        None => {
            return Err(last.unwrap_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty port range")
            }))
        }
    };
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            rt.block_on(async move {
                if let Ok(l) = tokio::net::TcpListener::from_std(listener) {
                    let _ = axum::serve(l, router).await;
                }
            })
        })?;
    Ok(addr)
}

/// Parses `9600`, `9600-9700` into a port range.
pub fn port_range(s: &str) -> Option<std::ops::RangeInclusive<u16>> {
    let s = s.trim();
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
            (a <= b).then_some(a..=b)
        }
        None => s.parse().ok().map(|p| p..=p),
    }
}

/// A JSON answer, indented when the query has `pretty` (as both originals do).
pub fn json(status: StatusCode, body: &Value, pretty: bool) -> Response {
    let text = if pretty {
        serde_json::to_string_pretty(body).unwrap_or_default()
    } else {
        body.to_string()
    };
    let mut r = (status, text).into_response();
    r.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(port_range("9600-9700"), Some(9600..=9700));
        assert_eq!(port_range(" 5066 "), Some(5066..=5066));
        assert_eq!(port_range("9700-9600"), None);
        assert_eq!(port_range("x"), None);
    }

    #[test]
    fn a_taken_port_moves_to_the_next_one() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let p = taken.local_addr().unwrap().port();
        if p == u16::MAX {
            return;
        }
        let router = Router::new().route("/", axum::routing::get(|| async { "hi" }));
        match spawn("test-api", "127.0.0.1", p..=p + 1, router) {
            Ok(addr) => assert_eq!(addr.port(), p + 1),
            // The next port may belong to someone else on a busy machine.
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse),
        }
    }
}
