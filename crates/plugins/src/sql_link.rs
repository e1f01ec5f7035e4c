//! SQL databases without a JVM, shared by the jdbc input and the jdbc_streaming filter:
//! JDBC URLs for PostgreSQL, MySQL/MariaDB, SQL Server and SQLite, Sequel-style `:name`
//! placeholders bound as SQL literals (in the database's dialect), and rows as typed event values.

use std::path::PathBuf;

use rstash_event::{Timestamp, Value};

/// Why `jdbc_driver_library`/`jdbc_driver_class` are ignored.
pub const NO_JVM: &str =
    "no JVM driver: PostgreSQL, MySQL/MariaDB, SQL Server and SQLite are built in";

#[derive(Clone)]
pub enum Target {
    Postgres(String),
    Mysql(Box<mysql::Opts>),
    Sqlite(PathBuf),
    SqlServer(Box<tiberius::Config>),
}

/// How literals and paging are written: SQL Server has no TRUE/FALSE or LIMIT.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Standard,
    SqlServer,
}

impl Target {
    pub fn dialect(&self) -> Dialect {
        match self {
            Target::SqlServer(_) => Dialect::SqlServer,
            _ => Dialect::Standard,
        }
    }
}

/// The parts of a JDBC URL after its `jdbc:driver:` prefix, `//host:port/db?user=x&password=y`;
/// `user` and `password` given as options win over the URL's.
struct JdbcUrl {
    host: String,
    port: String,
    db: String,
    user: Option<String>,
    password: Option<String>,
}

impl JdbcUrl {
    fn parse(
        rest: &str,
        default_port: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> JdbcUrl {
        let rest = rest.trim_start_matches("//");
        let (hostport, db_and_query) = rest.split_once('/').unwrap_or((rest, ""));
        let (db, query) = db_and_query.split_once('?').unwrap_or((db_and_query, ""));
        let (host, port) = hostport
            .rsplit_once(':')
            .unwrap_or((hostport, default_port));
        let mut url = JdbcUrl {
            host: if host.is_empty() { "localhost" } else { host }.to_string(),
            port: port.to_string(),
            db: db.to_string(),
            user: user.map(str::to_string),
            password: password.map(str::to_string),
        };
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=') {
                Some(("user", v)) => url.user = url.user.or(Some(v.to_string())),
                Some(("password", v)) => url.password = url.password.or(Some(v.to_string())),
                _ => {}
            }
        }
        url
    }
}

/// The plugin's `jdbc_connection_string` as a target. Another JDBC driver's URL (Oracle, DB2…)
/// is a resource rstash lacks, as a missing driver jar is for Logstash: `-t` warns, the start
/// refuses; anything else unreadable is a configuration error.
pub fn target_of(
    args: &rstash_pipeline::Args,
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Result<Target, rstash_config::ConfigError> {
    const OPTION: &str = "jdbc_connection_string";
    target(url, user, password).map_err(|e| {
        let driver = url.strip_prefix("jdbc:").and_then(|r| r.split(':').next());
        match driver {
            Some(d) if !["postgresql", "mysql", "mariadb", "sqlserver", "jtds", "sqlite"].contains(&d) => {
                args.unavailable(
                    OPTION,
                    format!("no `{d}` driver in rstash (it speaks PostgreSQL, MySQL/MariaDB, SQL Server and SQLite)"),
                )
            }
            _ => args.error_at(OPTION, e),
        }
    })
}

/// `jdbc:postgresql://host:port/db?x=y` → a libpq-style URL; `jdbc:sqlite:path` → the path.
pub fn target(url: &str, user: Option<&str>, password: Option<&str>) -> Result<Target, String> {
    if let Some(rest) = url.strip_prefix("jdbc:postgresql:") {
        let u = JdbcUrl::parse(rest, "5432", user, password);
        let mut conf = format!(
            "host={} port={} dbname={}",
            u.host,
            u.port,
            if u.db.is_empty() { "postgres" } else { &u.db }
        );
        let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"));
        if let Some(user) = &u.user {
            conf.push_str(&format!(" user={}", quote(user)));
        }
        if let Some(p) = &u.password {
            conf.push_str(&format!(" password={}", quote(p)));
        }
        return Ok(Target::Postgres(conf));
    }
    if let Some(rest) = url
        .strip_prefix("jdbc:mysql:")
        .or_else(|| url.strip_prefix("jdbc:mariadb:"))
    {
        // Failover lists (`h1:3306,h2:3306/db`): the first host.
        let rest = rest.trim_start_matches("//");
        let (hosts, path) = rest
            .split_once('/')
            .map_or((rest, None), |(h, p)| (h, Some(p)));
        let first = hosts.split(',').next().unwrap_or_default();
        let rest = path.map_or_else(|| first.to_string(), |p| format!("{first}/{p}"));
        let u = JdbcUrl::parse(&rest, "3306", user, password);
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(u.host))
            .tcp_port(u.port.parse().unwrap_or(3306))
            .db_name((!u.db.is_empty()).then_some(u.db))
            .user(u.user)
            .pass(u.password);
        return Ok(Target::Mysql(Box::new(opts.into())));
    }
    if let Some(c) = crate::mssql_link::config(url, user, password) {
        return c.map(|c| Target::SqlServer(Box::new(c)));
    }
    if let Some(path) = url.strip_prefix("jdbc:sqlite:") {
        return Ok(Target::Sqlite(PathBuf::from(path.trim_start_matches("//"))));
    }
    Err(format!(
        "`{url}` is not a jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://, jdbc:sqlserver:// or jdbc:sqlite: connection string"
    ))
}

