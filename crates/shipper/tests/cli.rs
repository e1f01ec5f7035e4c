//! rbeat's command line, as an operator meets it (the end-to-end shipping tests, which also need
//! rstash, are in crates/rstash/tests/ship.rs).

use std::process::Command;

fn rbeat(args: &[&str], dir: &std::path::Path) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_rbeat"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run rbeat");
    let text =
        String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    (o.status.success(), text)
}

#[test]
fn version_and_a_missing_config() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = rbeat(&["version"], dir.path());
    assert!(
        ok && text.contains("compatible with filebeat 8.1.3"),
        "{text}"
    );
    // The default config file is ./filebeat.yml.
    let (ok, text) = rbeat(&["test", "config"], dir.path());
    assert!(
        !ok && text.contains("cannot read config file") && text.contains("filebeat.yml"),
        "{text}"
    );
}

#[test]
fn overrides_apply_on_top_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("filebeat.yml"),
        "filebeat.inputs:\n  - type: log\n    paths: [/tmp/*.log]\noutput.console.enabled: false\n",
    )
    .unwrap();
    let (ok, text) = rbeat(&["test", "config"], dir.path());
    assert!(!ok && text.contains("no output is configured"), "{text}");
    let (ok, text) = rbeat(
        &["test", "config", "-E", "output.console.enabled=true"],
        dir.path(),
    );
    assert!(ok && text.contains("Config OK"), "{text}");
    let (ok, text) = rbeat(
        &[
            "test",
            "config",
            "-E",
            "output.logstash.hosts=[\"a:5044\"]",
            "-E",
            "output.console.enabled=true",
        ],
        dir.path(),
    );
    assert!(
        !ok && text.contains("only one output can be enabled"),
        "{text}"
    );
}

#[test]
fn environment_variable_references_resolve_as_in_filebeat() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("filebeat.yml"),
        "filebeat.inputs:\n  - type: log\n    paths: [\"${LOG_DIR:/var/log}/*.log\"]\n    harvester_limit: \"${LIMIT}\"\n\
         output.logstash:\n  enabled: ${SHIP:false}\n  hosts: ${HOSTS:?list the Logstash hosts}\n  worker: \"${WORKERS}\"\n\
         output.console.enabled: ${CONSOLE:false}\n",
    )
    .unwrap();
    let run = |env: &[(&str, &str)]| {
        let o = Command::new(env!("CARGO_BIN_EXE_rbeat"))
            .args(["test", "config"])
            .current_dir(dir.path())
            .env_clear()
            .envs(env.iter().copied())
            .output()
            .expect("run rbeat");
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), text)
    };
    // Numbers given as strings, lists in one variable, booleans: typed as Filebeat types them.
    let (ok, text) = run(&[
        ("HOSTS", "a:5044,b:5044"),
        ("WORKERS", "2"),
        ("LIMIT", "4"),
        ("SHIP", "true"),
    ]);
    assert!(ok && text.contains("Config OK"), "{text}");
    // `:?` makes a variable required, with the user's message.
    let (ok, text) = run(&[("CONSOLE", "true")]);
    assert!(
        !ok && text.contains("list the Logstash hosts: `HOSTS` is not set"),
        "{text}"
    );
    // An unset variable leaves the setting unset; one that is set must still fit its setting.
    let (ok, text) = run(&[("HOSTS", "a:5044"), ("CONSOLE", "true")]);
    assert!(ok && text.contains("Config OK"), "{text}");
    let (ok, text) = run(&[("HOSTS", "a:5044"), ("SHIP", "true"), ("WORKERS", "many")]);
    assert!(
        !ok && text.contains("output.logstash.worker") && text.contains("expected an integer"),
        "{text}"
    );
}
