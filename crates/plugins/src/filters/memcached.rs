//! `memcached`: `get` copies cached values into fields (`"key-%{field}" => "[target]"`), `set`
//! stores fields under keys (`"[field]" => "key-%{field}"`), with `namespace` and `ttl`. Keys
//! and values are laid out as Logstash's plugin (Dalli) does, so both can share a cache. A server
//! that is down tags `_memcached_failure` at once rather than stalling events.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Template};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use crate::memcached_link::Memcached;

pub struct MemcachedFilter {
    client: Memcached,
    get: Vec<(Template, FieldRef)>,
    set: Vec<(FieldRef, Template)>,
    tag: String,
}

pub const OPTIONS: Options = &[&[
    opt("hosts", Ty::Array).default("[\"localhost\"]"),
    opt("namespace", Ty::Str),
    opt("get", Ty::Hash),
    opt("set", Ty::Hash),
    opt("ttl", Ty::Number).default("0"),
    opt("tag_on_failure", Ty::Str).default("_memcached_failure"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let hosts = if args.has("hosts") {
        args.strings("hosts")?
    } else {
        vec!["localhost".to_string()]
    };
    if hosts.is_empty() {
        return Err(args.error_at("hosts", "'hosts' cannot be empty"));
    }
    let ttl = args.int("ttl", 0)?;
    let ttl =
        u32::try_from(ttl).map_err(|_| args.error_at("ttl", "'ttl' option cannot be negative"))?;
    let get = args
        .string_hash("get")?
        .into_iter()
        .map(|(k, f)| Ok((args.make_template("get", &k)?, args.make_field("get", &f)?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    let set = args
        .string_hash("set")?
        .into_iter()
        .map(|(f, k)| Ok((args.make_field("set", &f)?, args.make_template("set", &k)?)))
        .collect::<Result<Vec<_>, ConfigError>>()?;
    Ok(Box::new(MemcachedFilter {
        client: Memcached::new(&hosts, args.string("namespace")?, ttl),
        get,
        set,
        tag: args.string_or("tag_on_failure", "_memcached_failure")?,
    }))
}

impl MemcachedFilter {
    fn set(&self, e: &Event) -> Result<bool, String> {
        let mut any = false;
        for (field, key) in &self.set {
            if let Some(v) = e.get(field).filter(|v| !v.is_null()) {
                self.client.set(&key.render(e), v)?;
                any = true;
            }
        }
        Ok(any)
    }

    fn get(&self, e: &mut Event) -> Result<bool, String> {
        if self.get.is_empty() {
            return Ok(false);
        }
        let keys: Vec<(String, &FieldRef)> = self
            .get
            .iter()
            .map(|(k, f)| (k.render(e).into_owned(), f))
            .collect();
        let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
        let found = self.client.get_multi(&names)?;
        let mut hits = 0;
        for (key, field) in &keys {
            if let Some((_, v)) = found.iter().find(|(k, _)| k == key) {
                let _ = e.set(field, v.clone());
                hits += 1;
            }
        }
        Ok(hits > 0)
    }
}

impl Filter for MemcachedFilter {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let done = self.set(e).and_then(|s| Ok(self.get(e)? || s));
        match done {
            Ok(true) => FilterOutcome::Matched,
            Ok(false) => FilterOutcome::Unmatched,
            Err(err) => {
                tracing::error!("memcached communication error: {err}");
                e.tag(&self.tag);
                FilterOutcome::Unmatched
            }
        }
    }
}
