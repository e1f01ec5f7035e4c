//! rbeat: a Filebeat-compatible shipper. `rbeat -c filebeat.yml` tails the configured files and
//! ships every line at least once; `rbeat test config`, `rbeat test output`, `rbeat version`.

mod cloud;
mod config;
mod dissect;
mod docker;
mod event;
mod fields;
mod harvest;
mod input;
mod kubernetes;
mod monitor;
mod netinput;
mod outputs;
mod pipeline;
mod processors;
mod syslog;
mod vars;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use tracing::{error, info};

use crate::config::{ConfigError, Paths, Section};

#[derive(Parser)]
#[command(
    name = "rbeat",
    about = "Ships log files like Filebeat: reads filebeat.yml",
    disable_version_flag = true
)]
struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "c", global = true, default_value = "filebeat.yml")]
    config: PathBuf,
    /// Log to stderr (rbeat always does; accepted for Filebeat's command lines).
    #[arg(short = 'e', global = true)]
    stderr: bool,
    /// Setting overrides, `-E output.logstash.hosts=["h:5044"]`.
    #[arg(short = 'E', global = true, value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Debug selectors (any value turns on debug logging).
    #[arg(short = 'd', global = true)]
    debug: Option<String>,
    #[arg(long = "path.home", global = true)]
    path_home: Option<PathBuf>,
    #[arg(long = "path.data", global = true)]
    path_data: Option<PathBuf>,
    #[arg(long = "path.config", global = true)]
    path_config: Option<PathBuf>,
    #[arg(long = "path.logs", global = true)]
    path_logs: Option<PathBuf>,
    /// Read every file to its end, wait for the output to acknowledge everything, then exit.
    #[arg(long, global = true)]
    once: bool,
    #[arg(long = "strict.perms", global = true)]
    strict_perms: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run (the default).
    Run,
    /// Check the configuration or the output.
    Test {
        #[command(subcommand)]
        what: TestWhat,
    },
    /// Print the version.
    Version,
}

#[derive(Subcommand)]
enum TestWhat {
    Config,
    Output,
}

struct Settings {
    inputs: Vec<Arc<input::InputConfig>>,
    output: outputs::OutputConfig,
    queue: pipeline::QueueConfig,
    builder_parts: (
        Vec<String>,
        fields::Fields,
        bool,
        Vec<processors::Processor>,
    ),
    shutdown_timeout: Duration,
    http: Option<(String, u16)>,
    log_period: Option<Duration>,
    name: Option<String>,
}

