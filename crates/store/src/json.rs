//! A document source parsed without copying: strings borrow the request body (only escaped ones
//! are copied) and objects are key/value vectors in document order, not hash maps. Bulk sources
//! are read once to learn the mapping and build the index views, then dropped; `_source` keeps
//! the client's bytes, so a tree built for lookups would be paid for per document and never used.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Number, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Json<'a>>),
    /// Keys in document order; a repeated key keeps its first place and its last value, as the
    /// order-preserving map this replaces did.
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

impl<'a> Json<'a> {
    pub fn parse(bytes: &'a [u8]) -> serde_json::Result<Json<'a>> {
        Json::parse_text(bytes).map(|(j, _)| j)
    }

    /// Parses `bytes` and gives them back as text (a source is stored as sent).
    pub fn parse_text(bytes: &'a [u8]) -> serde_json::Result<(Json<'a>, &'a str)> {
        // Validated as a whole in one SIMD pass: serde_json checks each string of a byte slice
        // on its own, a cost per string that text read as `str` does not pay.
        match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => Ok((serde_json::from_str(text)?, text)),
            // serde_json says where the text stops being JSON or UTF-8.
            // Read as a `Value`, as serde_json does: skipping a value (`IgnoredAny`) misses a
            // number out of range and would report a later place.
            Err(_) => Err(serde_json::from_slice::<serde_json::Value>(bytes)
                .err()
                .unwrap_or_else(|| serde::de::Error::custom("the text is not UTF-8"))),
        }
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Json::Object(_))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Json::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&[(Cow<'a, str>, Json<'a>)]> {
        match self {
            Json::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The tree as `serde_json::Value`, for the rare paths that edit a document.
    pub fn to_value(&self) -> Value {
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => Value::Number(n.clone()),
            Json::String(s) => Value::String(s.to_string()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect(),
            ),
        }
    }
}

impl<'a> From<&'a Value> for Json<'a> {
    fn from(v: &'a Value) -> Json<'a> {
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => Json::Number(n.clone()),
            Value::String(s) => Json::String(Cow::Borrowed(s)),
            Value::Array(a) => Json::Array(a.iter().map(Json::from).collect()),
            Value::Object(o) => Json::Object(
                o.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Json::from(v)))
                    .collect(),
            ),
        }
    }
}

/// Compact JSON, as `serde_json::Value`'s `Display` writes it (error previews, a number or
/// boolean indexed as a keyword).
impl fmt::Display for Json<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Number(n) => write!(f, "{n}"),
            Json::String(s) => write!(f, "{}", Value::String(s.to_string())),
            Json::Array(a) => {
                f.write_str("[")?;
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Json::Object(o) => {
                f.write_str("{")?;
                for (i, (k, x)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{x}", Value::String(k.to_string()))?;
                }
                f.write_str("}")
            }
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Json<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_none<E>(self) -> Result<Json<'de>, E> {
                Ok(Json::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json<'de>, E> {
                Ok(Json::Bool(b))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json<'de>, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json<'de>, E> {
                Ok(Json::Number(n.into()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Json<'de>, E> {
                Ok(Number::from_f64(n).map_or(Json::Null, Json::Number))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(s.to_string())))
            }
            fn visit_string<E>(self, s: String) -> Result<Json<'de>, E> {
                Ok(Json::String(Cow::Owned(s)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json<'de>, A::Error> {
                let mut a = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(x) = seq.next_element()? {
                    a.push(x);
                }
                Ok(Json::Array(a))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json<'de>, A::Error> {
                let mut o: Vec<(Cow<'de, str>, Json<'de>)> = Vec::with_capacity(8);
                // One bit per key seen, from its length and end bytes: a key whose bit is clear
                // is new without comparing it to every earlier one (keys repeat rarely).
                let mut seen_mask = 0u64;
                // A JSON key is a string: read by this visitor, it borrows as values do.
                while let Some(key) = map.next_key::<Json<'de>>()? {
                    let Json::String(k) = key else {
                        return Err(serde::de::Error::custom("an object key must be a string"));
                    };
                    let v = map.next_value()?;
                    let bit = key_bit(&k);
                    let slot = if seen_mask & bit == 0 {
                        None
                    } else {
                        o.iter_mut().find(|(seen, _)| *seen == k)
                    };
                    match slot {
                        Some(slot) => slot.1 = v,
                        None => o.push((k, v)),
                    }
                    seen_mask |= bit;
                }
                Ok(Json::Object(o))
            }
        }
        d.deserialize_any(V)
    }
}

/// A key's bit in an object's 64-bit mask of keys seen.
fn key_bit(k: &str) -> u64 {
    let b = k.as_bytes();
    let (first, last) = (b.first().copied(), b.last().copied());
    let h = (b.len() as u64)
        .wrapping_mul(31)
        .wrapping_add(u64::from(first.unwrap_or(0)))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(last.unwrap_or(0)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
    1 << (h >> 58)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borrows_plain_strings_and_reads_like_value() {
        let text = br#"{"a":"plain","b":"esc\"aped","c":[1,-2,1.5,true,null],"d":{"e":18446744073709551615},"a":"again"}"#;
        let j = Json::parse(text).unwrap();
        let o = j.as_object().unwrap();
        assert_eq!(o.len(), 4);
        assert!(matches!(
            &o[0],
            (Cow::Borrowed("a"), Json::String(Cow::Borrowed("again")))
        ));
        assert!(matches!(&o[1].1, Json::String(Cow::Owned(s)) if s == "esc\"aped"));
        let v: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(j.to_value(), v);
        assert_eq!(Json::from(&v), j);
        assert_eq!(j.to_string(), v.to_string());
    }

    fn value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[a-z\\\\\"\\n\u{e9}\u{1F600} ]{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-c.]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever serde_json reads, this tree reads the same; and any bytes are the same
        /// error, never a panic.
        #[test]
        fn reads_what_serde_json_reads(v in value(), noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let text = v.to_string();
            // (serde_json's float reading is not exact: compare with what it reads back.)
            let read: Value = serde_json::from_str(&text).unwrap();
            let j = Json::parse(text.as_bytes()).unwrap();
            proptest::prop_assert_eq!(j.to_value(), read.clone());
            proptest::prop_assert_eq!(j.to_string(), read.to_string());
            let mut bytes = text.into_bytes();
            bytes.extend(noise);
            let ours = Json::parse_text(&bytes).map(|(j, t)| (j.to_value(), t.as_bytes() == bytes));
            let theirs = serde_json::from_slice::<Value>(&bytes);
            match (ours, theirs) {
                // Read as text: the text is the bytes given.
                (Ok(o), Ok(t)) => proptest::prop_assert_eq!(o, (t, true)),
                // The same error, at the same place.
                (Err(o), Err(t)) => proptest::prop_assert_eq!(o.to_string(), t.to_string()),
                (o, t) => proptest::prop_assert!(false, "ours {o:?}, serde_json {t:?}"),
            }
        }

        /// Repeated keys (those sharing a mask bit too): each keeps its first place and its last
        /// value, as serde_json's order-preserving map reads them.
        #[test]
        fn repeated_keys_read_as_serde_json_reads(
            pairs in proptest::collection::vec(("[ab]{0,2}|[a-z]{1,12}", 0u32..9), 0..40)
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, n)| format!("{k:?}:{n}")).collect();
            let text = format!("{{{}}}", body.join(","));
            let read: Value = serde_json::from_str(&text).unwrap();
            let j = Json::parse(text.as_bytes()).unwrap();
            proptest::prop_assert_eq!(j.to_string(), read.to_string());
        }
    }
}
