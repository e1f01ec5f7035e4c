//! Month and weekday names: English (the JVM's default locale on Logstash's images) unless the
//! date filter's `locale` names another language, whose names come from the glibc locale data
//! (`pure-rust-locales`).

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

/// The names a parser accepts for `MMM`/`MMMM` and `EEE`/`EEEE`.
#[derive(Debug, Clone, PartialEq)]
pub struct Names {
    /// (full, abbreviated), January first.
    months: Vec<(&'static str, &'static str)>,
    /// (full, abbreviated), Monday first.
    weekdays: Vec<(&'static str, &'static str)>,
}

impl Default for Names {
    fn default() -> Names {
        Names {
            months: MONTHS.iter().map(|m| (*m, short(m))).collect(),
            weekdays: WEEKDAYS.iter().map(|d| (*d, short(d))).collect(),
        }
    }
}

/// Languages whose usual country is not the language code in capitals (`fr` → `fr_FR`).
const COUNTRY: &[(&str, &str)] = &[
    ("cs", "CZ"),
    ("da", "DK"),
    ("el", "GR"),
    ("et", "EE"),
    ("he", "IL"),
    ("hi", "IN"),
    ("ja", "JP"),
    ("ko", "KR"),
    ("nb", "NO"),
    ("nn", "NO"),
    ("sl", "SI"),
    ("sv", "SE"),
    ("uk", "UA"),
    ("vi", "VN"),
    ("zh", "CN"),
    ("ca", "ES"),
    ("ar", "EG"),
    ("fa", "IR"),
];

impl Names {
    /// The names of a Java/BCP 47 locale (`fr`, `fr-FR`, `fr_FR`); `None` when unknown. English
    /// locales (and `root`) give the English names.
    pub fn for_locale(tag: &str) -> Option<Names> {
        let tag = tag.replace('-', "_");
        let (lang, country) = match tag.split_once('_') {
            Some((l, c)) => (l.to_ascii_lowercase(), c.to_ascii_uppercase()),
            None => {
                let l = tag.to_ascii_lowercase();
                let c = COUNTRY
                    .iter()
                    .find(|(x, _)| *x == l)
                    .map_or_else(|| l.to_ascii_uppercase(), |(_, c)| c.to_string());
                (l, c)
            }
        };
        if lang == "en" || lang == "root" || lang.is_empty() {
            return Some(Names::default());
        }
        let locale =
            pure_rust_locales::Locale::try_from(format!("{lang}_{country}").as_str()).ok()?;
        let mon = pure_rust_locales::locale_match!(locale => LC_TIME::MON);
        let abmon = pure_rust_locales::locale_match!(locale => LC_TIME::ABMON);
        let day = pure_rust_locales::locale_match!(locale => LC_TIME::DAY);
        let abday = pure_rust_locales::locale_match!(locale => LC_TIME::ABDAY);
        if mon.len() != 12 || abmon.len() != 12 || day.len() != 7 || abday.len() != 7 {
            return None;
        }
        // glibc lists days from Sunday.
        let weekdays = (1..8).map(|i| (day[i % 7], abday[i % 7])).collect();
        Some(Names {
            months: mon.iter().copied().zip(abmon.iter().copied()).collect(),
            weekdays,
        })
    }

    /// The month (0-based) named at the start of `s` and the bytes its name takes.
    pub fn month(&self, s: &str) -> Option<(usize, usize)> {
        longest(s, &self.months)
    }

    /// The weekday (0-based from Monday) named at the start of `s` and the bytes it takes.
    pub fn weekday(&self, s: &str) -> Option<(usize, usize)> {
        longest(s, &self.weekdays)
    }
}

/// The longest full or abbreviated name at the start of `s`, case-insensitively.
fn longest(s: &str, names: &[(&str, &str)]) -> Option<(usize, usize)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, (full, abbr)) in names.iter().enumerate() {
        for cand in [*full, *abbr] {
            if let Some(n) = prefix_len(s, cand) {
                if best.is_none_or(|(_, b)| n > b) {
                    best = Some((i, n));
                }
            }
        }
    }
    best
}

/// Bytes of `s` that spell `name` at its start, ignoring case (Unicode-aware: `Juillet`).
fn prefix_len(s: &str, name: &str) -> Option<usize> {
    if name.is_empty() {
        return None;
    }
    if name.is_ascii() {
        return (s.len() >= name.len()
            && s.is_char_boundary(name.len())
            && s[..name.len()].eq_ignore_ascii_case(name))
        .then_some(name.len());
    }
    let mut end = 0;
    let mut want = name.chars().flat_map(char::to_lowercase);
    let mut chars = s.char_indices();
    loop {
        let Some(w) = want.next() else {
            return Some(end);
        };
        let (i, c) = chars.next()?;
        let mut lower = c.to_lowercase();
        if lower.next() != Some(w) {
            return None;
        }
        // A character whose lower case is several characters must match all of them.
        for extra in lower {
            if want.next() != Some(extra) {
                return None;
            }
        }
        end = i + c.len_utf8();
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn locale_names() {
        let fr = Names::for_locale("fr").unwrap();
        assert_eq!(fr, Names::for_locale("fr-FR").unwrap());
        assert_eq!(fr.month("juillet 1789"), Some((6, "juillet".len())));
        assert_eq!(fr.month("Févr. 2"), Some((1, "Févr.".len())));
        assert_eq!(fr.weekday("dimanche"), Some((6, 8)));
        let de = Names::for_locale("de_DE").unwrap();
        assert_eq!(de.month("März"), Some((2, "März".len())));
        assert_eq!(de.month("MÄRZ"), Some((2, "MÄRZ".len())));
        // English: full or three-letter names, any case; `root` and `en-US` too.
        let en = Names::for_locale("en-US").unwrap();
        assert_eq!(en.month("sep 1"), Some((8, 3)));
        assert_eq!(en.month("September"), Some((8, 9)));
        assert_eq!(Names::for_locale("root"), Some(Names::default()));
        assert_eq!(Names::for_locale("xx-YY"), None);
    }
}
