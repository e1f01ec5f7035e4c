//! `dns`: `resolve` replaces or appends a host name's address, `reverse` an address's name, as
//! Logstash's filter (Ruby's Resolv) does: user `hostsfile`s first, then /etc/hosts, then the
//! `nameserver`s (or /etc/resolv.conf); A before AAAA; `timeout` per query with `max_retries`,
//! `_dnstimeout` on a timeout; hit and failed caches with TTLs. A failed field stops the filter
//! for that event, which then counts as unmatched (no tag unless it timed out).

use rstash_pipeline::{opt, Options, Ty};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::NetError;
use hickory_resolver::proto::rr::{Name, RData};
use hickory_resolver::TokioResolver;
use lru::LruCache;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{Args, ConfValue, Filter, FilterOutcome};

/// A TTL cache (Logstash uses LruRedux's TTL cache).
struct TtlCache {
    entries: Mutex<LruCache<String, (Option<String>, Instant)>>,
    ttl: Duration,
}

impl TtlCache {
    fn new(size: i64, ttl: f64) -> Option<TtlCache> {
        let size = NonZeroUsize::new(usize::try_from(size).unwrap_or(0))?;
        Some(TtlCache {
            entries: Mutex::new(LruCache::new(size)),
            ttl: Duration::from_secs_f64(ttl.max(0.0)),
        })
    }

    fn get(&self, k: &str) -> Option<Option<String>> {
        let mut c = self.entries.lock().ok()?;
        match c.get(k) {
            Some((v, at)) if at.elapsed() < self.ttl => Some(v.clone()),
            Some(_) => {
                c.pop(k);
                None
            }
            None => None,
        }
    }

    fn put(&self, k: &str, v: Option<String>) {
        if let Ok(mut c) = self.entries.lock() {
            c.put(k.to_string(), (v, Instant::now()));
        }
    }
}

/// Names and addresses from user hosts files.
#[derive(Default)]
struct Hosts {
    by_name: HashMap<String, String>,
    by_addr: HashMap<IpAddr, String>,
}

impl Hosts {
    fn load(path: &str) -> std::io::Result<Hosts> {
        let mut h = Hosts::default();
        for line in std::fs::read_to_string(path)?.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(addr), names) = (words.next(), words) else {
                continue;
            };
            let Ok(ip) = addr.parse::<IpAddr>() else {
                continue;
            };
            for (i, n) in names.enumerate() {
                if i == 0 {
                    h.by_addr.entry(ip).or_insert_with(|| n.to_string());
                }
                h.by_name
                    .entry(n.to_ascii_lowercase())
                    .or_insert_with(|| addr.to_string());
            }
        }
        Ok(h)
    }
}

enum Found {
    Yes(String),
    No,
    Timeout,
}

pub struct Dns {
    resolve: Vec<FieldRef>,
    reverse: Vec<FieldRef>,
    replace: bool,
    hosts: Vec<Hosts>,
    resolver: TokioResolver,
    rt: tokio::runtime::Runtime,
    timeout: Duration,
    max_retries: i64,
    hits: Option<TtlCache>,
    failures: Option<TtlCache>,
    timeout_tags: Vec<String>,
}

/// The `nameserver` option: addresses, search domains, ndots.
struct Nameservers {
    ips: Vec<IpAddr>,
    search: Vec<String>,
    ndots: usize,
}

