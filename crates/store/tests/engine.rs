//! rstore's storage engine, seen from outside: memory bounded by the indexing budget whatever the
//! number of indices, refresh settings, a torn write-ahead log record, searches during indexing,
//! and a full disk.

mod common;

use std::time::Duration;

use common::*;

fn bulk(port: u16, path: &str, body: &str) -> serde_json::Value {
    let (status, resp) = http(port, "POST", path, body.as_bytes());
    assert_eq!(status, 200, "{resp}");
    json(&resp)
}

fn count(port: u16, index: &str) -> u64 {
    let (status, resp) = http(port, "GET", &format!("/{index}/_count"), b"");
    assert_eq!(status, 200, "{resp}");
    json(&resp)["count"].as_u64().unwrap()
}

/// An Apache-like log line, as the pipeline's events carry it, about 400 bytes.
fn event(i: usize) -> String {
    format!(
        "{{\"message\":\"10.0.{a}.{b} - - [01/May/2024:12:{m:02}:{s:02} +0000] \\\"GET /app/page{i}.html HTTP/1.1\\\" 200 {i} \\\"-\\\" \\\"Mozilla/5.0 (X11; Linux x86_64)\\\"\",\"clientip\":\"10.0.{a}.{b}\",\"verb\":\"GET\",\"request\":\"/app/page{i}.html\",\"response\":200,\"bytes\":{i},\"@timestamp\":\"2024-05-01T12:{m:02}:{s:02}Z\",\"n\":{i}}}",
        a = i % 200,
        b = i % 250,
        m = i / 60 % 60,
        s = i % 60
    )
}

#[test]
fn four_hundred_indices_stay_within_the_memory_budget() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = Rstore::start_with(
        dir.path(),
        port,
        &["--indices.memory.index_buffer_size", "64mb"],
    );
    // 60,000 documents over 400 daily indices, each bulk touching most of them (a backfill).
    let (indices, per_bulk, bulks) = (400, 1000, 60);
    for b in 0..bulks {
        let mut body = String::new();
        for j in 0..per_bulk {
            let i = b * per_bulk + j;
            body.push_str(&format!(
                "{{\"index\":{{\"_index\":\"weblogs-{:03}\"}}}}\n{}\n",
                (i * 7919) % indices,
                event(i)
            ));
        }
        assert_eq!(bulk(port, "/_bulk", &body)["errors"], false);
    }
    assert_eq!(count(port, "weblogs-*"), (per_bulk * bulks) as u64);
    let (_, cat) = http(port, "GET", "/_cat/indices/weblogs-*?format=json", b"");
    assert_eq!(json(&cat).as_array().unwrap().len(), indices);
    // The budget plus a fixed margin for the program, readers and allocator, not per index.
    let peak = peak_rss(s.child.id());
    let limit = (64 + 192) << 20;
    eprintln!("rstore peak RSS for 400 indices: {} MiB", peak >> 20);
    assert!(
        peak < limit,
        "rstore peaked at {} MiB for 400 indices; the budget is 64 MiB (+192 MiB margin)",
        peak >> 20
    );
}

