//! Filebeat's `syslog` input: each message received over `protocol.udp`/`protocol.tcp` is read as
//! RFC 3164 (BSD) or RFC 5424 syslog, as Filebeat's ragel grammars read them, into `hostname`,
//! `process.*`, `syslog.*`, `event.severity` and `@timestamp`. A message neither reads as is
//! published whole, as Filebeat does, with a warning.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::{Offset, TimeZone};
use rstash_timefmt::MONTHS;
use serde_json::{json, Map, Value};

use crate::config::{ConfigError, Section};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Format {
    Rfc3164,
    Rfc5424,
    Auto,
}

#[derive(Debug, Clone)]
pub struct SyslogConfig {
    pub format: Format,
    /// For timestamps without an offset (RFC 3164's): Filebeat's `timezone`, default the local.
    pub zone: TimeZone,
}

impl PartialEq for SyslogConfig {
    fn eq(&self, other: &Self) -> bool {
        self.format == other.format && self.zone.iana_name() == other.zone.iana_name()
    }
}

pub fn parse_config(s: &Section) -> Result<SyslogConfig, ConfigError> {
    let format = match s.string_or("format", "rfc3164")?.as_str() {
        "rfc3164" => Format::Rfc3164,
        "rfc5424" => Format::Rfc5424,
        "auto" => Format::Auto,
        other => {
            return Err(ConfigError(format!(
                "setting `{}.format`: `{other}` is not rfc3164, rfc5424 or auto",
                s.path
            )))
        }
    };
    let zone = match s.string_or("timezone", "Local")?.as_str() {
        "Local" => TimeZone::system(),
        "UTC" => TimeZone::UTC,
        name => TimeZone::get(name)
            .map_err(|e| ConfigError(format!("setting `{}.timezone`: `{name}`: {e}", s.path)))?,
    };
    Ok(SyslogConfig { format, zone })
}

/// A message read as syslog: its time and the event's fields (`message` included).
pub struct Parsed {
    pub time: jiff::Timestamp,
    pub fields: Map<String, Value>,
}

const SEVERITY: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

const FACILITY: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP",
    "NTP",
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

/// What either grammar found, as Filebeat's `event` holds it.
#[derive(Default)]
struct Found {
    priority: Option<u32>,
    sequence: Option<u64>,
    year: Option<i16>,
    month: Option<i8>,
    day: Option<i8>,
    time: Option<(i8, i8, i8, i32)>,
    offset: Option<Offset>,
    hostname: Option<String>,
    program: Option<String>,
    pid: Option<u64>,
    app_name: Option<String>,
    proc_id: Option<String>,
    msg_id: Option<String>,
    version: Option<u32>,
    data: Option<Map<String, Value>>,
    message: String,
}

pub fn parse(cfg: &SyslogConfig, raw: &[u8]) -> Result<Parsed, &'static str> {
    let rfc5424 = match cfg.format {
        Format::Rfc5424 => true,
        Format::Rfc3164 => false,
        Format::Auto => looks_like_5424(raw),
    };
    let (found, what) = if rfc5424 {
        (rfc5424_parse(raw), "can't parse event as syslog rfc5424")
    } else {
        (rfc3164_parse(raw), "can't parse event as syslog rfc3164")
    };
    let f = found.filter(|f| f.day.is_some() && f.time.is_some() && !f.message.is_empty());
    let f = f.ok_or(what)?;
    let time = timestamp(&f, &cfg.zone).ok_or(what)?;
    Ok(Parsed {
        time,
        fields: fields(f),
    })
}

fn timestamp(f: &Found, zone: &TimeZone) -> Option<jiff::Timestamp> {
    // RFC 3164 has no year: the current one, as Filebeat takes it.
    let year = f.year.unwrap_or_else(|| {
        TimeZone::system()
            .to_datetime(jiff::Timestamp::now())
            .year()
    });
    let (h, m, s, ns) = f.time?;
    let date = Date::new(year, f.month?, f.day?).ok()?;
    let dt = DateTime::from_parts(date, Time::new(h, m, s, ns).ok()?);
    match f.offset {
        Some(o) => o.to_timestamp(dt).ok(),
        None => zone.to_ambiguous_timestamp(dt).compatible().ok(),
    }
}

