//! The regexes users write in Logstash configs are Ruby's (Onigmo): look-around, back-references,
//! `\h`, `(?m)` as dot-all, named groups with any name. [`Regex`] takes that dialect, translates it
//! to PCRE2 (the engine grok already runs on, see [`onigmo`]) and matches with PCRE2's JIT under a
//! backtracking budget, so a catastrophic pattern fails one match instead of stalling a worker.

pub mod onigmo;

use std::cell::RefCell;
use std::ops::Range;

use pcre2::bytes::{CaptureLocations, RegexBuilder};
use thread_local::ThreadLocal;

/// PCRE2's JIT gives up after about 270,000 backtracking steps per millisecond on this class of
/// machine; 100,000 per millisecond keeps a budget in time on slower ones too.
const STEPS_PER_MILLI: i64 = 100_000;

/// The budget of a regex with no timeout option of its own (conditionals, gsub): PCRE2's
/// default, about 100 ms of a runaway pattern.
pub const DEFAULT_LIMIT: u32 = 10_000_000;

/// The backtracking budget equivalent to a Logstash `timeout_millis` (kv, grok); `None` for 0
/// (no timeout: PCRE2's default limit still applies).
pub fn limit_for_millis(timeout_millis: i64) -> Option<u32> {
    if timeout_millis <= 0 {
        return None;
    }
    let steps = timeout_millis
        .saturating_mul(STEPS_PER_MILLI)
        .clamp(STEPS_PER_MILLI, 1_000_000_000);
    u32::try_from(steps).ok()
}

/// A match gave up: the budget ran out (or PCRE2 hit another of its limits).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("regex /{pattern}/ gave up: {reason}")]
pub struct Exceeded {
    pub pattern: String,
    pub reason: String,
}

pub struct Regex {
    re: pcre2::bytes::Regex,
    source: String,
    /// The user's name of each translated group `g<i>` (PCRE2 names are word characters only).
    names: Vec<String>,
    /// Match data kept per thread: making it allocates the JIT stack, far more than a match costs.
    /// (Boxed: a `ThreadLocal` is some 600 bytes, and regexes sit in enums.)
    locs: Box<ThreadLocal<RefCell<Option<CaptureLocations>>>>,
}

impl std::fmt::Debug for Regex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}/", self.source)
    }
}

impl Clone for Regex {
    fn clone(&self) -> Regex {
        Regex {
            re: self.re.clone(),
            source: self.source.clone(),
            names: self.names.clone(),
            locs: Box::default(),
        }
    }
}

/// The JIT's stack may grow to this (address space, committed as used): every repetition of a
/// group keeps a backtracking point there, and a 400 KB value run must not fail for want of
/// stack where Onigmo would just take longer. The match budget still bounds the work.
const JIT_STACK: usize = 64 << 20;

impl Regex {
    /// Compiles a Ruby regex with the default budget.
    pub fn new(pattern: &str) -> Result<Regex, String> {
        Regex::with_limit(pattern, Some(DEFAULT_LIMIT))
    }

    /// Compiles a Ruby regex with a backtracking budget per match (`None`: PCRE2's default).
    pub fn with_limit(pattern: &str, limit: Option<u32>) -> Result<Regex, String> {
        let t = onigmo::translate(pattern)?;
        let translated = match limit {
            Some(n) => format!("(*LIMIT_MATCH={n}){}", t.pattern),
            None => t.pattern,
        };
        // Ruby's `^` and `$` match at every line break; `.` does not match one unless `(?m)`.
        let re = RegexBuilder::new()
            .utf(true)
            .multi_line(true)
            .jit_if_available(true)
            .max_jit_stack_size(Some(JIT_STACK))
            .build(&translated)
            .map_err(|e| e.to_string())?;
        Ok(Regex {
            re,
            source: pattern.to_string(),
            names: t.names,
            locs: Box::default(),
        })
    }

