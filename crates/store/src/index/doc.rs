//! The document rstore hands tantivy: its id, its source, and the two views as node lists whose
//! strings are ranges of that source (see `view`). tantivy indexes any `Document` as it is, so
//! nothing is copied into a `TantivyDocument` first.

use std::fmt;
use std::sync::Arc;

use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field;

use super::Fields;
use crate::view::{text_of, Leaf, Node, Views};

/// Boxed: a writer's channel holds thousands of document slots, each the size of this type.
pub struct Doc(Box<Parts>);

pub struct Parts {
    f: Fields,
    id: String,
    src: Arc<str>,
    own: String,
    text: Vec<Node>,
    exact: Vec<Node>,
    /// Set by `stamp`, when the version is known.
    version: Option<u64>,
    seq_no: Option<u64>,
}

impl Doc {
    /// A document of `src` with the views built from it (`views` borrowed `src`'s text, or a
    /// text with the same bytes at the same places).
    pub fn new(f: &Fields, id: &str, src: Arc<str>, views: Views) -> Doc {
        Doc(Box::new(Parts {
            f: *f,
            id: id.to_string(),
            src,
            own: views.own,
            text: views.text,
            exact: views.exact,
            version: None,
            seq_no: None,
        }))
    }

    /// A document kept but not indexed (found by id): no views.
    pub fn stored_only(f: &Fields, id: &str, src: Arc<str>) -> Doc {
        Doc::new(f, id, src, Views::default())
    }

    /// Gives the document its version and sequence number (where the index stores them).
    pub fn stamp(&mut self, version: u64, seq_no: Option<u64>) {
        self.0.version = Some(version);
        self.0.seq_no = seq_no;
    }

    /// Memory the document holds beside its source (which the pending write holds too).
    pub fn heap_bytes(&self) -> usize {
        let p = &self.0;
        std::mem::size_of::<Parts>()
            + p.id.len()
            + p.own.capacity()
            + (p.text.capacity() + p.exact.capacity()) * std::mem::size_of::<Node>()
    }

    /// Values in both views, for the bench (so its work is not optimised away).
    pub fn values(&self) -> usize {
        self.0.text.len() + self.0.exact.len()
    }
}

/// A value of a document: a field's whole value, or a node of a view.
#[derive(Clone, Copy)]
pub enum DocValue<'a> {
    Str(&'a str),
    U64(u64),
    Node {
        doc: &'a Parts,
        tree: &'a [Node],
        at: usize,
    },
}

impl fmt::Debug for DocValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocValue::Str(s) => write!(f, "Str({s:?})"),
            DocValue::U64(n) => write!(f, "U64({n})"),
            DocValue::Node { tree, at, .. } => write!(f, "{:?}", tree.get(*at)),
        }
    }
}

impl<'a> Value<'a> for DocValue<'a> {
    type ArrayIter = Children<'a>;
    type ObjectIter = Entries<'a>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            DocValue::Str(s) => ReferenceValueLeaf::Str(s).into(),
            DocValue::U64(n) => ReferenceValueLeaf::U64(n).into(),
            DocValue::Node { doc, tree, at } => {
                let Some(n) = tree.get(at) else {
                    return ReferenceValueLeaf::Null.into();
                };
                let children = Children {
                    doc,
                    tree,
                    next: at + 1,
                    end: at + n.size as usize,
                };
                match n.v {
                    Leaf::Str(s) => ReferenceValueLeaf::Str(text_of(&doc.src, &doc.own, s)).into(),
                    Leaf::I64(x) => ReferenceValueLeaf::I64(x).into(),
                    Leaf::U64(x) => ReferenceValueLeaf::U64(x).into(),
                    Leaf::F64(x) => ReferenceValueLeaf::F64(x).into(),
                    Leaf::Bool(x) => ReferenceValueLeaf::Bool(x).into(),
                    Leaf::Date(x) => ReferenceValueLeaf::Date(x).into(),
                    Leaf::Array => ReferenceValue::Array(children),
                    Leaf::Object => ReferenceValue::Object(Entries(children)),
                }
            }
        }
    }
}