/// A value as an SQL literal (Sequel's literalization of placeholders; for SQL Server its MSSQL
/// dataset's: 1/0, N'unicode', millisecond timestamps without an offset).
pub fn literal(v: &Value, dialect: Dialect) -> String {
    let server = dialect == Dialect::SqlServer;
    match v {
        Value::Null => "NULL".into(),
        Value::Bool(b) if server => if *b { "1" } else { "0" }.into(),
        Value::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f:?}"),
        Value::Timestamp(t) if server => format!("'{}'", t.0.strftime("%Y-%m-%dT%H:%M:%S%.3f")),
        Value::Timestamp(t) => format!("'{}'", t.0.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00")),
        other => format!(
            "{}'{}'",
            if server { "N" } else { "" },
            other.to_ruby_string().replace('\'', "''")
        ),
    }
}

/// A statement wrapped to return one page of its rows (`jdbc_paging_mode => auto`).
pub fn page(sql: &str, size: i64, offset: i64, dialect: Dialect) -> String {
    let inner = sql.trim().trim_end_matches(';');
    match dialect {
        // OFFSET … FETCH needs an ORDER BY; `(SELECT 0)` keeps the statement's own order.
        Dialect::SqlServer => format!(
            "SELECT * FROM ({inner}) AS t1 ORDER BY (SELECT 0) OFFSET {offset} ROWS FETCH NEXT {size} ROWS ONLY"
        ),
        Dialect::Standard => format!("SELECT * FROM ({inner}) AS t1 LIMIT {size} OFFSET {offset}"),
    }
}

/// Replaces `:name` placeholders outside quotes (not `::casts`) with literals.
pub fn bind(sql: &str, params: &[(String, Value)], dialect: Dialect) -> String {
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
                out.extend_from_slice(literal(v, dialect).as_bytes());
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
                Value::String(
                    format!(
                        "{}-{}-{}-{}-{}",
                        &h[..8],
                        &h[8..12],
                        &h[12..16],
                        &h[16..20],
                        &h[20..]
                    )
                    .into(),
                )
            }
            _ => Value::String(String::from_utf8_lossy(raw).into_owned().into()),
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

pub type Rows = Vec<Vec<(String, Value)>>;

/// A database connection opened on first use and reopened after an error.
pub struct Connection {
    target: Target,
    open: Option<Open>,
}

enum Open {
    Postgres(postgres::Client),
    Mysql(Box<mysql::Conn>),
    Sqlite(rusqlite::Connection),
    SqlServer(Box<crate::mssql_link::Mssql>),
}

impl Connection {
    pub fn new(target: Target) -> Connection {
        Connection { target, open: None }
    }

