//! `geoip`: looks an IP address up in a MaxMind-format database (.mmdb: GeoLite2/GeoIP2 City,
//! Country, ASN, ISP, Domain, Enterprise, Anonymous-IP) and writes what it finds under
//! `target`, with the legacy (`[geoip][city_name]`) or ECS (`[client][geo][city_name]`) layout of
//! Logstash's plugin. A miss leaves `target` as an empty hash and tags `_geoip_lookup_failure`,
//! as Logstash does.

use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use lru::LruCache;
use maxminddb::Reader;
use serde::Deserialize;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use super::failure_tags;

/// Where `geoipupdate` puts databases on Debian; Logstash ships its own, we do not.
const SYSTEM_DIRS: [&str; 2] = ["/usr/share/GeoIP", "/var/lib/GeoIP"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Db {
    City,
    Country,
    Domain,
    Asn,
    Isp,
    Enterprise,
    AnonymousIp,
    Unknown,
}

impl Db {
    /// The database's `database_type` metadata, matched the way MaxMind's reader does.
    fn from_type(t: &str) -> Db {
        [
            ("City", Db::City),
            ("Country", Db::Country),
            ("GeoIP2-Domain", Db::Domain),
            ("GeoLite2-ASN", Db::Asn),
            ("GeoIP2-ISP", Db::Isp),
            ("Enterprise", Db::Enterprise),
            ("GeoIP2-Anonymous-IP", Db::AnonymousIp),
        ]
        .into_iter()
        .find(|(k, _)| t.contains(k))
        .map_or(Db::Unknown, |(_, d)| d)
    }

    fn default_fields(self, ecs: bool) -> Vec<F> {
        use F::*;
        match self {
            Db::City => vec![
                Ip,
                CityName,
                ContinentCode,
                CountryName,
                CountryCode2,
                CountryCode3,
                PostalCode,
                DmaCode,
                RegionName,
                if ecs { RegionIsoCode } else { RegionCode },
                Timezone,
                Location,
                Latitude,
                Longitude,
            ],
            Db::Country => vec![Ip, CountryCode2, CountryName, ContinentName],
            Db::Domain => vec![Domain],
            Db::Asn => vec![Ip, Asn, AsOrg],
            Db::Isp => vec![Ip, Asn, AsOrg, Isp, Organization],
            Db::AnonymousIp => vec![
                HostingProvider,
                TorExitNode,
                AnonymousVpn,
                Anonymous,
                PublicProxy,
                ResidentialProxy,
            ],
            Db::Enterprise => vec![
                Ip,
                CountryCode2,
                CountryName,
                ContinentName,
                RegionIsoCode,
                RegionName,
                CityName,
                Location,
            ],
            Db::Unknown => vec![],
        }
    }
}

/// The fields, in the order Logstash writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum F {
    Asn,
    AsOrg,
    CityName,
    CountryName,
    ContinentCode,
    ContinentName,
    CountryCode2,
    CountryCode3,
    Domain,
    Ip,
    Isp,
    PostalCode,
    DmaCode,
    RegionName,
    RegionCode,
    RegionIsoCode,
    Timezone,
    Location,
    Latitude,
    Longitude,
    Organization,
    Network,
    HostingProvider,
    TorExitNode,
    AnonymousVpn,
    Anonymous,
    PublicProxy,
    ResidentialProxy,
}