fn fields(f: Found) -> Map<String, Value> {
    let mut e = Map::new();
    let message = f.message.trim_end_matches('\n').to_string();
    e.insert("message".into(), Value::String(message));
    if let Some(h) = f.hostname.filter(|h| !h.is_empty()) {
        e.insert("hostname".into(), Value::String(h));
    }
    let (mut syslog, mut event, mut process) = (Map::new(), Map::new(), Map::new());
    if let Some(pid) = f.pid.filter(|p| *p > 0) {
        process.insert("pid".into(), json!(pid));
    }
    if let Some(p) = f.program.filter(|p| !p.is_empty()) {
        process.insert("program".into(), Value::String(p));
    }
    if let Some(pri) = f.priority {
        let (severity, facility) = ((pri & 7) as usize, (pri >> 3) as usize);
        syslog.insert("priority".into(), json!(pri));
        event.insert("severity".into(), json!(severity));
        syslog.insert("severity_label".into(), json!(SEVERITY[severity]));
        syslog.insert("facility".into(), json!(facility));
        if let Some(label) = FACILITY.get(facility) {
            syslog.insert("facility_label".into(), json!(label));
        }
    }
    for (k, v) in [("name", f.app_name), ("entity_id", f.proc_id)] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            process.insert(k.into(), Value::String(v));
        }
    }
    if let Some(m) = f.msg_id.filter(|m| !m.is_empty()) {
        syslog.insert("msgid".into(), Value::String(m));
    }
    if let Some(v) = f.version {
        syslog.insert("version".into(), json!(v));
    }
    if let Some(d) = f.data.filter(|d| !d.is_empty()) {
        syslog.insert("data".into(), Value::Object(d));
    }
    e.insert("syslog".into(), Value::Object(syslog));
    e.insert("event".into(), Value::Object(event));
    if !process.is_empty() {
        e.insert("process".into(), Value::Object(process));
    }
    if let Some(seq) = f.sequence {
        // A dotted key, as Filebeat puts it.
        e.insert("event.sequence".into(), json!(seq));
    }
    e
}

/// Filebeat's format check for `format: auto`: `<PRI>VERSION SP` with PRI 0–191.
fn looks_like_5424(raw: &[u8]) -> bool {
    let mut c = Cursor { b: raw, at: 0 };
    c.prival_5424().is_some() && c.version().is_some() && c.eat(b' ')
}

