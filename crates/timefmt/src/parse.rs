//! Parsing text with a Joda pattern, as the date filter does: the whole text must be consumed,
//! literals match case-insensitively, a field followed by another numeric field is fixed-width.

use jiff::civil;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;
use thiserror::Error;

use crate::names::Names;
use crate::pattern::{is_numeric, tokenize, Dialect, PatternError, Token};

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("Invalid format: \"{0}\"")]
    Invalid(String),
    #[error("Invalid format: \"{0}\" is malformed at \"{1}\"")]
    Malformed(String, String),
    #[error("Cannot parse \"{0}\": value out of range")]
    Range(String),
}

#[derive(Debug, Clone)]
pub struct Parser {
    tokens: Vec<Token>,
    names: Names,
    /// java.time keeps fractions to the nanosecond; Joda to the millisecond.
    nanos: bool,
}

/// What the text said; missing parts take their defaults when the instant is built.
#[derive(Default)]
pub(crate) struct Parsed {
    pub year: Option<i64>,
    pub two_digit_year: Option<i64>,
    pub month: Option<i64>,
    pub day: Option<i64>,
    pub day_of_year: Option<i64>,
    pub hour: Option<i64>,
    pub hour12: Option<i64>,
    pub pm: Option<bool>,
    pub minute: Option<i64>,
    pub second: Option<i64>,
    pub nanos: i64,
    pub zone: Option<TimeZone>,
}

impl Parser {
    pub fn joda(pattern: &str) -> Result<Parser, PatternError> {
        let tokens = tokenize(pattern, Dialect::Joda)?;
        if tokens
            .iter()
            .any(|t| matches!(t, Token::Field { letter: 'z', .. }))
        {
            return Err(PatternError::IllegalComponent(
                "z (time zone names cannot be parsed)".into(),
            ));
        }
        Ok(Parser {
            tokens,
            names: Names::default(),
            nanos: false,
        })
    }

    /// A java.time pattern (Elasticsearch's date `format`s): fractions keep their nanoseconds.
    pub fn java(pattern: &str) -> Result<Parser, PatternError> {
        let mut p = Parser::joda(pattern)?;
        p.nanos = true;
        Ok(p)
    }

    /// Month and weekday names of another language (the date filter's `locale`).
    pub fn with_names(mut self, names: Names) -> Parser {
        self.names = names;
        self
    }

    /// Parses `text`; `default_tz` applies when the text has no zone; `now` supplies a missing year.
    pub fn parse(
        &self,
        text: &str,
        default_tz: &TimeZone,
        now: Timestamp,
    ) -> Result<Timestamp, ParseError> {
        let mut p = Parsed::default();
        let mut pos = 0usize;
        for (i, t) in self.tokens.iter().enumerate() {
            let rest = &text[pos..];
            let malformed = || ParseError::Malformed(text.to_string(), rest.to_string());
            match t {
                Token::Lit(l) => {
                    if rest.len() < l.len()
                        || !rest.is_char_boundary(l.len())
                        || !rest[..l.len()].eq_ignore_ascii_case(l)
                    {
                        return Err(malformed());
                    }
                    pos += l.len();
                }
                Token::Field { letter, count } => {
                    let fixed = self.tokens.get(i + 1).is_some_and(is_numeric) && is_numeric(t);
                    pos += self
                        .field(&mut p, *letter, *count, fixed, rest)
                        .ok_or_else(malformed)?;
                }
            }
        }
        if pos != text.len() {
            return Err(ParseError::Malformed(
                text.to_string(),
                text[pos..].to_string(),
            ));
        }
        p.build(default_tz, now)
            .ok_or_else(|| ParseError::Range(text.to_string()))
    }

