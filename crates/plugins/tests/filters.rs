//! The everyday filters (kv, dissect, csv, split, clone, fingerprint, translate, truncate,
//! urldecode, uuid, prune, throttle, aggregate), each through a config as a user writes it,
//! asserting the fields events end up with. Expected values come from Logstash's documentation
//! and its plugins' specs.

mod common;

use common::*;
use rstash_event::{json, Event, FieldRef, Map, Value};
use rstash_pipeline::FilterNode;

// ---- kv ----

#[test]
fn kv_splits_pairs_with_quotes_brackets_and_repeats() {
    let e = msg(
        r#"kv { add_tag => "kv" }"#,
        r#"ip=1.2.3.4 error=REFUSED user="John Smith" list=[a b] a=1 a=2 broken junk"#,
    );
    assert_eq!(get(&e, "ip"), r#""1.2.3.4""#);
    assert_eq!(get(&e, "error"), r#""REFUSED""#);
    assert_eq!(get(&e, "user"), r#""John Smith""#);
    assert_eq!(get(&e, "list"), r#""a b""#);
    assert_eq!(get(&e, "a"), r#"["1","2"]"#);
    assert_eq!(get(&e, "broken"), "<absent>");
    assert_eq!(tags(&e), r#"["kv"]"#);
}

#[test]
fn kv_options_shape_keys_and_values() {
    let e = msg(
        r#"kv {
          field_split => "&?"
          value_split => ":"
          trim_value => "<>"
          trim_key => " "
          prefix => "arg_"
          include_keys => ["pin", "eid", "dup"]
          transform_key => "lowercase"
          allow_duplicate_values => false
          target => "[query]"
        }"#,
        "?PIN:<12345>&eid:sz&other:x&dup:1&dup:1&dup:2",
    );
    assert_eq!(get(&e, "[query][arg_pin]"), r#""12345""#);
    assert_eq!(get(&e, "[query][arg_eid]"), r#""sz""#);
    assert_eq!(get(&e, "[query][arg_dup]"), r#"["1","2"]"#);
    assert_eq!(get(&e, "[query][arg_other]"), "<absent>");
    assert_eq!(get(&e, "[query][other]"), "<absent>");
}

#[test]
fn kv_exclude_default_keys_recursive_and_nothing_found() {
    let e = msg(
        r#"kv { exclude_keys => ["secret"] default_keys => { "level" => "info" } recursive => true }"#,
        "a=1 secret=x inner=(b=2 c=3)",
    );
    assert_eq!(get(&e, "secret"), "<absent>");
    assert_eq!(get(&e, "level"), r#""info""#);
    assert_eq!(get(&e, "[inner][b]"), r#""2""#);
    assert_eq!(get(&e, "[inner][c]"), r#""3""#);
    // No pairs: nothing changes and add_tag does not apply.
    let e = msg(r#"kv { add_tag => "kv" }"#, "no pairs here");
    assert_eq!(tags(&e), "<absent>");
    // Lenient whitespace around the separator; strict refuses it.
    assert_eq!(get(&msg("kv {}", "a = 1"), "a"), r#""1""#);
    assert_eq!(
        get(&msg(r#"kv { whitespace => "strict" }"#, "a = 1"), "a"),
        "<absent>"
    );
    // Regex separators.
    let e = msg(
        r#"kv { field_split_pattern => ", *" value_split_pattern => "=>?" }"#,
        "x=>1,   y=2",
    );
    assert_eq!(
        (get(&e, "x"), get(&e, "y")),
        (r#""1""#.into(), r#""2""#.into())
    );
}

// ---- dissect ----

#[test]
fn dissect_syslog_line_with_append_and_skip() {
    let e = msg(
        r#"dissect { mapping => { "message" => "%{ts} %{+ts} %{+ts} %{src} %{} %{prog}[%{pid}]: %{msg}" } }"#,
        "Mar 16 00:01:25 evita skip-this postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]",
    );
    assert_eq!(get(&e, "ts"), r#""Mar 16 00:01:25""#);
    assert_eq!(get(&e, "src"), r#""evita""#);
    assert_eq!(get(&e, "prog"), r#""postfix/smtpd""#);
    assert_eq!(get(&e, "pid"), r#""1713""#);
    assert_eq!(
        get(&e, "msg"),
        r#""connect from camomile.cloud9.net[168.100.1.3]""#
    );
    assert_eq!(
        e.data().len(),
        8,
        "no field for the skipped %{{}}: {:?}",
        e.data().keys()
    );
}

#[test]
fn dissect_append_order_indirect_padding_and_empty_fields() {
    let d = |p: &str, text: &str| {
        msg(
            &format!(r#"dissect {{ mapping => {{ "message" => "{p}" }} }}"#),
            text,
        )
    };
    assert_eq!(
        get(&d("%{+a/2} %{+a/1} %{+a/4} %{+a/3}", "1 2 3 go"), "a"),
        r#""2 1 go 3""#
    );
    let e = d("%{a} %{b} %{+a}", "1 2 3 go");
    assert_eq!(
        (get(&e, "a"), get(&e, "b")),
        (r#""1 3 go""#.into(), r#""2""#.into())
    );
    let e = d(
        "error: %{?err}, %{&err}",
        "error: some_error, some_description",
    );
    assert_eq!(get(&e, "some_error"), r#""some_description""#);
    assert_eq!(get(&e, "err"), "<absent>");
    let e = d(
        "%{id} %{function->} %{server}",
        "00000043 ViewReceive     machine-321",
    );
    assert_eq!(get(&e, "function"), r#""ViewReceive""#);
    assert_eq!(get(&e, "server"), r#""machine-321""#);
    let e = d(
        "%{name},%{addr1},%{addr2},%{addr3},%{city},%{zip}",
        "Jane Doe,4321 Fifth Avenue,,,New York,87432",
    );
    assert_eq!(get(&e, "addr2"), r#""""#);
    assert_eq!(get(&e, "city"), r#""New York""#);
    let e = d("[%{[http][method]}] %{[http][path]}", "[GET] /index.html");
    assert_eq!(get(&e, "[http][method]"), r#""GET""#);
}

#[test]
fn dissect_failure_leaves_the_event_and_tags_it() {
    let f = r#"dissect { mapping => { "message" => "%{a} - %{b} - %{c}" } add_tag => "ok" convert_datatype => { "a" => "int" } }"#;
    // The conversion still runs: the field the dissection did not set gets a null-value tag.
    let e = msg(f, "1 - 2 and no more");
    assert_eq!(get(&e, "a"), "<absent>");
    assert_eq!(
        tags(&e),
        r#"["_dissectfailure","_dataconversionnullvalue_a_int"]"#
    );
    let e = msg(f, "7 - 2 - 3");
    assert_eq!(get(&e, "a"), "7");
    assert_eq!(tags(&e), r#"["ok"]"#);
    let e = msg(f, "3.5 - 2 - 3");
    assert_eq!(get(&e, "a"), "3");
    // Past 64 bits an integer keeps every digit (Logstash's BigInteger), in JSON too.
    let e = run(
        r#"dissect { convert_datatype => { "n" => "int" } }"#,
        r#"{"n": "43947404257507186289"}"#,
    );
    assert_eq!(get(&e, "n"), "43947404257507186289");
    // No source field: logged, not a dissect failure.
    let e = run(f, r#"{"other": "x"}"#);
    assert_eq!(tags(&e), r#"["_dataconversionnullvalue_a_int"]"#);
    let e = msg(
        r#"dissect { mapping => { "message" => "%{n} %{x}" } convert_datatype => { "n" => "float" } tag_on_failure => ["bad"] }"#,
        "2.5 y",
    );
    assert_eq!(get(&e, "n"), "2.5");
    assert!(
        build_err(r#"dissect { mapping => { "message" => "%{a}%{b}" } }"#).contains("no delimiter")
    );
    assert!(
        build_err(r#"dissect { convert_datatype => { "a" => "long" } }"#).contains("int or float")
    );
}

// ---- csv ----

#[test]
fn csv_columns_quotes_and_generated_names() {
    let e = msg(
        r#"csv { columns => ["name", "city", "n"] convert => { "n" => "integer" } }"#,
        r#""Smith, John","He said ""hi""",42,extra,"#,
    );
    assert_eq!(get(&e, "name"), r#""Smith, John""#);
    assert_eq!(get(&e, "city"), r#""He said \"hi\"""#);
    assert_eq!(get(&e, "n"), "42");
    assert_eq!(get(&e, "column4"), r#""extra""#);
    assert_eq!(get(&e, "column5"), "null");
    let e = msg(
        r#"csv { separator => "	" columns => ["a","b","c"] skip_empty_columns => true target => "row" autogenerate_column_names => false }"#,
        "1\t\t3\t4",
    );
    assert_eq!(get(&e, "[row][a]"), r#""1""#);
    assert_eq!(get(&e, "[row][b]"), "<absent>");
    assert_eq!(get(&e, "[row][c]"), r#""3""#);
    assert_eq!(get(&e, "[row][column4]"), "<absent>");
    let e = msg(
        r#"csv { quote_char => "'" convert => { "column2" => "boolean" "column3" => "float" } }"#,
        "'a,b',yes,1.5",
    );
    assert_eq!(
        (get(&e, "column1"), get(&e, "column2"), get(&e, "column3")),
        (r#""a,b""#.into(), "true".into(), "1.5".into())
    );
}

#[test]
fn csv_bad_quoting_is_tagged_and_headers_are_handled() {
    let e = msg("csv {}", r#"a,b"c,d"#);
    assert_eq!(tags(&e), r#"["_csvparsefailure"]"#);
    let e = msg("csv {}", r#""unclosed,x"#);
    assert_eq!(tags(&e), r#"["_csvparsefailure"]"#);
    let lines =
        ["host,status", "web1,200", "web2,500"].map(|l| event(&format!(r#"{{"message":"{l}"}}"#)));
    let out = run_all("csv { autodetect_column_names => true }", lines.to_vec());
    assert_eq!(out.len(), 2, "the header line is consumed");
    assert_eq!(
        (get(&out[1], "host"), get(&out[1], "status")),
        (r#""web2""#.into(), r#""500""#.into())
    );
    let lines =
        ["host,status", "web1,200", ",", ""].map(|l| event(&format!(r#"{{"message":"{l}"}}"#)));
    let out = run_all(
        r#"csv { columns => ["host","status"] skip_header => true skip_empty_rows => true }"#,
        lines.to_vec(),
    );
    // The header is dropped; an empty line is kept and tagged (a `,` line is not empty).
    assert_eq!(out.len(), 3);
    assert_eq!(get(&out[0], "host"), r#""web1""#);
    assert_eq!(tags(&out[2]), r#"["_csvskippedemptyfield"]"#);
}

// ---- split, clone ----

#[test]
fn split_makes_one_event_per_line_and_common_options_apply_to_them() {
    let out = run_all(
        r#"split { add_field => { "part" => "yes" } }"#,
        vec![event(r#"{"message":"one\ntwo\n\nthree","host":"h"}"#)],
    );
    let msgs: Vec<String> = out.iter().map(|e| get(e, "message")).collect();
    assert_eq!(msgs, [r#""one""#, r#""two""#, r#""three""#]);
    assert!(out
        .iter()
        .all(|e| get(e, "part") == r#""yes""# && get(e, "host") == r#""h""#));
    let out = run_all(
        r#"split { field => "items" target => "item" }"#,
        vec![event(r#"{"items":[1,{"a":2},3]}"#)],
    );
    assert_eq!(
        out.iter().map(|e| get(e, "item")).collect::<Vec<_>>(),
        ["1", r#"{"a":2}"#, "3"]
    );
    let out = run_all(
        r#"split { terminator => "," }"#,
        vec![event(r#"{"message":"solo"}"#)],
    );
    assert_eq!(out.len(), 1, "nothing to split: the event passes unchanged");
    let e = run(r#"split { field => "n" }"#, r#"{"n": 5}"#);
    assert_eq!(tags(&e), r#"["_split_type_failure"]"#);
}

#[test]
fn clone_copies_with_type_and_decorates_only_the_copies() {
    let out = run_all(
        r#"clone { clones => ["a", "b"] add_tag => "copy" }"#,
        vec![event(r#"{"message":"m"}"#)],
    );
    assert_eq!(out.len(), 3);
    assert_eq!(
        (get(&out[0], "type"), tags(&out[0])),
        ("<absent>".into(), "<absent>".into())
    );
    assert_eq!(
        (get(&out[1], "type"), tags(&out[1])),
        (r#""a""#.into(), r#"["copy"]"#.into())
    );
    assert_eq!(get(&out[2], "type"), r#""b""#);
    let out = run_all(
        r#"clone { clones => ["a"] ecs_compatibility => "v8" }"#,
        vec![event(r#"{"message":"m"}"#)],
    );
    assert_eq!(
        (get(&out[1], "type"), tags(&out[1])),
        ("<absent>".into(), r#"["a"]"#.into())
    );
}

// ---- fingerprint (values from the plugin's spec) ----

#[test]
fn fingerprint_digests_hmac_and_base64_match_logstash() {
    let ip = r#"{"clientip":"123.123.123.123"}"#;
    let fp = |opts: &str| {
        get(
            &run(
                &format!(r#"fingerprint {{ source => ["clientip"] {opts} }}"#),
                ip,
            ),
            "fingerprint",
        )
    };
    assert_eq!(fp(""), r#""3a5076c520b4b463f43806896ea0b3978d09dcae""#);
    assert_eq!(
        fp(r#"key => "longencryptionkey""#),
        r#""fdc60acc4773dc5ac569ffb78fcb93c9630797f4""#
    );
    assert_eq!(
        fp(r#"key => "longencryptionkey" base64encode => true"#),
        r#""/cYKzEdz3FrFaf+3j8uTyWMHl/Q=""#
    );
    assert_eq!(
        fp("base64encode => true"),
        r#""OlB2xSC0tGP0OAaJbqCzl40J3K4=""#
    );
    assert_eq!(
        fp(r#"method => "SHA256""#),
        r#""4dabcab210766e35f03e77120e6986d6e6d4752b2a9ff22980b9253d026080d8""#
    );
    assert_eq!(
        fp(r#"method => "SHA256" key => "longencryptionkey" base64encode => true"#),
        r#""NFvsPv8kLVO1aJFsJhCz45PYhda5bWQ/OElP10v0qco=""#
    );
    assert_eq!(
        fp(r#"method => "SHA384" key => "longencryptionkey""#),
        r#""22d4c0e8c4fbcdc4887d2038fca7650f0e2e0e2457ff41c06eb2a980dded6749561c814fe182aff93e2538d18593947a""#
    );
    assert_eq!(
        fp(r#"method => "SHA512""#),
        r#""5468e2dc64ea92b617782aae884b35af60041ac9e168a283615b6a462c54c13d42fa9542cce9b7d76a8124ac6616818905e3e5dd35d6e519f77c3b517558639a""#
    );
    assert_eq!(
        fp(r#"method => "MD5""#),
        r#""ccdd8d3d940a01b2fb3258c059924c0d""#
    );
    assert_eq!(
        fp(r#"method => "MD5" key => "longencryptionkey""#),
        r#""9336c879e305c9604a3843fc3e75948f""#
    );
    assert_eq!(fp(r#"method => "MURMUR3""#), "4013733395");
    assert_eq!(
        fp(r#"method => "IPV4_NETWORK" key => 24"#),
        r#""123.123.123.0""#
    );
    let n = run(
        r#"fingerprint { source => "clientip" method => "MURMUR3" }"#,
        r#"{"clientip":123}"#,
    );
    assert_eq!(get(&n, "fingerprint"), "823512154");
}

#[test]
fn fingerprint_arrays_concatenation_timestamps_and_punctuation() {
    let e = run(
        r#"fingerprint { source => "clientip" }"#,
        r#"{"clientip":["123.123.123.123","223.223.223.223"]}"#,
    );
    assert_eq!(
        get(&e, "fingerprint"),
        r#"["3a5076c520b4b463f43806896ea0b3978d09dcae","47bbc4e06edebbace047fed35abeceec64968b81"]"#
    );
    let two = r#"{"field1":"test1","field2":"test2"}"#;
    assert_eq!(
        get(
            &run(r#"fingerprint { source => ["field1","field2"] }"#, two),
            "fingerprint"
        ),
        r#""109f4b3c50d7b0df729d299bc6f8e9ef9066971f""#
    );
    assert_eq!(
        get(
            &run(
                r#"fingerprint { source => ["field2","field1"] concatenate_sources => true }"#,
                two
            ),
            "fingerprint"
        ),
        r#""e3b6b71eedc656f1d29408264e8a75535db985cb""#
    );
    let all = r#"{"@timestamp":"2017-07-26T14:44:27.064Z","clientip":"123.123.123.123","message":"This is a test message","log_level":"INFO","offset":123456789,"type":"test"}"#;
    assert_eq!(
        get(
            &run("fingerprint { concatenate_all_fields => true }", all),
            "fingerprint"
        ),
        r#""cbf022518e97860403160ed8a41847c0db104e63""#
    );
    let epoch = r#"{"@timestamp":"1970-01-01T00:00:00.000Z"}"#;
    assert_eq!(
        get(
            &run(
                r#"fingerprint { source => "@timestamp" key => "0123" }"#,
                epoch
            ),
            "fingerprint"
        ),
        r#""1d5379ec92d86a67cfc642d55aa050ca312d3b9a""#
    );
    assert_eq!(
        get(
            &run(
                r#"fingerprint { source => "@timestamp" method => "MURMUR3" }"#,
                epoch
            ),
            "fingerprint"
        ),
        "743372282"
    );
    let p = run(
        r#"fingerprint { method => "PUNCTUATION" source => "f" }"#,
        r#"{"f":"PHP Warning:  json_encode() [<a href='function.json-encode'>function.json-encode</a>]: Invalid UTF-8 sequence in argument in /var/www/htdocs/test.php on line 233"}"#,
    );
    assert_eq!(get(&p, "fingerprint"), r#"":_()[<='.-'>.-</>]:-////.""#);
    let a = run(
        r#"fingerprint { source => "a" }"#,
        r#"{"a":{"a0":0,"a1":1}}"#,
    );
    let b = run(
        r#"fingerprint { source => "a" }"#,
        r#"{"a":{"a1":1,"a0":0}}"#,
    );
    assert_eq!(
        get(&a, "fingerprint"),
        get(&b, "fingerprint"),
        "hash order does not matter"
    );
    let u = run(
        r#"fingerprint { method => "UUID" ecs_compatibility => "v8" }"#,
        "{}",
    );
    assert_eq!(get(&u, "[event][hash]").len(), 38);
    assert!(build_err(r#"fingerprint { method => "IPV4_NETWORK" }"#).contains("prefix length"));
}

// ---- translate ----

#[test]
fn translate_inline_exact_fallback_and_override() {
    let f = r#"translate { source => "status" dictionary => { "200" => "OK" "404" => "Not Found" } fallback => "unknown %{status}" }"#;
    assert_eq!(get(&run(f, r#"{"status":200}"#), "translation"), r#""OK""#);
    assert_eq!(
        get(&run(f, r#"{"status":"404"}"#), "translation"),
        r#""Not Found""#
    );
    assert_eq!(
        get(&run(f, r#"{"status":"503"}"#), "translation"),
        r#""unknown 503""#
    );
    // The target exists and override is off: untouched.
    assert_eq!(
        get(
            &run(f, r#"{"status":200,"translation":"keep"}"#),
            "translation"
        ),
        r#""keep""#
    );
    let o = r#"translate { field => "s" destination => "d" override => true dictionary => ["a", "A"] }"#;
    assert_eq!(get(&run(o, r#"{"s":"a","d":"old"}"#), "d"), r#""A""#);
    // ECS: the target defaults to the source, translated in place.
    let ecs =
        r#"translate { source => "s" dictionary => { "a" => "A" } ecs_compatibility => "v8" }"#;
    assert_eq!(get(&run(ecs, r#"{"s":"a"}"#), "s"), r#""A""#);
    // No match, no fallback: common options do not apply.
    let e = run(
        r#"translate { source => "s" dictionary => { "a" => "A" } add_tag => "t" }"#,
        r#"{"s":"zz"}"#,
    );
    assert_eq!(
        (get(&e, "translation"), tags(&e)),
        ("<absent>".into(), "<absent>".into())
    );
}

#[test]
fn translate_regex_and_substring_modes() {
    let r = r#"translate { source => "ua" regex => true dictionary => { "^curl/" => "cli" "Mozilla" => "browser" } }"#;
    assert_eq!(
        get(&run(r, r#"{"ua":"curl/8.0"}"#), "translation"),
        r#""cli""#
    );
    assert_eq!(
        get(&run(r, r#"{"ua":"x Mozilla/5.0"}"#), "translation"),
        r#""browser""#
    );
    let s = r#"translate { source => "m" exact => false dictionary => { "cat" => "dog" "red" => "blue" } }"#;
    assert_eq!(
        get(&run(s, r#"{"m":"a red cat, a cat"}"#), "translation"),
        r#""a blue dog, a dog""#
    );
    assert_eq!(
        get(&run(s, r#"{"m":"nothing"}"#), "translation"),
        "<absent>"
    );
}

#[test]
fn translate_dictionary_files_and_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let yml = dir.path().join("codes.yml");
    std::fs::write(&yml, "\"200\": OK\n'500': Server Error\nnested: {a: 1}\n").unwrap();
    let json_path = dir.path().join("codes.json");
    std::fs::write(&json_path, r#"{"200": "OK-json", "n": 5}"#).unwrap();
    let csv_path = dir.path().join("codes.csv");
    std::fs::write(&csv_path, "200,OK-csv\n\"4,04\",\"Not, Found\"\n").unwrap();
    let with = |p: &std::path::Path, extra: &str| {
        format!(
            r#"translate {{ source => "s" dictionary_path => "{}" {extra} }}"#,
            p.display()
        )
    };
    assert_eq!(
        get(&run(&with(&yml, ""), r#"{"s":500}"#), "translation"),
        r#""Server Error""#
    );
    assert_eq!(
        get(&run(&with(&yml, ""), r#"{"s":"nested"}"#), "translation"),
        r#"{"a":1}"#
    );
    assert_eq!(
        get(&run(&with(&json_path, ""), r#"{"s":"n"}"#), "translation"),
        "5"
    );
    assert_eq!(
        get(&run(&with(&csv_path, ""), r#"{"s":"4,04"}"#), "translation"),
        r#""Not, Found""#
    );

    let f = build(&with(
        &json_path,
        "refresh_interval => 1 refresh_behaviour => replace",
    ))
    .unwrap();
    let lookup = |f: &FilterNode| {
        let mut e = event(r#"{"s":"200"}"#);
        f.run(&mut e, &mut Vec::new());
        get(&e, "translation")
    };
    assert_eq!(lookup(&f), r#""OK-json""#);
    std::fs::write(&json_path, r#"{"200": "refreshed"}"#).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while lookup(&f) != r#""refreshed""# {
        assert!(
            std::time::Instant::now() < deadline,
            "the dictionary was not refreshed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A broken file keeps the old dictionary.
    std::fs::write(&json_path, "{not json").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(lookup(&f), r#""refreshed""#);

    let bad = dir.path().join("d.txt");
    std::fs::write(&bad, "x").unwrap();
    assert!(build_err(&with(&bad, "")).contains(".yml, .yaml, .json or .csv"));
    assert!(build_err(&with(&dir.path().join("missing.yml"), "")).contains("missing.yml"));
}

// ---- truncate, urldecode, uuid ----

#[test]
fn truncate_cuts_bytes_on_character_boundaries() {
    let e = run(
        r#"truncate { length_bytes => 4 }"#,
        r#"{"a":"héllo","b":["abcdef","x"],"n":123456}"#,
    );
    assert_eq!(get(&e, "a"), r#""hél""#);
    assert_eq!(get(&e, "b"), r#"["abcd","x"]"#);
    assert_eq!(get(&e, "n"), "123456");
    let e = run(
        r#"truncate { length_bytes => 2 fields => ["[x][y]"] }"#,
        r#"{"x":{"y":"€uro"},"z":"long"}"#,
    );
    assert_eq!(
        get(&e, "[x][y]"),
        r#""""#,
        "a 3-byte character does not fit in 2 bytes"
    );
    assert_eq!(get(&e, "z"), r#""long""#);
    assert!(build_err("truncate { }").contains("length_bytes"));
}

#[test]
fn urldecode_decodes_percent_runs_only() {
    let e = msg("urldecode {}", "europ%C3%A9enne+x%20y%zz%");
    assert_eq!(get(&e, "message"), r#""européenne+x y%zz%""#);
    let e = run(
        "urldecode { all_fields => true }",
        r#"{"a":"%41","b":["%42"],"c":{"d":"%43"},"bad":"%FF"}"#,
    );
    assert_eq!(
        (get(&e, "a"), get(&e, "b"), get(&e, "[c][d]")),
        (r#""A""#.into(), r#"["B"]"#.into(), r#""C""#.into())
    );
    // An invalid byte is written `\xFF`, as the plugin's scrub writes it.
    assert_eq!(get(&e, "bad"), r#""\\xFF""#);
    let e = run(
        r#"urldecode { field => "q" charset => "ISO-8859-1" }"#,
        r#"{"q":"caf%E9"}"#,
    );
    assert_eq!(get(&e, "q"), r#""café""#);
}

#[test]
fn uuid_sets_a_v4_unless_present() {
    let e = run(r#"uuid { target => "id" }"#, "{}");
    let id = get(&e, "id");
    assert_eq!(id.len(), 38);
    assert_eq!(&id[15..16], "4", "version 4: {id}");
    assert_eq!(
        get(&run(r#"uuid { target => "id" }"#, r#"{"id":"keep"}"#), "id"),
        r#""keep""#
    );
    assert_ne!(
        get(
            &run(
                r#"uuid { target => "id" overwrite => true }"#,
                r#"{"id":"keep"}"#
            ),
            "id"
        ),
        r#""keep""#
    );
    assert!(build_err("uuid { }").contains("target"));
}

// ---- prune ----

#[test]
fn prune_by_names_and_values() {
    let e = run(
        r#"prune { whitelist_names => ["^msg$", "^@timestamp$"] }"#,
        r#"{"msg":"m","other":1,"msg2":2}"#,
    );
    let keys: Vec<&str> = e.data().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["@timestamp", "msg"]);
    let e = run("prune {}", r#"{"%{unresolved}":1,"ok":2}"#);
    assert_eq!(
        (get(&e, "%{unresolved}"), get(&e, "ok")),
        ("<absent>".into(), "2".into())
    );
    let e = run(
        r#"prune { blacklist_names => ["^tmp_"] }"#,
        r#"{"tmp_a":1,"keep_tmp_":2}"#,
    );
    assert_eq!(
        (get(&e, "tmp_a"), get(&e, "keep_tmp_")),
        ("<absent>".into(), "2".into())
    );
    let e = run(
        r#"prune { whitelist_values => { "level" => "^(WARN|ERROR)$" } blacklist_values => { "hosts" => "^test" } }"#,
        r#"{"level":"DEBUG","hosts":["test1","prod1","test2"]}"#,
    );
    assert_eq!(
        (get(&e, "level"), get(&e, "hosts")),
        ("<absent>".into(), r#"["prod1"]"#.into())
    );
    let e = run(
        r#"prune { interpolate => true whitelist_names => ["^%{keep}$", "^keep$"] }"#,
        r#"{"keep":"a","a":1,"b":2}"#,
    );
    assert_eq!(
        (get(&e, "a"), get(&e, "b")),
        ("1".into(), "<absent>".into())
    );
}

// ---- throttle ----

fn at(secs: u32) -> Event {
    let ts = format!("2024-01-01T00:{:02}:{:02}.000Z", secs / 60, secs % 60);
    event(&format!(r#"{{"@timestamp":"{ts}","host":"h1"}}"#))
}

#[test]
fn throttle_marks_events_past_the_count_within_the_period() {
    let f = build(
        r#"throttle { key => "%{host}" after_count => 2 period => 60 add_tag => "throttled" }"#,
    )
    .unwrap();
    let marks: Vec<bool> = [0, 1, 2, 3, 59, 60, 61, 62]
        .into_iter()
        .map(|s| {
            let mut e = at(s);
            f.run(&mut e, &mut Vec::new());
            e.has_tag("throttled")
        })
        .collect();
    // Five events in the first window [0, 60): the 3rd onwards are marked; then a new window.
    assert_eq!(marks, [false, false, true, true, true, false, false, true]);
    let f = build(r#"throttle { key => "k" before_count => 3 period => "10" add_tag => "early" }"#)
        .unwrap();
    let marks: Vec<bool> = [0, 1, 2, 3, 10]
        .into_iter()
        .map(|s| {
            let mut e = at(s);
            f.run(&mut e, &mut Vec::new());
            e.has_tag("early")
        })
        .collect();
    assert_eq!(marks, [true, true, false, false, true]);
    assert!(build_err(r#"throttle { key => "k" }"#).contains("after_count"));
}

// ---- aggregate ----

// Its behaviour is tested through the binary (crates/rstash/tests/ruby.rs); built without the
// ruby feature, the config is refused with the reason.
#[cfg(not(feature = "ruby"))]
#[test]
fn aggregate_says_it_needs_ruby() {
    let e = build_err(r#"aggregate { task_id => "%{id}" code => "map['n'] ||= 0" }"#);
    assert!(
        e.contains("test.conf:2:") && e.contains("built without ruby"),
        "{e}"
    );
}

// ---- properties: parsers of untrusted text never panic; CSV reads back what it was given ----

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

    #[test]
    fn text_parsing_filters_take_any_input(text in "\\PC{0,80}|[=&, \"'\\[\\]()<>%a-c0-9]{0,80}") {
        let filters = [
            r#"kv { recursive => true }"#,
            r#"kv { field_split_pattern => "[,;]+" value_split => ":=" trim_value => "\"" }"#,
            r#"dissect { mapping => { "message" => "%{a} %{+a/2} [%{?k}=%{&k}] %{b->} %{}" } }"#,
            r#"csv { separator => ";;" }"#,
            r#"urldecode { }"#,
            r#"split { terminator => "&" }"#,
            r#"truncate { length_bytes => 7 }"#,
            r#"translate { source => "message" exact => false dictionary => { "a" => "b" "ab" => "c" } }"#,
        ];
        for f in filters {
            let out = run_all(f, vec![event(&json::value_to_string(&Value::Object(Map::from_iter([("message".into(), Value::from(text.as_str()))]))))]);
            for e in out {
                proptest::prop_assert!(e.get(&FieldRef::key("message")).is_some() || f.starts_with("split"));
            }
        }
    }

    #[test]
    fn csv_reads_back_quoted_rows(row in proptest::collection::vec("[^\\n\\r]{0,12}", 1..6)) {
        let line: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
        let parsed = rstash_plugins::filters::csv::parse_line(&line.join(","), ",", '"').unwrap();
        proptest::prop_assert_eq!(parsed, row.into_iter().map(Some).collect::<Vec<_>>());
    }
}
