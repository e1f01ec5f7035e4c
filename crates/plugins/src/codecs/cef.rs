//! `cef`: ArcSight's Common Event Format, decoded and encoded as Logstash's codec (6.x) does.
//! Seven pipe-separated header fields, then `key=value` extensions whose values may hold spaces.
//! Without ECS, CEF keys (`src`) become CEF names (`sourceAddress`); with ECS they become ECS
//! fields (`[source][ip]`) and timestamps are parsed. Text that is not CEF becomes an event
//! with `message` and `_cefparsefailure`.

use rstash_pipeline::{opt, Options, Ty};
use std::collections::HashMap;
use std::sync::Arc;

use rstash_config::ConfigError;
use rstash_event::{json, Event, FieldRef, Template, Timestamp, Value};
use rstash_pipeline::{Args, Codec};

use super::Splitter;

/// One CEF field: its name, its short key, its ECS field, a legacy alias, its encode priority,
/// and whether it holds a timestamp.
struct Field {
    name: String,
    key: String,
    ecs: String,
    legacy: Option<&'static str>,
    priority: u8,
    timestamp: bool,
}

fn f(name: &str, key: Option<&str>, ecs: &str) -> Field {
    Field {
        name: name.to_string(),
        key: key.unwrap_or(name).to_string(),
        ecs: ecs.to_string(),
        legacy: None,
        priority: 0,
        timestamp: false,
    }
}

impl Field {
    fn priority(mut self) -> Field {
        self.priority = 10;
        self
    }
    fn legacy(mut self, l: &'static str) -> Field {
        self.legacy = Some(l);
        self
    }
    fn timestamp(mut self) -> Field {
        self.timestamp = true;
        self
    }
}

