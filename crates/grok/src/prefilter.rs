//! Required literals: strings every match must contain, found by walking the translated pattern.
//! A line lacking one of them cannot match, which memchr's substring search tells far faster than
//! PCRE2's unanchored search (that retries the whole pattern at every word start).

use memchr::memmem::Finder;

/// At most this many literals are checked per line: the longest ones, which are the rarest.
const MAX_LITERALS: usize = 6;

pub struct Prefilter {
    finders: Vec<Finder<'static>>,
}

impl Prefilter {
    pub fn new(pattern: &str) -> Prefilter {
        // Case-insensitive or quoted parts would need more care than they are worth.
        let mut lits = if pattern.contains("(?i") || pattern.contains("\\Q") {
            Vec::new()
        } else {
            let mut p = Parser {
                b: pattern.as_bytes(),
                i: 0,
            };
            p.sequence().unwrap_or_default()
        };
        lits.retain(|l| !l.is_empty());
        lits.sort_by_key(|l| std::cmp::Reverse(l.len()));
        lits.dedup();
        lits.truncate(MAX_LITERALS);
        Prefilter {
            finders: lits.iter().map(|l| Finder::new(l).into_owned()).collect(),
        }
    }

    /// False when `text` certainly does not match.
    pub fn may_match(&self, text: &[u8]) -> bool {
        self.finders.iter().all(|f| f.find(text).is_some())
    }

    #[cfg(test)]
    fn literals(&self) -> Vec<String> {
        self.finders
            .iter()
            .map(|f| String::from_utf8_lossy(f.needle()).into_owned())
            .collect()
    }
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    /// True when a quantifier follows that allows zero repetitions; consumes the quantifier.
    /// `None` when no quantifier follows.
    fn quantifier(&mut self) -> Option<bool> {
        let zero = match self.peek()? {
            b'?' | b'*' => true,
            b'+' => false,
            b'{' => {
                let rest = &self.b[self.i + 1..];
                let end = rest.iter().position(|c| *c == b'}')?;
                let body = &rest[..end];
                if body.is_empty() || !body.iter().all(|c| c.is_ascii_digit() || *c == b',') {
                    return None; // a literal `{`
                }
                let zero = body.first() == Some(&b',') || body.starts_with(b"0");
                self.i += end + 1;
                zero
            }
            _ => return None,
        };
        self.i += 1;
        // Lazy or possessive suffix.
        if matches!(self.peek(), Some(b'?' | b'+')) {
            self.i += 1;
        }
        Some(zero)
    }

