//! Prints an AST back to config text; parsing what it prints gives the same tree.

use crate::ast::*;

pub fn print(c: &Config) -> String {
    let mut out = String::new();
    for s in &c.sections {
        out.push_str(s.kind.name());
        out.push_str(" {\n");
        statements(&s.body, 1, &mut out);
        out.push_str("}\n");
    }
    out
}

fn indent(n: usize, out: &mut String) {
    out.extend(std::iter::repeat_n("  ", n));
}

fn statements(body: &[Statement], depth: usize, out: &mut String) {
    for st in body {
        indent(depth, out);
        match st {
            Statement::Plugin(p) => plugin(p, depth, out),
            Statement::If(chain) => {
                for (i, (c, b)) in chain.branches.iter().enumerate() {
                    out.push_str(if i == 0 { "if " } else { " else if " });
                    condition(c, out);
                    out.push_str(" {\n");
                    statements(b, depth + 1, out);
                    indent(depth, out);
                    out.push('}');
                }
                if let Some(b) = &chain.otherwise {
                    out.push_str(" else {\n");
                    statements(b, depth + 1, out);
                    indent(depth, out);
                    out.push('}');
                }
            }
        }
        out.push('\n');
    }
}

fn name(n: &str, out: &mut String) {
    if !n.is_empty()
        && n.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        out.push_str(n);
    } else {
        quoted(n, '"', out);
    }
}

fn quoted(text: &str, q: char, out: &mut String) {
    out.push(q);
    out.push_str(text);
    out.push(q);
}

fn plugin(p: &Plugin, depth: usize, out: &mut String) {
    name(&p.name, out);
    if p.attributes.is_empty() {
        out.push_str(" {}");
        return;
    }
    out.push_str(" {\n");
    for a in &p.attributes {
        indent(depth + 1, out);
        name(&a.name, out);
        out.push_str(" => ");
        value(&a.value, depth + 1, out);
        out.push('\n');
    }
    indent(depth, out);
    out.push('}');
}

fn value(v: &Value, depth: usize, out: &mut String) {
    match v {
        Value::String { text, quote, .. } => quoted(text, *quote, out),
        Value::Bareword { text, .. } | Value::Number { text, .. } => out.push_str(text),
        Value::Array { items, .. } => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                value(it, depth, out);
            }
            out.push(']');
        }
        Value::Hash { entries, .. } => {
            out.push('{');
            for (k, v) in entries {
                out.push(' ');
                value(k, depth, out);
                out.push_str(" => ");
                value(v, depth, out);
            }
            out.push_str(" }");
        }
        Value::Plugin(p) => plugin(p, depth, out),
    }
}

fn condition(c: &Condition, out: &mut String) {
    match c {
        Condition::Bool(op, a, b) => {
            condition(a, out);
            out.push_str(match op {
                BoolOp::And => " and ",
                BoolOp::Or => " or ",
                BoolOp::Xor => " xor ",
                BoolOp::Nand => " nand ",
            });
            condition(b, out);
        }
        Condition::Not(inner) => {
            out.push('!');
            condition(inner, out);
        }
        Condition::Group(inner) => {
            out.push('(');
            condition(inner, out);
            out.push(')');
        }
        Condition::Compare(l, op, r) => {
            rvalue(l, out);
            out.push(' ');
            out.push_str(op.text());
            out.push(' ');
            rvalue(r, out);
        }
        Condition::Match {
            left,
            negate,
            pattern,
        } => {
            rvalue(left, out);
            out.push_str(if *negate { " !~ " } else { " =~ " });
            rvalue(pattern, out);
        }
        Condition::In {
            left,
            negate,
            right,
        } => {
            rvalue(left, out);
            out.push_str(if *negate { " not in " } else { " in " });
            rvalue(right, out);
        }
        Condition::Value(v) => rvalue(v, out),
    }
}

fn rvalue(v: &Rvalue, out: &mut String) {
    match v {
        Rvalue::String { text, quote, .. } => quoted(text, *quote, out),
        Rvalue::Number { text, .. } | Rvalue::Selector { text, .. } => out.push_str(text),
        Rvalue::Array { items, .. } => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                rvalue(it, out);
            }
            out.push(']');
        }
        Rvalue::Regex { text, .. } => {
            out.push('/');
            out.push_str(text);
            out.push('/');
        }
        Rvalue::MethodCall { name, args, .. } => {
            out.push_str(name);
            out.push('(');
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                rvalue(a, out);
            }
            out.push(')');
        }
    }
}