/// The codec's field table (Logstash's `generate_mappings!`); `device` is observer or host.
fn fields(device: &str) -> Vec<Field> {
    let dev = |s: &str| format!("[{device}]{s}");
    let host = device == "host";
    let mut v = vec![
        f("agentAddress", Some("agt"), "[agent][ip]"),
        f("agentDnsDomain", None, "[cef][agent][registered_domain]").priority(),
        f("agentHostName", Some("ahost"), "[agent][name]"),
        f("agentId", Some("aid"), "[agent][id]"),
        f("agentMacAddress", Some("amac"), "[agent][mac]"),
        f("agentNtDomain", None, "[cef][agent][registered_domain]"),
        f("agentReceiptTime", Some("art"), "[event][created]").timestamp(),
        f("agentTimeZone", Some("atz"), "[cef][agent][timezone]"),
        f("agentTranslatedAddress", None, "[cef][agent][nat][ip]"),
        f(
            "agentTranslatedZoneExternalID",
            None,
            "[cef][agent][translated_zone][external_id]",
        ),
        f(
            "agentTranslatedZoneURI",
            None,
            "[cef][agent][translated_zone][uri]",
        ),
        f("agentType", Some("at"), "[agent][type]"),
        f("agentVersion", Some("av"), "[agent][version]"),
        f(
            "agentZoneExternalID",
            None,
            "[cef][agent][zone][external_id]",
        ),
        f("agentZoneURI", None, "[cef][agent][zone][uri]"),
        f("applicationProtocol", Some("app"), "[network][protocol]"),
        f("baseEventCount", Some("cnt"), "[cef][base_event_count]"),
        f("bytesIn", Some("in"), "[source][bytes]"),
        f("bytesOut", Some("out"), "[destination][bytes]"),
        f("categoryDeviceType", Some("catdt"), "[cef][device_type]"),
        f("customerExternalID", None, "[organization][id]"),
        f("customerURI", None, "[organization][name]"),
        f("destinationAddress", Some("dst"), "[destination][ip]"),
        f(
            "destinationDnsDomain",
            None,
            "[destination][registered_domain]",
        )
        .priority(),
        f(
            "destinationGeoLatitude",
            Some("dlat"),
            "[destination][geo][location][lat]",
        )
        .legacy("destinationLatitude"),
        f(
            "destinationGeoLongitude",
            Some("dlong"),
            "[destination][geo][location][lon]",
        )
        .legacy("destinationLongitude"),
        f(
            "destinationHostName",
            Some("dhost"),
            "[destination][domain]",
        ),
        f("destinationMacAddress", Some("dmac"), "[destination][mac]"),
        f(
            "destinationNtDomain",
            Some("dntdom"),
            "[destination][registered_domain]",
        ),
        f("destinationPort", Some("dpt"), "[destination][port]"),
        f(
            "destinationProcessId",
            Some("dpid"),
            "[destination][process][pid]",
        ),
        f(
            "destinationProcessName",
            Some("dproc"),
            "[destination][process][name]",
        ),
        f(
            "destinationServiceName",
            None,
            "[destination][service][name]",
        ),
        f(
            "destinationTranslatedAddress",
            None,
            "[destination][nat][ip]",
        ),
        f(
            "destinationTranslatedPort",
            None,
            "[destination][nat][port]",
        ),
        f(
            "destinationTranslatedZoneExternalID",
            None,
            "[cef][destination][translated_zone][external_id]",
        ),
        f(
            "destinationTranslatedZoneURI",
            None,
            "[cef][destination][translated_zone][uri]",
        ),
        f("destinationUserId", Some("duid"), "[destination][user][id]"),
        f(
            "destinationUserName",
            Some("duser"),
            "[destination][user][name]",
        ),
        f(
            "destinationUserPrivileges",
            Some("dpriv"),
            "[destination][user][group][name]",
        ),
        f(
            "destinationZoneExternalID",
            None,
            "[cef][destination][zone][external_id]",
        ),
        f("destinationZoneURI", None, "[cef][destination][zone][uri]"),
        f("deviceAction", Some("act"), "[event][action]"),
        f("deviceAddress", Some("dvc"), &dev("[ip]")),
    ];
    for i in 1..=15 {
        for (name, key, ecs) in [
            (
                "deviceCustomFloatingPoint",
                "cfp",
                "device_custom_floating_point",
            ),
            (
                "deviceCustomIPv6Address",
                "c6a",
                "device_custom_ipv6_address",
            ),
            ("deviceCustomNumber", "cn", "device_custom_number"),
            ("deviceCustomString", "cs", "device_custom_string"),
        ] {
            v.push(f(
                &format!("{name}{i}"),
                Some(&format!("{key}{i}")),
                &format!("[cef][{ecs}_{i}][value]"),
            ));
            v.push(f(
                &format!("{name}{i}Label"),
                Some(&format!("{key}{i}Label")),
                &format!("[cef][{ecs}_{i}][label]"),
            ));
        }
    }
    v.extend([
        f("deviceDirection", None, "[network][direction]"),
        f("deviceDnsDomain", None, &dev("[registered_domain]")).priority(),
        f("deviceEventCategory", Some("cat"), "[cef][category]"),
        f(
            "deviceExternalId",
            None,
            if host {
                "[host][id]"
            } else {
                "[observer][name]"
            },
        ),
        f("deviceFacility", None, "[log][syslog][facility][code]"),
        f(
            "deviceHostName",
            Some("dvchost"),
            if host {
                "[host][name]"
            } else {
                "[observer][hostname]"
            },
        ),
        f(
            "deviceInboundInterface",
            None,
            "[observer][ingress][interface][name]",
        ),
        f("deviceMacAddress", Some("dvcmac"), &dev("[mac]")),
        f("deviceNtDomain", None, "[cef][nt_domain]"),
        f(
            "deviceOutboundInterface",
            None,
            "[observer][egress][interface][name]",
        ),
        f("devicePayloadId", None, "[cef][payload_id]"),
        f("deviceProcessId", Some("dvcpid"), "[process][pid]"),
        f("deviceProcessName", None, "[process][name]"),
        f("deviceReceiptTime", Some("rt"), "@timestamp").timestamp(),
        f("deviceTimeZone", Some("dtz"), "[event][timezone]").legacy("destinationTimeZone"),
        f("deviceTranslatedAddress", None, "[host][nat][ip]"),
        f(
            "deviceTranslatedZoneExternalID",
            None,
            "[cef][translated_zone][external_id]",
        ),
        f(
            "deviceTranslatedZoneURI",
            None,
            "[cef][translated_zone][uri]",
        ),
        f("deviceVersion", None, "[observer][version]"),
        f("deviceZoneExternalID", None, "[cef][zone][external_id]"),
        f("deviceZoneURI", None, "[cef][zone][uri]"),
        f("endTime", Some("end"), "[event][end]").timestamp(),
        f("eventId", None, "[event][id]"),
        f("eventOutcome", Some("outcome"), "[event][outcome]"),
        f("externalId", None, "[cef][external_id]"),
        f("fileCreateTime", None, "[file][created]"),
        f("fileHash", None, "[file][hash]"),
        f("fileId", None, "[file][inode]"),
        f("fileModificationTime", None, "[file][mtime]").timestamp(),
        f("fileName", Some("fname"), "[file][name]"),
        f("filePath", None, "[file][path]"),
        f("filePermission", None, "[file][group]"),
        f("fileSize", Some("fsize"), "[file][size]"),
        f("fileType", None, "[file][extension]"),
        f("managerReceiptTime", Some("mrt"), "[event][ingested]").timestamp(),
        f("message", Some("msg"), "[message]"),
        f("oldFileCreateTime", None, "[cef][old_file][created]").timestamp(),
        f("oldFileHash", None, "[cef][old_file][hash]"),
        f("oldFileId", None, "[cef][old_file][inode]"),
        f("oldFileModificationTime", None, "[cef][old_file][mtime]").timestamp(),
        f("oldFileName", None, "[cef][old_file][name]"),
        f("oldFilePath", None, "[cef][old_file][path]"),
        f("oldFilePermission", None, "[cef][old_file][group]"),
        f("oldFileSize", None, "[cef][old_file][size]"),
        f("oldFileType", None, "[cef][old_file][extension]"),
        f("rawEvent", None, "[event][original]"),
        f("Reason", Some("reason"), "[event][reason]"),
        f("requestClientApplication", None, "[user_agent][original]"),
        f("requestContext", None, "[http][request][referrer]"),
        f("requestCookies", None, "[cef][request][cookies]"),
        f("requestMethod", None, "[http][request][method]"),
        f("requestUrl", Some("request"), "[url][original]"),
        f("sourceAddress", Some("src"), "[source][ip]"),
        f("sourceDnsDomain", None, "[source][registered_domain]").priority(),
        f(
            "sourceGeoLatitude",
            Some("slat"),
            "[source][geo][location][lat]",
        )
        .legacy("sourceLatitude"),
        f(
            "sourceGeoLongitude",
            Some("slong"),
            "[source][geo][location][lon]",
        )
        .legacy("sourceLongitude"),
        f("sourceHostName", Some("shost"), "[source][domain]"),
        f("sourceMacAddress", Some("smac"), "[source][mac]"),
        f(
            "sourceNtDomain",
            Some("sntdom"),
            "[source][registered_domain]",
        ),
        f("sourcePort", Some("spt"), "[source][port]"),
        f("sourceProcessId", Some("spid"), "[source][process][pid]"),
        f(
            "sourceProcessName",
            Some("sproc"),
            "[source][process][name]",
        ),
        f("sourceServiceName", None, "[source][service][name]"),
        f("sourceTranslatedAddress", None, "[source][nat][ip]"),
        f("sourceTranslatedPort", None, "[source][nat][port]"),
        f(
            "sourceTranslatedZoneExternalID",
            None,
            "[cef][source][translated_zone][external_id]",
        ),
        f(
            "sourceTranslatedZoneURI",
            None,
            "[cef][source][translated_zone][uri]",
        ),
        f("sourceUserId", Some("suid"), "[source][user][id]"),
        f("sourceUserName", Some("suser"), "[source][user][name]"),
        f(
            "sourceUserPrivileges",
            Some("spriv"),
            "[source][user][group][name]",
        ),
        f(
            "sourceZoneExternalID",
            None,
            "[cef][source][zone][external_id]",
        ),
        f("sourceZoneURI", None, "[cef][source][zone][uri]"),
        f("startTime", Some("start"), "[event][start]").timestamp(),
        f("transportProtocol", Some("proto"), "[network][transport]"),
        f("type", None, "[cef][type]"),
    ]);
    // Later entries win in the maps built from this: the higher priority goes last.
    v.sort_by_key(|x| x.priority);
    v
}

