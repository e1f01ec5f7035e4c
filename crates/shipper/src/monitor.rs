//! What rbeat reports about itself, under Filebeat's names: the `http.*` endpoint (`GET /` and
//! `GET /stats` on localhost:5066 when `http.enabled: true`) and the periodic summary line
//! (`logging.metrics.enabled`, `logging.metrics.period`: 30 s).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing;
use axum::Router;
use rstash_metrics::process::Process;
use rstash_metrics::rate;
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::config::{ConfigError, Section};

/// Counters bumped along the way: harvesters → queue → output → ACKs → registry.
#[derive(Default)]
pub struct Metrics {
    /// Events read from files (`filebeat.events.added`).
    pub added: AtomicU64,
    /// Events finished: acknowledged by the output, or dropped by a filter (`filebeat.events.done`).
    pub done: AtomicU64,
    /// Dropped by include/exclude_lines or a processor (`libbeat.pipeline.events.filtered`).
    pub filtered: AtomicU64,
    /// Handed to the queue (`libbeat.pipeline.events.published`).
    pub published: AtomicU64,
    pub harvesters_started: AtomicU64,
    pub harvesters_closed: AtomicU64,
    pub batches: AtomicU64,
    /// Events sent to the output, retries included (`libbeat.output.events.total`).
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub failed: AtomicU64,
    pub write_bytes: AtomicU64,
    pub registry_writes: AtomicU64,
    pub registry_write_failures: AtomicU64,
    pub registry_updates: AtomicU64,
}

