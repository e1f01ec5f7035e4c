//! The agent: resolves settings and pipelines, starts them, reloads them, stops them on signals,
//! and returns when every pipeline has finished (unless reloading is on).

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use rstash_config::settings::{self, Settings};
use rstash_config::{ConfigError, Source};
use rstash_pipeline::{
    compile, digest, Ecs, Pipeline, PipelineSettings, PipelineStats, Queue, Registry,
};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use tracing::{error, info, warn};

use crate::api::{Entry, Node, Reloads};
use crate::cli::Cli;

/// Where a pipeline's config text comes from.
#[derive(Clone, Debug)]
enum ConfigFrom {
    Path(String),
    Text(String),
}

struct PipelineSpec {
    settings: PipelineSettings,
    queue: Option<rstash_queue::Settings>,
    from: ConfigFrom,
}

struct Running {
    spec: PipelineSpec,
    pipeline: Option<Pipeline>,
    fingerprint: Fingerprint,
    stats: Arc<PipelineStats>,
}

type Fingerprint = Vec<(String, Option<SystemTime>, u64)>;

fn global_settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let mut s = Settings::new();
    if let Some(dir) = &cli.path_settings {
        let file = Path::new(dir).join("logstash.yml");
        if file.exists() {
            s = Settings::load(&file)?;
            for k in s.unknown_keys() {
                warn!("{}: unknown setting `{k}` ignored", file.display());
            }
        } else {
            warn!("no logstash.yml in {dir}; using defaults");
        }
    }
    let mut set = |k: &str, v: serde_json::Value| s.set(k, v);
    if let Some(w) = cli.workers {
        set("pipeline.workers", w.into());
    }
    if let Some(b) = cli.batch_size {
        set("pipeline.batch.size", b.into());
    }
    if let Some(d) = cli.batch_delay {
        set("pipeline.batch.delay", d.into());
    }
    if let Some(id) = &cli.pipeline_id {
        set("pipeline.id", id.clone().into());
    }
    if let Some(d) = &cli.path_data {
        set("path.data", d.clone().into());
    }
    if cli.reload {
        set("config.reload.automatic", true.into());
    }
    if let Some(i) = &cli.reload_interval {
        set("config.reload.interval", i.clone().into());
    }
    if let Some(e) = cli.api_enabled {
        set("api.enabled", e.into());
    }
    if let Some(h) = &cli.api_host {
        set("api.http.host", h.clone().into());
    }
    if let Some(p) = &cli.api_port {
        set("api.http.port", p.clone().into());
    }
    if let Some(i) = &cli.progress_interval {
        set("log.progress.interval", i.clone().into());
    }
    Ok(s)
}

fn pipeline_settings(s: &Settings) -> Result<PipelineSettings, ConfigError> {
    let mut p = PipelineSettings::default();
    if let Some(id) = s.string("pipeline.id") {
        p.id = id;
    }
    if let Some(w) = s.u64("pipeline.workers")? {
        if w == 0 {
            return Err(ConfigError::plain("pipeline.workers must be at least 1"));
        }
        p.workers = w as usize;
        p.workers_set = true;
    }
    if let Some(b) = s.u64("pipeline.batch.size")? {
        p.batch_size = (b as usize).max(1);
    }
    if let Some(d) = s.u64("pipeline.batch.delay")? {
        p.batch_delay = Duration::from_millis(d);
    }
    if let Some(d) = s.string("path.data") {
        p.data_dir = d.into();
    }
    if let Some(e) = s.string("pipeline.ecs_compatibility") {
        p.ecs = Ecs::parse(&e).ok_or_else(|| {
            ConfigError::plain(format!(
                "pipeline.ecs_compatibility must be disabled, v1 or v8, got `{e}`"
            ))
        })?;
    }
    if let Some(o) = s.string("pipeline.ordered") {
        if !["auto", "true", "false"].contains(&o.as_str()) {
            return Err(ConfigError::plain(format!(
                "pipeline.ordered must be auto, true or false, got `{o}`"
            )));
        }
        if o == "true" && p.workers > 1 {
            return Err(ConfigError::plain(format!(
                "pipeline `{}`: pipeline.ordered => true needs pipeline.workers => 1",
                p.id
            )));
        }
        p.ordered = o;
    }
    Ok(p)
}

