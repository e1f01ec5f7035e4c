//! Bytes from outside never crash a process: every codec and text-parsing filter is fed arbitrary
//! and hostile input (a fixed number of generated cases per run), and input nested far deeper
//! than any real event is refused or kept flat on a worker-sized stack instead of overflowing it.

mod common;

use common::*;
use proptest::prelude::*;
use rstash_event::{json, FieldRef, Map, Value};

/// Every codec, with options that reach its less common paths.
const CODECS: &[&str] = &[
    "plain { }",
    "line { }",
    "json { }",
    "json_lines { }",
    "msgpack { }",
    "edn { }",
    "rubydebug { }",
    "dots { }",
    "es_bulk { }",
    r#"multiline { pattern => "^\s" what => "previous" max_lines => 5 }"#,
    "cef { }",
    r#"cef { delimiter => "\r\n" ecs_compatibility => v8 }"#,
];

/// Decodes `data` in `chunk`-byte pieces on a thread with a pipeline worker's stack (2 MiB), so
/// that a recursion the input can drive shows up as a crash here, as it would in rstash.
fn decode_on_worker_stack(conf: &'static str, data: Vec<u8>, chunk: usize) -> Vec<String> {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut c = codec(conf).unwrap();
            decode_all(c.as_mut(), &data, chunk)
                .iter()
                .map(json::event_to_string)
                .collect()
        })
        .unwrap()
        .join()
        .unwrap_or_else(|_| panic!("codec {conf} crashed"))
}

fn bytes_like(alphabet: &'static str) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(alphabet.as_bytes().to_vec()),
        0..300,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_codec_takes_any_bytes(
        data in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            bytes_like("{}[]\":,\\ 0123456789.-eE truefalsn\n"),
            bytes_like("#{}[]()\"; :abc\\ 12.5NM\n#inst#_"),
            bytes_like("CEF:0|\\=| a=b c=d\r\n<13>Jan 1 "),
        ],
        chunk in 1usize..64,
        which in 0..CODECS.len(),
    ) {
        decode_on_worker_stack(CODECS[which], data, chunk);
    }
}

fn nested(open: &str, n: usize, inner: &str, close: &str) -> String {
    let mut s = open.repeat(n);
    s.push_str(inner);
    s.push_str(&close.repeat(n));
    s
}

#[test]
fn deep_nesting_is_refused_by_every_codec_not_a_crash() {
    for n in [200, 20_000, 200_000] {
        // Each is a map holding `n` nested arrays: far past any real event.
        let cases: Vec<(&'static str, Vec<u8>)> = vec![
            (
                "json { }",
                format!("{{\"a\":{}}}", nested("[", n, "1", "]")).into_bytes(),
            ),
            (
                "json_lines { }",
                format!("{{\"a\":{}}}\n", nested("[", n, "1", "]")).into_bytes(),
            ),
            (
                "edn { }",
                format!("{{:a {}}}", nested("[", n, "1", "]")).into_bytes(),
            ),
            (
                "edn { }",
                format!("{{:a {}}}", nested("#_ ", n, "1 2", "")).into_bytes(),
            ),
            (
                "edn { }",
                format!("{{:a {}}}", nested("#t ", n, "1", "")).into_bytes(),
            ),
            (
                "es_bulk { }",
                format!(
                    "{{\"index\":{{}}}}\n{{\"a\":{}}}\n",
                    nested("[", n, "1", "]")
                )
                .into_bytes(),
            ),
            ("msgpack { }", {
                let mut b = vec![0x81, 0xa1, b'a'];
                b.extend(std::iter::repeat_n(0x91, n));
                b.push(0xc0);
                b
            }),
        ];
        for (conf, data) in cases {
            // Refused as a document (a plain-text fallback at most), never the deep value:
            // every event reads back within serde_json's own depth limit (128).
            for e in decode_on_worker_stack(conf, data, 4096) {
                let back = serde_json::from_str::<serde_json::Value>(&e);
                assert!(back.is_ok(), "{conf} kept {n} levels: {:?}", back.err());
            }
        }
    }
}

#[test]
fn kv_recursive_bounds_its_depth() {
    let text = (0..50_000).map(|i| format!("k{i}=")).collect::<String>() + "end";
    let out = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let fields = Value::Object(Map::from_iter([("message".into(), Value::from(text))]));
            run_all(
                "kv { recursive => true }",
                vec![event(&json::value_to_string(&fields))],
            )
        })
        .unwrap()
        .join()
        .expect("kv recursive crashed on deep input");
    // The first levels are parsed as objects; past the limit the rest stays one string.
    let mut v = out[0].get(&FieldRef::key("k0")).cloned();
    let mut depth = 0;
    while let Some(Value::Object(m)) = v {
        depth += 1;
        v = m.values().next().cloned();
    }
    assert_eq!(depth, rstash_event::MAX_DECODE_DEPTH);
    assert!(
        matches!(v, Some(Value::String(ref s)) if s.ends_with("=end")),
        "{v:?}"
    );
}

#[test]
fn marshal_reader_refuses_deep_values() {
    for n in [rstash_event::MAX_DECODE_DEPTH - 1, 100_000] {
        let mut b = vec![4, 8];
        // `[` with one element (Marshal's packed 1 is byte 6), n times, around nil.
        for _ in 0..n {
            b.extend_from_slice(b"[\x06");
        }
        b.push(b'0');
        let got = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || rstash_plugins::ruby_marshal::load(&b).is_some())
            .unwrap()
            .join()
            .expect("the Marshal reader crashed on deep input");
        assert_eq!(got, n < rstash_event::MAX_DECODE_DEPTH, "depth {n}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn marshal_reader_takes_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut b = vec![4, 8];
        b.extend(data);
        let _ = rstash_plugins::ruby_marshal::load(&b);
    }

    #[test]
    fn structured_filters_take_any_text(text in "\\PC{0,120}|[=:|%{}\\[\\] ,;\"'a-c0-9\\\\]{0,120}") {
        for f in [
            r#"kv { recursive => true value_split => "=:" field_split => " ,;" }"#,
            r#"kv { include_brackets => true whitespace => strict }"#,
            r#"dissect { mapping => { "message" => "%{a}|%{b}|%{?c}|%{&c}" } convert_datatype => { "a" => "int" } }"#,
            r#"csv { autodetect_column_names => false skip_empty_columns => true quote_char => "'" }"#,
            r#"json { source => "message" target => "j" }"#,
            r#"syslog_pri { syslog_pri_field_name => "message" }"#,
        ] {
            let fields = Value::Object(Map::from_iter([("message".into(), Value::from(text.as_str()))]));
            run_all(f, vec![event(&json::value_to_string(&fields))]);
        }
    }
}

#[test]
fn a_runaway_user_regex_is_bounded_per_event() {
    // `(a+)+$` backtracks exponentially on a run of `a`s that does not end the line: every
    // engine without a budget stalls the worker. Here each match gives up and the event is
    // tagged; the next event is served as usual.
    let text = format!("{}!", "a".repeat(64));
    let e = msg(r#"mutate { gsub => [ "message", "(a+)+$", "x" ] }"#, &text);
    assert_eq!(tags(&e), r#"["_mutate_error"]"#);
    assert_eq!(get(&e, "message"), format!("{:?}", text));
    let e = msg(r#"mutate { gsub => [ "message", "(a+)+$", "x" ] }"#, "aaa");
    assert_eq!(get(&e, "message"), r#""x""#);
}
