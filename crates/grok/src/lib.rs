//! Grok: named regex patterns composed with `%{NAME:field:type}`, compiled the way Logstash's
//! grok filter does (same expansion, same capture naming and conversion quirks), matched with
//! PCRE2's JIT.

mod expand;
mod library;
mod prefilter;

use std::cell::RefCell;

use pcre2::bytes::{CaptureLocations, Regex, RegexBuilder};
use rstash_regex::onigmo;
use thread_local::ThreadLocal;

pub use library::{Library, Mode};

#[derive(Debug, thiserror::Error)]
pub enum GrokError {
    #[error("pattern {0} not defined")]
    Undefined(String),
    #[error("pattern %{{{0}}} refers to itself: expansion does not end")]
    Recursive(String),
    #[error("invalid regex: {0}")]
    Regex(String),
}

/// How a capture's text becomes a value: Logstash's `:int` (`String#to_i`) and `:float` (`to_f`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    None,
    Int,
    Float,
}

/// A captured value.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured<'t> {
    Str(&'t str),
    Int(i64),
    Float(f64),
}

/// One named capture: the field it sets and the regex groups that carry it (several when the
/// same `%{NAME:field}` text appears more than once).
#[derive(Debug, Clone)]
pub struct Capture {
    pub field: String,
    groups: Vec<(usize, Conversion)>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// Logstash's `named_captures_only` (default true): `%{NAME}` without a field captures nothing.
    pub capture_all: bool,
    /// PCRE2's match limit: bounds backtracking so a runaway pattern fails instead of stalling.
    pub match_limit: Option<u32>,
}

/// The outcome of one match attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Matched,
    NoMatch,
    /// The match limit was hit: Logstash's `_groktimeout`.
    TimedOut,
}

pub struct Grok {
    /// UTF-8 mode: what Logstash's semantics need for any text.
    utf: Engine,
    /// Byte mode, when the pattern allows it: on ASCII text it gives the same answers as `utf`
    /// without PCRE2's UTF-8 validation and decoding, about a third faster.
    ascii: Option<Engine>,
    prefilter: prefilter::Prefilter,
    captures: Vec<Capture>,
    expanded: String,
    translated: String,
}

/// A compiled regex and per-thread match data, so workers share it without locking.
struct Engine {
    regex: Regex,
    locations: ThreadLocal<RefCell<CaptureLocations>>,
}

impl Engine {
    fn new(pattern: &str, utf: bool) -> Result<Engine, GrokError> {
        // Ruby's Regexp::MULTILINE is dot-all; Ruby's ^ and $ always match at line breaks.
        let regex = RegexBuilder::new()
            .utf(utf)
            .dotall(true)
            .multi_line(true)
            .jit_if_available(true)
            .build(pattern)
            .map_err(|e| GrokError::Regex(e.to_string()))?;
        Ok(Engine {
            regex,
            locations: ThreadLocal::new(),
        })
    }

    /// Runs a search; `found` sees the capture locations of a match.
    fn search<R>(
        &self,
        text: &[u8],
        found: impl FnOnce(&CaptureLocations) -> R,
    ) -> Result<Option<R>, pcre2::Error> {
        let cell = self
            .locations
            .get_or(|| RefCell::new(self.regex.capture_locations()));
        match cell.try_borrow_mut() {
            Ok(mut locs) => Ok(self
                .regex
                .captures_read(&mut locs, text)?
                .map(|_| found(&locs))),
            // Re-entrant use on one thread cannot happen through the filter; stay correct anyway.
            Err(_) => {
                let mut locs = self.regex.capture_locations();
                Ok(self
                    .regex
                    .captures_read(&mut locs, text)?
                    .map(|_| found(&locs)))
            }
        }
    }
}

