//! Enrichment filters on real data: geoip on MaxMind's GeoLite2 databases and useragent on
//! uap-core's regexes.yaml (both from npm packages pinned by scripts/install-peers.sh), and
//! syslog_pri. Expected values are facts of those pinned databases and of Logstash's layouts.

mod common;

use std::path::PathBuf;

use common::*;

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
