//! The node's write-ahead log: the operations of every bulk, for all indices, appended to one
//! file and fsynced once for all the bulks waiting at that moment (group commit). A bulk is
//! answered only once its operations are durable here.
//!
//! Frames: u32 LE payload length, u32 LE crc32 of the payload, the payload. A position (LSN) is
//! a byte offset in the log as if it were one file; a segment is named by the position it starts
//! at. Every index records, in its tantivy commit, the position it holds everything up to, so a
//! replay skips what each index already has; segments go once all indices are past them.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const MAX_FRAME: u32 = 512 << 20;

pub struct Wal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    sync: Mutex<()>,
    synced: AtomicU64,
}

struct Inner {
    file: Arc<File>,
    /// Start of the current segment and the end of the log.
    start: u64,
    end: u64,
}

fn segment_name(start: u64) -> String {
    format!("{start:020}.wal")
}

/// Segment start positions, in order.
fn segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut v: Vec<u64> = std::fs::read_dir(dir)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".wal")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Appends one frame around `payload` to `out`.
#[cfg(test)]
pub fn frame(out: &mut Vec<u8>, payload: &[u8]) {
    frame_with(out, |o| o.extend_from_slice(payload));
}

/// Appends one frame whose payload `write` appends to `out`: a record is written in place, not
/// built apart and copied (it holds the whole source).
pub fn frame_with(out: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    let head = out.len();
    out.extend_from_slice(&[0; 8]);
    write(out);
    let payload = &out[head + 8..];
    let len = (payload.len() as u32).to_le_bytes();
    let crc = crc32fast::hash(payload).to_le_bytes();
    out[head..head + 4].copy_from_slice(&len);
    out[head + 4..head + 8].copy_from_slice(&crc);
}

/// Reads the frames of one segment from `start`; calls `each(end_position, payload)`. Returns
/// the length of its valid part: a torn or corrupt frame ends the segment.
fn read_segment(path: &Path, start: u64, each: &mut dyn FnMut(u64, &[u8])) -> io::Result<u64> {
    let mut r = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut good = 0u64;
    let mut head = [0u8; 8];
    let mut payload = Vec::new();
    loop {
        match r.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
        let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if len > MAX_FRAME {
            tracing::warn!(segment = %path.display(), offset = good, "write-ahead log: a frame header is corrupt; skipping the rest of this segment");
            break;
        }
        payload.resize(len as usize, 0);
        if r.read_exact(&mut payload).is_err() || crc32fast::hash(&payload) != crc {
            tracing::warn!(segment = %path.display(), offset = good, "write-ahead log: the last record is torn (a crash while writing it); skipping it, the rest is replayed");
            break;
        }
        good += 8 + len as u64;
        each(start + good, &payload);
    }
    Ok(good)
}

