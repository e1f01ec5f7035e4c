//! The persisted queue (`queue.type: persisted`). Inputs' events are appended to page files
//! before `push` returns, so an input ACKs (a Beats window, a Kafka offset) only what is on disk;
//! workers read batches back and ACK each once every output is done with it; the ACKed position
//! goes to `checkpoint.head` every `queue.checkpoint.acks` events. After a crash (kill -9) the
//! events after the checkpoint are replayed: at least once, never lost. A torn or corrupt record
//! is found by its checksum, logged and skipped; it never stops the start.

pub mod dlq;
pub mod page;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rstash_event::Event;
use rstash_pipeline::{Batch, BatchId, Queue, Stopped};
use serde_json::json;
use tracing::{error, info, warn};

/// Logstash's `queue.*` settings for one pipeline.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `<path.queue>/<pipeline id>`.
    pub dir: PathBuf,
    pub page_capacity: u64,
    pub max_bytes: u64,
    /// 0: no limit.
    pub max_events: u64,
    /// fsync the page after this many events (0: leave it to the OS).
    pub checkpoint_writes: u64,
    /// Write the ACK checkpoint after this many ACKed events (0: on every ACK).
    pub checkpoint_acks: u64,
    /// On a stop, workers finish what is queued before the pipeline ends (`queue.drain`).
    pub drain: bool,
}

impl Settings {
    pub fn new(dir: PathBuf) -> Settings {
        Settings {
            dir,
            page_capacity: 64 << 20,
            max_bytes: 1024 << 20,
            max_events: 0,
            checkpoint_writes: 1024,
            checkpoint_acks: 1024,
            drain: false,
        }
    }
}

struct PageInfo {
    last_seq: u64,
    bytes: u64,
}

struct State {
    head: File,
    head_page: u64,
    head_len: u64,
    pages: BTreeMap<u64, PageInfo>,
    /// Sequence number of the next event written (they start at 1).
    next_seq: u64,
    /// Where the next unread record is.
    read_page: u64,
    read_offset: u64,
    read_file: Option<(u64, File)>,
    read_seq: u64,
    /// Every event up to here is ACKed.
    acked_upto: u64,
    /// ACKed batches past a gap (another worker's batch is still out), first → last.
    acked_ahead: BTreeMap<u64, u64>,
    acks_since_checkpoint: u64,
    checkpointed: u64,
    writes_since_sync: u64,
    total_bytes: u64,
    closed: bool,
    drain: bool,
    /// Records found damaged at start (skipped).
    skipped_at_start: u64,
}

pub struct PersistentQueue {
    settings: Settings,
    /// One worker assembles a batch at a time, so that each batch is one contiguous range of
    /// sequence numbers (the unit of ACKs).
    reading: Mutex<()>,
    state: Mutex<State>,
    not_empty: Condvar,
    not_full: Condvar,
}

fn checkpoint_path(dir: &Path) -> PathBuf {
    dir.join("checkpoint.head")
}

/// The ACKed position saved in `checkpoint.head` (0 when there is none yet).
pub fn read_checkpoint(dir: &Path) -> io::Result<u64> {
    match std::fs::read_to_string(checkpoint_path(dir)) {
        Ok(text) => serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["acked_upto"].as_u64())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{}: not a checkpoint", checkpoint_path(dir).display()),
                )
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e),
    }
}

/// Replaces the checkpoint atomically (write, fsync, rename).
pub fn write_checkpoint(dir: &Path, acked_upto: u64) -> io::Result<()> {
    let tmp = dir.join("checkpoint.head.tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(
        json!({"version": 1, "acked_upto": acked_upto})
            .to_string()
            .as_bytes(),
    )?;
    f.sync_all()?;
    std::fs::rename(&tmp, checkpoint_path(dir))
}

fn open_head(dir: &Path, n: u64) -> io::Result<File> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(page::path(dir, n))?;
    f.write_all(page::MAGIC)?;
    Ok(f)
}

