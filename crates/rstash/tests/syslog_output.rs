//! The syslog output against Debian's rsyslog (under `unshare -n`, beside rstash): what rsyslog
//! parses out of each line — priority, host, app name, procid, msgid, structured data, message —
//! over UDP in RFC 3164, over TCP in RFC 5424, and over TLS (rsyslog's OpenSSL driver), with the
//! server's certificate checked against `ssl_cacert` or, as Logstash's default, not checked; a
//! server whose certificate does not chain to `ssl_cacert` gets nothing.

mod common;

#[test]
fn rsyslog_receives_rfc3164_over_udp_and_rfc5424_over_tcp() {
    if std::process::Command::new("rsyslogd")
        .arg("-v")
        .output()
        .is_err()
    {
        common::skip(
            "rsyslog_receives_rfc3164_over_udp_and_rfc5424_over_tcp",
            "rsyslogd is not installed (scripts/install-peers.sh installs Debian's rsyslog)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let certs = common::certs(d);
    std::fs::create_dir(d.join("other")).unwrap();
    let other = common::certs(&d.join("other"));
    std::fs::write(
        d.join("rsyslog.conf"),
        format!(
            r#"global(workDirectory="{d}" DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}" DefaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="5514")
input(type="imtcp" address="127.0.0.1" port="5515")
input(type="imtcp" address="127.0.0.1" port="6514" name="tls" streamDriver.name="ossl"
      streamDriver.mode="1" streamDriver.authMode="anon")
template(name="fields" type="string" string="%inputname%|%pri%|%hostname%|%app-name%|%procid%|%msgid%|%structured-data%|%msg%\n")
action(type="omfile" file="{d}/received.log" template="fields")
"#,
            d = d.display(),
            ca = certs.ca.display(),
            cert = certs.server_cert.display(),
            key = certs.server_key.display(),
        ),
    )
    .unwrap();
    let events = [
        r#"{"n":1,"message":"hello over udp","host":"web1","app":"bank","pid":"42"}"#,
        r#"{"n":2,"message":"first line\nsecond line  ","host":"web2","app":"bank","pid":"7","level":"warning"}"#,
        r#"{"n":3,"message":"by number","host":"web3","pri":"0x1f"}"#,
        r#"{"n":4,"message":"checked","host":"web4"}"#,
        r#"{"n":5,"message":"unchecked","host":"web5"}"#,
    ];
    std::fs::write(d.join("in.json"), events.join("\n") + "\n").unwrap();
    std::fs::write(
        d.join("pipeline.conf"),
        r#"input { stdin { codec => json_lines } }
output {
  if [n] == 1 { syslog { host => "127.0.0.1" port => 5514 appname => "%{app}" procid => "%{pid}" } }
  else if [n] == 2 {
    syslog { host => "127.0.0.1" port => 5515 protocol => "tcp" rfc => "rfc5424" appname => "%{app}" procid => "%{pid}"
             msgid => "ID47" structured_data => '[ex@32473 n="%{n}"]' facility => "local3" severity => "%{level}" }
  }
  else if [n] == 3 { syslog { host => "127.0.0.1" port => 5515 protocol => "tcp" use_labels => false priority => "%{pri}" } }
  else if [n] == 4 { syslog { host => "127.0.0.1" port => 6514 protocol => "ssl-tcp" ssl_verify => true ssl_cacert => "CA" } }
  else { syslog { host => "127.0.0.1" port => 6514 protocol => "ssl-tcp" } }
}
"#
        .replace("CA", &certs.ca.display().to_string()),
    )
    .unwrap();
    // A CA the server's certificate does not chain to: the event never goes out.
    std::fs::write(
        d.join("wrong-ca.conf"),
        format!(
            r#"input {{ generator {{ count => 1 message => "must not arrive" }} }}
output {{ syslog {{ host => "127.0.0.1" port => 6514 protocol => "ssl-tcp" ssl_verify => true ssl_cacert => "{}" }} }}"#,
            other.ca.display()
        ),
    )
    .unwrap();
    let script = format!(
        r#"set -u
ip link set lo up
cd {d}
rsyslogd -n -f {d}/rsyslog.conf -i {d}/rsyslog.pid 2>rsyslog.log &
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/5515) 2>/dev/null && break; sleep 0.1; done
{rstash} -f pipeline.conf <in.json >out.txt 2>rstash.log; echo "rstash: $?"
timeout -s KILL 3 {rstash} -f wrong-ca.conf >/dev/null 2>wrong-ca.log
for i in $(seq 100); do [ "$(wc -l <received.log 2>/dev/null || echo 0)" -ge 5 ] && break; sleep 0.1; done
kill %1
wait
"#,
        d = d.display(),
        rstash = env!("CARGO_BIN_EXE_rstash"),
    );
    let (said, _) = common::run_in_netns(d, &script);
    let log = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    let context = || format!("{said}\n{}\n{}", log("rstash.log"), log("rsyslog.log"));
    assert!(said.contains("rstash: 0"), "{}", context());
    let mut got: Vec<Vec<String>> = log("received.log")
        .lines()
        .map(|l| l.split('|').map(|f| f.trim().to_string()).collect())
        .collect();
    got.sort_by_key(|f| f.get(2).cloned());
    assert_eq!(got.len(), 5, "{}", context());
    // user-level (1) * 8 + notice (5) = 13, the defaults.
    assert_eq!(
        got[0],
        [
            "imudp",
            "13",
            "web1",
            "bank",
            "42",
            "-",
            "-",
            "hello over udp"
        ],
        "{}",
        context()
    );
    // local3 * 8 + warning (4): Logstash's label table lacks two of RFC 5424's facilities, so its
    // local3 is 17, not 19 — 140 is what Logstash sends, and so do we. A line break is written as
    // `\n`, trailing space cut.
    assert_eq!(
        got[1],
        [
            "imtcp",
            "140",
            "web2",
            "bank",
            "7",
            "ID47",
            "[ex@32473 n=\"2\"]",
            "first line\\nsecond line"
        ],
        "{}",
        context()
    );
    // `use_labels => false`: the priority as Ruby's Integer() reads it (0x1f = 31).
    assert_eq!(got[2][..3], ["imtcp", "31", "web3"], "{}", context());
    assert_eq!(got[2][3], "LOGSTASH");
    assert_eq!(got[2][7], "by number");
    for (g, what) in got[3..].iter().zip(["checked", "unchecked"]) {
        assert_eq!(
            g[..4],
            [
                "tls",
                "13",
                &format!("web{}", 4 + (what == "unchecked") as u8),
                "LOGSTASH"
            ]
        );
        assert_eq!(g[7], what, "{}", context());
    }
    let refused = log("wrong-ca.log");
    assert!(
        refused.contains("syslog output cannot connect") && refused.contains("certificate"),
        "{refused}"
    );
}
