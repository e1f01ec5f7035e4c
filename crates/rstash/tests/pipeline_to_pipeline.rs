//! Pipeline-to-pipeline through pipelines.yml: the distributor pattern (one intake pipeline
//! routing to two by a conditional), events counted at each end, rstash exiting by itself once
//! the senders finished; and the errors a config can make.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::lines;

#[test]
fn distributor_pattern_delivers_every_event_to_its_pipeline_and_exits() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
    fs::write(
        dir.join("pipelines.yml"),
        format!(
            r#"- pipeline.id: intake
  config.string: |
    input {{ generator {{ count => 1500 lines => ["alpha one", "beta two"] }} }}
    filter {{ grok {{ match => {{ "message" => "%{{WORD:kind}} %{{WORD:n}}" }} }} }}
    output {{
      if [kind] == "alpha" {{ pipeline {{ send_to => ["alpha"] }} }}
      else {{ pipeline {{ send_to => "beta" }} }}
    }}
- pipeline.id: alpha
  config.string: |
    input {{ pipeline {{ address => "alpha" add_field => {{ "via" => "alpha" }} }} }}
    output {{ file {{ path => "{}" }} }}
- pipeline.id: beta
  queue.type: persisted
  path.queue: "{}"
  config.string: |
    input {{ pipeline {{ address => "beta" }} }}
    filter {{ mutate {{ add_tag => ["beta"] }} }}
    output {{ file {{ path => "{}" }} }}
"#,
            a.display(),
            dir.join("queue").display(),
            b.display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .args([
            "--path.settings",
            dir.to_str().unwrap(),
            "--api.enabled",
            "false",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let (a, b) = (lines(&a), lines(&b));
    assert_eq!(a.len(), 1500, "{err}");
    assert_eq!(b.len(), 1500);
    assert!(a
        .iter()
        .all(|e| e["kind"] == "alpha" && e["via"] == "alpha"));
    assert!(b
        .iter()
        .all(|e| e["kind"] == "beta" && e["tags"][0] == "beta"));
    // Each sequence number once per branch.
    let seqs: std::collections::HashSet<i64> =
        a.iter().map(|e| e["sequence"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 1500);
    // The senders finished before the receivers, so the persisted queue ends empty.
    let check = Command::new(common::sibling_bin("rstash-queue"))
        .args(["check", dir.join("queue/beta").to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(report.contains("0 events not yet acknowledged"), "{report}");
}

#[test]
fn config_errors_name_the_option() {
    let run = |cfg: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_rstash"))
            .args(["-t", "-e", cfg])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, err) = run("input { pipeline {} } output { null {} }");
    assert!(!ok && err.contains("address"), "{err}");
    let (ok, err) = run("input { stdin {} } output { pipeline { } }");
    assert!(!ok && err.contains("send_to"), "{err}");
    let (ok, _) = run("input { pipeline { address => xx } } output { pipeline { send_to => [yy, zz] ensure_delivery => false } }");
    assert!(ok);
}