fn get(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

impl Metrics {
    pub fn add(a: &AtomicU64, n: u64) {
        a.fetch_add(n, Ordering::Relaxed);
    }

    /// Published but not acknowledged yet: the ACK lag.
    pub fn in_flight(&self) -> u64 {
        get(&self.published).saturating_sub(get(&self.acked))
    }
}

/// The static facts `/` and `/stats` report next to the counters.
pub struct Monitor {
    pub metrics: Arc<Metrics>,
    pub process: Process,
    pub output: &'static str,
    pub queue_max: usize,
    pub clients: usize,
    pub ephemeral_id: String,
    pub uuid: String,
    pub name: String,
    /// Files the registry knows (`registrar.states.current`).
    pub states: Box<dyn Fn() -> usize + Send + Sync>,
}

impl Monitor {
    fn info(&self) -> Value {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        json!({
            "beat": "filebeat",
            "binary_arch": std::env::consts::ARCH,
            "ephemeral_id": self.ephemeral_id,
            "hostname": host,
            "name": self.name,
            "uuid": self.uuid,
            "version": crate::event::BEAT_VERSION,
        })
    }

    pub fn stats(&self) -> Value {
        let m = &self.metrics;
        let p = self.process.snapshot();
        let running = get(&m.harvesters_started).saturating_sub(get(&m.harvesters_closed));
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let norm = |l: f64| (l / cores as f64 * 1000.0).round() / 1000.0;
        let [l1, l5, l15] = p.load_average;
        json!({
            "beat": {
                "info": {
                    "ephemeral_id": self.ephemeral_id,
                    "name": "filebeat",
                    "uptime": {"ms": p.uptime_ms},
                    "version": crate::event::BEAT_VERSION,
                },
                "cpu": {"total": {"ticks": p.cpu_total_ms, "time": {"ms": p.cpu_total_ms}, "value": p.cpu_total_ms}},
                "memstats": {"rss": p.rss_bytes, "memory_sys": p.virtual_bytes},
                "handles": {"open": p.open_fds, "limit": {"soft": p.max_fds}},
                "runtime": {"goroutines": p.threads},
            },
            "filebeat": {
                "events": {
                    "active": get(&m.added).saturating_sub(get(&m.done)),
                    "added": get(&m.added),
                    "done": get(&m.done),
                },
                "harvester": {
                    "closed": get(&m.harvesters_closed),
                    "open_files": running,
                    "running": running,
                    "skipped": 0,
                    "started": get(&m.harvesters_started),
                },
            },
            "libbeat": {
                "output": {
                    "type": self.output,
                    "events": {
                        "acked": get(&m.acked),
                        "active": get(&m.sent).saturating_sub(get(&m.acked) + get(&m.failed)),
                        "batches": get(&m.batches),
                        "dropped": 0,
                        "duplicates": 0,
                        "failed": get(&m.failed),
                        "toomany": 0,
                        "total": get(&m.sent),
                    },
                    "write": {"bytes": get(&m.write_bytes), "errors": 0},
                },
                "pipeline": {
                    "clients": self.clients,
                    "events": {
                        "active": m.in_flight(),
                        "dropped": 0,
                        "failed": 0,
                        "filtered": get(&m.filtered),
                        "published": get(&m.published),
                        "retry": get(&m.sent).saturating_sub(get(&m.published)),
                        "total": get(&m.published) + get(&m.filtered),
                    },
                    "queue": {"acked": get(&m.acked), "max_events": self.queue_max},
                },
            },
            "registrar": {
                "states": {"cleanup": 0, "current": (self.states)(), "update": get(&m.registry_updates)},
                "writes": {
                    "fail": get(&m.registry_write_failures),
                    "success": get(&m.registry_writes),
                    "total": get(&m.registry_writes) + get(&m.registry_write_failures),
                },
            },
            "system": {
                "cpu": {"cores": cores},
                "load": {"1": l1, "5": l5, "15": l15, "norm": {"1": norm(l1), "5": norm(l5), "15": norm(l15)}},
            },
        })
    }
}

type Params = Query<HashMap<String, String>>;

fn pretty(q: &Params) -> bool {
    q.get("pretty").is_some_and(|v| v != "false")
}

fn reply(v: &Value, q: &Params) -> Response {
    rstash_metrics::http::json(StatusCode::OK, v, pretty(q))
}

/// `http.enabled`, `http.host`, `http.port`: where to serve, when enabled.
pub fn http_address(root: &Section) -> Result<Option<(String, u16)>, ConfigError> {
    let http = root.section("http")?;
    let enabled = http.bool("enabled", false)?;
    let host = http.string_or("host", "localhost")?;
    let port = http.int("port", 5066)?;
    http.raw("named_pipe");
    http.raw("pprof");
    http.warn_unknown();
    if !enabled {
        return Ok(None);
    }
    let port = u16::try_from(port)
        .map_err(|_| ConfigError(format!("setting `http.port`: {port} is not a port")))?;
    let host = if host == "localhost" {
        "127.0.0.1".to_string()
    } else {
        host
    };
    Ok(Some((host, port)))
}

/// Serves `GET /` and `GET /stats`; a port in use is logged, shipping goes on.
pub fn serve(host: &str, port: u16, monitor: &Arc<Monitor>) {
    let router = Router::new()
        .route(
            "/",
            routing::get(
                |State(m): State<Arc<Monitor>>, q: Params| async move { reply(&m.info(), &q) },
            ),
        )
        .route(
            "/stats",
            routing::get(|State(m): State<Arc<Monitor>>, q: Params| async move {
                reply(&m.stats(), &q)
            }),
        )
        .with_state(monitor.clone());
    match rstash_metrics::http::spawn("http", host, port..=port, router) {
        Ok(addr) => info!("stats endpoint on http://{addr}/stats"),
        Err(e) => warn!("http endpoint not started on {host}:{port}: {e}"),
    }
}

/// `logging.metrics.*`: the period of the summary line, if enabled.
pub fn log_period(root: &Section) -> Result<Option<Duration>, ConfigError> {
    let logging = root.section("logging")?;
    let metrics = logging.section("metrics")?;
    let enabled = metrics.bool("enabled", true)?;
    let period = metrics.duration("period", Duration::from_secs(30))?;
    Ok(period.filter(|p| enabled && !p.is_zero()))
}

/// Logs one line per period: events read and acknowledged (with rates), the ACK lag, harvesters.
pub fn log_progress(monitor: Arc<Monitor>, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("progress".into())
        .spawn(move || {
            let m = &monitor.metrics;
            let (mut read0, mut acked0, mut at) = (0, 0, Instant::now());
            loop {
                std::thread::sleep(every);
                let secs = at.elapsed().as_secs_f64();
                at = Instant::now();
                let (read, acked) = (get(&m.added), get(&m.acked));
                let running =
                    get(&m.harvesters_started).saturating_sub(get(&m.harvesters_closed));
                let line = format!(
                    "read {read} ({:.0}/s), acked {acked} ({:.0}/s), in flight {}, filtered {}, harvesters {running}, registry writes {}",
                    rate(read, read0, secs),
                    rate(acked, acked0, secs),
                    m.in_flight(),
                    get(&m.filtered),
                    get(&m.registry_writes),
                );
                info!("{line}");
                (read0, acked0) = (read, acked);
            }
        });
    if let Err(e) = spawned {
        warn!("cannot start the progress logger: {e}");
    }
}
