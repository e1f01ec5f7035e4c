//! rbeat end to end, real processes on 127.0.0.1: rbeat tails files and ships to rstash's beats
//! input, which writes every event to a file; lines are counted there. kill -9, restarts,
//! rotations (rename, copytruncate, while rbeat is down), truncation and an outage of rstash:
//! nothing may be lost.

mod common;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, wait_for, Rstash};

fn rbeat_bin() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_rstash")).with_file_name("rbeat")
}

/// rstash listening for Beats on `port`, writing each event's message to `out`.
fn sink(dir: &Path, port: u16, out: &Path) -> Rstash {
    let conf = format!(
        r#"input {{ beats {{ port => {port} }} }} output {{ file {{ path => "{}" codec => line {{ format => "%{{message}}" }} }} }}"#,
        out.display()
    );
    let r = Rstash::start(&conf, dir);
    r.wait_port(port);
    r
}

/// Messages received so far, with how many times each arrived.
fn received(out: &Path) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in fs::read_to_string(out).unwrap_or_default().lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

fn dups(m: &HashMap<String, usize>) -> usize {
    m.values().map(|n| n - 1).sum()
}

struct Rbeat(Child);

impl Rbeat {
    fn start(dir: &Path, config: &Path) -> Rbeat {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("rbeat.stderr"))
            .unwrap();
        Rbeat(
            Command::new(rbeat_bin())
                .args(["-e", "-c"])
                .arg(config)
                .arg("--path.data")
                .arg(dir.join("data"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn rbeat"),
        )
    }

    fn kill9(mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }

    /// SIGTERM and wait: a clean stop.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.0.try_wait().ok().flatten().is_none() {
            assert!(Instant::now() < deadline, "rbeat did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rbeat {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn config(dir: &Path, port: u16, paths: &str) -> PathBuf {
    let p = dir.join("filebeat.yml");
    fs::write(
        &p,
        format!(
            r#"filebeat.inputs:
  - type: log
    paths: ["{paths}"]
    scan_frequency: 200ms
    backoff: 50ms
    max_backoff: 200ms
    close_inactive: 2s
queue.mem:
  events: 4096
  flush.timeout: 50ms
output.logstash:
  hosts: ["127.0.0.1:{port}"]
  bulk_max_size: 2048
  backoff.init: 100ms
  backoff.max: 2s
"#
        ),
    )
    .unwrap();
    p
}

fn write_lines(path: &Path, from: usize, to: usize) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let mut buf = String::new();
    for i in from..to {
        buf.push_str(&format!(
            "line {i:07} some payload to make it a realistic length\n"
        ));
    }
    f.write_all(buf.as_bytes()).unwrap();
}

fn expect_all(out: &Path, n: usize, limit: Duration) -> HashMap<String, usize> {
    wait_for(&format!("{n} distinct lines at the sink"), limit, || {
        received(out).len() >= n
    });
    let got = received(out);
    for i in 0..n {
        let line = format!("line {i:07} some payload to make it a realistic length");
        assert!(got.contains_key(&line), "line {i} was lost");
    }
    got
}

#[test]
fn kill_9_mid_stream_loses_nothing_and_a_clean_restart_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), dir.path().join("out.txt"));
    let _sink = sink(dir.path(), port, &out);
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 200_000);
    let cfg = config(
        dir.path(),
        port,
        &dir.path().join("*.log").to_string_lossy(),
    );
    let rb = Rbeat::start(dir.path(), &cfg);
    wait_for("some lines shipped", Duration::from_secs(60), || {
        received(&out).len() > 30_000
    });
    rb.kill9();
    let rb = Rbeat::start(dir.path(), &cfg);
    let got = expect_all(&out, 200_000, Duration::from_secs(120));
    // At most the one batch in flight when rbeat died (delivered, its ACK not yet recorded).
    assert!(
        dups(&got) <= 2048,
        "{} duplicates after kill -9, more than one batch",
        dups(&got)
    );
    // A clean stop records everything; the next start sends nothing again.
    rb.stop();
    let before = fs::read_to_string(&out).unwrap().lines().count();
    let rb = Rbeat::start(dir.path(), &cfg);
    std::thread::sleep(Duration::from_secs(3));
    write_lines(&log, 200_000, 200_010);
    expect_all(&out, 200_010, Duration::from_secs(30));
    rb.stop();
    let after = fs::read_to_string(&out).unwrap().lines().count();
    assert_eq!(after, before + 10, "a clean restart re-sent lines");
}

