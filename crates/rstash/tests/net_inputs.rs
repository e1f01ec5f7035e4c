//! udp, syslog, heartbeat and exec inputs and the udp output, through the real binary on
//! 127.0.0.1, with real clients where there is one (util-linux `logger` for syslog).

mod common;

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{free_port, lines, wait_for, Rstash};
use serde_json::Value;

fn out_conf(dir: &Path) -> String {
    format!(
        r#"output {{ file {{ path => "{}/out.json" codec => json_lines }} }}"#,
        dir.display()
    )
}

fn wait_lines(out: &Path, n: usize) -> Vec<Value> {
    wait_for(&format!("{n} events"), Duration::from_secs(30), || {
        lines(out).len() >= n
    });
    lines(out)
}

#[test]
fn udp_datagrams_become_events_with_the_sender() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cfg = format!(
        r#"input {{ udp {{ port => {port} host => "127.0.0.1" codec => json workers => 3 receive_buffer_bytes => 4194304 }} }} {}"#,
        out_conf(dir.path())
    );
    let rs = Rstash::start(&cfg, dir.path());
    let out = dir.path().join("out.json");
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    wait_for("the udp input", Duration::from_secs(20), || {
        sock.send_to(br#"{"probe":1}"#, ("127.0.0.1", port))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        !lines(&out).is_empty()
    });
    let before = lines(&out).len();
    for i in 0..500 {
        sock.send_to(format!(r#"{{"n":{i}}}"#).as_bytes(), ("127.0.0.1", port))
            .unwrap();
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Garbage (not JSON, not UTF-8) is tagged, never fatal.
    sock.send_to(b"\xff\xfe not json", ("127.0.0.1", port))
        .unwrap();
    let got = wait_lines(&out, before + 501);
    let mut ns: Vec<i64> = got.iter().filter_map(|e| e["n"].as_i64()).collect();
    ns.sort();
    assert_eq!(ns, (0..500).collect::<Vec<_>>());
    assert!(
        got.iter().all(|e| e["host"] == "127.0.0.1"),
        "sender address in host"
    );
    assert!(got
        .iter()
        .any(|e| e["tags"].to_string().contains("_jsonparsefailure")));
    assert!(rs.stop().success());
}

#[test]
fn udp_output_sends_one_json_datagram_per_event() {
    let dir = tempfile::tempdir().unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let port = sock.local_addr().unwrap().port();
    let cfg = format!(
        r#"input {{ generator {{ count => 20 message => "hello" }} }} output {{ udp {{ host => "127.0.0.1" port => {port} }} }}"#
    );
    let _rs = Rstash::start(&cfg, dir.path());
    let mut buf = [0u8; 65536];
    for _ in 0..20 {
        let (n, _) = sock.recv_from(&mut buf).expect("a datagram");
        let v: Value = serde_json::from_slice(&buf[..n]).unwrap();
        assert_eq!(v["message"], "hello");
        assert!(
            v["@timestamp"].is_string() && v["sequence"].is_number(),
            "{v}"
        );
    }
}

fn syslog(dir: &Path, extra: &str) -> (Rstash, u16) {
    let port = free_port();
    let cfg = format!(
        r#"input {{ syslog {{ port => {port} host => "127.0.0.1" {extra} }} }} {}"#,
        out_conf(dir)
    );
    let rs = Rstash::start(&cfg, dir);
    rs.wait_port(port);
    // Our rstash's own word that both sockets are bound: a TCP connect alone can be answered
    // by another test's short-lived listener on the same port (a logger run once found the
    // port closed right after it had been seen open).
    let ready = format!("listening on tcp and udp 127.0.0.1:{port}");
    wait_for(
        "the syslog input to bind tcp and udp",
        Duration::from_secs(20),
        || rs.logs().contains(&ready),
    );
    (rs, port)
}

#[test]
fn syslog_rfc3164_over_tcp_and_udp_gets_logstash_fields() {
    let dir = tempfile::tempdir().unwrap();
    let (rs, port) = syslog(dir.path(), "");
    let line = "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed for lonvick on /dev/pts/8";
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    writeln!(tcp, "{line}").unwrap();
    writeln!(tcp, "not syslog at all").unwrap();
    drop(tcp);
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(line.as_bytes(), ("127.0.0.1", port))
        .unwrap();
    let got = wait_lines(&dir.path().join("out.json"), 3);
    let parsed: Vec<&Value> = got.iter().filter(|e| e["program"] == "su").collect();
    assert_eq!(parsed.len(), 2, "{got:?}");
    for e in parsed {
        assert_eq!(e["priority"], 34);
        assert_eq!(e["facility"], 4);
        assert_eq!(e["severity"], 2);
        assert_eq!(e["facility_label"], "security/authorization");
        assert_eq!(e["severity_label"], "Critical");
        assert_eq!(e["logsource"], "mymachine");
        assert_eq!(e["pid"], "123");
        assert_eq!(e["timestamp"], "Oct 11 22:14:15");
        assert_eq!(e["message"], "'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(e["host"], "127.0.0.1");
        let ts = e["@timestamp"].as_str().unwrap();
        assert!(
            ts.ends_with("-10-11T22:14:15.000Z"),
            "the date filter set @timestamp: {ts}"
        );
    }
    let bad = got
        .iter()
        .find(|e| e["message"] == "not syslog at all")
        .unwrap();
    assert_eq!(
        bad["tags"],
        serde_json::json!(["_grokparsefailure_sysloginput"])
    );
    assert_eq!(
        (bad["priority"].as_i64(), bad["severity_label"].as_str()),
        (Some(13), Some("Notice"))
    );
    assert_eq!(bad["facility_label"], "user-level");
    assert!(rs.stop().success());
}

#[test]
fn syslog_from_util_linux_logger_rfc3164_and_rfc5424() {
    let dir = tempfile::tempdir().unwrap();
    let (rs, port) = syslog(dir.path(), r#"timezone => "UTC""#);
    let p = port.to_string();
    let run = |args: &[&str]| {
        let st = Command::new("logger")
            .args(["-n", "127.0.0.1", "-P", &p])
            .args(args)
            .status()
            .unwrap();
        assert!(st.success(), "logger {args:?}; rstash said:\n{}", rs.logs());
    };
    run(&[
        "-T",
        "--rfc3164",
        "-t",
        "myapp",
        "-p",
        "local3.warning",
        "three one six four",
    ]);
    run(&[
        "-d",
        "--rfc5424",
        "-t",
        "app5424",
        "-p",
        "local4.notice",
        "--msgid",
        "ID47",
        "--sd-id",
        "ex@32473",
        "--sd-param",
        "iut=\"3\"",
        "five four two four",
    ]);
    let got = wait_lines(&dir.path().join("out.json"), 2);
    let old = got
        .iter()
        .find(|e| e["message"] == "three one six four")
        .unwrap();
    assert_eq!(
        (
            old["program"].as_str(),
            old["facility_label"].as_str(),
            old["severity_label"].as_str()
        ),
        (Some("myapp"), Some("local3"), Some("Warning"))
    );
    assert!(old["tags"].is_null(), "{old}");
    let new = got
        .iter()
        .find(|e| e["message"] == "five four two four")
        .unwrap();
    assert_eq!(new["priority"], 20 * 8 + 5);
    assert_eq!(
        (new["program"].as_str(), new["msgid"].as_str()),
        (Some("app5424"), Some("ID47"))
    );
    assert!(
        new["structured_data"]
            .as_str()
            .unwrap()
            .contains(r#"iut="3""#),
        "{new}"
    );
    assert!(new["tags"].is_null(), "{new}");
    assert!(rs.stop().success());
}

#[test]
fn syslog_survives_garbage_oversized_lines_and_idle_connections() {
    let dir = tempfile::tempdir().unwrap();
    let (rs, port) = syslog(dir.path(), "");
    let idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut t = TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.write_all(b"<13>Jan  1 00:00:00 h p: \xff\xfe bad bytes\n")
        .unwrap();
    t.write_all(&vec![b'x'; 3 << 20]).unwrap();
    t.write_all(b"\n<13>Jan  2 00:00:00 h p: after the big one\n")
        .unwrap();
    drop(t);
    let got = wait_lines(&dir.path().join("out.json"), 3);
    assert!(got.iter().any(|e| e["message"] == "after the big one"));
    assert!(got
        .iter()
        .any(|e| e["message"].as_str().unwrap_or("").contains("bad bytes")));
    assert!(got
        .iter()
        .all(|e| e["message"].as_str().map_or(0, str::len) <= 1 << 20));
    drop(idle);
    assert!(
        rs.stop().success(),
        "an idle connection does not hold up shutdown"
    );
}

#[test]
fn heartbeat_counts_and_exec_reports_status() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        r#"input {{ heartbeat {{ message => "sequence" interval => "100 ms" count => 3 }}
                   exec {{ command => "echo hi; exit 3" schedule => "* * * * * *" }} }}
           filter {{ if [command] {{ mutate {{ copy => {{ "[@metadata][exit_status]" => "status" }} }} }} }}
           {}"#,
        out_conf(dir.path())
    );
    let rs = Rstash::start(&cfg, dir.path());
    let got = wait_lines(&dir.path().join("out.json"), 5);
    let mut clocks: Vec<i64> = got.iter().filter_map(|e| e["clock"].as_i64()).collect();
    clocks.sort();
    assert_eq!(clocks, [1, 2, 3]);
    let execs: Vec<&Value> = got.iter().filter(|e| e["command"].is_string()).collect();
    assert!(execs.len() >= 2);
    assert_eq!(execs[0]["message"], "hi\n");
    assert_eq!(execs[0]["status"], 3);
    assert!(got.iter().all(|e| e["host"].is_string()));
    assert!(rs.stop().success());
}
