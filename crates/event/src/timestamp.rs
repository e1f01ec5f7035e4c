//! `@timestamp`: nanosecond storage, printed as Logstash >= 8.4 does (3, 6 or 9 fraction digits, UTC `Z`).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub jiff::Timestamp);

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp(jiff::Timestamp::now())
    }

    pub fn from_millis(ms: i64) -> Option<Timestamp> {
        jiff::Timestamp::from_millisecond(ms).ok().map(Timestamp)
    }

    pub fn epoch_seconds(&self) -> i64 {
        self.0.as_second()
    }

    pub fn millis(&self) -> i64 {
        self.0.as_millisecond()
    }

    /// Logstash's lenient `@timestamp` parse: `yyyy-MM-dd`, optional `T`/space + time, optional zone
    /// (missing zone means UTC here: rstash never uses the machine's zone for event data).
    pub fn parse_lenient(s: &str) -> Option<Timestamp> {
        match parse_utc(s.as_bytes()) {
            Some(t) => Some(Timestamp(t)),
            None => Timestamp::parse_lenient_slow(s.trim()),
        }
    }

    /// Kept out of line: its frame (jiff's parsers) would otherwise be set up for every event.
    #[inline(never)]
    fn parse_lenient_slow(s: &str) -> Option<Timestamp> {
        if let Ok(t) = s.parse::<jiff::Timestamp>() {
            return Some(Timestamp(t));
        }
        let tz = jiff::tz::TimeZone::UTC;
        rstash_timefmt::parse_iso8601(s, &tz, jiff::Timestamp::now())
            .ok()
            .or_else(|| {
                s.replace(' ', "T")
                    .parse::<jiff::civil::DateTime>()
                    .ok()?
                    .to_zoned_datetime(tz)
                    .ok()
                    .map(|z| z.timestamp())
            })
            .map(Timestamp)
    }

    pub fn to_iso(&self) -> String {
        let mut s = String::with_capacity(30);
        self.write_iso(&mut s);
        s
    }

    pub fn write_iso(&self, out: &mut String) {
        out.push_str(&self.iso());
    }

    /// The ISO 8601 text on the stack (every output writes it, once per event). Digits are put
    /// in place for years 0 to 9999; `write!` formats the rest.
    pub fn iso(&self) -> Iso {
        let dt = jiff::tz::Offset::UTC.to_datetime(self.0);
        let n = dt.subsec_nanosecond() as u32;
        // Fraction digits: 3, 6 or 9, as few as the value needs.
        let (frac, digits) = if n.is_multiple_of(1_000_000) {
            (n / 1_000_000, 3)
        } else if n.is_multiple_of(1_000) {
            (n / 1_000, 6)
        } else {
            (n, 9)
        };
        let mut iso = Iso {
            buf: [0; 32],
            len: 0,
        };
        if (0..=9999).contains(&dt.year()) {
            // Each part and the separator after it: `2026-12-04T11:48:57.` then the fraction.
            let parts = [
                (dt.year() as u32, 4, b'-'),
                (dt.month() as u32, 2, b'-'),
                (dt.day() as u32, 2, b'T'),
                (dt.hour() as u32, 2, b':'),
                (dt.minute() as u32, 2, b':'),
                (dt.second() as u32, 2, b'.'),
                (frac, digits, b'Z'),
            ];
            let mut at = 0;
            for (v, width, sep) in parts {
                put_digits(&mut iso.buf[at..at + width], v);
                iso.buf[at + width] = sep;
                at += width + 1;
            }
            iso.len = at as u8;
        } else {
            use fmt::Write;
            let _ = write!(
                iso,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:0digits$}Z",
                dt.year(),
                dt.month(),
                dt.day(),
                dt.hour(),
                dt.minute(),
                dt.second(),
                frac,
            );
        }
        iso
    }
}

