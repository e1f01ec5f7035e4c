//! An event's objects: keys in insertion order, looked up by a linear scan while small and through
//! a hash index once large. Most objects in log events hold a handful of keys (`host`, `log`,
//! `agent`, ...); an `IndexMap` gave each of them a hash table, which cost two allocations per
//! object and was a fifth of the beats input's time in dropping alone.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::HashTable;

use crate::value::{Key, Value};

/// Up to this many keys, lookups scan the entries; the index is built when a map grows past it.
const LINEAR_MAX: usize = 16;

#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(Key, Value)>,
    /// Positions in `entries` by key hash; present exactly when `entries.len() > LINEAR_MAX`.
    index: Option<Box<Index>>,
}

#[derive(Clone)]
struct Index {
    table: HashTable<u32>,
    /// Seeded per map: outside input cannot aim for collisions.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn hash(&self, k: &str) -> u64 {
        self.hasher.hash_one(k)
    }

    /// Indexes `k` at position `i`; `entries` are those indexed so far (rehashed as it grows).
    fn add(&mut self, entries: &[(Key, Value)], k: &str, i: usize) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(k), i as u32, |&j| {
                hasher.hash_one(entries[j as usize].0.as_str())
            });
    }
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    pub fn get_index_of(&self, k: &str) -> Option<usize> {
        match &self.index {
            None => {
                // Most keys scanned past differ from `k`; many share its length (`verb`, `auth`,
                // `host`), few its first byte: that byte is checked before calling memcmp.
                let kb = k.as_bytes();
                let first = kb.first().copied();
                self.entries.iter().position(|(key, _)| {
                    let b = key.as_bytes();
                    b.len() == kb.len() && b.first().copied() == first && b == kb
                })
            }
            Some(ix) => {
                let entries = &self.entries;
                ix.table
                    .find(ix.hash(k), |&i| entries[i as usize].0.as_str() == k)
                    .map(|&i| i as usize)
            }
        }
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.get_index_of(k).is_some()
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.get_index_of(k).map(|i| &self.entries[i].1)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.get_index_of(k).map(|i| &mut self.entries[i].1)
    }

    /// The position, key and value of `k`.
    pub fn get_full(&self, k: &str) -> Option<(usize, &Key, &Value)> {
        self.get_index_of(k).map(|i| {
            let (k, v) = &self.entries[i];
            (i, k, v)
        })
    }

    pub fn get_index(&self, i: usize) -> Option<(&Key, &Value)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// Sets `k`; an existing key keeps its place and its old value is returned.
    pub fn insert(&mut self, k: Key, v: Value) -> Option<Value> {
        match self.get_index_of(&k) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, v)),
            None => {
                self.push(k, v);
                None
            }
        }
    }

    /// Appends a key known to be absent.
    fn push(&mut self, k: Key, v: Value) -> usize {
        let i = self.entries.len();
        if let Some(ix) = &mut self.index {
            ix.add(&self.entries, &k, i);
        }
        self.entries.push((k, v));
        if self.index.is_none() && self.entries.len() > LINEAR_MAX {
            self.reindex();
        }
        i
    }

    /// Builds the index again after entries moved, or drops it when the map is small again.
    fn reindex(&mut self) {
        if self.entries.len() <= LINEAR_MAX {
            self.index = None;
            return;
        }
        let hasher = match self.index.take() {
            Some(ix) => ix.hasher,
            None => foldhash::fast::RandomState::default(),
        };
        let mut ix = Index {
            table: HashTable::with_capacity(self.entries.len()),
            hasher,
        };
        for (i, (k, _)) in self.entries.iter().enumerate() {
            ix.add(&self.entries, k, i);
        }
        self.index = Some(Box::new(ix));
    }

    /// Removes `k`, keeping the order of the others (Logstash's `remove_field` keeps it too).
    pub fn shift_remove(&mut self, k: &str) -> Option<Value> {
        self.shift_remove_entry(k).map(|(_, v)| v)
    }

    pub fn shift_remove_entry(&mut self, k: &str) -> Option<(Key, Value)> {
        let i = self.get_index_of(k)?;
        self.shift_remove_index(i)
    }

    /// Removes the entry at position `i`, keeping the order of the others.
    pub fn shift_remove_index(&mut self, i: usize) -> Option<(Key, Value)> {
        if i >= self.entries.len() {
            return None;
        }
        let kv = self.entries.remove(i);
        self.reindex();
        Some(kv)
    }

    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        self.reindex();
    }

    pub fn entry(&mut self, k: Key) -> Entry<'_> {
        match self.get_index_of(&k) {
            Some(i) => Entry::Occupied(OccupiedEntry { map: self, i }),
            None => Entry::Vacant(VacantEntry { map: self, key: k }),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        self.entries.iter().map(pair as _)
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Key, &mut Value)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator + Clone + fmt::Debug {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + Clone {
        self.entries.iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }
}

fn pair(kv: &(Key, Value)) -> (&Key, &Value) {
    (&kv.0, &kv.1)
}

pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (Key, Value)>,
    fn(&'a (Key, Value)) -> (&'a Key, &'a Value),
>;

pub enum Entry<'a> {
    Occupied(OccupiedEntry<'a>),
    Vacant(VacantEntry<'a>),
}

pub struct OccupiedEntry<'a> {
    map: &'a mut Map,
    i: usize,
}

pub struct VacantEntry<'a> {
    map: &'a mut Map,
    key: Key,
}

impl<'a> Entry<'a> {
    pub fn key(&self) -> &Key {
        match self {
            Entry::Occupied(o) => o.key(),
            Entry::Vacant(v) => &v.key,
        }
    }

    pub fn or_insert(self, v: Value) -> &'a mut Value {
        self.or_insert_with(|| v)
    }

    pub fn or_insert_with(self, f: impl FnOnce() -> Value) -> &'a mut Value {
        match self {
            Entry::Occupied(o) => o.into_mut(),
            Entry::Vacant(v) => v.insert(f()),
        }
    }
}

impl<'a> OccupiedEntry<'a> {
    pub fn key(&self) -> &Key {
        &self.map.entries[self.i].0
    }

    pub fn get(&self) -> &Value {
        &self.map.entries[self.i].1
    }

    pub fn get_mut(&mut self) -> &mut Value {
        &mut self.map.entries[self.i].1
    }

    pub fn into_mut(self) -> &'a mut Value {
        &mut self.map.entries[self.i].1
    }

    pub fn insert(&mut self, v: Value) -> Value {
        std::mem::replace(self.get_mut(), v)
    }
}

impl<'a> VacantEntry<'a> {
    pub fn key(&self) -> &Key {
        &self.key
    }

    pub fn insert(self, v: Value) -> &'a mut Value {
        let i = self.map.push(self.key, v);
        &mut self.map.entries[i].1
    }
}

/// Equal when both hold the same keys with equal values, in any order (as `IndexMap` and
/// Logstash's hashes compare).
impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(k, v)| other.get(k).is_some_and(|o| o == v))
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// Panics when `k` is absent, as indexing a map does.
    fn index(&self, k: &str) -> &Value {
        match self.get(k) {
            Some(v) => v,
            None => panic!("no key {k:?} in the map"),
        }
    }
}

impl Extend<(Key, Value)> for Map {
    fn extend<I: IntoIterator<Item = (Key, Value)>>(&mut self, iter: I) {
        let iter = iter.into_iter();
        self.entries.reserve(iter.size_hint().0);
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(Key, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (Key, Value)>>(iter: I) -> Map {
        let mut m = Map::new();
        m.extend(iter);
        m
    }
}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &Map) -> Vec<&str> {
        m.keys().map(|k| k.as_str()).collect()
    }

    proptest::proptest! {
        /// Any sequence of inserts and removes leaves the same keys, values and order as
        /// `IndexMap` with order-keeping removal, across the switch to the hash index and back.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec((0u8..40, proptest::bool::ANY), 0..200)) {
            let mut m = Map::new();
            let mut want: indexmap::IndexMap<String, i64> = indexmap::IndexMap::new();
            for (n, (k, ins)) in ops.into_iter().enumerate() {
                let key = format!("k{k}");
                if ins {
                    m.insert(key.as_str().into(), Value::Int(n as i64));
                    want.insert(key, n as i64);
                } else {
                    proptest::prop_assert_eq!(m.shift_remove(&key), want.shift_remove(&key).map(Value::Int));
                }
                proptest::prop_assert_eq!(m.len(), want.len());
                proptest::prop_assert_eq!(m.index.is_some(), m.len() > LINEAR_MAX);
                for (i, (k, v)) in want.iter().enumerate() {
                    proptest::prop_assert_eq!(m.get_full(k), Some((i, &Key::from(k.as_str()), &Value::Int(*v))));
                }
            }
            proptest::prop_assert_eq!(keys(&m), want.keys().map(|k| k.as_str()).collect::<Vec<_>>());
        }
    }

    #[test]
    fn sort_and_entries_keep_the_index_true() {
        // Inserted in reverse: sorting moves every entry, so a stale index would misplace them.
        let mut m: Map = (0..40)
            .rev()
            .map(|i| (Key::from(format!("f{i:02}")), Value::Int(i)))
            .collect();
        assert!(m.index.is_some());
        m.sort_keys();
        assert_eq!(m.get_index_of("f00"), Some(0));
        assert_eq!(
            m.get_full("f38"),
            Some((38, &Key::from("f38"), &Value::Int(38)))
        );
        *m.entry("f38".into()).or_insert(Value::Null) = Value::Bool(true);
        m.entry("new".into()).or_insert(Value::Int(-1));
        assert_eq!(m.get_index_of("new"), Some(40));
        assert_eq!(m["f38"], Value::Bool(true));
        assert_eq!(m.shift_remove_index(0), Some(("f00".into(), Value::Int(0))));
        assert_eq!(m.get_index_of("new"), Some(39));
        while m.len() > 3 {
            m.shift_remove_index(0);
        }
        assert!(m.index.is_none());
        assert_eq!(keys(&m), ["f38", "f39", "new"]);
        let reordered: Map = m
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(m, reordered, "equality ignores order");
    }
}
