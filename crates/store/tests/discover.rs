//! Discover in a real browser: Debian's Chromium driven through Selenium (installed by
//! scripts/install-peers.sh) against a real rstore, both inside `unshare -n` (loopback only).
//! The steps and their checks are in `tests/discover/discover_test.py`; the screenshots of each
//! step land in `target/test-output/discover/`.

mod common;

use std::path::Path;
use std::process::Command;

use common::{peers_python, skip, ROOMY_DISK};

#[test]
fn discover_in_a_real_browser() {
    let driver = Path::new("/usr/bin/chromedriver");
    if !driver.exists() {
        skip(
            "discover::discover_in_a_real_browser",
            "chromium-driver is not installed (scripts/install-peers.sh installs it)",
        );
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = root.join("../../target/test-output/discover");
    let _ = std::fs::remove_dir_all(&shots);
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        r#"set -e
ip link set lo up
{rstore} --path.data {data} --http.port 9200 {roomy} 2>{data}/rstore.err &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9200) 2>/dev/null && break; sleep 0.1; done
{python} {test} http://127.0.0.1:9200 {shots}
"#,
        rstore = env!("CARGO_BIN_EXE_rstore"),
        roomy = ROOMY_DISK.join(" "),
        data = dir.path().display(),
        python = peers_python().display(),
        test = root.join("tests/discover/discover_test.py").display(),
        shots = shots.display(),
    );
    std::fs::write(dir.path().join("run.sh"), script).unwrap();
    let out = Command::new("unshare")
        .args(["-n", "bash"])
        .arg(dir.path().join("run.sh"))
        .output()
        .expect("unshare -n bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        stdout.contains("discover ok"),
        "{stdout}\n{}\nrstore:\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(dir.path().join("rstore.err")).unwrap_or_default()
    );
}