/// The maps built once per codec configuration.
struct Tables {
    header: [FieldRef; 7],
    syslog: FieldRef,
    decode: HashMap<String, String>,
    encode: HashMap<String, String>,
    timestamps: Vec<String>,
}

#[derive(Clone)]
pub struct Cef {
    t: Arc<Tables>,
    ecs: bool,
    delimiter: Option<String>,
    lines: Option<Splitter>,
    raw_data_field: Option<FieldRef>,
    zone: jiff::tz::TimeZone,
    vendor: Template,
    product: Template,
    version: Template,
    signature: Template,
    name: Template,
    severity: Template,
    fields: Vec<(String, FieldRef)>,
}

const DEFAULTS: [(&str, &str); 6] = [
    ("vendor", "Elasticsearch"),
    ("product", "Logstash"),
    ("version", "1.0"),
    ("signature", "Logstash"),
    ("name", "Logstash"),
    ("severity", "6"),
];

pub const OPTIONS: Options = &[&[
    opt("device", Ty::Choice(&["observer", "host"])).default("observer"),
    opt("reverse_mapping", Ty::Boolean).default("false"),
    opt("delimiter", Ty::Str),
    opt("default_timezone", Ty::Str),
    opt("locale", Ty::Str),
    opt("fields", Ty::Array).default("[]"),
    opt("raw_data_field", Ty::Str),
    opt("vendor", Ty::Str).default("Elasticsearch"),
    opt("product", Ty::Str).default("Logstash"),
    opt("version", Ty::Str).default("1.0"),
    opt("signature", Ty::Str).default("Logstash"),
    opt("name", Ty::Str).default("Logstash"),
    opt("severity", Ty::Str).default("6"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    let ecs = args.ecs()?.enabled();
    let device = args.choice("device", &["observer", "host"], "observer")?;
    let reverse = args.bool("reverse_mapping", false)?;
    let pick = |legacy: &str, ecs_f: &str| {
        if ecs {
            ecs_f.to_string()
        } else {
            legacy.to_string()
        }
    };
    let (mut decode, mut encode, mut timestamps) = (HashMap::new(), HashMap::new(), Vec::new());
    for c in fields(&device) {
        let field = pick(&c.name, &c.ecs);
        decode.insert(c.key.clone(), field.clone());
        decode.insert(c.name.clone(), field.clone());
        let target = if reverse {
            c.key.clone()
        } else {
            c.name.clone()
        };
        encode.insert(field.clone(), target.clone());
        if c.name != field {
            encode.insert(c.name.clone(), target);
        }
        if let Some(l) = c.legacy {
            decode.insert(l.to_string(), pick(l, &c.ecs));
            encode.insert(
                l.to_string(),
                if reverse {
                    c.key.clone()
                } else {
                    l.to_string()
                },
            );
        }
        if ecs && c.timestamp {
            timestamps.push(field);
        }
    }
    let header_names = [
        ("cefVersion", "[cef][version]"),
        ("deviceVendor", "[observer][vendor]"),
        ("deviceProduct", "[observer][product]"),
        ("deviceVersion", "[observer][version]"),
        ("deviceEventClassId", "[event][code]"),
        ("name", "[cef][name]"),
        ("severity", "[event][severity]"),
    ];
    let mut header = Vec::new();
    for (l, e) in header_names {
        header.push(args.make_field("ecs_compatibility", &pick(l, e))?);
    }
    let header: [FieldRef; 7] = header
        .try_into()
        .map_err(|_| args.error("cef: header table"))?;
    let syslog = args.make_field(
        "ecs_compatibility",
        &pick("syslog", "[log][syslog][header]"),
    )?;
    let delimiter = args
        .string("delimiter")?
        .map(|d| d.replace("\\r", "\r").replace("\\n", "\n"));
    let zone = match args.string("default_timezone")? {
        Some(z) => jiff::tz::TimeZone::get(&z)
            .map_err(|e| args.error_at("default_timezone", format!("`{z}`: {e}")))?,
        None => jiff::tz::TimeZone::UTC,
    };
    if let Some(l) = args.string("locale")? {
        if !l.to_ascii_lowercase().starts_with("en") {
            tracing::warn!(
                "cef codec: locale `{l}` is not supported; month names are read in English"
            );
        }
    }
    let mut templates = Vec::new();
    for (opt, default) in DEFAULTS {
        let text = args.string_or(opt, default)?;
        templates.push(args.make_template(opt, &text)?);
    }
    let [vendor, product, version, signature, name, severity]: [Template; 6] = templates
        .try_into()
        .map_err(|_| args.error("cef: templates"))?;
    let fields = args
        .strings("fields")?
        .into_iter()
        .map(|n| Ok((n.clone(), args.make_field("fields", &n)?)))
        .collect::<Result<_, ConfigError>>()?;
    Ok(Box::new(Cef {
        t: Arc::new(Tables {
            header,
            syslog,
            decode,
            encode,
            timestamps,
        }),
        ecs,
        lines: delimiter.as_deref().map(Splitter::new),
        delimiter,
        raw_data_field: args.field("raw_data_field")?,
        zone,
        vendor,
        product,
        version,
        signature,
        name,
        severity,
        fields,
    }))
}

/// The header fields: seven runs of text each ended by an unescaped `|` (`\|` and `\\` are
/// escapes); returns them unescaped and the rest.
fn header(data: &str) -> Result<(Vec<String>, &str), String> {
    let mut out = Vec::with_capacity(7);
    let b = data.as_bytes();
    let (mut start, mut i) = (0, 0);
    while out.len() < 7 {
        if i >= b.len() {
            return Err(format!(
                "message is not valid CEF; found {} of 7 required pipe-terminated header fields",
                out.len()
            ));
        }
        match b[i] {
            b'\\' if matches!(b.get(i + 1), Some(b'|' | b'\\')) => i += 2,
            b'|' => {
                out.push(unescape_header(&data[start..i]));
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    Ok((out, &data[start..]))
}

fn unescape_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && matches!(chars.peek(), Some('|' | '\\')) {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

/// The length of an extension key at the start of `s` when `=` follows it:
/// `\w+(\.[^.=\s|\\\[\]]+)*(\[[0-9]+\])?`.
fn key_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = b.iter().take_while(|c| word(**c)).count();
    if i == 0 {
        return None;
    }
    while b.get(i) == Some(&b'.') {
        let n = s[i + 1..]
            .chars()
            .take_while(|c| !matches!(c, '.' | '=' | '|' | '\\' | '[' | ']') && !c.is_whitespace())
            .map(char::len_utf8)
            .sum::<usize>();
        if n == 0 {
            break;
        }
        i += 1 + n;
    }
    if b.get(i) == Some(&b'[') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits > 0 && b.get(i + 1 + digits) == Some(&b']') {
            i += digits + 2;
        }
    }
    (b.get(i) == Some(&b'=')).then_some(i)
}

/// Splits extensions into (key, raw value) pairs: a value runs until whitespace followed by
/// the next `key=`.
fn extensions(mut s: &str) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let Some(k) = key_len(s) else {
            return Err(format!("invalid extensions; keyless value present `{s}`"));
        };
        let key = &s[..k];
        let rest = &s[k + 1..];
        let mut end = rest.len();
        let mut i = 0;
        while i < rest.len() {
            let c = rest[i..].chars().next().unwrap_or(' ');
            if c.is_whitespace() {
                let ws: usize = rest[i..]
                    .chars()
                    .take_while(|c| c.is_whitespace())
                    .map(char::len_utf8)
                    .sum();
                if key_len(&rest[i + ws..]).is_some() || i + ws == rest.len() {
                    end = i;
                    break;
                }
                i += ws;
            } else {
                i += c.len_utf8();
            }
        }
        out.push((key, &rest[..end]));
        s = rest[end..].trim_start();
    }
    Ok(out)
}

fn unescape_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek() {
                Some('\\') | Some('=') => out.extend(chars.next()),
                Some('n') => {
                    chars.next();
                    out.push('\n');
                }
                Some('r') => {
                    chars.next();
                    out.push('\r');
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// CEF timestamps: milliseconds since the epoch, or `MMM dd[ yyyy] HH:mm:ss[.fraction][ zone]`,
/// in the device's zone (`dtz`) or `default_timezone` when none is written; a missing year is the
/// recent past (or up to two days ahead), as Logstash's normalizer assumes.
fn cef_time(v: &str, zone: &jiff::tz::TimeZone) -> Option<Timestamp> {
    let v = v.trim();
    if v.bytes().next().is_some_and(|c| (b'1'..=b'9').contains(&c))
        && v.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        && v.matches('.').count() <= 1
    {
        let ms: f64 = v.parse().ok()?;
        let nanos = (ms * 1_000_000.0) as i128;
        return jiff::Timestamp::from_nanosecond(nanos).ok().map(Timestamp);
    }
    let parts: Vec<&str> = v.split_whitespace().collect();
    let month = MONTHS
        .iter()
        .position(|m| parts.first().is_some_and(|p| p.to_ascii_lowercase() == *m))?
        as i8
        + 1;
    let day: i8 = parts.get(1)?.parse().ok()?;
    let (year, rest) = match parts.get(2) {
        Some(y) if y.len() == 4 && y.bytes().all(|c| c.is_ascii_digit()) => {
            (Some(y.parse::<i16>().ok()?), &parts[3..])
        }
        _ => (None, &parts[2..]),
    };
    let (time, zone_name) = (rest.first()?, rest.get(1));
    if rest.len() > 2 {
        return None;
    }
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.split(':').map(|x| x.parse::<i8>());
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let frac_ok = frac.is_empty()
        || (frac.bytes().all(|c| c.is_ascii_digit()) && matches!(frac.len(), 3 | 6 | 9));
    if !frac_ok {
        return None;
    }
    let nanos: i32 = format!("{frac:0<9}").parse().ok()?;
    let tz = match zone_name {
        Some(z) if z.eq_ignore_ascii_case("utc") || z.eq_ignore_ascii_case("gmt") || *z == "Z" => {
            jiff::tz::TimeZone::UTC
        }
        Some(z) => jiff::tz::TimeZone::get(z).ok()?,
        None => zone.clone(),
    };
    let at = |y: i16| {
        jiff::civil::date(y, month, day)
            .at(h, m, s, nanos)
            .to_zoned_datetime(tz.clone())
            .ok()
            .map(|z| z.timestamp())
    };
    let t = match year {
        Some(y) => at(y)?,
        None => {
            let now = jiff::Timestamp::now();
            let this_year = now.to_zoned_datetime(tz.clone()).year();
            let guess = at(this_year)?;
            let limit = now + jiff::SignedDuration::from_hours(48);
            if guess > limit {
                at(this_year - 1)?
            } else if now.to_zoned_datetime(tz.clone()).month() == 12 && at(this_year + 1)? <= limit
            {
                at(this_year + 1)?
            } else {
                guess
            }
        }
    };
    Some(Timestamp(t))
}

impl Cef {
    fn handle(&self, raw: &[u8], emit: &mut dyn FnMut(Event)) {
        let Ok(text) = std::str::from_utf8(raw) else {
            tracing::error!("cef codec: invalid byte sequence in UTF-8");
            return emit(self.failure(&String::from_utf8_lossy(raw)));
        };
        match self.parse(text) {
            Ok(e) => emit(e),
            Err(why) => {
                tracing::error!("cef codec: failed to decode CEF payload ({why}): {text}");
                emit(self.failure(text))
            }
        }
    }

    fn failure(&self, text: &str) -> Event {
        let mut e = Event::with_message(text);
        e.tag("_cefparsefailure");
        e
    }

    fn parse(&self, raw: &str) -> Result<Event, String> {
        let mut e = Event::new();
        if let Some(f) = &self.raw_data_field {
            let _ = e.set(f, Value::String(raw.into()));
        }
        let mut data = raw;
        if data.starts_with('"') {
            data = data
                .get(1..data.len().saturating_sub(1).max(1))
                .unwrap_or("");
        }
        let data = data
            .strip_suffix("\r\n")
            .or_else(|| data.strip_suffix('\n'))
            .or_else(|| data.strip_suffix('\r'))
            .unwrap_or(data);
        if data.contains('\n') {
            return Err("message is not valid CEF because it contains unescaped newline characters; use the `delimiter` setting".into());
        }
        let (mut head, rest) = header(data)?;
        let mut version = std::mem::take(&mut head[0]);
        if let Some((syslog, v)) = version.rsplit_once(' ') {
            let _ = e.set(&self.t.syslog, Value::String(syslog.into()));
            version = v.to_string();
        }
        head[0] = version.strip_prefix("CEF:").unwrap_or(&version).to_string();
        for (f, v) in self.t.header.iter().zip(head) {
            let _ = e.set(f, Value::String(v.into()));
        }
        let message = rest.trim();
        if message.is_empty() {
            return Ok(e);
        }
        let mut ext: Vec<(String, Value)> = Vec::new();
        for (key, value) in extensions(message)? {
            let mut key = self
                .t
                .decode
                .get(key)
                .cloned()
                .unwrap_or_else(|| key.to_string());
            if key.ends_with(']') && !key.starts_with('[') {
                if let Some(i) = key.find('[') {
                    key = format!("[{}]{}", &key[..i], &key[i..]);
                }
            }
            let v = Value::String(unescape_value(value).into());
            match ext.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = v,
                None => ext.push((key, v)),
            }
        }
        if self.ecs {
            let zone = ext
                .iter()
                .find(|(k, _)| k == "[event][timezone]")
                .and_then(|(_, v)| v.as_str())
                .and_then(|z| jiff::tz::TimeZone::get(z).ok())
                .unwrap_or_else(|| self.zone.clone());
            for (k, v) in ext.iter_mut() {
                if self.t.timestamps.contains(k) {
                    let text = v.as_str().unwrap_or_default().to_string();
                    if text.trim().is_empty() {
                        continue;
                    }
                    let t = cef_time(&text, &zone)
                        .ok_or_else(|| format!("not a valid CEF timestamp: `{text}`"))?;
                    *v = Value::Timestamp(t);
                }
            }
        }
        for (k, v) in ext {
            let r = FieldRef::parse(&k).unwrap_or_else(|_| FieldRef::key(&k));
            if r.is_top("@timestamp") {
                if let Value::Timestamp(t) = v {
                    e.set_timestamp(t);
                    continue;
                }
            }
            let _ = e.set(&r, v);
        }
        Ok(e)
    }

    fn header_value(&self, t: &Template, e: &Event, default: &str) -> String {
        let v = sanitize_header(&t.render(e));
        if v.is_empty() {
            default.to_string()
        } else {
            v
        }
    }
}

fn sanitize_header(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace("\r\n", "\n").chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn sanitize_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.replace("\r\n", "\n").chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '=' => out.push_str("\\="),
            '\n' | '\r' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Logstash's severity check: a whole number from 0 to 10, else 6.
fn severity(s: &str) -> String {
    match s.trim().parse::<f64>() {
        Ok(f) if f.fract() == 0.0 && (0.0..=10.0).contains(&f) => (f as i64).to_string(),
        _ => "6".into(),
    }
}

impl Codec for Cef {
    fn decode(&mut self, data: &[u8], emit: &mut dyn FnMut(Event)) {
        match self.lines.as_mut() {
            Some(lines) => {
                let mut msgs = Vec::new();
                lines.feed(data, |l| msgs.push(l.to_vec()));
                for m in msgs {
                    self.handle(&m, emit);
                }
            }
            None => self.handle(data, emit),
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(Event)) {
        if let Some(rest) = self.lines.as_mut().and_then(Splitter::take_rest) {
            if !rest.is_empty() {
                self.handle(&rest, emit);
            }
        }
    }

    fn encode(&mut self, e: &Event, out: &mut Vec<u8>) {
        let head = [
            "CEF:0".to_string(),
            self.header_value(&self.vendor, e, DEFAULTS[0].1),
            self.header_value(&self.product, e, DEFAULTS[1].1),
            self.header_value(&self.version, e, DEFAULTS[2].1),
            self.header_value(&self.signature, e, DEFAULTS[3].1),
            self.header_value(&self.name, e, DEFAULTS[4].1),
            severity(&sanitize_header(&self.severity.render(e))),
        ];
        let values: Vec<String> = self
            .fields
            .iter()
            .filter_map(|(name, r)| {
                let v = e.get_value(r)?;
                if v.is_null() {
                    return None;
                }
                let key: String = self
                    .t
                    .encode
                    .get(name)
                    .unwrap_or(name)
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                let text = match &v {
                    Value::Array(_) | Value::Object(_) => {
                        sanitize_value(&json::value_to_string(&v))
                    }
                    Value::Timestamp(t) => t.to_iso(),
                    other => sanitize_value(&other.to_ruby_string()),
                };
                Some(format!("{key}={text}"))
            })
            .collect();
        out.extend_from_slice(format!("{}|{}", head.join("|"), values.join(" ")).as_bytes());
        if let Some(d) = &self.delimiter {
            out.extend_from_slice(d.as_bytes());
        }
    }

    fn fresh(&self) -> Box<dyn Codec> {
        let mut c = self.clone();
        c.lines = self.delimiter.as_deref().map(Splitter::new);
        Box::new(c)
    }

    fn name(&self) -> &'static str {
        "cef"
    }
}
