//! The persisted queue on a real directory: replay after a stop without ACKs, nothing replayed
//! once ACKed, torn and corrupt records, page rollover and removal, a full queue, and the
//! check/repair tool.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use rstash_event::{Event, Value};
use rstash_pipeline::Queue;
use rstash_queue::{page, PersistentQueue, Settings};

fn settings(dir: &Path) -> Settings {
    let mut s = Settings::new(dir.to_path_buf());
    s.checkpoint_acks = 1;
    s
}

fn events(from: usize, to: usize) -> Vec<Event> {
    (from..to)
        .map(|i| {
            let mut e = Event::with_message(format!("event {i}"));
            e.data_mut().insert("n".into(), Value::Int(i as i64));
            e.metadata_mut()
                .insert("k".into(), Value::String("meta".into()));
            e
        })
        .collect()
}

fn numbers(evs: &[Event]) -> Vec<i64> {
    evs.iter()
        .map(|e| match e.data().get("n") {
            Some(Value::Int(n)) => *n,
            _ => -1,
        })
        .collect()
}

/// Reads everything available (acking each batch when `ack`).
fn drain(q: &PersistentQueue, ack: bool) -> Vec<i64> {
    let mut got = Vec::new();
    while q.len() > 0 {
        let b = q.read_batch(100, Duration::ZERO).unwrap();
        got.extend(numbers(&b.events));
        if ack {
            q.ack(b.id);
        }
    }
    got
}

#[test]
fn unacked_events_are_replayed_and_acked_ones_are_not() {
    let d = tempfile::tempdir().unwrap();
    {
        let q = PersistentQueue::open(settings(d.path())).unwrap();
        q.push(events(0, 250)).unwrap();
        // 100 processed and ACKed, 100 read but not ACKed (a crash mid-batch), 50 never read.
        let b = q.read_batch(100, Duration::ZERO).unwrap();
        assert_eq!(numbers(&b.events), (0..100).collect::<Vec<_>>());
        let metadata = b.events[0].metadata().get("k").cloned();
        assert_eq!(metadata, Some(Value::String("meta".into())));
        q.ack(b.id);
        let _unacked = q.read_batch(100, Duration::ZERO).unwrap();
        // Dropped without close: like kill -9 after the checkpoint of the first batch.
        std::mem::forget(q);
    }
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    assert_eq!(q.len(), 150);
    assert_eq!(drain(&q, true), (100..250).collect::<Vec<_>>());
    q.close(false);
    drop(q);
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    assert_eq!(q.len(), 0, "everything was ACKed");
    q.push(events(250, 260)).unwrap();
    assert_eq!(drain(&q, true), (250..260).collect::<Vec<_>>());
}

#[test]
fn out_of_order_acks_wait_for_the_gap() {
    let d = tempfile::tempdir().unwrap();
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    q.push(events(0, 30)).unwrap();
    let a = q.read_batch(10, Duration::ZERO).unwrap();
    let b = q.read_batch(10, Duration::ZERO).unwrap();
    q.ack(b.id); // the second batch finishes first
    std::mem::forget(q);
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    assert_eq!(q.len(), 30, "nothing is ACKed while the first batch is out");
    let _ = a;
    q.close(false);
}

#[test]
fn a_torn_tail_is_cut_and_a_corrupt_record_skipped_with_the_rest_of_its_page() {
    let d = tempfile::tempdir().unwrap();
    let mut s = settings(d.path());
    s.page_capacity = 4096;
    {
        let q = PersistentQueue::open(s.clone()).unwrap();
        q.push(events(0, 200)).unwrap();
        std::mem::forget(q);
    }
    let pages = page::list(d.path()).unwrap();
    assert!(pages.len() >= 3, "{pages:?}");
    // Damage a record in the middle of the first page, and tear the last page's tail.
    let first = page::path(d.path(), pages[0]);
    let mut bytes = std::fs::read(&first).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&first, &bytes).unwrap();
    let last = page::path(d.path(), *pages.last().unwrap());
    OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap()
        .write_all(&[40, 0, 0, 0, 1, 2, 3])
        .unwrap();
    let q = PersistentQueue::open(s).unwrap();
    let got = drain(&q, true);
    let per_page = got.iter().take_while(|&&n| n < 200).count();
    assert!(per_page < 200 && !got.is_empty());
    // Every later page is intact: the events after page 1 all arrive, in order.
    let first_of_page2 = got
        .windows(2)
        .find(|w| w[1] != w[0] + 1)
        .map(|w| w[1])
        .expect("a gap where the damaged records were");
    assert_eq!(
        got.iter().filter(|&&n| n >= first_of_page2).count() as i64,
        200 - first_of_page2
    );
    assert_eq!(*got.last().unwrap(), 199);
    q.push(events(200, 205)).unwrap();
    assert_eq!(drain(&q, true), (200..205).collect::<Vec<_>>());
}