/// (field, name in `fields`, legacy path, ECS path; empty = not written in ECS mode).
const NAMES: [(F, &str, &str, &str); 28] = [
    (F::Asn, "autonomous_system_number", "asn", "as.number"),
    (
        F::AsOrg,
        "autonomous_system_organization",
        "as_org",
        "as.organization.name",
    ),
    (F::CityName, "city_name", "city_name", "geo.city_name"),
    (
        F::CountryName,
        "country_name",
        "country_name",
        "geo.country_name",
    ),
    (
        F::ContinentCode,
        "continent_code",
        "continent_code",
        "geo.continent_code",
    ),
    (
        F::ContinentName,
        "continent_name",
        "continent_name",
        "geo.continent_name",
    ),
    (
        F::CountryCode2,
        "country_code2",
        "country_code2",
        "geo.country_iso_code",
    ),
    (F::CountryCode3, "country_code3", "country_code3", ""),
    (F::Domain, "domain", "domain", "domain"),
    (F::Ip, "ip", "ip", "ip"),
    (F::Isp, "isp", "isp", "mmdb.isp"),
    (
        F::PostalCode,
        "postal_code",
        "postal_code",
        "geo.postal_code",
    ),
    (F::DmaCode, "dma_code", "dma_code", "mmdb.dma_code"),
    (
        F::RegionName,
        "region_name",
        "region_name",
        "geo.region_name",
    ),
    (
        F::RegionCode,
        "region_code",
        "region_code",
        "geo.region_code",
    ),
    (
        F::RegionIsoCode,
        "region_iso_code",
        "region_iso_code",
        "geo.region_iso_code",
    ),
    (F::Timezone, "timezone", "timezone", "geo.timezone"),
    (F::Location, "location", "location", "geo.location"),
    (F::Latitude, "latitude", "latitude", "geo.location.lat"),
    (F::Longitude, "longitude", "longitude", "geo.location.lon"),
    (
        F::Organization,
        "organization",
        "organization",
        "mmdb.organization",
    ),
    (F::Network, "network", "network", "ip_traits.network"),
    (
        F::HostingProvider,
        "hosting_provider",
        "hosting_provider",
        "ip_traits.hosting_provider",
    ),
    (
        F::TorExitNode,
        "tor_exit_node",
        "tor_exit_node",
        "ip_traits.tor_exit_node",
    ),
    (
        F::AnonymousVpn,
        "anonymous_vpn",
        "anonymous_vpn",
        "ip_traits.anonymous_vpn",
    ),
    (
        F::Anonymous,
        "anonymous",
        "anonymous",
        "ip_traits.anonymous",
    ),
    (
        F::PublicProxy,
        "public_proxy",
        "public_proxy",
        "ip_traits.public_proxy",
    ),
    (
        F::ResidentialProxy,
        "residential_proxy",
        "residential_proxy",
        "ip_traits.residential_proxy",
    ),
];

