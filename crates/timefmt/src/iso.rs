//! The date filter's `ISO8601`: Joda's `dateTimeParser()` then four space-separated fallbacks.

use std::sync::OnceLock;

use jiff::civil;
use jiff::tz::{Offset, TimeZone};
use jiff::Timestamp;

use crate::parse::{number, offset, ParseError, Parsed, Parser};

pub fn parse_iso8601(
    text: &str,
    default_tz: &TimeZone,
    now: Timestamp,
) -> Result<Timestamp, ParseError> {
    if let Some(t) = joda_date_time(text, default_tz, now) {
        return Ok(t);
    }
    static FALLBACKS: OnceLock<Vec<Parser>> = OnceLock::new();
    let fallbacks = FALLBACKS.get_or_init(|| {
        [
            "yyyy-MM-dd HH:mm:ss.SSSZ",
            "yyyy-MM-dd HH:mm:ss.SSS",
            "yyyy-MM-dd HH:mm:ss,SSSZ",
            "yyyy-MM-dd HH:mm:ss,SSS",
        ]
        .iter()
        .filter_map(|p| Parser::joda(p).ok())
        .collect()
    });
    for p in fallbacks {
        if let Ok(t) = p.parse(text, default_tz, now) {
            return Ok(t);
        }
    }
    Err(ParseError::Invalid(text.to_string()))
}

/// date [ 'T' time [offset] ], where date is `yyyy[-MM[-dd]]`, `yyyy-DDD` or `xxxx-'W'ww[-e]`.
fn joda_date_time(text: &str, default_tz: &TimeZone, now: Timestamp) -> Option<Timestamp> {
    let mut p = Parsed::default();
    let (year, mut pos) = number(text, 4, 9, true)?;
    p.year = Some(year);
    let mut week: Option<(i64, i64)> = None;
    if let Some(r) = text[pos..].strip_prefix('-') {
        if let Some(w) = r.strip_prefix('W') {
            let (wk, n) = number(w, 2, 2, false)?;
            pos += 2 + n;
            let mut dow = 1;
            if let Some(d) = text[pos..].strip_prefix('-') {
                let (v, n) = number(d, 1, 1, false)?;
                dow = v;
                pos += 1 + n;
            }
            week = Some((wk, dow));
        } else {
            let (v, n) = number(r, 2, 3, false)?;
            pos += 1 + n;
            if n == 3 {
                p.day_of_year = Some(v);
            } else {
                p.month = Some(v);
                if let Some(d) = text[pos..].strip_prefix('-') {
                    let (v, n) = number(d, 2, 2, false)?;
                    p.day = Some(v);
                    pos += 1 + n;
                }
            }
        }
    }
    if let Some(t) = text[pos..].strip_prefix('T') {
        pos += 1;
        let (h, n) = number(t, 2, 2, false)?;
        p.hour = Some(h);
        pos += n;
        if let Some(r) = text[pos..].strip_prefix(':') {
            let (m, n) = number(r, 2, 2, false)?;
            p.minute = Some(m);
            pos += 1 + n;
            if let Some(r) = text[pos..].strip_prefix(':') {
                let (s, n) = number(r, 2, 2, false)?;
                p.second = Some(s);
                pos += 1 + n;
                if let Some(r) = text[pos..].strip_prefix(['.', ',']) {
                    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 {
                        return None;
                    }
                    let ms: String = r[..digits].chars().chain("000".chars()).take(3).collect();
                    p.nanos = ms.parse::<i64>().ok()? * 1_000_000;
                    pos += 1 + digits;
                }
            }
        }
        if pos < text.len() {
            let (secs, n) = offset(&text[pos..])?;
            p.zone = Some(TimeZone::fixed(Offset::from_seconds(secs).ok()?));
            pos += n;
        }
    }
    if pos != text.len() {
        return None;
    }
    if let Some((wk, dow)) = week {
        let wd = civil::ISOWeekDate::new(
            i16::try_from(year).ok()?,
            i8::try_from(wk).ok()?,
            civil::Weekday::from_monday_one_offset(i8::try_from(dow).ok()?).ok()?,
        )
        .ok()?;
        let d = wd.date();
        p.month = Some(d.month() as i64);
        p.day = Some(d.day() as i64);
        p.year = Some(d.year() as i64);
    }
    p.build(default_tz, now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<String> {
        let now: Timestamp = "2024-06-15T00:00:00Z".parse().unwrap();
        parse_iso8601(s, &TimeZone::UTC, now)
            .ok()
            .map(|t| t.to_string())
    }

    #[test]
    fn forms() {
        assert_eq!(
            iso("2024-05-01T12:34:56.123456789Z").unwrap(),
            "2024-05-01T12:34:56.123Z"
        );
        assert_eq!(
            iso("2024-05-01T12:34:56+02:00").unwrap(),
            "2024-05-01T10:34:56Z"
        );
        assert_eq!(iso("2024-05-01T12:34").unwrap(), "2024-05-01T12:34:00Z");
        assert_eq!(iso("2024-05-01").unwrap(), "2024-05-01T00:00:00Z");
        assert_eq!(iso("2024-122").unwrap(), "2024-05-01T00:00:00Z");
        assert_eq!(iso("2024-W18-3").unwrap(), "2024-05-01T00:00:00Z");
        assert_eq!(
            iso("2024-05-01 12:34:56.789+0100").unwrap(),
            "2024-05-01T11:34:56.789Z"
        );
        assert_eq!(
            iso("2024-05-01 12:34:56,789").unwrap(),
            "2024-05-01T12:34:56.789Z"
        );
        assert_eq!(iso("2024-01-01 12:00:00"), None);
        assert_eq!(iso("nope"), None);
    }
}
