//! Golden tests: every invalid config under tests/data/invalid fails `-t` with exit 1 and the
//! error (file:line:col: message) in its `.err` file; every valid config passes `-t`.

use std::path::Path;
use std::process::Command;

fn rstash_t(conf: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rstash"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
        .env_remove("RSTASH_TEST_UNDEFINED_VAR")
        .args(["-t", "-f", conf])
        .output()
        .expect("run rstash")
}

#[test]
fn invalid_configs_report_location_and_reason() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/invalid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let name = format!("invalid/{}", p.file_name().unwrap().to_str().unwrap());
        let expected = std::fs::read_to_string(p.with_extension("err")).unwrap();
        let out = rstash_t(&name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert!(
            stderr.contains(expected.trim()),
            "{name}:\n expected: {}\n got: {stderr}",
            expected.trim()
        );
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        n += 1;
    }
    assert!(n >= 10, "only {n} golden configs found");
}

#[test]
fn valid_configs_pass_the_check() {
    let out = rstash_t("valid/everything.conf");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Configuration OK"
    );
}