/// The parts of a GeoIP2 record we read; one shape covers every database type.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Record {
    city: Place,
    continent: Place,
    country: Place,
    location: Location,
    postal: Place,
    subdivisions: Vec<Place>,
    traits: Traits,
    #[serde(flatten)]
    top: Traits,
    domain: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Place {
    names: Names,
    iso_code: Option<String>,
    code: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Names {
    en: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
    time_zone: Option<String>,
    metro_code: Option<i64>,
}

/// ASN/ISP/anonymity data: top-level in those databases, under `traits` in Enterprise.
#[derive(Deserialize, Default)]
#[serde(default)]
struct Traits {
    autonomous_system_number: Option<i64>,
    autonomous_system_organization: Option<String>,
    isp: Option<String>,
    organization: Option<String>,
    is_hosting_provider: bool,
    is_tor_exit_node: bool,
    is_anonymous_vpn: bool,
    is_anonymous: bool,
    is_public_proxy: bool,
    is_residential_proxy: bool,
}

type Found = Arc<Vec<(F, Value)>>;

pub struct GeoIp {
    source: FieldRef,
    target: FieldRef,
    /// Each wanted field with where it goes (None: skipped in ECS mode).
    fields: Vec<(F, Option<FieldRef>)>,
    db: Db,
    reader: Reader<Vec<u8>>,
    cache: Mutex<LruCache<String, Found>>,
    tags: Vec<String>,
}

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let ecs = args.ecs()?.enabled();
    let source_text = args
        .string("source")?
        .ok_or_else(|| args.error("geoip filter needs `source`, the field holding the IP"))?;
    let source = args.make_field("source", &source_text)?;
    let target_text = match args.string("target")? {
        Some(t) => t,
        None if !ecs => "geoip".to_string(),
        None => match source_text.strip_suffix("[ip]") {
            Some(parent) if !parent.is_empty() => parent.to_string(),
            _ => {
                return Err(args.error_at(
                    "source",
                    "in ECS compatibility mode geoip needs a `target` when `source` is not an \
                     `ip` sub-field such as [client][ip]",
                ))
            }
        },
    };
    let target = args.make_field("target", &target_text)?;
    let kind = args.choice("default_database_type", &["City", "ASN"], "City")?;
    let path = match args.string("database")? {
        Some(p) => std::path::PathBuf::from(p),
        None => {
            let name = format!("GeoLite2-{kind}.mmdb");
            SYSTEM_DIRS
                .iter()
                .map(|d| std::path::Path::new(d).join(&name))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    args.error(format!(
                        "geoip: rstash ships no GeoLite2 database; set `database` to a .mmdb file \
                         (none found at {} in {})",
                        name,
                        SYSTEM_DIRS.join(" or ")
                    ))
                })?
        }
    };
    let reader = Reader::open_readfile(&path).map_err(|e| {
        args.error_at(
            "database",
            format!("cannot open {} as a MaxMind database: {e}", path.display()),
        )
    })?;
    let db = Db::from_type(&reader.metadata().database_type);
    if db == Db::Unknown {
        tracing::warn!(
            "geoip: database type {:?} of {} is not supported: no fields will be added",
            reader.metadata().database_type,
            path.display()
        );
    }
    let wanted = match args.strings("fields")? {
        names if names.is_empty() => db.default_fields(ecs),
        names => names
            .iter()
            .map(|n| {
                NAMES
                    .iter()
                    .find(|(_, name, _, _)| name.eq_ignore_ascii_case(n))
                    .map(|(f, ..)| *f)
                    .ok_or_else(|| {
                        args.error_at(
                            "fields",
                            format!(
                                "illegal field value {n}; valid values are {}",
                                NAMES.map(|(_, n, ..)| n).join(", ")
                            ),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut fields = Vec::new();
    for f in wanted {
        let (_, _, legacy, ecs_path) = NAMES
            .iter()
            .find(|(g, ..)| *g == f)
            .copied()
            .unwrap_or(NAMES[0]);
        let path = if ecs { ecs_path } else { legacy };
        let place = if path.is_empty() {
            None
        } else {
            let text = format!(
                "{target}{}",
                path.split('.')
                    .map(|p| format!("[{p}]"))
                    .collect::<String>()
            );
            Some(args.make_field("target", &text)?)
        };
        if !fields.iter().any(|(g, _)| *g == f) {
            fields.push((f, place));
        }
    }
    fields.sort_by_key(|(f, _)| *f);
    let size = args.int("cache_size", 1000)?;
    let size = NonZeroUsize::new(usize::try_from(size).unwrap_or(0))
        .ok_or_else(|| args.error_at("cache_size", "cache_size must be more than 0"))?;
    let tags = failure_tags(args, "_geoip_lookup_failure")?;
    tracing::info!(path = %path.display(), kind = %reader.metadata().database_type, "geoip database loaded");
    Ok(Box::new(GeoIp {
        source,
        target,
        fields,
        db,
        reader,
        cache: Mutex::new(LruCache::new(size)),
        tags,
    }))
}

/// Java's `InetAddress.getHostAddress()`: IPv6 in full, uncompressed groups.
fn host_address(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

impl GeoIp {
    /// The values found for `ip`, in field order; empty when the database has nothing.
    fn lookup(&self, ip: IpAddr) -> Vec<(F, Value)> {
        let result = match self.reader.lookup(ip) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(%ip, "geoip: error from the database: {e}");
                return Vec::new();
            }
        };
        let rec: Record = match result.decode() {
            Ok(Some(r)) => r,
            Ok(None) => return Vec::new(),
            Err(e) => {
                tracing::error!(%ip, "geoip: error from the database: {e}");
                return Vec::new();
            }
        };
        let loc = &rec.location;
        let located = loc.latitude.is_some() || loc.longitude.is_some();
        if matches!(self.db, Db::City) && !located {
            return Vec::new();
        }
        let traits = if self.db == Db::Enterprise {
            &rec.traits
        } else {
            &rec.top
        };
        let sub = rec.subdivisions.last();
        let text = |s: &Option<String>| s.clone().map(Value::String);
        let mut out = Vec::new();
        for (f, _) in &self.fields {
            let v = match f {
                F::Ip => Some(Value::String(host_address(ip))),
                F::CityName => text(&rec.city.names.en),
                F::ContinentCode => text(&rec.continent.code),
                F::ContinentName => text(&rec.continent.names.en),
                F::CountryName => text(&rec.country.names.en),
                F::CountryCode2 | F::CountryCode3 => text(&rec.country.iso_code),
                F::PostalCode => text(&rec.postal.code),
                F::DmaCode => loc.metro_code.map(Value::Int),
                F::RegionName => sub.and_then(|s| text(&s.names.en)),
                F::RegionCode => sub.and_then(|s| text(&s.iso_code)),
                F::RegionIsoCode => {
                    match (&rec.country.iso_code, sub.and_then(|s| s.iso_code.as_ref())) {
                        (Some(c), Some(r)) => Some(Value::String(format!("{c}-{r}"))),
                        _ => None,
                    }
                }
                F::Timezone => text(&loc.time_zone),
                F::Location => match (loc.latitude, loc.longitude) {
                    (Some(lat), Some(lon)) => {
                        let mut m = Map::default();
                        m.insert("lat".into(), Value::Float(lat));
                        m.insert("lon".into(), Value::Float(lon));
                        Some(Value::Object(m))
                    }
                    _ => None,
                },
                F::Latitude => loc.latitude.map(Value::Float),
                F::Longitude => loc.longitude.map(Value::Float),
                F::Asn => traits.autonomous_system_number.map(Value::Int),
                F::AsOrg => text(&traits.autonomous_system_organization),
                F::Isp => text(&traits.isp),
                F::Organization => text(&traits.organization),
                F::Domain => text(&rec.domain),
                F::Network => result.network().ok().map(|n| Value::String(n.to_string())),
                F::HostingProvider => Some(Value::Bool(traits.is_hosting_provider)),
                F::TorExitNode => Some(Value::Bool(traits.is_tor_exit_node)),
                F::AnonymousVpn => Some(Value::Bool(traits.is_anonymous_vpn)),
                F::Anonymous => Some(Value::Bool(traits.is_anonymous)),
                F::PublicProxy => Some(Value::Bool(traits.is_public_proxy)),
                F::ResidentialProxy => Some(Value::Bool(traits.is_residential_proxy)),
            };
            if let Some(v) = v {
                out.push((*f, v));
            }
        }
        out
    }

    fn cached(&self, text: &str, ip: IpAddr) -> Found {
        if let Some(hit) = self
            .cache
            .lock()
            .ok()
            .and_then(|mut c| c.get(text).cloned())
        {
            return hit;
        }
        let found = Arc::new(self.lookup(ip));
        if let Ok(mut c) = self.cache.lock() {
            c.put(text.to_string(), found.clone());
        }
        found
    }
}

impl Filter for GeoIp {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let text = match e.get(&self.source) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        if text.trim().is_empty() {
            return self.fail(e);
        }
        // Hostnames are not resolved (Logstash would ask DNS): they miss, like bad addresses.
        let found = match text.parse::<IpAddr>() {
            Ok(ip) => self.cached(&text, ip),
            Err(_) => Found::default(),
        };
        // As Logstash: a lookup leaves `target` at least an empty hash, even when it misses.
        if e.get(&self.target).is_none() {
            let _ = e.set(&self.target, Value::Object(Map::default()));
        }
        if found.is_empty() {
            return self.fail(e);
        }
        for (f, v) in found.iter() {
            if let Some((_, Some(place))) = self.fields.iter().find(|(g, _)| g == f) {
                let _ = e.set(place, v.clone());
            }
        }
        FilterOutcome::Matched
    }
}

impl GeoIp {
    fn fail(&self, e: &mut Event) -> FilterOutcome {
        for t in &self.tags {
            e.tag(t);
        }
        FilterOutcome::Unmatched
    }
}
