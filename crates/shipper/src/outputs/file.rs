//! `output.file`: JSON lines appended to `<path>/<filename>` (default `/tmp/filebeat/filebeat`).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::Arc;

use super::{encode, Output, OutputConfig};
use crate::config::{ConfigError, Section};
use bytes::Bytes;

struct FileOut {
    out: BufWriter<File>,
}

pub fn parse(s: &Section) -> Result<OutputConfig, ConfigError> {
    let dir = PathBuf::from(s.string_or("path", "/tmp/filebeat")?);
    let name = s.string_or("filename", "filebeat")?;
    s.raw("rotate_every_kb");
    s.raw("number_of_files");
    s.raw("permissions");
    s.raw("codec");
    s.raw("enabled");
    let target = dir.join(&name);
    let describe = vec![format!("file: {}... OK", target.display())];
    Ok(OutputConfig {
        name: "file",
        workers: 1,
        pipelining: 1,
        bulk_max_size: s.int("bulk_max_size", 2048)?.max(1) as usize,
        factory: Arc::new(move |_, _| {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
            Ok(Box::new(FileOut {
                out: BufWriter::new(f),
            }) as Box<dyn Output>)
        }),
        beat_index: "filebeat".into(),
        describe,
        probe: None,
        plain_json: true,
        encoder: Arc::new(encode),
    })
}

impl Output for FileOut {
    fn publish(&mut self, events: &[Bytes]) -> Result<(), String> {
        for e in events {
            self.out.write_all(e).map_err(|e| e.to_string())?;
            self.out.write_all(b"\n").map_err(|e| e.to_string())?;
        }
        self.out.flush().map_err(|e| e.to_string())
    }
}
