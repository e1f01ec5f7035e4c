//! Translation of the Ruby (Onigmo) regex dialect the pattern libraries are written in to PCRE2.
//!
//! What differs and matters for grok: group names may hold any of `[]@:.-` (PCRE2 allows only
//! word characters), `\h` is a hex digit (horizontal space in PCRE2), `(?m)` means dot-all,
//! and a `[` inside a character class opens a nested class (a literal in PCRE2). The same
//! translation serves every regex a user writes in a config (conditionals, kv, gsub, ...).

/// A translated pattern: PCRE2 syntax with groups renamed `g0`, `g1`, … in order of appearance,
/// and the original name of each renamed group.
pub struct Translated {
    pub pattern: String,
    pub names: Vec<String>,
}

const HEX: &str = "0-9a-fA-F";

pub fn translate(src: &str) -> Result<Translated, String> {
    let t = translate_with(src, false)?;
    // With named groups, Ruby's plain parentheses do not capture. Making them non-capturing
    // for PCRE2 too keeps group numbers meaningless, as in Ruby, and spares the matcher from
    // saving dozens of offsets (IPV6 alone has 60 groups) while it backtracks.
    if t.names.is_empty() {
        Ok(t)
    } else {
        translate_with(src, true)
    }
}

fn translate_with(src: &str, plain_groups_capture_nothing: bool) -> Result<Translated, String> {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len() + 16);
    let mut names = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            // A back-reference or subroutine call by name follows the group's new name.
            b'\\' if src[i..].starts_with("\\k<") || src[i..].starts_with("\\g<") => {
                let close = src[i + 3..]
                    .find('>')
                    .ok_or_else(|| format!("unterminated group reference at offset {i}"))?;
                let name = &src[i + 3..i + 3 + close];
                out.push_str(&src[i..i + 3]);
                match names.iter().position(|n| n == name) {
                    Some(g) => out.push_str(&format!("g{g}")),
                    None => out.push_str(name),
                }
                out.push('>');
                i += 3 + close + 1;
            }
            b'\\' => i = escape(src, i, &mut out, false),
            b'[' => i = class(src, i, &mut out)?,
            b'(' if src[i..].starts_with("(?<")
                && !src[i..].starts_with("(?<=")
                && !src[i..].starts_with("(?<!") =>
            {
                let close = src[i + 3..]
                    .find('>')
                    .ok_or_else(|| format!("unterminated group name at offset {i}"))?;
                let name = &src[i + 3..i + 3 + close];
                out.push_str(&format!("(?<g{}>", names.len()));
                names.push(name.to_string());
                i += 3 + close + 1;
            }
            b'(' if src[i..].starts_with("(?") => {
                // Inline flags `(?mix-mix)` / `(?mix-mix:`: Ruby's `m` is PCRE2's `s`.
                let rest = &src[i + 2..];
                let flags_len = rest
                    .bytes()
                    .take_while(|c| matches!(c, b'm' | b'i' | b'x' | b'-'))
                    .count();
                let after = rest.as_bytes().get(flags_len);
                if flags_len > 0 && matches!(after, Some(b')') | Some(b':')) {
                    out.push_str("(?");
                    out.push_str(&rest[..flags_len].replace('m', "s"));
                    i += 2 + flags_len;
                } else {
                    out.push_str("(?");
                    i += 2;
                }
            }
            b'(' if plain_groups_capture_nothing && b.get(i + 1) != Some(&b'*') => {
                out.push_str("(?:");
                i += 1;
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\0');
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    Ok(Translated {
        pattern: out,
        names,
    })
}