#[test]
fn refresh_interval_minus_one_holds_documents_until_a_refresh_and_wait_for_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let (status, resp) = http(
        port,
        "PUT",
        "/held",
        br#"{"settings": {"index": {"refresh_interval": "-1"}}}"#,
    );
    assert_eq!(status, 200, "{resp}");
    let (_, settings) = http(port, "GET", "/held/_settings", b"");
    assert_eq!(
        json(&settings)["held"]["settings"]["index"]["refresh_interval"],
        "-1"
    );
    let mut body = String::new();
    for i in 0..50 {
        body.push_str(&format!("{{\"index\":{{}}}}\n{}\n", event(i)));
    }
    bulk(port, "/held/_bulk", &body);
    // Searches neither see nor force them, however long they wait (as Elasticsearch).
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(port, "held"), 0);
    // Real-time get sees a written document before any refresh.
    let (status, doc) = http(port, "PUT", "/held/_doc/x", br#"{"k": "v"}"#);
    assert_eq!(status, 201, "{doc}");
    let (_, got) = http(port, "GET", "/held/_doc/x", b"");
    assert_eq!(json(&got)["_source"]["k"], "v");
    let (status, _) = http(port, "POST", "/held/_refresh", b"");
    assert_eq!(status, 200);
    assert_eq!(count(port, "held"), 51);
    // Bad values are refused as Elasticsearch refuses them.
    let (status, resp) = http(
        port,
        "PUT",
        "/held/_settings",
        br#"{"index": {"refresh_interval": "soon"}}"#,
    );
    assert_eq!(status, 400, "{resp}");
    assert_eq!(json(&resp)["error"]["type"], "illegal_argument_exception");
    // Back to the default; wait_for answers once the documents are searchable.
    let (status, _) = http(
        port,
        "PUT",
        "/held/_settings",
        br#"{"index": {"refresh_interval": null}}"#,
    );
    assert_eq!(status, 200);
    bulk(
        port,
        "/held/_bulk?refresh=wait_for",
        &format!("{{\"index\":{{}}}}\n{}\n", event(99)),
    );
    let (_, c) = http(port, "GET", "/held/_count", b"");
    assert_eq!(json(&c)["count"], 52);
    let (status, resp) = http(
        port,
        "POST",
        "/held/_bulk?refresh=sometimes",
        b"{\"index\":{}}\n{}\n",
    );
    assert_eq!(status, 400, "{resp}");
}

#[test]
fn a_torn_last_log_record_is_skipped_and_the_rest_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut s = Rstore::start(dir.path(), port);
    let mut body = String::new();
    for i in 0..300 {
        body.push_str(&format!(
            "{{\"index\":{{\"_index\":\"logs\",\"_id\":\"{i}\"}}}}\n{}\n",
            event(i)
        ));
    }
    assert_eq!(bulk(port, "/_bulk", &body)["errors"], false);
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    // The crash happened in the middle of writing the next record.
    let wal = dir.path().join("wal");
    let last = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| std::fs::metadata(p).map(|m| m.len() > 0).unwrap_or(false))
        .max()
        .expect("a write-ahead log segment with the bulk");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']).unwrap();
    drop(f);
    drop(s);
    let s = Rstore::start(dir.path(), port);
    assert_eq!(count(port, "logs"), 300);
    let (_, d) = http(port, "GET", "/logs/_doc/299", b"");
    assert_eq!(json(&d)["_source"]["n"], 299);
    let log = std::fs::read_to_string(dir.path().join("rstore.stderr")).unwrap();
    assert!(
        log.contains("torn"),
        "no warning about the torn record:\n{log}"
    );
    // Writing goes on after the repaired log, and survives another crash.
    bulk(
        port,
        "/_bulk",
        "{\"index\":{\"_index\":\"logs\",\"_id\":\"new\"}}\n{\"n\":-1}\n",
    );
    let mut s = s;
    s.child.kill().unwrap();
    s.child.wait().unwrap();
    drop(s);
    let _s = Rstore::start(dir.path(), port);
    assert_eq!(count(port, "logs"), 301);
}

#[test]
fn searches_during_indexing_see_consistent_growing_counts() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let _s = Rstore::start(dir.path(), port);
    let (bulks, per) = (40, 500);
    let writer = std::thread::spawn(move || {
        for b in 0..bulks {
            let mut body = String::new();
            for j in 0..per {
                body.push_str(&format!(
                    "{{\"index\":{{\"_index\":\"live\"}}}}\n{}\n",
                    event(b * per + j)
                ));
            }
            assert_eq!(bulk(port, "/_bulk", &body)["errors"], false);
        }
    });
    let mut last = 0;
    let mut seen = 0;
    while !writer.is_finished() {
        let (status, resp) = http(port, "GET", "/live/_count", b"");
        if status == 404 {
            continue; // not created yet
        }
        let c = json(&resp)["count"].as_u64().unwrap();
        assert!(c >= last, "the count went back from {last} to {c}");
        assert!(c <= (bulks * per) as u64);
        // A refresh commits whole bulks: never part of one.
        assert_eq!(c % per as u64, 0, "a count of {c} splits a bulk");
        last = c;
        seen += 1;
    }
    writer.join().unwrap();
    assert!(seen > 0);
    wait_for("every document searchable", Duration::from_secs(30), || {
        count(port, "live") == (bulks * per) as u64
    });
}

