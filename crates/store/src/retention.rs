//! `--retention.days N`: daily indices (a name ending in a `YYYY.MM.dd` or `YYYY-MM-dd` date, as
//! `weblogs-%{+YYYY.MM.dd}` makes them) are deleted once their day is more than N days old: the
//! part of Elasticsearch's index lifecycle management that log users rely on.

use jiff::civil::Date;
use jiff::Timestamp;

#[derive(Debug, Clone)]
pub struct Retention {
    pub days: u32,
    /// Only indices matching these patterns (`weblogs-*`); all daily indices when empty.
    pub patterns: Vec<String>,
}

/// The date a daily index's name ends with.
fn day_of(name: &str) -> Option<Date> {
    let tail = name.get(name.len().checked_sub(10)?..)?;
    let sep = tail.as_bytes()[4];
    if !(sep == b'.' || sep == b'-') || tail.as_bytes()[7] != sep {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| tail.get(r)?.parse::<i16>().ok();
    Date::new(digits(0..4)?, digits(5..7)? as i8, digits(8..10)? as i8).ok()
}

impl Retention {
    /// The names among `names` whose day ended more than `days` days before `now` (UTC).
    pub fn expired<'a>(&self, names: impl Iterator<Item = &'a str>, now: Timestamp) -> Vec<String> {
        let today = jiff::tz::TimeZone::UTC.to_datetime(now).date();
        let Ok(cutoff) = today.checked_sub(jiff::Span::new().days(i64::from(self.days))) else {
            return Vec::new();
        };
        names
            .filter(|n| {
                self.patterns.is_empty()
                    || self.patterns.iter().any(|p| crate::store::wildcard(p, n))
            })
            .filter(|n| day_of(n).is_some_and(|d| d < cutoff))
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_n_days() {
        let r = Retention {
            days: 7,
            patterns: vec![],
        };
        let now: Timestamp = "2024-05-20T10:00:00Z".parse().unwrap();
        let names = [
            "weblogs-2024.05.12",
            "weblogs-2024.05.13",
            "weblogs-2024.05.20",
            "app-2024-05-01",
            "notes",
            "x-2024.13.01",
        ];
        assert_eq!(
            r.expired(names.into_iter(), now),
            vec!["weblogs-2024.05.12", "app-2024-05-01"]
        );
        let only = Retention {
            days: 7,
            patterns: vec!["app-*".into()],
        };
        assert_eq!(only.expired(names.into_iter(), now), vec!["app-2024-05-01"]);
    }
}
