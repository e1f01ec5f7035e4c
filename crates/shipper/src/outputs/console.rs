//! `output.console`: one JSON document per event on stdout (`pretty: true` indents).

use std::io::Write;
use std::sync::Arc;

use serde_json::Value;

use super::{Output, OutputConfig};
use crate::config::{ConfigError, Section};
use crate::fields::Fields;

struct Console {
    pretty: bool,
}

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let pretty = s.bool("pretty", false)?;
    s.raw("codec");
    s.raw("enabled");
    Ok(OutputConfig {
        name: "console",
        workers: 1,
        bulk_max_size: s.int("bulk_max_size", 2048)?.max(1) as usize,
        factory: Arc::new(move |_, _| Ok(Box::new(Console { pretty }) as Box<dyn Output>)),
        beat_index: "filebeat".into(),
        describe: vec!["console: stdout... OK".into()],
    })
}

impl Output for Console {
    fn publish(&mut self, events: &[Fields]) -> Result<(), String> {
        let mut out = std::io::stdout().lock();
        for e in events {
            let v = Value::Object(e.clone());
            let text = if self.pretty {
                serde_json::to_string_pretty(&v)
            } else {
                serde_json::to_string(&v)
            }
            .map_err(|e| e.to_string())?;
            writeln!(out, "{text}").map_err(|e| e.to_string())?;
        }
        out.flush().map_err(|e| e.to_string())
    }
}
