//! Formatting an instant with a compiled Joda or java.time pattern.

use std::fmt::Write;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::fields::Fields;
use crate::names::{short, MONTHS, WEEKDAYS};
use crate::pattern::{tokenize, Dialect, PatternError, Token};

#[derive(Debug, Clone)]
pub struct Formatter {
    tokens: Vec<Token>,
    dialect: Dialect,
}

impl Formatter {
    pub fn new(pattern: &str, dialect: Dialect) -> Result<Formatter, PatternError> {
        Ok(Formatter {
            tokens: tokenize(pattern, dialect)?,
            dialect,
        })
    }

    pub fn joda(pattern: &str) -> Result<Formatter, PatternError> {
        Self::new(pattern, Dialect::Joda)
    }

    pub fn java(pattern: &str) -> Result<Formatter, PatternError> {
        Self::new(pattern, Dialect::JavaTime)
    }

    /// Formats in UTC, as Logstash's sprintf always does.
    pub fn format_utc(&self, ts: Timestamp, out: &mut String) {
        self.format(ts, &TimeZone::UTC, out)
    }

    pub fn format(&self, ts: Timestamp, tz: &TimeZone, out: &mut String) {
        // Joda works in milliseconds.
        let ts = match self.dialect {
            Dialect::Joda => {
                let ms = ts.as_millisecond();
                Timestamp::from_millisecond(ms).unwrap_or(ts)
            }
            Dialect::JavaTime => ts,
        };
        let f = Fields::new(ts, tz);
        for t in &self.tokens {
            match t {
                Token::Lit(s) => out.push_str(s),
                Token::Field { letter, count } => match self.dialect {
                    Dialect::Joda => joda_field(&f, *letter, *count, out),
                    Dialect::JavaTime => java_field(&f, *letter, *count, out),
                },
            }
        }
    }
}

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        let _ = write!(out, "-{:0width$}", -v, width = width);
    } else {
        let _ = write!(out, "{:0width$}", v, width = width);
    }
}

fn text(out: &mut String, full: &str, count: usize, long_from: usize) {
    out.push_str(if count >= long_from {
        full
    } else {
        short(full)
    })
}

fn offset(out: &mut String, secs: i32, colon: bool) {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m) = (a / 3600, (a / 60) % 60);
    if colon {
        let _ = write!(out, "{sign}{h:02}:{m:02}");
    } else {
        let _ = write!(out, "{sign}{h:02}{m:02}");
    }
}

fn fraction(out: &mut String, nanos: i64, count: usize) {
    let digits = format!("{:09}", nanos);
    if count <= 9 {
        out.push_str(&digits[..count]);
    } else {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', count - 9));
    }
}

fn joda_field(f: &Fields, letter: char, count: usize, out: &mut String) {
    let year_of_era = if f.year <= 0 { 1 - f.year } else { f.year };
    match letter {
        'G' => out.push_str(if f.year <= 0 { "BC" } else { "AD" }),
        'C' => pad(out, year_of_era / 100, count),
        'Y' | 'y' | 'x' => {
            let v = match letter {
                'Y' => year_of_era,
                'y' => f.year,
                _ => f.iso_week_year,
            };
            if count == 2 {
                pad(out, v.rem_euclid(100), 2)
            } else {
                pad(out, v, count)
            }
        }
        'w' => pad(out, f.iso_week, count),
        'e' => pad(out, f.dow, count),
        'E' => text(out, WEEKDAYS[(f.dow - 1) as usize], count, 4),
        'D' => pad(out, f.day_of_year, count),
        'M' if count >= 3 => text(out, MONTHS[(f.month - 1) as usize], count, 4),
        'M' => pad(out, f.month, count),
        'd' => pad(out, f.day, count),
        'a' => out.push_str(if f.hour < 12 { "AM" } else { "PM" }),
        'K' => pad(out, f.hour % 12, count),
        'h' => pad(out, (f.hour + 11) % 12 + 1, count),
        'H' => pad(out, f.hour, count),
        'k' => pad(out, if f.hour == 0 { 24 } else { f.hour }, count),
        'm' => pad(out, f.minute, count),
        's' => pad(out, f.second, count),
        'S' => fraction(out, (f.nanos / 1_000_000) * 1_000_000, count),
        'z' => {
            if f.offset_seconds == 0 {
                out.push_str(if count >= 4 {
                    "Coordinated Universal Time"
                } else {
                    "UTC"
                })
            } else {
                offset(out, f.offset_seconds, true)
            }
        }
        'Z' => match count {
            1 => offset(out, f.offset_seconds, false),
            2 => offset(out, f.offset_seconds, true),
            _ => out.push_str(&f.zone_id()),
        },
        _ => {}
    }
}

