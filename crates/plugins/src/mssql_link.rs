//! Microsoft SQL Server for the jdbc input and the jdbc_streaming filter, over TDS with
//! tiberius: `jdbc:sqlserver://host[\instance][:port];databaseName=db;user=u;password=p;
//! encrypt=true|false;trustServerCertificate=true` as Microsoft's JDBC driver reads it (TLS by
//! default, as that driver's 10.x), values typed as the driver gives them to Logstash.

use rstash_event::{Timestamp, Value};
use tiberius::{AuthMethod, Client, ColumnData, Config, FromSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::sql_link::Rows;

/// `jdbc:sqlserver://…` (Microsoft's driver) or `jdbc:jtds:sqlserver://host:port/db;…` (jTDS)
/// as a connection configuration; `jdbc_user`/`jdbc_password` win over the URL's.
pub fn config(
    url: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Option<Result<Config, String>> {
    let jdbc = if let Some(rest) = url.strip_prefix("jdbc:jtds:sqlserver:") {
        // jTDS puts the database in the path: `//host:port/db;props`.
        let (server, props) = rest.split_once(';').unwrap_or((rest, ""));
        let (server, db) = server
            .trim_start_matches("//")
            .split_once('/')
            .unwrap_or((server, ""));
        let mut s = format!(
            "jdbc:sqlserver://{};{props}",
            server.trim_start_matches("//")
        );
        if !db.is_empty() {
            s.push_str(&format!(";databaseName={db}"));
        }
        s
    } else if url.starts_with("jdbc:sqlserver:") {
        url.to_string()
    } else {
        return None;
    };
    Some((|| {
        let mut c = Config::from_jdbc_string(&jdbc).map_err(|e| format!("`{url}`: {e}"))?;
        if user.is_some() || password.is_some() {
            // What the options leave out comes from the URL.
            let prop = |keys: &[&str]| {
                jdbc.split(';')
                    .find_map(|kv| {
                        let (k, v) = kv.split_once('=')?;
                        keys.contains(&k.trim().to_ascii_lowercase().as_str())
                            .then(|| v.to_string())
                    })
                    .unwrap_or_default()
            };
            c.authentication(AuthMethod::sql_server(
                user.map_or_else(
                    || prop(&["user", "username", "uid", "user id"]),
                    str::to_string,
                ),
                password.map_or_else(|| prop(&["password", "pwd"]), str::to_string),
            ));
        }
        c.application_name("rstash");
        Ok(c)
    })())
}

/// An open connection and the single-threaded runtime that drives it (the jdbc plugins call
/// from plain threads).
pub struct Mssql {
    rt: tokio::runtime::Runtime,
    client: Client<Compat<TcpStream>>,
}

impl Mssql {
    pub fn connect(config: &Config) -> Result<Mssql, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let client = rt.block_on(open(config.clone()))?;
        Ok(Mssql { rt, client })
    }

    /// The rows of the statement's first result set, columns in order.
    pub fn query(&mut self, sql: &str) -> Result<Rows, String> {
        let client = &mut self.client;
        self.rt.block_on(async move {
            let stream = client.simple_query(sql).await.map_err(|e| e.to_string())?;
            let rows = stream
                .into_first_result()
                .await
                .map_err(|e| e.to_string())?;
            // The rows of one result set share their columns: named once.
            let names: Vec<String> = rows.first().map_or_else(Vec::new, |r| {
                r.columns().iter().map(|c| c.name().to_string()).collect()
            });
            Ok(rows
                .into_iter()
                .map(|row| {
                    names
                        .iter()
                        .cloned()
                        .zip(row)
                        .map(|(n, d)| (n, value(d)))
                        .collect()
                })
                .collect())
        })
    }
}

async fn open(mut config: Config) -> Result<Client<Compat<TcpStream>>, String> {
    use tiberius::SqlBrowser;
    // Azure SQL's gateway may answer with where the database really is: one redirect followed.
    for _ in 0..2 {
        // A named instance without a port is found through the SQL Server Browser (UDP 1434).
        let tcp = TcpStream::connect_named(&config)
            .await
            .map_err(|e| format!("{}: {e}", config.get_addr()))?;
        let _ = tcp.set_nodelay(true);
        match Client::connect(config.clone(), tcp.compat_write()).await {
            Ok(c) => return Ok(c),
            Err(tiberius::error::Error::Routing { host, port }) => {
                config.host(&host);
                config.port(port);
            }
            Err(e) => return Err(format!("{}: {e}", config.get_addr())),
        }
    }
    Err(format!("{}: redirected more than once", config.get_addr()))
}

/// A column value as Logstash gets it from Microsoft's JDBC driver: integers, floats (DECIMAL
/// too, as Logstash turns BigDecimal into a float), booleans for BIT, timestamps for the date
/// and time types (read as UTC; DATETIMEOFFSET at its instant), strings for the rest.
fn value(d: ColumnData<'static>) -> Value {
    let ts = |ms: Option<i64>| {
        ms.and_then(Timestamp::from_millis)
            .map_or(Value::Null, Value::Timestamp)
    };
    match d {
        ColumnData::U8(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I16(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I32(v) => v.map_or(Value::Null, |v| Value::Int(v.into())),
        ColumnData::I64(v) => v.map_or(Value::Null, Value::Int),
        ColumnData::F32(v) => v.map_or(Value::Null, |v| Value::Float(v.into())),
        ColumnData::F64(v) => v.map_or(Value::Null, Value::Float),
        ColumnData::Bit(v) => v.map_or(Value::Null, Value::Bool),
        ColumnData::Numeric(v) => v.map_or(Value::Null, |n| Value::Float(n.into())),
        ColumnData::String(v) => v.map_or(Value::Null, |s| Value::String(s.into_owned().into())),
        // The driver's uniqueidentifier: upper-case hex.
        ColumnData::Guid(v) => v.map_or(Value::Null, |g| {
            Value::String(g.to_string().to_uppercase().into())
        }),
        ColumnData::Binary(v) => v.map_or(Value::Null, |b| {
            Value::String(String::from_utf8_lossy(&b).into_owned().into())
        }),
        ColumnData::Xml(v) => v.map_or(Value::Null, |x| {
            Value::String(x.as_ref().to_string().into())
        }),
        d @ (ColumnData::DateTime(_) | ColumnData::SmallDateTime(_) | ColumnData::DateTime2(_)) => {
            match chrono::NaiveDateTime::from_sql(&d) {
                Ok(t) => ts(t.map(|t| t.and_utc().timestamp_millis())),
                Err(_) => Value::Null,
            }
        }
        d @ ColumnData::DateTimeOffset(_) => {
            match chrono::DateTime::<chrono::FixedOffset>::from_sql(&d) {
                Ok(t) => ts(t.map(|t| t.timestamp_millis())),
                Err(_) => Value::Null,
            }
        }
        d @ ColumnData::Date(_) => match chrono::NaiveDate::from_sql(&d) {
            Ok(t) => ts(t
                .and_then(|t| t.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc().timestamp_millis())),
            Err(_) => Value::Null,
        },
        d @ ColumnData::Time(_) => match chrono::NaiveTime::from_sql(&d) {
            Ok(t) => t.map_or(Value::Null, |t| Value::String(t.to_string().into())),
            Err(_) => Value::Null,
        },
    }
}
