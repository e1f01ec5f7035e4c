//! Lumberjack v2 frames from the network: decoding and assembling windows never panic, and
//! never hand out more events than the window announced.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rstash_beats_protocol::{decode, Assembler, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame: 1 << 16,
        max_window: 64,
        max_inflated: 1 << 18,
        max_nesting: 2,
    };
    let mut buf = BytesMut::from(data);
    let mut asm = Assembler::new(limits);
    let mut out = Vec::new();
    while let Ok(Some(f)) = decode(&mut buf, &limits) {
        if asm.push(f, &mut out).is_err() {
            break;
        }
    }
    assert!(out
        .iter()
        .all(|b| b.events.len() <= limits.max_window as usize));
});
