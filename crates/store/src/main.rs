//! `rstore`: the embedded Elasticsearch-compatible store.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rstore::security::Security;

#[global_allocator]
static GLOBAL: rstash_alloc::MiMalloc = rstash_alloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rstore",
    version,
    about = "A small Elasticsearch-compatible store on tantivy"
)]
struct Cli {
    #[arg(long = "path.data", default_value = "./data", global = true)]
    path_data: PathBuf,
    #[arg(long = "http.host", default_value = "127.0.0.1")]
    host: String,
    #[arg(long = "http.port", default_value_t = 9200)]
    port: u16,
    /// How often new documents become searchable (indices searched in the last 30 s; others
    /// refresh when next searched). Per index: the `index.refresh_interval` setting.
    #[arg(long = "refresh_interval_ms", default_value_t = 1000)]
    refresh_ms: u64,
    /// Memory for indexing, all indices together: documents waiting for a writer and the
    /// writers' buffers (Elasticsearch's `indices.memory.index_buffer_size`).
    #[arg(long = "indices.memory.index_buffer_size", default_value = "512mb",
          value_parser = parse_size)]
    index_buffer: u64,
    /// Writes are refused (429, as Elasticsearch's flood stage) once the disk is this full
    /// (`95%`), or has this little free (`500mb`).
    #[arg(
        long = "cluster.routing.allocation.disk.watermark.flood_stage",
        default_value = "95%"
    )]
    flood_stage: rstore::Watermark,
    /// Writes are accepted again below this mark.
    #[arg(
        long = "cluster.routing.allocation.disk.watermark.high",
        default_value = "90%"
    )]
    high: rstore::Watermark,
    /// Every index is committed and the write-ahead log emptied once the log holds this much
    /// (what a crash replays at most).
    #[arg(long = "index.translog.flush_threshold_size", default_value = "512mb",
          value_parser = parse_size)]
    flush_threshold: u64,
    /// Deletes daily indices (names ending in YYYY.MM.dd) whose day is older than this many days.
    #[arg(long = "retention.days")]
    retention_days: Option<u32>,
    /// With --retention.days: only indices matching these patterns (comma-separated, `weblogs-*`).
    #[arg(
        long = "retention.indices",
        requires = "retention_days",
        value_delimiter = ','
    )]
    retention_indices: Vec<String>,
    #[arg(long = "log.level", default_value = "info",
          value_parser = ["error", "warn", "info", "debug", "trace"])]
    log_level: String,
    /// Serve HTTPS with this certificate (PEM; Elasticsearch's
    /// `xpack.security.http.ssl.certificate`).
    #[arg(long = "http.ssl.certificate", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long = "http.ssl.key", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Listen beyond loopback without authentication (anyone who reaches the port can read and
    /// delete every index).
    #[arg(long)]
    insecure: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Users of the file realm (`<path.data>/users`), as `elasticsearch-users` manages them.
    Users {
        #[command(subcommand)]
        action: UsersAction,
    },
}

#[derive(Subcommand)]
enum UsersAction {
    /// Adds a user, or sets a user's password. The password is read from standard input
    /// (one line) unless `-p` gives it.
    Add {
        name: String,
        #[arg(short = 'p', long)]
        password: Option<String>,
    },
    /// Lists the users.
    List,
}

fn parse_size(s: &str) -> Result<u64, String> {
    rstore::engine::parse_bytes(s)
}

fn users(dir: &std::path::Path, action: UsersAction) -> ExitCode {
    let done = match action {
        UsersAction::Add { name, password } => {
            let password = match password {
                Some(p) => p,
                None => {
                    if std::io::stdin().is_terminal() {
                        eprint!("password for {name}: ");
                    }
                    let mut line = String::new();
                    if let Err(e) = std::io::stdin().read_line(&mut line) {
                        eprintln!("rstore: cannot read the password: {e}");
                        return ExitCode::from(1);
                    }
                    line.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            Security::add_user(dir, &name, &password).map(|()| {
                eprintln!(
                    "rstore: user {name} saved in {}",
                    dir.join("users").display()
                )
            })
        }
        UsersAction::List => Security::user_names(dir).map(|names| {
            for n in names {
                println!("{n}");
            }
        }),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rstore: {e}");
            ExitCode::from(1)
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn main() -> ExitCode {
    rstash_alloc::without_huge_pages();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log_level)
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Some(Command::Users { action }) = cli.command {
        return users(&cli.path_data, action);
    }
    let security = match Security::open(&cli.path_data) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("rstore: {e}");
            return ExitCode::from(1);
        }
    };
    if !is_loopback(&cli.host) && !security.enabled() && !cli.insecure {
        eprintln!(
            "rstore: refusing to listen on {} without authentication: anyone who reaches it could \
             read and delete every index. Add a user first (`rstore users add NAME --path.data {}`), \
             or pass --insecure",
            cli.host,
            cli.path_data.display()
        );
        return ExitCode::from(1);
    }
    let tls = match (&cli.tls_cert, &cli.tls_key) {
        (Some(c), Some(k)) => {
            match rstash_net::server(c, k, &[] as &[PathBuf], rstash_net::ClientAuth::None) {
                Ok(t) => Some(t),
                Err(e) => {
                    eprintln!("rstore: TLS: {e}");
                    return ExitCode::from(1);
                }
            }
        }
        _ => None,
    };
    let opts = rstore::Options {
        budget: usize::try_from(cli.index_buffer).unwrap_or(usize::MAX),
        flood_stage: cli.flood_stage,
        release: cli.high,
        flush_threshold: cli.flush_threshold,
        refresh: Duration::from_millis(cli.refresh_ms.max(10)),
        // SAFETY: mimalloc is this binary's allocator; collecting is safe from any thread.
        return_freed_memory: || unsafe { libmimalloc_sys::mi_collect(true) },
        ..Default::default()
    };
    let store = match rstore::Store::open(&cli.path_data, opts) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("rstore: cannot open {}: {e}", cli.path_data.display());
            return ExitCode::from(1);
        }
    };
    let engine = store.clone();
    let retention = cli.retention_days.map(|days| rstore::retention::Retention {
        days,
        patterns: cli.retention_indices.clone(),
    });
    let engine = std::thread::Builder::new()
        .name("engine".into())
        .spawn(move || engine.run_engine(retention));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rstore: {e}");
            return ExitCode::from(1);
        }
    };
    let result: Result<(), String> = rt.block_on(async {
        let addr = format!("{}:{}", cli.host, cli.port);
        let listener = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let auth = if security.enabled() { "users and API keys" } else { "none" };
        tracing::info!(
            "rstore listening on {scheme}://{addr}, data in {}, authentication: {auth}",
            cli.path_data.display()
        );
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
            }
        };
        let app = rstore::api::router(store.clone(), security);
        match tls {
            Some(tls) => axum::serve(rstore::tls::TlsListener::new(listener, tls), app)
                .with_graceful_shutdown(stop)
                .await
                .map_err(|e| e.to_string())?,
            None => axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
                .map_err(|e| e.to_string())?,
        }
        Ok(())
    });
    // Everything committed: a restart replays nothing.
    store.shutdown();
    if let Ok(t) = engine {
        let _ = t.join();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rstore: {e}");
            ExitCode::from(1)
        }
    }
}
