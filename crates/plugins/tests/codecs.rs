//! Codecs from issue 10 (es_bulk, multiline, cef, msgpack, edn), each decoded from bytes fed in odd-sized pieces and
//! checked field by field against Logstash's documented results.

mod common;

use common::*;

#[test]
fn es_bulk_decodes_actions_documents_and_deletes() {
    let bulk = concat!(
        r#"{"index":{"_index":"web","_id":"1"}}"#,
        "\n",
        r#"{"message":"hello","n":1}"#,
        "\n",
        r#"{"delete":{"_index":"web","_id":"2"}}"#,
        "\n",
        "not json\n",
        r#"{"create":{"_index":"logs"}}"#,
        "\n",
        r#"{"message":"last"}"#,
    );
    for chunk in [1, 7, 4096] {
        let mut c = codec("es_bulk { }").unwrap();
        let events = decode_all(c.as_mut(), bulk.as_bytes(), chunk);
        assert_eq!(events.len(), 3, "chunk {chunk}");
        assert_eq!(get(&events[0], "message"), r#""hello""#);
        assert_eq!(get(&events[0], "n"), "1");
        assert_eq!(
            get(&events[0], "[@metadata]"),
            r#"{"_index":"web","_id":"1","action":"index"}"#
        );
        assert_eq!(get(&events[1], "message"), "<absent>");
        assert_eq!(get(&events[1], "[@metadata][action]"), r#""delete""#);
        assert_eq!(get(&events[1], "[@metadata][_id]"), r#""2""#);
        // The bad line is logged and skipped; the next action line still pairs with its document.
        assert_eq!(get(&events[2], "message"), r#""last""#);
        assert_eq!(get(&events[2], "[@metadata][action]"), r#""create""#);
    }
    let mut c = codec(r#"es_bulk { target => "[doc]" ecs_compatibility => v8 }"#).unwrap();
    let events = decode_all(c.as_mut(), bulk.as_bytes(), 3);
    assert_eq!(get(&events[0], "[doc][message]"), r#""hello""#);
    assert_eq!(
        get(&events[0], "[@metadata][codec][es_bulk][_index]"),
        r#""web""#
    );
}

const TRACE: &str = "2026-11-26 10:00:00 ERROR boom\njava.lang.IllegalStateException: bad\n    at a.b.C.d(C.java:10)\n    at a.b.C.e(C.java:20)\n2026-11-26 10:00:01 INFO fine\n2026-11-26 10:00:02 WARN last\n  continued\n";

#[test]
fn multiline_joins_lines_to_the_previous_one_as_logstash_does() {
    // The documented Java stack trace setup: lines not starting with a timestamp go with the
    // previous line.
    let conf =
        r#"multiline { pattern => "^%{TIMESTAMP_ISO8601} " negate => true what => "previous" }"#;
    for chunk in [1, 5, 4096] {
        let mut c = codec(conf).unwrap();
        let events = decode_all(c.as_mut(), TRACE.as_bytes(), chunk);
        let messages: Vec<String> = events.iter().map(|e| get(e, "message")).collect();
        assert_eq!(
            messages,
            [
                r#""2026-11-26 10:00:00 ERROR boom\njava.lang.IllegalStateException: bad\n    at a.b.C.d(C.java:10)\n    at a.b.C.e(C.java:20)""#,
                r#""2026-11-26 10:00:01 INFO fine""#,
                r#""2026-11-26 10:00:02 WARN last\n  continued""#,
            ],
            "chunk {chunk}"
        );
        assert_eq!(tags(&events[0]), r#"["multiline"]"#);
        assert_eq!(tags(&events[1]), "<absent>");
    }
}

#[test]
fn multiline_next_limits_and_messages() {
    // Lines ending in a backslash continue on the next line.
    let mut c = codec(r#"multiline { pattern => "\\$" what => "next" multiline_tag => "joined" }"#)
        .unwrap();
    let events = decode_all(c.as_mut(), b"a \\\nb \\\nc\nd\n", 3);
    assert_eq!(get(&events[0], "message"), r#""a \\\nb \\\nc""#);
    assert_eq!(tags(&events[0]), r#"["joined"]"#);
    assert_eq!(get(&events[1], "message"), r#""d""#);

    // max_lines: the event is cut after the limit and tagged.
    let mut c =
        codec(r#"multiline { pattern => "^\s" what => "previous" max_lines => 2 }"#).unwrap();
    let events = decode_all(c.as_mut(), b"x\n 1\n 2\n 3\ny\n", 4096);
    assert_eq!(get(&events[0], "message"), r#""x\n 1\n 2""#);
    assert_eq!(
        tags(&events[0]),
        r#"["multiline","multiline_codec_max_lines_reached"]"#
    );
    assert_eq!(get(&events[1], "message"), r#"" 3""#);
    assert_eq!(get(&events[2], "message"), r#""y""#);

    // Whole messages (a file's lines): held until the event is complete, then counted off.
    let mut c = codec(r#"multiline { pattern => "^\s" what => "previous" }"#).unwrap();
    let mut out = Vec::new();
    for line in ["head", " more", " more"] {
        c.decode_message(line.as_bytes(), &mut |e| out.push(e));
    }
    assert!(out.is_empty());
    assert_eq!(c.held(), 3);
    c.decode_message(b"next", &mut |e| out.push(e));
    assert_eq!(out.len(), 1);
    assert_eq!(c.held(), 1);

    let err = codec(r#"multiline { pattern => "x" }"#).err().unwrap();
    assert!(err.contains("needs `what`"), "{err}");
    let err = codec(r#"multiline { pattern => "%{NOPE}" what => "next" }"#)
        .err()
        .unwrap();
    assert!(err.contains("NOPE"), "{err}");
}

#[test]
fn multiline_auto_flush_emits_a_held_event_after_the_interval() {
    let mut c =
        codec(r#"multiline { pattern => "^\s" what => "previous" auto_flush_interval => 0.2 }"#)
            .unwrap();
    assert_eq!(c.auto_flush(), Some(std::time::Duration::from_millis(200)));
    let mut out = Vec::new();
    c.decode(b"first\n second\n", &mut |e| out.push(e));
    c.tick(&mut |e| out.push(e));
    assert!(out.is_empty(), "not yet");
    std::thread::sleep(std::time::Duration::from_millis(250));
    c.tick(&mut |e| out.push(e));
    assert_eq!(out.len(), 1);
    assert_eq!(get(&out[0], "message"), r#""first\n second""#);
}

// ---- cef ----

/// The example of ArcSight's CEF specification, behind a syslog header.
const WORM: &str = "Jun 13 12:00:00 fw01 CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232";

fn cef_one(conf: &str, line: &str) -> rstash_event::Event {
    let mut c = codec(conf).unwrap();
    let mut out = decode_all(c.as_mut(), line.as_bytes(), 1 << 20);
    assert_eq!(out.len(), 1);
    out.remove(0)
}

#[test]
fn cef_decodes_headers_and_extensions_with_cef_names() {
    let e = cef_one("cef { }", WORM);
    for (k, v) in [
        ("syslog", "Jun 13 12:00:00 fw01"),
        ("cefVersion", "0"),
        ("deviceVendor", "Security"),
        ("deviceProduct", "threatmanager"),
        ("deviceVersion", "1.0"),
        ("deviceEventClassId", "100"),
        ("name", "worm successfully stopped"),
        ("severity", "10"),
        ("sourceAddress", "10.0.0.1"),
        ("destinationAddress", "2.1.2.2"),
        ("sourcePort", "1232"),
    ] {
        assert_eq!(get(&e, k), format!("{v:?}"), "{k}");
    }
    // Escapes in the header and in values; values keep spaces and unescaped `=` inside words.
    let e = cef_one(
        "cef { }",
        r"CEF:0|Acme\|Corp|Back\\slash|2|42|a \| pipe|5|msg=two words and \= sign\nnext request=http://x.example/?a=b&c=d cs1Label=Rule cs1=r 1 act=blocked",
    );
    assert_eq!(get(&e, "deviceVendor"), r#""Acme|Corp""#);
    assert_eq!(get(&e, "deviceProduct"), r#""Back\\slash""#);
    assert_eq!(get(&e, "name"), r#""a | pipe""#);
    assert_eq!(get(&e, "message"), r#""two words and = sign\nnext""#);
    assert_eq!(get(&e, "requestUrl"), r#""http://x.example/?a=b&c=d""#);
    assert_eq!(get(&e, "deviceCustomString1Label"), r#""Rule""#);
    assert_eq!(get(&e, "deviceCustomString1"), r#""r 1""#);
    assert_eq!(get(&e, "deviceAction"), r#""blocked""#);
    // Not CEF: the payload is kept and tagged.
    for bad in [
        "not cef at all",
        "CEF:0|only|three|fields",
        "CEF:0|a|b|c|d|e|f|keyless value",
    ] {
        let e = cef_one("cef { }", bad);
        assert_eq!(get(&e, "message"), format!("{bad:?}"));
        assert_eq!(tags(&e), r#"["_cefparsefailure"]"#, "{bad}");
    }
}

#[test]
fn cef_ecs_fields_and_timestamps() {
    let line = "CEF:0|Vendor|Prod|3.1|sig|Blocked|7|rt=1678960800000 src=10.1.1.1 spt=443 dvc=192.0.2.9 dvchost=fw1 end=Mar 16 2023 10:00:05 UTC cn1=9 cn1Label=score";
    let e = cef_one(r#"cef { ecs_compatibility => v8 }"#, line);
    assert_eq!(get(&e, "@timestamp"), r#""2023-03-16T10:00:00.000Z""#);
    assert_eq!(get(&e, "[cef][version]"), r#""0""#);
    assert_eq!(get(&e, "[observer][vendor]"), r#""Vendor""#);
    assert_eq!(get(&e, "[observer][ip]"), r#""192.0.2.9""#);
    assert_eq!(get(&e, "[observer][hostname]"), r#""fw1""#);
    assert_eq!(get(&e, "[event][code]"), r#""sig""#);
    assert_eq!(get(&e, "[event][severity]"), r#""7""#);
    assert_eq!(get(&e, "[event][end]"), r#""2023-03-16T10:00:05.000Z""#);
    assert_eq!(get(&e, "[source]"), r#"{"ip":"10.1.1.1","port":"443"}"#);
    assert_eq!(
        get(&e, "[cef][device_custom_number_1]"),
        r#"{"value":"9","label":"score"}"#
    );
    let e = cef_one(
        r#"cef { ecs_compatibility => v8 device => "host" default_timezone => "Europe/Oslo" }"#,
        "CEF:0|V|P|1|s|n|3|dvc=192.0.2.9 start=Jan 02 2024 12:00:00",
    );
    assert_eq!(get(&e, "[host][ip]"), r#""192.0.2.9""#);
    assert_eq!(get(&e, "[event][start]"), r#""2024-01-02T11:00:00.000Z""#);
    let e = cef_one(
        r#"cef { ecs_compatibility => v8 }"#,
        "CEF:0|V|P|1|s|n|3|rt=yesterday-ish",
    );
    assert_eq!(tags(&e), r#"["_cefparsefailure"]"#);
}

#[test]
fn cef_encodes_and_reads_back() {
    let mut c = codec(
        r#"cef { vendor => "Acme|Co" product => "%{prod}" severity => "%{sev}" fields => ["sourceAddress", "message", "[geo][city]", "tags"] delimiter => "\n" }"#,
    )
    .unwrap();
    let e = event(
        r#"{"prod": "edge", "sev": "11", "sourceAddress": "10.0.0.1", "message": "a=b \\ c\nd", "geo": {"city": "Oslo"}, "tags": ["x"]}"#,
    );
    let mut out = Vec::new();
    c.encode(&e, &mut out);
    let line = String::from_utf8(out).unwrap();
    assert_eq!(
        line,
        "CEF:0|Acme\\|Co|edge|1.0|Logstash|Logstash|6|sourceAddress=10.0.0.1 message=a\\=b \\\\ c\\nd geocity=Oslo tags=[\"x\"]\n"
    );
    let mut back = codec(r#"cef { delimiter => "\n" }"#).unwrap();
    let events = decode_all(back.as_mut(), line.as_bytes(), 7);
    assert_eq!(get(&events[0], "deviceVendor"), r#""Acme|Co""#);
    assert_eq!(get(&events[0], "message"), r#""a=b \\ c\nd""#);
    assert_eq!(get(&events[0], "sourceAddress"), r#""10.0.0.1""#);
    // reverse_mapping writes CEF keys.
    let mut c = codec(
        r#"cef { reverse_mapping => true fields => ["sourceAddress", "deviceCustomString1"] }"#,
    )
    .unwrap();
    let mut out = Vec::new();
    c.encode(
        &event(r#"{"sourceAddress": "10.0.0.2", "deviceCustomString1": "v"}"#),
        &mut out,
    );
    assert!(String::from_utf8(out)
        .unwrap()
        .ends_with("|6|src=10.0.0.2 cs1=v"));
}

/// One MessagePack map, written byte by byte from the format's specification.
fn msgpack_doc() -> Vec<u8> {
    let mut b = vec![0x85];
    let s = |b: &mut Vec<u8>, t: &str| {
        b.push(0xa0 | t.len() as u8);
        b.extend_from_slice(t.as_bytes());
    };
    s(&mut b, "message");
    s(&mut b, "hi");
    s(&mut b, "n");
    b.push(0x01);
    s(&mut b, "@timestamp");
    s(&mut b, "2026-01-02T03:04:05.000Z");
    s(&mut b, "tags");
    b.push(0x91);
    s(&mut b, "a");
    s(&mut b, "f");
    b.push(0xcb);
    b.extend_from_slice(&1.5f64.to_be_bytes());
    b
}

#[test]
fn msgpack_decodes_maps_and_tags_what_is_not_one() {
    let doc = msgpack_doc();
    let mut c = codec("msgpack { }").unwrap();
    let events = decode_all(c.as_mut(), &doc, doc.len());
    assert_eq!(events.len(), 1);
    assert_eq!(get(&events[0], "message"), r#""hi""#);
    assert_eq!(get(&events[0], "n"), "1");
    assert_eq!(get(&events[0], "f"), "1.5");
    assert_eq!(get(&events[0], "tags"), r#"["a"]"#);
    assert_eq!(
        get(&events[0], "@timestamp"),
        r#""2026-01-02T03:04:05.000Z""#
    );
    // `target` and `format`.
    let mut c = codec(r#"msgpack { target => "[doc]" format => "got %{[doc][n]}" }"#).unwrap();
    let events = decode_all(c.as_mut(), &doc, doc.len());
    assert_eq!(get(&events[0], "[doc][message]"), r#""hi""#);
    assert_eq!(get(&events[0], "message"), r#""got 1""#);
    // Not a map (a bare string), or garbage: kept as text and tagged.
    for bad in [&b"\xa3abc"[..], b"plain text"] {
        let events = decode_all(codec("msgpack {}").unwrap().as_mut(), bad, bad.len());
        assert_eq!(tags(&events[0]), r#"["_msgpackparsefailure"]"#);
    }
}

#[test]
fn msgpack_encodes_what_it_decodes() {
    let doc = msgpack_doc();
    let mut c = codec("msgpack { }").unwrap();
    let events = decode_all(c.as_mut(), &doc, doc.len());
    let mut out = Vec::new();
    c.encode(&events[0], &mut out);
    // Same fields, same order, @timestamp as ISO-8601 text: the same bytes but for `@version`,
    // which the event gained (Logstash adds it too).
    let back = decode_all(c.as_mut(), &out, out.len());
    assert_eq!(back[0].data(), events[0].data());
    assert!(out.starts_with(&[0x86]));
}

proptest::proptest! {
    #[test]
    fn msgpack_takes_any_bytes(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..64)) {
        let mut c = codec("msgpack {}").unwrap();
        let events = decode_all(c.as_mut(), &data, data.len());
        proptest::prop_assert_eq!(events.len(), 1);
    }
}

/// The edn codec spec's document, as the edn gem writes it.
const EDN_DOC: &str =
    r#"{"foo" "bar", "baz" {"bah" ["a" "b" "c"]}, "@timestamp" "2014-05-30T02:52:17.929Z"}"#;

#[test]
fn edn_decodes_maps_keywords_and_instants() {
    let mut c = codec("edn { }").unwrap();
    let events = decode_all(c.as_mut(), EDN_DOC.as_bytes(), EDN_DOC.len());
    assert_eq!(get(&events[0], "foo"), r#""bar""#);
    assert_eq!(get(&events[0], "[baz][bah]"), r#"["a","b","c"]"#);
    assert_eq!(
        get(&events[0], "@timestamp"),
        r#""2014-05-30T02:52:17.929Z""#
    );
    // Clojure's own spelling: keywords, a set, a list, nil, a character, #inst, a comment, #_.
    let clj = r#"{:level :warn, :app/name "pay" #_ :skipped :n 42 :ratio 0.5 :ids #{1} :path (1 2)
                  :none nil :c \x :at #inst "2026-01-02T03:04:05.000-00:00" ; a comment
                  }"#;
    let events = decode_all(c.as_mut(), clj.as_bytes(), clj.len());
    assert_eq!(get(&events[0], "level"), r#""warn""#);
    assert_eq!(get(&events[0], "[app/name]"), r#""pay""#);
    assert_eq!(get(&events[0], "n"), "42");
    assert_eq!(get(&events[0], "ratio"), "0.5");
    assert_eq!(get(&events[0], "ids"), "[1]");
    assert_eq!(get(&events[0], "path"), "[1,2]");
    assert_eq!(get(&events[0], "none"), "null");
    assert_eq!(get(&events[0], "c"), r#""x""#);
    assert_eq!(get(&events[0], "at"), r#""2026-01-02T03:04:05.000Z""#);
    assert_eq!(get(&events[0], "skipped"), "<absent>");
    // `target`; and what is not a map falls back to plain text.
    let mut c = codec(r#"edn { target => "[doc]" }"#).unwrap();
    let events = decode_all(c.as_mut(), EDN_DOC.as_bytes(), EDN_DOC.len());
    assert_eq!(get(&events[0], "foo"), "<absent>");
    assert_eq!(get(&events[0], "[doc][foo]"), r#""bar""#);
    assert_eq!(
        get(&events[0], "[doc][@timestamp]"),
        r#""2014-05-30T02:52:17.929Z""#
    );
    for bad in ["[1 2]", "{:a", "plain text"] {
        let events = decode_all(codec("edn {}").unwrap().as_mut(), bad.as_bytes(), bad.len());
        assert_eq!(get(&events[0], "message"), format!("{bad:?}"));
    }
}

#[test]
fn edn_encodes_as_the_edn_gem() {
    let mut c = codec("edn { }").unwrap();
    let json = r#"{"foo":"bar","baz":{"bah":["a","b","c"]},"quote":"say \"hi\" \\o/","x":1e20}"#;
    let mut e = decode_all(
        codec("json {}").unwrap().as_mut(),
        json.as_bytes(),
        json.len(),
    )
    .remove(0);
    e.set_timestamp(rstash_event::Timestamp::parse_lenient("2014-05-30T02:52:17.929Z").unwrap());
    e.data_mut().shift_remove("@version");
    let mut out = Vec::new();
    c.encode(&e, &mut out);
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        r#"{"@timestamp" "2014-05-30T02:52:17.929Z", "foo" "bar", "baz" {"bah" ["a" "b" "c"]}, "quote" "say \"hi\" \\o/", "x" 1.0e+20}"#
    );
    let back = decode_all(c.as_mut(), &out, out.len());
    assert_eq!(get(&back[0], "quote"), get(&e, "quote"));
}

proptest::proptest! {
    #[test]
    fn edn_takes_any_text(data in "\\PC{0,40}") {
        let mut c = codec("edn {}").unwrap();
        let events = decode_all(c.as_mut(), data.as_bytes(), data.len().max(1));
        proptest::prop_assert!(events.len() <= 1);
    }
}
