//! JSON as Logstash writes it (Jackson: compact, Java float text, only the data map) and reads it.

use std::fmt;

use serde::de::{Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::event::Event;
use crate::numfmt::java_double;

use crate::value::{Key, Map, Value};

/// The event's JSON (no `@metadata`), appended to `out`.
pub fn write_event(e: &Event, out: &mut Vec<u8>) {
    write_map(e.data(), out)
}

pub fn event_to_string(e: &Event) -> String {
    let mut v = Vec::with_capacity(256);
    write_event(e, &mut v);
    String::from_utf8_lossy(&v).into_owned()
}

pub fn value_to_string(v: &Value) -> String {
    let mut out = Vec::new();
    write_value(v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub fn write_map(m: &Map, out: &mut Vec<u8>) {
    out.push(b'{');
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(k, out);
        out.push(b':');
        write_value(v, out);
    }
    out.push(b'}');
}

pub fn write_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Value::BigInt(d) => out.extend_from_slice(d.as_bytes()),
        Value::Float(f) if f.is_finite() => out.extend_from_slice(java_double(*f).as_bytes()),
        Value::Float(f) => {
            out.push(b'"');
            out.extend_from_slice(java_double(*f).as_bytes());
            out.push(b'"');
        }
        Value::String(s) => write_str(s, out),
        Value::Timestamp(t) => {
            out.push(b'"');
            out.extend_from_slice(t.iso().as_bytes());
            out.push(b'"');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(x, out);
            }
            out.push(b']');
        }
        Value::Object(m) => write_map(m, out),
    }
}

/// Which bytes `write_str` escapes: `"`, `\\` and the control characters.
const ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Jackson's escapes: `"` `\` and control characters; `/`, DEL and non-ASCII are written raw.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    // Runs without escapes are copied whole: most strings have none.
    while let Some(k) = bytes[start..].iter().position(|&b| ESCAPED[b as usize]) {
        let i = start + k;
        out.extend_from_slice(&bytes[start..i]);
        let b = bytes[i];
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Parses JSON text into a value, keeping object key order.
pub fn parse(text: &[u8]) -> Result<Value, serde_json::Error> {
    match utf8(text) {
        Some(t) => serde_json::from_str(t),
        // serde_json says where the text stops being JSON or UTF-8.
        None => serde_json::from_slice(text),
    }
}

/// JSON text validated as a whole, in one SIMD pass: serde_json checks each string of a byte
/// slice on its own, a cost per string that text read as `str` does not pay.
fn utf8(text: &[u8]) -> Option<&str> {
    simdutf8::basic::from_utf8(text).ok()
}

/// Parses a JSON object's top-level entries into `out` (cleared first), in document order; a key
/// given twice keeps its first place and its last value, as in a parsed `Map`. For a caller that
/// takes the entries apart (the beats input merges them into its codec's event): no map is built
/// and dropped per object, and `out` keeps its capacity from one call to the next.
/// `Ok(false)`: the text is not an object, or not UTF-8 (nothing parsed; `parse` tells what it
/// is).
pub fn parse_object_into(
    text: &[u8],
    out: &mut Vec<(Key, Value)>,
) -> Result<bool, serde_json::Error> {
    out.clear();
    if text.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Ok(false);
    }
    let Some(text) = utf8(text) else {
        return Ok(false);
    };
    let mut de = serde_json::Deserializer::from_str(text);
    Entries(out).deserialize(&mut de)?;
    de.end()?;
    Ok(true)
}

struct Entries<'a>(&'a mut Vec<(Key, Value)>);

impl<'de> DeserializeSeed<'de> for Entries<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Entries<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Key and value apart: a (key, value) pair is one more copy of both on the way.
        while let Some(k) = map.next_key::<Key>()? {
            let v = map.next_value::<Value>()?;
            put_entry(self.0, k, v);
        }
        Ok(())
    }
}

/// Adds an entry as a parsed `Map` takes it: a key given twice keeps its first place and takes
/// its last value.
pub fn put_entry(entries: &mut Vec<(Key, Value)>, k: Key, v: Value) {
    match entries.iter_mut().find(|(seen, _)| *seen == k) {
        Some(slot) => slot.1 = v,
        None => crate::map::push_pair_with(entries, || k, || v),
    }
}

