//! Enrichment filters on real data: geoip on MaxMind's GeoLite2 databases (the npm package
//! pinned by scripts/install-peers.sh), useragent on Debian's uap-core (its regexes.yaml and the
//! project's own test suites), and syslog_pri. Expected values are facts of those databases,
//! uap-core's expected results and Logstash's documented layouts.

mod common;

use std::path::PathBuf;

use common::*;
use rstash_event::{Event, FieldRef, Map, Value};

/// A file installed by scripts/install-peers.sh.
fn peer(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.peers")
        .join(path);
    assert!(
        p.is_file(),
        "{} is missing: run scripts/install-peers.sh",
        p.display()
    );
    p.display().to_string()
}

fn city() -> String {
    peer("geoip/GeoLite2-City.mmdb")
}

#[test]
fn geoip_city_legacy_layout() {
    let f = format!(
        r#"geoip {{ source => "clientip" database => "{}" }}"#,
        city()
    );
    let e = run(&f, r#"{"clientip": "216.160.83.56"}"#);
    assert_eq!(
        get(&e, "geoip"),
        r#"{"city_name":"Poulsbo","country_name":"United States","continent_code":"NA","country_code2":"US","country_code3":"US","ip":"216.160.83.56","postal_code":"98370","dma_code":819,"region_name":"Washington","region_code":"WA","timezone":"America/Los_Angeles","location":{"lat":47.7327,"lon":-122.6536},"latitude":47.7327,"longitude":-122.6536}"#
    );
    assert_eq!(tags(&e), "<absent>");

    // IPv6 is written back the way Java prints it; an array source uses its first address.
    let e = run(&f, r#"{"clientip": ["2001:4860:4860::8888", "1.1.1.1"]}"#);
    assert_eq!(get(&e, "[geoip][ip]"), r#""2001:4860:4860:0:0:0:0:8888""#);
    assert_eq!(get(&e, "[geoip][country_code2]"), r#""US""#);
    assert_eq!(get(&e, "[geoip][city_name]"), "<absent>");
}

#[test]
fn geoip_without_a_database_starts_tags_and_uses_one_once_it_appears() {
    let name = "GeoLite2-City.mmdb";
    if ["/usr/share/GeoIP", "/var/lib/GeoIP"]
        .iter()
        .any(|d| std::path::Path::new(d).join(name).exists())
    {
        skipped("geoip without a database: this machine has a system GeoLite2-City.mmdb");
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let settings = rstash_pipeline::PipelineSettings {
        data_dir: data.path().to_path_buf(),
        ..Default::default()
    };
    let f = build_with(r#"geoip { source => "ip" }"#, &settings).unwrap();
    let lookup = || {
        let mut e = event(r#"{"ip": "216.160.83.56"}"#);
        f.run(&mut e, &mut Vec::new());
        e
    };
    // As Logstash's filter with no usable database: tagged, nothing else written.
    let e = lookup();
    assert_eq!(tags(&e), r#"["_geoip_expired_database"]"#);
    assert_eq!(get(&e, "geoip"), "<absent>");
    // Where rstash looks first: <path.data>/geoip_database/. Copied in place, then renamed, as
    // geoipupdate does; the filter looks at the file every few seconds.
    let dir = data.path().join("geoip_database");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(city(), dir.join("partial")).unwrap();
    std::fs::rename(dir.join("partial"), dir.join(name)).unwrap();
    let start = std::time::Instant::now();
    let e = loop {
        let e = lookup();
        if tags(&e) == "<absent>" || start.elapsed() > std::time::Duration::from_secs(20) {
            break e;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(get(&e, "[geoip][city_name]"), r#""Poulsbo""#);
    assert_eq!(tags(&e), "<absent>");
}

#[test]
fn geoip_misses_leave_an_empty_target_and_tag() {
    let f = format!(
        r#"geoip {{ source => "ip" database => "{}" add_tag => ["located"] }}"#,
        city()
    );
    for ip in ["10.0.0.1", "not an address", "127.0.0.1"] {
        let e = run(&f, &format!(r#"{{"ip": "{ip}"}}"#));
        assert_eq!(get(&e, "geoip"), "{}", "{ip}");
        assert_eq!(tags(&e), r#"["_geoip_lookup_failure"]"#, "{ip}");
    }
    // No source at all, or an empty one: no target, only the tag.
    for fields in [r#"{"other": 1}"#, r#"{"ip": "  "}"#] {
        let e = run(&f, fields);
        assert_eq!(get(&e, "geoip"), "<absent>");
        assert_eq!(tags(&e), r#"["_geoip_lookup_failure"]"#);
    }
    let f = format!(
        r#"geoip {{ source => "ip" database => "{}" tag_on_failure => ["nogeo"] }}"#,
        city()
    );
    assert_eq!(tags(&run(&f, r#"{"ip": "192.168.1.1"}"#)), r#"["nogeo"]"#);
    let e = run(&f, r#"{"ip": "8.8.8.8"}"#);
    assert_eq!(tags(&e), "<absent>");
}

#[test]
fn geoip_asn_fields_and_ecs_layout() {
    let asn = peer("geoip/GeoLite2-ASN.mmdb");
    let e = run(
        &format!(r#"geoip {{ source => "ip" target => "as" database => "{asn}" }}"#),
        r#"{"ip": "8.8.8.8"}"#,
    );
    assert_eq!(
        get(&e, "as"),
        r#"{"asn":15169,"as_org":"Google LLC","ip":"8.8.8.8"}"#
    );

    // ECS: target comes from `[source][ip]`, names move under geo/as, country_code3 is dropped.
    let f = format!(
        r#"geoip {{ source => "[source][ip]" database => "{}" ecs_compatibility => "v8" }}"#,
        city()
    );
    let e = run(&f, r#"{"source": {"ip": "89.160.20.128"}}"#);
    assert_eq!(
        get(&e, "source"),
        r#"{"ip":"89.160.20.128","geo":{"city_name":"Karlstad","country_name":"Sweden","continent_code":"EU","country_iso_code":"SE","postal_code":"652 14","region_name":"Värmland County","region_iso_code":"SE-S","timezone":"Europe/Stockholm","location":{"lat":59.3784,"lon":13.5123}}}"#
    );
    let e = run(
        &format!(
            r#"geoip {{ source => "[client][ip]" target => "client" database => "{asn}" ecs_compatibility => "v1" }}"#
        ),
        r#"{"client": {"ip": "1.1.1.1"}}"#,
    );
    assert_eq!(get(&e, "[client][as][number]"), "13335");
    assert_eq!(
        get(&e, "[client][as][organization][name]"),
        r#""Cloudflare, Inc.""#
    );

    // `fields` picks by Logstash's field names.
    let e = run(
        &format!(
            r#"geoip {{ source => "ip" database => "{}" fields => ["country_name", "LOCATION"] }}"#,
            city()
        ),
        r#"{"ip": "81.2.69.142"}"#,
    );
    assert_eq!(
        get(&e, "geoip"),
        r#"{"country_name":"United Kingdom","location":{"lat":52.3966,"lon":-0.7212}}"#
    );
}

#[test]
fn geoip_config_errors_name_the_problem() {
    let err = build_err(&format!(
        r#"geoip {{ source => "client_ip" database => "{}" ecs_compatibility => "v8" }}"#,
        city()
    ));
    assert!(err.contains("needs a `target`"), "{err}");
    let err = build_err(r#"geoip { source => "ip" database => "/nonexistent/x.mmdb" }"#);
    assert!(err.contains("cannot open /nonexistent/x.mmdb"), "{err}");
    let err = build_err(&format!(
        r#"geoip {{ source => "ip" database => "{}" fields => ["city"] }}"#,
        city()
    ));
    assert!(err.contains("illegal field value city"), "{err}");
    let err = build_err(r#"geoip { database => "x" }"#);
    assert!(err.contains("needs `source`"), "{err}");
}

// ---- useragent ----

const UAP: &str = "/usr/share/uap-core";

fn uap_cases(file: &str) -> Vec<serde_json::Value> {
    let path = format!("{UAP}/tests/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e} (install Debian's uap-core: scripts/install-peers.sh)")
    });
    let doc: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
    doc["test_cases"].as_array().unwrap().clone()
}

/// Runs uap-core's own expected results through the filter, with the regexes of the same
/// release (Debian's; the embedded default is the older one Logstash bundles); `fields` maps the
/// suite's keys to the filter's legacy field names.
fn uap_suite(file: &str, fields: &[(&str, &str)]) {
    let f = build(&format!(
        "useragent {{ source => \"ua\" regexes => \"{UAP}/regexes.yaml\" }}"
    ))
    .unwrap();
    let cases = uap_cases(file);
    let mut wrong = Vec::new();
    for case in &cases {
        let ua = case["user_agent_string"].as_str().unwrap();
        let mut e = Event::from_map(Map::from_iter([("ua".into(), Value::from(ua))]));
        f.run(&mut e, &mut Vec::new());
        for (theirs, ours) in fields {
            let want = case[*theirs].as_str().map(|s| s.to_string());
            let got = e
                .get(&FieldRef::key(ours))
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if want != got {
                wrong.push(format!("{ua}: {ours} {got:?} != {want:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} {file} cases differ:\n{}",
        wrong.len(),
        cases.len(),
        wrong[..wrong.len().min(20)].join("\n")
    );
}

#[test]
fn useragent_passes_uap_cores_browser_suite() {
    uap_suite(
        "test_ua.yaml",
        &[
            ("family", "name"),
            ("major", "major"),
            ("minor", "minor"),
            ("patch", "patch"),
        ],
    );
}

#[test]
fn useragent_passes_uap_cores_os_suite() {
    uap_suite(
        "test_os.yaml",
        &[
            ("family", "os_name"),
            ("major", "os_major"),
            ("minor", "os_minor"),
            ("patch", "os_patch"),
        ],
    );
}

#[test]
fn useragent_passes_uap_cores_device_suite() {
    uap_suite("test_device.yaml", &[("family", "device")]);
}

const FIREFOX: &str =
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.11; rv:45.0) Gecko/20100101 Firefox/45.0";

#[test]
fn useragent_fields_as_logstash_documents_them() {
    // The example of Logstash's useragent documentation, legacy then ECS layout.
    let e = msg("useragent { source => \"message\" }", FIREFOX);
    for (k, v) in [
        ("name", "Firefox"),
        ("version", "45.0"),
        ("major", "45"),
        ("minor", "0"),
        ("os_name", "Mac OS X"),
        ("os", "Mac OS X"),
        ("os_version", "10.11"),
        ("os_full", "Mac OS X 10.11"),
        ("os_major", "10"),
        ("os_minor", "11"),
        ("device", "Mac"),
    ] {
        assert_eq!(get(&e, k), format!("{v:?}"), "{k}");
    }
    assert_eq!(get(&e, "patch"), "<absent>");

    let e = msg(
        "useragent { source => \"message\" ecs_compatibility => v8 }",
        FIREFOX,
    );
    assert_eq!(
        get(&e, "user_agent"),
        r#"{"name":"Firefox","device":{"name":"Mac"},"version":"45.0","os":{"version":"10.11","name":"Mac OS X","full":"Mac OS X 10.11"}}"#
    );
    assert_eq!(
        get(&e, "[@metadata][filter][user_agent][version][major]"),
        r#""45""#
    );
    assert_eq!(
        get(&e, "[@metadata][filter][user_agent][os][version][minor]"),
        r#""11""#
    );

    // target + prefix; a fourth version segment present in the string is kept; names ("XP")
    // join the OS version with a space; target == source replaces the string.
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/89.0.4389.90 Safari/537.36";
    let e = msg(
        "useragent { source => \"message\" target => \"ua\" prefix => \"ua_\" }",
        chrome,
    );
    assert_eq!(get(&e, "[ua][ua_version]"), r#""89.0.4389.90""#);
    assert_eq!(get(&e, "[ua][ua_patch]"), r#""4389""#);
    assert_eq!(get(&e, "[ua][ua_os_full]"), r#""Windows 10""#);
    let e = msg(
        "useragent { source => \"message\" target => \"message\" }",
        "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)",
    );
    assert_eq!(get(&e, "[message][name]"), r#""IE""#);
    assert_eq!(get(&e, "[message][os_full]"), r#""Windows XP""#);

    // Unknown agents are "Other"; an empty or missing source is left alone.
    let e = msg(
        "useragent { source => \"message\" add_tag => [\"ua\"] }",
        "garbage",
    );
    assert_eq!(get(&e, "name"), r#""Other""#);
    assert_eq!(get(&e, "os_full"), r#""Other""#);
    assert_eq!(tags(&e), r#"["ua"]"#);
    let e = msg(
        "useragent { source => \"message\" add_tag => [\"ua\"] }",
        "",
    );
    assert_eq!(get(&e, "name"), "<absent>");
    assert_eq!(tags(&e), "<absent>");

    let err = build_err("useragent { source => \"a\" regexes => \"/nonexistent.yaml\" }");
    assert!(err.contains("cannot read /nonexistent.yaml"), "{err}");
}

// ---- syslog_pri ----

#[test]
fn syslog_pri_splits_priority_into_codes_and_labels() {
    let e = run("syslog_pri { }", r#"{"syslog_pri": "34"}"#);
    assert_eq!(get(&e, "syslog_facility_code"), "4");
    assert_eq!(get(&e, "syslog_severity_code"), "2");
    assert_eq!(get(&e, "syslog_facility"), r#""security/authorization""#);
    assert_eq!(get(&e, "syslog_severity"), r#""critical""#);
    // Absent: 13 (user-level notice), as RFC 3164 says; arrays use their first value.
    let e = run("syslog_pri { add_tag => [\"pri\"] }", r#"{"message": "x"}"#);
    assert_eq!(get(&e, "syslog_facility"), r#""user-level""#);
    assert_eq!(get(&e, "syslog_severity"), r#""notice""#);
    assert_eq!(tags(&e), r#"["pri"]"#);
    let e = run(
        "syslog_pri { syslog_pri_field_name => \"[p]\" use_labels => false }",
        r#"{"p": [191, 0]}"#,
    );
    assert_eq!(get(&e, "syslog_facility_code"), "23");
    assert_eq!(get(&e, "syslog_severity_code"), "7");
    assert_eq!(get(&e, "syslog_facility"), "<absent>");
    // A facility past the labels is tagged; custom labels; ECS field names.
    let e = run("syslog_pri { }", r#"{"syslog_pri": 200}"#);
    assert_eq!(get(&e, "syslog_facility_code"), "25");
    assert_eq!(tags(&e), r#"["_syslogpriparsefailure"]"#);
    let e = run(
        r#"syslog_pri { severity_labels => ["E","A","C","R","W","N","I","D"] }"#,
        r#"{"syslog_pri": "<no number>"}"#,
    );
    assert_eq!(get(&e, "syslog_severity"), r#""E""#);
    assert_eq!(get(&e, "syslog_facility"), r#""kernel""#);
    let e = run(
        "syslog_pri { ecs_compatibility => v1 }",
        r#"{"log": {"syslog": {"priority": 165}}}"#,
    );
    assert_eq!(
        get(&e, "[log][syslog]"),
        r#"{"priority":165,"severity":{"code":5,"name":"notice"},"facility":{"code":20,"name":"local4"}}"#
    );
}

// ---- jdbc_streaming's cache ----

#[test]
fn jdbc_streaming_caches_results_until_they_expire() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("ref.db");
    let con = rusqlite::Connection::open(&db).unwrap();
    con.execute_batch("CREATE TABLE t (k TEXT, v TEXT);")
        .unwrap();
    let conf = |extra: &str| {
        format!(
            r#"jdbc_streaming {{ jdbc_connection_string => "jdbc:sqlite:{}" statement => "SELECT v FROM t WHERE k = :k"
                 parameters => {{ "k" => "key" }} target => "found" {extra} }}"#,
            db.display()
        )
    };
    let cached = build(&conf("cache_expiration => 0.3")).unwrap();
    let uncached = build(&conf("use_cache => false")).unwrap();
    let lookup = |f: &rstash_pipeline::FilterNode| {
        let mut e = event(r#"{"key": "a"}"#);
        f.run(&mut e, &mut Vec::new());
        get(&e, "found")
    };
    assert_eq!(lookup(&cached), "[{}]");
    con.execute("INSERT INTO t VALUES ('a', 'new')", [])
        .unwrap();
    assert_eq!(lookup(&cached), "[{}]", "still the cached miss");
    assert_eq!(lookup(&uncached), r#"[{"v":"new"}]"#);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_eq!(
        lookup(&cached),
        r#"[{"v":"new"}]"#,
        "expired, looked up again"
    );
}
