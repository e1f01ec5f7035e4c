//! `syslog_pri`: splits a syslog PRI (`<13>`'s 13, default 13 when absent) into facility and
//! severity codes and, with `use_labels`, their RFC 3164 names; a facility past the labels is
//! tagged `_syslogpriparsefailure`.

use rstash_config::ConfigError;
use rstash_event::numfmt::ruby_to_i;
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{opt, Options, Ty};
use rstash_pipeline::{Args, Filter, FilterOutcome};

const FACILITIES: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "daemon",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "uucp",
    "clock",
    "security/authorization",
    "ftp",
    "ntp",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
/// Also the syslog output's severity labels (the same in both Logstash plugins).
pub(crate) const SEVERITIES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

pub struct SyslogPri {
    source: FieldRef,
    use_labels: bool,
    facility_labels: Vec<String>,
    severity_labels: Vec<String>,
    /// facility code, severity code, facility name, severity name.
    keys: [FieldRef; 4],
}

pub const OPTIONS: Options = &[&[
    opt("syslog_pri_field_name", Ty::Str),
    opt("use_labels", Ty::Boolean).default("true"),
    opt("facility_labels", Ty::Array),
    opt("severity_labels", Ty::Array),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Filter>, ConfigError> {
    let ecs = args.ecs()?.enabled();
    let pick = |legacy: &'static str, ecs_key: &'static str| if ecs { ecs_key } else { legacy };
    let source = match args.field("syslog_pri_field_name")? {
        Some(f) => f,
        None => args.make_field(
            "syslog_pri_field_name",
            pick("syslog_pri", "[log][syslog][priority]"),
        )?,
    };
    let labels =
        |args: &mut Args, name: &str, default: &[&str]| -> Result<Vec<String>, ConfigError> {
            Ok(if args.has(name) {
                args.strings(name)?
            } else {
                default.iter().map(|s| s.to_string()).collect()
            })
        };
    let keys = [
        pick("syslog_facility_code", "[log][syslog][facility][code]"),
        pick("syslog_severity_code", "[log][syslog][severity][code]"),
        pick("syslog_facility", "[log][syslog][facility][name]"),
        pick("syslog_severity", "[log][syslog][severity][name]"),
    ]
    .map(|k| FieldRef::parse(k).unwrap_or_else(|_| FieldRef::key(k)));
    Ok(Box::new(SyslogPri {
        source,
        use_labels: args.bool("use_labels", true)?,
        facility_labels: labels(args, "facility_labels", &FACILITIES)?,
        severity_labels: labels(args, "severity_labels", &SEVERITIES)?,
        keys,
    }))
}

/// Ruby's `array[i]`: negative indexes count from the end.
fn ruby_index(labels: &[String], i: i64) -> Option<&String> {
    let i = if i < 0 { labels.len() as i64 + i } else { i };
    usize::try_from(i).ok().and_then(|i| labels.get(i))
}

impl Filter for SyslogPri {
    fn filter(&self, e: &mut Event, _emit: &mut Vec<Event>) -> FilterOutcome {
        let value = match e.get(&self.source) {
            Some(Value::Array(a)) => a.first(),
            other => other,
        };
        // Ruby's `to_i` of whatever is there; absent means 13 (user-level notice), per RFC 3164.
        let priority = match value {
            None | Some(Value::Null) => 13,
            Some(Value::Int(i)) => *i,
            Some(Value::Float(f)) => *f as i64,
            Some(Value::String(s)) => ruby_to_i(s),
            Some(_) => 0,
        };
        let (facility, severity) = (priority >> 3, priority & 7);
        let [fcode, scode, fname, sname] = &self.keys;
        let _ = e.set(scode, Value::Int(severity));
        let _ = e.set(fcode, Value::Int(facility));
        if self.use_labels {
            if facility > self.facility_labels.len() as i64 - 1 {
                e.tag("_syslogpriparsefailure");
            } else {
                if let Some(l) = ruby_index(&self.facility_labels, facility) {
                    let _ = e.set(fname, Value::String(l.as_str().into()));
                }
                if let Some(l) = ruby_index(&self.severity_labels, severity) {
                    let _ = e.set(sname, Value::String(l.as_str().into()));
                }
            }
        }
        FilterOutcome::Matched
    }
}
