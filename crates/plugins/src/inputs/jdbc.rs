//! `jdbc`: rows of an SQL statement become events, for PostgreSQL (`jdbc:postgresql://...`) and
//! SQLite (`jdbc:sqlite:/path`) without a JVM: the driver options are accepted and ignored with a
//! warning. `:sql_last_value` and `parameters` are put into the statement as SQL literals, as
//! Logstash's Sequel does; `:sql_last_value` is the last run's time, or with `use_column_value`
//! the `tracking_column` of the last row, kept in `last_run_metadata_path` (YAML, as Logstash)
//! once the run's events are queued. `schedule` (cron) repeats the statement; without it the
//! statement runs once and the input finishes. Column values keep their types.

use std::path::PathBuf;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_event::{Event, Timestamp, Value};
use rstash_pipeline::{Args, Input, InputContext, PluginError};
use tracing::{info, warn};

use super::Schedule;

#[derive(Clone)]
enum Target {
    Postgres(String),
    Sqlite(PathBuf),
}

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

/// `jdbc:postgresql://host:port/db?x=y` → a libpq-style URL; `jdbc:sqlite:path` → the path.
fn target(url: &str, user: Option<&str>, password: Option<&str>) -> Result<Target, String> {
    if let Some(rest) = url.strip_prefix("jdbc:postgresql:") {
        let rest = rest.trim_start_matches("//");
        let (hostport, db_and_query) = rest.split_once('/').unwrap_or((rest, "postgres"));
        let (db, query) = db_and_query.split_once('?').unwrap_or((db_and_query, ""));
        let (host, port) = hostport.rsplit_once(':').unwrap_or((hostport, "5432"));
        let host = if host.is_empty() { "localhost" } else { host };
        let mut conf = format!(
            "host={host} port={port} dbname={}",
            if db.is_empty() { "postgres" } else { db }
        );
        let mut user = user.map(str::to_string);
        let mut password = password.map(str::to_string);
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("user", v)) => user = user.or(Some(v.to_string())),
                Some(("password", v)) => password = password.or(Some(v.to_string())),
                _ => {}
            }
        }
        let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        if let Some(u) = user {
            conf.push_str(&format!(" user={}", quote(&u)));
        }
        if let Some(p) = password {
            conf.push_str(&format!(" password={}", quote(&p)));
        }
        return Ok(Target::Postgres(conf));
    }
    if let Some(path) = url.strip_prefix("jdbc:sqlite:") {
        return Ok(Target::Sqlite(PathBuf::from(path.trim_start_matches("//"))));
    }
    Err(format!(
        "`{url}` is not a jdbc:postgresql:// or jdbc:sqlite: connection string"
    ))
}

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(url) = args.string("jdbc_connection_string")? else {
        return Err(args.error("jdbc input needs `jdbc_connection_string`"));
    };
    let user = args.string("jdbc_user")?;
    let mut password = args.string("jdbc_password")?;
    if let Some(p) = args.string("jdbc_password_filepath")? {
        let text = std::fs::read_to_string(&p)
            .map_err(|e| args.error_at("jdbc_password_filepath", format!("{p}: {e}")))?;
        password = Some(text.trim_end_matches(['\n', '\r']).to_string());
    }
    let target = target(&url, user.as_deref(), password.as_deref())
        .map_err(|e| args.error_at("jdbc_connection_string", e))?;
    for o in ["jdbc_driver_library", "jdbc_driver_class"] {
        if args.string(o)?.is_some() {
            warn!("jdbc input: `{o}` is ignored: rstash talks to PostgreSQL and SQLite natively, without a JVM driver");
        }
    }
    let statement = match (
        args.string("statement")?,
        args.string("statement_filepath")?,
    ) {
        (Some(s), None) => s,
        (None, Some(p)) => std::fs::read_to_string(&p)
            .map_err(|e| args.error_at("statement_filepath", format!("{p}: {e}")))?,
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
    // Tuning options without an effect here: each run opens one connection and reads all rows.
    args.int("jdbc_fetch_size", 0)?;
    args.int("jdbc_validation_timeout", 3600)?;
    args.bool("jdbc_validate_connection", false)?;
    args.raw("sql_log_level");
    for o in [
        "plugin_timezone",
        "jdbc_default_timezone",
        "columns_charset",
    ] {
        if args.raw(o).is_some() {
            warn!("jdbc input: `{o}` is not supported: timestamps are read and written as UTC, text as UTF-8");
        }
    }
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

/// A value as an SQL literal (Sequel's literalization of placeholders).
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Timestamp(t) => format!("'{}'", t.0.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00")),
        other => format!("'{}'", other.to_ruby_string().replace('\'', "''")),
    }
}