/// A size setting in Logstash's units (`64mb`, `1024mb`, `4gb`, `512kb`, plain bytes).
fn size_setting(s: &Settings, key: &str, default: u64) -> Result<u64, ConfigError> {
    match s.string(key) {
        Some(text) => parse_bytes(key, &text),
        None => Ok(default),
    }
}

fn parse_bytes(key: &str, text: &str) -> Result<u64, ConfigError> {
    let t = text.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => 0,
    };
    num.parse::<u64>()
        .ok()
        .filter(|_| mult > 0)
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| {
            ConfigError::plain(format!(
                "setting `{key}` must be a size such as 64mb or 1gb, got `{text}`"
            ))
        })
}

/// The `queue.*` settings of one pipeline: None for the memory queue.
fn queue_settings(s: &Settings, id: &str) -> Result<Option<rstash_queue::Settings>, ConfigError> {
    match s.string("queue.type").as_deref() {
        None | Some("memory") => return Ok(None),
        Some("persisted") => {}
        Some(other) => {
            return Err(ConfigError::plain(format!(
                "queue.type must be memory or persisted, got `{other}`"
            )))
        }
    }
    let base = match (s.string("path.queue"), s.string("path.data")) {
        (Some(q), _) => PathBuf::from(q),
        (None, Some(d)) => Path::new(&d).join("queue"),
        (None, None) => PathBuf::from("data/queue"),
    };
    let mut q = rstash_queue::Settings::new(base.join(id));
    q.page_capacity = size_setting(s, "queue.page_capacity", q.page_capacity)?;
    q.max_bytes = size_setting(s, "queue.max_bytes", q.max_bytes)?;
    if q.page_capacity > q.max_bytes {
        return Err(ConfigError::plain(format!(
            "pipeline `{id}`: queue.page_capacity ({}) must not exceed queue.max_bytes ({})",
            q.page_capacity, q.max_bytes
        )));
    }
    q.max_events = s.u64("queue.max_events")?.unwrap_or(0);
    q.checkpoint_writes = s.u64("queue.checkpoint.writes")?.unwrap_or(1024);
    q.checkpoint_acks = s.u64("queue.checkpoint.acks")?.unwrap_or(1024);
    // Only meaningful on Windows for Logstash; accepted.
    s.bool("queue.checkpoint.retry")?;
    q.drain = s.bool("queue.drain")?.unwrap_or(false);
    Ok(Some(q))
}

/// `dead_letter_queue.*`: the writer outputs get through the pipeline settings, when enabled.
fn dead_letters(s: &Settings, id: &str) -> Result<rstash_pipeline::DeadLetterQueue, ConfigError> {
    if !s.bool("dead_letter_queue.enable")?.unwrap_or(false) {
        return Ok(rstash_pipeline::DeadLetterQueue::default());
    }
    let base = match (s.string("path.dead_letter_queue"), s.string("path.data")) {
        (Some(q), _) => PathBuf::from(q),
        (None, Some(d)) => Path::new(&d).join("dead_letter_queue"),
        (None, None) => PathBuf::from("data/dead_letter_queue"),
    };
    let max_bytes = size_setting(s, "dead_letter_queue.max_bytes", 1024 << 20)?;
    let drop_older = match s.string("dead_letter_queue.storage_policy").as_deref() {
        None | Some("drop_newer") => false,
        Some("drop_older") => true,
        Some(other) => {
            return Err(ConfigError::plain(format!(
                "dead_letter_queue.storage_policy must be drop_newer or drop_older, got `{other}`"
            )))
        }
    };
    let settings = rstash_queue::dlq::DlqSettings {
        dir: base.join(id),
        max_bytes,
        drop_older,
    };
    let w = rstash_queue::dlq::DeadLetterWriter::open(settings.clone()).map_err(|e| {
        ConfigError::plain(format!(
            "pipeline `{id}`: cannot open the dead letter queue in {}: {e}",
            settings.dir.display()
        ))
    })?;
    Ok(rstash_pipeline::DeadLetterQueue(Some(Arc::new(w))))
}

/// The pipeline's queue: in memory, or persisted under `path.queue`.
fn open_queue(spec: &PipelineSpec) -> Result<Arc<dyn Queue>, ConfigError> {
    match &spec.queue {
        None => Ok(Pipeline::memory_queue(&spec.settings)),
        Some(q) => {
            let pq = rstash_queue::PersistentQueue::open(q.clone()).map_err(|e| {
                ConfigError::plain(format!(
                    "pipeline `{}`: cannot open the persisted queue in {}: {e}",
                    spec.settings.id,
                    q.dir.display()
                ))
            })?;
            info!(pipeline = %spec.settings.id, "persisted queue in {}", q.dir.display());
            Ok(Arc::new(pq))
        }
    }
}

