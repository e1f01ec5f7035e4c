//! Codecs from issue 10 (es_bulk, cef), each decoded from bytes fed in odd-sized pieces and
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
