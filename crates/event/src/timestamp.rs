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
        let s = s.trim();
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

#[cfg(test)]
mod tests {
    use super::*;
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
