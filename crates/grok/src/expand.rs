//! `%{NAME:field:type}` expansion with Logstash's rules: repeatedly replace the leftmost
//! reference by its definition, as a named group when it names a field.

use std::collections::HashMap;

use crate::GrokError;

/// Logstash gives up after this many replacements; only a cycle gets there.
const MAX_EXPANSIONS: usize = 10_000;

/// One `%{...}` reference found in a pattern.
struct Reference<'a> {
    start: usize,
    end: usize,
    pattern: &'a str,
    /// `pattern` plus `:subname` when there is one: the group name Logstash uses.
    name: &'a str,
    definition: Option<&'a str>,
}

fn is_pattern_char(c: u8) -> bool {
    // `[A-z0-9]`: the range A..z also holds `[ \ ] ^ _` and the backtick.
    (b'A'..=b'z').contains(&c) || c.is_ascii_digit()
}

fn is_subname_char(c: u8) -> bool {
    is_pattern_char(c) || matches!(c, b'@' | b'[' | b']' | b'_' | b':' | b'.' | b'-')
}

/// The leftmost reference in `s`, if any.
fn find_reference(s: &str) -> Option<Reference<'_>> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(off) = s[from..].find("%{") {
        let start = from + off;
        if let Some(r) = reference_at(s, b, start) {
            return Some(r);
        }
        from = start + 2;
    }
    None
}

fn reference_at<'a>(s: &'a str, b: &[u8], start: usize) -> Option<Reference<'a>> {
    let p0 = start + 2;
    let mut i = p0;
    while i < b.len() && is_pattern_char(b[i]) {
        i += 1;
    }
    if i == p0 {
        return None;
    }
    let pattern = &s[p0..i];
    let mut name_end = i;
    if b.get(i) == Some(&b':') {
        let mut j = i + 1;
        while j < b.len() && is_subname_char(b[j]) {
            j += 1;
        }
        if j > i + 1 {
            name_end = j;
            i = j;
        }
    }
    let mut definition = None;
    if b.get(i) == Some(&b'=') {
        let d0 = i + 1;
        let mut j = d0;
        while j < b.len() && b[j] != b'{' && b[j] != b'}' {
            j += 1;
        }
        if j > d0 {
            definition = Some(&s[d0..j]);
            i = j;
        }
    }
    let close = s[i..].find('}')? + i;
    Some(Reference {
        start,
        end: close + 1,
        pattern,
        name: &s[p0..name_end],
        definition,
    })
}

/// Expands every reference in `pattern`. Inline `%{NAME=regex}` definitions are added to `defs`.
pub fn expand(
    pattern: &str,
    defs: &mut HashMap<String, String>,
    named_captures_only: bool,
) -> Result<String, GrokError> {
    let mut out = pattern.to_string();
    let mut last = String::new();
    for _ in 0..MAX_EXPANSIONS {
        let Some(r) = find_reference(&out) else {
            return Ok(out);
        };
        if let Some(d) = r.definition {
            defs.insert(r.pattern.to_string(), d.to_string());
        }
        let Some(def) = defs.get(r.pattern) else {
            return Err(GrokError::Undefined(format!(
                "%{{{}}}",
                &out[r.start + 2..r.end - 1]
            )));
        };
        let replacement = if named_captures_only && !r.name.contains(':') {
            format!("(?:{def})")
        } else {
            format!("(?<{}>{def})", r.name)
        };
        last = r.pattern.to_string();
        out.replace_range(r.start..r.end, &replacement);
    }
    Err(GrokError::Recursive(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defs() -> HashMap<String, String> {
        [("A", "a+"), ("B", "%{A:x}b"), ("LOOP", "%{LOOP}")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expands_leftmost_first_with_named_groups() {
        let mut d = defs();
        assert_eq!(
            expand("%{B:y:int} %{A}", &mut d, true).unwrap(),
            "(?<B:y:int>(?<A:x>a+)b) (?:a+)"
        );
        assert_eq!(expand("%{A}", &mut d, false).unwrap(), "(?<A>a+)");
        // Junk before `}` is ignored, as in Logstash.
        assert_eq!(
            expand("%{A:[f][g]?}", &mut d, true).unwrap(),
            "(?<A:[f][g]>a+)"
        );
        assert_eq!(expand("%{N=\\d+}", &mut d, true).unwrap(), "(?:\\d+)");
    }

    #[test]
    fn undefined_and_recursive_are_errors() {
        let mut d = defs();
        assert_eq!(
            expand("x %{NOPE:f}", &mut d, true).unwrap_err().to_string(),
            "pattern %{NOPE:f} not defined"
        );
        assert!(
            matches!(expand("%{LOOP}", &mut d, true), Err(GrokError::Recursive(n)) if n == "LOOP")
        );
    }
}
