//! The filters that parse message text (kv, dissect, csv, json, syslog_pri, urldecode) take
//! any message without panicking.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use rstash_event::{Event, FieldRef, Value};

const FILTERS: &[&str] = &[
    r#"kv { recursive => true }"#,
    r#"kv { field_split_pattern => "[,;]+" value_split => ":=" include_brackets => true }"#,
    r#"dissect { mapping => { "message" => "%{a} %{+a/2} [%{?k}=%{&k}] %{b->} %{}" } }"#,
    r#"csv { separator => ";" }"#,
    r#"json { source => "message" }"#,
    r#"syslog_pri { syslog_pri_field_name => "message" }"#,
    r#"urldecode { all_fields => true }"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let f = common::filter(FILTERS[pick as usize % FILTERS.len()]);
    let mut e = Event::new();
    let _ = e.set(
        &FieldRef::key("message"),
        Value::String(String::from_utf8_lossy(rest).into_owned().into()),
    );
    let mut emitted = Vec::new();
    f.run(&mut e, &mut emitted);
});
