//! Helpers shared by rstore's tests: a real rstore process, plain HTTP/1.1 on 127.0.0.1.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Disk watermarks for tests: Elasticsearch's defaults (95% / 90% used) refuse every write on a
/// big shared disk that is 95% full yet has gigabytes free, so a test would wait on the machine
/// rather than on what it tests. These block only when almost nothing is left.
pub const ROOMY_DISK: [&str; 4] = [
    "--cluster.routing.allocation.disk.watermark.flood_stage",
    "100mb",
    "--cluster.routing.allocation.disk.watermark.high",
    "200mb",
];

pub struct Rstore {
    pub child: Child,
    pub port: u16,
}

impl Rstore {
    pub fn start(data: &Path, port: u16) -> Rstore {
        Rstore::start_with(data, port, &[])
    }

    /// Starts rstore with extra arguments; returns once it listens.
    pub fn start_with(data: &Path, port: u16, args: &[&str]) -> Rstore {
        let child = Command::new(env!("CARGO_BIN_EXE_rstore"))
            .args([
                "--path.data",
                data.to_str().unwrap(),
                "--http.port",
                &port.to_string(),
            ])
            .args(ROOMY_DISK)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(data.join("rstore.stderr")).unwrap())
            .spawn()
            .unwrap();
        let mut s = Rstore { child, port };
        let start = Instant::now();
        // rstore's own word that it listens, logged after its bind: a connect that succeeds is
        // no proof (a port just freed by a test may still be held by a concurrent spawn's child).
        while !s.stderr(data).contains("listening on") {
            // An rstore that exited (the port taken, say) must not wait out the limit.
            if let Ok(Some(status)) = s.child.try_wait() {
                panic!(
                    "rstore exited ({status}) before listening:\n{}",
                    s.stderr(data)
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rstore did not start:\n{}",
                s.stderr(data)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn stderr(&self, data: &Path) -> String {
        std::fs::read_to_string(data.join("rstore.stderr")).unwrap_or_default()
    }
}

impl Drop for Rstore {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that no other test of this process is handed: counted up from below Linux's ephemeral
/// range (32768+), where `bind(0)` never lands and a client's own source port never sits (a
/// connect to an ephemeral port with no listener can connect to itself, and then "rstore is up"
/// was a lie). Checked bindable, so another process's listener is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Processes started side by side begin at different places.
    let offset = (std::process::id() % 400) as u16 * 30;
    loop {
        let port = 20_000 + offset.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) % 12_000;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// One HTTP/1.1 request; returns (status, body).
pub fn http(port: u16, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

pub fn peers_python() -> PathBuf {
    let p = std::env::var_os("RSTASH_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.peers"))
        .join("venv/bin/python");
    assert!(
        p.exists(),
        "{} missing: run scripts/install-peers.sh (./test.sh does)",
        p.display()
    );
    p
}

/// Waits until `f` holds, failing with `what` after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Peak resident memory of a process, in bytes (VmHWM).
pub fn peak_rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A test that cannot run here says so (and ./test.sh counts it as skipped).
pub fn skip(test: &str, reason: &str) {
    eprintln!("SKIPPED {test}: {reason}");
    if let Some(path) = std::env::var_os("RSTASH_SKIP_LOG") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
        {
            let _ = writeln!(f, "{test}: {reason}");
        }
    }
}
