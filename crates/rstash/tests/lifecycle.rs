//! What a new user meets first: stopping rstash while it cannot deliver, exit statuses that tell
//! the truth, refused log levels, uncoloured logs in files, and `rbeat test output` that
//! really talks to the output.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Waits for the child to exit, at most `limit`: its status, or None.
fn exit_within(rs: &mut Rstash, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(st) = rs.child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn a_draining_rstash_says_what_it_waits_for_and_a_second_signal_ends_it() {
    // Nothing listens on `dead`: the output retries for ever. Once with the generator finished
    // (the drain starts by itself), once with the signal stopping a running input.
    for (count, first) in [("count => 5", "INT"), ("", "TERM")] {
        let dir = tempfile::tempdir().unwrap();
        let dead = free_port();
        let cfg = format!(
            "input {{ generator {{ {count} }} }} output {{ elasticsearch {{ hosts => ['http://127.0.0.1:{dead}'] retry_max_interval => 1 }} }}"
        );
        let mut rs = Rstash::start_with(&["-w", "1", "-b", "5"], &cfg, dir.path());
        wait_for("the output to fail", Duration::from_secs(20), || {
            rs.logs().contains("will retry")
        });
        signal(rs.child.id(), first);
        wait_for("the drain report", Duration::from_secs(20), || {
            let logs = rs.logs();
            logs.contains("stop requested")
                && logs.contains(&format!(
                    "waiting for output elasticsearch (127.0.0.1:{dead} unreachable"
                ))
                && logs.contains("5 events in flight)")
        });
        assert!(
            exit_within(&mut rs, Duration::from_secs(2)).is_none(),
            "the first signal drains"
        );
        signal(rs.child.id(), "TERM");
        let st = exit_within(&mut rs, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("a second signal must end rstash\n{}", rs.logs()));
        assert_eq!(st.code(), Some(1), "{}", rs.logs());
        assert!(rs
            .logs()
            .contains("second stop signal: exiting without draining"));
    }
}

#[test]
fn an_input_that_cannot_start_fails_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let mut rs = Rstash::start(
        &format!(
            "input {{ beats {{ host => '127.0.0.1' port => {port} }} }} output {{ stdout {{}} }}"
        ),
        dir.path(),
    );
    let st = exit_within(&mut rs, Duration::from_secs(20)).expect("rstash must stop");
    let logs = rs.logs();
    assert_eq!(st.code(), Some(1), "{logs}");
    assert!(
        logs.contains("Address already in use") && logs.contains("a pipeline failed"),
        "{logs}"
    );
    drop(taken);
}

#[test]
fn unknown_log_levels_are_refused_and_logs_in_files_have_no_colour() {
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "--log.level",
            "bogus",
            "-e",
            "input { stdin {} } output { stdout {} }",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("invalid value 'bogus'") && err.contains("trace"),
        "{err}"
    );
    // rstash, rbeat and rstore write logs into a file (not a terminal): no ANSI escapes.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, "one\ntwo\n").unwrap();
    std::fs::write(
        dir.path().join("filebeat.yml"),
        format!(
            "filebeat.inputs:\n  - type: log\n    paths: [{}]\noutput.console.enabled: true\n",
            log.display()
        ),
    )
    .unwrap();
    let rbeat = Command::new(sibling_bin("rbeat"))
        .args(["--once", "--path.data"])
        .arg(dir.path().join("data"))
        .arg("-c")
        .arg(dir.path().join("filebeat.yml"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&rbeat.stderr);
    assert!(rbeat.status.success() && err.contains("INFO"), "{err}");
    assert!(!err.contains('\x1b'), "colour codes in a log file: {err:?}");
    let rs = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-e",
            "input { generator { count => 1 } } output { null {} }",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&rs.stderr);
    assert!(
        rs.status.success() && err.contains("INFO") && !err.contains('\x1b'),
        "{err:?}"
    );
}

fn rbeat_test_output(dir: &Path, output: &str) -> (bool, String) {
    let cfg = dir.join("filebeat.yml");
    std::fs::write(
        &cfg,
        format!("filebeat.inputs:\n  - type: log\n    paths: [/nonexistent/*.log]\n{output}\n"),
    )
    .unwrap();
    let o = Command::new(sibling_bin("rbeat"))
        .args(["test", "output", "-c"])
        .arg(&cfg)
        .output()
        .unwrap();
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr),
    )
}

#[test]
fn rbeat_test_output_talks_to_the_server() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listening: an error and exit 1, for both outputs.
    let dead = free_port();
    for out in [
        format!("output.logstash.hosts: ['127.0.0.1:{dead}']"),
        format!("output.elasticsearch.hosts: ['http://127.0.0.1:{dead}']"),
    ] {
        let (ok, text) = rbeat_test_output(dir.path(), &out);
        assert!(
            !ok && text.contains("connection... ERROR"),
            "{out}:\n{text}"
        );
        assert!(!text.contains("talk to server... OK"), "{text}");
    }
    // A real beats input: its window is opened, nothing is sent, and it answers.
    let beats = free_port();
    let sink = dir.path().join("events.json");
    let rs = Rstash::start(
        &format!(
            "input {{ beats {{ host => '127.0.0.1' port => {beats} }} }} output {{ file {{ path => '{}' }} }}",
            sink.display()
        ),
        dir.path(),
    );
    rs.wait_port(beats);
    let (ok, text) = rbeat_test_output(
        dir.path(),
        &format!("output.logstash.hosts: ['127.0.0.1:{beats}']"),
    );
    assert!(ok && text.contains("talk to server... OK"), "{text}");
    assert!(
        !sink.exists() || std::fs::read_to_string(&sink).unwrap().is_empty(),
        "no event is sent"
    );
    // rstore: GET / answers with a version. And rstore is no beats server.
    let store_port = free_port();
    let mut store = start_rstore(&dir.path().join("store"), store_port);
    let (ok, text) = rbeat_test_output(
        dir.path(),
        &format!("output.elasticsearch.hosts: ['http://127.0.0.1:{store_port}']"),
    );
    assert!(
        ok && text.contains("talk to server... OK") && text.contains("version: 8."),
        "{text}"
    );
    let (ok, text) = rbeat_test_output(
        dir.path(),
        &format!("output.logstash.hosts: ['127.0.0.1:{store_port}']"),
    );
    assert!(!ok && text.contains("talk to server... ERROR"), "{text}");
    let _ = store.kill();
    let _ = store.wait();
    assert!(rs.stop().success());
}
