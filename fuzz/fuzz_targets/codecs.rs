//! Every codec decodes any bytes, fed in pieces, without panicking.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

const CODECS: &[&str] = &[
    "plain { }",
    "line { }",
    "json { }",
    "json_lines { }",
    "msgpack { }",
    "edn { }",
    "es_bulk { }",
    "cef { }",
    r#"multiline { pattern => "^\s" what => "previous" }"#,
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let mut c = common::codec(CODECS[pick as usize % CODECS.len()]);
    let chunk = 1 + (pick as usize / CODECS.len()) % 64;
    for piece in rest.chunks(chunk) {
        c.decode(piece, &mut |_| {});
    }
    c.flush(&mut |_| {});
});
