//! Recursive-descent parser for LSCL. Each failure says what was expected and what was found, at
//! the offset where parsing could go no further.

use crate::ast::*;
use crate::error::ConfigError;
use crate::source::Source;

pub fn parse(src: &Source) -> Result<Config, ConfigError> {
    let mut p = Parser {
        s: src.text(),
        b: src.text().as_bytes(),
        pos: 0,
        depth: 0,
    };
    p.config()
        .map_err(|e| ConfigError::at(src.locate(e.at), e.message(src.text())))
}

struct Fail {
    at: usize,
    expected: String,
    /// Set when the problem is not a missing token (e.g. a bad number).
    custom: Option<String>,
}

impl Fail {
    fn message(&self, text: &str) -> String {
        if let Some(m) = &self.custom {
            return m.clone();
        }
        format!(
            "expected {}, found {}",
            self.expected,
            describe(text, self.at)
        )
    }
}

fn describe(text: &str, at: usize) -> String {
    let rest = &text[at.min(text.len())..];
    match rest.chars().next() {
        None => "end of input".to_string(),
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => {
            let w: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            format!("`{w}`")
        }
        Some('\n') => "end of line".to_string(),
        Some(c) => format!("`{c}`"),
    }
}

type R<T> = Result<T, Fail>;

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
    /// Blocks, values and conditions this one is nested in: bounded, so that a config nested
    /// absurdly deep is an error at its position rather than a stack overflow.
    depth: usize,
}

/// Far beyond any real config; shallow enough that the recursion fits any thread's stack.
const MAX_NESTING: usize = 100;

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

impl<'a> Parser<'a> {
    fn fail<T>(&self, expected: &str) -> R<T> {
        Err(Fail {
            at: self.pos,
            expected: expected.to_string(),
            custom: None,
        })
    }

