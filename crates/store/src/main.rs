//! `rstore`: the embedded Elasticsearch-compatible store.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "rstore",
    version,
    about = "A small Elasticsearch-compatible store on tantivy"
)]
struct Cli {
    #[arg(long = "path.data", default_value = "./data")]
    path_data: PathBuf,
    #[arg(long = "http.host", default_value = "127.0.0.1")]
    host: String,
    #[arg(long = "http.port", default_value_t = 9200)]
    port: u16,
    /// How often new documents become searchable.
    #[arg(long = "refresh_interval_ms", default_value_t = 1000)]
    refresh_ms: u64,
    #[arg(long = "log.level", default_value = "info")]
    log_level: String,
}

fn main() -> ExitCode {
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
    let store = match rstore::Store::open(&cli.path_data) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("rstore: cannot open {}: {e}", cli.path_data.display());
            return ExitCode::from(1);
        }
    };
    let refresher = store.clone();
    let every = Duration::from_millis(cli.refresh_ms.max(10));
    std::thread::spawn(move || loop {
        std::thread::sleep(every);
        refresher.refresh_all();
    });
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
        let listener = tokio::net::TcpListener::bind(&addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        tracing::info!("rstore listening on http://{addr}, data in {}", cli.path_data.display());
        let stop = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {},
            }
        };
        axum::serve(listener, rstore::api::router(store.clone())).with_graceful_shutdown(stop).await.map_err(|e| e.to_string())?;
        store.refresh_all();
        Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rstore: {e}");
            ExitCode::from(1)
        }
    }
}
