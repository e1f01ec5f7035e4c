//! A document as tantivy indexes it, borrowed from the parsed source: the analysed-text and
//! exact-value views are built in one walk over the JSON and hand tantivy `&str`s that point into
//! it. (`OwnedValue` trees, one per view, cost two allocations per field each: a third of the
//! request threads' time under a bulk stream.)

use tantivy::schema::document::{ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::DateTime;

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
    Array(Vec<View<'a>>),
    Object(Vec<(&'a str, View<'a>)>),
}

impl<'b, 'a: 'b> Value<'b> for &'b View<'a> {
    type ArrayIter = std::slice::Iter<'b, View<'a>>;
    type ObjectIter = ObjectIter<'b, 'a>;

    fn as_value(&self) -> ReferenceValue<'b, Self> {
        match *self {
            View::Str(s) => ReferenceValueLeaf::Str(s).into(),
            View::Text(s) => ReferenceValueLeaf::Str(s).into(),
            View::I64(v) => ReferenceValueLeaf::I64(*v).into(),
            View::U64(v) => ReferenceValueLeaf::U64(*v).into(),
            View::F64(v) => ReferenceValueLeaf::F64(*v).into(),
            View::Bool(v) => ReferenceValueLeaf::Bool(*v).into(),
            View::Date(v) => ReferenceValueLeaf::Date(*v).into(),
            View::Array(a) => ReferenceValue::Array(a.iter()),
            View::Object(o) => ReferenceValue::Object(ObjectIter(o.iter())),
        }
    }
}

pub struct ObjectIter<'b, 'a>(std::slice::Iter<'b, (&'a str, View<'a>)>);

impl<'b, 'a: 'b> Iterator for ObjectIter<'b, 'a> {
    type Item = (&'b str, &'b View<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (*k, v))
    }
}
