//! Lucene query syntax (`query_string`, `q=`) and Kibana's KQL, parsed into the query DSL.
//!
//! Lucene: `field:value`, `"a phrase"`, `AND`/`OR`/`NOT`, `+must`, `-must_not`, `( )`, ranges
//! `[a TO b]`/`{a TO b}`/`>=x`, wildcards `fo*`, `/regex/`, `_exists_:field`, `field:*`. Clauses
//! combine as Lucene's classic parser combines them: `AND` makes both sides required, `NOT` and
//! `-` prohibit, the rest take the default operator. KQL: the same shapes with `and`/`or`/`not`
//! in any case, `field:(a or b)` and `field > 5`; no `+`/`-`.
//! Terms without a field search the default fields (`*`: every text and keyword field).

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Phrase(String),
    Regex(String),
    Colon,
    Open,
    Close,
    Range {
        lo: String,
        hi: String,
        lo_inc: bool,
        hi_inc: bool,
    },
    Cmp(&'static str, String),
    And,
    Or,
    Not,
    Plus,
    Minus,
}

fn err(msg: impl Into<String>) -> String {
    msg.into()
}

fn lex(text: &str, kql: bool) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ':' => {
                out.push(Tok::Colon);
                i += 1;
            }
            '+' if !kql => {
                out.push(Tok::Plus);
                i += 1;
            }
            '-' if !kql && out.last().is_none_or(|t| !matches!(t, Tok::Colon)) => {
                out.push(Tok::Minus);
                i += 1;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err("Cannot parse: a phrase lacks its closing quote"));
                }
                i += 1;
                out.push(Tok::Phrase(s));
            }
            '/' if !kql => {
                let mut s = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '/' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        s.push(chars[i]);
                        i += 1;
                    }
                    s.push(chars[i]);
                    i += 1;
                }
                if i >= chars.len() {
                    return Err(err(
                        "Cannot parse: a regular expression lacks its closing slash",
                    ));
                }
                i += 1;
                out.push(Tok::Regex(s));
            }
            '[' | '{' if !kql => {
                let start = i + 1;
                let end = chars[start..]
                    .iter()
                    .position(|&x| x == ']' || x == '}')
                    .map(|p| start + p)
                    .ok_or_else(|| err("Cannot parse: a range lacks its closing bracket"))?;
                let inner: String = chars[start..end].iter().collect();
                let parts: Vec<&str> = inner.split(" TO ").collect();
                if parts.len() != 2 {
                    return Err(err(format!(
                        "Cannot parse: the range [{inner}] wants `a TO b`"
                    )));
                }
                out.push(Tok::Range {
                    lo: parts[0].trim().trim_matches('"').to_string(),
                    hi: parts[1].trim().trim_matches('"').to_string(),
                    lo_inc: c == '[',
                    hi_inc: chars[end] == ']',
                });
                i = end + 1;
            }
            '>' | '<' => {
                let op = if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    if c == '>' {
                        "gte"
                    } else {
                        "lte"
                    }
                } else {
                    i += 1;
                    if c == '>' {
                        "gt"
                    } else {
                        "lt"
                    }
                };
                while i < chars.len() && chars[i].is_whitespace() {
                    i += 1;
                }
                let mut v = String::new();
                if chars.get(i) == Some(&'"') {
                    i += 1;
                    while i < chars.len() && chars[i] != '"' {
                        v.push(chars[i]);
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < chars.len() && !chars[i].is_whitespace() && chars[i] != ')' {
                        v.push(chars[i]);
                        i += 1;
                    }
                }
                // `field > 5` (KQL) has no colon before the operator.
                if kql && !matches!(out.last(), Some(Tok::Colon)) {
                    out.push(Tok::Colon);
                }
                out.push(Tok::Cmp(op, v));
            }
            _ => {
                let mut s = String::new();
                while i < chars.len() {
                    let x = chars[i];
                    if x == '\\' && i + 1 < chars.len() {
                        s.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    if x.is_whitespace() || "():\"".contains(x) || (!kql && "[{".contains(x)) {
                        break;
                    }
                    s.push(x);
                    i += 1;
                }
                if s.is_empty() {
                    return Err(err(format!("Cannot parse: unexpected [{x}]", x = chars[i])));
                }
                let op = |w: &str| {
                    if kql {
                        s.eq_ignore_ascii_case(w)
                    } else {
                        s == w
                    }
                };
                out.push(if op("AND") || (!kql && s == "&&") {
                    Tok::And
                } else if op("OR") || (!kql && s == "||") {
                    Tok::Or
                } else if op("NOT") || (!kql && s == "!") {
                    Tok::Not
                } else {
                    Tok::Word(s)
                });
            }
        }
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
enum Occur {
    Must,
    Should,
    MustNot,
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    and_default: bool,
    fields: &'a [String],
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    /// A sequence of clauses up to `)` or the end, as one bool query.
    fn query(&mut self, field: Option<&str>) -> Result<Value, String> {
        self.depth += 1;
        if self.depth > 100 {
            return Err(err("Cannot parse: nested too deep"));
        }
        let mut clauses: Vec<(Occur, Value)> = Vec::new();
        let mut conj: Option<Tok> = None;
        while let Some(t) = self.peek() {
            if *t == Tok::Close {
                break;
            }
            if matches!(t, Tok::And | Tok::Or) {
                conj = self.next();
                continue;
            }
            let mut occur = None;
            match self.peek() {
                Some(Tok::Plus) => {
                    self.pos += 1;
                    occur = Some(Occur::Must);
                }
                Some(Tok::Minus) | Some(Tok::Not) => {
                    self.pos += 1;
                    occur = Some(Occur::MustNot);
                }
                _ => {}
            }
            let q = self.clause(field)?;
            let occur = occur.unwrap_or(match conj {
                Some(Tok::And) => Occur::Must,
                Some(Tok::Or) => Occur::Should,
                _ if self.and_default => Occur::Must,
                _ => Occur::Should,
            });
            // `a AND b`: the left side is required too (Lucene's classic parser).
            if conj == Some(Tok::And) {
                if let Some(last) = clauses.last_mut() {
                    if last.0 == Occur::Should {
                        last.0 = Occur::Must;
                    }
                }
            }
            if conj == Some(Tok::Or) && self.and_default {
                if let Some(last) = clauses.last_mut() {
                    if last.0 == Occur::Must {
                        last.0 = Occur::Should;
                    }
                }
            }
            clauses.push((occur, q));
            conj = None;
        }
        self.depth -= 1;
        if clauses.len() == 1 && clauses[0].0 != Occur::MustNot {
            return Ok(clauses.remove(0).1);
        }
        let pick = |o: Occur| -> Vec<Value> {
            clauses
                .iter()
                .filter(|c| c.0 == o)
                .map(|c| c.1.clone())
                .collect()
        };
        let (must, should, not) = (pick(Occur::Must), pick(Occur::Should), pick(Occur::MustNot));
        let mut b = serde_json::Map::new();
        if !must.is_empty() {
            b.insert("must".into(), json!(must));
        }
        if !should.is_empty() {
            b.insert("should".into(), json!(should));
        }
        if !not.is_empty() {
            b.insert("must_not".into(), json!(not));
            if must.is_empty() && should.is_empty() {
                b.insert("must".into(), json!([{"match_all": {}}]));
            }
        }
        Ok(json!({ "bool": b }))
    }