    fn open(&self) -> Result<Open, String> {
        Ok(match &self.target {
            Target::Postgres(conf) => Open::Postgres(
                postgres::Client::connect(conf, postgres::NoTls).map_err(|e| e.to_string())?,
            ),
            Target::Mysql(opts) => Open::Mysql(Box::new(
                mysql::Conn::new(opts.as_ref().clone()).map_err(|e| e.to_string())?,
            )),
            Target::Sqlite(path) => Open::Sqlite(
                rusqlite::Connection::open_with_flags(
                    path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE,
                )
                .map_err(|e| format!("{}: {e}", path.display()))?,
            ),
            Target::SqlServer(c) => {
                Open::SqlServer(Box::new(crate::mssql_link::Mssql::connect(c)?))
            }
        })
    }

    /// Runs one statement; rows with their column names, in order.
    pub fn query(&mut self, sql: &str) -> Result<Rows, String> {
        let open = match self.open.take() {
            Some(o) => o,
            None => self.open()?,
        };
        let (open, rows) = run(open, sql);
        // A connection that failed a query is not reused (it may be broken).
        if rows.is_ok() {
            self.open = Some(open);
        }
        rows
    }
}

fn run(mut open: Open, sql: &str) -> (Open, Result<Rows, String>) {
    let rows = match &mut open {
        Open::Postgres(client) => pg_rows(client, sql),
        Open::Mysql(con) => mysql_rows(con, sql),
        Open::Sqlite(con) => sqlite_rows(con, sql),
        Open::SqlServer(con) => con.query(sql),
    };
    (open, rows)
}