/// The children of a container node: each the root of the next subtree.
pub struct Children<'a> {
    doc: &'a Parts,
    tree: &'a [Node],
    next: usize,
    end: usize,
}

impl<'a> Iterator for Children<'a> {
    type Item = DocValue<'a>;

    fn next(&mut self) -> Option<DocValue<'a>> {
        let at = self.next;
        let n = self.tree.get(at).filter(|_| at < self.end)?;
        self.next = at + (n.size as usize).max(1);
        Some(DocValue::Node {
            doc: self.doc,
            tree: self.tree,
            at,
        })
    }
}

/// An object node's entries, keyed.
pub struct Entries<'a>(Children<'a>);

impl<'a> Iterator for Entries<'a> {
    type Item = (&'a str, DocValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let v = self.0.next()?;
        let DocValue::Node { doc, tree, at } = v else {
            return None;
        };
        let key = tree.get(at).map(|n| n.key).unwrap_or_default();
        Some((text_of(&doc.src, &doc.own, key), v))
    }
}

/// The fields of a document, in the order a `TantivyDocument` built them had: a view with no
/// values, or a version not stamped yet, is left out.
type FieldsIter<'a> = std::iter::Flatten<std::array::IntoIter<Option<(Field, DocValue<'a>)>, 6>>;