    fn custom<T>(&self, at: usize, msg: String) -> R<T> {
        Err(Fail {
            at,
            expected: String::new(),
            custom: Some(msg),
        })
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn at(&self, lit: &str) -> bool {
        self.s[self.pos..].starts_with(lit)
    }

    /// Whitespace and `#` comments.
    fn ws(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'#' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                _ => break,
            }
        }
    }

    /// Whether at least one whitespace/comment was skipped.
    fn ws1(&mut self) -> bool {
        let start = self.pos;
        self.ws();
        self.pos > start
    }

    fn expect(&mut self, lit: &str, what: &str) -> R<()> {
        if self.at(lit) {
            self.pos += lit.len();
            Ok(())
        } else {
            self.fail(what)
        }
    }

    /// A keyword: the literal, not followed by a name character.
    fn keyword(&mut self, kw: &str) -> bool {
        if self.at(kw)
            && !self
                .b
                .get(self.pos + kw.len())
                .copied()
                .is_some_and(is_name_byte)
        {
            self.pos += kw.len();
            true
        } else {
            false
        }
    }

    fn config(&mut self) -> R<Config> {
        let mut sections = Vec::new();
        self.ws();
        while self.pos < self.b.len() {
            let kind = if self.keyword("input") {
                SectionKind::Input
            } else if self.keyword("filter") {
                SectionKind::Filter
            } else if self.keyword("output") {
                SectionKind::Output
            } else {
                return self.fail("one of `input`, `filter`, `output`, `#`");
            };
            self.ws();
            self.expect("{", "`{`")?;
            let body = self.statements()?;
            sections.push(Section { kind, body });
            self.ws();
        }
        Ok(Config { sections })
    }

    /// Plugins and conditionals up to the closing `}` (consumed).
    fn statements(&mut self) -> R<Vec<Statement>> {
        let mut out = Vec::new();
        loop {
            self.ws();
            match self.peek() {
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(out);
                }
                None => return self.fail("a plugin, `if` or `}`"),
                _ => {}
            }
            if self.keyword("if") {
                out.push(Statement::If(self.if_chain()?));
            } else {
                let p = self.plugin("a plugin name, `if` or `}`")?;
                out.push(Statement::Plugin(p));
            }
        }
    }

    /// Runs `f` one level deeper, failing past `MAX_NESTING`.
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> R<T>) -> R<T> {
        if self.depth >= MAX_NESTING {
            return Err(Fail {
                at: self.pos,
                expected: String::new(),
                custom: Some(format!("nested more than {MAX_NESTING} levels deep")),
            });
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn if_chain(&mut self) -> R<IfChain> {
        self.nested(Self::if_chain_here)
    }

    fn if_chain_here(&mut self) -> R<IfChain> {
        let mut branches = Vec::new();
        let mut otherwise = None;
        self.ws();
        let c = self.condition()?;
        self.ws();
        self.expect("{", "`{` after the condition")?;
        branches.push((c, self.statements()?));
        loop {
            let save = self.pos;
            self.ws();
            if !self.keyword("else") {
                self.pos = save;
                break;
            }
            self.ws();
            if self.keyword("if") {
                self.ws();
                let c = self.condition()?;
                self.ws();
                self.expect("{", "`{` after the condition")?;
                branches.push((c, self.statements()?));
            } else {
                self.expect("{", "`{` or `if` after `else`")?;
                otherwise = Some(self.statements()?);
                break;
            }
        }
        Ok(IfChain {
            branches,
            otherwise,
        })
    }

    fn name(&mut self, what: &str) -> R<(String, Span)> {
        let start = self.pos;
        if let Some(q @ (b'"' | b'\'')) = self.peek() {
            let text = self.quoted(q)?;
            return Ok((
                text,
                Span {
                    start,
                    end: self.pos,
                },
            ));
        }
        while self.peek().is_some_and(is_name_byte) {
            self.pos += 1;
        }
        if self.pos == start {
            return self.fail(what);
        }
        Ok((
            self.s[start..self.pos].to_string(),
            Span {
                start,
                end: self.pos,
            },
        ))
    }

    fn plugin(&mut self, what: &str) -> R<Plugin> {
        let (name, span) = self.name(what)?;
        self.ws();
        self.expect("{", "`{` after the plugin name")?;
        let attributes = self.attributes()?;
        Ok(Plugin {
            name,
            span,
            attributes,
        })
    }

    fn attributes(&mut self) -> R<Vec<Attribute>> {
        let mut out = Vec::new();
        self.ws();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(out);
            }
            let (name, span) = self.name("an option name or `}`")?;
            self.ws();
            self.expect("=>", "`=>` after the option name")?;
            self.ws();
            let value = self.value()?;
            out.push(Attribute { name, span, value });
            let sep = self.ws1();
            if self.peek() != Some(b'}') && !sep {
                return self.fail("whitespace or `}` after the option value");
            }
        }
    }

    fn quoted(&mut self, q: u8) -> R<String> {
        let start = self.pos;
        self.pos += 1;
        let body = self.pos;
        loop {
            match self.peek() {
                None => return self.custom(start, "unterminated string: no closing quote".into()),
                Some(b'\\') if self.b.get(self.pos + 1) == Some(&q) => self.pos += 2,
                Some(c) if c == q => {
                    let text = self.s[body..self.pos].to_string();
                    self.pos += 1;
                    return Ok(text);
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    fn number(&mut self) -> R<(String, Number, Span)> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos == digits {
            return self.fail("a number");
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            float = true;
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let text = self.s[start..self.pos].to_string();
        let span = Span {
            start,
            end: self.pos,
        };
        let value = if float {
            if text.ends_with('.') {
                return self.custom(
                    start,
                    format!("invalid number `{text}`: digits must follow the `.`"),
                );
            }
            text.parse().map(Number::Float).ok()
        } else {
            int_value(&text).map(Number::Int)
        };
        match value {
            Some(v) => Ok((text, v, span)),
            None => self.custom(start, format!("invalid number `{text}`")),
        }
    }

    /// A quoted string or a number: what values and hash keys have in common.
    fn string_or_number(&mut self) -> Option<R<Value>> {
        let start = self.pos;
        match self.peek()? {
            q @ (b'"' | b'\'') => Some(self.quoted(q).map(|text| Value::String {
                text,
                quote: q as char,
                span: Span {
                    start,
                    end: self.pos,
                },
            })),
            c if c == b'-' || c.is_ascii_digit() => Some(
                self.number()
                    .map(|(text, value, span)| Value::Number { text, value, span }),
            ),
            _ => None,
        }
    }

    fn value(&mut self) -> R<Value> {
        self.nested(Self::value_here)
    }

    fn value_here(&mut self) -> R<Value> {
        if let Some(v) = self.string_or_number() {
            return v;
        }
        let start = self.pos;
        match self.peek() {
            Some(b'[') => {
                self.pos += 1;
                let items = self.comma_list("]", "`,` or `]` in the array", Self::value)?;
                Ok(Value::Array {
                    items,
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries: Vec<(Value, Value)> = Vec::new();
                loop {
                    self.ws();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        break;
                    }
                    let key = self.hash_key()?;
                    if let Some((k, _)) = entries.iter().find(|(k, _)| k.as_text() == key.as_text())
                    {
                        let _ = k;
                        return self.custom(
                            key.span().start,
                            format!("duplicate key `{}` in hash", key.as_text().unwrap_or("")),
                        );
                    }
                    self.ws();
                    self.expect("=>", "`=>` after the hash key")?;
                    self.ws();
                    let v = self.value()?;
                    entries.push((key, v));
                }
                Ok(Value::Hash {
                    entries,
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            }
            Some(c) if is_name_byte(c) => {
                while self.peek().is_some_and(is_name_byte) {
                    self.pos += 1;
                }
                let word_end = self.pos;
                let save = self.pos;
                self.ws();
                if self.peek() == Some(b'{') {
                    self.pos = start;
                    return Ok(Value::Plugin(self.plugin("a plugin name")?));
                }
                self.pos = save;
                let text = &self.s[start..word_end];
                if text.len() < 2 || text.contains('-') || text.as_bytes()[0].is_ascii_digit() {
                    return self.custom(start, format!("invalid bareword `{text}`: quote it (barewords are 2+ letters, digits or `_`)"));
                }
                Ok(Value::Bareword {
                    text: text.to_string(),
                    span: Span {
                        start,
                        end: word_end,
                    },
                })
            }
            _ => self.fail("a value (string, number, bareword, array, hash or plugin)"),
        }
    }

    fn hash_key(&mut self) -> R<Value> {
        if let Some(v) = self.string_or_number() {
            return v;
        }
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                if self.pos - start < 2 {
                    return self.custom(start, "invalid bareword: quote the key".into());
                }
                Ok(Value::Bareword {
                    text: self.s[start..self.pos].to_string(),
                    span: Span {
                        start,
                        end: self.pos,
                    },
                })
            }
            _ => self.fail("a hash key (string, number or bareword) or `}`"),
        }
    }

    /// `item, item, ...` up to `close` (consumed); empty lists allowed, no trailing comma.
    fn comma_list<T>(
        &mut self,
        close: &'static str,
        what: &str,
        mut item: impl FnMut(&mut Self) -> R<T>,
    ) -> R<Vec<T>> {
        let mut items = Vec::new();
        self.ws();
        if !self.at(close) {
            loop {
                self.ws();
                items.push(item(self)?);
                self.ws();
                if self.peek() == Some(b',') {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        self.expect(close, what)?;
        Ok(items)
    }

    // ---- conditions ----

    fn condition(&mut self) -> R<Condition> {
        let first = self.expression()?;
        let mut rest: Vec<(BoolOp, usize, Condition)> = Vec::new();
        loop {
            let save = self.pos;
            self.ws();
            let at = self.pos;
            let op = if self.keyword("and") {
                BoolOp::And
            } else if self.keyword("or") {
                BoolOp::Or
            } else if self.keyword("xor") {
                BoolOp::Xor
            } else if self.keyword("nand") {
                BoolOp::Nand
            } else {
                self.pos = save;
                break;
            };
            self.ws();
            rest.push((op, at, self.expression()?));
        }
        combine(first, rest).map_err(|(at, msg)| Fail {
            at,
            expected: String::new(),
            custom: Some(msg),
        })
    }

    fn expression(&mut self) -> R<Condition> {
        self.nested(Self::expression_here)
    }

    fn expression_here(&mut self) -> R<Condition> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                self.ws();
                let c = self.condition()?;
                self.ws();
                self.expect(
                    ")",
                    "`)` or a boolean operator (`and`, `or`, `xor`, `nand`)",
                )?;
                Ok(Condition::Group(Box::new(c)))
            }
            Some(b'!') if self.b.get(self.pos + 1) != Some(&b'=') => {
                self.pos += 1;
                self.ws();
                let inner = if self.peek() == Some(b'(') {
                    self.expression()?
                } else {
                    let start = self.pos;
                    match self.selector()? {
                        Some(text) => Condition::Value(Rvalue::Selector {
                            text,
                            span: Span {
                                start,
                                end: self.pos,
                            },
                        }),
                        None => {
                            return self.fail("a field reference like `[field]` or `(` after `!`")
                        }
                    }
                };
                Ok(Condition::Not(Box::new(inner)))
            }
            _ => {
                let left = self.rvalue()?;
                let save = self.pos;
                self.ws();
                if self.keyword("in") {
                    self.ws();
                    return Ok(Condition::In {
                        left,
                        negate: false,
                        right: self.rvalue()?,
                    });
                }
                if self.keyword("not") {
                    self.ws();
                    if !self.keyword("in") {
                        return self.fail("`in` after `not`");
                    }
                    self.ws();
                    return Ok(Condition::In {
                        left,
                        negate: true,
                        right: self.rvalue()?,
                    });
                }
                for (lit, negate) in [("=~", false), ("!~", true)] {
                    if self.at(lit) {
                        self.pos += 2;
                        self.ws();
                        let pattern = match self.peek() {
                            Some(b'/' | b'"' | b'\'') => self.rvalue()?,
                            _ => {
                                return self.fail("a /regex/ or a string after the match operator")
                            }
                        };
                        return Ok(Condition::Match {
                            left,
                            negate,
                            pattern,
                        });
                    }
                }
                for (lit, op) in [
                    ("==", CmpOp::Eq),
                    ("!=", CmpOp::Ne),
                    ("<=", CmpOp::Le),
                    (">=", CmpOp::Ge),
                    ("<", CmpOp::Lt),
                    (">", CmpOp::Gt),
                ] {
                    if self.at(lit) {
                        self.pos += lit.len();
                        self.ws();
                        return Ok(Condition::Compare(left, op, self.rvalue()?));
                    }
                }
                self.pos = save;
                Ok(Condition::Value(left))
            }
        }
    }

    /// `[a][b]`: one or more brackets holding no `[`, `]` or `,`. None if not a selector here.
    fn selector(&mut self) -> R<Option<String>> {
        let start = self.pos;
        while self.peek() == Some(b'[') {
            let seg = self.pos;
            self.pos += 1;
            while self
                .peek()
                .is_some_and(|c| !matches!(c, b'[' | b']' | b','))
            {
                self.pos += 1;
            }
            if self.peek() != Some(b']') || self.pos == seg + 1 {
                self.pos = seg;
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Ok(None);
        }
        Ok(Some(self.s[start..self.pos].to_string()))
    }

    fn rvalue(&mut self) -> R<Rvalue> {
        let start = self.pos;
        let span = |p: &Self| Span { start, end: p.pos };
        match self.peek() {
            Some(q @ (b'"' | b'\'')) => {
                let text = self.quoted(q)?;
                Ok(Rvalue::String {
                    text,
                    quote: q as char,
                    span: span(self),
                })
            }
            Some(c) if c == b'-' || c.is_ascii_digit() => {
                let (text, value, span) = self.number()?;
                Ok(Rvalue::Number { text, value, span })
            }
            Some(b'[') => {
                if let Some(text) = self.selector()? {
                    return Ok(Rvalue::Selector {
                        text,
                        span: span(self),
                    });
                }
                self.pos += 1;
                let items = self.comma_list("]", "`,` or `]` in the array", Self::rvalue)?;
                Ok(Rvalue::Array {
                    items,
                    span: span(self),
                })
            }
            Some(b'/') => {
                self.pos += 1;
                let body = self.pos;
                loop {
                    match self.peek() {
                        None => {
                            return self.custom(
                                start,
                                "unterminated regular expression: no closing `/`".into(),
                            )
                        }
                        Some(b'\\') if self.b.get(self.pos + 1) == Some(&b'/') => self.pos += 2,
                        Some(b'/') => break,
                        Some(_) => self.pos += 1,
                    }
                }
                let text = self.s[body..self.pos].to_string();
                self.pos += 1;
                Ok(Rvalue::Regex {
                    text,
                    span: span(self),
                })
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'_' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                {
                    self.pos += 1;
                }
                let name = self.s[start..self.pos].to_string();
                self.ws();
                if self.peek() != Some(b'(') {
                    self.pos = start;
                    return self.fail("a value: a [field] reference, a string, a number, an array or a /regex/ (barewords like true are not values in conditions)");
                }
                self.pos += 1;
                let args = self.comma_list(")", "`,` or `)` in the method call", Self::rvalue)?;
                Ok(Rvalue::MethodCall {
                    name,
                    args,
                    span: span(self),
                })
            }
            _ => {
                self.fail("a value: a [field] reference, a string, a number, an array or a /regex/")
            }
        }
    }
}

/// Octal for a leading 0 (Ruby `Integer("010")` is 8); `08` is an error.
fn int_value(text: &str) -> Option<i64> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text),
    };
    let v = if digits.len() > 1 && digits.starts_with('0') {
        i64::from_str_radix(&digits[1..], 8).ok()?
    } else {
        digits.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

/// `and` binds tighter than `or`; `xor` and `nand` have no precedence, so they cannot be mixed.
fn combine(
    first: Condition,
    rest: Vec<(BoolOp, usize, Condition)>,
) -> Result<Condition, (usize, String)> {
    if rest.is_empty() {
        return Ok(first);
    }
    let ops: Vec<BoolOp> = rest.iter().map(|(o, _, _)| *o).collect();
    if let Some((op, at, _)) = rest
        .iter()
        .find(|(o, _, _)| matches!(o, BoolOp::Xor | BoolOp::Nand))
    {
        if ops.iter().any(|o| o != op) {
            let w = if *op == BoolOp::Xor { "xor" } else { "nand" };
            return Err((
                *at,
                format!("`{w}` cannot be mixed with other boolean operators without parentheses"),
            ));
        }
        return Ok(rest.into_iter().fold(first, |acc, (o, _, c)| {
            Condition::Bool(o, Box::new(acc), Box::new(c))
        }));
    }
    // Split on `or` into groups of `and`s.
    let mut groups: Vec<Condition> = Vec::new();
    let mut cur = first;
    for (op, _, c) in rest {
        match op {
            BoolOp::And => cur = Condition::Bool(BoolOp::And, Box::new(cur), Box::new(c)),
            _ => {
                groups.push(cur);
                cur = c;
            }
        }
    }
    groups.push(cur);
    let mut it = groups.into_iter();
    let mut acc = it.next().ok_or((0, "empty condition".to_string()))?;
    for g in it {
        acc = Condition::Bool(BoolOp::Or, Box::new(acc), Box::new(g));
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Config, ConfigError> {
        parse(&Source::from_string("t.conf", s))
    }

    #[test]
    fn full_example() {
        let c = p(r#"
# comment
input { stdin { codec => json { charset => "UTF-8" } tags => ["a", 'b'] } }
filter {
  if [a][b] == "x" and ![c] or "y" in [d] {
    mutate { add_field => { "k" => "v" foo => 1 } }
  } else if [n] >= -1.5 { drop {} } else if [m] =~ /a\/b/ { } else { }
}
output { stdout { codec => rubydebug } }
"#)
        .unwrap();
        assert_eq!(c.sections.len(), 3);
        let Statement::If(chain) = &c.sections[1].body[0] else {
            panic!()
        };
        assert_eq!(chain.branches.len(), 3);
        assert!(matches!(
            chain.branches[0].0,
            Condition::Bool(BoolOp::Or, _, _)
        ));
    }

    #[test]
    fn numbers() {
        assert_eq!(int_value("010"), Some(8));
        assert_eq!(int_value("08"), None);
        assert!(p("input { x { n => 1. } }").is_err());
        assert!(p("input { x { n => 08 } }").is_err());
    }

    #[test]
    fn errors_have_locations() {
        let e = p("input {\n  stdin {\n    codec => \n  }\n}").unwrap_err();
        assert_eq!(e.location.unwrap().to_string(), "t.conf:4:3");
        assert!(e.message.contains("expected a value"), "{}", e.message);
        let e = p("input { stdin { a => 1, b => 2 } }").unwrap_err();
        assert!(e.message.contains("found `,`"), "{}", e.message);
        let e = p("filter { if [a] == 1 xor [b] and [c] { } }").unwrap_err();
        assert!(e.message.contains("xor"), "{}", e.message);
        let e = p("filter { if [a] == true { } }").unwrap_err();
        assert!(e.message.contains("barewords"), "{}", e.message);
    }
}