impl PersistentQueue {
    /// Opens (or creates) the queue in `settings.dir`: checks every page, truncates a torn tail,
    /// skips damaged records with a log line, removes pages that are fully ACKed, and positions
    /// the reader at the first event not ACKed.
    pub fn open(settings: Settings) -> io::Result<PersistentQueue> {
        let dir = settings.dir.clone();
        std::fs::create_dir_all(&dir)?;
        let acked_upto = read_checkpoint(&dir).unwrap_or_else(|e| {
            error!("{e}: replaying every event in the queue");
            0
        });
        let numbers = page::list(&dir)?;
        let mut pages = BTreeMap::new();
        let mut last_seq = acked_upto;
        let mut skipped = 0u64;
        let mut first_unacked: Option<(u64, u64, u64)> = None;
        let mut unread = 0u64;
        for (i, &n) in numbers.iter().enumerate() {
            let path = page::path(&dir, n);
            let scan = page::scan(&path, |seq, _, offset| {
                if seq > acked_upto {
                    unread += 1;
                    if first_unacked.is_none() {
                        first_unacked = Some((n, offset, seq));
                    }
                }
            })?;
            if let Some(problem) = &scan.problem {
                let lost = scan.file_len - scan.valid_len;
                if scan.torn && i + 1 == numbers.len() {
                    warn!(
                        "queue {}: page.{n}: {problem}: a write cut short by a crash; truncated",
                        dir.display()
                    );
                } else {
                    error!("queue {}: page.{n}: {problem}: {lost} bytes skipped (events in them are lost)", dir.display());
                    skipped += 1;
                }
                OpenOptions::new()
                    .write(true)
                    .open(&path)?
                    .set_len(scan.valid_len)?;
            }
            match scan.last_seq {
                Some(l) if l > acked_upto => {
                    last_seq = last_seq.max(l);
                    pages.insert(
                        n,
                        PageInfo {
                            last_seq: l,
                            bytes: scan.valid_len,
                        },
                    );
                }
                _ => {
                    // Fully ACKed (or empty): nothing in it is needed any more.
                    last_seq = last_seq.max(scan.last_seq.unwrap_or(0));
                    std::fs::remove_file(&path)?;
                }
            }
        }
        if unread > 0 {
            info!(
                "queue {}: {unread} events not yet processed before the last stop will be replayed",
                dir.display()
            );
        }
        let head_page = numbers.last().map_or(1, |n| n + 1);
        let head = open_head(&dir, head_page)?;
        pages.insert(
            head_page,
            PageInfo {
                last_seq: 0,
                bytes: page::HEADER,
            },
        );
        let (read_page, read_offset, read_seq) = match first_unacked {
            Some(p) => p,
            None => (head_page, page::HEADER, last_seq + 1),
        };
        let total_bytes = pages.values().map(|p| p.bytes).sum();
        let drain = settings.drain;
        Ok(PersistentQueue {
            settings,
            reading: Mutex::new(()),
            state: Mutex::new(State {
                head,
                head_page,
                head_len: page::HEADER,
                pages,
                next_seq: last_seq + 1,
                read_page,
                read_offset,
                read_file: None,
                read_seq,
                acked_upto: read_seq - 1,
                acked_ahead: BTreeMap::new(),
                acks_since_checkpoint: 0,
                checkpointed: acked_upto,
                writes_since_sync: 0,
                total_bytes,
                closed: false,
                drain,
                skipped_at_start: skipped,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn full(&self, st: &State, bytes: u64, events: u64) -> bool {
        let unacked = st.next_seq - 1 - st.acked_upto;
        let over_bytes =
            st.total_bytes > page::HEADER && st.total_bytes + bytes > self.settings.max_bytes;
        let over_events = self.settings.max_events > 0
            && unacked > 0
            && unacked + events > self.settings.max_events;
        over_bytes || over_events
    }

    /// Appends encoded events to the head page (a new page when it is full). On an error,
    /// returns how many of `payloads` are in the queue already (they must not be written again);
    /// the page is cut back to its last whole record.
    fn append(&self, st: &mut State, payloads: &[Vec<u8>]) -> Result<(), (usize, io::Error)> {
        let mut buf = Vec::with_capacity(payloads.iter().map(|p| p.len() + 16).sum());
        let (mut in_buf, mut done) = (0, 0);
        let mut seq = st.next_seq;
        for p in payloads {
            // A page holds at least one record, however large.
            let used = st.head_len + buf.len() as u64;
            if used > page::HEADER && used + (p.len() + 16) as u64 > self.settings.page_capacity {
                self.write_head(st, &buf, seq - 1).map_err(|e| (done, e))?;
                done += in_buf;
                in_buf = 0;
                buf.clear();
                self.roll(st).map_err(|e| (done, e))?;
            }
            page::encode_record(seq, p, &mut buf);
            seq += 1;
            in_buf += 1;
        }
        self.write_head(st, &buf, seq - 1).map_err(|e| (done, e))?;
        st.writes_since_sync += payloads.len() as u64;
        let every = self.settings.checkpoint_writes;
        if every > 0 && st.writes_since_sync >= every {
            // Written already: a failed fsync is reported, the events stay queued.
            if let Err(e) = st.head.sync_data() {
                error!("queue {}: fsync: {e}", self.settings.dir.display());
            }
            st.writes_since_sync = 0;
        }
        Ok(())
    }

    /// Starts the next page.
    fn roll(&self, st: &mut State) -> io::Result<()> {
        let _ = st.head.sync_data();
        let n = st.head_page + 1;
        let head = match open_head(&self.settings.dir, n) {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_file(page::path(&self.settings.dir, n));
                return Err(e);
            }
        };
        st.head = head;
        st.head_page = n;
        st.head_len = page::HEADER;
        st.total_bytes += page::HEADER;
        st.pages.insert(
            n,
            PageInfo {
                last_seq: 0,
                bytes: page::HEADER,
            },
        );
        Ok(())
    }

    fn write_head(&self, st: &mut State, buf: &[u8], last_seq: u64) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        if let Err(e) = st.head.write_all(buf) {
            // Whatever part of it landed is cut off again.
            let _ = st.head.set_len(st.head_len);
            return Err(e);
        }
        st.head_len += buf.len() as u64;
        st.total_bytes += buf.len() as u64;
        st.next_seq = last_seq + 1;
        if let Some(p) = st.pages.get_mut(&st.head_page) {
            p.last_seq = last_seq;
            p.bytes = st.head_len;
        }
        Ok(())
    }

    fn push_inner(
        &self,
        events: Vec<Event>,
        wait: bool,
    ) -> Result<(), Result<Vec<Event>, Stopped>> {
        let payloads: Vec<Vec<u8>> = events
            .iter()
            .map(|e| {
                let mut b = Vec::with_capacity(256);
                rstash_event::binary::encode(e, &mut b);
                b
            })
            .collect();
        let bytes: u64 = payloads.iter().map(|p| p.len() as u64 + 16).sum();
        let mut st = self.lock();
        let mut failing_since: Option<Instant> = None;
        let mut from = 0;
        loop {
            if st.closed {
                return Err(Err(Stopped));
            }
            if self.full(&st, bytes, payloads.len() as u64) {
                if !wait && from == 0 {
                    return Err(Ok(events));
                }
                st = self.not_full.wait(st).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            match self.append(&mut st, &payloads[from..]) {
                Ok(()) => break,
                Err((done, e)) => {
                    from += done;
                    // A full disk: the input waits (and with it the sender) until there is room.
                    if failing_since.is_none() {
                        error!(
                            "queue {}: cannot write: {e}; inputs wait and retry",
                            self.settings.dir.display()
                        );
                        failing_since = Some(Instant::now());
                    }
                    if !wait && from == 0 {
                        return Err(Ok(events));
                    }
                    st = self
                        .not_full
                        .wait_timeout(st, Duration::from_millis(500))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        if let Some(t) = failing_since {
            info!(
                "queue {}: writing again after {:.1} s",
                self.settings.dir.display(),
                t.elapsed().as_secs_f64()
            );
        }
        drop(st);
        self.not_empty.notify_all();
        Ok(())
    }

    /// Reads up to `max` records from the reader position (never past what was written).
    fn read_records(&self, st: &mut State, max: usize) -> Vec<(u64, Vec<u8>)> {
        let mut out = Vec::new();
        while out.len() < max && st.read_seq < st.next_seq {
            if st.read_file.as_ref().map(|f| f.0) != Some(st.read_page) {
                match File::open(page::path(&self.settings.dir, st.read_page)) {
                    Ok(f) => st.read_file = Some((st.read_page, f)),
                    Err(e) => {
                        error!("queue: cannot open page {}: {e}", st.read_page);
                        return out;
                    }
                }
            }
            let page_end = if st.read_page == st.head_page {
                st.head_len
            } else {
                st.pages.get(&st.read_page).map_or(0, |p| p.bytes)
            };
            if st.read_offset >= page_end {
                // On to the next page that exists.
                match st.pages.range(st.read_page + 1..).next() {
                    Some((&n, _)) => {
                        st.read_page = n;
                        st.read_offset = page::HEADER;
                        continue;
                    }
                    None => return out,
                }
            }
            // Enough for `max` typical records; a bigger one is read alone below.
            let want = ((page_end - st.read_offset) as usize).min((max * 512).max(64 << 10));
            let mut buf = vec![0u8; want];
            let read = match &st.read_file {
                Some((_, f)) => f.read_at(&mut buf, st.read_offset),
                None => return out,
            };
            let n = match read {
                Ok(n) if n > 0 => n,
                Ok(_) => return out,
                Err(e) => {
                    error!("queue: reading page {}: {e}", st.read_page);
                    return out;
                }
            };
            let mut at = 0;
            while at < n && out.len() < max {
                match page::parse(&buf[at..n]) {
                    page::Parsed::Record { seq, payload, size } => {
                        out.push((seq, payload.to_vec()));
                        st.read_seq = seq + 1;
                        at += size;
                    }
                    page::Parsed::Incomplete if at > 0 => break,
                    page::Parsed::Incomplete => {
                        // One record larger than the 1 MB read: read exactly it.
                        let need = page::RECORD_HEADER
                            + u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
                        let mut big = vec![0u8; need];
                        let ok = st.read_file.as_ref().is_some_and(|(_, f)| {
                            f.read_exact_at(&mut big, st.read_offset).is_ok()
                        });
                        if let (true, page::Parsed::Record { seq, payload, size }) =
                            (ok, page::parse(&big))
                        {
                            out.push((seq, payload.to_vec()));
                            st.read_seq = seq + 1;
                            at = size;
                        } else {
                            error!(
                                "queue: page {} unreadable at {}; skipping the page",
                                st.read_page, st.read_offset
                            );
                            at = (page_end - st.read_offset) as usize;
                        }
                        break;
                    }
                    page::Parsed::Corrupt(why) => {
                        error!(
                            "queue: page {} at byte {}: {why}; skipping the rest of the page",
                            st.read_page,
                            st.read_offset + at as u64
                        );
                        at = (page_end - st.read_offset) as usize;
                        break;
                    }
                }
            }
            st.read_offset += at as u64;
        }
        out
    }

    /// Moves the ACKed position over contiguous batches; drops pages behind it; checkpoints.
    fn advance(&self, st: &mut State) {
        while let Some((&first, &last)) = st.acked_ahead.iter().next() {
            if first != st.acked_upto + 1 {
                break;
            }
            st.acked_ahead.remove(&first);
            st.acks_since_checkpoint += last - st.acked_upto;
            st.acked_upto = last;
        }
        if st.acks_since_checkpoint > 0
            && (st.acks_since_checkpoint >= self.settings.checkpoint_acks || st.closed)
        {
            self.checkpoint(st);
        }
    }

    fn checkpoint(&self, st: &mut State) {
        if st.acked_upto == st.checkpointed {
            return;
        }
        match write_checkpoint(&self.settings.dir, st.acked_upto) {
            Ok(()) => {
                st.checkpointed = st.acked_upto;
                st.acks_since_checkpoint = 0;
            }
            // Retried at the next ACK. Deleting ACKed pages is safe without it (a restart
            // replays from the older checkpoint what is left), and frees the space it needs.
            Err(e) => {
                let _ = std::fs::remove_file(self.settings.dir.join("checkpoint.head.tmp"));
                error!(
                    "queue {}: cannot write the checkpoint: {e}",
                    self.settings.dir.display()
                );
            }
        }
        // Pages wholly ACKed (and not being written or read) go.
        let done: Vec<u64> = st
            .pages
            .iter()
            .filter(|(&n, p)| n != st.head_page && n < st.read_page && p.last_seq <= st.acked_upto)
            .map(|(&n, _)| n)
            .collect();
        for n in done {
            if let Some(p) = st.pages.remove(&n) {
                st.total_bytes -= p.bytes;
            }
            if let Err(e) = std::fs::remove_file(page::path(&self.settings.dir, n)) {
                warn!("queue: cannot remove page {n}: {e}");
            }
        }
        self.not_full.notify_all();
    }
}

impl Queue for PersistentQueue {
    fn push(&self, events: Vec<Event>) -> Result<(), Stopped> {
        self.push_inner(events, true).map_err(|_| Stopped)
    }

    fn try_push(&self, events: Vec<Event>) -> Result<(), Result<Vec<Event>, Stopped>> {
        self.push_inner(events, false)
    }

    fn read_batch(&self, max: usize, delay: Duration) -> Option<Batch> {
        let max = max.max(1);
        let _one_reader = self.reading.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = self.lock();
        while st.read_seq >= st.next_seq && !st.closed {
            st = self.not_empty.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        if st.closed && (!st.drain || st.read_seq >= st.next_seq) {
            return None;
        }
        // A batch covers the sequence numbers from where reading stood to where it stopped, gaps
        // (records lost to damage) included, so that ACKs stay contiguous.
        let start = st.read_seq;
        let deadline = Instant::now() + delay;
        let mut records = self.read_records(&mut st, max);
        while records.len() < max && !st.closed {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            st = self
                .not_empty
                .wait_timeout(st, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
            let more = self.read_records(&mut st, max - records.len());
            records.extend(more);
        }
        let id = BatchId {
            first: start,
            last: st.read_seq - 1,
        };
        drop(st);
        // Decoding runs in parallel: the next worker may assemble its batch meanwhile.
        drop(_one_reader);
        self.not_empty.notify_one();
        let events = records
            .iter()
            .filter_map(
                |(seq, payload)| match rstash_event::binary::decode(payload) {
                    Ok(e) => Some(e),
                    Err(why) => {
                        error!("queue: event {seq} cannot be decoded ({why}); skipped");
                        None
                    }
                },
            )
            .collect();
        Some(Batch { events, id })
    }

    fn ack(&self, batch: BatchId) {
        if batch.last < batch.first {
            return;
        }
        let mut st = self.lock();
        st.acked_ahead.insert(batch.first, batch.last);
        self.advance(&mut st);
    }

    fn close(&self, drain: bool) {
        let mut st = self.lock();
        st.closed = true;
        st.drain = st.drain || drain;
        self.checkpoint(&mut st);
        let _ = st.head.sync_data();
        drop(st);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    fn len(&self) -> usize {
        let st = self.lock();
        (st.next_seq - st.read_seq) as usize
    }

    fn stats(&self) -> serde_json::Value {
        let st = self.lock();
        json!({
            "type": "persisted",
            "events_count": st.next_seq - st.read_seq,
            "queue_size_in_bytes": st.total_bytes,
            "max_queue_size_in_bytes": self.settings.max_bytes,
            "capacity": {
                "max_queue_size_in_bytes": self.settings.max_bytes,
                "max_unread_events": self.settings.max_events,
                "page_capacity_in_bytes": self.settings.page_capacity,
                "queue_size_in_bytes": st.total_bytes,
            },
            "data": {"path": self.settings.dir.display().to_string(), "storage_type": "file"},
            "events": {"unacked": st.next_seq - 1 - st.acked_upto, "skipped_at_start": st.skipped_at_start},
        })
    }
}

impl Drop for PersistentQueue {
    fn drop(&mut self) {
        let mut st = self.lock();
        self.checkpoint(&mut st);
        let _ = st.head.sync_data();
    }
}