fn load(cli: &Cli, paths: &Paths) -> Result<Settings, ConfigError> {
    let root_value = config::load(&paths.config, &cli.overrides)?;
    let root = Section::new("", Some(&root_value))?;
    let fb = root.section("filebeat")?;
    let mut inputs = Vec::new();
    match fb.raw("inputs") {
        Some(serde_json::Value::Array(items)) => {
            for (i, v) in items.iter().enumerate() {
                if let Some(cfg) = input::parse(&format!("filebeat.inputs.{i}"), v)? {
                    inputs.push(Arc::new(cfg));
                }
            }
        }
        Some(_) => {
            return Err(ConfigError(
                "setting `filebeat.inputs`: expected a list of inputs".into(),
            ))
        }
        None => {}
    }
    let mut ids = std::collections::HashSet::new();
    for i in &inputs {
        if let rstash_tail::registry::Kind::Filestream(id) = &i.kind {
            if !ids.insert(id.clone()) {
                return Err(ConfigError(format!(
                    "filestream inputs with duplicated IDs: `{id}`"
                )));
            }
        }
    }
    let shutdown_timeout = fb
        .duration("shutdown_timeout", Duration::from_secs(10))?
        .unwrap_or(Duration::ZERO);
    fb.raw("modules");
    fb.raw("config");
    fb.raw("registry");
    fb.warn_unknown();
    let output = outputs::parse(&root)?;
    let queue = pipeline::QueueConfig::parse(&root)?;
    let global_processors = processors::parse_list("processors", root.raw("processors"))?;
    let tags = root.strings("tags")?;
    let global_fields = root.section("fields")?.map().cloned().unwrap_or_default();
    let under_root = root.bool("fields_under_root", false)?;
    let http = monitor::http_address(&root)?;
    let log_period = monitor::log_period(&root)?;
    let name = root.string("name")?;
    // Accepted, not acted on (no module system, logs always go to stderr).
    for k in [
        "setup",
        "logging",
        "path",
        "monitoring",
        "seccomp",
        "max_procs",
        "cloud",
    ] {
        let _ = root.raw(k);
    }
    root.warn_unknown();
    Ok(Settings {
        inputs,
        output,
        queue,
        builder_parts: (tags, global_fields, under_root, global_processors),
        shutdown_timeout,
        http,
        log_period,
        name,
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.debug.is_some() { "debug" } else { "info" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let _ = (cli.stderr, &cli.path_logs, cli.strict_perms);
    let config_path = match &cli.path_config {
        Some(dir) if cli.config.is_relative() => dir.join(&cli.config),
        _ => cli.config.clone(),
    };
    let paths = Paths::resolve(
        cli.path_home.as_deref(),
        cli.path_data.as_deref(),
        &config_path,
    );
    match &cli.command {
        Some(Command::Version) => {
            println!(
                "rbeat version {} ({}), compatible with filebeat {}",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::ARCH,
                event::BEAT_VERSION
            );
            ExitCode::SUCCESS
        }
        Some(Command::Test {
            what: TestWhat::Config,
        }) => match load(&cli, &paths) {
            Ok(_) => {
                println!("Config OK");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Test {
            what: TestWhat::Output,
        }) => match load(&cli, &paths) {
            Ok(s) => test_output(&s.output),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
        Some(Command::Run) | None => match load(&cli, &paths) {
            Ok(s) => run(s, &paths, cli.once),
            Err(e) => {
                error!("{e}");
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Talks to each output host, as `filebeat test output` does; exits non-zero on a failure.
fn test_output(out: &outputs::OutputConfig) -> ExitCode {
    let ok = match &out.probe {
        Some(probe) => probe(&mut |line| println!("{line}")),
        None => {
            for line in &out.describe {
                println!("{line}");
            }
            true
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn run(s: Settings, paths: &Paths, once: bool) -> ExitCode {
    let registry = match rstash_tail::Registry::open(&paths.data) {
        Ok(r) => Arc::new(Mutex::new(r)),
        Err(e) => {
            eprintln!(
                "cannot open the registry under {}: {e}",
                paths.data.display()
            );
            return ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let abort = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(sig, stop.clone()) {
            eprintln!("cannot install a signal handler: {e}");
            return ExitCode::FAILURE;
        }
    }
    let agent = event::Agent::load(&paths.data);
    let (tags, global_fields, under_root, global_processors) = s.builder_parts;
    let builder = Arc::new(event::Builder::new(
        &agent,
        &s.output.beat_index,
        tags,
        global_fields,
        under_root,
        global_processors,
    ));
    let tracker = rstash_tail::acks::Tracker::default();
    let metrics = Arc::new(monitor::Metrics::default());
    let states = tracker.clone();
    let mon = Arc::new(monitor::Monitor {
        metrics: metrics.clone(),
        process: rstash_metrics::process::Process::new(),
        output: s.output.name,
        queue_max: s.queue.events,
        clients: s.inputs.len(),
        ephemeral_id: agent.ephemeral_id.clone(),
        uuid: agent.id.clone(),
        name: s.name.clone().unwrap_or_else(|| agent.name.clone()),
        states: Box::new(move || states.files()),
    });
    if let Some((host, port)) = &s.http {
        monitor::serve(host, *port, &mon);
    }
    if let Some(every) = s.log_period {
        monitor::log_progress(mon.clone(), every);
    }
    let (queue, running) = match pipeline::start(
        &s.output,
        &s.queue,
        tracker.clone(),
        registry.clone(),
        abort.clone(),
        metrics.clone(),
    ) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start the {} output: {e}", s.output.name);
            return ExitCode::FAILURE;
        }
    };
    info!(
        "rbeat started: {} input(s), output {}, registry {}",
        s.inputs.len(),
        s.output.name,
        paths.data.join("registry/filebeat").display()
    );
    let shared = harvest::Shared {
        tracker: tracker.clone(),
        registry,
        queue,
        builder,
        encoder: s.output.encoder.clone(),
        plain_json: s.output.plain_json,
        stop: stop.clone(),
        once,
        metrics,
    };
    // Network inputs never reach an end: with --once they stop once the files are read.
    let files_done = Arc::new(AtomicBool::new(false));
    let (mut inputs, mut listeners) = (Vec::new(), Vec::new());
    for cfg in &s.inputs {
        let (cfg, sh) = (cfg.clone(), shared.clone());
        match cfg.net.clone() {
            Some(net) => {
                let done = files_done.clone();
                listeners.push(std::thread::spawn(move || {
                    netinput::run(cfg, net, sh, done)
                }));
            }
            None => inputs.push(std::thread::spawn(move || harvest::run_input(cfg, sh))),
        }
    }
    drop(shared);
    // A stop request gives the output `shutdown_timeout` to acknowledge what is in flight.
    let watchdog = {
        let (stop, abort, timeout) = (stop.clone(), abort.clone(), s.shutdown_timeout);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                if abort.load(Ordering::Relaxed) {
                    return;
                }
            }
            let until = Instant::now() + timeout;
            while Instant::now() < until && !abort.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
            abort.store(true, Ordering::Relaxed);
        })
    };
    for h in inputs {
        let _ = h.join();
    }
    if once {
        files_done.store(true, Ordering::Relaxed);
    }
    for h in listeners {
        let _ = h.join();
    }
    if once {
        info!("All data collection completed. Waiting for the output to acknowledge everything.");
    }
    running.join();
    let left = tracker.in_flight();
    abort.store(true, Ordering::Relaxed);
    let _ = watchdog.join();
    if left > 0 {
        info!("stopped with {left} events not acknowledged; they are sent again at the next start");
    } else {
        info!("stopped: every event read was acknowledged");
    }
    ExitCode::SUCCESS
}
