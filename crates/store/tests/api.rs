//! rstore over real HTTP on 127.0.0.1: the official Python `elasticsearch` 8.x client, durability
//! across kill -9, and Elasticsearch-shaped answers to bad requests.

use std::process::Command;

use serde_json::Value;

mod common;
use common::*;

#[test]
fn official_python_client() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let script = format!(
        r#"
from elasticsearch import Elasticsearch, helpers
es = Elasticsearch("http://127.0.0.1:{port}")
info = es.info()
assert info["version"]["number"].startswith("8."), info
docs = ({{"_index": "server1-2024.05.01", "_source": {{"@timestamp": "2024-05-01T12:%02d:%02d.000Z" % (i // 60 % 60, i % 60),
          "path": ["/balance", "/deposit/100", "/withdraw/5"][i % 3], "response": [200, 200, 500][i % 3], "bytes": i}}}}
        for i in range(10000))
ok, errors = helpers.bulk(es, docs)
assert ok == 10000 and not errors, (ok, errors)
es.indices.refresh(index="server1-*")
assert es.count(index="server1-*")["count"] == 10000
r = es.search(index="server1-*", query={{"term": {{"response": 500}}}}, size=3, sort=[{{"bytes": {{"order": "desc"}}}}])
assert r["hits"]["total"]["value"] == 3333, r["hits"]["total"]
assert r["hits"]["hits"][0]["_source"]["bytes"] == 9998, r["hits"]["hits"][0]
r = es.search(index="server1-2024.05.01", query={{"query_string": {{"query": "path.keyword:\"/balance\" AND bytes:[0 TO 99]"}}}})
assert r["hits"]["total"]["value"] == 34, r["hits"]["total"]
r = es.search(index="server1-*", size=0, aggs={{"paths": {{"terms": {{"field": "path.keyword"}}}}, "avg_bytes": {{"avg": {{"field": "bytes"}}}}}})
buckets = {{b["key"]: b["doc_count"] for b in r["aggregations"]["paths"]["buckets"]}}
assert buckets == {{"/balance": 3334, "/deposit/100": 3333, "/withdraw/5": 3333}}, buckets
assert abs(r["aggregations"]["avg_bytes"]["value"] - 4999.5) < 1e-6
r = es.search(index="server1-*", query={{"bool": {{"must": [{{"match": {{"path": "deposit"}}}}], "must_not": [{{"range": {{"bytes": {{"lt": 5000}}}}}}]}}}})
assert r["hits"]["total"]["value"] == 1666, r["hits"]["total"]
es.index(index="single", id="1", document={{"a": 1}}, refresh=True)
assert es.get(index="single", id="1")["_source"] == {{"a": 1}}
# Every document, twice: the client's scroll helper, and search_after pages.
seen = [h["_source"]["bytes"] for h in helpers.scan(es, index="server1-*", query={{"query": {{"match_all": {{}}}}}}, size=700)]
assert sorted(seen) == list(range(10000)), len(seen)
after, pages, got = None, 0, []
while True:
    kw = {{"search_after": after}} if after else {{}}
    r = es.search(index="server1-*", size=1000, sort=[{{"bytes": "asc"}}], **kw)
    hits = r["hits"]["hits"]
    if not hits:
        break
    got += [h["_source"]["bytes"] for h in hits]
    after, pages = hits[-1]["sort"], pages + 1
assert got == list(range(10000)) and pages == 10, (len(got), pages)
# Explicit mappings and templates, as Filebeat and Logstash install them.
es.indices.put_index_template(name="logs", index_patterns=["logs-*"], template={{"mappings": {{"properties": {{"status": {{"type": "integer"}}, "ip": {{"type": "ip"}}}}}}}})
es.index(index="logs-1", document={{"status": "201", "ip": "10.0.0.1"}}, refresh=True)
assert es.indices.get_mapping(index="logs-1")["logs-1"]["mappings"]["properties"]["status"]["type"] == "integer"
try:
    es.index(index="logs-1", document={{"status": "many"}})
    raise AssertionError("a bad value was accepted")
except Exception as e:
    assert "mapper_parsing_exception" in str(e), e
assert es.search(index="logs-*", q="status:201")["hits"]["total"]["value"] == 1
for block, n in [("10.0.0.0/8", 1), ("10.0.0.0/31", 1), ("10.0.1.0/24", 0), ("10.0.0.1", 1)]:
    got = es.search(index="logs-*", query={{"term": {{"ip": block}}}})["hits"]["total"]["value"]
    assert got == n, (block, got)
print("python client ok")
"#
    );
    let out = Command::new(peers_python())
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("python client ok"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Optimistic concurrency as Elasticsearch's: each write gets the index's next sequence number,
/// `if_seq_no` + `if_primary_term` refuse a stale write with a 409, and the numbers hold across
/// kill -9 (committed, and replayed from the log).
#[test]
fn sequence_numbers_guard_writes_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = Rstore::start(dir.path(), port);
    let put = |port: u16, path: &str| {
        let (st, b) = http(port, "PUT", path, br#"{"a": 1}"#);
        (st, json(&b))
    };
    for (i, id) in ["1", "2", "3"].iter().enumerate() {
        let (st, b) = put(port, &format!("/cas/_doc/{id}"));
        assert_eq!((st, b["_seq_no"].as_u64()), (201, Some(i as u64)), "{b}");
    }
    let _ = http(port, "POST", "/cas/_refresh", b"");
    let (st, b) = put(port, "/cas/_doc/1?if_seq_no=0&if_primary_term=1");
    assert_eq!((st, b["_seq_no"].as_u64()), (200, Some(3)), "{b}");
    let (st, b) = put(port, "/cas/_doc/1?if_seq_no=0&if_primary_term=1");
    assert_eq!(st, 409, "a stale write: {b}");
    assert_eq!(b["error"]["type"], "version_conflict_engine_exception");
    let _ = s.child.kill();
    let _ = s.child.wait();
    s = Rstore::start(dir.path(), port);
    let (_, g) = http(port, "GET", "/cas/_doc/1", b"");
    assert_eq!(json(&g)["_seq_no"], 3, "{g}");
    let (st, b) = put(port, "/cas/_doc/4");
    assert_eq!((st, b["_seq_no"].as_u64()), (201, Some(4)), "{b}");
    let (st, _) = put(port, "/cas/_doc/1?if_seq_no=3&if_primary_term=1");
    assert_eq!(st, 200);
    drop(s);
}

#[test]
fn acknowledged_bulks_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = Rstore::start(dir.path(), port);
    let mut body = String::new();
    for i in 0..2000 {
        body.push_str(&format!(
            "{{\"index\":{{\"_index\":\"logs\",\"_id\":\"{i}\"}}}}\n{{\"n\":{i}}}\n"
        ));
    }
    let (status, resp) = http(port, "POST", "/_bulk", body.as_bytes());
    assert_eq!(status, 200);
    assert_eq!(json(&resp)["errors"], false);
    // No refresh: the documents are only in the write-ahead log when the process dies.
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    let s = Rstore::start(dir.path(), port);
    let (_, c) = http(s.port, "GET", "/logs/_count", b"");
    assert_eq!(json(&c)["count"], 2000);
    let (_, d) = http(s.port, "GET", "/logs/_doc/1999", b"");
    assert_eq!(json(&d)["_source"]["n"], 1999);
}

#[test]
fn bad_requests_get_elasticsearch_errors() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let (st, b) = http(port, "POST", "/_bulk", b"this is not ndjson\n");
    assert_eq!(st, 400);
    assert_eq!(json(&b)["error"]["type"], "illegal_argument_exception");
    let (st, b) = http(
        port,
        "POST",
        "/idx/_bulk",
        b"{\"index\":{}}\n[1,2]\n{\"index\":{}}\n{\"ok\":true}\n",
    );
    assert_eq!(st, 200);
    let b = json(&b);
    assert_eq!(b["errors"], true);
    assert_eq!(b["items"][0]["index"]["status"], 400);
    assert_eq!(b["items"][1]["index"]["status"], 201);
    let (st, b) = http(
        port,
        "POST",
        "/idx/_search",
        b"{\"query\":{\"query_string\":{\"query\":\"a AND (\"}}}",
    );
    assert_eq!(st, 400, "{b}");
    let (st, b) = http(port, "POST", "/idx/_search", b"{\"query\":{\"nosuch\":{}}}");
    assert_eq!(
        (st, json(&b)["error"]["type"].clone()),
        (400, Value::from("parsing_exception"))
    );
    let (st, b) = http(port, "GET", "/_nothing/here", b"");
    assert_eq!(st, 400);
    assert!(json(&b)["error"]
        .as_str()
        .unwrap()
        .contains("no handler found"));
    let (st, _) = http(port, "GET", "/missing/_search", b"");
    assert_eq!(st, 404);
    let (st, b) = http(port, "PUT", "/Bad", b"");
    assert_eq!(
        (st, json(&b)["error"]["type"].clone()),
        (400, Value::from("invalid_index_name_exception"))
    );
    let big = vec![b' '; 200 << 20];
    let (st, _) = http(port, "POST", "/_bulk", &big);
    assert_eq!(st, 413);
    let (st, _) = http(port, "GET", "/", b"");
    assert_eq!(st, 200, "still up");
}

