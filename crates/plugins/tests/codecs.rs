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