fn java_field(f: &Fields, letter: char, count: usize, out: &mut String) {
    let year_of_era = if f.year <= 0 { 1 - f.year } else { f.year };
    match letter {
        'G' => out.push_str(if count >= 4 {
            if f.year <= 0 {
                "Before Christ"
            } else {
                "Anno Domini"
            }
        } else if f.year <= 0 {
            "BC"
        } else {
            "AD"
        }),
        'u' | 'y' | 'Y' => {
            let v = match letter {
                'u' => f.year,
                'y' => year_of_era,
                _ => f.us_week().0,
            };
            if count == 2 {
                pad(out, v.rem_euclid(100), 2)
            } else if count >= 4 && v > 9999 {
                out.push('+');
                pad(out, v, count)
            } else {
                pad(out, v, count)
            }
        }
        'w' => pad(out, f.us_week().1, count),
        'W' => pad(out, f.us_week_of_month(), count),
        'D' => pad(out, f.day_of_year, count),
        'M' | 'L' if count >= 3 => month_or_day_text(out, MONTHS[(f.month - 1) as usize], count),
        'M' | 'L' => pad(out, f.month, count),
        'd' => pad(out, f.day, count),
        'Q' | 'q' if count >= 3 => {
            let q = (f.month - 1) / 3 + 1;
            let _ = if count == 3 {
                write!(out, "Q{q}")
            } else {
                write!(out, "{q}")
            };
            if count == 4 {
                out.truncate(out.len() - 1);
                let names = ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"];
                out.push_str(names[(q - 1) as usize]);
            }
        }
        'Q' | 'q' => pad(out, (f.month - 1) / 3 + 1, count),
        'E' => month_or_day_text(out, WEEKDAYS[(f.dow - 1) as usize], count),
        'e' | 'c' if count >= 3 => month_or_day_text(out, WEEKDAYS[(f.dow - 1) as usize], count),
        'e' | 'c' => pad(out, f.weekday().to_sunday_one_offset() as i64, count),
        'F' => pad(out, (f.day - 1) / 7 + 1, count),
        'a' => out.push_str(if f.hour < 12 { "AM" } else { "PM" }),
        'h' => pad(out, (f.hour + 11) % 12 + 1, count),
        'K' => pad(out, f.hour % 12, count),
        'k' => pad(out, if f.hour == 0 { 24 } else { f.hour }, count),
        'H' => pad(out, f.hour, count),
        'm' => pad(out, f.minute, count),
        's' => pad(out, f.second, count),
        'S' => fraction(out, f.nanos, count),
        'A' => pad(
            out,
            ((f.hour * 60 + f.minute) * 60 + f.second) * 1000 + f.nanos / 1_000_000,
            count,
        ),
        'n' => pad(out, f.nanos, count),
        'N' => pad(
            out,
            ((f.hour * 60 + f.minute) * 60 + f.second) * 1_000_000_000 + f.nanos,
            count,
        ),
        'V' | 'z' => {
            if f.offset_seconds == 0 {
                out.push('Z')
            } else {
                out.push_str(&f.zone_id())
            }
        }
        'O' => {
            if f.offset_seconds == 0 {
                out.push_str("GMT")
            } else {
                out.push_str("GMT");
                offset(out, f.offset_seconds, true)
            }
        }
        'X' if f.offset_seconds == 0 => out.push('Z'),
        'X' | 'x' => match count {
            1 => {
                let s = f.offset_seconds;
                let _ = write!(
                    out,
                    "{}{:02}",
                    if s < 0 { '-' } else { '+' },
                    s.unsigned_abs() / 3600
                );
                if s % 3600 != 0 {
                    let _ = write!(out, "{:02}", (s.unsigned_abs() / 60) % 60);
                }
            }
            2 | 4 => offset(out, f.offset_seconds, false),
            _ => offset(out, f.offset_seconds, true),
        },
        'Z' => match count {
            1..=3 => offset(out, f.offset_seconds, false),
            4 => {
                out.push_str("GMT");
                if f.offset_seconds != 0 {
                    offset(out, f.offset_seconds, true)
                }
            }
            _ if f.offset_seconds == 0 => out.push('Z'),
            _ => offset(out, f.offset_seconds, true),
        },
        _ => {}
    }
}

fn month_or_day_text(out: &mut String, full: &str, count: usize) {
    match count {
        4 => out.push_str(full),
        5 => out.push_str(&full[..1]),
        _ => out.push_str(short(full)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn joda(p: &str, t: &str) -> String {
        let mut s = String::new();
        Formatter::joda(p).unwrap().format_utc(ts(t), &mut s);
        s
    }

    fn java(p: &str, t: &str) -> String {
        let mut s = String::new();
        Formatter::java(p).unwrap().format_utc(ts(t), &mut s);
        s
    }

    #[test]
    fn joda_common() {
        let t = "2024-05-01T12:34:56.123456Z";
        assert_eq!(joda("YYYY.MM.dd", t), "2024.05.01");
        assert_eq!(joda("HH:mm:ss.SSS", t), "12:34:56.123");
        assert_eq!(joda("SSSSSS", t), "123000");
        assert_eq!(joda("yy MMM MMMM EEE EEEE", t), "24 May May Wed Wednesday");
        assert_eq!(joda("Z ZZ ZZZ z", t), "+0000 +00:00 UTC UTC");
        assert_eq!(joda("xxxx-'W'ww-e D", t), "2024-W18-3 122");
        assert_eq!(joda("h a k K", "2024-05-01T00:05:00Z"), "12 AM 24 0");
    }

    #[test]
    fn java_time_reference_example() {
        assert_eq!(
            java(
                "YYYY-'W'ww yyyy.MM.dd HH:mm:ss.SSSSSS xxx",
                "2021-01-01T12:34:56.123456Z"
            ),
            "2021-W01 2021.01.01 12:34:56.123456 +00:00"
        );
        assert_eq!(
            java(
                "yyyy-MM-dd'T'HH:mm:ss.SSSSSS",
                "2024-05-01T12:34:56.123456Z"
            ),
            "2024-05-01T12:34:56.123456"
        );
        assert_eq!(java("X", "2024-05-01T12:34:56Z"), "Z");
        assert_eq!(java("YYYY ww", "2024-12-29T00:00:00Z"), "2025 01");
    }
}