    fn clause(&mut self, field: Option<&str>) -> Result<Value, String> {
        match self.next() {
            Some(Tok::Open) => {
                let q = self.query(field)?;
                if self.next() != Some(Tok::Close) {
                    return Err(err("Cannot parse: a group lacks its closing parenthesis"));
                }
                Ok(q)
            }
            Some(Tok::Word(w)) if self.peek() == Some(&Tok::Colon) && field.is_none() => {
                self.pos += 1;
                self.clause(Some(&w))
            }
            Some(Tok::Word(w)) => Ok(self.leaf(field, Leaf::Word(w))),
            Some(Tok::Phrase(p)) => Ok(self.leaf(field, Leaf::Phrase(p))),
            Some(Tok::Regex(r)) => Ok(self.leaf(field, Leaf::Regex(r))),
            Some(Tok::Range {
                lo,
                hi,
                lo_inc,
                hi_inc,
            }) => {
                let f = field.ok_or_else(|| err("Cannot parse: a range needs a field"))?;
                let mut r = serde_json::Map::new();
                if lo != "*" {
                    r.insert(if lo_inc { "gte" } else { "gt" }.into(), json!(lo));
                }
                if hi != "*" {
                    r.insert(if hi_inc { "lte" } else { "lt" }.into(), json!(hi));
                }
                Ok(json!({"range": {f: r}}))
            }
            Some(Tok::Cmp(op, v)) => {
                let f = field.ok_or_else(|| err("Cannot parse: a comparison needs a field"))?;
                Ok(json!({"range": {f: {op: v}}}))
            }
            Some(other) => Err(err(format!("Cannot parse: unexpected {other:?}"))),
            None => Err(err("Cannot parse: the query ends too early")),
        }
    }