/// Decodes JSON into events as Logstash's json codecs do: an object is one event, an array one
/// event per object element; anything else is an error for the caller to tag.
pub fn parse_events(text: &[u8]) -> Result<Vec<Event>, String> {
    match parse(text) {
        Ok(Value::Object(m)) => Ok(vec![Event::from_map(m)]),
        Ok(Value::Array(a)) => a
            .into_iter()
            .map(|v| match v {
                Value::Object(m) => Ok(Event::from_map(m)),
                other => Err(format!(
                    "expected a JSON object, found {}",
                    value_to_string(&other)
                )),
            })
            .collect(),
        Ok(other) => Err(format!(
            "expected a JSON object, found {}",
            value_to_string(&other)
        )),
        Err(e) => Err(e.to_string()),
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::Int)
            .unwrap_or(Value::Float(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Value::Array(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        // Entries go straight into the map: gathering them first (JSON gives no size hint) moved
        // each key and value twice more, and those copies of fresh values stalled.
        let mut m = Map::with_capacity(4);
        while let Some(k) = map.next_key::<Key>()? {
            let v = map.next_value::<Value>()?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    #[test]
    fn reference_line() {
        let mut e = Event::new();
        e.set_timestamp(Timestamp("2024-05-01T12:34:56.123Z".parse().unwrap()));
        let d = e.data_mut();
        d.insert("message".into(), "héllo \u{1} ✓".into());
        d.insert("n".into(), 12345678.9.into());
        d.insert("f".into(), 1.0.into());
        assert_eq!(
            event_to_string(&e),
            r#"{"@timestamp":"2024-05-01T12:34:56.123Z","@version":"1","message":"héllo \u0001 ✓","n":1.23456789E7,"f":1.0}"#
        );
    }

    #[test]
    fn escapes() {
        let mut out = Vec::new();
        write_str("say \"hi\"\tC:\\tmp #{x} /\u{7f}", &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"say \\\"hi\\\"\\tC:\\\\tmp #{x} /\u{7f}\""
        );
    }

    #[test]
    fn parse_keeps_order_and_types() {
        let v = parse(br#"{"z":1,"a":[1.5,null,true],"big":18446744073709551615}"#).unwrap();
        let Value::Object(m) = v else { panic!() };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["z", "a", "big"]);
        assert_eq!(
            m["a"],
            Value::Array(vec![1.5.into(), Value::Null, true.into()])
        );
        let evs = parse_events(br#"[{"a":1},{"a":2}]"#).unwrap();
        assert_eq!(evs.len(), 2);
        assert!(parse_events(b"42").is_err());
        // A repeated key keeps its first place and takes its last value.
        let Value::Object(m) = parse(br#"{"a":1,"b":2,"a":3}"#).unwrap() else {
            panic!()
        };
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m["a"], Value::Int(3));
    }

    #[test]
    fn object_entries_parse_as_the_map_does() {
        let mut out = vec![("stale".into(), Value::Null)];
        for text in [
            &br#" {"a":1,"b":{"c":[1,"x"]},"a":{"d":2},"e":"\u00e9"} "#[..],
            b"{}",
        ] {
            assert!(parse_object_into(text, &mut out).unwrap());
            let Value::Object(m) = parse(text).unwrap() else {
                panic!()
            };
            assert_eq!(out, m.into_iter().collect::<Vec<_>>());
        }
        // Not an object: nothing parsed, `parse` says what it is.
        for text in [&b"[1]"[..], b" 42", b"\"x\"", b""] {
            assert!(!parse_object_into(text, &mut out).unwrap());
            assert!(out.is_empty());
        }
        // Not UTF-8: not taken apart, and `parse` says what is wrong.
        let bad = b"{\"a\":\"\xff\"}";
        assert!(!parse_object_into(bad, &mut out).unwrap());
        assert!(parse(bad).is_err());
        for text in [&br#"{"a":1"#[..], br#"{"a":1} x"#, br#"{"a":}"#] {
            assert!(parse_object_into(text, &mut out).is_err(), "{text:?}");
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::Int),
            // Java's Double.toString, which the writer follows, is not always the shortest
            // text that reads back exactly; decimals of up to 15 digits always are.
            (any::<i32>(), 0i32..6).prop_map(|(m, e)| Value::Float(m as f64 / 10f64.powi(e))),
            ".*".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 64, 20, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((".{0,8}", inner), 0..20).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect())
                }),
            ]
        })
    }

    /// Text rich in what JSON escapes: control characters, quotes, backslashes, beside any char.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let c = prop_oneof![
            (0u8..0x20).prop_map(char::from),
            Just('"'),
            Just('\\'),
            Just('\u{7f}'),
            any::<char>(),
        ];
        proptest::collection::vec(c, 0..40).prop_map(|v| v.into_iter().collect())
    }

    proptest::proptest! {
        #[test]
        fn what_is_written_parses_back_the_same(v in json_value()) {
            let mut out = Vec::new();
            write_value(&v, &mut out);
            proptest::prop_assert_eq!(parse(&out).unwrap(), v);
        }

        #[test]
        fn object_entries_are_the_parsed_map(v in json_value()) {
            let mut out = Vec::new();
            write_value(&v, &mut out);
            let mut entries = Vec::new();
            let object = parse_object_into(&out, &mut entries).unwrap();
            match v {
                Value::Object(m) => {
                    proptest::prop_assert!(object);
                    proptest::prop_assert_eq!(entries, m.into_iter().collect::<Vec<_>>());
                }
                _ => proptest::prop_assert!(!object),
            }
        }

        /// Any string, control characters and `\n` included, is escaped char by char as
        /// Jackson does.
        #[test]
        fn strings_are_escaped_as_jackson_does(s in json_text()) {
            let mut want = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => want.push_str("\\\""),
                    '\\' => want.push_str("\\\\"),
                    '\n' => want.push_str("\\n"),
                    '\r' => want.push_str("\\r"),
                    '\t' => want.push_str("\\t"),
                    '\u{8}' => want.push_str("\\b"),
                    '\u{c}' => want.push_str("\\f"),
                    c if (c as u32) < 0x20 => want.push_str(&format!("\\u{:04X}", c as u32)),
                    c => want.push(c),
                }
            }
            want.push('"');
            let mut out = Vec::new();
            write_str(&s, &mut out);
            proptest::prop_assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }
}
