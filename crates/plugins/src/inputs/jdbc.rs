//! `jdbc`: rows of an SQL statement become events, for PostgreSQL (`jdbc:postgresql://...`),
//! MySQL/MariaDB, SQL Server (`jdbc:sqlserver://...`) and SQLite (`jdbc:sqlite:/path`) without a JVM: the driver options are accepted and ignored with a
//! warning. `:sql_last_value` and `parameters` are put into the statement as SQL literals, as
//! Logstash's Sequel does; `:sql_last_value` is the last run's time, or with `use_column_value`
//! the `tracking_column` of the last row, kept in `last_run_metadata_path` (YAML, as Logstash)
//! once the run's events are queued. `schedule` (cron) repeats the statement; without it the
//! statement runs once and the input finishes. Column values keep their types.

use rstash_pipeline::{opt, Options, Ty};
use std::path::PathBuf;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, Timestamp, Value};
use rstash_pipeline::{Args, Input, InputContext, PluginError};
use tracing::{info, warn};

use super::Schedule;
use crate::sql_link::{bind, page, target_of, Connection, Target, NO_JVM};

#[derive(Clone, PartialEq)]
enum Paging {
    Off,
    Auto,
    Explicit,
}

pub struct Jdbc {
    target: Target,
    statement: String,
    parameters: Vec<(String, Value)>,
    schedule: Option<Schedule>,
    use_column_value: bool,
    tracking_column: Option<String>,
    numeric: bool,
    last_run_path: Option<PathBuf>,
    clean_run: bool,
    lowercase: bool,
    paging: Paging,
    page_size: i64,
    retries: u32,
    retry_wait: Duration,
}

pub const OPTIONS: Options = &[&[
    opt("jdbc_connection_string", Ty::Str).required(),
    opt("jdbc_user", Ty::Str),
    opt("jdbc_password", Ty::Password),
    opt("jdbc_password_filepath", Ty::Path),
    opt("statement", Ty::Str),
    opt("statement_filepath", Ty::Path),
    opt("parameters", Ty::Hash).default("{}"),
    opt("schedule", Ty::Str),
    opt("use_column_value", Ty::Boolean).default("false"),
    opt("tracking_column", Ty::Str),
    opt(
        "tracking_column_type",
        Ty::Choice(&["numeric", "timestamp"]),
    )
    .default("numeric"),
    opt("record_last_run", Ty::Boolean).default("true"),
    opt("last_run_metadata_path", Ty::Path),
    opt("clean_run", Ty::Boolean).default("false"),
    opt("lowercase_column_names", Ty::Boolean).default("true"),
    opt("jdbc_paging_enabled", Ty::Boolean).default("false"),
    opt("jdbc_paging_mode", Ty::Choice(&["auto", "explicit"])).default("auto"),
    opt("jdbc_page_size", Ty::Number).default("100000"),
    opt("connection_retry_attempts", Ty::Number).default("1"),
    opt("connection_retry_attempts_wait_time", Ty::Number).default("0.5"),
    opt("jdbc_driver_library", Ty::Str).ignored(NO_JVM),
    opt("jdbc_driver_class", Ty::Str).ignored(NO_JVM),
    opt("jdbc_fetch_size", Ty::Number).ignored(NO_JVM),
    opt("jdbc_validate_connection", Ty::Boolean).ignored(NO_JVM),
    opt("jdbc_validation_timeout", Ty::Number).ignored(NO_JVM),
    opt("sequel_opts", Ty::Hash).ignored(NO_JVM),
    opt(
        "sql_log_level",
        Ty::Choice(&["fatal", "error", "warn", "info", "debug"]),
    )
    .ignored("statements are logged at debug level"),
    opt("plugin_timezone", Ty::Str).ignored(UTC),
    opt("jdbc_default_timezone", Ty::Str).ignored(UTC),
    opt("columns_charset", Ty::Hash).ignored(UTC),
]];

const UTC: &str = "timestamps are read and written as UTC, text as UTF-8";

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(url) = args.string("jdbc_connection_string")? else {
        return Err(args.error("jdbc input needs `jdbc_connection_string`"));
    };
    let user = args.string("jdbc_user")?;
    let mut password = args.string("jdbc_password")?;
    if let Some(p) = args.string("jdbc_password_filepath")? {
        let text = std::fs::read_to_string(&p)
            .map_err(|e| args.unavailable("jdbc_password_filepath", format!("{p}: {e}")))?;
        password = Some(text.trim_end_matches(['\n', '\r']).to_string());
    }
    let target = target_of(args, &url, user.as_deref(), password.as_deref())?;
    let statement = match (
        args.string("statement")?,
        args.string("statement_filepath")?,
    ) {
        (Some(s), None) => s,
        (None, Some(p)) => std::fs::read_to_string(&p)
            .map_err(|e| args.unavailable("statement_filepath", format!("{p}: {e}")))?,
        (Some(_), Some(_)) => {
            return Err(args.error("jdbc input: set `statement` or `statement_filepath`, not both"))
        }
        (None, None) => {
            return Err(args.error("jdbc input needs `statement` or `statement_filepath`"))
        }
    };
    let parameters = args
        .hash("parameters")?
        .into_iter()
        .map(|(k, v)| (k, v.to_value()))
        .collect();
    let use_column_value = args.bool("use_column_value", false)?;
    let tracking_column = args.string("tracking_column")?;
    if use_column_value && tracking_column.is_none() {
        return Err(args.error_at(
            "use_column_value",
            "use_column_value needs `tracking_column`",
        ));
    }
    let numeric =
        args.choice("tracking_column_type", &["numeric", "timestamp"], "numeric")? == "numeric";
    let record = args.bool("record_last_run", true)?;
    let last_run_path = match args.string("last_run_metadata_path")? {
        Some(p) => Some(PathBuf::from(p)),
        None => Some(
            args.settings
                .data_dir
                .join("plugins/inputs/jdbc/logstash_jdbc_last_run"),
        ),
    }
    .filter(|_| record);
    let paging = match (
        args.bool("jdbc_paging_enabled", false)?,
        args.choice("jdbc_paging_mode", &["auto", "explicit"], "auto")?
            .as_str(),
    ) {
        (false, _) => Paging::Off,
        (true, "explicit") => Paging::Explicit,
        _ => Paging::Auto,
    };
    let schedule = Schedule::cron(args)?;
    Ok(Box::new(Jdbc {
        target,
        statement,
        parameters,
        schedule,
        use_column_value,
        tracking_column: tracking_column.map(|c| c.to_lowercase()),
        numeric,
        last_run_path,
        clean_run: args.bool("clean_run", false)?,
        lowercase: args.bool("lowercase_column_names", true)?,
        paging,
        page_size: args.int("jdbc_page_size", 100_000)?.max(1),
        retries: args.int("connection_retry_attempts", 1)?.max(1) as u32,
        retry_wait: Duration::from_secs_f64(
            args.number("connection_retry_attempts_wait_time")?
                .unwrap_or(0.5)
                .max(0.0),
        ),
    }))
}

