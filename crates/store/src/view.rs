//! A document's two indexed views (analysed text, exact values) as flat node lists whose strings
//! are ranges of the source the client sent: tantivy reads them where they are. (Built as a
//! `TantivyDocument`, every string and value was copied into its node list and decoded again by
//! the indexing threads: half of the per-document work of a bulk.)

use tantivy::DateTime;

/// A string of a document: a range of its source, or of its own text (an escaped string, a
/// number shown as text), which holds what the source does not hold as is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    start: u32,
    len: u32,
    own: bool,
}

/// One value of a view, in pre-order: a container is followed by its children's subtrees.
#[derive(Clone, Copy, Debug)]
pub struct Node {
    /// The key of an object's entry (unused in arrays and at the root).
    pub key: Span,
    /// Nodes in this subtree, itself included: a child's next sibling is `size` nodes on.
    pub size: u32,
    pub v: Leaf,
}

#[derive(Clone, Copy, Debug)]
pub enum Leaf {
    Str(Span),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Date(DateTime),
    Array,
    Object,
}

/// A scalar as its field's type wants it, before it is placed (see `Views::scalar`).
#[derive(Debug, Clone, PartialEq)]
pub enum View<'a> {
    Str(&'a str),
    /// A value shown as text that is not a JSON string (a number in a keyword field).
    Text(String),
    I64(i64),
    U64(u64),
    F64(f64),
    Bool(bool),
    Date(DateTime),
}

/// Both views of one document as they are built. `base` is the text the parsed source borrows
/// from, kept as the document's source: strings inside it are ranges, others are copied once.
#[derive(Default)]
pub struct Views<'s> {
    base: &'s str,
    /// Off: only validated (nothing is kept).
    build: bool,
    pub own: String,
    pub text: Vec<Node>,
    pub exact: Vec<Node>,
}

/// Which of the two views a node goes to.
#[derive(Clone, Copy)]
pub enum Which {
    Text,
    Exact,
}

impl<'s> Views<'s> {
    pub fn new(base: &'s str, build: bool) -> Views<'s> {
        Views {
            base,
            build,
            own: String::new(),
            text: Vec::new(),
            exact: Vec::new(),
        }
    }

    /// Room for `nodes` in each view.
    pub fn reserve(&mut self, nodes: usize) {
        self.text.reserve(nodes);
        self.exact.reserve(nodes);
    }

    fn tree(&mut self, w: Which) -> &mut Vec<Node> {
        match w {
            Which::Text => &mut self.text,
            Which::Exact => &mut self.exact,
        }
    }

    /// Where `s` is: its range in `base` when it lies there (a string parsed without escapes),
    /// else a copy in `own`.
    pub fn span(&mut self, s: &str) -> Span {
        let (b, p) = (self.base.as_ptr() as usize, s.as_ptr() as usize);
        if p >= b && p + s.len() <= b + self.base.len() && self.base.len() <= u32::MAX as usize {
            return Span {
                start: (p - b) as u32,
                len: s.len() as u32,
                own: false,
            };
        }
        let start = self.own.len();
        if self.own.capacity() == 0 {
            // Escaped strings are few but long (a log line with quotes): one allocation.
            self.own.reserve(s.len().max(256));
        }
        self.own.push_str(s);
        Span {
            start: start as u32,
            len: s.len() as u32,
            own: true,
        }
    }

    /// The positions the next nodes of (text, exact) take: to give them a key, or close them.
    pub fn marks(&self) -> (usize, usize) {
        (self.text.len(), self.exact.len())
    }

    fn open(&mut self, w: Which, v: Leaf) {
        if self.build {
            self.tree(w).push(Node {
                key: Span::default(),
                size: 1,
                v,
            });
        }
    }

    /// Opens `v` in both views; returns where (for `close_both`).
    pub fn open_both(&mut self, v: Leaf) -> (usize, usize) {
        let at = self.marks();
        self.open(Which::Text, v);
        self.open(Which::Exact, v);
        at
    }

    /// Ends the containers `open_both` opened at `at`.
    pub fn close_both(&mut self, at: (usize, usize)) {
        self.close(Which::Text, at.0);
        self.close(Which::Exact, at.1);
    }

    /// Ends the container opened at `mark`: its size is what was pushed since.
    fn close(&mut self, w: Which, mark: usize) {
        if self.build {
            let t = self.tree(w);
            let size = (t.len() - mark) as u32;
            if let Some(n) = t.get_mut(mark) {
                n.size = size;
            }
        }
    }

    /// Keys the node pushed at `mark`, if one was.
    pub fn key(&mut self, w: Which, mark: usize, key: Span) {
        if let Some(n) = self.tree(w).get_mut(mark) {
            n.key = key;
        }
    }

    /// A scalar's node in `w`.
    pub fn scalar(&mut self, w: Which, v: &View) {
        if !self.build {
            return;
        }
        let leaf = self.leaf(v);
        self.open(w, leaf);
    }

    pub fn leaf(&mut self, v: &View) -> Leaf {
        match v {
            View::Str(s) => Leaf::Str(self.span(s)),
            View::Text(s) => Leaf::Str(self.span(s)),
            View::I64(x) => Leaf::I64(*x),
            View::U64(x) => Leaf::U64(*x),
            View::F64(x) => Leaf::F64(*x),
            View::Bool(x) => Leaf::Bool(*x),
            View::Date(x) => Leaf::Date(*x),
        }
    }

    pub fn building(&self) -> bool {
        self.build
    }
}

/// The text a span names, given the source and the document's own text.
pub fn text_of<'a>(src: &'a str, own: &'a str, s: Span) -> &'a str {
    let (start, end) = (s.start as usize, s.start as usize + s.len as usize);
    let from = if s.own { own } else { src };
    from.get(start..end).unwrap_or_default()
}
