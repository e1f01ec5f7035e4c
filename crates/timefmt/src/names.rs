//! English month and weekday names (the JVM's default locale on Logstash's images).

pub const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

pub fn short(name: &str) -> &str {
    &name[..3]
}

/// Matches a full or short name at the start of `s`, case-insensitively; returns (index, consumed bytes).
pub fn match_name(s: &str, names: &[&str]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, full) in names.iter().enumerate() {
        for cand in [*full, short(full)] {
            if s.len() >= cand.len()
                && s.is_char_boundary(cand.len())
                && s[..cand.len()].eq_ignore_ascii_case(cand)
                && best.is_none_or(|(_, n)| cand.len() > n)
            {
                best = Some((i, cand.len()));
            }
        }
    }
    best
}
