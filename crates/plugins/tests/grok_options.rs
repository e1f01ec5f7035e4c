//! The grok filter's options, each through a config like a user's, asserting the fields an
//! event ends up with.

use std::time::{Duration, Instant};

use rstash_config::{ast, parse, Source};
use rstash_event::{json, Event, FieldRef, Value};
use rstash_pipeline::{FilterNode, PipelineSettings};

fn build(body: &str) -> Result<FilterNode, String> {
    build_node(body)
}

fn build_err(body: &str) -> String {
    match build_node(body) {
        Ok(_) => panic!("config should be rejected: {body}"),
        Err(e) => e,
    }
}

fn build_node(body: &str) -> Result<FilterNode, String> {
    let src = Source::from_string(
        "test.conf",
        &format!("filter {{\n  grok {{\n{body}\n  }}\n}}\n"),
    );
    let cfg = parse(&src).map_err(|e| e.to_string())?;
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        return Err("no plugin".into());
    };
    rstash_plugins::registry()
        .build_filter(p, &src, &PipelineSettings::default())
        .map_err(|e| e.to_string())
}

fn run(body: &str, message: &str) -> Event {
    let f = build(body).unwrap_or_else(|e| panic!("{e}"));
    let mut e = Event::with_message(message);
    f.run(&mut e, &mut Vec::new());
    e
}

fn get(e: &Event, r: &str) -> String {
    e.get(&FieldRef::parse(r).unwrap())
        .map(json::value_to_string)
        .unwrap_or_else(|| "<absent>".into())
}

#[test]
fn seed_uvicorn_line_parses_into_the_seed_fields() {
    let e = run(
        r#"match => { "message" => "%{LOGLEVEL:log_level}:\s+%{IP:client_ip}:%{NUMBER:client_port} - \"%{WORD:http_method} %{URIPATH:request_path} HTTP/%{NUMBER:http_version}\" %{NUMBER:response_code} %{WORD:status_message}" }"#,
        r#"INFO:     127.0.0.1:54321 - "GET /deposit/100 HTTP/1.1" 200 OK"#,
    );
    assert_eq!(get(&e, "log_level"), "\"INFO\"");
    assert_eq!(get(&e, "client_ip"), "\"127.0.0.1\"");
    assert_eq!(get(&e, "client_port"), "\"54321\"");
    assert_eq!(get(&e, "http_method"), "\"GET\"");
    assert_eq!(get(&e, "request_path"), "\"/deposit/100\"");
    assert_eq!(get(&e, "http_version"), "\"1.1\"");
    assert_eq!(get(&e, "response_code"), "\"200\"");
    assert_eq!(get(&e, "status_message"), "\"OK\"");
    assert_eq!(get(&e, "tags"), "<absent>");
}

#[test]
fn werkzeug_line_with_greedydata() {
    let e = run(
        r#"match => { "message" => "%{IP:client_ip} - - \[%{DATA:ts}\] \"%{WORD:http_method} %{URIPATH:request_path} HTTP/%{NUMBER:http_version}\" %{NUMBER:response_code:int} %{GREEDYDATA:rest}" }"#,
        r#"127.0.0.1 - - [25/Nov/2026 10:00:00] "POST /withdraw/5 HTTP/1.1" 400 -"#,
    );
    assert_eq!(get(&e, "response_code"), "400");
    assert_eq!(get(&e, "rest"), "\"-\"");
    assert_eq!(get(&e, "ts"), "\"25/Nov/2026 10:00:00\"");
}

#[test]
fn break_on_match_false_applies_every_matching_pattern() {
    let body = r#"match => { "message" => ["%{WORD:first}", "%{INT:num:int}"] }"#;
    let e = run(body, "abc 42");
    assert_eq!(get(&e, "first"), "\"abc\"");
    assert_eq!(get(&e, "num"), "<absent>");
    let e = run(&format!("{body}\nbreak_on_match => false"), "abc 42");
    assert_eq!(get(&e, "first"), "\"abc\"");
    assert_eq!(get(&e, "num"), "42");
}