    fn leaf(&self, field: Option<&str>, leaf: Leaf) -> Value {
        if let (Some("_exists_"), Leaf::Word(f)) = (field, &leaf) {
            return json!({"exists": {"field": f}});
        }
        let one = |f: &str| -> Value {
            match &leaf {
                Leaf::Word(w) if w == "*" => json!({"exists": {"field": f}}),
                Leaf::Word(w) if w.contains(['*', '?']) => {
                    json!({"wildcard": {f: {"value": w, "case_insensitive": true}}})
                }
                Leaf::Word(w) => json!({"match": {f: {"query": w, "lenient": true}}}),
                Leaf::Phrase(p) => json!({"match_phrase": {f: p}}),
                Leaf::Regex(r) => json!({"regexp": {f: r}}),
            }
        };
        match field {
            Some(f) if !f.contains('*') => one(f),
            Some(pattern) => {
                json!({"_default_fields": {"fields": [pattern], "each": one("__field__")}})
            }
            None if self.fields.len() == 1 && !self.fields[0].contains('*') => one(&self.fields[0]),
            None => json!({"_default_fields": {"fields": self.fields, "each": one("__field__")}}),
        }
    }
}

enum Leaf {
    Word(String),
    Phrase(String),
    Regex(String),
}

/// Parses a Lucene (or, with `kql`, KQL) query into the query DSL. `fields` are the default
/// fields for terms without one (patterns allowed, `*` = all); the DSL's
/// `_default_fields` entries expand them against the index's mapping.
pub fn to_dsl(
    text: &str,
    fields: &[String],
    and_default: bool,
    kql: bool,
) -> Result<Value, String> {
    if text.trim().is_empty() || text.trim() == "*" || text.trim() == "*:*" {
        return Ok(json!({"match_all": {}}));
    }
    let mut p = Parser {
        toks: lex(text, kql)?,
        pos: 0,
        and_default,
        fields,
        depth: 0,
    };
    let q = p.query(None)?;
    if p.pos < p.toks.len() {
        return Err(err("Cannot parse: an unmatched closing parenthesis"));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dsl(q: &str) -> Value {
        to_dsl(q, &["*".into()], false, false).unwrap()
    }

    #[test]
    fn fields_operators_and_negation() {
        assert_eq!(
            dsl("response:404 AND NOT verb:GET"),
            json!({"bool": {"must": [{"match": {"response": {"query": "404", "lenient": true}}}],
                            "must_not": [{"match": {"verb": {"query": "GET", "lenient": true}}}]}})
        );
        assert_eq!(
            dsl("-verb:GET"),
            json!({"bool": {"must": [{"match_all": {}}], "must_not": [{"match": {"verb": {"query": "GET", "lenient": true}}}]}})
        );
        assert_eq!(dsl("NOT verb:GET"), dsl("-verb:GET"));
        assert_eq!(
            dsl("bytes:[100 TO *}"),
            json!({"range": {"bytes": {"gte": "100"}}})
        );
        assert_eq!(dsl("_exists_:agent"), json!({"exists": {"field": "agent"}}));
        assert!(to_dsl("(a OR b", &[], false, false).is_err());
        assert!(to_dsl("\"open", &[], false, false).is_err());
    }

    #[test]
    fn kql_shapes() {
        let q = to_dsl("response:404 and not verb:get", &["*".into()], false, true).unwrap();
        assert_eq!(q["bool"]["must_not"][0]["match"]["verb"]["query"], "get");
        let q = to_dsl("bytes >= 1000", &["*".into()], false, true).unwrap();
        assert_eq!(q, json!({"range": {"bytes": {"gte": "1000"}}}));
        let q = to_dsl("verb:(GET or POST)", &["*".into()], false, true).unwrap();
        assert_eq!(q["bool"]["should"].as_array().map(Vec::len), Some(2));
    }
}
