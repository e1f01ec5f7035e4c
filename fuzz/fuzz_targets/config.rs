//! The config parser answers any text with a config or a positioned error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rstash_config::{parse, Source};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = parse(&Source::from_string("fuzz.conf", text));
    }
});