#[test]
fn capture_into_existing_string_makes_an_array_unless_overwritten() {
    let body = r#"match => { "message" => "%{WORD:verb} %{GREEDYDATA:message}" }"#;
    let e = run(body, "GET rest of line");
    assert_eq!(get(&e, "message"), r#"["GET rest of line","rest of line"]"#);
    let e = run(
        &format!("{body}\noverwrite => [\"message\"]"),
        "GET rest of line",
    );
    assert_eq!(get(&e, "message"), "\"rest of line\"");
}

#[test]
fn pattern_definitions_and_inline_groups() {
    let e = run(
        r#"pattern_definitions => { "ORDER" => "ORD-%{INT:[order][id]:int}" }
           match => { "message" => "%{ORDER} by (?<[user][name]>\w+)" }"#,
        "ORD-77 by alice",
    );
    assert_eq!(get(&e, "[order][id]"), "77");
    assert_eq!(get(&e, "[user][name]"), "\"alice\"");
}

#[test]
fn patterns_dir_loads_a_users_pattern_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("extra"),
        "# mine\nTICKET T-%{POSINT}\nQUEUE_NAME [a-z]+\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("ignored.txt"), "QUEUE_NAME [0-9]+\n").unwrap();
    let body = format!(
        r#"patterns_dir => ["{}"]
           patterns_files_glob => "extra"
           match => {{ "message" => "%{{TICKET:ticket}} in %{{QUEUE_NAME:queue}}" }}"#,
        dir.path().display()
    );
    let e = run(&body, "T-12 in support");
    assert_eq!(get(&e, "ticket"), "\"T-12\"");
    assert_eq!(get(&e, "queue"), "\"support\"");
}

