//! The ruby filter through the `rstash` binary: users' snippets and script files run in embedded
//! CRuby with Logstash's event API; exceptions and endless loops tag the event and the pipeline
//! goes on. Without the `ruby` feature, configs using it are refused with a clear message.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[cfg(feature = "ruby")]
use serde_json::{json, Value};

fn data() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ruby"))
}

fn rstash(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .current_dir(data())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn rstash");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `filters` on stdin lines, one worker, and returns the events as JSON.
#[cfg(feature = "ruby")]
fn run(filters: &str, input: &str) -> (Vec<Value>, String) {
    let config = format!(
        "input {{ stdin {{}} }} filter {{ {filters} }} output {{ stdout {{ codec => json_lines }} }}"
    );
    let out = rstash(&["-w", "1", "-e", &config], input);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "rstash failed: {stderr}");
    let events = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect(l))
        .collect();
    (events, stderr)
}

#[cfg(not(feature = "ruby"))]
#[test]
fn without_the_feature_ruby_configs_are_refused() {
    let out = rstash(
        &[
            "-t",
            "-e",
            "input { stdin {} } filter { ruby { code => 'x' } }",
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("built without ruby"), "{err}");
    assert!(err.contains("config string:1:"), "{err}");
}

#[cfg(feature = "ruby")]
#[test]
fn inline_code_uses_the_event_api() {
    let code = r#"
      init => '@seen = 0'
      code => '
        @seen += 1
        event.set("[parsed][upper]", event.get("message").upcase)
        event.set("seen", @seen)
        event.set("types", { "i" => 1, "f" => 2.5, "n" => nil, "t" => true, "a" => [1, "x"], "s" => :sym })
        event.set("has_message", event.include?("message"))
        event.set("has_nothing", event.include?("[no][such]"))
        event.set("[@metadata][secret]", "m")
        event.set("from_meta", event.get("[@metadata][secret]"))
        event.set("epoch", event.timestamp.to_i)
        event.set("line", event.sprintf("%{message}!"))
        event.set("keys", event.to_hash.keys.sort)
        event.remove("host")
        event.tag("rubied")
      '
      add_tag => ["matched"]
    "#;
    let (events, _) = run(&format!("ruby {{ {code} }}"), "one\ntwo\n");
    assert_eq!(events.len(), 2);
    let mut by_msg: Vec<&Value> = events.iter().collect();
    by_msg.sort_by_key(|e| e["message"].as_str().unwrap().to_string());
    let e = by_msg[0];
    assert_eq!(e["message"], "one");
    assert_eq!(e["parsed"], json!({"upper": "ONE"}));
    assert_eq!(
        e["types"],
        json!({"i": 1, "f": 2.5, "n": null, "t": true, "a": [1, "x"], "s": "sym"})
    );
    assert_eq!(e["has_message"], true);
    assert_eq!(e["has_nothing"], false);
    assert_eq!(e["from_meta"], "m");
    assert!(e.get("@metadata").is_none());
    assert!(e.get("host").is_none());
    assert_eq!(e["line"], "one!");
    assert_eq!(
        e["keys"],
        json!([
            "@timestamp",
            "@version",
            "epoch",
            "from_meta",
            "has_message",
            "has_nothing",
            "host",
            "line",
            "message",
            "parsed",
            "seen",
            "types"
        ])
    );
    assert!(e["epoch"].as_i64().unwrap() > 1_700_000_000);
    assert_eq!(e["tags"], json!(["rubied", "matched"]));
    // `init`'s instance variable lives across events: the second line saw 2.
    let seen: Vec<i64> = events.iter().map(|e| e["seen"].as_i64().unwrap()).collect();
    assert_eq!(seen, vec![1, 2]);
}

#[cfg(feature = "ruby")]
#[test]
fn timestamps_cross_between_ruby_and_the_event() {
    let code = r#"code => '
        t = LogStash::Timestamp.at(1700000000, 123456)
        event.set("copy", t)
        event.timestamp = t
        event.set("iso", t.to_iso8601)
        event.set("from_time", Time.at(0).utc)
        event.set("later", (event.timestamp + 60).to_i)
        event.set("is_ts", event.get("copy").is_a?(LogStash::Timestamp))
    '"#;
    let (events, _) = run(&format!("ruby {{ {code} }}"), "x\n");
    let e = &events[0];
    assert_eq!(e["@timestamp"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(e["copy"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(e["iso"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(e["from_time"], "1970-01-01T00:00:00.000Z");
    assert_eq!(e["later"], 1_700_000_060);
    assert_eq!(e["is_ts"], true);
}

#[cfg(feature = "ruby")]
#[test]
fn new_events_continue_through_later_filters_and_cancel_drops() {
    let filters = r#"
      ruby {
        code => 'c = event.clone; c.set("copy", true); new_event_block.call(c); event.cancel if event.get("message") == "drop"'
        add_field => { "matched" => "yes" }
      }
      mutate { add_field => { "after" => "%{message}" } }
    "#;
    let (events, _) = run(filters, "keep\ndrop\n");
    let mut summary: Vec<(String, bool, bool, bool)> = events
        .iter()
        .map(|e| {
            (
                e["message"].as_str().unwrap().to_string(),
                e.get("copy").is_some(),
                e.get("matched").is_some(),
                e["after"] == e["message"],
            )
        })
        .collect();
    summary.sort();
    // The originals get add_field (unless dropped); the clones do not, as in Logstash; all of
    // them go through the mutate that follows.
    assert_eq!(
        summary,
        vec![
            ("drop".into(), true, false, true),
            ("keep".into(), false, true, true),
            ("keep".into(), true, false, true),
        ]
    );
}

#[cfg(feature = "ruby")]
#[test]
fn exceptions_tag_the_event_and_the_pipeline_goes_on() {
    let filters = r#"
      ruby {
        code => 'raise ArgumentError, "bad #{event.get("message")}" if event.get("message").start_with?("b"); event.set("ok", 1)'
        tag_with_exception_message => true
        add_tag => ["matched"]
      }
      ruby { code => 'event["old_api"] = 1' tag_on_exception => "_old" }
      ruby { code => 'event.set("obj", Object.new)' tag_on_exception => "_type" }
    "#;
    let (events, stderr) = run(filters, "bad1\ngood\n");
    let mut events = events;
    events.sort_by_key(|e| e["message"].as_str().unwrap().to_string());
    assert_eq!(
        events[0]["tags"],
        json!([
            "_rubyexception",
            "_rubyexception: bad bad1",
            "_old",
            "_type"
        ])
    );
    assert!(events[0].get("ok").is_none());
    assert_eq!(events[1]["tags"], json!(["matched", "_old", "_type"]));
    assert_eq!(events[1]["ok"], 1);
    assert!(stderr.contains("Ruby exception occurred: ArgumentError: bad bad1"));
    assert!(stderr.contains("Direct event field references"));
    assert!(stderr.contains("Missing Ruby class handling for full class name=Object"));
}

#[cfg(feature = "ruby")]
#[test]
fn an_endless_loop_is_interrupted_and_tagged() {
    let filters = r#"
      ruby { code => 'loop { } if event.get("message") == "spin"; event.set("ran", true)' timeout => 0.5 }
    "#;
    let start = std::time::Instant::now();
    let (mut events, stderr) = run(filters, "spin\nfine\n");
    events.sort_by_key(|e| e["message"].as_str().unwrap().to_string());
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["message"], "spin");
    assert_eq!(events[1]["tags"], json!(["_rubyexception"]));
    assert!(events[1].get("ran").is_none());
    assert_eq!(events[0]["ran"], true);
    assert!(
        stderr.contains("ran for more than 0.5 s and was interrupted"),
        "{stderr}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}

#[cfg(feature = "ruby")]
#[test]
fn script_files_register_filter_and_test() {
    let filters = r#"
      ruby { path => "words.rb" script_params => { "field" => "message" } add_tag => ["never"] }
    "#;
    let (events, stderr) = run(filters, "a b\n");
    let mut words: Vec<&str> = events
        .iter()
        .filter_map(|e| e.get("word").and_then(Value::as_str))
        .collect();
    words.sort();
    assert_eq!(words, vec!["a", "b"]);
    let original = events.iter().find(|e| e["message"] == "a b").unwrap();
    assert_eq!(original["word_count"], 2);
    // add_tag is not applied after file scripts (Logstash's file_script skips filter_matched).
    assert!(original.get("tags").is_none());
    assert!(
        stderr.contains("Test run complete: 2 passed, 0 failed"),
        "{stderr}"
    );

    // `keep => false`: the original is left out of the results, so it is dropped.
    let filters =
        r#"ruby { path => "words.rb" script_params => { "field" => "message" "keep" => false } }"#;
    let (events, _) = run(filters, "x y z\n");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.get("word").is_some()));
}

#[cfg(feature = "ruby")]
#[test]
fn bad_scripts_are_refused_at_startup() {
    let cases = [
        (
            r#"filter { ruby { path => "broken_test.rb" } }"#,
            "had 1 failing tests",
        ),
        (
            r#"filter { ruby { path => "no_filter.rb" } }"#,
            "Script does not define a filter!",
        ),
        (
            r#"filter { ruby { path => "missing.rb" } }"#,
            "No such file or directory",
        ),
        (
            r#"filter {
  ruby { code => 'event.set(' }
}"#,
            "config string:2:10",
        ),
        (
            r#"filter { ruby { code => 'x' path => "words.rb" } }"#,
            "You must either use an inline script",
        ),
        (
            r#"filter { ruby { init => 'raise "no"' code => 'x' } }"#,
            "no",
        ),
    ];
    for (config, want) in cases {
        let config = format!("input {{ stdin {{}} }} {config}");
        // A script file is loaded at start, which -t (as Logstash's) does not do: a warning.
        let file_only = config.contains("path =>") && !config.contains("code =>");
        let out = rstash(&["-t", "-e", &config], "");
        let err = String::from_utf8_lossy(&out.stderr);
        if file_only {
            assert!(out.status.success(), "{config}: {err}");
            assert!(
                err.lines()
                    .any(|l| l.starts_with("warning: ") && l.contains(want)),
                "{config}: wanted a warning with {want:?} in {err}"
            );
            let out = rstash(&["-e", &config], "");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{config} started");
            assert!(err.contains(want), "{config}: wanted {want:?} in {err}");
        } else {
            assert!(!out.status.success(), "{config} passed");
            assert!(err.contains(want), "{config}: wanted {want:?} in {err}");
        }
    }
}

/// Logstash's first aggregate example: a task's start, updates and end, with map_action.
#[cfg(feature = "ruby")]
#[test]
fn aggregate_sums_a_task_across_events() {
    let filters = r#"
      dissect { mapping => { "message" => "%{taskid} %{logger} %{duration}" } }
      if [logger] == "START" {
        aggregate { task_id => "%{taskid}" code => "map['sql_duration'] = 0" map_action => "create" }
      }
      if [logger] == "SQL" {
        aggregate { task_id => "%{taskid}" code => "map['sql_duration'] += event.get('duration').to_i" map_action => "update" }
      }
      if [logger] == "END" {
        aggregate {
          task_id => "%{taskid}"
          code => "event.set('sql_duration', map['sql_duration']); event.set('meta_task', map_meta.task_id)"
          map_action => "update"
          end_of_task => true
          add_tag => ["summed"]
        }
      }
      if [logger] == "BAD" {
        aggregate { task_id => "%{taskid}" code => "map['x'] = 1 / 0" }
      }
    "#;
    let input = "t1 START 0\nt1 SQL 12\nt2 SQL 99\nt1 SQL 30\nt1 END 0\nt3 SQL 5\nt9 BAD 0\n";
    let (events, stderr) = run(filters, input);
    let end = events.iter().find(|e| e["logger"] == "END").unwrap();
    assert_eq!(end["sql_duration"], 42);
    assert_eq!(end["meta_task"], "t1");
    assert_eq!(end["tags"], json!(["summed"]));
    let bad = events.iter().find(|e| e["logger"] == "BAD").unwrap();
    assert_eq!(bad["tags"], json!(["_aggregateexception"]));
    assert!(stderr.contains("divided by 0"), "{stderr}");
    assert_eq!(events.len(), 7);
}

/// Maps pushed as events: on timeout (the 5 s flusher) and, for the last one, at shutdown.
#[cfg(feature = "ruby")]
#[test]
fn aggregate_pushes_maps_as_events() {
    let filters = r#"
      dissect { mapping => { "message" => "%{user} %{n}" } }
      aggregate {
        task_id => "%{user}"
        code => "map['total'] ||= 0; map['total'] += event.get('n').to_i; event.cancel"
        push_map_as_event_on_timeout => true
        timeout => 1
        timeout_task_id_field => "user"
        timeout_tags => ["_aggregatetimeout"]
        timeout_code => "event.set('several', event.get('total') > 5)"
      }
      if "_aggregatetimeout" in [tags] { mutate { add_field => { "seen_after" => "%{user}" } } }
    "#;
    // stdin stays open past the first periodic flush (5 s), then closes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "-w",
            "1",
            "-e",
            &format!(
                "input {{ stdin {{}} }} filter {{ {filters} }} output {{ stdout {{ codec => json_lines }} }}"
            ),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"ann 2\nbob 7\nann 3\n").unwrap();
    stdin.flush().unwrap();
    // The timed-out maps come out of the periodic flush while stdin is still open (after it
    // closes they would be the final flush's): wait for both on stdout, then close it.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    while lines.len() < 2 {
        match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(l) => lines.push(l),
            Err(e) => panic!("the periodic flush did not push both maps ({e}): {lines:?}"),
        }
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    lines.extend(rx.iter());
    let mut events: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    events.sort_by_key(|e| e["user"].as_str().unwrap().to_string());
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["user"], "ann");
    assert_eq!(events[0]["total"], 5);
    assert_eq!(events[0]["several"], false);
    assert_eq!(events[0]["tags"], json!(["_aggregatetimeout"]));
    assert_eq!(events[0]["seen_after"], "ann");
    assert_eq!(events[1]["total"], 7);
    assert_eq!(events[1]["several"], true);

    // push_previous_map_as_event: a new task pushes the previous map; the last one is pushed
    // by the final flush at shutdown, tagged _aggregatefinalflush.
    let filters = r#"
      dissect { mapping => { "message" => "%{country} %{town}" } }
      aggregate {
        task_id => "%{country}"
        code => "map['country'] ||= event.get('country'); (map['towns'] ||= []) << event.get('town'); event.cancel"
        push_previous_map_as_event => true
        timeout => 60
      }
    "#;
    let (events, _) = run(filters, "fr paris\nfr lyon\nde berlin\n");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["towns"], json!(["paris", "lyon"]));
    assert!(events[0].get("tags").is_none());
    assert_eq!(events[1]["towns"], json!(["berlin"]));
    assert_eq!(events[1]["tags"], json!(["_aggregatefinalflush"]));
}

/// `aggregate_maps_path`: maps still open at shutdown are stored, and picked up by the next run.
#[cfg(feature = "ruby")]
#[test]
fn aggregate_maps_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("maps");
    let filters = format!(
        r#"aggregate {{ task_id => "%{{message}}" code => "map['n'] ||= 0; map['n'] += 1; event.set('n', map['n'])" aggregate_maps_path => "{}" }}"#,
        path.display()
    );
    let (events, _) = run(&filters, "job\njob\n");
    assert_eq!(events.len(), 2);
    assert!(path.exists());
    let (events, stderr) = run(&filters, "job\n");
    assert_eq!(events[0]["n"], 3);
    assert!(stderr.contains("Aggregate maps loaded"));
}

#[cfg(feature = "ruby")]
#[test]
fn aggregate_config_mistakes_are_refused() {
    let cases = [
        (
            r#"aggregate { task_id => "static" code => "" }"#,
            "must contain a dynamic expression like '%{field}'",
        ),
        (
            r#"aggregate { task_id => "%{a}" code => "" timeout => 10 }
               aggregate { task_id => "%{a}" code => "" push_map_as_event_on_timeout => true }"#,
            "there are more than one filter which defines timeout options",
        ),
        (
            r#"aggregate { task_id => "%{a}" code => "" timeout => 10 inactivity_timeout => 20 }"#,
            "inactivity_timeout must be lower than timeout",
        ),
        (r#"aggregate { code => "" }"#, "needs `task_id`"),
        (
            r#"aggregate { task_id => "%{a}" code => "map[" }"#,
            "SyntaxError",
        ),
    ];
    for (filters, want) in cases {
        let config = format!("input {{ stdin {{}} }} filter {{ {filters} }}");
        let out = rstash(&["-t", "-e", &config], "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{config} passed");
        assert!(err.contains(want), "{config}: wanted {want:?} in {err}");
    }
}
