//! Conditionals, compiled once and evaluated per event with Logstash's semantics
//! (`EventCondition`): type-strict `==`, substring/membership `in`, unanchored `=~` with Ruby's
//! regex dialect.

use std::cmp::Ordering;

use rstash_config::ast::{self, BoolOp, CmpOp, Number};
use rstash_config::{ConfigError, Source};
use rstash_event::{Event, FieldRef, Value};
use rstash_regex::Regex;
use tracing::warn;

#[derive(Debug)]
pub enum Operand {
    Field(FieldRef),
    Const(Value),
    Regex(Regex),
}

#[derive(Debug)]
pub enum Cond {
    Bool(BoolOp, Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Truthy(Operand),
    Compare(Operand, CmpOp, Operand),
    Match(Operand, bool, Regex),
    In(Operand, bool, Operand),
}

/// A comparison that Logstash cannot make (string vs number, missing field): the event is dropped.
#[derive(Debug)]
pub struct EvalError(pub String);

pub fn compile(c: &ast::Condition, src: &Source) -> Result<Cond, ConfigError> {
    Ok(match c {
        ast::Condition::Bool(op, a, b) => {
            Cond::Bool(*op, Box::new(compile(a, src)?), Box::new(compile(b, src)?))
        }
        ast::Condition::Not(inner) => Cond::Not(Box::new(compile(inner, src)?)),
        ast::Condition::Group(inner) => compile(inner, src)?,
        ast::Condition::Value(v) => Cond::Truthy(operand(v, src)?),
        ast::Condition::Compare(l, op, r) => Cond::Compare(operand(l, src)?, *op, operand(r, src)?),
        ast::Condition::Match {
            left,
            negate,
            pattern,
        } => {
            let text = match pattern {
                ast::Rvalue::Regex { text, .. } | ast::Rvalue::String { text, .. } => text.clone(),
                other => {
                    return Err(ConfigError::at(
                        src.locate(other.span().start),
                        "expected a regular expression",
                    ))
                }
            };
            Cond::Match(
                operand(left, src)?,
                *negate,
                regex(&text, pattern.span().start, src)?,
            )
        }
        ast::Condition::In {
            left,
            negate,
            right,
        } => Cond::In(operand(left, src)?, *negate, operand(right, src)?),
    })
}

/// Tag of an event whose `=~`/`!~` gave up (a runaway regex): the match counts as none.
pub const REGEX_TIMEOUT_TAG: &str = "_regextimeout";

pub fn regex(text: &str, at: usize, src: &Source) -> Result<Regex, ConfigError> {
    // `\/` in a /regex/ literal is an escaped slash.
    Regex::new(&text.replace("\\/", "/")).map_err(|e| {
        ConfigError::at(
            src.locate(at),
            format!("invalid regular expression /{text}/: {e}"),
        )
    })
}

fn number(n: Number) -> Value {
    match n {
        Number::Int(i) => Value::Int(i),
        Number::Float(f) => Value::Float(f),
    }
}

fn operand(v: &ast::Rvalue, src: &Source) -> Result<Operand, ConfigError> {
    Ok(match v {
        ast::Rvalue::String { text, .. } => Operand::Const(Value::String(text.as_str().into())),
        ast::Rvalue::Number { value, .. } => Operand::Const(number(*value)),
        ast::Rvalue::Selector { text, span } => Operand::Field(
            FieldRef::parse(text)
                .map_err(|e| ConfigError::at(src.locate(span.start), e.to_string()))?,
        ),
        ast::Rvalue::Array { items, .. } => Operand::Const(Value::Array(
            items
                .iter()
                .map(|i| match operand(i, src)? {
                    Operand::Const(v) => Ok(v),
                    _ => Err(ConfigError::at(
                        src.locate(i.span().start),
                        "array items in conditions must be constants",
                    )),
                })
                .collect::<Result<_, _>>()?,
        )),
        ast::Rvalue::Regex { text, span } => Operand::Regex(regex(text, span.start, src)?),
        ast::Rvalue::MethodCall { name, span, .. } => {
            return Err(ConfigError::at(
                src.locate(span.start),
                format!("method call `{name}(...)` is not supported in conditions"),
            ))
        }
    })
}

fn resolve<'a>(o: &'a Operand, e: &'a Event) -> Option<std::borrow::Cow<'a, Value>> {
    match o {
        Operand::Field(f) if f.is_metadata_root() => e.get_value(f).map(std::borrow::Cow::Owned),
        Operand::Field(f) => e.get(f).map(std::borrow::Cow::Borrowed),
        Operand::Const(v) => Some(std::borrow::Cow::Borrowed(v)),
        Operand::Regex(_) => None,
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !(s.is_empty() || s == "false"),
        _ => true,
    }
}

/// Java `equals` on Logstash's values: no cross-type equality (1 != 1.0, "1" != 1).
fn strict_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => x == y,
        _ => a == b,
    }
}

