//! Ruby Marshal data read back from memcached: any bytes, any depth, no panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = vec![4, 8];
    b.extend_from_slice(data);
    let _ = rstash_plugins::ruby_marshal::load(&b);
});
