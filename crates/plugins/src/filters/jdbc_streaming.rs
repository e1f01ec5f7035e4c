//! `jdbc_streaming`: runs `statement` per event with `:name` parameters taken from the event's
//! fields, and sets `target` to the rows (an array of hashes). No rows: `[default_hash]` and
//! `_jdbcstreamingdefaultsused`; an SQL error also tags `_jdbcstreamingfailure`. Results,
//! failures included, are cached per parameter set for `cache_expiration` seconds, as Logstash's
//! LRU TTL cache does. PostgreSQL and SQLite, without a JVM: driver options are accepted and
//! ignored.

use rstash_pipeline::{opt, Options, Ty};
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Map, Template, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use crate::sql_link::{bind, target_of, Connection, Dialect, NO_JVM};

/// Rows of one lookup, and whether it failed.
#[derive(Clone)]
struct Payload {
    rows: Vec<Value>,
    failed: bool,
}

pub struct JdbcStreaming {
    db: Mutex<Connection>,
    dialect: Dialect,
    statement: String,
    parameters: Vec<(String, Template)>,
    target: FieldRef,
    default: Value,
    failure_tags: Vec<String>,
    default_tags: Vec<String>,
    cache: Option<Mutex<LruCache<String, (Payload, Instant)>>>,
    ttl: Duration,
}

pub const OPTIONS: Options = &[&[
    opt("jdbc_connection_string", Ty::Str).required(),
    opt("jdbc_user", Ty::Str),
    opt("jdbc_password", Ty::Password),
    opt("statement", Ty::Str).required(),
    opt("parameters", Ty::Hash).default("{}"),
    opt("target", Ty::Str).required(),
    opt("default_hash", Ty::Hash).default("{}"),
    opt("use_cache", Ty::Boolean).default("true"),
    opt("cache_expiration", Ty::Number).default("5.0"),
    opt("cache_size", Ty::Number).default("500"),
    opt("tag_on_failure", Ty::Array).default("[\"_jdbcstreamingfailure\"]"),
    opt("tag_on_default_use", Ty::Array).default("[\"_jdbcstreamingdefaultsused\"]"),
    opt("jdbc_driver_library", Ty::Path).ignored(NO_JVM),
    opt("jdbc_driver_class", Ty::Str).ignored(NO_JVM),
    opt("jdbc_validate_connection", Ty::Boolean).ignored(NO_JVM),
    opt("jdbc_validation_timeout", Ty::Number).ignored(NO_JVM),
    opt("sequel_opts", Ty::Hash).ignored(NO_JVM),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let url = args
        .string("jdbc_connection_string")?
        .ok_or_else(|| args.error("jdbc_streaming filter needs `jdbc_connection_string`"))?;
    let user = args.string("jdbc_user")?;
    let password = args.string("jdbc_password")?;
    let target_db = target_of(args, &url, user.as_deref(), password.as_deref())?;
    for o in [
        "jdbc_driver_library",
        "jdbc_driver_class",
        "jdbc_validate_connection",
        "jdbc_validation_timeout",
        "sequel_opts",
    ] {
        if args.raw(o).is_some() {
            tracing::warn!(
                "jdbc_streaming: `{o}` is ignored (no JVM; PostgreSQL and SQLite are built in)"
            );
        }
    }
    let statement = args
        .string("statement")?
        .ok_or_else(|| args.error("jdbc_streaming filter needs `statement`"))?;
    let parameters = args
        .string_hash("parameters")?
        .into_iter()
        .map(|(k, v)| Ok((k, args.make_template("parameters", &v)?)))
        .collect::<Result<_, ConfigError>>()?;
    let target = args
        .field("target")?
        .ok_or_else(|| args.error("jdbc_streaming filter needs `target`"))?;
    let default = Value::Object(
        args.hash("default_hash")?
            .into_iter()
            .map(|(k, v)| (k.as_str().into(), v.to_value()))
            .collect::<Map>(),
    );
    let tags = |args: &mut Args, name: &str, default: &str| -> Result<Vec<String>, ConfigError> {
        if args.has(name) {
            args.strings(name)
        } else {
            Ok(vec![default.into()])
        }
    };
    let size = args.int("cache_size", 500)?;
    let cache = if args.bool("use_cache", true)? {
        NonZeroUsize::new(usize::try_from(size).unwrap_or(0)).map(|n| Mutex::new(LruCache::new(n)))
    } else {
        None
    };
    let ttl = Duration::from_secs_f64(args.number("cache_expiration")?.unwrap_or(5.0).max(0.0));
    Ok(Box::new(JdbcStreaming {
        dialect: target_db.dialect(),
        db: Mutex::new(Connection::new(target_db)),
        statement,
        parameters,
        target,
        default,
        failure_tags: tags(args, "tag_on_failure", "_jdbcstreamingfailure")?,
        default_tags: tags(args, "tag_on_default_use", "_jdbcstreamingdefaultsused")?,
        cache,
        ttl,
    }))
}

impl JdbcStreaming {
    /// Each parameter is a field reference (after sprintf) whose value is bound.
    fn params(&self, e: &Event) -> Vec<(String, Value)> {
        self.parameters
            .iter()
            .map(|(k, v)| {
                let name = v.render(e);
                let value = FieldRef::parse(&name)
                    .ok()
                    .and_then(|f| e.get(&f).cloned())
                    .unwrap_or(Value::Null);
                (k.clone(), value)
            })
            .collect()
    }

    fn lookup(&self, params: &[(String, Value)]) -> Payload {
        let sql = bind(&self.statement, params, self.dialect);
        let result = match self.db.lock() {
            Ok(mut db) => db.query(&sql),
            Err(_) => Err("connection lock poisoned".into()),
        };
        match result {
            Ok(rows) => Payload {
                rows: rows
                    .into_iter()
                    .map(|r| Value::Object(r.into_iter().map(|(k, v)| (k.into(), v)).collect()))
                    .collect(),
                failed: false,
            },
            Err(err) => {
                tracing::warn!("jdbc_streaming: exception when executing the query: {err}");
                Payload {
                    rows: Vec::new(),
                    failed: true,
                }
            }
        }
    }

    fn cached(&self, params: &[(String, Value)]) -> Payload {
        let Some(cache) = &self.cache else {
            return self.lookup(params);
        };
        let key = json::value_to_string(&Value::Array(
            params
                .iter()
                .map(|(k, v)| Value::Array(vec![Value::String(k.as_str().into()), v.clone()]))
                .collect(),
        ));
        if let Some((p, at)) = cache.lock().ok().and_then(|mut c| c.get(&key).cloned()) {
            if at.elapsed() < self.ttl {
                return p;
            }
        }
        let p = self.lookup(params);
        if let Ok(mut c) = cache.lock() {
            c.put(key, (p.clone(), Instant::now()));
        }
        p
    }
}

impl Filter for JdbcStreaming {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let params = self.params(e);
        let found = self.cached(&params);
        if found.failed {
            for t in &self.failure_tags {
                e.tag(t);
            }
        }
        let rows = if found.rows.is_empty() {
            for t in &self.default_tags {
                e.tag(t);
            }
            vec![self.default.clone()]
        } else {
            found.rows
        };
        let _ = e.set(&self.target, Value::Array(rows));
        FilterOutcome::Matched
    }
}
