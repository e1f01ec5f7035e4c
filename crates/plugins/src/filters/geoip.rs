//! `geoip`: looks an IP address up in a MaxMind-format database (.mmdb: GeoLite2/GeoIP2 City,
//! Country, ASN, ISP, Domain, Enterprise, Anonymous-IP) and writes what it finds under
//! `target`, with the legacy (`[geoip][city_name]`) or ECS (`[client][geo][city_name]`) layout of
//! Logstash's plugin. A miss leaves `target` as an empty hash and tags `_geoip_lookup_failure`,
//! as Logstash does.
//!
//! Without `database`, the GeoLite2 file is looked up in `<path.data>/geoip_database/` and where
//! Debian's `geoipupdate` writes; when there is none the pipeline still starts and events are tagged
//! `_geoip_expired_database`, as Logstash's filter does when it has no usable database. The file is
//! watched: a database that appears or is replaced is used from then on.

use rstash_pipeline::{opt, Options, Ty};
use std::net::IpAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use lru::LruCache;
use maxminddb::Reader;
use serde::Deserialize;

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

use super::failure_tags;

/// Where `geoipupdate` puts databases on Debian; Logstash ships its own, we do not.
const SYSTEM_DIRS: [&str; 2] = ["/usr/share/GeoIP", "/var/lib/GeoIP"];

/// Logstash's tag for events its filter cannot enrich for want of a usable database.
const NO_DATABASE_TAG: &str = "_geoip_expired_database";

/// How often the database file is looked at for a new version.
const RECHECK: Duration = Duration::from_secs(5);

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
    /// Where each field goes (None: skipped in ECS mode), for every field a database may give.
    places: Vec<(F, Option<FieldRef>)>,
    /// The user's `fields`; None: the database type's defaults.
    wanted: Option<Vec<F>>,
    ecs: bool,
    /// The `database` given, or the places a GeoLite2 file is looked for.
    candidates: Vec<PathBuf>,
    loaded: RwLock<Option<Arc<Loaded>>>,
    /// When the file was last looked at (ms since `born`).
    checked: AtomicU64,
    born: Instant,
    /// The last failure to reload, logged once.
    reported: Mutex<String>,
    cache_size: NonZeroUsize,
    tags: Vec<String>,
}

/// An open database and what it gives.
struct Loaded {
    reader: Reader<Vec<u8>>,
    db: Db,
    /// The wanted fields in field order, each with its place.
    fields: Vec<(F, Option<FieldRef>)>,
    /// Which file, and its version, to notice a replacement.
    path: PathBuf,
    stamp: (Option<SystemTime>, u64),
    /// Lookups in this database (a replacement starts with an empty one).
    cache: Mutex<LruCache<String, Found>>,
}