fn pg_rows(client: &mut postgres::Client, sql: &str) -> Result<Rows, String> {
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

fn mysql_rows(con: &mut mysql::Conn, sql: &str) -> Result<Rows, String> {
    use mysql::prelude::Queryable;
    let mut result = con.query_iter(sql).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    // The rows of the first result set (a statement with several answers its first).
    if let Some(set) = result.iter() {
        for row in set {
            let row = row.map_err(|e| e.to_string())?;
            let cols = row.columns();
            // `unwrap_raw` cannot panic (`unwrap` would on a value taken before).
            let values = row.unwrap_raw();
            out.push(
                cols.iter()
                    .zip(values)
                    .map(|(c, v)| {
                        let v = v.unwrap_or(mysql::Value::NULL);
                        (c.name_str().into_owned(), mysql_value(c, v))
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// A MySQL text-protocol value as the event value its column type says, as the JDBC driver
/// would give it to Logstash: `TINYINT(1)` as a boolean, DECIMAL as a float, DATETIME and
/// TIMESTAMP (read as UTC) and DATE as timestamps, JSON parsed.
fn mysql_value(col: &mysql::Column, v: mysql::Value) -> Value {
    use mysql::consts::ColumnType as T;
    let text = match v {
        mysql::Value::NULL => return Value::Null,
        mysql::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        mysql::Value::Int(i) => return Value::Int(i),
        mysql::Value::UInt(u) => {
            return i64::try_from(u).map_or(Value::Float(u as f64), Value::Int)
        }
        mysql::Value::Float(f) => return Value::Float(f as f64),
        mysql::Value::Double(f) => return Value::Float(f),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    };
    let ty = col.column_type();
    let parsed = match ty {
        T::MYSQL_TYPE_TINY if col.column_length() == 1 => {
            text.parse::<i64>().ok().map(|n| Value::Bool(n != 0))
        }
        T::MYSQL_TYPE_TINY
        | T::MYSQL_TYPE_SHORT
        | T::MYSQL_TYPE_LONG
        | T::MYSQL_TYPE_INT24
        | T::MYSQL_TYPE_LONGLONG
        | T::MYSQL_TYPE_YEAR => text
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| text.parse::<f64>().map(Value::Float))
            .ok(),
        T::MYSQL_TYPE_FLOAT
        | T::MYSQL_TYPE_DOUBLE
        | T::MYSQL_TYPE_DECIMAL
        | T::MYSQL_TYPE_NEWDECIMAL => text.parse::<f64>().ok().map(Value::Float),
        T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_TIMESTAMP | T::MYSQL_TYPE_DATE => {
            let iso = if text.len() == 10 {
                format!("{text}T00:00:00Z")
            } else {
                format!("{}Z", text.replacen(' ', "T", 1))
            };
            iso.parse::<jiff::Timestamp>()
                .ok()
                .and_then(|t| Timestamp::from_millis(t.as_millisecond()))
                .map(Value::Timestamp)
        }
        T::MYSQL_TYPE_JSON => rstash_event::json::parse(text.as_bytes()).ok(),
        _ => None,
    };
    parsed.unwrap_or(Value::String(text.into()))
}

fn sqlite_rows(con: &mut rusqlite::Connection, sql: &str) -> Result<Rows, String> {
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
                    Value::String(String::from_utf8_lossy(t).into_owned().into())
                }
            };
            row.push((n.clone(), v));
        }
        out.push(row);
    }
    Ok(out)
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
            bind("SELECT id::text, ':name' FROM t WHERE id > :sql_last_value AND n = :name AND é = :missing", &p, Dialect::Standard),
            "SELECT id::text, ':name' FROM t WHERE id > 42 AND n = 'O''Brien' AND é = :missing"
        );
    }

    #[test]
    fn sql_server_literals_as_sequels_mssql_dataset() {
        let t = Timestamp::from_millis(1_714_557_600_123).unwrap();
        let lit = |v: Value| literal(&v, Dialect::SqlServer);
        assert_eq!(lit(Value::Bool(true)), "1");
        assert_eq!(lit(Value::Bool(false)), "0");
        assert_eq!(lit(Value::Timestamp(t)), "'2024-05-01T10:00:00.123'");
        assert_eq!(lit(Value::String("O'Neil".into())), "N'O''Neil'");
        assert_eq!(literal(&Value::Bool(true), Dialect::Standard), "TRUE");
        assert_eq!(
            page("SELECT 1;", 10, 20, Dialect::SqlServer),
            "SELECT * FROM (SELECT 1) AS t1 ORDER BY (SELECT 0) OFFSET 20 ROWS FETCH NEXT 10 ROWS ONLY"
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
            _ => panic!("not postgres"),
        }
        assert!(
            matches!(target("jdbc:sqlite:/tmp/x.db", None, None), Ok(Target::Sqlite(p)) if p == std::path::Path::new("/tmp/x.db"))
        );
        match target(
            "jdbc:mysql://db1:3307,db2:3307/shop?user=u&password=p&useSSL=false",
            None,
            None,
        )
        .unwrap()
        {
            Target::Mysql(o) => {
                assert_eq!(o.get_ip_or_hostname(), "db1");
                assert_eq!(o.get_tcp_port(), 3307);
                assert_eq!(o.get_db_name(), Some("shop"));
                assert_eq!(o.get_user(), Some("u"));
                assert_eq!(o.get_pass(), Some("p"));
            }
            _ => panic!("not mysql"),
        }
        assert!(matches!(
            target("jdbc:mariadb://h", Some("me"), None),
            Ok(Target::Mysql(o)) if o.get_tcp_port() == 3306 && o.get_user() == Some("me")
        ));
        for (url, addr) in [
            (
                "jdbc:sqlserver://db.example:1444;databaseName=sales;encrypt=false",
                "db.example:1444",
            ),
            (
                "jdbc:sqlserver://db.example;databaseName=sales",
                "db.example:1433",
            ),
            (
                "jdbc:jtds:sqlserver://db.example:1445/sales;user=u",
                "db.example:1445",
            ),
        ] {
            match target(url, Some("u"), Some("p;w")) {
                Ok(Target::SqlServer(c)) => assert_eq!(c.get_addr(), addr, "{url}"),
                _ => panic!("{url}: not SQL Server"),
            }
        }
        assert!(target("jdbc:sqlserver://h;encrypt=maybe", None, None).is_err());
        assert!(target("jdbc:oracle:thin:@h:1521/x", None, None).is_err());
    }

    #[test]
    fn numeric_binary_form() {
        // 12345.678: digits 1, 2345, 6780; weight 1; positive; dscale 3.
        let raw = [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1A, 0x7C];
        assert!((numeric(&raw).unwrap() - 12345.678).abs() < 1e-9);
    }
}