impl Jdbc {
    fn last_value(&self) -> Value {
        let initial = if self.numeric && self.use_column_value {
            Value::Int(0)
        } else {
            Value::Timestamp(Timestamp::from_millis(0).unwrap_or_else(Timestamp::now))
        };
        let Some(p) = self.last_run_path.as_ref().filter(|_| !self.clean_run) else {
            return initial;
        };
        let Ok(text) = std::fs::read_to_string(p) else {
            return initial;
        };
        let v = text.trim().trim_start_matches("---").trim();
        if let Ok(i) = v.parse::<i64>() {
            return Value::Int(i);
        }
        if let Ok(f) = v.parse::<f64>() {
            return Value::Float(f);
        }
        // Ruby's YAML time: `2024-05-01 10:00:00.000000000 Z`.
        let iso = v.replacen(' ', "T", 1).replace(" Z", "Z").replace(' ', "");
        match Timestamp::parse_lenient(&iso) {
            Some(t) => Value::Timestamp(t),
            None => Value::String(v.trim_matches('\'').into()),
        }
    }

    fn save_last_value(&self, v: &Value) {
        let Some(p) = &self.last_run_path else { return };
        let text = match v {
            Value::Timestamp(t) => format!("--- {}\n", t.0.strftime("%Y-%m-%d %H:%M:%S.%f Z")),
            Value::String(s) => format!("--- '{}'\n", s.replace('\'', "''")),
            other => format!("--- {}\n", other.to_java_string()),
        };
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(p, text) {
            warn!("jdbc input: cannot write {}: {e}", p.display());
        }
    }

    fn statements(&self, params: &[(String, Value)], n: i64) -> String {
        let dialect = self.target.dialect();
        match self.paging {
            Paging::Off => bind(&self.statement, params, dialect),
            Paging::Auto => page(
                &bind(&self.statement, params, dialect),
                self.page_size,
                n * self.page_size,
                dialect,
            ),
            Paging::Explicit => {
                let mut p = params.to_vec();
                p.push(("size".into(), Value::Int(self.page_size)));
                p.push(("offset".into(), Value::Int(n * self.page_size)));
                bind(&self.statement, &p, dialect)
            }
        }
    }

    /// One run of the statement (every page); false when the pipeline stopped.
    fn run_once(&self, ctx: &InputContext) -> bool {
        let started = Timestamp::now();
        let mut last = self.last_value();
        let mut params = self.parameters.clone();
        params.push(("sql_last_value".into(), last.clone()));
        let mut page = 0;
        // One connection per run, as Logstash opens and closes its own around each run.
        let mut db = Connection::new(self.target.clone());
        loop {
            let sql = self.statements(&params, page);
            let mut attempt = 0;
            let rows = loop {
                match db.query(&sql) {
                    Ok(r) => break Some(r),
                    Err(e) => {
                        attempt += 1;
                        warn!("jdbc input: {e} (attempt {attempt} of {})", self.retries);
                        if attempt >= self.retries {
                            break None;
                        }
                        std::thread::sleep(self.retry_wait);
                    }
                }
            };
            let Some(rows) = rows else { return true };
            let n = rows.len() as i64;
            let mut events = Vec::with_capacity(rows.len());
            for row in rows {
                let mut e = Event::new();
                for (name, v) in row {
                    let name = if self.lowercase {
                        name.to_lowercase()
                    } else {
                        name
                    };
                    if self.use_column_value
                        && self.tracking_column.as_deref() == Some(name.as_str())
                    {
                        last = v.clone();
                    }
                    e.data_mut().insert(name.into(), v);
                }
                events.push(e);
            }
            if !events.is_empty() && ctx.push_all(events).is_err() {
                return false;
            }
            if self.paging == Paging::Off || n < self.page_size {
                break;
            }
            page += 1;
        }
        if !self.use_column_value {
            last = Value::Timestamp(started);
        }
        self.save_last_value(&last);
        true
    }
}

impl Input for Jdbc {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let Some(schedule) = &self.schedule else {
            self.run_once(ctx);
            return Ok(());
        };
        info!("jdbc input: running on its schedule");
        loop {
            let until = std::time::Instant::now() + schedule.wait();
            while std::time::Instant::now() < until {
                if ctx.is_stopping() {
                    return Ok(());
                }
                std::thread::sleep(
                    (until - std::time::Instant::now()).min(Duration::from_millis(100)),
                );
            }
            if !self.run_once(ctx) {
                return Ok(());
            }
        }
    }
}