fn stamp(path: &Path) -> Option<(Option<SystemTime>, u64)> {
    let m = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    Some((m.modified().ok(), m.len()))
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str).required(),
    opt("target", Ty::Str),
    opt("database", Ty::Path),
    opt("default_database_type", Ty::Choice(&["City", "ASN"])).default("City"),
    opt("fields", Ty::Array),
    opt("cache_size", Ty::Number).default("1000"),
    opt("tag_on_failure", Ty::Array).default("[\"_geoip_lookup_failure\"]"),
]];

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
    let explicit = args.string("database")?;
    let candidates: Vec<PathBuf> = match &explicit {
        Some(p) => vec![PathBuf::from(p)],
        None => {
            let name = format!("GeoLite2-{kind}.mmdb");
            std::iter::once(args.settings.data_dir.join("geoip_database"))
                .chain(SYSTEM_DIRS.iter().map(PathBuf::from))
                .map(|d| d.join(&name))
                .collect()
        }
    };
    let wanted = match args.strings("fields")? {
        names if names.is_empty() => None,
        names => Some(
            names
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
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    let mut places = Vec::new();
    for (f, _, legacy, ecs_path) in NAMES {
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
        places.push((f, place));
    }
    let size = args.int("cache_size", 1000)?;
    let size = NonZeroUsize::new(usize::try_from(size).unwrap_or(0))
        .ok_or_else(|| args.error_at("cache_size", "cache_size must be more than 0"))?;
    let tags = failure_tags(args, "_geoip_lookup_failure")?;
    let filter = GeoIp {
        source,
        target,
        places,
        wanted,
        ecs,
        candidates,
        loaded: RwLock::new(None),
        checked: AtomicU64::new(0),
        born: Instant::now(),
        reported: Mutex::new(String::new()),
        cache_size: size,
        tags,
    };
    match (filter.find(), &explicit) {
        // A database named by the user must open, as Logstash's `register` insists.
        (Err(e), Some(_)) => return Err(args.unavailable("database", e)),
        (Err(e), None) => tracing::warn!(
            "geoip: {e}; events are tagged {NO_DATABASE_TAG} until a database appears there \
             (set `database` to a .mmdb file, or let geoipupdate write one)"
        ),
        (Ok(loaded), _) => filter.install(loaded),
    }
    Ok(Box::new(filter))
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
    /// The first candidate file that opens as a MaxMind database.
    fn find(&self) -> Result<Loaded, String> {
        let mut why = Vec::new();
        for path in &self.candidates {
            let Some(stamp) = stamp(path) else {
                continue;
            };
            match Reader::open_readfile(path) {
                Ok(reader) => return Ok(self.loaded(reader, path.clone(), stamp)),
                Err(e) => why.push(format!(
                    "cannot open {} as a MaxMind database: {e}",
                    path.display()
                )),
            }
        }
        if !why.is_empty() {
            return Err(why.join("; "));
        }
        Err(match self.candidates.as_slice() {
            [one] => format!("cannot open {}: no such file", one.display()),
            all => {
                let name = all
                    .first()
                    .and_then(|p| p.file_name())
                    .unwrap_or_default()
                    .to_string_lossy();
                let dirs: Vec<String> = all
                    .iter()
                    .filter_map(|p| Some(p.parent()?.display().to_string()))
                    .collect();
                format!("no {name} in {}", dirs.join(", "))
            }
        })
    }

    fn loaded(
        &self,
        reader: Reader<Vec<u8>>,
        path: PathBuf,
        stamp: (Option<SystemTime>, u64),
    ) -> Loaded {
        let db = Db::from_type(&reader.metadata().database_type);
        if db == Db::Unknown {
            tracing::warn!(
                "geoip: database type {:?} of {} is not supported: no fields will be added",
                reader.metadata().database_type,
                path.display()
            );
        }
        let wanted = self
            .wanted
            .clone()
            .unwrap_or_else(|| db.default_fields(self.ecs));
        let mut fields: Vec<(F, Option<FieldRef>)> = Vec::new();
        for f in wanted {
            if fields.iter().any(|(g, _)| *g == f) {
                continue;
            }
            let place = self
                .places
                .iter()
                .find(|(g, _)| *g == f)
                .and_then(|(_, p)| p.clone());
            fields.push((f, place));
        }
        fields.sort_by_key(|(f, _)| *f);
        Loaded {
            reader,
            db,
            fields,
            path,
            stamp,
            cache: Mutex::new(LruCache::new(self.cache_size)),
        }
    }

    fn install(&self, loaded: Loaded) {
        tracing::info!(path = %loaded.path.display(), kind = %loaded.reader.metadata().database_type, "geoip database loaded");
        if let Ok(mut l) = self.loaded.write() {
            *l = Some(Arc::new(loaded));
        }
    }

    /// The database to use, looking at its file every few seconds for a new or changed one.
    fn current(&self) -> Option<Arc<Loaded>> {
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.checked.load(Ordering::Relaxed);
        let due = now.saturating_sub(last) >= RECHECK.as_millis() as u64
            && self
                .checked
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        let current = self.loaded.read().ok().and_then(|l| l.clone());
        if !due {
            return current;
        }
        let unchanged = current.as_ref().is_some_and(|l| {
            stamp(&l.path) == Some(l.stamp) && self.earlier_candidates_absent(&l.path)
        });
        if unchanged {
            return current;
        }
        match self.find() {
            Ok(l) => {
                self.install(l);
                self.loaded.read().ok().and_then(|l| l.clone())
            }
            Err(e) => {
                let new = self
                    .reported
                    .lock()
                    .is_ok_and(|mut r| std::mem::replace(&mut *r, e.clone()) != e);
                if current.is_some() && new {
                    tracing::warn!("geoip: {e}; still using the database loaded before");
                }
                current
            }
        }
    }

    /// Whether no candidate before `path` has a file (one there would take precedence).
    fn earlier_candidates_absent(&self, path: &Path) -> bool {
        self.candidates
            .iter()
            .take_while(|c| c.as_path() != path)
            .all(|c| stamp(c).is_none())
    }

    /// The values found for `ip`, in field order; empty when the database has nothing.
    fn lookup(&self, db: &Loaded, ip: IpAddr) -> Vec<(F, Value)> {
        let result = match db.reader.lookup(ip) {
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
        if matches!(db.db, Db::City) && !located {
            return Vec::new();
        }
        let traits = if db.db == Db::Enterprise {
            &rec.traits
        } else {
            &rec.top
        };
        let sub = rec.subdivisions.last();
        let text = |s: &Option<String>| s.clone().map(Value::from);
        let mut out = Vec::new();
        for (f, _) in &db.fields {
            let v = match f {
                F::Ip => Some(Value::String(host_address(ip).into())),
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
                        (Some(c), Some(r)) => Some(Value::String(format!("{c}-{r}").into())),
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
                F::Network => result
                    .network()
                    .ok()
                    .map(|n| Value::String(n.to_string().into())),
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

    fn cached(&self, db: &Loaded, text: &str, ip: IpAddr) -> Found {
        if let Some(hit) = db.cache.lock().ok().and_then(|mut c| c.get(text).cloned()) {
            return hit;
        }
        let found = Arc::new(self.lookup(db, ip));
        if let Ok(mut c) = db.cache.lock() {
            c.put(text.to_string(), found.clone());
        }
        found
    }
}

impl Filter for GeoIp {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let Some(db) = self.current() else {
            e.tag(NO_DATABASE_TAG);
            return FilterOutcome::Unmatched;
        };
        let text = match e.get(&self.source) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(s)) => s.clone(),
                _ => String::new().into(),
            },
            _ => String::new().into(),
        };
        if text.trim().is_empty() {
            return self.fail(e);
        }
        // Hostnames are not resolved (Logstash would ask DNS): they miss, like bad addresses.
        let found = match text.parse::<IpAddr>() {
            Ok(ip) => self.cached(&db, &text, ip),
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
            if let Some((_, Some(place))) = db.fields.iter().find(|(g, _)| g == f) {
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