    fn field(
        &self,
        p: &mut Parsed,
        letter: char,
        count: usize,
        fixed: bool,
        s: &str,
    ) -> Option<usize> {
        let max = |var: usize| if fixed { count.max(1) } else { var };
        match letter {
            'y' | 'Y' | 'x' if count == 2 => {
                if !fixed {
                    // Lenient two-digit year: more digits mean a full year.
                    let (v, n) = number(s, 1, 9, true)?;
                    if n > 2 || s.starts_with(['+', '-']) {
                        p.year = Some(v);
                    } else {
                        p.two_digit_year = Some(v);
                    }
                    return Some(n);
                }
                let (v, n) = number(s, 2, 2, false)?;
                p.two_digit_year = Some(v);
                Some(n)
            }
            'y' | 'Y' | 'x' => {
                let (v, n) = number(s, 1, max(9), true)?;
                p.year = Some(v);
                Some(n)
            }
            'M' if count >= 3 => {
                let (i, n) = self.names.month(s)?;
                p.month = Some(i as i64 + 1);
                Some(n)
            }
            'E' => self.names.weekday(s).map(|(_, n)| n),
            'a' => {
                let up = s.get(..2)?.to_ascii_uppercase();
                p.pm = Some(match up.as_str() {
                    "AM" => false,
                    "PM" => true,
                    _ => return None,
                });
                Some(2)
            }
            'S' => {
                let digits = s.bytes().take(count).take_while(u8::is_ascii_digit).count();
                if digits == 0 {
                    return None;
                }
                let v: i64 = s[..digits].parse().ok()?;
                p.nanos = v * 10i64.pow(9 - digits as u32);
                // Joda keeps milliseconds only.
                if !self.nanos {
                    p.nanos -= p.nanos % 1_000_000;
                }
                Some(digits)
            }
            'Z' if count >= 3 => zone_id(s).map(|(tz, n)| {
                p.zone = Some(tz);
                n
            }),
            'Z' => offset(s).map(|(secs, n)| {
                p.zone = Offset::from_seconds(secs).ok().map(TimeZone::fixed);
                n
            }),
            'G' => ["AD", "BC", "CE", "BCE"]
                .iter()
                .find(|e| s.len() >= e.len() && s[..e.len()].eq_ignore_ascii_case(e))
                .map(|e| e.len()),
            _ => {
                let var = match letter {
                    'D' => 3,
                    'C' | 'w' | 'e' => 2,
                    _ => 2,
                };
                let (v, n) = number(s, 1, max(var.max(count)), false)?;
                match letter {
                    'M' => p.month = Some(v),
                    'd' => p.day = Some(v),
                    'D' => p.day_of_year = Some(v),
                    'H' => p.hour = Some(v),
                    'k' => p.hour = Some(if v == 24 { 0 } else { v }),
                    'h' => p.hour12 = Some(if v == 12 { 0 } else { v }),
                    'K' => p.hour12 = Some(v),
                    'm' => p.minute = Some(v),
                    's' => p.second = Some(v),
                    _ => {} // century, week, day-of-week: read and not used
                }
                Some(n)
            }
        }
    }
}

/// Reads between `min` and `max` ASCII digits, with an optional sign when `signed`.
pub(crate) fn number(s: &str, min: usize, max: usize, signed: bool) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let mut i = 0;
    let neg = signed && matches!(b.first(), Some(b'-'));
    if signed && matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    let start = i;
    while i < b.len() && i - start < max && b[i].is_ascii_digit() {
        i += 1;
    }
    if i - start < min {
        return None;
    }
    let v: i64 = s[start..i].parse().ok()?;
    Some((if neg { -v } else { v }, i))
}

/// `Z`, `+HH`, `+HHMM`, `+HH:MM`.
pub(crate) fn offset(s: &str) -> Option<(i32, usize)> {
    let b = s.as_bytes();
    match b.first()? {
        b'Z' | b'z' => return Some((0, 1)),
        b'+' | b'-' => {}
        _ => return None,
    }
    let sign = if b[0] == b'-' { -1 } else { 1 };
    let (h, mut n) = number(&s[1..], 2, 2, false)?;
    n += 1;
    let mut m = 0;
    let rest = &s[n..];
    if let Some(r) = rest.strip_prefix(':') {
        let (v, k) = number(r, 2, 2, false)?;
        m = v;
        n += 1 + k;
    } else if let Some((v, k)) = number(rest, 2, 2, false) {
        m = v;
        n += k;
    }
    if h > 23 || m > 59 {
        return None;
    }
    Some((sign * (h as i32 * 3600 + m as i32 * 60), n))
}

fn zone_id(s: &str) -> Option<(TimeZone, usize)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || "/_+-".contains(c)))
        .unwrap_or(s.len());
    let mut cut = end;
    while cut > 0 {
        if let Ok(tz) = TimeZone::get(&s[..cut]) {
            return Some((tz, cut));
        }
        cut = s[..cut].rfind(['/', '_', '+', '-']).unwrap_or(0);
    }
    None
}

