//! The monitoring API on `api.http.host:api.http.port` (127.0.0.1, 9600-9700), in Logstash's
//! shapes: `/`, `/_node`, `/_node/pipelines[/{id}]`, `/_node/stats[/{types}]`,
//! `/_node/stats/pipelines/{id}`; plus `/metrics` in Prometheus text. Logstash's `jvm` block has
//! no meaning here: `process` carries CPU, memory (with `resident_in_bytes`) and file descriptors.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rstash_metrics::http::json as reply;
use rstash_metrics::process::Process;
use rstash_metrics::prometheus::{Kind, Text, CONTENT_TYPE};
use rstash_pipeline::{PipelineMetrics, PipelineSettings, PipelineStats};
use serde_json::{json, Map, Value};

/// Reload outcomes of one pipeline, as `/_node/stats` reports them.
#[derive(Default, Clone)]
pub struct Reloads {
    pub successes: u64,
    pub failures: u64,
    pub last_error: Option<String>,
    pub last_success: Option<String>,
    pub last_failure: Option<String>,
}

impl Reloads {
    pub fn succeeded(&mut self) {
        self.successes += 1;
        self.last_success = Some(now());
    }

    pub fn failed(&mut self, error: String) {
        self.failures += 1;
        self.last_error = Some(error);
        self.last_failure = Some(now());
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// One pipeline as the API sees it: totals that outlive reloads, and the running instance.
pub struct Entry {
    pub settings: PipelineSettings,
    pub stats: Arc<PipelineStats>,
    pub current: Option<PipelineMetrics>,
    pub reloads: Reloads,
    pub ephemeral_id: String,
    pub hash: String,
}

pub struct Node {
    pub id: String,
    pub ephemeral_id: String,
    pub name: String,
    pub host: String,
    pub defaults: PipelineSettings,
    pub reload_automatic: bool,
    pub reload_interval_ms: u64,
    pub pipelines: RwLock<Vec<Entry>>,
    pub process: Process,
    pub http_address: OnceLock<String>,
}

impl Node {
    pub fn with_pipelines<T>(&self, f: impl FnOnce(&mut Vec<Entry>) -> T) -> T {
        let mut g = self.pipelines.write().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    pub fn read<T>(&self, f: impl FnOnce(&[Entry]) -> T) -> T {
        let g = self.pipelines.read().unwrap_or_else(|p| p.into_inner());
        f(&g)
    }

    fn common(&self) -> Map<String, Value> {
        let d = &self.defaults;
        let v = json!({
            "host": self.host,
            "version": env!("CARGO_PKG_VERSION"),
            "http_address": self.http_address.get().cloned().unwrap_or_default(),
            "id": self.id,
            "name": self.name,
            "ephemeral_id": self.ephemeral_id,
            "status": "green",
            "snapshot": false,
            "pipeline": {
                "workers": d.workers,
                "batch_size": d.batch_size,
                "batch_delay": d.batch_delay.as_millis() as u64,
            },
        });
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn pipeline_info(&self, e: &Entry) -> Value {
        let s = &e.settings;
        json!({
            "ephemeral_id": e.ephemeral_id,
            "hash": e.hash,
            "workers": s.workers,
            "batch_size": s.batch_size,
            "batch_delay": s.batch_delay.as_millis() as u64,
            "config_reload_automatic": self.reload_automatic,
            "config_reload_interval": self.reload_interval_ms * 1_000_000,
            "dead_letter_queue_enabled": s.dead_letters.0.is_some(),
        })
    }

    /// `pipelines` of `/_node` and `/_node/pipelines`: each pipeline's settings by id.
    fn pipelines_info(&self) -> Value {
        Value::Object(self.read(|ps| {
            ps.iter()
                .map(|e| (e.settings.id.clone(), self.pipeline_info(e)))
                .collect()
        }))
    }

    fn pipeline_stats(e: &Entry) -> Value {
        let mut v = match &e.current {
            Some(m) => m.stats_json(),
            None => {
                json!({"events": e.stats.events_json(), "plugins": {"inputs": [], "codecs": [], "filters": [], "outputs": []}, "queue": {"type": "memory", "events_count": 0}})
            }
        };
        // The totals survive reloads, the running instance's plugins do not (as in Logstash).
        v["events"] = e.stats.events_json();
        let r = &e.reloads;
        v["reloads"] = json!({
            "successes": r.successes,
            "failures": r.failures,
            "last_error": r.last_error.as_ref().map(|m| json!({"message": m, "backtrace": []})),
            "last_success_timestamp": r.last_success,
            "last_failure_timestamp": r.last_failure,
        });
        v["hash"] = json!(e.hash);
        v["ephemeral_id"] = json!(e.ephemeral_id);
        v
    }

    fn process_json(&self) -> Value {
        let p = self.process.snapshot();
        json!({
            "open_file_descriptors": p.open_fds,
            "peak_open_file_descriptors": p.peak_open_fds,
            "max_file_descriptors": p.max_fds,
            "mem": {"total_virtual_in_bytes": p.virtual_bytes, "resident_in_bytes": p.rss_bytes},
            "cpu": {
                "total_in_millis": p.cpu_total_ms,
                "percent": p.cpu_percent,
                "load_average": {"1m": p.load_average[0], "5m": p.load_average[1], "15m": p.load_average[2]},
            },
            "threads": p.threads,
            "uptime_in_millis": p.uptime_ms,
        })
    }

    fn node_stats(&self, types: &[&str], only: Option<&str>) -> Result<Value, String> {
        let mut out = self.common();
        for t in types {
            match *t {
                "process" => {
                    out.insert("process".into(), self.process_json());
                }
                "events" => {
                    let total = self.read(|ps| {
                        let mut sum = [0u64; 5];
                        for e in ps {
                            let ev = e.stats.events_json();
                            for (i, k) in [
                                "in",
                                "filtered",
                                "out",
                                "duration_in_millis",
                                "queue_push_duration_in_millis",
                            ]
                            .iter()
                            .enumerate()
                            {
                                sum[i] += ev[k].as_u64().unwrap_or(0);
                            }
                        }
                        sum
                    });
                    out.insert(
                        "events".into(),
                        json!({"in": total[0], "filtered": total[1], "out": total[2], "duration_in_millis": total[3], "queue_push_duration_in_millis": total[4]}),
                    );
                }
                "pipelines" => {
                    let ps = self.read(|ps| {
                        ps.iter()
                            .filter(|e| only.is_none_or(|id| id == e.settings.id))
                            .map(|e| (e.settings.id.clone(), Node::pipeline_stats(e)))
                            .collect::<Map<_, _>>()
                    });
                    if let Some(id) = only {
                        if ps.is_empty() {
                            return Err(format!("no pipeline with id [{id}]"));
                        }
                    }
                    out.insert("pipelines".into(), Value::Object(ps));
                }
                "reloads" => {
                    let (s, f) = self.read(|ps| {
                        ps.iter().fold((0, 0), |(s, f), e| {
                            (s + e.reloads.successes, f + e.reloads.failures)
                        })
                    });
                    out.insert("reloads".into(), json!({"successes": s, "failures": f}));
                }
                "os" => {
                    out.insert(
                        "os".into(),
                        json!({"cpu": {"load_average": self.process_json()["cpu"]["load_average"]}}),
                    );
                }
                "queue" => {
                    let n: usize = self.read(|ps| {
                        ps.iter()
                            .filter_map(|e| e.current.as_ref().map(|m| m.queued()))
                            .sum()
                    });
                    out.insert("queue".into(), json!({"events_count": n}));
                }
                // Logstash's JVM block has no equivalent; asking for it is not an error.
                "jvm" | "flow" | "geoip_download_manager" => {}
                other => return Err(format!("unknown stats type [{other}]")),
            }
        }
        Ok(Value::Object(out))
    }

    fn prometheus(&self) -> String {
        let mut t = Text::default();
        let p = self.process.snapshot();
        t.family(
            "rstash_process_cpu_seconds_total",
            Kind::Counter,
            "User and system CPU time.",
        )
        .sample(
            "rstash_process_cpu_seconds_total",
            &[],
            p.cpu_total_ms as f64 / 1000.0,
        )
        .family(
            "rstash_process_resident_memory_bytes",
            Kind::Gauge,
            "Resident memory.",
        )
        .sample(
            "rstash_process_resident_memory_bytes",
            &[],
            p.rss_bytes as f64,
        )
        .family(
            "rstash_process_open_fds",
            Kind::Gauge,
            "Open file descriptors.",
        )
        .sample("rstash_process_open_fds", &[], p.open_fds as f64);
        let rows = self.read(|ps| {
            ps.iter()
                .map(|e| {
                    (
                        e.settings.id.clone(),
                        e.stats.events_json(),
                        e.current.as_ref().map(|m| m.queued()).unwrap_or(0),
                        e.reloads.successes,
                        e.reloads.failures,
                        e.current
                            .as_ref()
                            .map(|m| m.stats_json()["plugins"].clone()),
                    )
                })
                .collect::<Vec<_>>()
        });
        let pipeline_counters = [
            (
                "in",
                "rstash_pipeline_events_in_total",
                "Events read by the pipeline's inputs.",
            ),
            (
                "filtered",
                "rstash_pipeline_events_filtered_total",
                "Events through the filters.",
            ),
            (
                "out",
                "rstash_pipeline_events_out_total",
                "Events through the outputs.",
            ),
            (
                "duration_in_millis",
                "rstash_pipeline_events_duration_milliseconds_total",
                "Worker time spent on batches.",
            ),
            (
                "queue_push_duration_in_millis",
                "rstash_pipeline_queue_push_duration_milliseconds_total",
                "Time inputs waited for the queue.",
            ),
        ];
        for (key, name, help) in pipeline_counters {
            t.family(name, Kind::Counter, help);
            for r in &rows {
                t.sample(
                    name,
                    &[("pipeline", &r.0)],
                    r.1[key].as_u64().unwrap_or(0) as f64,
                );
            }
        }
        t.family(
            "rstash_pipeline_queue_events",
            Kind::Gauge,
            "Events waiting in the queue.",
        );
        for r in &rows {
            t.sample(
                "rstash_pipeline_queue_events",
                &[("pipeline", &r.0)],
                r.2 as f64,
            );
        }
        t.family(
            "rstash_pipeline_reloads_total",
            Kind::Counter,
            "Config reloads by outcome.",
        );
        for r in &rows {
            t.sample(
                "rstash_pipeline_reloads_total",
                &[("pipeline", &r.0), ("result", "success")],
                r.3 as f64,
            );
            t.sample(
                "rstash_pipeline_reloads_total",
                &[("pipeline", &r.0), ("result", "failure")],
                r.4 as f64,
            );
        }
        for (dir, help) in [
            ("in", "Events into a plugin."),
            ("out", "Events out of a plugin."),
        ] {
            let name = format!("rstash_plugin_events_{dir}_total");
            t.family(&name, Kind::Counter, help);
            for r in &rows {
                let Some(plugins) = &r.5 else { continue };
                for kind in ["inputs", "filters", "outputs"] {
                    for pl in plugins[kind].as_array().into_iter().flatten() {
                        let Some(v) = pl["events"][dir].as_u64() else {
                            continue;
                        };
                        let labels = [
                            ("pipeline", r.0.as_str()),
                            ("kind", kind.trim_end_matches('s')),
                            ("plugin", pl["name"].as_str().unwrap_or("")),
                            ("id", pl["id"].as_str().unwrap_or("")),
                        ];
                        t.sample(&name, &labels, v as f64);
                    }
                }
            }
        }
        t.finish()
    }
}

type Params = Query<HashMap<String, String>>;

fn pretty(q: &Params) -> bool {
    q.get("pretty").is_some_and(|v| v != "false")
}

fn not_found(path: &str, why: &str, pretty: bool) -> Response {
    reply(
        StatusCode::NOT_FOUND,
        &json!({"path": path, "status": 404, "error": {"message": why}}),
        pretty,
    )
}

const ALL_TYPES: &[&str] = &["process", "events", "pipelines", "reloads", "os", "queue"];

pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/_node", get(node_info))
        .route("/_node/pipelines", get(pipelines))
        .route("/_node/pipelines/{id}", get(pipeline))
        .route("/_node/stats", get(stats_all))
        .route("/_node/stats/{types}", get(stats_types))
        .route("/_node/stats/pipelines/{id}", get(stats_pipeline))
        .route("/metrics", get(metrics))
        .fallback(|uri: axum::http::Uri| async move { not_found(uri.path(), "Not Found", false) })
        .with_state(node)
}

async fn root(State(n): State<Arc<Node>>, q: Params) -> Response {
    reply(StatusCode::OK, &Value::Object(n.common()), pretty(&q))
}

async fn node_info(State(n): State<Arc<Node>>, q: Params) -> Response {
    let mut out = n.common();
    out.insert("pipelines".into(), n.pipelines_info());
    out.insert(
        "os".into(),
        json!({
            "name": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
            "available_processors": std::thread::available_parallelism().map(|p| p.get()).unwrap_or(1),
        }),
    );
    reply(StatusCode::OK, &Value::Object(out), pretty(&q))
}

async fn pipelines(State(n): State<Arc<Node>>, q: Params) -> Response {
    let mut out = n.common();
    out.insert("pipelines".into(), n.pipelines_info());
    reply(StatusCode::OK, &Value::Object(out), pretty(&q))
}

async fn pipeline(State(n): State<Arc<Node>>, Path(id): Path<String>, q: Params) -> Response {
    let info = n.read(|ps| {
        ps.iter()
            .find(|e| e.settings.id == id)
            .map(|e| n.pipeline_info(e))
    });
    match info {
        Some(i) => {
            let mut out = n.common();
            out.insert("pipelines".into(), json!({ id: i }));
            reply(StatusCode::OK, &Value::Object(out), pretty(&q))
        }
        None => not_found(
            &format!("/_node/pipelines/{id}"),
            &format!("no pipeline with id [{id}]"),
            pretty(&q),
        ),
    }
}

async fn stats_all(State(n): State<Arc<Node>>, q: Params) -> Response {
    stats_reply(&n, ALL_TYPES, None, &q)
}

async fn stats_types(State(n): State<Arc<Node>>, Path(types): Path<String>, q: Params) -> Response {
    let types: Vec<&str> = types.split(',').map(str::trim).collect();
    stats_reply(&n, &types, None, &q)
}

async fn stats_pipeline(State(n): State<Arc<Node>>, Path(id): Path<String>, q: Params) -> Response {
    stats_reply(&n, &["pipelines"], Some(&id), &q)
}

fn stats_reply(n: &Node, types: &[&str], only: Option<&str>, q: &Params) -> Response {
    match n.node_stats(types, only) {
        Ok(v) => reply(StatusCode::OK, &v, pretty(q)),
        Err(why) => not_found("/_node/stats", &why, pretty(q)),
    }
}

async fn metrics(State(n): State<Arc<Node>>) -> Response {
    let mut r = n.prometheus().into_response();
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    r
}
