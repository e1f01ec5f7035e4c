//! The grok conformance suite: every case of ../shared/conformance/grok (Logstash's own pattern
//! specs, with Logstash's results) through the real filter, built from a config like a user's.

mod common;

use std::path::PathBuf;

use common::lookup;

use rstash_event::{Event, FieldRef, Value};
use serde_json::Value as Json;

fn suite_dir() -> Option<PathBuf> {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/grok");
    d.is_dir().then_some(d)
}

/// Builds the grok filter from config text, as the pipeline does.
fn filter_for(case: &Json) -> Result<rstash_pipeline::FilterNode, String> {
    let pattern = case["pattern"].as_str().unwrap_or_default();
    let ecs = if case["ecs"].as_bool() == Some(true) {
        "v1"
    } else {
        "disabled"
    };
    let mut extra = String::new();
    if let Some(Json::Object(o)) = case.get("options") {
        for (k, v) in o {
            extra.push_str(&format!(" {k} => {v}"));
        }
    }
    let field = case["field"].as_str().unwrap_or("message");
    common::build(&format!(
        "grok {{ match => {{ \"{field}\" => \"{pattern}\" }} ecs_compatibility => \"{ecs}\"{extra} }}"
    ))
}

fn has_tag(e: &Event, tag: &str) -> bool {
    matches!(e.get(&FieldRef::key("tags")), Some(Value::Array(a)) if a.iter().any(|t| t.as_str() == Some(tag)))
}

/// The direct child key of `parent` that `child` names, when `child` lies under it.
fn child_key(parent: &str, child: &str) -> Option<String> {
    let bracket = |s: &str| {
        if s.starts_with('[') {
            s.to_string()
        } else {
            format!("[{s}]")
        }
    };
    let (p, c) = (bracket(parent), bracket(child));
    let rest = c.strip_prefix(&p)?.strip_prefix('[')?;
    Some(rest[..rest.find(']')?].to_string())
}

/// Runs one case; `Err` says what differs from Logstash.
fn run(case: &Json) -> Result<(), String> {
    let node = filter_for(case)?;
    let input = case["input"].as_str().unwrap_or_default();
    let field = case["field"].as_str().unwrap_or("message");
    // A new event as Logstash makes it: @timestamp and @version "1".
    let mut e = Event::new();
    e.set(
        &FieldRef::parse(field).map_err(|x| x.0)?,
        Value::String(input.into()),
    )
    .map_err(|x| x.to_string())?;
    node.run(&mut e, &mut Vec::new());
    let failed = has_tag(&e, "_grokparsefailure") || has_tag(&e, "_groktimeout");
    let expect = &case["expect"];
    if expect.is_null() {
        return if failed {
            Ok(())
        } else {
            Err("matched, Logstash does not".into())
        };
    }
    if failed {
        return Err("did not match".into());
    }
    let Some(expect) = expect.as_object() else {
        return Ok(());
    };
    for (k, want) in expect {
        match lookup(&e, k) {
            Some(got) if &got == want => {}
            got => return Err(format!("{k}: want {want}, got {got:?}")),
        }
    }
    for k in case["absent"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
    {
        if let Some(got) = lookup(&e, k) {
            return Err(format!("{k} should be absent, is {got}"));
        }
    }
    for parent in case["exact_objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Json::as_str)
    {
        let mut want: Vec<String> = expect.keys().filter_map(|k| child_key(parent, k)).collect();
        want.sort();
        want.dedup();
        let mut got: Vec<String> = match lookup(&e, parent) {
            Some(Json::Object(o)) => o.keys().cloned().collect(),
            other => return Err(format!("{parent} should be an object, is {other:?}")),
        };
        got.sort();
        if got != want {
            return Err(format!("{parent} keys: want {want:?}, got {got:?}"));
        }
    }
    if let Some(Json::Object(c)) = case.get("contains") {
        for (k, values) in c {
            let got = lookup(&e, k);
            for v in values.as_array().into_iter().flatten() {
                if !matches!(&got, Some(Json::Array(a)) if a.contains(v)) {
                    return Err(format!("{k} should contain {v}, is {got:?}"));
                }
            }
        }
    }
    if let Some(Json::Object(n)) = case.get("not_expect") {
        for (k, v) in n {
            if lookup(&e, k).as_ref() == Some(v) {
                return Err(format!("{k} should not be {v}"));
            }
        }
    }
    for check in case["string_checks"].as_array().into_iter().flatten() {
        let k = check["field"].as_str().unwrap_or_default();
        let got = lookup(&e, k);
        let s = got.as_ref().and_then(Json::as_str).unwrap_or_default();
        let v = &check["value"];
        let vs = v.as_str().unwrap_or_default();
        let ok = match check["op"].as_str().unwrap_or_default() {
            "contains" => s.contains(vs),
            "not_contains" => !s.contains(vs),
            "starts_with" => s.starts_with(vs),
            "ends_with" => s.ends_with(vs),
            "not_ends_with" => !s.ends_with(vs),
            "to_i_equals" => {
                let n: i64 = s
                    .bytes()
                    .take_while(u8::is_ascii_digit)
                    .fold(0, |a, d| a * 10 + i64::from(d - b'0'));
                got.as_ref().and_then(Json::as_i64).or(Some(n)) == v.as_i64()
            }
            op => return Err(format!("unknown check {op}")),
        };
        if !ok {
            return Err(format!("{k} {} {v}: is {got:?}", check["op"]));
        }
    }
    Ok(())
}

#[test]
fn grok_conformance() {
    let Some(dir) = suite_dir() else {
        panic!("conformance suite not found next to the repository (../shared/conformance/grok)");
    };
    let mut cases = Vec::new();
    for file in ["cases.jsonl", "match_only.jsonl"] {
        let text = std::fs::read_to_string(dir.join(file)).expect("read suite");
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Json = serde_json::from_str(line).expect("valid JSON case");
            cases.push((format!("{file}:{}", n + 1), case));
        }
    }
    let mut failures = Vec::new();
    for (at, case) in &cases {
        if let Err(why) = run(case) {
            failures.push(format!(
                "{at} [{}] {}: {why}",
                case["mode"].as_str().unwrap_or("?"),
                case["pattern"].as_str().unwrap_or("?")
            ));
        }
    }
    let passed = cases.len() - failures.len();
    common::report(&format!(
        "grok conformance: {passed} passed, {} failed",
        failures.len()
    ));
    for f in &failures {
        eprintln!("  FAIL {f}");
    }
    assert!(
        passed * 100 >= cases.len() * 99,
        "{passed}/{} cases pass, below 99%",
        cases.len()
    );
}
