//! The OpenSearch REST API YAML suites (`../shared/conformance/es-rest/`, the tests every
//! Elasticsearch-compatible server and client is held to) against a real rstore, through the
//! project's runner (`tests/es_rest/runner.py`). The bar: 90% of the tests that run pass; what
//! is skipped says why (a version gate of the suites, a runner feature it lacks).

mod common;

use std::path::Path;
use std::process::Command;

use common::{free_port, peers_python, Rstore};

#[test]
fn opensearch_rest_suites() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let suites = root.join("../../../shared/conformance/es-rest");
    if !suites.join("suites").is_dir() {
        common::skip(
            "es_rest::opensearch_rest_suites",
            &format!("{} is not here", suites.display()),
        );
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let _rstore = Rstore::start(data.path(), port);
    let out = Command::new(peers_python())
        .arg(root.join("tests/es_rest/runner.py"))
        .arg(format!("http://127.0.0.1:{port}"))
        .arg(suites.join("suites"))
        .arg(suites.join("api"))
        .args(["--min-rate", "0.9"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The summary and every failure, in the test's output.
    println!("{text}");
    assert!(
        out.status.success(),
        "below the bar:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("es-rest: "), "no summary line:\n{text}");
}
