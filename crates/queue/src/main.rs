//! `rstash-queue check DIR` / `rstash-queue repair DIR`: what Logstash's `pqcheck` and `pqrepair`
//! do for its queue. DIR is one pipeline's queue directory (`<path.queue>/<pipeline id>`).
//! check: lists the pages, their records and sequence numbers, the checkpoint, and any damage;
//! exits 1 when something is wrong. repair: cuts each page back to its last good record and
//! drops pages that are not pages, so the queue opens without complaint (rstash does the same
//! on start, logging it).

use std::path::Path;
use std::process::ExitCode;

use rstash_queue::{page, read_checkpoint};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, dir) = match args.as_slice() {
        [c, d] if c == "check" || c == "repair" => (c.as_str(), Path::new(d)),
        _ => {
            eprintln!("usage: rstash-queue check|repair <queue directory of one pipeline>");
            return ExitCode::from(2);
        }
    };
    match run(cmd == "repair", dir) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("rstash-queue: {}: {e}", dir.display());
            ExitCode::from(2)
        }
    }
}

/// True when the queue is (now) healthy.
fn run(repair: bool, dir: &Path) -> std::io::Result<bool> {
    let acked = match read_checkpoint(dir) {
        Ok(a) => {
            println!("checkpoint: every event up to {a} acknowledged");
            Some(a)
        }
        Err(e) => {
            println!("checkpoint: {e}");
            None
        }
    };
    let mut healthy = acked.is_some();
    let mut unacked = 0u64;
    for n in page::list(dir)? {
        let path = page::path(dir, n);
        let scan = page::scan(&path, |seq, _, _| {
            if seq > acked.unwrap_or(0) {
                unacked += 1;
            }
        })?;
        let range = match (scan.first_seq, scan.last_seq) {
            (Some(a), Some(b)) => format!("events {a}..{b}"),
            _ => "no events".into(),
        };
        println!(
            "page.{n}: {} records, {range}, {} bytes",
            scan.records, scan.file_len
        );
        if let Some(problem) = &scan.problem {
            healthy = false;
            let lost = scan.file_len - scan.valid_len;
            let kind = if scan.torn { "torn tail" } else { "damaged" };
            println!(
                "  {kind}: {problem}; {lost} bytes after byte {} are not records",
                scan.valid_len
            );
            if repair {
                if scan.valid_len < page::HEADER {
                    std::fs::remove_file(&path)?;
                    println!("  repaired: removed (not a page)");
                } else {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&path)?
                        .set_len(scan.valid_len)?;
                    println!("  repaired: cut back to {} bytes", scan.valid_len);
                }
            }
        }
    }
    if acked.is_none() && repair {
        rstash_queue::write_checkpoint(dir, 0)?;
        println!("repaired: new checkpoint; every event in the queue will be replayed");
    }
    println!("{unacked} events not yet acknowledged");
    if repair {
        println!("queue repaired");
        return Ok(true);
    }
    println!(
        "{}",
        if healthy {
            "queue OK"
        } else {
            "queue damaged: run `rstash-queue repair`"
        }
    );
    Ok(healthy)
}