impl Parsed {
    pub(crate) fn build(self, default_tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
        let tz = self.zone.clone().unwrap_or_else(|| default_tz.clone());
        let now_civil = now.to_zoned_datetime(tz.clone());
        let month = self.month.unwrap_or(1);
        let year = match (self.year, self.two_digit_year) {
            (Some(y), _) => y,
            (None, Some(yy)) => {
                // Joda's pivot: the 100 years centred on now.
                let pivot = now_civil.year() as i64 - 50;
                let mut y = pivot - pivot.rem_euclid(100) + yy;
                if y < pivot {
                    y += 100;
                }
                y
            }
            (None, None) => {
                let (cy, cm) = (now_civil.year() as i64, now_civil.month() as i64);
                match (cm, month) {
                    (1, 12) => cy - 1,
                    (12, 1) => cy + 1,
                    _ => cy,
                }
            }
        };
        let hour = match (self.hour, self.hour12, self.pm) {
            (Some(h), _, _) => h,
            (None, Some(h), pm) => h + if pm == Some(true) { 12 } else { 0 },
            (None, None, _) => 0,
        };
        let y = i16::try_from(year).ok()?;
        let date = match self.day_of_year {
            Some(doy) if self.month.is_none() => civil::date(y, 1, 1)
                .checked_add(jiff::Span::new().days(doy - 1))
                .ok()?,
            _ => civil::Date::new(
                y,
                i8::try_from(month).ok()?,
                i8::try_from(self.day.unwrap_or(1)).ok()?,
            )
            .ok()?,
        };
        let time = civil::Time::new(
            i8::try_from(hour).ok()?,
            i8::try_from(self.minute.unwrap_or(0)).ok()?,
            i8::try_from(self.second.unwrap_or(0)).ok()?,
            i32::try_from(self.nanos).ok()?,
        )
        .ok()?;
        let zoned = date.to_datetime(time).to_zoned_datetime(tz).ok()?;
        Some(zoned.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2024-06-15T00:00:00Z".parse().unwrap()
    }

    fn p(pat: &str, s: &str) -> Result<String, ParseError> {
        Parser::joda(pat)
            .unwrap()
            .parse(s, &TimeZone::UTC, now())
            .map(|t| t.to_string())
    }

    #[test]
    fn apache_and_syslog() {
        assert_eq!(
            p("dd/MMM/yyyy:HH:mm:ss Z", "01/May/2024:12:34:56 +0200").unwrap(),
            "2024-05-01T10:34:56Z"
        );
        assert_eq!(
            p("MMM  d HH:mm:ss", "Mar  4 01:02:03").unwrap(),
            "2024-03-04T01:02:03Z"
        );
        assert_eq!(
            p("MMM dd HH:mm:ss", "mar 14 01:02:03").unwrap(),
            "2024-03-14T01:02:03Z"
        );
        assert_eq!(
            p("yyyyMMddHHmmss", "20240501123456").unwrap(),
            "2024-05-01T12:34:56Z"
        );
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss,SSS", "2024-05-01 12:34:56,7").unwrap(),
            "2024-05-01T12:34:56.7Z"
        );
        assert_eq!(
            p("yyyy-MM-dd ZZZ", "2024-05-01 Europe/Paris").unwrap(),
            "2024-04-30T22:00:00Z"
        );
        assert_eq!(
            p("yy-MM-dd h:mm a", "99-01-02 1:05 pm").unwrap(),
            "1999-01-02T13:05:00Z"
        );
    }

    #[test]
    fn rejects_leftovers_and_extra_fraction_digits() {
        assert!(p("yyyy-MM-dd", "2024-05-01x").is_err());
        assert!(p("HH:mm:ss.SSS", "12:00:00.1234").is_err());
        assert!(p("yyyy-MM-dd", "2024-13-01").is_err());
        assert!(Parser::joda("yyyy z").is_err());
    }

    #[test]
    fn year_guess_across_new_year() {
        let jan: Timestamp = "2025-01-02T00:00:00Z".parse().unwrap();
        let parser = Parser::joda("MMM dd HH:mm:ss").unwrap();
        let t = parser
            .parse("Dec 31 23:59:59", &TimeZone::UTC, jan)
            .unwrap();
        assert_eq!(t.to_string(), "2024-12-31T23:59:59Z");
    }
}