impl Grok {
    pub(crate) fn build(expanded: String, opts: &CompileOptions) -> Result<Grok, GrokError> {
        let t = onigmo::translate(&expanded).map_err(GrokError::Regex)?;
        let pattern = match opts.match_limit {
            Some(n) => format!("(*LIMIT_MATCH={n}){}", t.pattern),
            None => t.pattern.clone(),
        };
        let utf = Engine::new(&pattern, true)?;
        let ascii = if onigmo::byte_mode_equivalent(&pattern) {
            Engine::new(&pattern, false).ok()
        } else {
            None
        };
        let mut captures: Vec<Capture> = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, name) in t.names.iter().enumerate() {
            let group = pattern_group_index(&utf.regex, i);
            // Ruby's `name.split(":")`: pattern, field, type; the field defaults to the pattern.
            let mut parts = name.split(':');
            let first = parts.next().unwrap_or_default();
            let field = parts.next().filter(|f| !f.is_empty()).unwrap_or(first);
            let conv = match parts.next() {
                Some("int") => Conversion::Int,
                Some("float") => Conversion::Float,
                _ => Conversion::None,
            };
            match seen.iter().position(|n| *n == name) {
                // Logstash's quirk: only the first group of a repeated name is converted.
                Some(k) => captures[k].groups.push((group, Conversion::None)),
                None => {
                    seen.push(name);
                    captures.push(Capture {
                        field: field.to_string(),
                        groups: vec![(group, conv)],
                    });
                }
            }
        }
        Ok(Grok {
            prefilter: prefilter::Prefilter::new(&t.pattern),
            utf,
            ascii,
            captures,
            expanded,
            translated: t.pattern,
        })
    }

    /// The pattern after expansion, before translation (what Logstash logs as `expanded_pattern`).
    pub fn expanded(&self) -> &str {
        &self.expanded
    }

    /// The PCRE2 pattern actually compiled (groups renamed, Onigmo syntax translated).
    pub fn pcre2_pattern(&self) -> &str {
        &self.translated
    }

    pub fn captures(&self) -> &[Capture] {
        &self.captures
    }

    /// Searches `text` (unanchored, like Ruby's `Regexp#match`) and hands each non-nil capture,
    /// in Logstash's order, to `each` with its index in [`Grok::captures`].
    pub fn match_with<'t>(
        &self,
        text: &'t str,
        mut each: impl FnMut(usize, Captured<'t>),
    ) -> Outcome {
        if !self.prefilter.may_match(text.as_bytes()) {
            return Outcome::NoMatch;
        }
        let engine = match &self.ascii {
            Some(a) if text.is_ascii() => a,
            _ => &self.utf,
        };
        let found = engine.search(text.as_bytes(), |locs| {
            for (i, c) in self.captures.iter().enumerate() {
                for &(g, conv) in &c.groups {
                    let Some((s, e)) = locs.get(g) else { continue };
                    let Some(t) = text.get(s..e) else { continue };
                    each(i, convert(t, conv));
                }
            }
        });
        match found {
            Ok(Some(())) => Outcome::Matched,
            Ok(None) => Outcome::NoMatch,
            Err(_) => Outcome::TimedOut,
        }
    }

    /// True when `text` matches (no captures are extracted).
    pub fn is_match(&self, text: &str) -> bool {
        self.prefilter.may_match(text.as_bytes())
            && matches!(self.utf.regex.is_match(text.as_bytes()), Ok(true))
    }
}

/// PCRE2 numbers groups by their opening parenthesis; our renamed groups are `g0`, `g1`, … in that
/// same order, but unnamed groups sit between them, so look the number up by name.
fn pattern_group_index(regex: &Regex, i: usize) -> usize {
    let want = format!("g{i}");
    regex
        .capture_names()
        .iter()
        .position(|n| n.as_deref() == Some(want.as_str()))
        .unwrap_or(0)
}