    /// The pattern as the user wrote it.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    fn exceeded(&self, e: pcre2::Error) -> Exceeded {
        Exceeded {
            pattern: self.source.clone(),
            reason: e.to_string(),
        }
    }

    pub fn is_match(&self, s: &str) -> Result<bool, Exceeded> {
        self.re.is_match(s.as_bytes()).map_err(|e| self.exceeded(e))
    }

    /// Every match left to right, as Ruby's `scan` finds them: after an empty match the search
    /// moves on one character; an empty match right after a non-empty one counts.
    pub fn for_each_match<'s>(
        &self,
        s: &'s str,
        mut f: impl FnMut(&Captures<'_, 's>),
    ) -> Result<(), Exceeded> {
        // This thread's match data (a fresh one when it is in use further up the stack).
        let cell = self.locs.get_or(|| RefCell::new(None));
        let mut locs = cell
            .try_borrow_mut()
            .ok()
            .and_then(|mut c| c.take())
            .unwrap_or_else(|| self.re.capture_locations());
        let mut at = 0;
        let mut result = Ok(());
        while at <= s.len() {
            match self.re.captures_read_at(&mut locs, s.as_bytes(), at) {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(e) => {
                    result = Err(self.exceeded(e));
                    break;
                }
            }
            let c = Captures {
                re: self,
                subject: s,
                locs,
            };
            let m = c.range(0).unwrap_or(at..at);
            f(&c);
            locs = c.locs;
            at = if m.is_empty() {
                match s[m.end..].chars().next() {
                    Some(ch) => m.end + ch.len_utf8(),
                    None => break,
                }
            } else {
                m.end
            };
        }
        if let Ok(mut c) = cell.try_borrow_mut() {
            *c = Some(locs);
        }
        result
    }

    /// Ruby's `String#gsub(regex, replacement)`: the replacement's `\0` `\&` `\1`..`\9`
    /// `\k<name>` `` \` `` `\'` `\\` refer to the match.
    pub fn replace_all(&self, s: &str, replacement: &str) -> Result<String, Exceeded> {
        let mut out = String::with_capacity(s.len());
        let mut last = 0;
        self.for_each_match(s, |c| {
            let m = c.range(0).unwrap_or(last..last);
            out.push_str(&s[last..m.start]);
            c.expand(replacement, &mut out);
            last = m.end;
        })?;
        out.push_str(&s[last..]);
        Ok(out)
    }

    /// Group index of a named group (its user name).
    pub fn group_index(&self, name: &str) -> Option<usize> {
        let g = format!("g{}", self.names.iter().position(|n| n == name)?);
        self.re
            .capture_names()
            .iter()
            .position(|n| n.as_deref() == Some(g.as_str()))
    }
}

/// One match's groups.
pub struct Captures<'r, 's> {
    re: &'r Regex,
    subject: &'s str,
    locs: CaptureLocations,
}

impl<'s> Captures<'_, 's> {
    pub fn range(&self, i: usize) -> Option<Range<usize>> {
        self.locs.get(i).map(|(a, b)| a..b)
    }

    pub fn get(&self, i: usize) -> Option<&'s str> {
        self.range(i).and_then(|r| self.subject.get(r))
    }

    pub fn name(&self, name: &str) -> Option<&'s str> {
        self.re.group_index(name).and_then(|i| self.get(i))
    }

    pub fn len(&self) -> usize {
        self.locs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.locs.len() == 0
    }

    /// Appends a Ruby replacement string with this match's references filled in.
    pub fn expand(&self, repl: &str, out: &mut String) {
        let m = self.range(0).unwrap_or(0..0);
        let mut rest = repl;
        while let Some(p) = rest.find('\\') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            let Some(ch) = after.chars().next() else {
                out.push('\\');
                return;
            };
            rest = &after[ch.len_utf8()..];
            match ch {
                '0'..='9' => out.push_str(self.get(ch as usize - '0' as usize).unwrap_or("")),
                '&' => out.push_str(self.get(0).unwrap_or("")),
                '`' => out.push_str(&self.subject[..m.start]),
                '\'' => out.push_str(&self.subject[m.end..]),
                '\\' => out.push('\\'),
                'k' if rest.starts_with('<') => match rest.find('>') {
                    Some(close) => {
                        out.push_str(self.name(&rest[1..close]).unwrap_or(""));
                        rest = &rest[close + 1..];
                    }
                    None => out.push_str("\\k"),
                },
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        out.push_str(rest);
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    #[test]
    fn ruby_dialect() {
        // Look-ahead, as kv's field_split_pattern examples use it.
        let r = Regex::new("; *(?=key.+?:)|;$").unwrap();
        assert!(r.is_match("a; key1: x").unwrap());
        // Back-reference by name; `^` at a line start; `\h`.
        let r = Regex::new(r#"^(?<q>['"])\h+\k<q>$"#).unwrap();
        assert!(r.is_match("x\n'beef'").unwrap());
        assert!(!r.is_match("'beef\"").unwrap());
        // `.` stops at a newline unless `(?m)`.
        assert!(!Regex::new("a.b").unwrap().is_match("a\nb").unwrap());
        assert!(Regex::new("(?m)a.b").unwrap().is_match("a\nb").unwrap());
    }

    #[test]
    fn gsub_as_ruby() {
        let r = Regex::new("b*").unwrap();
        assert_eq!(r.replace_all("abc", "-").unwrap(), "-a--c-");
        let r = Regex::new(r"(?<w>o+)").unwrap();
        assert_eq!(
            r.replace_all("foo boo", r"[\k<w>|\1|\0|\\]").unwrap(),
            r"f[oo|oo|oo|\] b[oo|oo|oo|\]"
        );
        let r = Regex::new("é").unwrap();
        assert_eq!(r.replace_all("café é", "e").unwrap(), "cafe e");
        assert_eq!(
            Regex::new("x*").unwrap().replace_all("ñ", "-").unwrap(),
            "-ñ-"
        );
    }

    #[test]
    fn a_runaway_pattern_gives_up() {
        let r = Regex::new("^(a+)+$").unwrap();
        let text = format!("{}b", "a".repeat(40));
        let e = r.is_match(&text).unwrap_err();
        assert!(e.to_string().contains("gave up"), "{e}");
        // The same regex still answers other inputs.
        assert!(r.is_match("aaa").unwrap());
    }

    #[test]
    fn invalid_patterns_say_why() {
        assert!(Regex::new("(unclosed")
            .unwrap_err()
            .contains("missing closing parenthesis"));
    }
}