#[test]
fn failure_tags_target_and_metadata() {
    let e = run(r#"match => { "message" => "^%{INT:n}$" }"#, "nope");
    assert_eq!(get(&e, "tags"), r#"["_grokparsefailure"]"#);
    let e = run(
        r#"match => { "message" => "^%{INT:n}$" } tag_on_failure => ["bad", "worse"]"#,
        "nope",
    );
    assert_eq!(get(&e, "tags"), r#"["bad","worse"]"#);
    let e = run(
        r#"match => { "message" => "%{INT:n:int}" } target => "parsed""#,
        "x 5",
    );
    assert_eq!(get(&e, "[parsed][n]"), "5");
    let e = run(
        r#"match => { "message" => "%{INT:[@metadata][n]}" }"#,
        "x 5",
    );
    assert_eq!(get(&e, "[@metadata][n]"), "\"5\"");
    assert_eq!(get(&e, "n"), "<absent>");
}

#[test]
fn add_tag_and_add_field_only_on_match() {
    let body = r#"match => { "message" => "^%{INT:n}$" } add_tag => ["parsed"] add_field => { "len" => "%{n}" }"#;
    let e = run(body, "7");
    assert_eq!(get(&e, "tags"), r#"["parsed"]"#);
    assert_eq!(get(&e, "len"), "\"7\"");
    let e = run(body, "x");
    assert_eq!(get(&e, "tags"), r#"["_grokparsefailure"]"#);
}

#[test]
fn empty_captures_and_named_captures_only() {
    let body = r#"match => { "message" => "a%{DATA:empty}b" }"#;
    assert_eq!(get(&run(body, "ab"), "empty"), "<absent>");
    let e = run(&format!("{body}\nkeep_empty_captures => true"), "ab");
    assert_eq!(get(&e, "empty"), "\"\"");
    let e = run(
        r#"match => { "message" => "%{WORD} %{INT}" } named_captures_only => false"#,
        "abc 5",
    );
    assert_eq!(get(&e, "WORD"), "\"abc\"");
    assert_eq!(get(&e, "INT"), "\"5\"");
}

#[test]
fn array_fields_are_matched_element_by_element() {
    let f = build(r#"match => { "codes" => "%{INT:code:int}" }"#).unwrap();
    let mut e = Event::new();
    e.set(
        &FieldRef::key("codes"),
        Value::Array(vec![Value::String("x".into()), Value::String("404".into())]),
    )
    .unwrap();
    f.run(&mut e, &mut Vec::new());
    assert_eq!(get(&e, "code"), "404");
    assert_eq!(get(&e, "tags"), "<absent>");
}

#[test]
fn ecs_mode_uses_ecs_names_and_types() {
    let line =
        r#"127.0.0.1 - - [11/Dec/2013:00:01:45 -0800] "GET /x HTTP/1.1" 200 3891 "-" "curl/8""#;
    let e = run(
        r#"match => { "message" => "%{COMBINEDAPACHELOG}" } ecs_compatibility => "v8""#,
        line,
    );
    assert_eq!(get(&e, "[http][response][status_code]"), "200");
    assert_eq!(get(&e, "[source][address]"), "\"127.0.0.1\"");
    assert_eq!(get(&e, "[http][request][referrer]"), "<absent>");
    let e = run(r#"match => { "message" => "%{COMBINEDAPACHELOG}" }"#, line);
    assert_eq!(get(&e, "response"), "\"200\"");
    assert_eq!(get(&e, "referrer"), "\"\\\"-\\\"\"");
}

#[test]
fn config_errors_name_the_pattern_and_the_location() {
    let err = build_err(r#"match => { "message" => "%{NOPE:x} %{INT}" }"#);
    assert!(
        err.contains("test.conf:3:") && err.contains("pattern %{NOPE:x} not defined"),
        "{err}"
    );
    let err = build_err(r#"match => { "message" => "(unclosed %{INT}" }"#);
    assert!(
        err.contains("test.conf:3:") && err.contains("invalid regex"),
        "{err}"
    );
    let err = build_err(
        r#"pattern_definitions => { "A" => "%{B}" "B" => "%{A}" } match => { "message" => "%{A}" }"#,
    );
    assert!(err.contains("refers to itself"), "{err}");
    let err = build_err("");
    assert!(err.contains("needs `match`"), "{err}");
}

#[test]
fn runaway_backtracking_is_tagged_and_bounded() {
    let body = r#"match => { "message" => "^(\w+\s?)+$" } timeout_millis => 100"#;
    let line = format!("{}!", "word ".repeat(40));
    let start = Instant::now();
    let e = run(body, &line);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(get(&e, "tags"), r#"["_groktimeout"]"#);
}

#[test]
fn huge_lines_and_unicode_are_handled() {
    let big = format!("{} 42", "x".repeat(10 * 1024 * 1024));
    let e = run(r#"match => { "message" => "%{INT:n:int}$" }"#, &big);
    assert_eq!(get(&e, "n"), "42");
    let e = run(
        r#"match => { "message" => "^%{UNIXPATH:p}$" }"#,
        "/opt/Čierný/中",
    );
    assert_eq!(get(&e, "p"), "\"/opt/Čierný/中\"");
    // \w is ASCII-only, as in Logstash.
    let e = run(r#"match => { "message" => "^%{WORD:w}$" }"#, "été");
    assert_eq!(get(&e, "tags"), r#"["_grokparsefailure"]"#);
}

fn keys(e: &Event) -> Vec<String> {
    e.data().keys().map(|k| k.to_string()).collect()
}

#[test]
fn the_matched_field_keeps_its_text_and_its_place() {
    // Captures into other fields: the text is matched where it is and stays whole, in its place.
    let body = r#"match => { "message" => "%{WORD:verb} %{NOTSPACE:path}" }"#;
    let e = run(body, "GET /x?q=1");
    assert_eq!(get(&e, "message"), "\"GET /x?q=1\"");
    assert_eq!(
        keys(&e),
        ["@timestamp", "@version", "message", "verb", "path"]
    );
    let e = run(body, "nothing-to-see");
    assert_eq!(get(&e, "message"), "\"nothing-to-see\"");
    assert_eq!(get(&e, "tags"), r#"["_grokparsefailure"]"#);
    assert_eq!(keys(&e), ["@timestamp", "@version", "message", "tags"]);

    // Captures beside the matched field, under the same parent.
    let f =
        build(r#"match => { "[log][line]" => "%{WORD:[log][level]} %{GREEDYDATA:[log][rest]}" }"#)
            .unwrap();
    let mut e = Event::new();
    e.set(
        &FieldRef::parse("[log][line]").unwrap(),
        "WARN disk full".into(),
    )
    .unwrap();
    f.run(&mut e, &mut Vec::new());
    assert_eq!(
        get(&e, "log"),
        r#"{"line":"WARN disk full","level":"WARN","rest":"disk full"}"#
    );

    // The same text in two patterns without break_on_match: both see it whole.
    let e = run(
        r#"match => { "message" => ["%{WORD:a}", "%{WORD} %{WORD:b}"] } break_on_match => false"#,
        "one two",
    );
    assert_eq!(get(&e, "a"), "\"one\"");
    assert_eq!(get(&e, "b"), "\"two\"");
    assert_eq!(get(&e, "message"), "\"one two\"");
}
