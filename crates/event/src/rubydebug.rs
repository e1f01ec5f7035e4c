//! The rubydebug layout (amazing_print 1.x defaults): aligned `"key" => value` lines, indexed arrays,
//! Ruby `String#inspect`, JRuby float text, timestamps unquoted; ANSI colour only on a terminal.

use std::fmt::Write;

use crate::numfmt::ruby_float;
use crate::value::{Map, Value};

const KEY: &str = "\x1b[0;33m";
const ARROW: &str = "\x1b[0;37m";
const NUM: &str = "\x1b[1;34m";
const TRUE: &str = "\x1b[1;32m";
const FALSE: &str = "\x1b[1;31m";
const INDEX: &str = "\x1b[1;37m";
const RESET: &str = "\x1b[0m";

/// Formats a top-level hash, with the trailing newline the codec adds.
pub fn format(m: &Map, colour: bool) -> String {
    let mut out = String::with_capacity(256);
    let p = Printer { colour };
    p.hash(m, 4, &mut out);
    out.push('\n');
    out
}

struct Printer {
    colour: bool,
}

impl Printer {
    fn paint(&self, out: &mut String, code: &str, text: &str) {
        if self.colour {
            out.push_str(code);
            out.push_str(text);
            out.push_str(RESET);
        } else {
            out.push_str(text);
        }
    }

    fn hash(&self, m: &Map, indent: usize, out: &mut String) {
        if m.is_empty() {
            out.push_str("{}");
            return;
        }
        let keys: Vec<String> = m.keys().map(|k| inspect_str(k)).collect();
        let width = keys.iter().map(|k| k.chars().count()).max().unwrap_or(0) + indent;
        out.push_str("{\n");
        for (i, (k, v)) in keys.iter().zip(m.values()).enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            out.extend(std::iter::repeat_n(' ', width - k.chars().count()));
            self.paint(out, KEY, k);
            self.paint(out, ARROW, " => ");
            self.value(v, indent + 4, out);
        }
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent - 4));
        out.push('}');
    }

    fn array(&self, a: &[Value], indent: usize, out: &mut String) {
        if a.is_empty() {
            out.push_str("[]");
            return;
        }
        let w = (a.len() - 1).to_string().len();
        out.push_str("[\n");
        for (i, v) in a.iter().enumerate() {
            if i > 0 {
                out.push_str(",\n");
            }
            out.extend(std::iter::repeat_n(' ', indent));
            self.paint(out, INDEX, &format!("[{i:>w$}] "));
            self.value(v, indent + 4, out);
        }
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', indent - 4));
        out.push(']');
    }

    fn value(&self, v: &Value, indent: usize, out: &mut String) {
        match v {
            Value::Null => self.paint(out, FALSE, "nil"),
            Value::Bool(true) => self.paint(out, TRUE, "true"),
            Value::Bool(false) => self.paint(out, FALSE, "false"),
            Value::Int(i) => self.paint(out, NUM, &i.to_string()),
            Value::BigInt(d) => self.paint(out, NUM, d),
            Value::Float(f) => self.paint(out, NUM, &ruby_float(*f)),
            Value::String(s) => self.paint(out, KEY, &inspect_str(s)),
            Value::Timestamp(t) => t.write_iso(out),
            Value::Array(a) => self.array(a, indent, out),
            Value::Object(m) => self.hash(m, indent, out),
        }
    }
}

/// Ruby `String#inspect`.
pub fn inspect_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '#' if matches!(chars.peek(), Some('{' | '$' | '@')) => out.push_str("\\#"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            '\x08' => out.push_str("\\b"),
            '\x07' => out.push_str("\\a"),
            '\x1b' => out.push_str("\\e"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                let _ = if (c as u32) > 0xffff {
                    write!(out, "\\u{{{:X}}}", c as u32)
                } else {
                    write!(out, "\\u{:04X}", c as u32)
                };
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Ruby 3.1 `inspect` of a value on one line (`{"a"=>1}`, `[1, "b"]`), as `join` and `to_s` give it.
pub fn inspect_inline(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::String(s) => inspect_str(s),
        Value::Float(f) => ruby_float(*f),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(inspect_inline).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}=>{}", inspect_str(k), inspect_inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_java_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Timestamp;

    fn obj(pairs: Vec<(&str, Value)>) -> Value {
        Value::Object(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    #[test]
    fn reference_example_2() {
        let tags: Vec<Value> = "abcdefghijk"
            .chars()
            .map(|c| Value::from(c.to_string()))
            .collect();
        let Value::Object(m) = obj(vec![
            (
                "@timestamp",
                Value::Timestamp(Timestamp("2024-05-01T12:34:56Z".parse().unwrap())),
            ),
            ("@version", "1".into()),
            ("message", "say \"hi\"\tC:\\tmp #{x}".into()),
            ("count", 42.into()),
            ("ratio", 0.5.into()),
            ("big", 1e20.into()),
            ("ok", true.into()),
            ("gone", Value::Null),
            ("tags", Value::Array(tags)),
            (
                "http",
                obj(vec![
                    (
                        "request",
                        obj(vec![("method", "GET".into()), ("bytes", 1024.into())]),
                    ),
                    ("headers", Value::Array(vec![])),
                    ("meta", obj(vec![])),
                ]),
            ),
            (
                "list",
                Value::Array(vec![
                    1.into(),
                    2.0.into(),
                    obj(vec![
                        ("k", "v".into()),
                        ("key2", Value::Array(vec![true.into(), Value::Null])),
                    ]),
                ]),
            ),
        ]) else {
            panic!()
        };
        let expected = include_str!("../tests/data/rubydebug_example2.txt");
        assert_eq!(format(&m, false), expected);
    }

    #[test]
    fn colour_line() {
        let Value::Object(m) = obj(vec![("message", "hi".into())]) else {
            panic!()
        };
        let s = format(&m, true);
        assert!(s.contains(
            "    \x1b[0;33m\"message\"\x1b[0m\x1b[0;37m => \x1b[0m\x1b[0;33m\"hi\"\x1b[0m"
        ));
    }
}