#[test]
fn acked_pages_are_removed_and_a_full_queue_refuses_more() {
    let d = tempfile::tempdir().unwrap();
    let mut s = settings(d.path());
    s.page_capacity = 2048;
    s.max_bytes = 16 << 10;
    let q = PersistentQueue::open(s).unwrap();
    let mut pushed = 0;
    loop {
        match q.try_push(events(pushed, pushed + 10)) {
            Ok(()) => pushed += 10,
            Err(Ok(_back)) => break,
            Err(Err(_)) => panic!("closed"),
        }
        assert!(pushed < 10_000, "max_bytes never applied");
    }
    assert!(pushed > 50, "{pushed}");
    let pages_full = page::list(d.path()).unwrap().len();
    assert!(pages_full > 4);
    assert_eq!(drain(&q, true), (0..pushed as i64).collect::<Vec<_>>());
    assert!(page::list(d.path()).unwrap().len() <= 2, "ACKed pages go");
    q.try_push(events(0, 10)).unwrap();
}

#[test]
fn a_blocked_push_resumes_when_acks_free_room() {
    let d = tempfile::tempdir().unwrap();
    let mut s = settings(d.path());
    s.max_events = 20;
    let q = std::sync::Arc::new(PersistentQueue::open(s).unwrap());
    q.push(events(0, 20)).unwrap();
    let q2 = q.clone();
    let h = std::thread::spawn(move || q2.push(events(20, 30)));
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(q.len(), 20, "the producer waits");
    let b = q.read_batch(20, Duration::ZERO).unwrap();
    q.ack(b.id);
    h.join().unwrap().unwrap();
    assert_eq!(drain(&q, true), (20..30).collect::<Vec<_>>());
}

#[test]
fn close_without_drain_keeps_events_and_with_drain_hands_them_out() {
    let d = tempfile::tempdir().unwrap();
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    q.push(events(0, 10)).unwrap();
    q.close(false);
    assert!(q.read_batch(10, Duration::ZERO).is_none());
    drop(q);
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    q.close(true);
    let b = q.read_batch(100, Duration::ZERO).unwrap();
    assert_eq!(b.events.len(), 10);
    q.ack(b.id);
    assert!(q.read_batch(100, Duration::ZERO).is_none());
}

#[test]
fn check_reports_damage_and_repair_fixes_it() {
    let d = tempfile::tempdir().unwrap();
    {
        let q = PersistentQueue::open(settings(d.path())).unwrap();
        q.push(events(0, 50)).unwrap();
        std::mem::forget(q);
    }
    let tool = |cmd: &str| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rstash-queue"))
            .args([cmd, d.path().to_str().unwrap()])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let (code, out) = tool("check");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("50 records, events 1..50") && out.contains("queue OK"),
        "{out}"
    );
    let p = page::path(d.path(), page::list(d.path()).unwrap()[0]);
    OpenOptions::new()
        .append(true)
        .open(&p)
        .unwrap()
        .write_all(&[9, 9, 9])
        .unwrap();
    let (code, out) = tool("check");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("torn tail"), "{out}");
    let (code, out) = tool("repair");
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = tool("check");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("50 events not yet acknowledged"), "{out}");
}

#[test]
fn concurrent_workers_ack_everything_whatever_the_order() {
    let d = tempfile::tempdir().unwrap();
    let q = std::sync::Arc::new(PersistentQueue::open(settings(d.path())).unwrap());
    let producer = {
        let q = q.clone();
        std::thread::spawn(move || {
            for i in 0..100 {
                q.push(events(i * 50, i * 50 + 50)).unwrap();
            }
        })
    };
    let workers: Vec<_> = (0..3)
        .map(|w| {
            let q = q.clone();
            std::thread::spawn(move || {
                let mut n = 0;
                while let Some(b) = q.read_batch(40, Duration::from_millis(2)) {
                    n += b.events.len();
                    if w == 1 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    q.ack(b.id);
                }
                n
            })
        })
        .collect();
    producer.join().unwrap();
    q.close(true);
    let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, 5000);
    drop(q);
    let q = PersistentQueue::open(settings(d.path())).unwrap();
    assert_eq!(q.len(), 0, "every batch was ACKed, so nothing is replayed");
}
