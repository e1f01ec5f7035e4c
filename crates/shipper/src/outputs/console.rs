//! `output.console`: one JSON document per event on stdout (`pretty: true` indents).

use std::io::Write;
use std::sync::Arc;

use bytes::Bytes;

use super::{Output, OutputConfig};
use crate::config::{ConfigError, Section};
use crate::fields::Fields;

struct Console;

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let pretty = s.bool("pretty", false)?;
    s.raw("codec");
    s.raw("enabled");
    Ok(OutputConfig {
        name: "console",
        workers: 1,
        pipelining: 1,
        bulk_max_size: s.int("bulk_max_size", 2048)?.max(1) as usize,
        factory: Arc::new(move |_, _| Ok(Box::new(Console) as Box<dyn Output>)),
        plain_json: !pretty,
        encoder: Arc::new(move |e: &Fields| {
            let text = if pretty {
                serde_json::to_vec_pretty(e)
            } else {
                serde_json::to_vec(e)
            };
            Bytes::from(text.unwrap_or_default())
        }),
        beat_index: "filebeat".into(),
        describe: vec!["console: stdout... OK".into()],
        probe: None,
    })
}

impl Output for Console {
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        for e in events {
            out.write_all(e).map_err(|e| e.to_string())?;
            out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())
    }
}