/// Replaces `:name` placeholders outside quotes (not `::casts`) with literals.
fn bind(sql: &str, params: &[(String, Value)]) -> String {
    let b = sql.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(sql.len());
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
        } else if c == b'\'' || c == b'"' {
            quote = Some(c);
        } else if c == b':' && b.get(i + 1) != Some(&b':') && (i == 0 || b[i - 1] != b':') {
            let end = b[i + 1..]
                .iter()
                .position(|x| !(x.is_ascii_alphanumeric() || *x == b'_'))
                .map_or(b.len(), |p| i + 1 + p);
            if let Some((_, v)) = params.iter().find(|(k, _)| k.as_bytes() == &b[i + 1..end]) {
                out.extend_from_slice(literal(v).as_bytes());
                i = end;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| sql.to_string())
}

/// Postgres values of any type, decoded from the binary format into event values.
struct PgValue(Value);

impl<'a> postgres::types::FromSql<'a> for PgValue {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        let v = match *ty {
            Type::BOOL => Value::Bool(bool::from_sql(ty, raw)?),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)? as i64),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)? as i64),
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::OID => Value::Int(u32::from_sql(ty, raw)? as i64),
            Type::FLOAT4 => Value::Float(f32::from_sql(ty, raw)? as f64),
            Type::FLOAT8 => Value::Float(f64::from_sql(ty, raw)?),
            Type::NUMERIC => numeric(raw).map_or(Value::Null, Value::Float),
            Type::TIMESTAMP | Type::TIMESTAMPTZ => {
                let t = std::time::SystemTime::from_sql(ty, raw)?;
                let ms = match t.duration_since(std::time::UNIX_EPOCH) {
                    Ok(d) => d.as_millis() as i64,
                    Err(e) => -(e.duration().as_millis() as i64),
                };
                Timestamp::from_millis(ms).map_or(Value::Null, Value::Timestamp)
            }
            Type::DATE => {
                // Days since 2000-01-01.
                let days = i32::from_sql(ty, raw)? as i64;
                Timestamp::from_millis((days + 10_957) * 86_400_000)
                    .map_or(Value::Null, Value::Timestamp)
            }
            Type::JSON => rstash_event::json::parse(raw).unwrap_or(Value::Null),
            Type::JSONB => {
                rstash_event::json::parse(raw.get(1..).unwrap_or_default()).unwrap_or(Value::Null)
            }
            Type::UUID if raw.len() == 16 => {
                let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
                Value::String(format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..]
                ))
            }
            _ => Value::String(String::from_utf8_lossy(raw).into_owned()),
        };
        Ok(PgValue(v))
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

/// NUMERIC's binary form (base-10000 digits) as a float (Logstash makes BigDecimal a Float).
fn numeric(raw: &[u8]) -> Option<f64> {
    let word = |i: usize| raw.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (n, weight, sign) = (word(0)? as usize, word(2)? as i16, word(4)?);
    if sign == 0xC000 {
        return Some(f64::NAN);
    }
    let mut v = 0f64;
    for d in 0..n {
        v += word(8 + 2 * d)? as f64 * 10000f64.powi(weight as i32 - d as i32);
    }
    Some(if sign == 0x4000 { -v } else { v })
}

