//! `date`: parses a field with Joda patterns, ISO8601, UNIX, UNIX_MS or TAI64N into `@timestamp`
//! (or `target`), at millisecond precision. English month and day names.

use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Template, Timestamp, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};
use rstash_timefmt::{parse_iso8601, Names, Parser, TimeZone};

use super::failure_tags;

enum Format {
    Joda(Parser),
    Iso8601,
    Unix,
    UnixMs,
    Tai64n,
}

enum Zone {
    Fixed(TimeZone),
    PerEvent(Template),
}

pub struct Date {
    source: FieldRef,
    formats: Vec<Format>,
    target: FieldRef,
    zone: Zone,
    tag_on_failure: Vec<String>,
}

pub const OPTIONS: Options = &[&[
    opt("match", Ty::Array).default("[]"),
    opt("target", Ty::Str).default("@timestamp"),
    opt("timezone", Ty::Str),
    opt("locale", Ty::Str),
    opt("tag_on_failure", Ty::Array).default("[\"_dateparsefailure\"]"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let m = args.strings("match")?;
    if m.len() < 2 {
        return Err(args.error_at(
            "match",
            "match needs a field and at least one format, e.g. [\"logdate\", \"ISO8601\"]",
        ));
    }
    let source = args.make_field("match", &m[0])?;
    // Month and day names in the locale's language (English without one, as on Logstash's images).
    let names = match args.string("locale")? {
        None => Names::default(),
        Some(l) => Names::for_locale(&l).unwrap_or_else(|| {
            tracing::warn!(
                "date filter: no month and day names known for locale `{l}`; reading English ones"
            );
            Names::default()
        }),
    };
    let mut formats = Vec::new();
    for f in &m[1..] {
        formats.push(match f.as_str() {
            "ISO8601" => Format::Iso8601,
            "UNIX" => Format::Unix,
            "UNIX_MS" => Format::UnixMs,
            "TAI64N" => Format::Tai64n,
            p => Format::Joda(
                Parser::joda(p)
                    .map_err(|e| args.error_at("match", format!("bad date pattern `{p}`: {e}")))?
                    .with_names(names.clone()),
            ),
        });
    }
    let zone = match args.string("timezone")? {
        None => Zone::Fixed(TimeZone::system()),
        Some(t) if t.contains("%{") => Zone::PerEvent(args.make_template("timezone", &t)?),
        Some(t) => Zone::Fixed(
            zone(&t)
                .ok_or_else(|| args.error_at("timezone", format!("unknown time zone `{t}`")))?,
        ),
    };
    let target = args
        .field("target")?
        .unwrap_or_else(|| FieldRef::key("@timestamp"));
    Ok(Box::new(Date {
        source,
        formats,
        target,
        zone,
        tag_on_failure: failure_tags(args, "_dateparsefailure")?,
    }))
}

fn zone(name: &str) -> Option<TimeZone> {
    match name {
        "UTC" | "Z" | "GMT" | "Etc/UTC" => Some(TimeZone::UTC),
        n => TimeZone::get(n).ok().or_else(|| {
            let (secs, len) = offset_text(n)?;
            (len == n.len())
                .then(|| {
                    jiff::tz::Offset::from_seconds(secs)
                        .ok()
                        .map(TimeZone::fixed)
                })
                .flatten()
        }),
    }
}

fn offset_text(s: &str) -> Option<(i32, usize)> {
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = digits[..2].parse().ok()?;
    let m: i32 = digits[2..].parse().ok()?;
    Some((sign * (h * 3600 + m * 60), s.len()))
}

const MAX_UNIX_SECONDS: i64 = 2_147_483_647;

fn unix(v: &Value) -> Option<i64> {
    let ms = match v {
        Value::Int(i) => i.checked_mul(1000)?,
        Value::Float(f) => (f * 1000.0) as i64,
        Value::String(s) => {
            let (int, frac) = s.split_once('.').unwrap_or((s, ""));
            let secs: i64 = int.parse().ok()?;
            if !frac.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let f: String = frac.chars().chain("000".chars()).take(3).collect();
            let ms: i64 = f.parse().ok()?;
            secs.checked_mul(1000)?
                + if secs < 0 || int.starts_with('-') {
                    -ms
                } else {
                    ms
                }
        }
        _ => return None,
    };
    (ms / 1000 <= MAX_UNIX_SECONDS).then_some(ms)
}

fn unix_ms(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Float(f) => Some(*f as i64),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn tai64n(s: &str) -> Option<i64> {
    let h = s.strip_prefix('@').unwrap_or(s);
    if h.len() != 24 {
        return None;
    }
    let secs = u64::from_str_radix(&h[..16], 16).ok()? & 0x3FFF_FFFF_FFFF_FFFF;
    let nanos = u64::from_str_radix(&h[16..], 16).ok()?;
    let secs = secs as i64 - 10;
    Some(secs * 1000 + (nanos / 1_000_000) as i64)
}

impl Date {
    fn parse(&self, v: &Value, tz: &TimeZone) -> Option<Timestamp> {
        let now = jiff::Timestamp::now();
        for f in &self.formats {
            let ms = match (f, v) {
                (Format::Joda(p), Value::String(s)) => {
                    p.parse(s, tz, now).ok().map(|t| t.as_millisecond())
                }
                (Format::Iso8601, Value::String(s)) => {
                    parse_iso8601(s, tz, now).ok().map(|t| t.as_millisecond())
                }
                (Format::Unix, v) => unix(v),
                (Format::UnixMs, v) => unix_ms(v),
                (Format::Tai64n, Value::String(s)) => tai64n(s),
                _ => None,
            };
            if let Some(t) = ms.and_then(Timestamp::from_millis) {
                return Some(t);
            }
        }
        None
    }
}

impl Filter for Date {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let v = match e.get(&self.source) {
            None | Some(Value::Null) => return FilterOutcome::Unmatched,
            Some(v) => v.clone(),
        };
        let tz = match &self.zone {
            Zone::Fixed(z) => Some(z.clone()),
            Zone::PerEvent(t) => zone(&t.render(e)),
        };
        match tz.and_then(|tz| self.parse(&v, &tz)) {
            Some(t) => {
                let _ = e.set(&self.target, Value::Timestamp(t));
                FilterOutcome::Matched
            }
            None => {
                for t in &self.tag_on_failure {
                    e.tag(t);
                }
                FilterOutcome::Unmatched
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_forms() {
        assert_eq!(unix(&Value::from("1.5")), Some(1500));
        assert_eq!(unix(&Value::Int(1_700_000_000)), Some(1_700_000_000_000));
        assert_eq!(unix(&Value::from("1e5")), None);
        assert_eq!(unix(&Value::Int(3_000_000_000)), None);
        assert_eq!(
            unix_ms(&Value::from("1700000000123")),
            Some(1_700_000_000_123)
        );
    }

    #[test]
    fn tai64n_label() {
        // 2020-01-01T00:00:00Z is 1577836800 Unix seconds; TAI64 label = 2^62 + unix + 10.
        let label = format!(
            "@{:016x}{:08x}",
            (1u64 << 62) + 1_577_836_800 + 10,
            500_000_000u32
        );
        assert_eq!(tai64n(&label), Some(1_577_836_800_500));
    }
}