/// Writes `v` in decimal into all of `out`, zero-padded on the left.
fn put_digits(out: &mut [u8], mut v: u32) {
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// A timestamp's ISO 8601 text (at most 31 bytes: a signed five-character year, nine digits).
pub struct Iso {
    buf: [u8; 32],
    len: u8,
}

impl std::ops::Deref for Iso {
    type Target = str;
    fn deref(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(&self.buf[..self.len as usize]).unwrap_or_default()
    }
}

impl fmt::Write for Iso {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let at = self.len as usize;
        let dst = self.buf.get_mut(at..at + s.len()).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len += s.len() as u8;
        Ok(())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_iso())
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the form Beats and Logstash write, read without a general
/// parser (a beats event's `@timestamp` took ~900 instructions through jiff's). Anything else,
/// a leap second included, is `None` and goes the general way.
fn parse_utc(s: &[u8]) -> Option<jiff::Timestamp> {
    let n = s.len();
    if !(20..=30).contains(&n) || s[n - 1] != b'Z' {
        return None;
    }
    let head: &[u8; 19] = s[..19].try_into().ok()?;
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    // Each byte's digit value; a non-digit wraps to 10 or more.
    let d = head.map(|c| c.wrapping_sub(b'0'));
    let bad = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .fold(false, |bad, &i| bad | (d[i] > 9));
    if bad {
        return None;
    }
    let two = |i: usize| i64::from(d[i]) * 10 + i64::from(d[i + 1]);
    let year = two(0) * 100 + two(2);
    let (month, day) = (two(5), two(8));
    let (hour, minute, second) = (two(11), two(14), two(17));
    let nanos = match &s[19..n - 1] {
        [] => 0,
        [b'.', frac @ ..] if (1..=9).contains(&frac.len()) => {
            let mut v = 0;
            for &c in frac {
                let c = c.wrapping_sub(b'0');
                if c > 9 {
                    return None;
                }
                v = v * 10 + i32::from(c);
            }
            v * 10i32.pow(9 - frac.len() as u32)
        }
        _ => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if !(1..=12).contains(&month) || !(1..=month_days).contains(&day) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date, counted in 400-year eras from March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    jiff::Timestamp::new(secs, nanos).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The short way reads what jiff reads, and only that: the same instant, or nothing.
        #[test]
        fn utc_text_reads_as_jiff_reads_it(
            y in 0i64..=9999, mo in 0i64..=13, d in 0i64..=32, h in 0i64..=24, mi in 0i64..=60,
            se in 0i64..=60, frac in proptest::option::of("[0-9]{1,10}"),
        ) {
            let text = format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{}Z",
                frac.map(|f| format!(".{f}")).unwrap_or_default()
            );
            let ours = parse_utc(text.as_bytes());
            let jiffs = text.parse::<jiff::Timestamp>().ok();
            if ours.is_some() {
                proptest::prop_assert_eq!(ours, jiffs, "{}", text);
            } else if se < 60 && text.len() <= 30 {
                // Jiff's range ends a day short of 9999-12-31: past it, and invalid dates, are
                // the only canonical texts the short way leaves to it.
                proptest::prop_assert!(jiffs.is_none() || y == 9999, "{}", text);
            }
        }
    }

    #[test]
    fn beats_timestamps_read_the_short_way() {
        for (text, want) in [
            ("2026-12-04T19:41:25.123Z", "2026-12-04T19:41:25.123Z"),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
            (
                "1969-12-31T23:59:59.999999999Z",
                "1969-12-31T23:59:59.999999999Z",
            ),
            ("2000-03-01T12:00:00.5Z", "2000-03-01T12:00:00.5Z"),
        ] {
            assert_eq!(parse_utc(text.as_bytes()), want.parse().ok(), "{text}");
            assert!(parse_utc(text.as_bytes()).is_some(), "{text}");
        }
        for text in [
            "2023-02-29T00:00:00Z",
            "2026-12-04T19:41:60Z",
            "2026-12-04 19:41:25Z",
            "2026-12-04T19:41:25.Z",
            "2026-12-04T19:41:25+00:00",
        ] {
            assert_eq!(parse_utc(text.as_bytes()), None, "{text}");
        }
    }
    use proptest::prelude::*;

    #[test]
    fn fraction_groups() {
        let t = |s: &str| Timestamp(s.parse().unwrap()).to_iso();
        assert_eq!(t("2024-05-01T12:34:56Z"), "2024-05-01T12:34:56.000Z");
        assert_eq!(t("2024-05-01T12:34:56.1Z"), "2024-05-01T12:34:56.100Z");
        assert_eq!(
            t("2024-05-01T12:34:56.1234Z"),
            "2024-05-01T12:34:56.123400Z"
        );
        assert_eq!(
            t("2024-05-01T12:34:56.00000001Z"),
            "2024-05-01T12:34:56.000000010Z"
        );
    }

    #[test]
    fn lenient() {
        assert_eq!(
            Timestamp::parse_lenient("2024-05-01").unwrap().to_iso(),
            "2024-05-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::parse_lenient("2024-05-01 01:02:03")
                .unwrap()
                .to_iso(),
            "2024-05-01T01:02:03.000Z"
        );
        assert!(Timestamp::parse_lenient("yesterday").is_none());
    }

    proptest::proptest! {
        /// The digits put in place read as `write!` formats the civil time, over jiff's range.
        #[test]
        fn iso_text_as_formatted(
            secs in jiff::Timestamp::MIN.as_second()..jiff::Timestamp::MAX.as_second(),
            nanos in proptest::prop_oneof![0..1_000_000_000i32, (0..1000i32).prop_map(|m| m * 1_000_000), (0..1_000_000i32).prop_map(|u| u * 1000)],
        ) {
            let t = jiff::Timestamp::new(secs, nanos).unwrap();
            let dt = jiff::tz::Offset::UTC.to_datetime(t);
            let n = dt.subsec_nanosecond();
            let frac = if n % 1_000_000 == 0 {
                format!("{:03}", n / 1_000_000)
            } else if n % 1_000 == 0 {
                format!("{:06}", n / 1_000)
            } else {
                format!("{n:09}")
            };
            let want = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{frac}Z",
                dt.year(), dt.month(), dt.day(), dt.hour(), dt.minute(), dt.second()
            );
            prop_assert_eq!(Timestamp(t).to_iso(), want);
        }
    }
}
