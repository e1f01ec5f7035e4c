//! End to end: the `rstash` binary with `-e`/`-f`/`--path.settings`, real stdin, real files,
//! real signals. Assertions are on what a user sees: stdout bytes, fields, exit codes.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use common::{line_count, wait_for};
use serde_json::Value;

fn rstash() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rstash"));
    c.env_remove("TERM");
    c
}

fn run_stdin(config: &str, input: &[u8]) -> Output {
    let mut child = rstash()
        .args(["-e", config, "-w", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rstash");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "rstash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect()
}

#[test]
fn stdin_to_rubydebug_has_logstash_layout() {
    let out = run_stdin("input { stdin {} } output { stdout {} }", b"hello world\n");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.first(), Some(&"{"));
    assert_eq!(lines.last(), Some(&"}"));
    assert!(text.ends_with("}\n"));
    let ts = lines.iter().find(|l| l.contains("\"@timestamp\"")).unwrap();
    assert!(
        ts.starts_with("    \"@timestamp\" => 20") && ts.ends_with("Z,"),
        "{ts}"
    );
    assert!(lines.contains(&"      \"@version\" => \"1\","));
    assert!(lines.contains(&"       \"message\" => \"hello world\","));
    assert!(lines
        .iter()
        .any(|l| l.starts_with("          \"host\" => \"")));
    assert!(!text.contains('\x1b'), "no colour when piped");
}

#[test]
fn mutate_conditionals_and_json_lines() {
    let config = r#"
      input { stdin {} }
      filter {
        mutate { split => { "message" => "," } }
        mutate { add_field => { "first" => "%{[message][0]}" } }
        if [first] == "err" {
          mutate { add_tag => ["error"] replace => { "level" => "ERROR" } }
        } else if [first] in ["warn", "notice"] {
          mutate { replace => { "level" => "WARN" } }
        } else {
          drop {}
        }
        mutate { convert => { "[message][1]" => "integer" } uppercase => ["first"] }
      }
      output { stdout { codec => json_lines } }"#;
    let out = run_stdin(config, b"err,42\ninfo,1\nwarn,7\n");
    let evs = json_lines(&out);
    assert_eq!(evs.len(), 2, "info was dropped");
    assert_eq!(evs[0]["message"], serde_json::json!(["err", 42]));
    assert_eq!(evs[0]["first"], "ERR");
    assert_eq!(evs[0]["level"], "ERROR");
    assert_eq!(evs[0]["tags"], serde_json::json!(["error"]));
    assert_eq!(evs[1]["level"], "WARN");
    assert!(evs[1].get("tags").is_none());
}

#[test]
fn json_and_date_filters_tag_failures() {
    let config = r#"
      input { stdin {} }
      filter {
        json { source => "message" }
        date { match => ["when", "dd/MMM/yyyy:HH:mm:ss Z", "ISO8601"] }
      }
      output { stdout { codec => json_lines } }"#;
    let input =
        b"{\"when\":\"01/May/2024:12:34:56 +0200\",\"n\":1.5}\n{\"when\":\"garbage\"}\nnot json\n";
    let evs = json_lines(&run_stdin(config, input));
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[0]["@timestamp"], "2024-05-01T10:34:56.000Z");
    assert_eq!(evs[0]["n"], 1.5);
    assert_eq!(evs[1]["tags"], serde_json::json!(["_dateparsefailure"]));
    assert_eq!(evs[2]["tags"], serde_json::json!(["_jsonparsefailure"]));
    assert_eq!(evs[2]["message"], "not json");
}

#[test]
fn invalid_utf8_is_kept_and_tagged() {
    let out = run_stdin(
        "input { stdin {} } output { stdout { codec => json_lines } }",
        b"ok\n\xffbad\n",
    );
    let evs = json_lines(&out);
    assert_eq!(evs.len(), 2);
    assert!(evs[0].get("tags").is_none());
    assert_eq!(evs[1]["message"], "\u{fffd}bad");
    assert_eq!(evs[1]["tags"], serde_json::json!(["_utf8parsefailure"]));
}

