//! The syntax tree of a Logstash config. Spans are byte offsets into the `Source` text.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    Input,
    Filter,
    Output,
}

impl SectionKind {
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Input => "input",
            SectionKind::Filter => "filter",
            SectionKind::Output => "output",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub sections: Vec<Section>,
}

impl Config {
    /// All statements of one kind, sections concatenated in order.
    pub fn statements(&self, kind: SectionKind) -> Vec<&Statement> {
        self.sections
            .iter()
            .filter(|s| s.kind == kind)
            .flat_map(|s| s.body.iter())
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub kind: SectionKind,
    pub body: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Plugin(Plugin),
    If(IfChain),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plugin {
    pub name: String,
    pub span: Span,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub span: Span,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Quoted text, raw between the quotes (`config.support_escapes` is off by default).
    String {
        text: String,
        quote: char,
        span: Span,
    },
    Bareword {
        text: String,
        span: Span,
    },
    Number {
        text: String,
        value: Number,
        span: Span,
    },
    Array {
        items: Vec<Value>,
        span: Span,
    },
    Hash {
        entries: Vec<(Value, Value)>,
        span: Span,
    },
    Plugin(Plugin),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Int(i64),
    Float(f64),
}

impl Value {
    pub fn span(&self) -> Span {
        match self {
            Value::String { span, .. }
            | Value::Bareword { span, .. }
            | Value::Number { span, .. }
            | Value::Array { span, .. }
            | Value::Hash { span, .. } => *span,
            Value::Plugin(p) => p.span,
        }
    }

    /// The value as a key or scalar string (strings, barewords, numbers as written).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::String { text, .. }
            | Value::Bareword { text, .. }
            | Value::Number { text, .. } => Some(text),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String { .. } => "string",
            Value::Bareword { .. } => "bareword",
            Value::Number { .. } => "number",
            Value::Array { .. } => "array",
            Value::Hash { .. } => "hash",
            Value::Plugin(_) => "plugin",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct IfChain {
    /// `if` then each `else if`, in order.
    pub branches: Vec<(Condition, Vec<Statement>)>,
    pub otherwise: Option<Vec<Statement>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoolOp {
    And,
    Or,
    Xor,
    Nand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl CmpOp {
    pub fn text(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Bool(BoolOp, Box<Condition>, Box<Condition>),
    Not(Box<Condition>),
    /// A parenthesised condition, kept so the printer gives back what was written.
    Group(Box<Condition>),
    Compare(Rvalue, CmpOp, Rvalue),
    Match {
        left: Rvalue,
        negate: bool,
        pattern: Rvalue,
    },
    In {
        left: Rvalue,
        negate: bool,
        right: Rvalue,
    },
    Value(Rvalue),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rvalue {
    String {
        text: String,
        quote: char,
        span: Span,
    },
    Number {
        text: String,
        value: Number,
        span: Span,
    },
    /// `[a][b]` as written.
    Selector {
        text: String,
        span: Span,
    },
    Array {
        items: Vec<Rvalue>,
        span: Span,
    },
    Regex {
        text: String,
        span: Span,
    },
    MethodCall {
        name: String,
        args: Vec<Rvalue>,
        span: Span,
    },
}

impl Rvalue {
    pub fn span(&self) -> Span {
        match self {
            Rvalue::String { span, .. }
            | Rvalue::Number { span, .. }
            | Rvalue::Selector { span, .. }
            | Rvalue::Array { span, .. }
            | Rvalue::Regex { span, .. }
            | Rvalue::MethodCall { span, .. } => *span,
        }
    }
}
