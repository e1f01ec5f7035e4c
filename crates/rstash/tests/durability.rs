//! Faults against a persisted queue, real processes on 127.0.0.1, events counted at the end:
//! rstash killed (-9) again and again while rbeat pushes 200,000 events over Beats; the store
//! down for 30 s with rstash killed during the outage. Each prints sent / received / duplicates /
//! lost and asserts that nothing was lost.

mod common;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{all_hits, free_port, http_get, sibling_bin, start_rstore, wait_for};

/// rstash with `--path.settings dir` (a logstash.yml asking for the persisted queue).
fn rstash(dir: &Path, config: &str) -> Child {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("rstash.stderr"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["--path.settings", dir.to_str().unwrap()])
        .args(["--path.data", dir.join("data").to_str().unwrap()])
        .args(["--api.enabled", "false", "-e", config])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap()
}

struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn kill9(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}

fn write_lines(path: &Path, n: usize) {
    let mut f = fs::File::create(path).unwrap();
    let mut buf = String::new();
    for i in 0..n {
        buf.push_str(&format!(
            "event {i:07} with some payload to make it realistic\n"
        ));
    }
    f.write_all(buf.as_bytes()).unwrap();
}

fn rbeat(dir: &Path, log: &Path, port: u16) -> Child {
    let cfg = dir.join("filebeat.yml");
    fs::write(
        &cfg,
        format!(
            "filebeat.inputs:\n  - type: log\n    paths: [\"{}\"]\n    scan_frequency: 200ms\n\
             output.logstash:\n  hosts: [\"127.0.0.1:{port}\"]\n  backoff.init: 100ms\n  backoff.max: 1s\n\
             queue.mem.flush.timeout: 50ms\n",
            log.display()
        ),
    )
    .unwrap();
    Command::new(sibling_bin("rbeat"))
        .args(["-c", cfg.to_str().unwrap(), "--path.data"])
        .arg(dir.join("rbeat-data"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(dir.join("rbeat.stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Prints the tally and asserts that every one of `sent` arrived.
fn tally(what: &str, sent: usize, got: &HashMap<String, usize>) {
    let dups: usize = got.values().map(|n| n - 1).sum();
    let lost = (0..sent)
        .filter(|i| {
            !got.contains_key(&format!(
                "event {i:07} with some payload to make it realistic"
            ))
        })
        .count();
    println!(
        "{what}: sent {sent} / received {} / duplicates {dups} / lost {lost}",
        got.len() + dups
    );
    let missing: Vec<usize> = (0..sent)
        .filter(|i| {
            !got.contains_key(&format!(
                "event {i:07} with some payload to make it realistic"
            ))
        })
        .collect();
    if let (Some(a), Some(b)) = (missing.first(), missing.last()) {
        println!("missing from {a} to {b}");
    }
    assert_eq!(lost, 0, "{what}: events lost");
}

fn received(out: &Path) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for l in fs::read_to_string(out).unwrap_or_default().lines() {
        *m.entry(l.to_string()).or_insert(0) += 1;
    }
    m
}

/// A pseudo-random pause from the clock (the moments of the kills vary from run to run).
fn random_pause(min_ms: u64, spread_ms: u64) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(min_ms + nanos % spread_ms)
}

#[test]
fn kill_9_of_rstash_with_a_persisted_queue_loses_nothing() {
    const N: usize = 200_000;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fs::write(dir.join("logstash.yml"), "queue.type: persisted\n").unwrap();
    let (port, out, log) = (free_port(), dir.join("out.txt"), dir.join("app.log"));
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }}
filter {{ mutate {{ add_field => {{ "stage" => "parsed" }} }} }}
output {{ file {{ path => "{}" codec => line {{ format => "%{{message}}" }} }} }}"#,
        out.display()
    );
    write_lines(&log, N);
    let mut procs = Procs(vec![rstash(dir, &config)]);
    wait_for("rstash", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    procs.0.push(rbeat(dir, &log, port));
    let mut kills = 0;
    while kills < 4 {
        std::thread::sleep(random_pause(300, 1200));
        let arrived = received(&out).len();
        if arrived >= N {
            break;
        }
        kill9(&mut procs.0[0]);
        kills += 1;
        println!("kill -9 #{kills} with {arrived} events at the output");
        procs.0[0] = rstash(dir, &config);
    }
    wait_for(
        "every event at the output",
        Duration::from_secs(180),
        || received(&out).len() >= N,
    );
    tally(
        &format!("kill -9 x{kills}, persisted queue"),
        N,
        &received(&out),
    );
    assert!(
        kills >= 1,
        "rstash was never killed: the test proves nothing"
    );
    // Whatever the queue held was replayed and ACKed: it is empty now.
    kill9(&mut procs.0[0]);
    let check = Command::new(sibling_bin("rstash-queue"))
        .args(["check", dir.join("data/queue/main").to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{text}");
}

#[test]
fn the_store_down_30_s_and_rstash_killed_meanwhile_loses_nothing() {
    const N: usize = 20_000;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fs::write(
        dir.join("logstash.yml"),
        "queue.type: persisted\nqueue.checkpoint.writes: 1\n",
    )
    .unwrap();
    let (port, es, log) = (free_port(), free_port(), dir.join("app.log"));
    let config = format!(
        r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }}
output {{ elasticsearch {{ hosts => ["http://127.0.0.1:{es}"] index => "durable" retry_max_interval => 1 }} }}"#
    );
    let store_dir: PathBuf = dir.join("store");
    let mut store = start_rstore(&store_dir, es);
    let mut procs = Procs(vec![rstash(dir, &config)]);
    wait_for("rstash", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let count = |es: u16| -> u64 {
        let _ = http_get(es, "/durable/_refresh");
        http_get(es, "/durable/_count")["count"]
            .as_u64()
            .unwrap_or(0)
    };
    // The first half flows; then the store goes away for 30 s while the second half is shipped.
    write_lines(&log, N / 2);
    procs.0.push(rbeat(dir, &log, port));
    wait_for("the first half indexed", Duration::from_secs(60), || {
        count(es) >= (N / 2) as u64
    });
    kill9(&mut store);
    let down = Instant::now();
    let mut f = fs::OpenOptions::new().append(true).open(&log).unwrap();
    for i in N / 2..N {
        writeln!(f, "event {i:07} with some payload to make it realistic").unwrap();
    }
    drop(f);
    // rbeat hands the second half to rstash, whose queue keeps it while the store is down...
    std::thread::sleep(Duration::from_secs(10));
    // ...and rstash dies with it still queued.
    kill9(&mut procs.0[0]);
    procs.0[0] = rstash(dir, &config);
    std::thread::sleep(Duration::from_secs(30).saturating_sub(down.elapsed()));
    let mut store = start_rstore(&store_dir, es);
    // Duplicates count too: wait until every distinct event is there.
    let distinct = |es: u16| -> HashMap<String, usize> {
        let _ = http_get(es, "/durable/_refresh");
        let mut got: HashMap<String, usize> = HashMap::new();
        for h in all_hits(es, "durable") {
            let m = h["_source"]["message"].as_str().unwrap_or("").to_string();
            *got.entry(m).or_insert(0) += 1;
        }
        got
    };
    wait_for("every event indexed", Duration::from_secs(120), || {
        count(es) >= N as u64
    });
    let mut got = distinct(es);
    let until = Instant::now() + Duration::from_secs(60);
    while got.len() < N && Instant::now() < until {
        std::thread::sleep(Duration::from_secs(1));
        got = distinct(es);
    }
    tally("store down 30 s, rstash killed meanwhile", N, &got);
    let _ = store.kill();
    let _ = store.wait();
}

/// rstash with `-e config`, run to its end (finite inputs), with `--path.settings dir`.
fn run_to_end(dir: &Path, config: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["--path.settings", dir.to_str().unwrap()])
        .args(["--path.data", dir.join("data").to_str().unwrap()])
        .args(["--api.enabled", "false", "-e", config])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{err}");
    err
}

#[test]
fn refused_events_go_to_the_dead_letter_queue_and_are_reprocessed_once() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let es = free_port();
    let mut store = start_rstore(&dir.join("store"), es);
    fs::write(dir.join("logstash.yml"), "dead_letter_queue.enable: true\n").unwrap();
    // Documents 1..10 exist; then updates of 1..20: the ten of missing documents get 404.
    run_to_end(
        dir,
        &format!(
            r#"input {{ generator {{ count => 10 }} }} output {{ elasticsearch {{ hosts => ["127.0.0.1:{es}"] index => "accounts" document_id => "%{{sequence}}" }} }}"#
        ),
    );
    assert!(
        !dir.join("data/dead_letter_queue/main").exists(),
        "nothing refused yet, no files"
    );
    let err = run_to_end(
        dir,
        &format!(
            r#"input {{ generator {{ count => 20 }} }} output {{ elasticsearch {{ id => "es_out" hosts => ["127.0.0.1:{es}"] index => "accounts" action => "update" document_id => "%{{sequence}}" }} }}"#
        ),
    );
    assert!(err.contains("document_missing_exception"), "{err}");
    // Reprocess: the input reads what was refused, with why, then stops at the end of this test.
    let out = dir.join("dlq.jsonl");
    let reprocess = format!(
        r#"input {{ dead_letter_queue {{ path => "{}" }} }}
filter {{ mutate {{ add_field => {{ "reason" => "%{{[@metadata][dead_letter_queue][reason]}}" "by" => "%{{[@metadata][dead_letter_queue][plugin_type]}}/%{{[@metadata][dead_letter_queue][plugin_id]}}" }} }} }}
output {{ file {{ path => "{}" }} }}"#,
        dir.join("data/dead_letter_queue").display(),
        out.display()
    );
    let fresh = tempfile::tempdir().unwrap();
    let mut r = common::Rstash::start(&reprocess, fresh.path());
    wait_for("10 dead letters", Duration::from_secs(20), || {
        common::line_count(&out) >= 10
    });
    std::thread::sleep(Duration::from_millis(500));
    let evs = common::lines(&out);
    assert_eq!(evs.len(), 10);
    let mut seqs: Vec<i64> = evs
        .iter()
        .map(|e| e["sequence"].as_i64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (10..20).collect::<Vec<_>>(),
        "sequences are 0-based: 10..19 had no document"
    );
    assert!(evs.iter().all(|e| e["by"] == "elasticsearch/es_out"));
    assert!(
        evs[0]["reason"].as_str().unwrap().contains("status: 404"),
        "{}",
        evs[0]
    );
    r.child.kill().unwrap();
    let _ = r.child.wait();
    // Offsets were committed: a second run reads nothing again.
    let r2 = common::Rstash::start(&reprocess, fresh.path());
    std::thread::sleep(Duration::from_secs(2));
    drop(r2);
    assert_eq!(common::line_count(&out), 10, "dead letters read twice");
    let _ = store.kill();
    let _ = store.wait();
}