/// Ragel's `space`, which Filebeat's RFC 3164 grammar separates its parts with.
fn ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }
    fn eat_ws(&mut self) -> bool {
        let ok = self.peek().is_some_and(ws);
        self.at += ok as usize;
        ok
    }
    fn eat(&mut self, c: u8) -> bool {
        let ok = self.peek() == Some(c);
        self.at += ok as usize;
        ok
    }
    fn rest(&self) -> &'a [u8] {
        &self.b[self.at.min(self.b.len())..]
    }
    /// `min..=max` digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<&'a [u8]> {
        let n = self
            .rest()
            .iter()
            .take(max)
            .take_while(|c| c.is_ascii_digit())
            .count();
        (n >= min).then(|| {
            let d = &self.b[self.at..self.at + n];
            self.at += n;
            d
        })
    }
    fn number(&mut self, min: usize, max: usize) -> Option<u64> {
        let d = self.digits(min, max)?;
        std::str::from_utf8(d).ok()?.parse().ok()
    }
    /// A two-digit field within `0..=hi`.
    fn two(&mut self, hi: u64) -> Option<i8> {
        let save = self.at;
        match self.number(2, 2) {
            Some(n) if n <= hi => Some(n as i8),
            _ => {
                self.at = save;
                None
            }
        }
    }

    fn prival_5424(&mut self) -> Option<u32> {
        let save = self.at;
        let p = (self.eat(b'<'))
            .then(|| self.digits(1, 3))
            .flatten()
            .filter(|d| d.len() == 1 || d[0] != b'0')
            .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u32>().ok())
            .filter(|p| *p <= 191);
        match p {
            Some(p) if self.eat(b'>') => Some(p),
            _ => {
                self.at = save;
                None
            }
        }
    }

    fn version(&mut self) -> Option<u32> {
        if !matches!(self.peek(), Some(b'1'..=b'9')) {
            return None;
        }
        self.number(1, 3).map(|v| v as u32)
    }

    /// `hh:mm:ss` with an optional fraction of `max_frac` digits at most.
    fn clock(&mut self, max_frac: usize) -> Option<(i8, i8, i8, i32)> {
        let h = self.two(23)?;
        self.eat(b':').then_some(())?;
        let m = self.two(59)?;
        self.eat(b':').then_some(())?;
        let s = self.two(59)?;
        let mut ns = 0;
        if self.peek() == Some(b'.') && self.b.get(self.at + 1).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
            let d = self.digits(1, max_frac)?;
            let v: i64 = std::str::from_utf8(d).ok()?.parse().ok()?;
            ns = if d.len() < 9 {
                v * 10i64.pow(9 - d.len() as u32)
            } else {
                v
            } as i32;
        }
        Some((h, m, s, ns))
    }
}

// ---- RFC 3164 ----

fn rfc3164_parse(raw: &[u8]) -> Option<Found> {
    let mut f = Found::default();
    let mut c = Cursor { b: raw, at: 0 };
    if c.eat(b'<') {
        f.priority = Some(c.number(1, 5)? as u32);
        c.eat(b'>').then_some(())?;
    }
    // `NNN: ` sequence numbers (Cisco's).
    let save = c.at;
    match c.number(1, 19) {
        Some(n) if c.rest().starts_with(b": ") => {
            f.sequence = Some(n);
            c.at += 2;
        }
        _ => c.at = save,
    }
    if matches!(c.peek(), Some(b' ' | b'*' | b'.')) {
        c.at += 1;
    }
    timestamp_3164(&mut c, &mut f)?;
    c.eat(b':');
    c.eat_ws().then_some(())?;
    let after_time = c.at;
    match header_host(c.rest()) {
        Some((host, used)) => {
            f.hostname = Some(host);
            let msg = &raw[after_time + used..];
            let (program, pid, rest) = program_3164(msg);
            f.program = program;
            f.pid = pid;
            f.message =
                String::from_utf8_lossy(rest.filter(|r| !r.is_empty()).unwrap_or(msg)).into_owned();
        }
        None => f.message = String::from_utf8_lossy(c.rest()).into_owned(),
    }
    Some(f)
}

fn timestamp_3164(c: &mut Cursor, f: &mut Found) -> Option<()> {
    let save = c.at;
    // RFC 3339, which some BSDs write: YYYY-MM-DD[Tt ]hh:mm:ss[.f][zone].
    if let Some(y) = c.number(4, 4) {
        if c.eat(b'-') {
            let month = c.two(99)?;
            c.eat(b'-').then_some(())?;
            let day = c.two(39)?;
            matches!(c.peek(), Some(b'T' | b't'))
                .then_some(())
                .or(c.peek().filter(|b| ws(*b)).map(|_| ()))?;
            c.at += 1;
            f.time = Some(c.clock(usize::MAX)?);
            (f.year, f.month, f.day) = (Some(y as i16), Some(month), Some(day));
            f.offset = zone_3164(c);
            return Some(());
        }
        c.at = save;
    }
    let rest = c.rest();
    // "Jan" or "January": the English names, abbreviated to their first three letters.
    let i = MONTHS
        .iter()
        .position(|m| rest.starts_with(&m.as_bytes()[..3]))?;
    c.at += 3;
    if c.rest().starts_with(&MONTHS[i].as_bytes()[3..]) {
        c.at += MONTHS[i].len() - 3;
    }
    f.month = Some(i as i8 + 1);
    c.eat_ws().then_some(())?;
    f.day = Some(match (c.peek(), c.b.get(c.at + 1).copied()) {
        (Some(s), Some(d @ b'1'..=b'9')) if ws(s) => {
            c.at += 2;
            (d - b'0') as i8
        }
        (Some(a @ b'0'..=b'3'), Some(b @ b'0'..=b'9')) if a < b'3' || b <= b'1' => {
            c.at += 2;
            ((a - b'0') * 10 + (b - b'0')) as i8
        }
        (Some(d @ b'1'..=b'9'), _) => {
            c.at += 1;
            (d - b'0') as i8
        }
        _ => return None,
    });
    c.eat_ws().then_some(())?;
    f.time = Some(c.clock(usize::MAX)?);
    Some(())
}