impl Wal {
    /// Opens the log in `dir`; a torn tail is cut off. `read_from(0, ..)` then replays it.
    pub fn open(dir: &Path) -> io::Result<Wal> {
        std::fs::create_dir_all(dir)?;
        let mut end = 0;
        for start in segments(dir)? {
            let path = dir.join(segment_name(start));
            let good = read_segment(&path, start, &mut |_, _| {})?;
            let len = std::fs::metadata(&path)?.len();
            if good < len {
                // Nothing may follow a torn record: appends go to a new segment anyway.
                OpenOptions::new().write(true).open(&path)?.set_len(good)?;
            }
            end = start + good;
        }
        let file = Self::create_segment(dir, end)?;
        Ok(Wal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(Inner {
                file: Arc::new(file),
                start: end,
                end,
            }),
            sync: Mutex::new(()),
            synced: AtomicU64::new(end),
        })
    }

    fn create_segment(dir: &Path, start: u64) -> io::Result<File> {
        let path = dir.join(segment_name(start));
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        File::open(dir)?.sync_all()?;
        Ok(file)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The position the next record will end after; records already appended end at or before it.
    pub fn end(&self) -> u64 {
        self.lock().end
    }

    /// Appends frames built by `build(position_after_each_frame)`; returns the end position. The
    /// closure runs under the log's lock, so positions are exactly those of the frames.
    pub fn append_with<R>(
        &self,
        build: impl FnOnce(u64, &mut Vec<u8>) -> R,
    ) -> io::Result<(u64, R)> {
        let mut g = self.lock();
        let mut buf = Vec::new();
        let r = build(g.end, &mut buf);
        if buf.is_empty() {
            return Ok((g.end, r));
        }
        (&*g.file).write_all(&buf)?;
        g.end += buf.len() as u64;
        Ok((g.end, r))
    }

    /// Returns once everything up to `upto` is on disk. Concurrent callers share one fsync.
    pub fn sync(&self, upto: u64) -> io::Result<()> {
        if self.synced.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        let _one = self.sync.lock().unwrap_or_else(|p| p.into_inner());
        if self.synced.load(Ordering::Acquire) >= upto {
            return Ok(());
        }
        let (file, end) = {
            let g = self.lock();
            (g.file.clone(), g.end)
        };
        file.sync_data()?;
        self.synced.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// Seals the current segment and starts a new one; returns where the new one starts.
    pub fn rotate(&self) -> io::Result<u64> {
        let mut g = self.lock();
        if g.end == g.start {
            return Ok(g.start);
        }
        g.file.sync_data()?;
        let file = Self::create_segment(&self.dir, g.end)?;
        g.file = Arc::new(file);
        g.start = g.end;
        self.synced.fetch_max(g.end, Ordering::AcqRel);
        Ok(g.start)
    }

    /// Deletes the sealed segments that end at or before `pos`.
    pub fn remove_before(&self, pos: u64) -> io::Result<()> {
        let current = self.lock().start;
        let starts = segments(&self.dir)?;
        for (i, &s) in starts.iter().enumerate() {
            let next = starts.get(i + 1).copied().unwrap_or(u64::MAX);
            if s < current && next <= pos {
                std::fs::remove_file(self.dir.join(segment_name(s)))?;
            }
        }
        Ok(())
    }

    /// Bytes held in the log's segments (what a crash would replay at most).
    pub fn size(&self) -> u64 {
        let g = self.lock();
        let first = segments(&self.dir)
            .ok()
            .and_then(|s| s.first().copied())
            .unwrap_or(g.start);
        g.end - first.min(g.end)
    }

    /// Calls `each(position, payload)` for the records after `from`: the replay at start, and an
    /// index whose writer failed reading its part again.
    pub fn read_from(&self, from: u64, each: &mut dyn FnMut(u64, &[u8])) -> io::Result<()> {
        let _g = self.lock();
        for start in segments(&self.dir)? {
            let path = self.dir.join(segment_name(start));
            read_segment(&path, start, &mut |pos, p| {
                if pos > from {
                    each(pos, p)
                }
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(dir: &Path) -> Vec<(u64, Vec<u8>)> {
        let mut v = Vec::new();
        let wal = Wal::open(dir).unwrap();
        wal.read_from(0, &mut |p, b| v.push((p, b.to_vec())))
            .unwrap();
        v
    }

    #[test]
    fn replays_what_was_synced_and_skips_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path()).unwrap();
        let (end, ()) = wal
            .append_with(|_, buf| {
                frame(buf, b"one");
                frame(buf, b"two");
            })
            .unwrap();
        wal.sync(end).unwrap();
        assert_eq!(end, 2 * (8 + 3));
        drop(wal);
        // A crash in the middle of the next record.
        let seg = dir.path().join(segment_name(0));
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2]).unwrap();
        let got = records(dir.path());
        assert_eq!(got, vec![(11, b"one".to_vec()), (22, b"two".to_vec())]);
        // The torn bytes are gone; new records follow the good ones.
        let wal = Wal::open(dir.path()).unwrap();
        let (end, ()) = wal.append_with(|_, buf| frame(buf, b"three")).unwrap();
        wal.sync(end).unwrap();
        drop(wal);
        let got = records(dir.path());
        assert_eq!(got.len(), 3);
        assert_eq!(got[2], (22 + 13, b"three".to_vec()));
    }

    #[test]
    fn a_corrupt_record_is_not_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path()).unwrap();
        let (end, ()) = wal
            .append_with(|_, buf| {
                frame(buf, b"good");
                frame(buf, b"flipped");
            })
            .unwrap();
        wal.sync(end).unwrap();
        drop(wal);
        let seg = dir.path().join(segment_name(0));
        let mut bytes = std::fs::read(&seg).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&seg, bytes).unwrap();
        assert_eq!(records(dir.path()), vec![(12, b"good".to_vec())]);
    }

    #[test]
    fn segments_before_a_checkpoint_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let wal = Wal::open(dir.path()).unwrap();
        wal.append_with(|_, buf| frame(buf, b"a")).unwrap();
        let cut = wal.rotate().unwrap();
        let (end, ()) = wal.append_with(|_, buf| frame(buf, b"b")).unwrap();
        wal.sync(end).unwrap();
        wal.remove_before(cut).unwrap();
        drop(wal);
        assert_eq!(records(dir.path()), vec![(18, b"b".to_vec())]);
    }
}
