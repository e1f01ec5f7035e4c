//! Field references: `message`, `[a][b]`, `[a][-1]`, `[@metadata][x]` (Logstash's strict grammar).

use std::fmt;

use thiserror::Error;

use crate::map::Sig;
use crate::value::Key;

#[derive(Debug, Error, PartialEq, Eq, Clone)]
#[error("Invalid FieldReference: `{0}`")]
pub struct FieldRefError(pub String);

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// Path inside the data map, or inside `@metadata` when `metadata` is set.
    path: Vec<Key>,
    metadata: bool,
    /// The first segment's signature: filters look the same fields up in every event.
    first: Sig,
}

impl FieldRef {
    pub fn parse(s: &str) -> Result<FieldRef, FieldRefError> {
        if !s.contains(['[', ']']) {
            return Ok(Self::from_path(vec![Key::from(s)]));
        }
        let err = || FieldRefError(s.to_string());
        let mut path = Vec::new();
        let mut depth = 0usize;
        let mut buf = String::new();
        let mut prev: Option<char> = None;
        for c in s.chars() {
            match c {
                '[' => {
                    if !buf.is_empty() {
                        return Err(err());
                    }
                    depth += 1;
                }
                ']' => {
                    if depth == 0 {
                        return Err(err());
                    }
                    if !buf.is_empty() {
                        path.push(Key::from(std::mem::take(&mut buf)));
                    } else if prev != Some(']') {
                        return Err(err());
                    }
                    depth -= 1;
                }
                _ => {
                    if depth == 0 || prev == Some(']') {
                        return Err(err());
                    }
                    buf.push(c);
                }
            }
            prev = Some(c);
        }
        if depth != 0 || path.is_empty() {
            return Err(err());
        }
        Ok(Self::from_path(path))
    }

    fn from_path(mut path: Vec<Key>) -> FieldRef {
        let metadata = path.first().map(Key::as_str) == Some("@metadata");
        if metadata {
            path.remove(0);
        }
        FieldRef {
            first: Sig::of(path.first().map_or("", Key::as_str)),
            path,
            metadata,
        }
    }

    /// A reference to one top-level key, taken verbatim.
    pub fn key(k: &str) -> FieldRef {
        Self::from_path(vec![Key::from(k)])
    }

    pub fn path(&self) -> &[Key] {
        &self.path
    }

    /// The signature of `path()[0]`.
    pub(crate) fn first_sig(&self) -> Sig {
        self.first
    }

    pub fn is_metadata(&self) -> bool {
        self.metadata
    }

    /// `[@metadata]` itself.
    pub fn is_metadata_root(&self) -> bool {
        self.metadata && self.path.is_empty()
    }

    pub fn is_top(&self, key: &str) -> bool {
        !self.metadata && self.path.len() == 1 && self.path[0] == key
    }
}

/// As derived, without the signature (made of the path).
impl fmt::Debug for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FieldRef")
            .field("path", &self.path)
            .field("metadata", &self.metadata)
            .finish()
    }
}

impl fmt::Display for FieldRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.metadata {
            f.write_str("[@metadata]")?;
        }
        for p in &self.path {
            write!(f, "[{p}]")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn path(s: &str) -> Vec<Key> {
        FieldRef::parse(s).unwrap().path().to_vec()
    }

    #[test]
    fn grammar() {
        assert_eq!(path("foo.bar"), ["foo.bar"]);
        assert_eq!(path("with space"), ["with space"]);
        assert_eq!(path(""), [""]);
        assert_eq!(path("[a][b][c]"), ["a", "b", "c"]);
        assert_eq!(path("[[a][b]][c]"), ["a", "b", "c"]);
        assert_eq!(FieldRef::parse("foo"), FieldRef::parse("[foo]"));
        let m = FieldRef::parse("[@metadata][x]").unwrap();
        assert!(m.is_metadata() && m.path() == ["x"]);
        assert!(FieldRef::parse("[@metadata]").unwrap().is_metadata_root());
        for bad in [
            "[]",
            "[a]b",
            "[foo]bar[baz]",
            "foo[bar]",
            "[a",
            "]",
            "[foo]][bar]",
            "[[a][b]x][c]",
        ] {
            assert!(FieldRef::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    proptest! {
        #[test]
        fn bracketed_paths_round_trip(segs in proptest::collection::vec("[^\\[\\]]{1,8}", 1..5)) {
            let text: String = segs.iter().map(|s| format!("[{s}]")).collect();
            let r = FieldRef::parse(&text).unwrap();
            let mut full = r.path().to_vec();
            if r.is_metadata() { full.insert(0, "@metadata".into()); }
            let segs: Vec<Key> = segs.iter().map(Key::from).collect();
            prop_assert_eq!(&full, &segs);
            prop_assert_eq!(FieldRef::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn never_panics(s in "\\PC{0,20}") {
            let _ = FieldRef::parse(&s);
        }
    }
}