/// `Z`, or `[Z]±hh[[:]mm]`, as Filebeat's SetTimeZone reads it.
fn zone_3164(c: &mut Cursor) -> Option<Offset> {
    let save = c.at;
    let z = c.eat(b'Z') || c.eat(b'z');
    let sign = match c.peek() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ if z => return Some(Offset::UTC),
        _ => return None,
    };
    c.at += 1;
    let Some(h) = c.number(2, 2) else {
        c.at = save;
        return z.then_some(Offset::UTC);
    };
    c.eat(b':');
    let m = c.number(2, 2).unwrap_or(0);
    Offset::from_seconds(sign * (h as i32 * 3600 + m as i32 * 60)).ok()
}

fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':')
}

/// The hostname of the header and how many bytes it took with the `:`s and the space after
/// it; None when the header has none (the rest is then all message).
fn header_host(rest: &[u8]) -> Option<(String, usize)> {
    let run = rest.iter().take_while(|b| host_char(**b)).count();
    let word = &rest[..run];
    if !rest.get(run).is_some_and(|b| ws(*b)) || word.windows(2).any(|w| w == b".." || w == b"--") {
        return None;
    }
    // The hostname ends in a letter or digit, or in `::`; up to two `:` may follow it.
    let ends_ok = |n: usize| {
        n > 0 && (word[n - 1].is_ascii_alphanumeric() || (n >= 2 && &word[n - 2..n] == b"::"))
    };
    let len = (run.saturating_sub(2)..=run)
        .rev()
        .find(|&n| ends_ok(n) && word[n..].iter().all(|b| *b == b':'))?;
    Some((String::from_utf8_lossy(&word[..len]).into_owned(), run + 1))
}

