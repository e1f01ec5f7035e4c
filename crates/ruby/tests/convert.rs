//! Values cross between rstash's events and Ruby unchanged: whatever an event holds, Ruby code
//! that copies it with `get`/`set` (or rebuilds the event with `to_hash`) writes back the same.

use std::time::Duration;

use proptest::prelude::*;
use rstash_event::{Event, FieldRef, Map, Timestamp, Value};
use rstash_ruby::{Script, Source};

fn script(code: &str) -> Script {
    let source = Source::Inline {
        init: None,
        code: code.into(),
    };
    Script::compile("convert", source, Duration::from_secs(10)).expect("compiles")
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // Past 64 bits: a Ruby Bignum and back.
        ("-?[1-9][0-9]{19,30}").prop_filter_map("beyond 64 bits", |d| Value::big_int(&d)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::Float),
        "\\PC{0,12}".prop_map(Value::from),
        (0i64..4_000_000_000_000_000_000).prop_map(|n| Value::Timestamp(Timestamp(
            jiff::Timestamp::from_nanosecond(n as i128).unwrap()
        ))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z@_ ]{1,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn get_then_set_gives_back_the_same_value(v in value()) {
        let s = script("event.set('copy', event.get('orig'))");
        let mut e = Event::new();
        e.set(&FieldRef::key("orig"), v.clone()).unwrap();
        let mut out = s.filter(vec![e]);
        let f = out.pop().unwrap();
        prop_assert!(f.error.is_none(), "{:?}", f.error);
        prop_assert_eq!(f.event.get(&FieldRef::key("copy")), Some(&v));
    }

    #[test]
    fn an_event_rebuilt_from_its_hash_is_the_same(v in value()) {
        let s = script("new_event_block.call(LogStash::Event.new(event.to_hash_with_metadata)); event.cancel");
        let mut e = Event::new();
        e.set(&FieldRef::key("field"), v.clone()).unwrap();
        e.set(&FieldRef::parse("[@metadata][m]").unwrap(), v).unwrap();
        let mut out = s.filter(vec![e.clone()]);
        let f = out.pop().unwrap();
        prop_assert!(f.error.is_none(), "{:?}", f.error);
        prop_assert_eq!(f.new_events.len(), 1);
        prop_assert_eq!(f.new_events[0].data(), e.data());
        prop_assert_eq!(f.new_events[0].metadata(), e.metadata());
    }
}

#[test]
fn map_keys_keep_their_order() {
    let s = script("h = event.get('h'); event.set('keys', h.keys)");
    let mut m = Map::default();
    for k in ["z", "a", "m"] {
        m.insert(k.into(), Value::Int(1));
    }
    let mut e = Event::new();
    e.set(&FieldRef::key("h"), Value::Object(m)).unwrap();
    let f = s.filter(vec![e]).pop().unwrap();
    let keys = f.event.get(&FieldRef::key("keys")).cloned();
    assert_eq!(
        keys,
        Some(Value::Array(
            ["z", "a", "m"]
                .iter()
                .map(|k| Value::String((*k).into()))
                .collect()
        ))
    );
}