#[test]
fn generator_finishes_and_exits_zero_in_order() {
    let out = rstash()
        .args(["-w", "1", "-e", "input { generator { count => 500 lines => ['a','b'] } } output { stdout { codec => line { format => '%{sequence}-%{message}' } } }"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(lines[0], "0-a");
    assert_eq!(lines[1], "0-b");
    assert_eq!(lines[999], "499-b");
}

#[test]
fn sprintf_dates_and_env_in_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "input {{ stdin {{ add_field => {{ \"app\" => \"${{RSTASH_E2E_APP:fallback}}\" }} }} }} \
         filter {{ date {{ match => [\"message\", \"ISO8601\"] }} }} \
         output {{ file {{ path => \"{}/%{{app}}-%{{+YYYY.MM.dd}}.log\" }} }}",
        dir.path().display()
    );
    let mut child = rstash()
        .args(["-e", &config])
        .env("RSTASH_E2E_APP", "shop")
        .stdin(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"2024-05-01T10:00:00Z\n2024-05-02T10:00:00Z\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let a = std::fs::read_to_string(dir.path().join("shop-2024.05.01.log")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("shop-2024.05.02.log")).unwrap();
    let ev: Value = serde_json::from_str(a.trim()).unwrap();
    assert_eq!(ev["app"], "shop");
    assert_eq!(ev["@timestamp"], "2024-05-01T10:00:00.000Z");
    assert_eq!(b.lines().count(), 1);
}

#[test]
fn file_output_gzip_writes_what_gunzip_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.log.gz");
    let config = format!(
        "input {{ generator {{ count => 1000 }} }} output {{ file {{ path => \"{}\" gzip => true codec => line {{ format => \"%{{sequence}}\" }} }} }}",
        path.display()
    );
    let out = rstash().args(["-e", &config]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut text = String::new();
    let file = std::fs::File::open(&path).unwrap();
    std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(file), &mut text).unwrap();
    let mut seqs: Vec<u64> = text.lines().map(|l| l.parse().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>());
}

#[test]
fn config_directory_is_read_in_lexical_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("20-out.conf"),
        "output { stdout { codec => line { format => '%{step}' } } }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("10-filter.conf"),
        "filter { mutate { add_field => { 'step' => 'one' } } }",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("00-in.conf"),
        "input { generator { count => 1 } }",
    )
    .unwrap();
    let out = rstash()
        .args(["-f", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\n");
    let glob = format!("{}/*.conf", dir.path().display());
    let out = rstash().args(["-t", "-f", &glob]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn pipelines_yml_runs_each_pipeline() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("logstash.yml"), "pipeline.batch.size: 10\n").unwrap();
    std::fs::write(d.join("a.conf"), format!("input {{ generator {{ count => 5 message => 'A' }} }} output {{ file {{ path => '{}/a.out' }} }}", d.display())).unwrap();
    let pipelines = format!(
        "- pipeline.id: first\n  path.config: {}/a.conf\n- pipeline.id: second\n  pipeline.workers: 1\n  config.string: \"input {{ generator {{ count => 3 message => 'B' }} }} output {{ file {{ path => '{}/b.out' }} }}\"\n",
        d.display(),
        d.display()
    );
    std::fs::write(d.join("pipelines.yml"), pipelines).unwrap();
    let out = rstash()
        .args(["--path.settings", d.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(d.join("a.out"))
            .unwrap()
            .lines()
            .count(),
        5
    );
    assert_eq!(
        std::fs::read_to_string(d.join("b.out"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    assert!(out.stdout.is_empty(), "logs must not go to stdout");
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.log");
    let config = format!(
        "input {{ generator {{ }} }} output {{ file {{ path => '{}' }} }}",
        out.display()
    );
    let mut child = rstash()
        .args(["-e", &config])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("events in the file", Duration::from_secs(20), || {
        line_count(&out) > 1000
    });
    common::signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let text = std::fs::read_to_string(&out).unwrap();
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).expect("every line is a whole event");
        assert!(v["sequence"].is_i64());
    }
}

#[test]
fn reload_picks_up_changes_and_keeps_running_on_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("p.conf");
    let out = dir.path().join("out.log");
    let write = |msg: &str| {
        std::fs::write(&conf, format!("input {{ generator {{ message => '{msg}' }} }} filter {{ drop {{ percentage => 99 }} }} output {{ file {{ path => '{}' codec => line {{ format => '%{{message}}' }} }} }}", out.display())).unwrap()
    };
    write("first");
    let mut child = rstash()
        .args([
            "-r",
            "--config.reload.interval",
            "200ms",
            "-f",
            conf.to_str().unwrap(),
        ])
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let has = |s: &str| common::file_has(&out, s);
    wait_for("first events", Duration::from_secs(20), || has("first"));
    std::fs::write(&conf, "input { generator { message => 'broken' }").unwrap();
    wait_for(
        "the bad config to be refused",
        Duration::from_secs(20),
        || {
            common::file_has(
                &dir.path().join("stderr"),
                "new config not loaded, keeping the running one",
            )
        },
    );
    assert!(!has("broken"));
    write("second");
    wait_for("reloaded events", Duration::from_secs(20), || has("second"));
    common::signal(child.id(), "TERM");
    assert!(child.wait().unwrap().success());
}