/// A small tmpfs of its own (a private mount namespace) as rstore's data directory: bulks are
/// refused with Elasticsearch's 429 before the disk is full, deleting an index gives the space
/// back, and what was acknowledged is all there, once.
#[test]
fn a_full_disk_refuses_bulks_and_recovers_when_space_returns() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("data");
    std::fs::create_dir_all(&mnt).unwrap();
    let port = free_port();
    let bin = env!("CARGO_BIN_EXE_rstore");
    let script = format!(
        "mount -t tmpfs -o size=48m tmpfs '{m}' || exit 97\nexec '{bin}' --path.data '{m}' --http.port {port} --index.translog.flush_threshold_size 4mb 2>'{log}'",
        m = mnt.display(),
        log = dir.path().join("rstore.stderr").display()
    );
    let mut child = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .spawn()
        .unwrap();
    // Up when rstore says it listens (logged after its bind). An exit before rstore ran (no
    // log: unshare refused, or the script's 97, no tmpfs) means the machine cannot run this.
    let log = dir.path().join("rstore.stderr");
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut exited = None;
    let up = (0..400).any(|_| {
        if let Ok(Some(status)) = child.try_wait() {
            exited = Some(status);
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
        said().contains("listening on")
    });
    if let Some(status) = exited {
        let ran = log.exists() && status.code() != Some(97);
        assert!(!ran, "rstore exited: {status}\n{}", said());
    }
    assert!(up || exited.is_some(), "rstore did not start:\n{}", said());
    if exited.is_some() {
        skip(
            "a_full_disk_refuses_bulks_and_recovers_when_space_returns",
            "cannot mount a tmpfs here (needs root and unshare -m)",
        );
        return;
    }
    let guard = KillOnDrop(child);
    // Fill the disk with one index (incompressible text) while another receives numbered documents.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut noise = move || {
        (0..20_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (b'a' + (seed % 26) as u8) as char
            })
            .collect::<String>()
    };
    let mut kept = 0usize;
    let mut refused = None;
    for round in 0..400 {
        let mut body = String::new();
        for _ in 0..40 {
            body.push_str(&format!(
                "{{\"index\":{{\"_index\":\"filler\"}}}}\n{{\"blob\":\"{}\",\"r\":{round}}}\n",
                noise()
            ));
        }
        body.push_str(&format!(
            "{{\"index\":{{\"_index\":\"kept\"}}}}\n{{\"n\":{kept}}}\n"
        ));
        let resp = bulk(port, "/_bulk", &body);
        let item = &resp["items"][40]["index"];
        if item["status"] == 429 {
            assert_eq!(item["error"]["type"], "cluster_block_exception", "{item}");
            // Refused before the bulk (past the flood stage) or, when the bulk itself or a merge
            // beside it reached the end of the disk first, by the log's ENOSPC: the same 429.
            let reason = item["error"]["reason"].as_str().unwrap();
            assert!(
                reason.contains("flood-stage watermark") || reason.contains("No space left"),
                "{item}"
            );
            refused = Some(kept);
            break;
        }
        assert_eq!(item["status"], 201, "{item}");
        kept += 1;
    }
    let Some(pending) = refused else {
        panic!("48 MB filled without a single 429");
    };
    assert!(pending > 0);
    // Space returns: the filler index goes; the refused document is retried until accepted, as
    // the elasticsearch output does.
    let (status, resp) = http(port, "DELETE", "/filler", b"");
    assert_eq!(status, 200, "{resp}");
    wait_for("bulks accepted again", Duration::from_secs(30), || {
        let resp = bulk(
            port,
            "/_bulk",
            &format!("{{\"index\":{{\"_index\":\"kept\"}}}}\n{{\"n\":{kept}}}\n"),
        );
        resp["items"][0]["index"]["status"] == 201
    });
    kept += 1;
    // Counted after a refresh: the background one may lag behind the last bulk on a busy machine.
    let (status, resp) = http(port, "POST", "/kept/_refresh", b"");
    assert_eq!(status, 200, "{resp}");
    let (_, c) = http(port, "GET", "/kept/_count", b"");
    assert_eq!(
        json(&c)["count"],
        kept as u64,
        "every acknowledged document, once"
    );
    drop(guard);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