impl Document for Doc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = FieldsIter<'a>;

    fn iter_fields_and_values(&self) -> FieldsIter<'_> {
        let p = &*self.0;
        fn root<'a>(doc: &'a Parts, tree: &'a [Node]) -> Option<DocValue<'a>> {
            (!tree.is_empty()).then_some(DocValue::Node { doc, tree, at: 0 })
        }
        [
            Some((p.f.id, DocValue::Str(&p.id))),
            Some((p.f.source, DocValue::Str(&p.src))),
            root(p, &p.text).map(|v| (p.f.text, v)),
            root(p, &p.exact).map(|v| (p.f.kw, v)),
            p.version.map(|v| (p.f.version, DocValue::U64(v))),
            p.f.seq_no.zip(p.seq_no).map(|(f, s)| (f, DocValue::U64(s))),
        ]
        .into_iter()
        .flatten()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value as J};

    use super::*;
    use crate::json::Json;
    use crate::mapping::Mapping;

    /// What tantivy reads from a value of a document, as JSON.
    fn read(v: DocValue) -> J {
        match v.as_value() {
            ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)) => J::String(s.to_string()),
            ReferenceValue::Leaf(ReferenceValueLeaf::I64(n)) => json!(n),
            ReferenceValue::Leaf(ReferenceValueLeaf::U64(n)) => json!(n),
            ReferenceValue::Leaf(ReferenceValueLeaf::F64(n)) => json!(n),
            ReferenceValue::Leaf(ReferenceValueLeaf::Bool(b)) => json!(b),
            ReferenceValue::Leaf(other) => json!(format!("{other:?}")),
            ReferenceValue::Array(a) => J::Array(a.map(read).collect()),
            ReferenceValue::Object(o) => {
                J::Object(o.map(|(k, v)| (k.to_string(), read(v))).collect())
            }
        }
    }

    /// An independent reading of what each view holds under dynamic mapping: strings in both
    /// (as text, and as keywords), numbers and booleans only as exact values, nulls in neither.
    fn expected(v: &J, text: bool) -> Option<J> {
        match v {
            J::Null => None,
            J::String(_) => Some(v.clone()),
            J::Number(_) | J::Bool(_) => (!text).then(|| v.clone()),
            J::Array(a) => Some(J::Array(
                a.iter().filter_map(|x| expected(x, text)).collect(),
            )),
            J::Object(o) => Some(J::Object(
                o.iter()
                    .filter_map(|(k, x)| expected(x, text).map(|e| (k.clone(), e)))
                    .collect(),
            )),
        }
    }

    /// Text that needs escapes, and text that does not (no digits: no date detection).
    fn text() -> impl Strategy<Value = String> {
        "([a-zé✓ ]|\"|\\\\|\n|\u{1}){0,12}"
    }

    /// Objects whose keys tell their values' type (a path keeps one type, as mappings need).
    fn object(depth: u32) -> BoxedStrategy<J> {
        let leaf = prop_oneof![
            text().prop_map(|t| ("s", J::String(t))),
            any::<i64>().prop_map(|n| ("n", json!(n))),
            any::<bool>().prop_map(|b| ("b", json!(b))),
            Just(("z", J::Null)),
            proptest::collection::vec(prop_oneof![text().prop_map(J::String), Just(J::Null)], 0..4)
                .prop_map(|a| ("a", J::Array(a))),
        ];
        let entry = if depth == 0 {
            leaf.boxed()
        } else {
            prop_oneof![4 => leaf, 1 => object(depth - 1).prop_map(|o| ("o", o))].boxed()
        };
        proptest::collection::vec((entry, text()), 0..6)
            .prop_map(|entries| {
                let mut m = Map::new();
                for ((kind, v), suffix) in entries {
                    m.insert(format!("{kind}{suffix}"), v);
                }
                J::Object(m)
            })
            .boxed()
    }

    proptest! {
        /// Under dynamic mapping, tantivy reads in each view exactly the source's values that
        /// view takes, keys and escaped text included; the stored source is the client's text.
        #[test]
        fn tantivy_reads_the_source_as_sent(doc in object(2)) {
            let raw = format!("  {}\n", doc);
            let source = Json::parse(raw.as_bytes()).unwrap();
            let mut m = Mapping::new();
            m.learn("", source.as_object().unwrap()).unwrap();
            let f = crate::index::fields();
            let trimmed = raw.trim();
            let (mut d, new) = crate::index::build_doc(&f, &m, "id-1", &source, trimmed, trimmed.into()).unwrap();
            prop_assert!(!new);
            d.stamp(7, Some(3));
            let mut got = Map::new();
            for (field, v) in d.iter_fields_and_values() {
                got.insert(format!("{field:?}"), read(v));
            }
            let name = |fl: Field| format!("{fl:?}");
            prop_assert_eq!(&got[&name(f.id)], &json!("id-1"));
            prop_assert_eq!(got[&name(f.source)].as_str(), Some(trimmed));
            prop_assert_eq!(Some(got[&name(f.text)].clone()), expected(&doc, true));
            prop_assert_eq!(Some(got[&name(f.kw)].clone()), expected(&doc, false));
            prop_assert_eq!(&got[&name(f.version)], &json!(7));
            prop_assert_eq!(&got[&name(f.seq_no.unwrap())], &json!(3));
        }
    }

    /// A stored-only document has no views; a document made from a text other than the one
    /// its source was parsed from copies its strings and reads the same.
    #[test]
    fn stored_only_and_copied_documents() {
        let f = crate::index::fields();
        let d = Doc::stored_only(&f, "x", "{}".into());
        let fields: Vec<Field> = d.iter_fields_and_values().map(|(fl, _)| fl).collect();
        assert_eq!(fields, [f.id, f.source]);
        let raw = r#"{"a":"b\"c","d":["e"]}"#;
        let source = Json::parse(raw.as_bytes()).unwrap();
        let mut m = Mapping::new();
        m.learn("", source.as_object().unwrap()).unwrap();
        let (d, _) = crate::index::build_doc(&f, &m, "x", &source, "", raw.into()).unwrap();
        let text = d
            .iter_fields_and_values()
            .find(|(fl, _)| *fl == f.text)
            .map(|(_, v)| read(v));
        assert_eq!(text, Some(json!({"a": "b\"c", "d": ["e"]})));
        assert!(d.0.own.contains("b\"c") && d.0.own.contains('e'));
    }
}
