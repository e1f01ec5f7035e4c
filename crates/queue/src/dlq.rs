//! The dead letter queue: events an output's destination refused for good (Elasticsearch 400 and
//! 404), kept in `<path.dead_letter_queue>/<pipeline id>/<n>.log` segments of checksummed
//! records (the persisted queue's record format) with why and by which plugin, for the
//! `dead_letter_queue` input to reprocess. `dead_letter_queue.max_bytes` bounds it, dropping the
//! newest (`drop_newer`, the default) or the oldest segments (`drop_older`).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rstash_event::{Event, Map, Timestamp, Value};
use rstash_pipeline::DeadLetters;
use tracing::{error, warn};

use crate::page;

const MAGIC: &[u8; 8] = b"RSTDLQ01";
/// Segments rotate at this size, as Logstash's (10 MB).
pub const SEGMENT_SIZE: u64 = 10 << 20;

#[derive(Debug, Clone)]
pub struct DlqSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub drop_older: bool,
}

/// Segment numbers in `dir`, ascending.
pub fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    page::numbered(dir, "", ".log")
}

pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n}.log"))
}

struct Writer {
    /// Opened at the first write, so that a pipeline without refusals leaves no files.
    file: Option<File>,
    segment: u64,
    len: u64,
    seq: u64,
    total: u64,
    dropped: u64,
}

pub struct DeadLetterWriter {
    settings: DlqSettings,
    state: Mutex<Writer>,
}

fn new_segment(dir: &Path, n: u64) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(segment_path(dir, n))?;
    f.write_all(MAGIC)?;
    Ok(f)
}

impl DeadLetterWriter {
    pub fn open(settings: DlqSettings) -> io::Result<DeadLetterWriter> {
        let existing = match segments(&settings.dir) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let total = existing
            .iter()
            .filter_map(|n| std::fs::metadata(segment_path(&settings.dir, *n)).ok())
            .map(|m| m.len())
            .sum::<u64>();
        let segment = existing.last().map_or(1, |n| n + 1);
        Ok(DeadLetterWriter {
            settings,
            state: Mutex::new(Writer {
                file: None,
                segment,
                len: MAGIC.len() as u64,
                seq: 0,
                total,
                dropped: 0,
            }),
        })
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.state.lock().map(|w| w.dropped).unwrap_or(0)
    }

    fn append(&self, w: &mut Writer, record: &[u8]) -> io::Result<()> {
        let size = record.len() as u64;
        while w.total + size > self.settings.max_bytes {
            let oldest = segments(&self.settings.dir)?
                .into_iter()
                .find(|&n| n != w.segment);
            match oldest {
                Some(n) if self.settings.drop_older => {
                    let p = segment_path(&self.settings.dir, n);
                    let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                    std::fs::remove_file(&p)?;
                    w.total = w.total.saturating_sub(len);
                    w.dropped += 1;
                }
                _ => {
                    w.dropped += 1;
                    return Err(io::Error::other(
                        "dead_letter_queue.max_bytes reached: event dropped (storage_policy drop_newer)",
                    ));
                }
            }
        }
        if w.file.is_none() {
            std::fs::create_dir_all(&self.settings.dir)?;
            w.file = Some(new_segment(&self.settings.dir, w.segment)?);
            w.total += w.len;
        } else if w.len > MAGIC.len() as u64 && w.len + size > SEGMENT_SIZE {
            w.segment += 1;
            w.file = Some(new_segment(&self.settings.dir, w.segment)?);
            w.len = MAGIC.len() as u64;
            w.total += w.len;
        }
        let Some(f) = w.file.as_mut() else {
            return Err(io::Error::other("no segment"));
        };
        f.write_all(record)?;
        w.len += size;
        w.total += size;
        Ok(())
    }
}

impl DeadLetters for DeadLetterWriter {
    fn write(&self, event: &Event, plugin_type: &str, plugin_id: &str, reason: &str) {
        let mut copy = event.clone();
        let mut meta = Map::default();
        meta.insert("plugin_type".into(), Value::String(plugin_type.into()));
        meta.insert("plugin_id".into(), Value::String(plugin_id.into()));
        meta.insert("reason".into(), Value::String(reason.into()));
        meta.insert("entry_time".into(), Value::Timestamp(Timestamp::now()));
        copy.metadata_mut()
            .insert("dead_letter_queue".into(), Value::Object(meta));
        let mut payload = Vec::with_capacity(512);
        rstash_event::binary::encode(&copy, &mut payload);
        let mut w = match self.state.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        w.seq += 1;
        let mut record = Vec::with_capacity(payload.len() + 16);
        page::encode_record(w.seq, &payload, &mut record);
        if let Err(e) = self.append(&mut w, &record) {
            error!("dead letter queue {}: {e}", self.settings.dir.display());
        }
    }
}

/// Reads a pipeline's dead letter queue from a position, following new records as they come.
pub struct DeadLetterReader {
    dir: PathBuf,
    pub segment: u64,
    pub offset: u64,
}

impl DeadLetterReader {
    pub fn new(dir: PathBuf, segment: u64, offset: u64) -> DeadLetterReader {
        DeadLetterReader {
            dir,
            segment,
            offset,
        }
    }

    /// Up to `max` events after the position (which moves past them); empty when there is
    /// nothing new yet. Damaged records are skipped with an error log.
    pub fn next_events(&mut self, max: usize) -> io::Result<Vec<Event>> {
        let mut out = Vec::new();
        loop {
            let segs = match segments(&self.dir) {
                Ok(s) => s,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
                Err(e) => return Err(e),
            };
            // The current segment may be gone (drop_older): go on from the next one.
            if !segs.contains(&self.segment) {
                match segs.iter().find(|&&n| n > self.segment) {
                    Some(&n) => {
                        self.segment = n;
                        self.offset = 0;
                    }
                    None => return Ok(out),
                }
            }
            let mut f = File::open(segment_path(&self.dir, self.segment))?;
            let start = self.offset.max(MAGIC.len() as u64);
            f.seek(SeekFrom::Start(start))?;
            let mut buf = Vec::new();
            f.take(8 << 20).read_to_end(&mut buf)?;
            let mut at = 0;
            while at < buf.len() && out.len() < max {
                match page::parse(&buf[at..]) {
                    page::Parsed::Record { payload, size, seq } => {
                        match rstash_event::binary::decode(payload) {
                            Ok(e) => out.push(e),
                            Err(why) => error!("dead letter queue: record {seq} of segment {} cannot be decoded ({why}); skipped", self.segment),
                        }
                        at += size;
                    }
                    page::Parsed::Incomplete => break,
                    page::Parsed::Corrupt(why) => {
                        warn!(
                            "dead letter queue: segment {} at {}: {why}; skipping the rest of it",
                            self.segment,
                            start + at as u64
                        );
                        at = buf.len();
                        self.offset = u64::MAX;
                        break;
                    }
                }
            }
            if self.offset != u64::MAX {
                self.offset = start + at as u64;
            }
            if out.len() >= max {
                return Ok(out);
            }
            // At the end of this segment: on to the next if the writer has moved on.
            match segs.iter().find(|&&n| n > self.segment) {
                Some(&n) if at == buf.len() || self.offset == u64::MAX => {
                    self.segment = n;
                    self.offset = 0;
                }
                _ => return Ok(out),
            }
        }
    }
}