fn specs(cli: &Cli, global: &Settings) -> Result<Vec<PipelineSpec>, ConfigError> {
    let single = |s: &Settings, from: ConfigFrom| -> Result<Vec<PipelineSpec>, ConfigError> {
        let mut settings = pipeline_settings(s)?;
        settings.dead_letters = dead_letters(s, &settings.id)?;
        let queue = queue_settings(s, &settings.id)?;
        Ok(vec![PipelineSpec {
            settings,
            queue,
            from,
        }])
    };
    if let Some(p) = &cli.path_config {
        if cli.config_string.is_some() {
            return Err(ConfigError::plain(
                "give either -f/--path.config or -e/--config.string, not both",
            ));
        }
        return single(global, ConfigFrom::Path(p.clone()));
    }
    if let Some(t) = &cli.config_string {
        return single(global, ConfigFrom::Text(t.clone()));
    }
    if let Some(dir) = &cli.path_settings {
        let file = Path::new(dir).join("pipelines.yml");
        if file.exists() {
            let mut out = Vec::new();
            for p in settings::load_pipelines(&file)? {
                for k in p.unknown_keys() {
                    warn!("{}: unknown setting `{k}` ignored", file.display());
                }
                let merged = global.merged(&p);
                let id = merged.string("pipeline.id").unwrap_or_default();
                let from = match (p.string("config.string"), p.string("path.config")) {
                    (Some(t), _) => ConfigFrom::Text(t),
                    (None, Some(path)) => ConfigFrom::Path(path),
                    (None, None) => {
                        return Err(ConfigError::plain(format!(
                            "{}: pipeline `{id}` needs path.config or config.string",
                            file.display()
                        )))
                    }
                };
                let mut settings = pipeline_settings(&merged)?;
                settings.dead_letters = dead_letters(&merged, &settings.id)?;
                let queue = queue_settings(&merged, &settings.id)?;
                out.push(PipelineSpec {
                    settings,
                    queue,
                    from,
                });
            }
            if out.is_empty() {
                return Err(ConfigError::plain(format!(
                    "{}: no pipelines defined",
                    file.display()
                )));
            }
            return Ok(out);
        }
    }
    match (global.string("config.string"), global.string("path.config")) {
        (Some(t), _) => single(global, ConfigFrom::Text(t)),
        (None, Some(p)) => single(global, ConfigFrom::Path(p)),
        _ => Err(ConfigError::plain(
            "no configuration found: use -f FILE, -e 'CONFIG', or --path.settings DIR with a pipelines.yml",
        )),
    }
}

fn source(from: &ConfigFrom) -> Result<Source, ConfigError> {
    match from {
        ConfigFrom::Path(p) => Source::from_path(p),
        ConfigFrom::Text(t) => Ok(Source::from_string("config string", t)),
    }
}

