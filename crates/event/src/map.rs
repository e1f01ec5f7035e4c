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

#[derive(Clone)]
pub struct Map {
    repr: Repr,
}

/// Both variants fit in the `Vec`'s 32 bytes (the box goes in the capacity's niche), so a `Value`
/// holding a map stays 32 bytes.
#[derive(Clone)]
enum Repr {
    /// At most `LINEAR_MAX` keys. `mask` has each key's `signature` bit: a key whose bit is clear
    /// is absent without a scan. Adding keys is most of what filters do (a grok capture, a json
    /// field), and each addition first asks whether the key is there.
    Linear {
        entries: Vec<(Key, Value)>,
        mask: u64,
    },
    Hashed(Box<Hashed>),
}

#[derive(Clone)]
struct Hashed {
    entries: Vec<(Key, Value)>,
    /// Positions in `entries` by key hash.
    table: HashTable<u32>,
    /// Seeded per map: outside input cannot aim for collisions.
    hasher: foldhash::fast::RandomState,
}

/// A key's bit in a small map's mask (see `signature`), computed once for a key looked up often:
/// a field reference carries the one of its first segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Sig(u64);

impl Sig {
    pub(crate) fn of(k: &str) -> Sig {
        Sig(signature(k.as_bytes()))
    }
}