    /// The literals required by the sequence up to the end of the current group. `None` when the
    /// sequence has an alternation (then nothing in it is required).
    fn sequence(&mut self) -> Option<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut run: Vec<u8> = Vec::new();
        let mut alternation = false;
        while let Some(c) = self.peek() {
            match c {
                b')' => break,
                b'|' => {
                    alternation = true;
                    self.i += 1;
                }
                b'(' => {
                    out.push(std::mem::take(&mut run));
                    let inner = self.group();
                    let optional = self.quantifier().unwrap_or(false);
                    if let (Some(lits), false) = (inner, optional) {
                        out.extend(lits);
                    }
                }
                b'[' => {
                    out.push(std::mem::take(&mut run));
                    self.skip_class();
                    self.quantifier();
                }
                b'\\' => {
                    let lit = self.escape();
                    self.literal(lit, &mut run, &mut out);
                }
                b'.' | b'^' | b'$' => {
                    out.push(std::mem::take(&mut run));
                    self.i += 1;
                    self.quantifier();
                }
                _ => {
                    let len = utf8_len(c);
                    let lit = self.b[self.i..(self.i + len).min(self.b.len())].to_vec();
                    self.i += len;
                    self.literal(Some(lit), &mut run, &mut out);
                }
            }
        }
        out.push(run);
        (!alternation).then_some(out)
    }

    /// Adds a literal character (None: an escape that is not one) to the run, minding a quantifier.
    fn literal(&mut self, lit: Option<Vec<u8>>, run: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
        let Some(lit) = lit else {
            out.push(std::mem::take(run));
            self.quantifier();
            return;
        };
        match self.quantifier() {
            None => run.extend_from_slice(&lit),
            Some(true) => out.push(std::mem::take(run)),
            Some(false) => {
                run.extend_from_slice(&lit);
                out.push(std::mem::take(run));
            }
        }
    }

    /// Consumes `\x` and returns the literal byte(s) it stands for, if it is one.
    fn escape(&mut self) -> Option<Vec<u8>> {
        let c = *self.b.get(self.i + 1)?;
        self.i += 2;
        match c {
            b't' => Some(vec![b'\t']),
            b'n' => Some(vec![b'\n']),
            b'r' => Some(vec![b'\r']),
            c if c.is_ascii_alphanumeric() => {
                // Classes (\d \w \s \p{..}), anchors (\b \A \z), back-references, \x.. codes.
                if matches!(c, b'p' | b'P' | b'x' | b'k' | b'g') && self.peek() == Some(b'{') {
                    while let Some(ch) = self.peek() {
                        self.i += 1;
                        if ch == b'}' {
                            break;
                        }
                    }
                }
                None
            }
            c => Some(vec![c]),
        }
    }

    fn skip_class(&mut self) {
        self.i += 1;
        if self.peek() == Some(b'^') {
            self.i += 1;
        }
        if self.peek() == Some(b']') {
            self.i += 1;
        }
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.i += 2,
                b'[' if self.b.get(self.i + 1) == Some(&b':') => {
                    let end = self.b[self.i..].windows(2).position(|w| w == b":]");
                    self.i += end.map_or(1, |e| e + 2);
                }
                b']' => {
                    self.i += 1;
                    return;
                }
                _ => self.i += 1,
            }
        }
    }

    /// Consumes a group; its required literals, or None (look-arounds, alternations, verbs).
    fn group(&mut self) -> Option<Vec<Vec<u8>>> {
        self.i += 1; // (
        let rest = &self.b[self.i..];
        let mut counts = true;
        if rest.starts_with(b"*") {
            counts = false; // (*VERB)
        } else if rest.starts_with(b"?") {
            let kind = rest.get(1).copied();
            match kind {
                Some(b'=' | b'!') => counts = false,
                Some(b'<') if matches!(rest.get(2), Some(b'=' | b'!')) => counts = false,
                Some(b'#') => counts = false,
                _ => {}
            }
            // Skip the group's header up to its content.
            if counts {
                self.i += 1;
                match kind {
                    Some(b'<') | Some(b'P') | Some(b'\'') => {
                        while let Some(c) = self.peek() {
                            self.i += 1;
                            if c == b'>' || c == b'\'' {
                                break;
                            }
                        }
                    }
                    Some(b':') | Some(b'>') | Some(b'|') => self.i += 1,
                    _ => {
                        // Inline flags: `(?s)` sets them (no content), `(?s:` opens a group.
                        while let Some(c) = self.peek() {
                            self.i += 1;
                            if c == b':' {
                                break;
                            }
                            if c == b')' {
                                return Some(Vec::new());
                            }
                        }
                    }
                }
            }
        }
        if !counts {
            self.skip_group_body();
            return None;
        }
        let inner = self.sequence();
        if self.peek() == Some(b')') {
            self.i += 1;
        }
        inner
    }

    fn skip_group_body(&mut self) {
        let mut depth = 1;
        while let Some(c) = self.peek() {
            match c {
                b'\\' => self.i += 1,
                b'[' => {
                    self.skip_class();
                    continue;
                }
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return;
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::Prefilter;

    fn lits(p: &str) -> Vec<String> {
        let mut l = Prefilter::new(p).literals();
        l.sort();
        l
    }

    #[test]
    fn required_literals() {
        assert_eq!(
            lits(r#"(?<g0>\d+) \[(?:x)\] "abc"?d"#),
            vec![" [", "] \"abc", "d", "x"]
        );
        assert_eq!(lits("a|b"), Vec::<String>::new());
        assert_eq!(lits("x(?:ab|cd)y"), vec!["x", "y"]);
        assert_eq!(lits("(?:opt)?z(?=look)q{2}w{0,3}"), vec!["q", "z"]);
        assert_eq!(lits("(?i)abc"), Vec::<String>::new());
        assert_eq!(lits(r"[\]x]yz\tk\p{L}m"), vec!["m", "yz\tk"]);
    }

    #[test]
    fn rejects_lines_without_a_required_literal() {
        let p = Prefilter::new(r#"\[(?<g0>.*)\] ""#);
        assert!(p.may_match(b"x [a] \"y"));
        assert!(!p.may_match(b"x (a) \"y"));
    }
}
