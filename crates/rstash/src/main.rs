//! `rstash`: Logstash's command line, running one or more pipelines from `-f`, `-e` or
//! `--path.settings` (logstash.yml + pipelines.yml). Logs go to stderr; stdout is the events'.

mod agent;
mod api;
mod cli;
mod plugin_help;
mod progress;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

// Events are allocated by input threads and freed by workers; glibc's arenas contend on that.
#[global_allocator]
static GLOBAL: rstash_alloc::MiMalloc = rstash_alloc::MiMalloc;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    if cli.list_plugins {
        print!("{}", plugin_help::list());
        return ExitCode::SUCCESS;
    }
    if let Some(name) = &cli.describe_plugin {
        return match plugin_help::describe(name) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rstash: {e}");
                ExitCode::from(1)
            }
        };
    }
    let level = cli.log_level.clone().unwrap_or_else(|| "info".into());
    let filter = match level.as_str() {
        "fatal" => "error".to_string(),
        l => l.to_string(),
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter).unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match agent::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rstash: {e}");
            ExitCode::from(1)
        }
    }
}
