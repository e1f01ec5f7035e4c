//! `dead_letter_queue`: reprocesses what outputs put in a pipeline's dead letter queue (`path`,
//! `pipeline_id`), with Logstash's `[@metadata][dead_letter_queue]` (`reason`, `plugin_type`,
//! `plugin_id`, `entry_time`). With `commit_offsets` (default true) the position is saved in
//! `sincedb_path` (default `<path>/<pipeline_id>/.sincedb`) once the events are in the queue, so
//! a restart goes on from there; events keep coming as they are written.

use rstash_pipeline::{opt, Options, Ty};
use std::path::PathBuf;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_pipeline::{Args, Input, InputContext, PluginError};
use rstash_queue::dlq::DeadLetterReader;
use serde_json::json;
use tracing::warn;

pub struct DeadLetterQueue {
    dir: PathBuf,
    commit: bool,
    sincedb: PathBuf,
}

pub const OPTIONS: Options = &[&[
    opt("path", Ty::Path).required(),
    opt("pipeline_id", Ty::Str).default("main"),
    opt("commit_offsets", Ty::Boolean).default("true"),
    opt("sincedb_path", Ty::Path),
    opt("start_timestamp", Ty::Str).ignored("the queue is read from the sincedb's position"),
    opt("clean_consumed", Ty::Boolean).ignored("consumed segments are kept"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(path) = args.string("path")? else {
        return Err(args.error("dead_letter_queue input needs `path` (path.dead_letter_queue)"));
    };
    let pipeline = args.string_or("pipeline_id", "main")?;
    let dir = PathBuf::from(path).join(&pipeline);
    let commit = args.bool("commit_offsets", true)?;
    let sincedb = args
        .string("sincedb_path")?
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(".sincedb"));
    Ok(Box::new(DeadLetterQueue {
        dir,
        commit,
        sincedb,
    }))
}

impl DeadLetterQueue {
    fn start(&self) -> (u64, u64) {
        if !self.commit {
            return (0, 0);
        }
        std::fs::read_to_string(&self.sincedb)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map(|v| {
                (
                    v["segment"].as_u64().unwrap_or(0),
                    v["offset"].as_u64().unwrap_or(0),
                )
            })
            .unwrap_or((0, 0))
    }

    fn save(&self, r: &DeadLetterReader) {
        let tmp = self.sincedb.with_extension("tmp");
        let text = json!({"segment": r.segment, "offset": r.offset}).to_string();
        let written = std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, &self.sincedb));
        if let Err(e) = written {
            warn!(
                "dead_letter_queue input: cannot save the position in {}: {e}",
                self.sincedb.display()
            );
        }
    }
}

impl Input for DeadLetterQueue {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let (segment, offset) = self.start();
        let mut reader = DeadLetterReader::new(self.dir.clone(), segment, offset);
        while !ctx.is_stopping() {
            let events = reader.next_events(125).map_err(|e| {
                PluginError(format!("dead letter queue {}: {e}", self.dir.display()))
            })?;
            if events.is_empty() {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            if ctx.push_all(events).is_err() {
                return Ok(());
            }
            if self.commit {
                self.save(&reader);
            }
        }
        Ok(())
    }
}