/// Writes `n` lines with a rotation half-way, performed by `rotate`, while rbeat ships.
fn rotation_case(glob: &str, rotate: fn(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), dir.path().join("out.txt"));
    let _sink = sink(dir.path(), port, &out);
    let log = dir.path().join("app.log");
    let cfg = config(dir.path(), port, &dir.path().join(glob).to_string_lossy());
    write_lines(&log, 0, 100);
    let _rb = Rbeat::start(dir.path(), &cfg);
    let n = 40_000;
    for chunk in (100..n).step_by(500) {
        write_lines(&log, chunk, (chunk + 500).min(n));
        if chunk == n / 2 {
            rotate(&log);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    expect_all(&out, n, Duration::from_secs(60));
}

#[test]
fn rotation_by_rename_and_create_loses_nothing() {
    rotation_case("*.log", |log| {
        fs::rename(log, log.with_extension("log.1")).unwrap()
    });
}

#[test]
fn rotation_by_copytruncate_loses_nothing() {
    rotation_case("app.log*", |log| {
        fs::copy(log, log.with_extension("log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .open(log)
            .unwrap()
            .set_len(0)
            .unwrap();
    });
}

#[test]
fn truncation_restarts_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), dir.path().join("out.txt"));
    let _sink = sink(dir.path(), port, &out);
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 5_000);
    let cfg = config(dir.path(), port, &log.to_string_lossy());
    let _rb = Rbeat::start(dir.path(), &cfg);
    expect_all(&out, 5_000, Duration::from_secs(60));
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    // Fewer bytes than before: only the size check can tell it was truncated.
    write_lines(&log, 5_000, 5_100);
    wait_for(
        "lines after the truncation",
        Duration::from_secs(30),
        || received(&out).contains_key("line 0005099 some payload to make it a realistic length"),
    );
    assert_eq!(received(&out).len(), 5_100);
}

#[test]
fn rotation_while_rbeat_is_down_is_found_by_inode() {
    let dir = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), dir.path().join("out.txt"));
    let _sink = sink(dir.path(), port, &out);
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 100_000);
    let cfg = config(
        dir.path(),
        port,
        &dir.path().join("*.log").to_string_lossy(),
    );
    let rb = Rbeat::start(dir.path(), &cfg);
    wait_for("some lines shipped", Duration::from_secs(60), || {
        received(&out).len() > 10_000
    });
    rb.kill9();
    assert!(
        received(&out).len() < 100_000,
        "the test needs rbeat stopped mid-file"
    );
    // Rotated outside the glob, and a new file started, while rbeat is down.
    fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    write_lines(&log, 100_000, 110_000);
    let _rb = Rbeat::start(dir.path(), &cfg);
    expect_all(&out, 110_000, Duration::from_secs(120));
}

#[test]
fn an_outage_of_rstash_delays_but_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), dir.path().join("out.txt"));
    let log = dir.path().join("app.log");
    let cfg = config(dir.path(), port, &log.to_string_lossy());
    let first = sink(dir.path(), port, &out);
    write_lines(&log, 0, 1_000);
    let _rb = Rbeat::start(dir.path(), &cfg);
    expect_all(&out, 1_000, Duration::from_secs(30));
    first.stop();
    write_lines(&log, 1_000, 6_000);
    std::thread::sleep(Duration::from_secs(20));
    let _second = sink(dir.path(), port, &out);
    expect_all(&out, 6_000, Duration::from_secs(60));
}

#[test]
fn frames_are_shaped_like_filebeats() {
    use bytes::BytesMut;
    use rstash_beats_protocol::{decode, inflate, Frame, Limits};
    // A bare server records the bytes and ACKs each window: W outside, C around J frames,
    // sequence numbers starting at 1 in every batch.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    write_lines(&log, 0, 30);
    let cfg = config(dir.path(), port, &log.to_string_lossy());
    let text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("bulk_max_size: 2048", "bulk_max_size: 10");
    fs::write(
        &cfg,
        text.replace("events: 4096", "events: 4096\n  flush.min_events: 10"),
    )
    .unwrap();
    let _rb = Rbeat::start(dir.path(), &cfg);
    let (mut conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let limits = Limits::default();
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 65536];
    let mut next_frame = |buf: &mut BytesMut, conn: &mut std::net::TcpStream| loop {
        if let Some(f) = decode(buf, &limits).unwrap() {
            return f;
        }
        let n = std::io::Read::read(conn, &mut chunk).unwrap();
        assert!(n > 0, "rbeat closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut windows = Vec::new();
    while windows.len() < 3 {
        let Frame::Window { count, .. } = next_frame(&mut buf, &mut conn) else {
            panic!("expected a W frame first")
        };
        let Frame::Compressed { payload, .. } = next_frame(&mut buf, &mut conn) else {
            panic!("expected a C frame after W")
        };
        let mut inner = BytesMut::from(&inflate(&payload, 1 << 20).unwrap()[..]);
        let mut seqs = Vec::new();
        while let Some(f) = decode(&mut inner, &limits).unwrap() {
            let Frame::Json { seq, payload, .. } = f else {
                panic!("expected J frames inside C")
            };
            let doc: serde_json::Value = serde_json::from_slice(&payload).unwrap();
            assert_eq!(doc["@metadata"]["beat"], "filebeat");
            assert_eq!(doc["agent"]["type"], "filebeat");
            assert_eq!(doc["input"]["type"], "log");
            seqs.push(seq);
        }
        assert_eq!(seqs, (1..=count).collect::<Vec<_>>());
        windows.push(count);
        std::io::Write::write_all(&mut conn, &[b'2', b'A', 0, 0, 0, count as u8]).unwrap();
    }
    assert_eq!(windows, vec![10, 10, 10]);
}
