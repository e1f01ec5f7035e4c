//! Container runtime log lines (Docker's JSON, CRI), as rbeat's container input decodes them:
//! any bytes split into lines, any format, no panic; pieces join within the size limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rstash_tail::container::{ContainerConfig, Decoder};
use rstash_tail::Line;

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let format = ["auto", "docker", "cri"][first as usize % 3];
    let Ok(cfg) = ContainerConfig::new(format, "all") else {
        return;
    };
    let mut d = Decoder::new(cfg, 256);
    let mut off = 0u64;
    for raw in rest.split(|&b| b == b'\n') {
        let end = off + raw.len() as u64 + 1;
        let line = Line {
            offset: off,
            end,
            bytes: raw.to_vec(),
            truncated: false,
            container: None,
        };
        if let Ok(Some(l)) = d.push(line) {
            assert!(l.bytes.len() <= 256 && l.offset <= off);
        }
        off = end;
    }
});
