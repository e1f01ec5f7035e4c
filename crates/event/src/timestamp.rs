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
        use fmt::Write;
        let dt = self.0.to_zoned_datetime(jiff::tz::TimeZone::UTC);
        let _ = write!(
            out,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second()
        );
        let n = dt.subsec_nanosecond();
        let _ = if n == 0 {
            write!(out, ".000Z")
        } else if n % 1_000_000 == 0 {
            write!(out, ".{:03}Z", n / 1_000_000)
        } else if n % 1_000 == 0 {
            write!(out, ".{:06}Z", n / 1_000)
        } else {
            write!(out, ".{:09}Z", n)
        };
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
}
