//! rstore with security on, as Elasticsearch 8 users run it: a user made by `rstore users add`,
//! HTTPS, API keys; the official Python client and rstash's elasticsearch output log in with
//! each, and requests without (or with wrong) credentials get Elasticsearch's 401.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

fn rstore(args: &[&str], data: &Path) -> Command {
    let mut c = Command::new(sibling_bin("rstore"));
    c.args(args).args(["--path.data", data.to_str().unwrap()]);
    c
}

fn add_user(data: &Path, name: &str, password: &str) {
    let mut c = rstore(&["users", "add", name], data)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(c.stdin.take().unwrap(), "{password}").unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs a Python script with the official client in the peers' venv; its stdout.
fn python(dir: &Path, script: &str) -> String {
    let path = dir.join("client.py");
    std::fs::write(&path, script).unwrap();
    let out = Command::new(peers().join("venv/bin/python"))
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "client script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn users_api_keys_and_https_for_the_python_client_and_the_elasticsearch_output() {
    let dir = tempfile::tempdir().unwrap();
    let certs = certs(dir.path());
    let data = dir.path().join("data");
    add_user(&data, "ann", "s3cret-pw");
    let users = std::fs::read_to_string(data.join("users")).unwrap();
    assert!(
        users.starts_with("ann:$2"),
        "a bcrypt hash, as Elasticsearch's users file: {users}"
    );
    let port = free_port();
    let _store = Killed(
        rstore(
            &[
                "--http.port",
                &port.to_string(),
                "--http.ssl.certificate",
                certs.server_cert.to_str().unwrap(),
                "--http.ssl.key",
                certs.server_key.to_str().unwrap(),
            ],
            &data,
        )
        .args(ROOMY_DISK)
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    wait_for("rstore", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let ca = certs.ca.to_str().unwrap();
    let keys = python(
        dir.path(),
        &format!(
            r#"
from elasticsearch import Elasticsearch, AuthenticationException
url, ca = "https://localhost:{port}", "{ca}"
es = Elasticsearch(url, basic_auth=("ann", "s3cret-pw"), ca_certs=ca)
me = es.security.authenticate()
assert me["username"] == "ann" and me["authentication_type"] == "realm", me
key = es.security.create_api_key(name="shipper")
assert key["name"] == "shipper" and key["encoded"], key
k = Elasticsearch(url, api_key=(key["id"], key["api_key"]), ca_certs=ca)
assert k.security.authenticate()["api_key"]["id"] == key["id"]
k.index(index="t", document={{"a": 1}}, refresh=True)
assert k.count(index="t")["count"] == 1
for bad in [Elasticsearch(url, ca_certs=ca), Elasticsearch(url, basic_auth=("ann", "wrong"), ca_certs=ca),
            Elasticsearch(url, api_key=(key["id"], "not-the-key"), ca_certs=ca)]:
    try:
        bad.info()
        raise SystemExit("accepted without valid credentials")
    except AuthenticationException as e:
        assert e.meta.status == 401 and e.body["error"]["type"] == "security_exception", e.body
es.security.invalidate_api_key(ids=[key["id"]])
try:
    k.info()
    raise SystemExit("an invalidated key still works")
except AuthenticationException:
    pass
second = es.security.create_api_key(name="rstash")
print(second["id"] + ":" + second["api_key"])
"#
        ),
    );
    let api_key = keys.trim();
    // rstash's elasticsearch output, as Logstash users configure it: user/password, then api_key.
    for (index, auth) in [
        ("basic", "user => 'ann' password => 's3cret-pw'".to_string()),
        ("keyed", format!("api_key => '{api_key}'")),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
            .args(["-e", &format!(
                "input {{ generator {{ count => 300 }} }} output {{ elasticsearch {{ hosts => ['https://localhost:{port}'] \
                 index => '{index}' {auth} ssl_enabled => true ssl_certificate_authorities => ['{ca}'] }} }}"
            )])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let counts = python(
        dir.path(),
        &format!(
            r#"
from elasticsearch import Elasticsearch
es = Elasticsearch("https://localhost:{port}", basic_auth=("ann", "s3cret-pw"), ca_certs="{ca}")
es.indices.refresh(index="basic,keyed")
print(es.count(index="basic")["count"], es.count(index="keyed")["count"])
"#
        ),
    );
    assert_eq!(counts.trim(), "300 300");
}

#[test]
fn rstore_refuses_to_listen_beyond_loopback_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = rstore(&["--http.host", "0.0.0.0", "--http.port", "1"], &data)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to listen on 0.0.0.0 without authentication")
            && err.contains("rstore users add"),
        "{err}"
    );
    // With a user, or with --insecure, it starts (in a namespace with loopback only, so that
    // 0.0.0.0 reaches nothing else).
    let bin = sibling_bin("rstore");
    let port = free_port();
    let secured = dir.path().join("secured");
    add_user(&secured, "ann", "s3cret-pw");
    let script = format!(
        r#"set -u
ip link set lo up
cd {d}
for args in "--path.data {d}/open --insecure" "--path.data {s}"; do
  {bin} --http.host 0.0.0.0 --http.port {port} {roomy} $args 2>>rstore.log &
  pid=$!
  for _ in $(seq 100); do
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", {port}), 1)' 2>/dev/null && break
    sleep 0.1
  done
  python3 - <<'PY'
import urllib.request, urllib.error
try:
    print(urllib.request.urlopen("http://127.0.0.1:{port}/").status)
except urllib.error.HTTPError as e:
    print(e.code)
PY
  kill $pid; wait $pid
done
"#,
        d = dir.path().display(),
        s = secured.display(),
        bin = bin.display(),
        roomy = ROOMY_DISK.join(" "),
    );
    let (stdout, stderr) = run_in_netns(dir.path(), &script);
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["200", "401"],
        "--insecure answers, a user makes it ask for credentials\n{stderr}\n{}",
        log_tails(dir.path(), &["rstore.log"])
    );
}

/// Credentials the store refuses (a password changed under a running pipeline) hold the events
/// back, retried, instead of dropping them: once the store takes the password, all arrive.
#[test]
fn refused_credentials_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    add_user(&data, "ann", "old-password");
    let port = free_port();
    let _store = Killed(
        rstore(&["--http.port", &port.to_string()], &data)
            .args(ROOMY_DISK)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_for("rstore", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let rs = Rstash::start(
        &format!(
            "input {{ generator {{ count => 1000 }} }} output {{ elasticsearch {{ hosts => ['127.0.0.1:{port}'] \
             index => 'late' user => 'ann' password => 'new-password' retry_max_interval => 1 }} }}"
        ),
        dir.path(),
    );
    wait_for("the 401", Duration::from_secs(20), || {
        rs.logs().contains("answered 401")
    });
    // The users file is re-read when it changes, as Elasticsearch's file realm does.
    add_user(&data, "ann", "new-password");
    let count = || {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        // ann:new-password
        let auth = "YW5uOm5ldy1wYXNzd29yZA==";
        write!(s, "GET /late/_count HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\nConnection: close\r\n\r\n").unwrap();
        let mut r = String::new();
        s.read_to_string(&mut r).unwrap();
        let body = r.split_once("\r\n\r\n").map_or("", |x| x.1);
        serde_json::from_str::<serde_json::Value>(body).unwrap_or_default()["count"]
            .as_u64()
            .unwrap_or(0)
    };
    wait_for("all 1000 documents", Duration::from_secs(30), || {
        count() == 1000
    });
    assert!(rs.stop().success());
}