/// True when compiling `pattern` in byte mode gives the same results as UTF mode on ASCII text:
/// no Unicode properties, and non-ASCII characters (e.g. the `ä` of MONTH) only as plain literals
/// outside classes and not under a quantifier (a literal multi-byte sequence then either matches
/// whole or, on ASCII text, not at all).
pub fn byte_mode_equivalent(pattern: &str) -> bool {
    let b = pattern.as_bytes();
    let mut i = 0;
    let mut in_class = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if matches!(b.get(i + 1), Some(b'p' | b'P' | b'X' | b'x')) {
                    return false;
                }
                i += 2;
                continue;
            }
            b'[' if !in_class => {
                in_class = true;
                // A `]` right after `[` or `[^` is a literal.
                if b.get(i + 1) == Some(&b'^') {
                    i += 1;
                }
                if b.get(i + 1) == Some(&b']') {
                    i += 1;
                }
            }
            b'[' if b.get(i + 1) == Some(&b':') => {
                if let Some(end) = pattern[i..].find(":]") {
                    i += end + 2;
                    continue;
                }
            }
            b']' if in_class => in_class = false,
            c if c >= 0x80 => {
                if in_class {
                    return false;
                }
                let len = pattern[i..].chars().next().map_or(1, char::len_utf8);
                if matches!(b.get(i + len), Some(b'?' | b'*' | b'+' | b'{')) {
                    return false;
                }
                i += len;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// Copies the escape at `i` (a backslash), translating `\h`/`\H`; returns the index after it.
fn escape(src: &str, i: usize, out: &mut String, in_class: bool) -> usize {
    let Some(ch) = src[i + 1..].chars().next() else {
        out.push('\\');
        return i + 1;
    };
    match (ch, in_class) {
        ('h', false) => out.push_str("[0-9a-fA-F]"),
        ('h', true) => out.push_str(HEX),
        ('H', false) => out.push_str("[^0-9a-fA-F]"),
        _ => {
            out.push('\\');
            out.push(ch);
        }
    }
    i + 1 + ch.len_utf8()
}

/// Copies the character class starting at `i`, flattening nested classes; returns the index after it.
fn class(src: &str, start: usize, out: &mut String) -> Result<usize, String> {
    let b = src.as_bytes();
    let mut i = start + 1;
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    if b.get(i) == Some(&b']') {
        out.push_str("\\]");
        i += 1;
    }
    let mut depth = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i = escape(src, i, out, true),
            b'[' if b.get(i + 1) == Some(&b':') => {
                let end = src[i..]
                    .find(":]")
                    .ok_or_else(|| format!("unterminated POSIX class at offset {i}"))?;
                // Onigmo's POSIX classes are Unicode-aware; PCRE2's are ASCII unless mapped.
                match &src[i..i + end + 2] {
                    "[:alnum:]" => out.push_str("\\p{Xan}"),
                    "[:alpha:]" => out.push_str("\\p{L}"),
                    other => out.push_str(other),
                }
                i += end + 2;
            }
            b'[' => {
                if b.get(i + 1) == Some(&b'^') {
                    return Err(format!(
                        "negated nested character class at offset {i} is not supported"
                    ));
                }
                depth += 1;
                i += 1;
            }
            b']' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    out.push(']');
                    return Ok(i);
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('\0');
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    Err(format!(
        "premature end of char-class starting at offset {start}"
    ))
}

#[cfg(test)]
mod tests {
    use super::translate;

    #[test]
    fn renames_groups_and_translates_dialect() {
        let t = translate(
            r"(?<[a][b]:int>\d+)(?<=x)(?!<y)(?m:.)\h[\h_][[[:alnum:]]_%!$@:.,+~-](a|\(b)",
        )
        .unwrap();
        assert_eq!(t.names, vec!["[a][b]:int"]);
        assert_eq!(
            t.pattern,
            r"(?<g0>\d+)(?<=x)(?!<y)(?s:.)[0-9a-fA-F][0-9a-fA-F_][\p{Xan}_%!$@:.,+~-](?:a|\(b)"
        );
        // Without named groups, plain groups keep capturing (back-references work).
        assert_eq!(translate(r"(a)\1").unwrap().pattern, r"(a)\1");
        // Named back-references follow the renaming.
        assert_eq!(
            translate(r#"(?<q>['"])(?<v>.*?)\k<q>"#).unwrap().pattern,
            r#"(?<g0>['"])(?<g1>.*?)\k<g0>"#
        );
    }

    #[test]
    fn byte_mode_only_when_equivalent_on_ascii_text() {
        use super::byte_mode_equivalent as eq;
        assert!(eq(r"\b(?:[Mm](?:a|ä)?r)\b [a-z]+"));
        assert!(!eq("[äb]"));
        assert!(!eq("aä?"));
        assert!(!eq(r"[\p{Xan}_]"));
        assert!(!eq(r"\x{e4}"));
    }

    #[test]
    fn leading_bracket_is_literal() {
        assert_eq!(translate("[]a]").unwrap().pattern, r"[\]a]");
        assert!(translate("[abc").is_err());
    }
}