#[test]
fn reloads_while_events_flow_lose_nothing() {
    const N: usize = 100_000;
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    fs::write(dir.join("logstash.yml"), "queue.type: persisted\n").unwrap();
    let (port, out, log, conf) = (
        free_port(),
        dir.join("out.txt"),
        dir.join("app.log"),
        dir.join("pipeline.conf"),
    );
    let config = |generation: usize| {
        format!(
            r#"input {{ beats {{ port => {port} host => "127.0.0.1" }} }}
filter {{ mutate {{ add_field => {{ "generation" => "{generation}" }} }} }}
output {{ file {{ path => "{}" codec => line {{ format => "%{{message}}" }} }} }}
"#,
            out.display()
        )
    };
    fs::write(&conf, config(0)).unwrap();
    write_lines(&log, N);
    let stderr = fs::File::create(dir.join("rstash.stderr")).unwrap();
    let r = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args(["--path.settings", dir.to_str().unwrap()])
        .args(["--path.data", dir.join("data").to_str().unwrap()])
        .args([
            "--api.enabled",
            "false",
            "-r",
            "--config.reload.interval",
            "200ms",
        ])
        .args(["-f", conf.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut procs = Procs(vec![r]);
    wait_for("rstash", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    procs.0.push(rbeat(dir, &log, port));
    // Three reloads by editing the file, one by SIGHUP, while the lines flow.
    let mut reloads = 0;
    for generation in 1..=4 {
        std::thread::sleep(random_pause(300, 700));
        if received(&out).len() >= N {
            break;
        }
        if generation == 4 {
            let _ = Command::new("kill")
                .args(["-HUP", &procs.0[0].id().to_string()])
                .status();
        } else {
            fs::write(&conf, config(generation)).unwrap();
        }
        reloads += 1;
    }
    wait_for(
        "every event at the output",
        Duration::from_secs(120),
        || received(&out).len() >= N,
    );
    tally(
        &format!("{reloads} reloads under traffic"),
        N,
        &received(&out),
    );
    let logs = fs::read_to_string(dir.join("rstash.stderr")).unwrap();
    assert!(
        reloads == 0 || logs.contains("reloading pipeline"),
        "no reload happened: {logs}"
    );
}

/// The disk holding the queue fills up: a 2 MB tmpfs (in a mount namespace of its own, so no
/// trace is left on the machine) taken almost whole by a ballast file while the output is down.
/// Inputs must block without corrupting anything, and once the ballast goes and the store
/// comes up every event must arrive. Needs `unshare -m` (root); says so and passes otherwise.
#[test]
fn a_full_disk_blocks_inputs_and_the_flow_resumes_when_space_returns() {
    // 12 MB: more than the loopback socket buffers hold, so a blocked input holds the sender.
    const N: usize = 40_000;
    let probe = Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        common::skip(
            "a_full_disk_blocks_inputs_and_the_flow_resumes_when_space_returns",
            "`unshare -m` is not permitted here (needs root)",
        );
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let mnt = dir.join("disk");
    fs::create_dir_all(&mnt).unwrap();
    fs::write(
        dir.join("logstash.yml"),
        format!(
            "queue.type: persisted\npath.queue: {}/queue\nqueue.page_capacity: 64kb\nqueue.checkpoint.acks: 64\n",
            mnt.display()
        ),
    )
    .unwrap();
    let (port, es) = (free_port(), free_port());
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" }} }}
output {{ elasticsearch {{ hosts => ["http://127.0.0.1:{es}"] index => "full" retry_max_interval => 1 }} }}"#
    );
    let script = format!(
        r#"set -e
mount -t tmpfs -o size=2m tmpfs "{mnt}"
dd if=/dev/zero of="{mnt}/ballast" bs=1k count=1700 2>/dev/null
"{rstash}" --path.settings "{dir}" --path.data "{dir}/data" --api.enabled false -e '{config}' 2>>"{dir}/rstash.stderr" &
echo $! > "{dir}/rstash.pid"
while [ ! -e "{dir}/free-space" ]; do sleep 0.1; done
rm "{mnt}/ballast"
wait
"#,
        mnt = mnt.display(),
        rstash = env!("CARGO_BIN_EXE_rstash"),
        dir = dir.display(),
    );
    let ns = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let _procs = Procs(vec![ns]);
    wait_for("rstash", Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let pid = fs::read_to_string(dir.join("rstash.pid"))
        .unwrap()
        .trim()
        .to_string();
    // rstash is the shell's child: killed by pid whatever happens to the test.
    struct KillPid(String);
    impl Drop for KillPid {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-KILL", &self.0]).status();
        }
    }
    let _rstash = KillPid(pid);
    // The sender blocks once the queue cannot write: it runs on its own thread.
    let sender = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..N {
            writeln!(
                s,
                "event {i:07} with some payload to make it realistic {}",
                "x".repeat(250)
            )
            .unwrap();
        }
    });
    wait_for(
        "the full disk to be noticed",
        Duration::from_secs(60),
        || {
            fs::read_to_string(dir.join("rstash.stderr"))
                .unwrap_or_default()
                .contains("No space left on device")
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        !sender.is_finished(),
        "the sender must be held back while the disk is full"
    );
    // Space returns, then the store.
    fs::write(dir.join("free-space"), "").unwrap();
    let mut store = start_rstore(&dir.join("store"), es);
    let count = || {
        let _ = http_get(es, "/full/_refresh");
        http_get(es, "/full/_count")["count"].as_u64().unwrap_or(0)
    };
    wait_for("every event indexed", Duration::from_secs(120), || {
        count() >= N as u64
    });
    sender.join().unwrap();
    let mut got: HashMap<String, usize> = HashMap::new();
    for h in all_hits(es, "full") {
        let m = h["_source"]["message"].as_str().unwrap_or("");
        let key = m.split(" with ").next().unwrap_or("").to_string();
        *got.entry(format!("{key} with some payload to make it realistic"))
            .or_insert(0) += 1;
    }
    tally("disk full, then space back", N, &got);
    let logs = fs::read_to_string(dir.join("rstash.stderr")).unwrap();
    assert!(logs.contains("writing again"), "{logs}");
    let _ = store.kill();
    let _ = store.wait();
}

/// Vector's "wrapped JSON" case, as Docker and Kubernetes write logs: a JSON document whose
/// `log` field is itself JSON text. Received over TCP, parsed twice, written back as JSON: the
/// inner fields arrive intact (escapes, Unicode, nesting), none lost, and an inner text that is
/// not JSON is kept and tagged.
#[test]
fn wrapped_json_is_parsed_through_both_layers() {
    const N: usize = 2000;
    let d = tempfile::tempdir().unwrap();
    let (port, out) = (free_port(), d.path().join("out.jsonl"));
    let config = format!(
        r#"input {{ tcp {{ port => {port} host => "127.0.0.1" codec => json_lines }} }}
filter {{ json {{ source => "log" remove_field => ["log"] }} }}
output {{ file {{ path => "{}" }} }}"#,
        out.display()
    );
    let r = common::Rstash::start(&config, d.path());
    r.wait_port(port);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..N {
        let inner = serde_json::json!({"message": format!("Hello world {i}"), "quote": "say \"hi\"\n", "city": "Zürich", "nested": {"n": i}});
        let outer = serde_json::json!({"log": inner.to_string(), "stream": "stdout"});
        writeln!(s, "{outer}").unwrap();
    }
    writeln!(
        s,
        "{}",
        serde_json::json!({"log": "not json {", "stream": "stderr"})
    )
    .unwrap();
    drop(s);
    wait_for("every event", Duration::from_secs(30), || {
        common::line_count(&out) > N
    });
    let evs = common::lines(&out);
    let mut got = HashMap::new();
    for e in &evs[..] {
        if let Some(m) = e["message"].as_str() {
            *got.entry(m.to_string()).or_insert(0) += 1;
            assert_eq!(e["quote"], "say \"hi\"\n");
            assert_eq!(e["city"], "Zürich");
            assert_eq!(e["stream"], "stdout");
            assert!(e.get("log").is_none());
            // Nesting survives, on every event (two workers: the order of lines may differ).
            assert_eq!(format!("Hello world {}", e["nested"]["n"]), m);
        }
    }
    let expected: Vec<String> = (0..N).map(|i| format!("Hello world {i}")).collect();
    let lost = expected.iter().filter(|m| !got.contains_key(*m)).count();
    println!(
        "wrapped JSON: sent {N} / received {} / duplicates {} / lost {lost}",
        got.values().sum::<usize>(),
        got.values().map(|n| n - 1).sum::<usize>()
    );
    assert_eq!(lost, 0);
    let bad = evs.iter().find(|e| e["stream"] == "stderr").unwrap();
    assert_eq!(bad["log"], "not json {");
    assert_eq!(bad["tags"][0], "_jsonparsefailure");
}