/// `nameserver`: addresses, or `{ address => [...] search => [...] ndots => n }`.
fn nameservers(args: &mut Args) -> Result<Option<Nameservers>, ConfigError> {
    let Some(raw) = args.raw("nameserver") else {
        return Ok(None);
    };
    let list = |v: &ConfValue| -> Vec<String> {
        match v {
            ConfValue::Array(a) => a.iter().filter_map(ConfValue::text).collect(),
            other => other.text().into_iter().collect(),
        }
    };
    let (mut addresses, mut search, mut ndots) = (Vec::new(), Vec::new(), 1usize);
    match &raw {
        ConfValue::Hash(h) => {
            for (k, v) in h {
                match k.as_str() {
                    "address" => addresses = list(v),
                    "search" => search = list(v),
                    "ndots" => {
                        ndots = v
                            .text()
                            .and_then(|t| t.parse().ok())
                            .filter(|n| *n > 0)
                            .ok_or_else(|| {
                                args.error_at("nameserver", "`ndots` must be positive")
                            })?
                    }
                    other => {
                        return Err(args.error_at(
                            "nameserver",
                            format!("unknown `nameserver` argument `{other}`"),
                        ))
                    }
                }
            }
            if !h.contains_key("address") {
                return Err(
                    args.error_at("nameserver", "the `nameserver` hash must include `address`")
                );
            }
        }
        other => addresses = list(other),
    }
    if addresses.is_empty() {
        return Err(args.error_at(
            "nameserver",
            "`nameserver` addresses, when specified, cannot be empty",
        ));
    }
    if search.len() > 6 {
        return Err(args.error_at("nameserver", "a maximum of 6 `search` domains are accepted"));
    }
    let ips = addresses
        .iter()
        .map(|a| {
            a.parse::<IpAddr>()
                .map_err(|_| args.error_at("nameserver", format!("`{a}` is not an IP address")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Some(Nameservers { ips, search, ndots }))
}

pub const OPTIONS: Options = &[&[
    opt("resolve", Ty::Array),
    opt("reverse", Ty::Array),
    opt("action", Ty::Choice(&["append", "replace"])).default("append"),
    opt("nameserver", Ty::Any),
    opt("hostsfile", Ty::Array),
    opt("timeout", Ty::Number).default("0.5"),
    opt("max_retries", Ty::Number).default("2"),
    opt("hit_cache_size", Ty::Number).default("0"),
    opt("hit_cache_ttl", Ty::Number).default("60"),
    opt("failed_cache_size", Ty::Number).default("0"),
    opt("failed_cache_ttl", Ty::Number).default("5"),
    opt("tag_on_timeout", Ty::Array).default("[\"_dnstimeout\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let fields = |args: &mut Args, name: &str| -> Result<Vec<FieldRef>, ConfigError> {
        args.strings(name)?
            .iter()
            .map(|f| args.make_field(name, f))
            .collect()
    };
    let resolve = fields(args, "resolve")?;
    let reverse = fields(args, "reverse")?;
    let replace = args.choice("action", &["append", "replace"], "append")? == "replace";
    let timeout = Duration::from_secs_f64(args.number("timeout")?.unwrap_or(0.5).max(0.001));
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Always;
    opts.ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    let builder = match nameservers(args)? {
        Some(Nameservers { ips, search, ndots }) => {
            opts.ndots = ndots;
            let search = search
                .iter()
                .map(|s| {
                    Name::from_utf8(s).map_err(|e| {
                        args.error_at("nameserver", format!("search domain `{s}`: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let servers = ips.into_iter().map(NameServerConfig::udp_and_tcp).collect();
            let config = ResolverConfig::from_parts(None, search, servers);
            TokioResolver::builder_with_config(config, TokioRuntimeProvider::default())
        }
        None => TokioResolver::builder_tokio().map_err(|e| {
            args.error(format!(
                "dns: cannot read the system resolver configuration: {e}"
            ))
        })?,
    };
    let resolver = builder
        .with_options(opts)
        .build()
        .map_err(|e| args.error(format!("dns: cannot build the resolver: {e}")))?;
    let hosts = args
        .strings("hostsfile")?
        .iter()
        .map(|p| {
            Hosts::load(p).map_err(|e| args.error_at("hostsfile", format!("cannot read {p}: {e}")))
        })
        .collect::<Result<_, _>>()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("dns-filter")
        .enable_all()
        .build()
        .map_err(|e| args.error(format!("dns: cannot start its runtime: {e}")))?;
    let hit_ttl = args.number("hit_cache_ttl")?.unwrap_or(60.0);
    let failed_ttl = args.number("failed_cache_ttl")?.unwrap_or(5.0);
    Ok(Box::new(Dns {
        resolve,
        reverse,
        replace,
        hosts,
        resolver,
        rt,
        timeout,
        max_retries: args.int("max_retries", 2)?.max(0),
        hits: TtlCache::new(args.int("hit_cache_size", 0)?, hit_ttl),
        failures: TtlCache::new(args.int("failed_cache_size", 0)?, failed_ttl),
        timeout_tags: if args.has("tag_on_timeout") {
            args.strings("tag_on_timeout")?
        } else {
            vec!["_dnstimeout".into()]
        },
    }))
}

impl Dns {
    /// One query, retried on timeouts like Logstash's `retriable_request`.
    fn query(&self, key: &str, reverse: bool) -> Found {
        for _ in 0..=self.max_retries {
            let attempt = async {
                if reverse {
                    let ip: IpAddr = key.parse().map_err(|_| None)?;
                    let lookup = self
                        .resolver
                        .reverse_lookup(Name::from(ip))
                        .await
                        .map_err(Some)?;
                    Ok::<_, Option<NetError>>(lookup.answers().iter().find_map(|r| match &r.data {
                        RData::PTR(p) => Some(p.0.to_utf8().trim_end_matches('.').to_string()),
                        _ => None,
                    }))
                } else {
                    let lookup = self.resolver.lookup_ip(key).await.map_err(Some)?;
                    Ok(lookup.iter().next().map(|ip| ip.to_string()))
                }
            };
            // A margin over the resolver's own timeout, so a stuck socket cannot hold an event.
            let limit = self.timeout * 2 + Duration::from_millis(100);
            let answer = self
                .rt
                .block_on(async { tokio::time::timeout(limit, attempt).await });
            match answer {
                Ok(Ok(Some(v))) => return Found::Yes(v),
                Ok(Ok(None)) | Ok(Err(None)) => return Found::No,
                Ok(Err(Some(e))) if e.is_no_records_found() => return Found::No,
                Ok(Err(Some(NetError::Timeout))) => continue,
                Ok(Err(Some(e))) => {
                    tracing::error!("dns: {key}: {e}");
                    return Found::No;
                }
                Err(_) => continue,
            }
        }
        Found::Timeout
    }

    fn lookup(&self, key: &str, reverse: bool) -> Found {
        let local = if reverse {
            key.parse::<IpAddr>()
                .ok()
                .and_then(|ip| self.hosts.iter().find_map(|h| h.by_addr.get(&ip).cloned()))
        } else {
            let k = key.to_ascii_lowercase();
            self.hosts.iter().find_map(|h| h.by_name.get(&k).cloned())
        };
        if let Some(v) = local {
            return Found::Yes(v);
        }
        if self.failures.as_ref().is_some_and(|c| c.get(key).is_some()) {
            return Found::No;
        }
        if let Some(Some(v)) = self.hits.as_ref().and_then(|c| c.get(key)) {
            return Found::Yes(v);
        }
        let found = self.query(key, reverse);
        match &found {
            Found::Yes(v) => {
                if let Some(c) = &self.hits {
                    c.put(key, Some(v.clone()));
                }
            }
            Found::No | Found::Timeout => {
                if let Some(c) = &self.failures {
                    c.put(key, None);
                }
            }
        }
        found
    }

    /// One field; false stops the filter for this event.
    fn field(&self, e: &mut Event, f: &FieldRef, reverse: bool) -> bool {
        let (raw, is_array) = match e.get(f) {
            None => {
                tracing::warn!("dns filter: missing field {f}");
                return true;
            }
            Some(Value::Array(a)) if a.len() > 1 => {
                tracing::warn!("dns: skipping {f}, can't deal with multiple values");
                return false;
            }
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(s)) => (s.clone(), true),
                _ => return false,
            },
            Some(Value::String(s)) => (s.clone(), false),
            Some(_) => {
                tracing::warn!("dns: skipping {f}, can't deal with non-string values");
                return false;
            }
        };
        if reverse && raw.parse::<IpAddr>().is_err() {
            return false;
        }
        let found = match self.lookup(&raw, reverse) {
            Found::Yes(v) => v,
            Found::No => return false,
            Found::Timeout => {
                for t in &self.timeout_tags {
                    e.tag(t);
                }
                return false;
            }
        };
        let value = match (self.replace, is_array) {
            (true, false) => Value::String(found.into()),
            (true, true) => Value::Array(vec![Value::String(found.into())]),
            (false, _) => Value::Array(vec![Value::String(raw), Value::String(found.into())]),
        };
        let _ = e.set(f, value);
        true
    }
}

impl Filter for Dns {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        for f in &self.resolve {
            if !self.field(e, f, false) {
                return FilterOutcome::Unmatched;
            }
        }
        for f in &self.reverse {
            if !self.field(e, f, true) {
                return FilterOutcome::Unmatched;
            }
        }
        FilterOutcome::Matched
    }
}