/// Files and their modification times, to notice edits.
fn fingerprint(from: &ConfigFrom) -> Fingerprint {
    match from {
        ConfigFrom::Text(_) => Vec::new(),
        ConfigFrom::Path(p) => Source::from_path(p)
            .map(|s| {
                s.files()
                    .into_iter()
                    .map(|f| {
                        let meta = std::fs::metadata(PathBuf::from(&f)).ok();
                        let mtime = meta.as_ref().and_then(|m| m.modified().ok());
                        let len = meta.map(|m| m.len()).unwrap_or(0);
                        (f, mtime, len)
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The compiled pipeline and its config's hash (`/_node/pipelines`).
fn build(
    spec: &PipelineSpec,
    registry: &Registry,
) -> Result<(rstash_pipeline::CompiledPipeline, String), ConfigError> {
    let src = source(&spec.from)?;
    let ast = rstash_config::parse(&src)?;
    Ok((
        compile(&ast, &src, registry, &spec.settings)?,
        digest(src.text()),
    ))
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "" | "s" => Duration::from_secs(n),
        "ms" => Duration::from_millis(n),
        "m" => Duration::from_secs(n * 60),
        _ => return None,
    })
}

pub fn run(cli: Cli) -> Result<(), ConfigError> {
    let global = global_settings(&cli)?;
    let registry = rstash_plugins::registry();
    let specs = specs(&cli, &global)?;
    if cli.test_and_exit {
        // As Logstash's -t: every plugin's options checked, nothing opened or run. What a
        // plugin's start would refuse (a missing database, dictionary, script) is a warning.
        for mut s in specs {
            let warnings = Arc::new(std::sync::Mutex::new(Vec::new()));
            s.settings.check_only = Some(warnings.clone());
            build(&s, &registry)?;
            for w in warnings.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                eprintln!("warning: {w}; the pipeline will refuse to start until this is fixed");
            }
        }
        println!("Configuration OK");
        return Ok(());
    }
    let reload = global.bool("config.reload.automatic")?.unwrap_or(false);
    let interval = match global.string("config.reload.interval") {
        Some(i) => parse_duration(&i)
            .ok_or_else(|| ConfigError::plain(format!("bad config.reload.interval `{i}`")))?,
        None => Duration::from_secs(3),
    };
    let progress = match global.string("log.progress.interval") {
        Some(i) => parse_duration(&i)
            .ok_or_else(|| ConfigError::plain(format!("bad log.progress.interval `{i}`")))?,
        None => Duration::from_secs(30),
    };
    // Every pipeline (and the API's address) is checked before any starts.
    let api = api_address(&global)?;
    let mut running = Vec::new();
    for spec in specs {
        let mut compiled = build(&spec, &registry)?;
        compiled
            .0
            .register()
            .map_err(|e| ConfigError::plain(format!("pipeline `{}`: {e}", spec.settings.id)))?;
        let fingerprint = fingerprint(&spec.from);
        let queue = open_queue(&spec)?;
        running.push((spec, compiled, fingerprint, queue));
    }
    let node = Arc::new(node(&global, reload, interval)?);
    let mut running: Vec<Running> = running
        .into_iter()
        .map(|(spec, (compiled, hash), fingerprint, queue)| {
            info!(pipeline = %spec.settings.id, workers = spec.settings.workers, batch_size = spec.settings.batch_size, "starting pipeline");
            let stats = Arc::new(PipelineStats::default());
            let pipeline =
                Pipeline::start_counting(compiled, spec.settings.clone(), stats.clone(), queue);
            node.with_pipelines(|ps| {
                ps.push(Entry {
                    settings: spec.settings.clone(),
                    stats: stats.clone(),
                    current: Some(pipeline.metrics()),
                    reloads: Reloads::default(),
                    ephemeral_id: uuid::Uuid::new_v4().to_string(),
                    hash,
                })
            });
            Running { spec, pipeline: Some(pipeline), fingerprint, stats }
        })
        .collect();
    if let Some(addr) = api {
        start_api(addr, &node);
    }
    if !progress.is_zero() {
        crate::progress::spawn(node.clone(), progress);
    }

    // Signals are read for the whole life of the process, draining included: the first stop
    // signal asks the loop below to drain, a second one exits at once.
    let (tx, rx) = mpsc::channel();
    // A pipeline whose inputs all finished (stdin at its end, a generator done) wakes the loop
    // below, which would otherwise notice at its next poll, up to 100 ms later.
    for r in &running {
        if let Some(p) = &r.pipeline {
            let tx = tx.clone();
            p.when_inputs_done(move || {
                let _ = tx.send(WAKE);
            });
        }
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| ConfigError::plain(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    let draining = Arc::new(std::sync::Once::new());
    let report_drain = {
        let node = node.clone();
        let draining = draining.clone();
        move || {
            draining
                .call_once(|| crate::progress::spawn_drain_report(node.clone(), DRAIN_REPORT_EVERY))
        }
    };
    {
        let report_drain = report_drain.clone();
        std::thread::spawn(move || {
            let mut stop_signals = 0;
            for s in signals.forever() {
                if s != SIGHUP {
                    stop_signals += 1;
                    if stop_signals > 1 {
                        warn!("second stop signal: exiting without draining");
                        std::process::exit(1);
                    }
                    info!(
                        "stop requested: draining in-flight events (a second signal exits at once)"
                    );
                    report_drain();
                }
                // After the loop below has ended nobody listens: a later signal still counts.
                let _ = tx.send(s);
            }
        });
    }

    let mut stopping = false;
    let mut last_check = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(WAKE) => {}
            Ok(SIGHUP) => {
                if !stopping {
                    reload_changed(&mut running, &registry, &node, true)
                }
            }
            Ok(_) => {
                stopping = true;
                // Pipelines fed by others stop after their senders (below), so that nothing
                // is left between them.
                for r in running.iter().filter(|r| !fed(r)) {
                    if let Some(p) = &r.pipeline {
                        p.request_stop();
                    }
                }
            }
            Err(_) => {}
        }
        if reload && !stopping && last_check.elapsed() >= interval {
            last_check = Instant::now();
            reload_changed(&mut running, &registry, &node, false);
        }
        let all_done = running.iter().all(|r| match &r.pipeline {
            None => true,
            Some(p) => p.inputs_done() || (only_fed(p) && senders_done(r, &running)),
        });
        if all_done && (!reload || stopping) {
            break;
        }
    }
    report_drain();
    let clean = shut_down(&mut running, stopping);
    handle.close();
    if clean {
        Ok(())
    } else {
        Err(ConfigError::plain(
            "a pipeline failed (see the log above): an input could not run, or a worker crashed \
             and the events it held were not delivered",
        ))
    }
}

/// What the agent loop's channel carries besides signal numbers: "look again" (no signal is 0).
const WAKE: i32 = 0;

/// How often a draining rstash says what it still waits for.
const DRAIN_REPORT_EVERY: Duration = Duration::from_secs(3);

/// Rebuilds pipelines whose config changed (or all file-based ones when `force`); a config that
/// does not load leaves the old pipeline running.
fn reload_changed(running: &mut [Running], registry: &Registry, node: &Node, force: bool) {
    for r in running.iter_mut() {
        let fp = fingerprint(&r.spec.from);
        if !force && fp == r.fingerprint {
            continue;
        }
        if matches!(r.spec.from, ConfigFrom::Text(_)) {
            continue;
        }
        r.fingerprint = fp;
        let id = r.spec.settings.id.clone();
        let update = |f: &mut dyn FnMut(&mut Entry)| {
            node.with_pipelines(|ps| ps.iter_mut().filter(|e| e.settings.id == id).for_each(f))
        };
        match build(&r.spec, registry) {
            Err(e) => {
                error!(pipeline = %id, "new config not loaded, keeping the running one: {e}");
                update(&mut |en| en.reloads.failed(e.to_string()));
            }
            Ok((compiled, hash)) => {
                info!(pipeline = %id, "config changed: reloading pipeline");
                if let Some(old) = r.pipeline.take() {
                    old.request_stop();
                    old.wait_inputs(Duration::from_secs(10));
                    if !old.wait() {
                        warn!("the replaced pipeline's worker crashed");
                    }
                }
                // The old instance's queue must be closed before the new one opens its files.
                update(&mut |en| en.current = None);
                let queue = match open_queue(&r.spec) {
                    Ok(q) => q,
                    Err(e) => {
                        error!(pipeline = %id, "{e}");
                        update(&mut |en| en.reloads.failed(e.to_string()));
                        continue;
                    }
                };
                let mut compiled = compiled;
                if let Err(e) = compiled.register() {
                    error!(pipeline = %id, "{e}");
                    update(&mut |en| en.reloads.failed(e.to_string()));
                    continue;
                }
                let p = Pipeline::start_counting(
                    compiled,
                    r.spec.settings.clone(),
                    r.stats.clone(),
                    queue,
                );
                let metrics = p.metrics();
                r.pipeline = Some(p);
                update(&mut |en| {
                    en.current = Some(metrics.clone());
                    en.hash = hash.clone();
                    en.ephemeral_id = uuid::Uuid::new_v4().to_string();
                    en.reloads.succeeded();
                });
            }
        }
    }
}

/// The node's identity and settings; its id persists in `<path.data>/uuid` as Logstash's does.
fn node(global: &Settings, reload: bool, interval: Duration) -> Result<Node, ConfigError> {
    let id = match global.string("path.data") {
        Some(dir) => {
            let file = Path::new(&dir).join("uuid");
            match std::fs::read_to_string(&file) {
                Ok(id) if !id.trim().is_empty() => id.trim().to_string(),
                _ => {
                    let id = uuid::Uuid::new_v4().to_string();
                    let written =
                        std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&file, &id));
                    if let Err(e) = written {
                        warn!("cannot keep the node id in {}: {e}", file.display());
                    }
                    id
                }
            }
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let host = rstash_pipeline::hostname();
    Ok(Node {
        id,
        ephemeral_id: uuid::Uuid::new_v4().to_string(),
        name: global.string("node.name").unwrap_or_else(|| host.clone()),
        host,
        defaults: pipeline_settings(global)?,
        reload_automatic: reload,
        reload_interval_ms: interval.as_millis() as u64,
        pipelines: RwLock::new(Vec::new()),
        process: rstash_metrics::process::Process::new(),
        http_address: OnceLock::new(),
    })
}

/// Serves the monitoring API unless `api.enabled: false`. No free port in the range is logged
/// and the pipelines run on, as in Logstash.
/// Where the monitoring API listens (host, ports), or None when `api.enabled: false`.
type ApiAddress = (String, std::ops::RangeInclusive<u16>);

fn api_address(global: &Settings) -> Result<Option<ApiAddress>, ConfigError> {
    let enabled = global
        .bool("api.enabled")?
        .or(global.bool("http.enabled")?)
        .unwrap_or(true);
    if !enabled {
        return Ok(None);
    }
    let host = global
        .string("api.http.host")
        .or_else(|| global.string("http.host"))
        .unwrap_or_else(|| "127.0.0.1".into());
    let ports_text = global
        .string("api.http.port")
        .or_else(|| global.string("http.port"))
        .unwrap_or_else(|| "9600-9700".into());
    let ports = rstash_metrics::http::port_range(&ports_text).ok_or_else(|| {
        ConfigError::plain(format!(
            "api.http.port must be a port or a range like 9600-9700, got `{ports_text}`"
        ))
    })?;
    Ok(Some((host, ports)))
}

fn start_api((host, ports): ApiAddress, node: &Arc<Node>) {
    let range = format!("{}-{}", ports.start(), ports.end());
    match rstash_metrics::http::spawn("api", &host, ports, crate::api::router(node.clone())) {
        Ok(addr) => {
            let _ = node.http_address.set(addr.to_string());
            info!("monitoring API on http://{addr}/");
        }
        Err(e) => error!("monitoring API not started: nothing free on {host}:{range}: {e}"),
    }
}

/// Whether other pipelines send to this one (`pipeline { send_to }` → `pipeline { address }`).
fn fed(r: &Running) -> bool {
    !rstash_plugins::bus::upstreams(&r.spec.settings.id).is_empty()
}

/// Every input of the pipeline is a `pipeline` input.
fn only_fed(p: &Pipeline) -> bool {
    let names = p.input_names();
    !names.is_empty() && names.iter().all(|n| n == "pipeline")
}

/// Every pipeline sending to `r` has no input left running.
fn senders_done(r: &Running, running: &[Running]) -> bool {
    let ups = rstash_plugins::bus::upstreams(&r.spec.settings.id);
    !ups.is_empty()
        && running
            .iter()
            .filter(|o| ups.contains(&o.spec.settings.id))
            .all(|o| o.pipeline.as_ref().is_none_or(Pipeline::inputs_done))
}

/// Waits for the pipelines to finish, senders before the pipelines they send to: a receiver
/// stops only once nothing more can come to it (all at once if they send to each other).
/// False when a pipeline worker crashed.
fn shut_down(running: &mut [Running], stopping: bool) -> bool {
    let mut ok = true;
    loop {
        let left: Vec<String> = running
            .iter()
            .filter(|r| r.pipeline.is_some())
            .map(|r| r.spec.settings.id.clone())
            .collect();
        if left.is_empty() {
            return ok;
        }
        let ready: Vec<String> = left
            .iter()
            .filter(|id| {
                rstash_plugins::bus::upstreams(id)
                    .iter()
                    .all(|u| !left.contains(u))
            })
            .cloned()
            .collect();
        let ready = if ready.is_empty() { left } else { ready };
        for r in running.iter_mut() {
            if !ready.contains(&r.spec.settings.id) {
                continue;
            }
            let is_fed = fed(r);
            if let Some(p) = r.pipeline.take() {
                if is_fed {
                    if stopping {
                        p.request_stop();
                    } else {
                        p.finish();
                    }
                }
                if stopping {
                    // Inputs that keep state (the file input's sincedb) get to save it.
                    p.wait_inputs(Duration::from_secs(5));
                }
                let id = p.id().to_string();
                ok &= p.wait();
                info!(pipeline = %id, "pipeline finished");
            }
        }
    }
}
