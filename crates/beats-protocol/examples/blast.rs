//! Load generator for a beats server: N connections, each publishing batches of JSON events with
//! the crate's client (pipelined, compressed as configured). Prints events/s once all are ACKed.
//!
//! usage: blast ADDR [connections=4] [events=1000000] [batch=2048] [compression=0]

use std::time::Instant;

use bytes::Bytes;
use rstash_beats_protocol::{Client, ClientConfig, Connector};

fn arg(args: &[String], i: usize, default: usize) -> usize {
    args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:5044".into());
    let (conns, total, batch, level) = (
        arg(&args, 2, 4),
        arg(&args, 3, 1_000_000),
        arg(&args, 4, 2048),
        arg(&args, 5, 0),
    );
    let per_conn = total / conns;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Events are built before the clock starts: the figure is the server's.
    let work: Vec<Vec<Vec<Bytes>>> = (0..conns)
        .map(|c| {
            (0..per_conn)
                .collect::<Vec<_>>()
                .chunks(batch)
                .map(|ids| {
                    ids.iter()
                        .map(|i| Bytes::from(format!(r#"{{"@timestamp":"2024-05-01T12:00:00.000Z","message":"conn {c} event {i} GET /balance 200","log":{{"offset":{i}}},"@metadata":{{"beat":"blast"}}}}"#)))
                        .collect()
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    rt.block_on(async {
        let mut tasks = Vec::new();
        for batches in work {
            let addr = addr.clone();
            tasks.push(tokio::spawn(async move {
                let cfg = ClientConfig {
                    compression_level: level as u32,
                    pipelining: 4,
                    max_retries: Some(3),
                    ..Default::default()
                };
                Client::new(Connector::tcp(addr), cfg)
                    .publish(batches)
                    .await
            }));
        }
        for t in tasks {
            match t.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("blast: {e}"),
                Err(e) => eprintln!("blast: {e}"),
            }
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let sent = per_conn * conns;
    println!("{sent} events over {conns} connections (batch {batch}, compression {level}) in {secs:.2} s: {:.0} events/s", sent as f64 / secs);
}
