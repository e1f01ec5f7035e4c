//! The filter conformance set: cases taken from the official Logstash filter plugins' RSpec files
//! (`tests/data/filter-conformance/<filter>.jsonl`, sources in its SOURCES.md), each the spec's
//! config, input event and asserted fields, run through the real filter built from config text as
//! a pipeline builds it. Prints `filter conformance: N passed, N failed` per filter and in all.
//!
//! A case may carry `known_difference`: why rstash differs on purpose (the reason is printed; such
//! a case must still differ, so a fix is noticed). Every other case must pass.

use std::path::PathBuf;

mod common;

use common::{build, lookup, report};
use rstash_event::{json, Event, FieldRef, Value};
use serde_json::Value as Json;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/filter-conformance")
}

fn tags(e: &Event) -> Vec<String> {
    match e.get(&FieldRef::key("tags")) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn strs(case: &Json, key: &str) -> Vec<String> {
    case[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// The GeoLite2 databases scripts/install-peers.sh puts under .peers/.
fn geoip_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.peers/geoip")
}

/// A new event with the case's fields, as Logstash's `Event.new` makes it (`@version`, and
/// `@timestamp` now unless given: a given one is parsed).
fn event(fields: &Json) -> Result<Event, String> {
    match json::parse(fields.to_string().as_bytes()).map_err(|x| x.to_string())? {
        Value::Object(m) => Ok(Event::from_map(m)),
        other => Err(format!("an event must be an object, not {other:?}")),
    }
}

/// Runs one case; `Err` says what differs from Logstash.
fn run(case: &Json) -> Result<(), String> {
    // `$FIXTURES`: the dictionaries and other files a case's config names.
    let fixtures = data_dir().join("fixtures");
    let config = case["config"]
        .as_str()
        .unwrap_or_default()
        .replace("$FIXTURES", &fixtures.to_string_lossy())
        .replace("$GEOIP", &geoip_dir().to_string_lossy());
    let config = config.as_str();
    let node = match build(config) {
        Ok(_) if case["error"] == true => return Err(format!("accepted `{config}`")),
        Ok(n) => n,
        Err(_) if case["error"] == true => return Ok(()),
        Err(e) => return Err(format!("refused `{config}`: {e}")),
    };
    // Events the spec runs through the same filter first (csv's header line).
    for before in case["before"].as_array().into_iter().flatten() {
        node.run(&mut event(before)?, &mut Vec::new());
    }
    let mut e = event(&case["event"])?;
    let mut emitted = Vec::new();
    node.run(&mut e, &mut emitted);
    // Filters that make events (split, clone): what leaves, in order, one expectation each.
    if let Some(outputs) = case["outputs"].as_array() {
        let out: Vec<&Event> = std::iter::once(&e)
            .filter(|e| !e.is_cancelled())
            .chain(emitted.iter())
            .collect();
        if out.len() != outputs.len() {
            return Err(format!("{} events out, want {}", out.len(), outputs.len()));
        }
        for (i, (got, want)) in out.iter().zip(outputs).enumerate() {
            for (k, v) in want.as_object().into_iter().flatten() {
                let have = lookup(got, k);
                if have.as_ref() != Some(v) {
                    return Err(format!("event {i}: {k}: want {v}, got {have:?}"));
                }
            }
        }
    }
    if let Some(want) = case["cancelled"].as_bool() {
        if e.is_cancelled() != want {
            return Err(format!("cancelled: want {want}, got {}", e.is_cancelled()));
        }
    }
    for (k, want) in case["expect"].as_object().into_iter().flatten() {
        match lookup(&e, k) {
            Some(got) if &got == want => {}
            got => return Err(format!("{k}: want {want}, got {got:?}")),
        }
    }
    for k in strs(case, "absent") {
        if let Some(got) = lookup(&e, &k) {
            return Err(format!("{k} should be absent, is {got}"));
        }
    }
    let have = tags(&e);
    for t in strs(case, "tags") {
        if !have.contains(&t) {
            return Err(format!("tags should include {t}, are {have:?}"));
        }
    }
    for t in strs(case, "no_tags") {
        if have.contains(&t) {
            return Err(format!("tags should not include {t}, are {have:?}"));
        }
    }
    Ok(())
}

#[test]
fn filter_conformance() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("tests/data/filter-conformance")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let (mut passed, mut failed, mut known) = (0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        let text = std::fs::read_to_string(f).expect("readable case file");
        let (mut p, mut n) = (0, 0);
        for (i, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let case: Json = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{name}.jsonl:{}: {e}", i + 1));
            let title = case["name"].as_str().unwrap_or("?").to_string();
            match (run(&case), case["known_difference"].as_str()) {
                (Ok(()), None) => p += 1,
                (Err(why), Some(reason)) => {
                    known += 1;
                    println!("  known difference: {name}: {title}: {reason} ({why})");
                }
                (Ok(()), Some(_)) => {
                    n += 1;
                    failures.push(format!(
                        "{name}: {title}: passes now; drop its known_difference"
                    ));
                }
                (Err(why), None) => {
                    n += 1;
                    failures.push(format!("{name}: {title}: {why}"));
                }
            }
        }
        report(&format!(
            "filter conformance {name}: {p} passed, {n} failed"
        ));
        passed += p;
        failed += n;
    }
    report(&format!(
        "filter conformance: {passed} passed, {failed} failed, {known} known differences"
    ));
    assert!(passed > 0, "no cases found");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
