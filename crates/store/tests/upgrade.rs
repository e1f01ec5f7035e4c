//! A data folder written by rstore before its term dictionaries became sorted string tables
//! (`tests/data/pre-sstable`: made by that build, two daily indices, an alias, an explicit
//! mapping, a deleted document, and a last document only in the write-ahead log, killed -9)
//! opens in the current build with every document, searchable by its terms.

mod common;

use common::{free_port, http, json, Rstore};

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

fn hits(port: u16, path: &str) -> Vec<String> {
    let (status, body) = http(port, "GET", path, b"");
    assert_eq!(status, 200, "{path}: {body}");
    let mut ids: Vec<String> = json(&body)["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn an_index_of_the_old_term_format_is_rebuilt_with_every_document() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pre-sstable"),
        &data,
    );
    let port = free_port();
    let rs = Rstore::start(&data, port);
    let auto = "ImFAAAAAAAwaVkrpptZ7";
    assert_eq!(
        hits(port, "/weblogs-*/_search?size=10"),
        ["ImFAAAAAAAwaVkrpptZ7", "a1", "a2", "late"]
    );
    let (_, count) = http(port, "GET", "/_cat/count/weblogs-*?format=json", b"");
    assert_eq!(json(&count)[0]["count"], "4", "{count}");
    let (_, table) = http(port, "GET", "/_cat/count/weblogs-2026.11.30?v", b"");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows[0], ["epoch", "timestamp", "count"], "{table}");
    assert_eq!(rows[1][2], "2", "{table}");
    // Terms of every kind: analysed text, keyword, a number, through the alias.
    assert_eq!(hits(port, "/weblogs/_search?q=message:login"), ["a2"]);
    assert_eq!(
        hits(port, "/weblogs-*/_search?q=verb:GET"),
        [auto, "a1", "late"]
    );
    assert_eq!(
        hits(port, "/weblogs-*/_search?q=response:200"),
        [auto, "a1", "late"]
    );
    let (_, doc) = http(port, "GET", "/weblogs-2026.11.30/_doc/a2", b"");
    assert_eq!(json(&doc)["_source"]["clientip"], "10.0.0.2");
    let (_, gone) = http(port, "GET", "/weblogs-2026.11.30/_doc/a3", b"");
    assert_eq!(json(&gone)["found"], false);
    // Versions and sequence numbers go on from the old ones (the build that wrote the folder
    // answers this same write with version 2, sequence number 2).
    let (_, put) = http(
        port,
        "PUT",
        "/weblogs-2026.11.30/_doc/a1?refresh=true",
        br#"{"message":"again","verb":"PUT","response":201}"#,
    );
    assert_eq!(json(&put)["_version"], 2, "{put}");
    assert_eq!(json(&put)["_seq_no"], 2, "{put}");
    let log = std::fs::read_to_string(data.join("rstore.stderr")).unwrap();
    assert_eq!(log.matches("index rebuilt").count(), 2, "{log}");
    drop(rs);
    // Rebuilt once: a restart opens the indices as they are.
    let rs = Rstore::start(&data, port);
    assert_eq!(hits(port, "/weblogs-*/_search?q=verb:PUT"), ["a1"]);
    let log = std::fs::read_to_string(data.join("rstore.stderr")).unwrap();
    assert!(!log.contains("index rebuilt"), "{log}");
    drop(rs);
}