/// Request bodies are anyone's: generated JSON made of the API's own words (queries, aggs,
/// bulk lines), truncated or deeply nested, gets an answer in Elasticsearch's shape (a 5xx
/// never), and the server keeps answering.
#[test]
fn hostile_bodies_get_answers_and_the_server_stays_up() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let (st, _) = http(
        port,
        "POST",
        "/logs/_bulk?refresh=true",
        b"{\"index\":{}}\n{\"message\":\"GET /a\",\"response\":200,\"@timestamp\":\"2024-05-01T00:00:00Z\"}\n",
    );
    assert_eq!(st, 200);
    let words = prop_oneof![
        Just("query"),
        Just("bool"),
        Just("must"),
        Just("filter"),
        Just("should"),
        Just("must_not"),
        Just("match"),
        Just("term"),
        Just("terms"),
        Just("range"),
        Just("gte"),
        Just("lt"),
        Just("query_string"),
        Just("exists"),
        Just("field"),
        Just("aggs"),
        Just("date_histogram"),
        Just("interval"),
        Just("size"),
        Just("from"),
        Just("sort"),
        Just("order"),
        Just("message"),
        Just("response"),
        Just("@timestamp"),
        Just("index"),
        Just("_id"),
        Just("match_all"),
        Just("ids"),
        Just("values"),
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::from),
        words.clone().prop_map(Value::from),
    ];
    let body = leaf.prop_recursive(6, 48, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((words.clone(), inner), 0..4).prop_map(|kv| Value::Object(
                kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    });
    let targets = [
        "/logs/_search",
        "/_search",
        "/logs/_count",
        "/logs/_doc",
        "/logs/_bulk",
        "/t1",
    ];
    let mut runner = TestRunner::new(Config::with_cases(150));
    runner
        .run(&(body, 0..targets.len(), 0usize..3), |(v, t, cut)| {
            let mut text = v.to_string();
            if targets[t].ends_with("_bulk") {
                text = format!("{{\"index\":{{}}}}\n{text}\n{text}\n");
            }
            if cut == 1 {
                text.truncate(text.len() / 2);
            }
            let method = if targets[t] == "/t1" { "PUT" } else { "POST" };
            let (st, b) = http(port, method, targets[t], text.as_bytes());
            prop_assert!(
                (200..500).contains(&st),
                "{method} {} {text}\n→ {st} {b}",
                targets[t]
            );
            let answer: Value = serde_json::from_str(&b)
                .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {b}")))?;
            if st >= 400 {
                prop_assert!(
                    answer["error"]["type"].is_string() || answer["error"].is_string(),
                    "{b}"
                );
            }
            let _ = http(port, "DELETE", "/t1", b"");
            Ok(())
        })
        .unwrap();
    // A huge page is refused as Elasticsearch refuses it (past an int, or past
    // index.max_result_window), never allocated (it once aborted rstore).
    for body in [
        r#"{"size": 9000000000000000000}"#,
        r#"{"size": 18446744073709551615, "from": 18446744073709551615}"#,
        r#"{"size": 4000000000, "from": 1}"#,
        r#"{"size": 10001}"#,
    ] {
        let (st, b) = http(port, "POST", "/logs/_search", body.as_bytes());
        assert_eq!(st, 400, "{body}: {b}");
        let kind = json(&b)["error"]["type"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            kind == "input_coercion_exception" || kind == "illegal_argument_exception",
            "{body}: {b}"
        );
    }
    let (st, b) = http(port, "POST", "/logs/_search", br#"{"size": 10000}"#);
    assert_eq!(st, 200, "the largest window is answered: {b}");
    for n in [1_000, 100_000] {
        let deep = format!(
            "{{\"query\":{}{}}}",
            "{\"bool\":{\"must\":".repeat(n),
            "}}".repeat(n)
        );
        let (st, b) = http(port, "POST", "/logs/_search", deep.as_bytes());
        assert_eq!(st, 400, "{n} levels: {b}");
        let deep = format!("{{\"index\":{{}}}}\n{}1{}\n", "[".repeat(n), "]".repeat(n));
        let (st, _) = http(port, "POST", "/logs/_bulk", deep.as_bytes());
        assert!(st == 200 || st == 400, "{n} levels in a bulk: {st}");
    }
    let (st, _) = http(port, "GET", "/", b"");
    assert_eq!(st, 200, "still up");
}

/// Dynamic mapping inside one bulk: a field the first document introduces types the ones after
/// it; a strict mapping refuses new fields (also nested ones) and keeps the rest of the bulk.
/// Documents of an index without a writer wait as their sources and are built when a writer
/// takes them, yet indexed as the mapping stood when they were accepted (as Elasticsearch
/// indexed them then): a field mapped in between is not indexed for them, even where it fits.
#[test]
fn queued_documents_are_indexed_with_the_mapping_they_were_accepted_with() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let put = |path: &str, body: &str| {
        let (status, resp) = http(port, "PUT", path, body.as_bytes());
        assert!(status == 200 || status == 201, "{path}: {status} {resp}");
    };
    put(
        "/late",
        r#"{"mappings":{"dynamic":false,"properties":{"k":{"type":"keyword"}}}}"#,
    );
    put("/late/_doc/1", r#"{"k":"one","a":"not a number"}"#);
    put("/late/_doc/2", r#"{"k":"two","a":"7"}"#);
    put("/late/_mapping", r#"{"properties":{"a":{"type":"long"}}}"#);
    put("/late/_doc/3", r#"{"k":"three","a":8}"#);
    let (status, _) = http(port, "POST", "/late/_refresh", b"");
    assert_eq!(status, 200);
    let (_, c) = http(port, "GET", "/late/_count", b"");
    assert_eq!(json(&c)["count"], 3);
    let (status, d) = http(port, "GET", "/late/_doc/1", b"");
    assert_eq!(status, 200);
    assert_eq!(json(&d)["_source"]["a"], "not a number");
    let (_, c) = http(port, "GET", "/late/_count?q=k:one%20OR%20k:two", b"");
    assert_eq!(json(&c)["count"], 2);
    let (_, c) = http(port, "GET", "/late/_count?q=a:%5B7%20TO%208%5D", b"");
    assert_eq!(json(&c)["count"], 1, "only doc 3 came after `a` was mapped");
}

#[test]
fn dynamic_mapping_within_one_bulk() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    // Three index actions into `index`: each item's status, and the second one's error type.
    let bulk = |index: &str, docs: [&str; 3]| {
        let body: String = docs
            .iter()
            .map(|d| format!("{{\"index\":{{\"_index\":\"{index}\"}}}}\n{d}\n"))
            .collect();
        let (status, resp) = http(port, "POST", "/_bulk?refresh=true", body.as_bytes());
        assert_eq!(status, 200);
        let items = json(&resp)["items"].clone();
        let statuses: Vec<_> = (0..3)
            .map(|i| items[i]["index"]["status"].clone())
            .collect();
        (statuses, items[1]["index"]["error"]["type"].clone())
    };
    let (statuses, error) = bulk(
        "dyn",
        [
            r#"{"n":1,"o":{"t":"2024-05-01T00:00:00Z"}}"#,
            r#"{"n":"not a number"}"#,
            r#"{"n":"7","o":{"t":"2024-05-02"},"m":[null,true]}"#,
        ],
    );
    assert_eq!(statuses, [201, 400, 201]);
    assert_eq!(error, "mapper_parsing_exception");
    let (_, m) = http(port, "GET", "/dyn/_mapping", b"");
    let props = &json(&m)["dyn"]["mappings"]["properties"];
    assert_eq!(props["n"]["type"], "long");
    assert_eq!(props["o"]["properties"]["t"]["type"], "date");
    assert_eq!(props["m"]["type"], "boolean");
    let (_, c) = http(port, "GET", "/dyn/_count?q=n:7", b"");
    assert_eq!(json(&c)["count"], 1);

    let (status, _) = http(
        port,
        "PUT",
        "/strict",
        br#"{"mappings":{"dynamic":"strict","properties":{"a":{"type":"keyword"},"o":{"type":"object"}}}}"#,
    );
    assert_eq!(status, 200);
    let (statuses, error) = bulk(
        "strict",
        [r#"{"a":"x"}"#, r#"{"a":"y","o":{"b":1}}"#, r#"{"a":"z"}"#],
    );
    assert_eq!(statuses, [201, 400, 201]);
    assert_eq!(error, "strict_dynamic_mapping_exception");
}

/// `index.mapping.total_fields.limit` (1000 by default; objects and multi-fields count): a
/// document whose new fields would pass it is refused with Elasticsearch's error and leaves the
/// mapping as it was, an explicit mapping too; raising the setting lets it in.
#[test]
fn total_fields_limit_bounds_the_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let (status, resp) = http(
        port,
        "PUT",
        "/small",
        br#"{"settings":{"index.mapping.total_fields.limit":5}}"#,
    );
    assert_eq!(status, 200, "{resp}");
    // `a` (long), `b` (text and b.keyword), `o` (object) and `o.x`: 5.
    let (status, resp) = http(
        port,
        "PUT",
        "/small/_doc/1",
        br#"{"a":1,"b":"x","o":{"x":true}}"#,
    );
    assert_eq!(status, 201, "{resp}");
    let (status, resp) = http(port, "PUT", "/small/_doc/2", br#"{"a":2,"c":3}"#);
    assert_eq!(status, 400, "{resp}");
    assert_eq!(json(&resp)["error"]["type"], "illegal_argument_exception");
    assert_eq!(
        json(&resp)["error"]["reason"],
        "Limit of total fields [5] has been exceeded while adding new fields [1]"
    );
    let (_, m) = http(port, "GET", "/small/_mapping", b"");
    assert!(
        json(&m)["small"]["mappings"]["properties"]
            .get("c")
            .is_none(),
        "{m}"
    );
    let (status, resp) = http(
        port,
        "PUT",
        "/small/_mapping",
        br#"{"properties":{"d":{"type":"keyword"}}}"#,
    );
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        json(&resp)["error"]["reason"],
        "Limit of total fields [5] has been exceeded"
    );
    // In a bulk, only the offending item fails.
    let body = "{\"index\":{\"_index\":\"small\",\"_id\":\"3\"}}\n{\"a\":3}\n{\"index\":{\"_index\":\"small\",\"_id\":\"4\"}}\n{\"e\":1}\n";
    let (_, resp) = http(port, "POST", "/_bulk", body.as_bytes());
    let items = json(&resp)["items"].clone();
    assert_eq!(items[0]["index"]["status"], 201, "{resp}");
    assert_eq!(items[1]["index"]["status"], 400, "{resp}");
    assert_eq!(
        items[1]["index"]["error"]["type"],
        "illegal_argument_exception"
    );
    let (status, _) = http(
        port,
        "PUT",
        "/small/_settings",
        br#"{"index":{"mapping":{"total_fields":{"limit":"10"}}}}"#,
    );
    assert_eq!(status, 200);
    let (status, resp) = http(port, "PUT", "/small/_doc/2", br#"{"a":2,"c":3}"#);
    assert_eq!(status, 201, "{resp}");
    // The default: 1,000 fields.
    let wide: Vec<String> = (0..1001).map(|i| format!("\"f{i}\":1")).collect();
    let (status, resp) = http(
        port,
        "PUT",
        "/wide/_doc/1",
        format!("{{{}}}", wide.join(",")).as_bytes(),
    );
    assert_eq!(status, 400, "{resp}");
    assert_eq!(
        json(&resp)["error"]["reason"],
        "Limit of total fields [1000] has been exceeded while adding new fields [1001]"
    );
}