type Rows = Vec<Vec<(String, Value)>>;

impl Jdbc {
    fn query(&self, sql: &str) -> Result<Rows, String> {
        match &self.target {
            Target::Postgres(conf) => {
                let mut client =
                    postgres::Client::connect(conf, postgres::NoTls).map_err(|e| e.to_string())?;
                let rows = client.query(sql, &[]).map_err(|e| e.to_string())?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        r.columns()
                            .iter()
                            .enumerate()
                            .map(|(i, c)| {
                                let v = r
                                    .try_get::<_, Option<PgValue>>(i)
                                    .ok()
                                    .flatten()
                                    .map_or(Value::Null, |v| v.0);
                                (c.name().to_string(), v)
                            })
                            .collect()
                    })
                    .collect())
            }
            Target::Sqlite(path) => {
                let con = rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
                )
                .map_err(|e| format!("{}: {e}", path.display()))?;
                let mut st = con.prepare(sql).map_err(|e| e.to_string())?;
                let names: Vec<String> = st.column_names().map(|s| s.to_string()).collect();
                let mut rows = st.query([]).map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().map_err(|e| e.to_string())? {
                    let mut row = Vec::with_capacity(names.len());
                    for (i, n) in names.iter().enumerate() {
                        use rusqlite::types::ValueRef;
                        let v = match r.get_ref(i).map_err(|e| e.to_string())? {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(i) => Value::Int(i),
                            ValueRef::Real(f) => Value::Float(f),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Value::String(String::from_utf8_lossy(t).into_owned())
                            }
                        };
                        row.push((n.clone(), v));
                    }
                    out.push(row);
                }
                Ok(out)
            }
        }
    }

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
            None => Value::String(v.trim_matches('\'').to_string()),
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

    fn statements(&self, params: &[(String, Value)], page: i64) -> String {
        match self.paging {
            Paging::Off => bind(&self.statement, params),
            Paging::Auto => format!(
                "SELECT * FROM ({}) AS t1 LIMIT {} OFFSET {}",
                bind(self.statement.trim().trim_end_matches(';'), params),
                self.page_size,
                page * self.page_size
            ),
            Paging::Explicit => {
                let mut p = params.to_vec();
                p.push(("size".into(), Value::Int(self.page_size)));
                p.push(("offset".into(), Value::Int(page * self.page_size)));
                bind(&self.statement, &p)
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
        loop {
            let sql = self.statements(&params, page);
            let mut attempt = 0;
            let rows = loop {
                match self.query(&sql) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_literals_outside_quotes_and_casts() {
        let p = vec![
            ("sql_last_value".to_string(), Value::Int(42)),
            ("name".to_string(), Value::String("O'Brien".into())),
        ];
        assert_eq!(
            bind("SELECT id::text, ':name' FROM t WHERE id > :sql_last_value AND n = :name AND é = :missing", &p),
            "SELECT id::text, ':name' FROM t WHERE id > 42 AND n = 'O''Brien' AND é = :missing"
        );
    }

    #[test]
    fn connection_strings() {
        match target(
            "jdbc:postgresql://db.example:5433/sales?user=u",
            None,
            Some("p'w"),
        )
        .unwrap()
        {
            Target::Postgres(c) => assert_eq!(
                c,
                r"host=db.example port=5433 dbname=sales user='u' password='p\'w'"
            ),
            Target::Sqlite(_) => panic!(),
        }
        assert!(
            matches!(target("jdbc:sqlite:/tmp/x.db", None, None), Ok(Target::Sqlite(p)) if p == std::path::Path::new("/tmp/x.db"))
        );
        assert!(target("jdbc:mysql://h/db", None, None).is_err());
    }

    #[test]
    fn numeric_binary_form() {
        // 12345.678: digits 1, 2345, 6780; weight 1; positive; dscale 3.
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C];
        assert!((numeric(&raw).unwrap() - 12345.678).abs() < 1e-9);
    }
}