/// A numeric value as a double (for comparisons that involve a big integer).
fn as_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        Value::BigInt(d) => d.parse().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> Result<Ordering, EvalError> {
    let ord = match (a, b) {
        (Some(Value::Int(x)), Some(Value::Int(y))) => Some(x.cmp(y)),
        (Some(Value::Int(x)), Some(Value::Float(y))) => (*x as f64).partial_cmp(y),
        (Some(Value::Float(x)), Some(Value::Int(y))) => x.partial_cmp(&(*y as f64)),
        (Some(Value::Float(x)), Some(Value::Float(y))) => x.partial_cmp(y),
        // Integers past 64 bits compare by value (as doubles: exact at those magnitudes' order).
        (
            Some(a @ (Value::Int(_) | Value::Float(_) | Value::BigInt(_))),
            Some(Value::BigInt(_)),
        )
        | (Some(a @ Value::BigInt(_)), Some(Value::Int(_) | Value::Float(_))) => {
            let (x, y) = (as_f64(a), b.map_or(f64::NAN, as_f64));
            x.partial_cmp(&y)
        }
        (Some(Value::String(x)), Some(Value::String(y))) => Some(x.as_bytes().cmp(y.as_bytes())),
        (Some(Value::Timestamp(x)), Some(Value::Timestamp(y))) => Some(x.cmp(y)),
        _ => None,
    };
    ord.ok_or_else(|| {
        EvalError(format!(
            "cannot compare {} with {}",
            a.map(Value::to_java_string).unwrap_or_else(|| "nil".into()),
            b.map(Value::to_java_string).unwrap_or_else(|| "nil".into())
        ))
    })
}

impl Cond {
    pub fn eval(&self, e: &Event) -> Result<bool, EvalError> {
        self.eval_noting(e, &mut false)
    }

    /// As `eval`; `gave_up` is set when a regex match ran out of its budget (counted as no match).
    pub fn eval_noting(&self, e: &Event, gave_up: &mut bool) -> Result<bool, EvalError> {
        Ok(match self {
            Cond::Bool(op, a, b) => match op {
                BoolOp::And => a.eval_noting(e, gave_up)? && b.eval_noting(e, gave_up)?,
                BoolOp::Or => a.eval_noting(e, gave_up)? || b.eval_noting(e, gave_up)?,
                BoolOp::Xor => a.eval_noting(e, gave_up)? ^ b.eval_noting(e, gave_up)?,
                BoolOp::Nand => !(a.eval_noting(e, gave_up)? && b.eval_noting(e, gave_up)?),
            },
            Cond::Not(c) => !c.eval_noting(e, gave_up)?,
            Cond::Truthy(o) => truthy(resolve(o, e).as_deref()),
            Cond::Compare(l, op, r) => {
                let (a, b) = (resolve(l, e), resolve(r, e));
                match op {
                    CmpOp::Eq | CmpOp::Ne => {
                        let eq = match (a.as_deref(), b.as_deref()) {
                            (Some(x), Some(y)) => strict_eq(x, y),
                            (None, None) => true,
                            (Some(Value::Null), None) | (None, Some(Value::Null)) => true,
                            _ => false,
                        };
                        eq == (*op == CmpOp::Eq)
                    }
                    _ => {
                        let o = compare(a.as_deref(), b.as_deref())?;
                        match op {
                            CmpOp::Lt => o == Ordering::Less,
                            CmpOp::Gt => o == Ordering::Greater,
                            CmpOp::Le => o != Ordering::Greater,
                            _ => o != Ordering::Less,
                        }
                    }
                }
            }
            Cond::Match(l, negate, re) => {
                let m = match resolve(l, e).as_deref() {
                    Some(Value::String(s)) => re.is_match(s).unwrap_or_else(|x| {
                        warn!("{x}: the condition counts it as no match");
                        *gave_up = true;
                        false
                    }),
                    _ => false,
                };
                m != *negate
            }
            Cond::In(l, negate, r) => in_test(l, r, e) != *negate,
        })
    }
}