/// One of 64 bits for a key, from its length and first and last bytes: cheap, and it tells
/// apart most keys of one event (`verb`, `auth`, `host` share a length, rarely both ends).
#[inline]
fn signature(k: &[u8]) -> u64 {
    let (first, last) = match k {
        [] => (0, 0),
        [f, .., l] => (*f, *l),
        [f] => (*f, *f),
    };
    let x = k.len() as u64 | (first as u64) << 8 | (last as u64) << 16;
    1 << (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// `entries.push((k, v))` with the key and the value made straight into the new slot. A pair
/// built first was copied through the stack, and a fresh inline string reloaded in wider pieces
/// than it was written stalls (no store forwarding): that was a fifth of a grok filter's time.
#[inline(always)]
pub(crate) fn push_pair_with(
    entries: &mut Vec<(Key, Value)>,
    k: impl FnOnce() -> Key,
    v: impl FnOnce() -> Value,
) {
    entries.reserve(1);
    let len = entries.len();
    match entries.spare_capacity_mut().first_mut() {
        Some(slot) => {
            let slot = slot.as_mut_ptr();
            // SAFETY: `slot` is the vector's first unused slot (room was reserved just above),
            // valid for writes; both fields are written before the length covers them, and a
            // panic in between (`k` and `v` are plain constructors) would leave the length short,
            // leaking the key, never exposing a half-written entry.
            unsafe {
                std::ptr::addr_of_mut!((*slot).0).write(k());
                std::ptr::addr_of_mut!((*slot).1).write(v());
                entries.set_len(len + 1);
            }
        }
        None => entries.push((k(), v())),
    }
}

fn mask_of(entries: &[(Key, Value)]) -> u64 {
    entries
        .iter()
        .fold(0, |m, (k, _)| m | signature(k.as_bytes()))
}

impl Hashed {
    fn new(entries: Vec<(Key, Value)>, hasher: foldhash::fast::RandomState) -> Hashed {
        let mut h = Hashed {
            table: HashTable::with_capacity(entries.len()),
            entries,
            hasher,
        };
        h.rebuild();
        h
    }

    fn rebuild(&mut self) {
        self.table.clear();
        for i in 0..self.entries.len() {
            self.add(i);
        }
    }

    /// Indexes the entry at position `i`; entries before it are indexed (rehashed as it grows).
    fn add(&mut self, i: usize) {
        let (hasher, entries) = (&self.hasher, &self.entries);
        self.table
            .insert_unique(hasher.hash_one(entries[i].0.as_str()), i as u32, |&j| {
                hasher.hash_one(entries[j as usize].0.as_str())
            });
    }

    fn find(&self, k: &str) -> Option<usize> {
        let entries = &self.entries;
        self.table
            .find(self.hasher.hash_one(k), |&i| {
                entries[i as usize].0.as_str() == k
            })
            .map(|&i| i as usize)
    }
}

impl Default for Map {
    fn default() -> Map {
        Map::with_capacity(0)
    }
}

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Map {
        Map {
            repr: Repr::Linear {
                entries: Vec::with_capacity(n),
                mask: 0,
            },
        }
    }

    fn entries(&self) -> &Vec<(Key, Value)> {
        match &self.repr {
            Repr::Linear { entries, .. } => entries,
            Repr::Hashed(h) => &h.entries,
        }
    }

    /// The entries to change in place. The mask and the index are made of the keys: a caller
    /// that adds, moves or removes keys makes them true again (`push`, `reindex`).
    fn entries_mut(&mut self) -> &mut Vec<(Key, Value)> {
        match &mut self.repr {
            Repr::Linear { entries, .. } => entries,
            Repr::Hashed(h) => &mut h.entries,
        }
    }

    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries().is_empty()
    }

    pub fn reserve(&mut self, additional: usize) {
        self.entries_mut().reserve(additional);
    }

    pub fn get_index_of(&self, k: &str) -> Option<usize> {
        self.get_index_of_sig(k, Sig::of(k))
    }

    /// `get_index_of` with `k`'s signature known (`sig` must be `Sig::of(k)`).
    #[inline]
    pub(crate) fn get_index_of_sig(&self, k: &str, sig: Sig) -> Option<usize> {
        debug_assert_eq!(sig, Sig::of(k));
        match &self.repr {
            Repr::Linear { entries, mask } => {
                let kb = k.as_bytes();
                if mask & sig.0 == 0 {
                    return None;
                }
                // Keys scanned past that share the bit mostly differ in length or first byte:
                // both are checked before calling memcmp.
                let first = kb.first().copied();
                entries.iter().position(|(key, _)| {
                    let b = key.as_bytes();
                    b.len() == kb.len() && b.first().copied() == first && b == kb
                })
            }
            Repr::Hashed(h) => h.find(k),
        }
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.get_index_of(k).is_some()
    }

    pub fn get(&self, k: &str) -> Option<&Value> {
        self.get_index_of(k).map(|i| &self.entries()[i].1)
    }

    /// `get` with `k`'s signature known.
    pub(crate) fn get_sig(&self, k: &str, sig: Sig) -> Option<&Value> {
        self.get_index_of_sig(k, sig).map(|i| &self.entries()[i].1)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut Value> {
        self.get_mut_sig(k, Sig::of(k))
    }

    /// `get_mut` with `k`'s signature known.
    pub(crate) fn get_mut_sig(&mut self, k: &str, sig: Sig) -> Option<&mut Value> {
        self.get_index_of_sig(k, sig)
            .map(|i| &mut self.entries_mut()[i].1)
    }

    /// The position, key and value of `k`.
    pub fn get_full(&self, k: &str) -> Option<(usize, &Key, &Value)> {
        self.get_index_of(k).map(|i| {
            let (k, v) = &self.entries()[i];
            (i, k, v)
        })
    }

    pub fn get_index(&self, i: usize) -> Option<(&Key, &Value)> {
        self.entries().get(i).map(pair)
    }

    /// Sets `k`; an existing key keeps its place and its old value is returned.
    pub fn insert(&mut self, k: Key, v: Value) -> Option<Value> {
        let sig = Sig::of(&k);
        self.insert_sig(k, sig, v)
    }

    /// `insert` with `k`'s signature known.
    pub(crate) fn insert_sig(&mut self, k: Key, sig: Sig, v: Value) -> Option<Value> {
        match self.get_index_of_sig(&k, sig) {
            Some(i) => Some(std::mem::replace(&mut self.entries_mut()[i].1, v)),
            None => {
                self.push_sig(k, sig, v);
                None
            }
        }
    }

    /// Appends a key known to be absent (an event's first fields): no lookup.
    pub(crate) fn push(&mut self, k: Key, v: Value) -> usize {
        let sig = Sig::of(&k);
        self.push_sig(k, sig, v)
    }

    /// `push` of a key whose signature is known.
    #[inline(always)]
    fn push_sig(&mut self, k: Key, sig: Sig, v: Value) -> usize {
        self.push_with(sig, || k, || v)
    }

    /// `push` of the key and the value `k` and `v` make, written in place (see `push_pair_with`).
    #[inline(always)]
    pub(crate) fn push_with(
        &mut self,
        sig: Sig,
        k: impl FnOnce() -> Key,
        v: impl FnOnce() -> Value,
    ) -> usize {
        match &mut self.repr {
            Repr::Linear { entries, mask } if entries.len() < LINEAR_MAX => {
                *mask |= sig.0;
                push_pair_with(entries, k, v);
                debug_assert!(entries
                    .split_last()
                    .is_some_and(
                        |((k, _), before)| Sig::of(k) == sig && before.iter().all(|(b, _)| b != k)
                    ));
                entries.len() - 1
            }
            Repr::Linear { entries, .. } => {
                let mut entries = std::mem::take(entries);
                entries.push((k(), v()));
                let i = entries.len() - 1;
                self.repr = Repr::Hashed(Box::new(Hashed::new(entries, Default::default())));
                i
            }
            Repr::Hashed(h) => {
                h.entries.push((k(), v()));
                let i = h.entries.len() - 1;
                h.add(i);
                i
            }
        }
    }

    /// The key and value at position `i`.
    pub(crate) fn entry_at_mut(&mut self, i: usize) -> Option<(&Key, &mut Value)> {
        self.entries_mut().get_mut(i).map(|(k, v)| (&*k, v))
    }

    /// Makes the mask or the index true again after entries moved or went; a map that became
    /// small again drops its index.
    fn reindex(&mut self) {
        match &mut self.repr {
            Repr::Linear { entries, mask } => *mask = mask_of(entries),
            Repr::Hashed(h) if h.entries.len() > LINEAR_MAX => h.rebuild(),
            Repr::Hashed(h) => {
                let entries = std::mem::take(&mut h.entries);
                self.repr = Repr::Linear {
                    mask: mask_of(&entries),
                    entries,
                };
            }
        }
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
        let entries = self.entries_mut();
        if i >= entries.len() {
            return None;
        }
        let kv = entries.remove(i);
        self.reindex();
        Some(kv)
    }

    pub fn sort_keys(&mut self) {
        self.entries_mut().sort_by(|a, b| a.0.cmp(&b.0));
        self.reindex();
    }

    pub fn entry(&mut self, k: Key) -> Entry<'_> {
        let sig = Sig::of(&k);
        self.entry_sig(k, sig)
    }

    /// `entry` with `k`'s signature known.
    #[inline]
    pub(crate) fn entry_sig(&mut self, k: Key, sig: Sig) -> Entry<'_> {
        match self.get_index_of_sig(&k, sig) {
            Some(i) => Entry::Occupied(OccupiedEntry { map: self, i }),
            None => Entry::Vacant(VacantEntry {
                map: self,
                key: k,
                sig,
            }),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        self.entries().iter().map(pair as _)
    }

    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&Key, &mut Value)> + ExactSizeIterator {
        self.entries_mut().iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn keys(
        &self,
    ) -> impl DoubleEndedIterator<Item = &Key> + ExactSizeIterator + Clone + fmt::Debug {
        self.entries().iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator + Clone {
        self.entries().iter().map(|(_, v)| v)
    }

    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries_mut().iter_mut().map(|(_, v)| v)
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
    sig: Sig,
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
        &self.map.entries()[self.i].0
    }

    pub fn get(&self) -> &Value {
        &self.map.entries()[self.i].1
    }

    pub fn get_mut(&mut self) -> &mut Value {
        &mut self.map.entries_mut()[self.i].1
    }

    pub fn into_mut(self) -> &'a mut Value {
        &mut self.map.entries_mut()[self.i].1
    }

    pub fn insert(&mut self, v: Value) -> Value {
        std::mem::replace(self.get_mut(), v)
    }
}

impl<'a> VacantEntry<'a> {
    pub fn key(&self) -> &Key {
        &self.key
    }

    #[inline(always)]
    pub fn insert(self, v: Value) -> &'a mut Value {
        let i = self.map.push_sig(self.key, self.sig, v);
        &mut self.map.entries_mut()[i].1
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
        self.reserve(iter.size_hint().0);
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
        match self.repr {
            Repr::Linear { entries, .. } => entries.into_iter(),
            Repr::Hashed(h) => h.entries.into_iter(),
        }
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

    impl Map {
        fn is_hashed(&self) -> bool {
            matches!(self.repr, Repr::Hashed(_))
        }
    }

    #[test]
    fn a_map_or_a_value_holding_one_stays_32_bytes() {
        assert_eq!(std::mem::size_of::<Map>(), 32);
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }

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
                proptest::prop_assert_eq!(m.is_hashed(), m.len() > LINEAR_MAX);
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
        assert!(m.is_hashed());
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
        assert!(!m.is_hashed());
        assert_eq!(keys(&m), ["f38", "f39", "new"]);
        let reordered: Map = m
            .iter()
            .rev()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        assert_eq!(m, reordered, "equality ignores order");
    }
}
