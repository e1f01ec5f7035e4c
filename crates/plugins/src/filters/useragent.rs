//! `useragent`: parses a User-Agent string with uap-core's `regexes.yaml` (the `ua-parser` crate,
//! the uap project's Rust implementation) into Logstash's fields: `name`, `version`, `major`...,
//! `os_name`, `os_full`, `device` at the event root (legacy) or under `[user_agent]` (ECS).
//! Without `regexes`, the copy Logstash's plugin bundles, embedded (`data/uap-core/SOURCE.md`).

use rstash_pipeline::{opt, Options, Ty};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, OnceLock};

use lru::LruCache;
use ua_parser::{Extractor, Regexes};

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{Args, Filter, FilterOutcome};

/// uap-core v0.12.0 with the plugin's one patch: byte for byte the file Logstash ships.
const EMBEDDED_REGEXES: &str = include_str!("../../data/uap-core/regexes.yaml");

/// The embedded regexes, compiled once per process (≈ 1,000 regexes: seconds in a debug build).
fn embedded() -> Result<Arc<Extractor<'static>>, String> {
    static EXTRACTOR: OnceLock<Result<Arc<Extractor<'static>>, String>> = OnceLock::new();
    EXTRACTOR
        .get_or_init(|| {
            let regexes: Regexes<'static> =
                serde_saphyr::from_str(EMBEDDED_REGEXES).map_err(|e| e.to_string())?;
            Extractor::try_from(regexes)
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// Where each parsed part goes; None = not written in this layout.
struct Places {
    name: FieldRef,
    device: FieldRef,
    version: FieldRef,
    major: FieldRef,
    minor: FieldRef,
    patch: FieldRef,
    os_major: FieldRef,
    os_minor: FieldRef,
    os_patch: FieldRef,
    os_version: FieldRef,
    os_name: FieldRef,
    legacy_os: Option<FieldRef>,
    os_full: FieldRef,
}

/// What one User-Agent parses to, cached by string.
#[derive(Default)]
struct Parsed {
    name: String,
    device: String,
    major: Option<String>,
    minor: Option<String>,
    patch: Option<String>,
    version: Option<String>,
    os_name: String,
    os_major: Option<String>,
    os_minor: Option<String>,
    os_patch: Option<String>,
    os_version: Option<String>,
}

pub struct UserAgent {
    source: FieldRef,
    remove_source: bool,
    places: Places,
    extractor: Arc<Extractor<'static>>,
    cache: Mutex<LruCache<String, Arc<Parsed>>>,
}

pub const OPTIONS: Options = &[&[
    opt("source", Ty::Str).required(),
    opt("target", Ty::Str),
    opt("prefix", Ty::Str).default(""),
    opt("regexes", Ty::Path),
    opt("lru_cache_size", Ty::Number).default("100000"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let ecs = args.ecs()?.enabled();
    let source_text = args
        .string("source")?
        .ok_or_else(|| args.error("useragent filter needs `source`, the User-Agent field"))?;
    let source = args.make_field("source", &source_text)?;
    let target = args.string("target")?;
    let remove_source = target.as_deref() == Some(source_text.as_str());
    let target = target.unwrap_or_else(|| {
        if ecs {
            "[user_agent]".into()
        } else {
            String::new()
        }
    });
    let prefix = args.string_or("prefix", "")?;
    if ecs && !prefix.is_empty() {
        tracing::warn!("useragent: `prefix` is not supported in ECS compatibility mode");
    }
    let target_ref = if target.is_empty() {
        String::new()
    } else {
        args.make_field("target", &target)?.to_string()
    };
    let at = |legacy: &str, ecs_path: &str| -> Result<FieldRef, ConfigError> {
        let text = if ecs {
            if ecs_path.starts_with("[@metadata]") {
                ecs_path.to_string()
            } else {
                format!("{target_ref}{ecs_path}")
            }
        } else {
            format!("{target_ref}[{prefix}{legacy}]")
        };
        args.make_field("target", &text)
    };
    let meta = "[@metadata][filter][user_agent]";
    let places = Places {
        name: at("name", "[name]")?,
        device: at("device", "[device][name]")?,
        version: at("version", "[version]")?,
        major: at("major", &format!("{meta}[version][major]"))?,
        minor: at("minor", &format!("{meta}[version][minor]"))?,
        patch: at("patch", &format!("{meta}[version][patch]"))?,
        os_major: at("os_major", &format!("{meta}[os][version][major]"))?,
        os_minor: at("os_minor", &format!("{meta}[os][version][minor]"))?,
        os_patch: at("os_patch", &format!("{meta}[os][version][patch]"))?,
        os_version: at("os_version", "[os][version]")?,
        os_name: at("os_name", "[os][name]")?,
        legacy_os: if ecs { None } else { Some(at("os", "")?) },
        os_full: at("os_full", "[os][full]")?,
    };
    let extractor = match args.string("regexes")? {
        Some(path) => Arc::new(load(args, &path)?),
        None => embedded().map_err(|e| {
            args.error(format!(
                "useragent: the embedded regexes.yaml does not load: {e}"
            ))
        })?,
    };
    let size = args.int("lru_cache_size", 100_000)?;
    let size = NonZeroUsize::new(usize::try_from(size).unwrap_or(0))
        .ok_or_else(|| args.error_at("lru_cache_size", "lru_cache_size must be more than 0"))?;
    Ok(Box::new(UserAgent {
        source,
        remove_source,
        places,
        extractor,
        cache: Mutex::new(LruCache::new(size)),
    }))
}

/// A user's own `regexes` file (a newer uap-core, say).
fn load(args: &Args, path: &str) -> Result<Extractor<'static>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| args.unavailable("regexes", format!("cannot read {path}: {e}")))?;
    let regexes: Regexes<'static> = serde_saphyr::from_str(&text).map_err(|e| {
        args.unavailable(
            "regexes",
            format!("{path} is not a uap-core regexes file: {e}"),
        )
    })?;
    Extractor::try_from(regexes)
        .map_err(|e| args.unavailable("regexes", format!("{path}: a regex does not compile: {e}")))
}

/// Ruby's `s.to_i.to_s == s`: a plain decimal integer without leading zeros or sign noise.
fn canonical_int(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && s != "-0"
}

/// The browser version as Logstash rebuilds it: major[.minor[.patch[.patchMinor]]]; without a
/// parsed patchMinor, a fourth numeric segment that follows in the UA string itself is kept.
fn ua_version(
    ua: &str,
    major: &str,
    minor: Option<&str>,
    patch: Option<&str>,
    pm: Option<&str>,
) -> String {
    let mut v = major.to_string();
    let Some(minor) = minor else { return v };
    v = format!("{v}.{minor}");
    let Some(patch) = patch else { return v };
    v = format!("{v}.{patch}");
    if let Some(pm) = pm {
        return format!("{v}.{pm}");
    }
    if let Some(i) = ua.find(&v) {
        let rest = &ua[i + v.len()..];
        if let Some(after) = rest.strip_prefix('.') {
            if let Some(end) = after.find(' ') {
                if canonical_int(&after[..end]) {
                    v = format!("{v}.{}", &after[..end]);
                }
            }
        }
    }
    v
}

/// The OS version: numeric majors join with '.', names ("XP", "Vista") with a space.
fn os_version(major: &str, minor: Option<&str>, patch: Option<&str>, pm: Option<&str>) -> String {
    let mut v = major.to_string();
    if let Some(minor) = minor {
        v.push(if canonical_int(major) { '.' } else { ' ' });
        v.push_str(minor);
        if let Some(patch) = patch {
            v = format!("{v}.{patch}");
            if let Some(pm) = pm {
                v = format!("{v}.{pm}");
            }
        }
    }
    v
}

impl UserAgent {
    fn parse(&self, ua: &str) -> Parsed {
        let (agent, os, device) = self.extractor.extract(ua);
        let mut p = Parsed {
            name: "Other".into(),
            device: "Other".into(),
            os_name: "Other".into(),
            ..Parsed::default()
        };
        if let Some(a) = agent {
            p.name = a.family.into_owned();
            p.major = a.major.map(str::to_string);
            p.minor = a.minor.map(str::to_string);
            p.patch = a.patch.map(str::to_string);
            p.version = a
                .major
                .map(|m| ua_version(ua, m, a.minor, a.patch, a.patch_minor));
        }
        if let Some(o) = os {
            p.os_name = o.os.into_owned();
            p.os_version = o.major.as_deref().map(|m| {
                os_version(
                    m,
                    o.minor.as_deref(),
                    o.patch.as_deref(),
                    o.patch_minor.as_deref(),
                )
            });
            p.os_major = o.major.map(|c| c.into_owned());
            p.os_minor = o.minor.map(|c| c.into_owned());
            p.os_patch = o.patch.map(|c| c.into_owned());
        }
        if let Some(d) = device {
            p.device = d.device.into_owned();
        }
        p
    }

    fn cached(&self, ua: &str) -> Arc<Parsed> {
        if let Some(hit) = self.cache.lock().ok().and_then(|mut c| c.get(ua).cloned()) {
            return hit;
        }
        let parsed = Arc::new(self.parse(ua));
        if let Ok(mut c) = self.cache.lock() {
            c.put(ua.to_string(), parsed.clone());
        }
        parsed
    }
}

impl Filter for UserAgent {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let ua = match e.get(&self.source) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(s)) => s.clone(),
                _ => return FilterOutcome::Unmatched,
            },
            _ => return FilterOutcome::Unmatched,
        };
        if ua.is_empty() {
            return FilterOutcome::Unmatched;
        }
        let p = self.cached(&ua);
        if self.remove_source {
            e.remove(&self.source);
        }
        let s = &self.places;
        let mut set = |at: &FieldRef, v: &str| {
            let _ = e.set(at, Value::String(v.into()));
        };
        set(&s.name, &p.name);
        set(&s.device, &p.device);
        let optional = [
            (&s.major, &p.major),
            (&s.minor, &p.minor),
            (&s.patch, &p.patch),
            (&s.version, &p.version),
            (&s.os_major, &p.os_major),
            (&s.os_minor, &p.os_minor),
            (&s.os_patch, &p.os_patch),
            (&s.os_version, &p.os_version),
        ];
        for (at, v) in optional {
            if let Some(v) = v {
                set(at, v);
            }
        }
        set(&s.os_name, &p.os_name);
        if let Some(at) = &s.legacy_os {
            set(at, &p.os_name);
        }
        let full = match &p.os_version {
            Some(v) => format!("{} {v}", p.os_name),
            None => p.os_name.clone(),
        };
        set(&s.os_full, &full);
        FilterOutcome::Matched
    }
}