fn in_test(l: &Operand, r: &Operand, e: &Event) -> bool {
    let (a, b) = (resolve(l, e), resolve(r, e));
    let (Some(a), Some(b)) = (a.as_deref(), b.as_deref()) else {
        return false;
    };
    match (l, r) {
        // field in array constant: compare by text
        (Operand::Field(_), Operand::Const(Value::Array(items))) => {
            !a.is_null()
                && items
                    .iter()
                    .any(|i| i.to_java_string() == a.to_java_string())
        }
        (Operand::Field(_), Operand::Field(_)) => match (a, b) {
            (Value::Array(_) | Value::Object(_), _) => false,
            (Value::String(x), Value::String(y)) => y.contains(x.as_str()),
            (x, Value::Array(items)) => items.iter().any(|i| strict_eq(i, x)),
            (x, y) => strict_eq(x, y),
        },
        _ => match (a, b) {
            (Value::String(x), Value::String(y)) => y.contains(x.as_str()),
            (x, Value::Array(items)) => items.iter().any(|i| strict_eq(i, x)),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstash_config::ast::{Section, Statement};

    fn cond(text: &str) -> Cond {
        let src = Source::from_string("t", &format!("filter {{ if {text} {{ }} }}"));
        let cfg = rstash_config::parse(&src).unwrap();
        let Section { body, .. } = &cfg.sections[0];
        let Statement::If(chain) = &body[0] else {
            panic!()
        };
        compile(&chain.branches[0].0, &src).unwrap()
    }

    fn ev() -> Event {
        let mut e = Event::with_message("hello world");
        let d = e.data_mut();
        d.insert("n".into(), 1.into());
        d.insert("f".into(), 1.0.into());
        d.insert("s".into(), "false".into());
        d.insert("empty".into(), Value::Array(vec![]));
        d.insert("list".into(), Value::Array(vec!["a".into(), 2.into()]));
        e
    }

    fn t(text: &str) -> bool {
        cond(text).eval(&ev()).unwrap()
    }

    #[test]
    fn truthiness() {
        assert!(t("[message]"));
        assert!(!t("[s]"));
        assert!(t("[empty]"));
        assert!(!t("[missing]"));
        assert!(t("![missing]"));
    }

    #[test]
    fn equality_is_type_strict() {
        assert!(t("[n] == 1"));
        assert!(!t("[n] == 1.0"));
        assert!(!t("[n] == \"1\""));
        assert!(t("[f] == 1.0"));
        assert!(t("[missing] == [alsomissing]"));
    }

    #[test]
    fn ordering_and_errors() {
        assert!(t("[n] < 2 and [message] > \"a\""));
        assert!(cond("[message] > 1").eval(&ev()).is_err());
        assert!(cond("[missing] > 1").eval(&ev()).is_err());
    }

    #[test]
    fn regexes_are_ruby_and_bounded() {
        // Look-behind, `\h`, a named back-reference: Ruby regex syntax the `regex` crate lacks.
        assert!(t(r"[message] =~ /(?<=hello )w\h?orld/"));
        assert!(t(r"[message] =~ /(?<c>l)\k<c>/"));
        assert!(!t(r"[message] !~ /^hello/"));
        // A runaway pattern gives up: no match, and the caller is told (it tags the event).
        let e = Event::with_message(format!("{}b", "a".repeat(40)));
        let mut gave_up = false;
        let c = cond(r"[message] =~ /^(a+)+$/");
        assert!(!c.eval_noting(&e, &mut gave_up).unwrap());
        assert!(gave_up);
    }

    #[test]
    fn in_and_match() {
        assert!(t("\"world\" in [message]"));
        assert!(t("[message] in \"say hello world!\""));
        assert!(t("\"a\" in [list]"));
        assert!(t("2 in [list]"));
        assert!(t("[n] in [\"1\", \"2\"]"));
        assert!(t("[missing] not in [alsomissing]"));
        assert!(t("[message] =~ /wor/"));
        assert!(t("[n] !~ /1/"));
        assert!(t("[message] =~ \"^hello\""));
    }

    #[test]
    fn precedence() {
        assert!(t("[missing] and [missing] or [message]"));
        assert!(!t("[missing] and ([missing] or [message])"));
        assert!(t("[message] xor [missing]"));
        assert!(t("[missing] nand [message]"));
    }
}