/// `program[pid]: ` at the start of the message: the program, the pid, and the message after
/// it when the whole tag is there. As Filebeat's grammar, a program is taken as soon as a `:`
/// or `[` ends one, even if the tag then turns out incomplete.
fn program_3164(msg: &[u8]) -> (Option<String>, Option<u64>, Option<&[u8]>) {
    let mut program = None;
    for (i, &b) in msg.iter().enumerate() {
        match b {
            b':' if i > 0 => {
                program = Some(String::from_utf8_lossy(&msg[..i]).into_owned());
                if msg.get(i + 1).is_some_and(|b| ws(*b)) {
                    return (program, None, Some(&msg[i + 2..]));
                }
            }
            b'[' if i > 0 => {
                program = Some(String::from_utf8_lossy(&msg[..i]).into_owned());
                let digits = msg[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let close = i + 1 + digits;
                let pid = std::str::from_utf8(&msg[i + 1..close])
                    .ok()
                    .and_then(|d| d.parse().ok());
                if digits > 0 && msg.get(close) == Some(&b']') {
                    let tag = &msg[close + 1..];
                    if tag.first() == Some(&b':') && tag.get(1).is_some_and(|b| ws(*b)) {
                        return (program, pid, Some(&tag[2..]));
                    }
                    return (program, pid, None);
                }
                return (program, None, None);
            }
            b'[' | b']' => return (program, None, None),
            b if ws(b) => return (program, None, None),
            _ => {}
        }
    }
    (program, None, None)
}

// ---- RFC 5424 ----

fn rfc5424_parse(raw: &[u8]) -> Option<Found> {
    let mut f = Found::default();
    let mut c = Cursor { b: raw, at: 0 };
    f.priority = Some(c.prival_5424()?);
    f.version = Some(c.version()?);
    c.eat(b' ').then_some(())?;
    if !c.eat(b'-') {
        let y = c.number(4, 4)?;
        c.eat(b'-').then_some(())?;
        let month = c.two(12).filter(|m| *m >= 1)?;
        c.eat(b'-').then_some(())?;
        let day = c.two(31).filter(|d| *d >= 1)?;
        c.eat(b'T').then_some(())?;
        f.time = Some(c.clock(6)?);
        (f.year, f.month, f.day) = (Some(y as i16), Some(month), Some(day));
        f.offset = Some(if c.eat(b'Z') {
            Offset::UTC
        } else {
            let sign = match c.peek() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            c.at += 1;
            let h = c.two(59)?;
            c.eat(b':').then_some(())?;
            let m = c.two(59)?;
            Offset::from_seconds(sign * (h as i32 * 3600 + m as i32 * 60)).ok()?
        });
    }
    let field = |c: &mut Cursor, max: usize| -> Option<String> {
        c.eat(b' ').then_some(())?;
        let n = c
            .rest()
            .iter()
            .take_while(|b| (0x21..=0x7e).contains(*b))
            .count();
        (1..=max).contains(&n).then(|| {
            let s = String::from_utf8_lossy(&c.rest()[..n]).into_owned();
            c.at += n;
            s
        })
    };
    f.hostname = Some(field(&mut c, 255)?);
    f.app_name = Some(field(&mut c, 48)?);
    f.proc_id = Some(field(&mut c, 128)?);
    f.msg_id = Some(field(&mut c, 32)?);
    c.eat(b' ').then_some(())?;
    if !c.eat(b'-') {
        f.data = Some(structured_data(&mut c)?);
    }
    if c.eat(b' ') {
        let msg = c.rest();
        let msg = msg.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(msg);
        f.message = String::from_utf8_lossy(msg).into_owned();
    }
    (c.at >= c.b.len() || !f.message.is_empty()).then_some(f)
}

fn sd_name(c: &mut Cursor) -> Option<String> {
    let n = c
        .rest()
        .iter()
        .take_while(|b| (0x21..=0x7e).contains(*b) && !matches!(b, b'=' | b']' | b'"'))
        .count();
    (1..=32).contains(&n).then(|| {
        let s = String::from_utf8_lossy(&c.rest()[..n]).into_owned();
        c.at += n;
        s
    })
}

/// `[id k="v" ...]...`: each element a map of its parameters; `\"`, `\]` and `\\` unescaped.
fn structured_data(c: &mut Cursor) -> Option<Map<String, Value>> {
    let mut data = Map::new();
    while c.eat(b'[') {
        let id = sd_name(c)?;
        if data.contains_key(&id) {
            return None;
        }
        let mut params = Map::new();
        while c.eat(b' ') {
            let name = sd_name(c)?;
            (c.eat(b'=') && c.eat(b'"')).then_some(())?;
            let mut value = Vec::new();
            loop {
                match c.peek()? {
                    b'"' => break,
                    b'\\' => match c.b.get(c.at + 1) {
                        Some(&e @ (b'"' | b']' | b'\\')) => {
                            value.push(e);
                            c.at += 2;
                        }
                        _ => return None,
                    },
                    b']' => return None,
                    b => {
                        value.push(b);
                        c.at += 1;
                    }
                }
            }
            c.at += 1;
            params.insert(
                name,
                Value::String(String::from_utf8_lossy(&value).into_owned()),
            );
        }
        c.eat(b']').then_some(())?;
        data.insert(id, Value::Object(params));
    }
    (!data.is_empty()).then_some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(format: Format) -> SyslogConfig {
        SyslogConfig {
            format,
            zone: TimeZone::UTC,
        }
    }

    fn read(format: Format, line: &str) -> Option<Value> {
        parse(&cfg(format), line.as_bytes()).ok().map(|p| {
            let mut f = p.fields;
            f.insert("@timestamp".into(), json!(p.time.to_string()));
            Value::Object(f)
        })
    }

    #[test]
    fn bsd_lines_read_as_filebeat_reads_them() {
        let e = read(
            Format::Rfc3164,
            "<34>Oct 11 22:14:15 mymachine su[123]: 'su root' failed",
        )
        .unwrap();
        assert_eq!(e["hostname"], "mymachine");
        assert_eq!(e["process"], json!({"program": "su", "pid": 123}));
        assert_eq!(e["message"], "'su root' failed");
        assert_eq!(e["syslog"]["facility_label"], "security/authorization");
        assert_eq!(e["event"]["severity"], 2);
        let e = read(Format::Rfc3164, "<34>Oct 11 22:14:15 host prog[abc]: x").unwrap();
        assert_eq!(e["process"], json!({"program": "prog"}));
        assert_eq!(e["message"], "prog[abc]: x");
        let e = read(
            Format::Rfc3164,
            "<34>Oct 11 22:14:15  host prog: two spaces",
        )
        .unwrap();
        assert!(e.get("hostname").is_none());
        assert_eq!(e["message"], " host prog: two spaces");
        let e = read(Format::Rfc3164, "Dec  3 10:00:00 host app: no priority").unwrap();
        assert_eq!((&e["syslog"], &e["event"]), (&json!({}), &json!({})));
        let e = read(
            Format::Rfc3164,
            "<34>2003-10-11T22:14:15.003+02:00 host p: iso",
        )
        .unwrap();
        assert_eq!(e["@timestamp"], "2003-10-11T20:14:15.003Z");
        for bad in [
            "not syslog",
            "<34>oct 11 22:14:15 h p: x",
            "<34>Oct 11 2021 22:14:15 h p: x",
        ] {
            assert!(read(Format::Rfc3164, bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn rfc5424_reads_header_structured_data_and_message() {
        let e = read(
            Format::Auto,
            "<165>1 2003-10-11T22:14:15.003Z host app 99 ID47 [a@1 x=\"q\\\"uote\" y=\"br\\]ack\"][b@2] \u{feff}msg",
        )
        .unwrap();
        assert_eq!(
            e["syslog"]["data"],
            json!({"a@1": {"x": "q\"uote", "y": "br]ack"}, "b@2": {}})
        );
        assert_eq!(e["process"], json!({"name": "app", "entity_id": "99"}));
        assert_eq!(
            (&e["message"], &e["syslog"]["version"]),
            (&json!("msg"), &json!(1))
        );
        for bad in [
            "<165>1 - host app - - - nil time",
            "<165>1 2003-10-11T22:14:15.003Z host app - - -",
            "<192>1 2003-10-11T22:14:15Z h a - - - pri",
            "<165>1 2003-10-11T22:14:15.1234567Z h a - - - frac",
        ] {
            assert!(read(Format::Rfc5424, bad).is_none(), "{bad}");
        }
    }

    proptest::proptest! {
        /// Any bytes: a parse or a refusal, never a panic.
        #[test]
        fn any_bytes_are_safe(raw in proptest::collection::vec(proptest::num::u8::ANY, 0..80), auto in proptest::bool::ANY) {
            let _ = parse(&cfg(if auto { Format::Auto } else { Format::Rfc3164 }), &raw);
            let _ = parse(&cfg(Format::Rfc5424), &raw);
        }
    }
}
