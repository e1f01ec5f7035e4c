//! Flags as Logstash names them.

use clap::Parser;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "rstash",
    version,
    about = "Runs Logstash pipelines: inputs → filters → outputs"
)]
pub struct Cli {
    /// Config file, directory (files in lexical order) or glob.
    #[arg(short = 'f', long = "path.config")]
    pub path_config: Option<String>,
    /// Config text.
    #[arg(short = 'e', long = "config.string")]
    pub config_string: Option<String>,
    /// Check the config and exit.
    #[arg(short = 't', long = "config.test_and_exit")]
    pub test_and_exit: bool,
    #[arg(short = 'w', long = "pipeline.workers")]
    pub workers: Option<usize>,
    #[arg(short = 'b', long = "pipeline.batch.size")]
    pub batch_size: Option<usize>,
    /// Milliseconds to wait for a batch to fill.
    #[arg(short = 'u', long = "pipeline.batch.delay")]
    pub batch_delay: Option<u64>,
    #[arg(long = "pipeline.id")]
    pub pipeline_id: Option<String>,
    /// Directory holding logstash.yml and pipelines.yml.
    #[arg(long = "path.settings")]
    pub path_settings: Option<String>,
    #[arg(long = "path.data")]
    pub path_data: Option<String>,
    /// fatal, error, warn, info, debug or trace.
    #[arg(long = "log.level", value_parser = ["fatal", "error", "warn", "info", "debug", "trace"])]
    pub log_level: Option<String>,
    /// Reload a pipeline when its config changes (and on SIGHUP).
    #[arg(short = 'r', long = "config.reload.automatic")]
    pub reload: bool,
    /// How often to look for config changes, e.g. 3s or 500ms.
    #[arg(long = "config.reload.interval")]
    pub reload_interval: Option<String>,
    /// Serve the monitoring API (default true).
    #[arg(long = "api.enabled")]
    pub api_enabled: Option<bool>,
    /// Address of the monitoring API (default 127.0.0.1).
    #[arg(long = "api.http.host")]
    pub api_host: Option<String>,
    /// Port or range of the monitoring API; the first free one is used (default 9600-9700).
    #[arg(long = "api.http.port")]
    pub api_port: Option<String>,
    /// How often to log a one-line summary per pipeline (default 30s; 0 turns it off).
    #[arg(long = "log.progress.interval")]
    pub progress_interval: Option<String>,
    /// Print every plugin, by kind, and exit.
    #[arg(long = "list-plugins")]
    pub list_plugins: bool,
    /// Print a plugin's options (name, type, required, default) and exit: `grok`,
    /// `input/tcp` or `logstash-output-tcp`.
    #[arg(long = "describe-plugin", value_name = "NAME")]
    pub describe_plugin: Option<String>,
}