/// Inlined into the match loop: returned through memory, the capture was reloaded in pieces
/// that stalled (no store forwarding).
#[inline]
fn convert(t: &str, conv: Conversion) -> Captured<'_> {
    match conv {
        Conversion::None => Captured::Str(t),
        Conversion::Int => ruby_to_i(t),
        Conversion::Float => Captured::Float(ruby_to_f(t)),
    }
}

/// Ruby's `String#to_i`: optional leading whitespace and sign, then digits (underscores between
/// digits allowed); anything else ends the number; no digits is 0.
fn ruby_to_i(t: &str) -> Captured<'_> {
    let s = t.trim_start();
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut n: i128 = 0;
    let mut prev_digit = false;
    for c in rest.bytes() {
        match c {
            b'0'..=b'9' => {
                n = n.saturating_mul(10).saturating_add(i128::from(c - b'0'));
                prev_digit = true;
            }
            b'_' if prev_digit => prev_digit = false,
            _ => break,
        }
    }
    let n = if neg { -n } else { n };
    match i64::try_from(n) {
        Ok(v) => Captured::Int(v),
        // Ruby would make a Bignum; a float keeps the magnitude.
        Err(_) => Captured::Float(n as f64),
    }
}

/// Ruby's `String#to_f`: the longest leading decimal float, else 0.0.
fn ruby_to_f(t: &str) -> f64 {
    let s = t.trim_start().as_bytes();
    let mut i = 0;
    if matches!(s.first(), Some(b'-' | b'+')) {
        i += 1;
    }
    let int_start = i;
    while i < s.len() && (s[i].is_ascii_digit() || (s[i] == b'_' && i > int_start)) {
        i += 1;
    }
    let mut end = i;
    if i < s.len() && s[i] == b'.' && s.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        end = i;
    }
    if end > int_start && i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        let mut j = i + 1;
        if matches!(s.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        if s.get(j).is_some_and(u8::is_ascii_digit) {
            while j < s.len() && s[j].is_ascii_digit() {
                j += 1;
            }
            end = j;
        }
    }
    let text: String = s[..end]
        .iter()
        .filter(|c| **c != b'_')
        .map(|c| *c as char)
        .collect();
    text.parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ruby_numeric_conversions() {
        assert_eq!(ruby_to_i("12abc"), Captured::Int(12));
        assert_eq!(ruby_to_i("abc"), Captured::Int(0));
        assert_eq!(ruby_to_i(" -1_000"), Captured::Int(-1000));
        assert_eq!(ruby_to_f("7.3e-05"), 7.3e-05);
        assert_eq!(ruby_to_f("-1"), -1.0);
        assert_eq!(ruby_to_f(".5"), 0.5);
        assert_eq!(ruby_to_f("1.5.3"), 1.5);
        assert_eq!(ruby_to_f("x"), 0.0);
    }

    #[test]
    fn only_first_occurrence_of_a_repeated_name_is_converted() {
        let lib = Library::builtin(Mode::Legacy);
        let g = lib
            .compile(
                "(?:a%{INT:n:int}|b%{INT:n:int})",
                &CompileOptions::default(),
            )
            .unwrap();
        let mut got = Vec::new();
        g.match_with("b42", |i, v| {
            got.push((g.captures()[i].field.clone(), format!("{v:?}")))
        });
        assert_eq!(got, vec![("n".to_string(), "Str(\"42\")".to_string())]);
        got.clear();
        g.match_with("a42", |i, v| {
            got.push((g.captures()[i].field.clone(), format!("{v:?}")))
        });
        assert_eq!(got, vec![("n".to_string(), "Int(42)".to_string())]);
    }

    #[test]
    fn runaway_pattern_times_out() {
        let lib = Library::builtin(Mode::Legacy);
        let opts = CompileOptions {
            match_limit: Some(100_000),
            ..Default::default()
        };
        let g = lib.compile("(a|aa)+$", &opts).unwrap();
        let text = format!("{}b", "a".repeat(64));
        assert_eq!(g.match_with(&text, |_, _| {}), Outcome::TimedOut);
    }
}
