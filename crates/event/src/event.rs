//! The event: a data map with `@timestamp`/`@version`/`tags`, and a separate `@metadata` map.

use thiserror::Error;

use crate::fieldref::FieldRef;
use crate::timestamp::Timestamp;
use crate::value::{Key, Map, Str, Value};

#[derive(Debug, Clone, Default)]
pub struct Event {
    data: Map,
    /// Boxed and made on first use: most events never have `@metadata`, and a smaller event is
    /// cheaper to move through the queue and the filters.
    metadata: Option<Box<Map>>,
    cancelled: bool,
}

/// Equal when the fields are: a `@metadata` made and left empty equals none made.
impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        self.data == other.data
            && self.metadata() == other.metadata()
            && self.cancelled == other.cancelled
    }
}

/// What `metadata()` shows for an event without `@metadata`.
static NO_METADATA: std::sync::LazyLock<Map> = std::sync::LazyLock::new(Map::default);

#[derive(Debug, Error, PartialEq, Eq)]
pub enum SetError {
    #[error("Could not set field '{field}' on a {kind}")]
    NotAContainer { field: String, kind: &'static str },
    #[error("Index out of bounds setting '{0}'")]
    Index(String),
}

pub const TIMESTAMP: &str = "@timestamp";
pub const VERSION: &str = "@version";
pub const TAGS: &str = "tags";

impl Event {
    /// A new event stamped now, `@version` "1". Room for 16 fields, as many as a map holds
    /// before it indexes its keys: a filter adding a dozen (grok, kv, json) does not grow it.
    pub fn new() -> Event {
        let mut data = Map::with_capacity(16);
        data.push(TIMESTAMP.into(), Value::Timestamp(Timestamp::now()));
        data.push(VERSION.into(), Value::String("1".into()));
        Event {
            data,
            metadata: None,
            cancelled: false,
        }
    }

    /// An event from its two maps as they were (no coercion): what a queue stored comes back.
    pub fn from_parts(data: Map, metadata: Map) -> Event {
        Event {
            data,
            metadata: (!metadata.is_empty()).then(|| Box::new(metadata)),
            cancelled: false,
        }
    }

    /// Makes room for `additional` more top-level fields (a parser about to add many).
    pub fn reserve(&mut self, additional: usize) {
        self.data.reserve(additional);
    }

    pub fn with_message(message: impl Into<Str>) -> Event {
        let mut e = Event::new();
        e.data.push("message".into(), Value::String(message.into()));
        e
    }

    /// Builds an event from a decoded map as Logstash's `Event.new(hash)` does: `@timestamp` is
    /// coerced (or tagged `_timestampparsefailure`), `@metadata` moves aside, a hash in `tags` moves to `_tags`.
    pub fn from_map(mut map: Map) -> Event {
        let metadata = match map.shift_remove("@metadata") {
            Some(Value::Object(m)) if !m.is_empty() => Some(Box::new(m)),
            _ => None,
        };
        let mut e = Event {
            data: Map::with_capacity(map.len() + 2),
            metadata,
            cancelled: false,
        };
        let ts = map.shift_remove(TIMESTAMP);
        e.data
            .insert(TIMESTAMP.into(), Value::Timestamp(Timestamp::now()));
        e.data.insert(VERSION.into(), Value::String("1".into()));
        for (k, v) in map {
            e.data.insert(k, v);
        }
        if let Some(Value::Object(_)) = e.data.get(TAGS) {
            if let Some(t) = e.data.shift_remove(TAGS) {
                e.data.insert("_tags".into(), t);
            }
            e.tag("_tagsparsefailure");
        }
        if let Some(ts) = ts {
            e.set_timestamp_value(ts);
        }
        e
    }

    /// Sets `@timestamp` from a decoded value, tagging `_timestampparsefailure` when it is not a time.
    pub fn set_timestamp_value(&mut self, v: Value) {
        let parsed = match &v {
            Value::Timestamp(t) => Some(*t),
            Value::String(s) => Timestamp::parse_lenient(s),
            _ => None,
        };
        match parsed {
            Some(t) => {
                self.data.insert(TIMESTAMP.into(), Value::Timestamp(t));
            }
            None => {
                self.data.insert("_@timestamp".into(), v);
                self.tag("_timestampparsefailure");
            }
        }
    }

    pub fn data(&self) -> &Map {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut Map {
        &mut self.data
    }

    pub fn metadata(&self) -> &Map {
        self.metadata.as_deref().unwrap_or(&NO_METADATA)
    }

    pub fn metadata_mut(&mut self) -> &mut Map {
        self.metadata.get_or_insert_with(Box::default)
    }

    pub fn timestamp(&self) -> Option<Timestamp> {
        match self.data.get(TIMESTAMP) {
            Some(Value::Timestamp(t)) => Some(*t),
            _ => None,
        }
    }

    pub fn set_timestamp(&mut self, t: Timestamp) {
        self.data.insert(TIMESTAMP.into(), Value::Timestamp(t));
    }

    pub fn cancel(&mut self) {
        self.cancelled = true;
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }

    fn root(&self, r: &FieldRef) -> &Map {
        if r.is_metadata() {
            self.metadata()
        } else {
            &self.data
        }
    }

    fn root_mut(&mut self, r: &FieldRef) -> &mut Map {
        if r.is_metadata() {
            self.metadata_mut()
        } else {
            &mut self.data
        }
    }

    /// `root_mut` for a read or removal: no `@metadata` map is made for it.
    fn existing_root_mut(&mut self, r: &FieldRef) -> Option<&mut Map> {
        if r.is_metadata() {
            self.metadata.as_deref_mut()
        } else {
            Some(&mut self.data)
        }
    }

    pub fn get(&self, r: &FieldRef) -> Option<&Value> {
        let mut segs = r.path().iter();
        // `[@metadata]` as a whole has no first segment: see `get_value`.
        let first = segs.next()?;
        let mut cur = self.root(r).get_sig(first, r.first_sig())?;
        for s in segs {
            cur = child(cur, s)?;
        }
        Some(cur)
    }

    /// `get`, with `[@metadata]` itself readable as an object.
    pub fn get_value(&self, r: &FieldRef) -> Option<Value> {
        if r.is_metadata_root() {
            return Some(Value::Object(self.metadata().clone()));
        }
        self.get(r).cloned()
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.data.get(key).and_then(Value::as_str)
    }

    pub fn get_mut(&mut self, r: &FieldRef) -> Option<&mut Value> {
        let (first, rest) = r.path().split_first()?;
        let mut cur = self
            .existing_root_mut(r)?
            .get_mut_sig(first, r.first_sig())?;
        for s in rest {
            cur = match cur {
                Value::Object(m) => m.get_mut(s)?,
                Value::Array(a) => {
                    let i = index(a.len(), s)?;
                    a.get_mut(i)?
                }
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Whether the field exists (and, inside an array, is not null).
    pub fn includes(&self, r: &FieldRef) -> bool {
        if r.is_metadata_root() {
            return true;
        }
        match self.get(r) {
            Some(Value::Null) => r.path().len() == 1 || !self.parent_is_array(r),
            Some(_) => true,
            None => false,
        }
    }

    fn parent_is_array(&self, r: &FieldRef) -> bool {
        let p = &r.path()[..r.path().len() - 1];
        let parent = FieldRef::parse(&p.iter().map(|s| format!("[{s}]")).collect::<String>());
        matches!(
            parent.ok().and_then(|p| self.get(&p).cloned()),
            Some(Value::Array(_))
        )
    }

    pub fn set(&mut self, r: &FieldRef, v: Value) -> Result<(), SetError> {
        if r.is_metadata_root() {
            if let Value::Object(m) = v {
                self.metadata = Some(Box::new(m));
            }
            return Ok(());
        }
        let Some((last, parents)) = r.path().split_last() else {
            return Ok(());
        };
        let sig = r.first_sig();
        let mut map = self.root_mut(r);
        if parents.is_empty() {
            map.insert_sig(last.clone(), sig, v);
            return Ok(());
        }
        let (first, rest) = (&parents[0], &parents[1..]);
        let mut cur = map
            .entry_sig(first.clone(), sig)
            .or_insert_with(|| Value::Object(Map::default()));
        for s in rest {
            cur = step_create(cur, s, r)?;
        }
        match cur {
            Value::Object(m) => {
                map = m;
                map.insert(last.clone(), v);
                Ok(())
            }
            Value::Array(a) => set_index(a, last, v, r),
            other => Err(SetError::NotAContainer {
                field: r.to_string(),
                kind: kind(other),
            }),
        }
    }

    /// The value at `r`, created as null (with any missing parent objects) when absent: one walk
    /// for read-modify-write updates such as grok's "string becomes [old, new]".
    pub fn slot(&mut self, r: &FieldRef) -> Result<&mut Value, SetError> {
        if let [key] = r.path() {
            return Ok(self
                .root_mut(r)
                .entry_sig(key.clone(), r.first_sig())
                .or_insert(Value::Null));
        }
        if self.get(r).is_none() {
            self.set(r, Value::Null)?;
        }
        self.get_mut(r).ok_or_else(|| SetError::NotAContainer {
            field: r.to_string(),
            kind: "missing",
        })
    }

    /// Sets the value `make` returns at `r` when nothing is there (or null); otherwise
    /// `merge(current, value)` decides. A capture into a new top-level field, the common case, is
    /// one lookup and the value made straight into its new entry: no null written first and
    /// dropped after (as `slot` then assigning does), no copy of the value on the way.
    #[inline]
    pub fn upsert_with(
        &mut self,
        r: &FieldRef,
        make: impl FnOnce() -> Value,
        merge: impl FnOnce(&mut Value, Value),
    ) -> Result<(), SetError> {
        let slot = match r.path() {
            [key] => {
                let (map, sig) = (self.root_mut(r), r.first_sig());
                match map.get_index_of_sig(key, sig) {
                    None => {
                        map.push_with(sig, || key.clone(), make);
                        return Ok(());
                    }
                    Some(i) => match map.entry_at_mut(i) {
                        Some((_, slot)) => slot,
                        None => return Ok(()),
                    },
                }
            }
            _ => self.slot(r)?,
        };
        match slot {
            Value::Null => *slot = make(),
            slot => merge(slot, make()),
        }
        Ok(())
    }

    /// Lends the string at `r` to `f` together with the event, so that `f` can change the event
    /// while reading the text without copying it. The field keeps its place, empty while `f`
    /// runs, and gets its text back after unless `f` put something else there. None (and `f`
    /// not called) when `r` holds no string.
    pub fn lend_str<R>(
        &mut self,
        r: &FieldRef,
        f: impl FnOnce(&mut Event, &str) -> R,
    ) -> Option<R> {
        let [key] = r.path() else {
            let Some(Value::String(s)) = self.get_mut(r) else {
                return None;
            };
            let text = std::mem::take(s);
            let out = f(self, &text);
            give_back(self.get_mut(r), text);
            return Some(out);
        };
        // A top-level field, the common case: found once, given back at the same place when
        // it is still there (`f` adding fields does not move it).
        let sig = r.first_sig();
        let map = self.existing_root_mut(r)?;
        let i = map.get_index_of_sig(key, sig)?;
        let Some((_, Value::String(s))) = map.entry_at_mut(i) else {
            return None;
        };
        let text = std::mem::take(s);
        let out = f(self, &text);
        let slot = match self.existing_root_mut(r).and_then(|m| m.entry_at_mut(i)) {
            Some((k, v)) if k == key => Some(v),
            _ => self
                .existing_root_mut(r)
                .and_then(|m| m.get_mut_sig(key, sig)),
        };
        give_back(slot, text);
        Some(out)
    }

    pub fn remove(&mut self, r: &FieldRef) -> Option<Value> {
        if r.is_metadata_root() {
            return Some(Value::Object(
                self.metadata.take().map(|m| *m).unwrap_or_default(),
            ));
        }
        let (last, parents) = r.path().split_last()?;
        if parents.is_empty() {
            return self.existing_root_mut(r)?.shift_remove(last);
        }
        let parent_ref = FieldRef::parse(
            &(if r.is_metadata() {
                "[@metadata]".to_string()
            } else {
                String::new()
            } + &parents.iter().map(|s| format!("[{s}]")).collect::<String>()),
        )
        .ok()?;
        match self.get_mut(&parent_ref)? {
            Value::Object(m) => m.shift_remove(last),
            Value::Array(a) => {
                let i = index(a.len(), last)?;
                (i < a.len()).then(|| a.remove(i))
            }
            _ => None,
        }
    }

    /// Adds a tag unless present (Logstash's `event.tag`, used for failure tags).
    pub fn tag(&mut self, tag: &str) {
        self.with_tags(|tags| {
            if !tags.iter().any(|t| t.as_str() == Some(tag)) {
                tags.push(Value::String(tag.into()));
            }
        })
    }

    /// Appends a tag even if present (`add_tag`, input `tags`).
    pub fn push_tag(&mut self, tag: String) {
        self.with_tags(|tags| tags.push(Value::String(tag.into())))
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        match self.data.get(TAGS) {
            Some(Value::Array(a)) => a.iter().any(|t| t.as_str() == Some(tag)),
            Some(Value::String(s)) => s == tag,
            _ => false,
        }
    }

    /// Runs `f` on the `tags` array, making one of a missing or scalar `tags` first.
    pub fn with_tags<R>(&mut self, f: impl FnOnce(&mut Vec<Value>) -> R) -> R {
        let slot = self
            .data
            .entry(Key::from(TAGS))
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(a) = slot {
            return f(a);
        }
        let old = std::mem::replace(slot, Value::Null);
        let mut a = if old.is_null() { vec![] } else { vec![old] };
        let r = f(&mut a);
        *slot = Value::Array(a);
        r
    }
}

/// `lend_str`'s return: the text goes back into its field if that is still the emptied string.
fn give_back(slot: Option<&mut Value>, text: Str) {
    if let Some(Value::String(s)) = slot {
        if s.is_empty() {
            *s = text;
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Int(_) | Value::BigInt(_) | Value::Float(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "hash",
        Value::Timestamp(_) => "timestamp",
    }
}

/// Resolves an array index segment: `0`, `-1` counting from the end.
fn index(len: usize, s: &str) -> Option<usize> {
    let i: i64 = s.parse().ok()?;
    if i < 0 {
        let j = len as i64 + i;
        (j >= 0).then_some(j as usize)
    } else {
        Some(i as usize)
    }
}

fn child<'a>(v: &'a Value, s: &str) -> Option<&'a Value> {
    match v {
        Value::Object(m) => m.get(s),
        Value::Array(a) => a.get(index(a.len(), s)?),
        _ => None,
    }
}

fn step_create<'a>(cur: &'a mut Value, s: &str, r: &FieldRef) -> Result<&'a mut Value, SetError> {
    match cur {
        Value::Object(m) => Ok(m
            .entry(Key::from(s))
            .or_insert_with(|| Value::Object(Map::default()))),
        Value::Array(a) => {
            let i = index(a.len(), s).ok_or_else(|| SetError::Index(r.to_string()))?;
            while a.len() <= i {
                a.push(Value::Null);
            }
            if a[i].is_null() {
                a[i] = Value::Object(Map::default());
            }
            Ok(&mut a[i])
        }
        other => Err(SetError::NotAContainer {
            field: r.to_string(),
            kind: kind(other),
        }),
    }
}

fn set_index(a: &mut Vec<Value>, s: &str, v: Value, r: &FieldRef) -> Result<(), SetError> {
    let i = index(a.len(), s).ok_or_else(|| SetError::Index(r.to_string()))?;
    if i < a.len() {
        a[i] = v;
    } else {
        while a.len() < i {
            a.push(Value::Null);
        }
        a.push(v);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> FieldRef {
        FieldRef::parse(s).unwrap()
    }

    #[test]
    fn nested_set_get_remove() {
        let mut e = Event::new();
        e.set(&f("[a][b][c]"), 1.into()).unwrap();
        assert_eq!(e.get(&f("[a][b][c]")), Some(&Value::Int(1)));
        e.set(&f("[list]"), Value::Array(vec![1.into(), 2.into()]))
            .unwrap();
        assert_eq!(e.get(&f("[list][-1]")), Some(&Value::Int(2)));
        assert_eq!(e.get(&f("[list][5]")), None);
        e.set(&f("[list][4]"), 5.into()).unwrap();
        assert_eq!(
            e.get(&f("list")).unwrap(),
            &Value::Array(vec![1.into(), 2.into(), Value::Null, Value::Null, 5.into()])
        );
        assert!(!e.includes(&f("[list][2]")));
        assert!(e.remove(&f("[a][b]")).is_some());
        assert!(e.includes(&f("a")));
        assert!(!e.includes(&f("[a][b]")));
        e.set(&f("s"), "x".into()).unwrap();
        assert!(e.set(&f("[s][t]"), 1.into()).is_err());
    }

    #[test]
    fn upsert_sets_absent_or_null_values_and_merges_the_rest() {
        let mut e = Event::new();
        let append = |slot: &mut Value, v: Value| {
            let old = std::mem::replace(slot, Value::Null);
            *slot = Value::Array(vec![old, v]);
        };
        e.set(&f("n"), Value::Null).unwrap();
        for r in ["new", "n", "[a][b]", "[@metadata][m]"] {
            e.upsert_with(&f(r), || 1.into(), append).unwrap();
            assert_eq!(e.get(&f(r)), Some(&Value::Int(1)), "{r}");
        }
        for r in ["new", "[a][b]", "[@metadata][m]"] {
            e.upsert_with(&f(r), || 2.into(), append).unwrap();
            assert_eq!(
                e.get(&f(r)),
                Some(&Value::Array(vec![1.into(), 2.into()])),
                "{r}"
            );
        }
        assert!(e.data().get("@metadata").is_none());
        e.set(&f("s"), "x".into()).unwrap();
        assert!(e.upsert_with(&f("[s][t]"), || 1.into(), append).is_err());
    }

    #[test]
    fn metadata_is_separate() {
        let mut e = Event::new();
        e.set(&f("[@metadata][index]"), "x".into()).unwrap();
        assert!(e.data().get("@metadata").is_none());
        assert_eq!(e.metadata().get("index"), Some(&Value::from("x")));
    }

    #[test]
    fn metadata_made_on_first_write_only() {
        let mut e = Event::new();
        let plain = e.clone();
        assert!(e.get_mut(&f("[@metadata][x]")).is_none());
        assert!(e.remove(&f("[@metadata][x]")).is_none());
        assert!(e.metadata.is_none());
        e.metadata_mut();
        assert_eq!(e, plain, "an empty @metadata equals none");
        e.set(&f("[@metadata][x]"), 1.into()).unwrap();
        assert_ne!(e, plain);
        assert_eq!(
            e.remove(&f("[@metadata]")),
            Some(Value::Object(Map::from_iter([("x".into(), 1.into())])))
        );
        assert_eq!(e, plain);
    }

    #[test]
    fn a_lent_string_comes_back_to_its_place() {
        let keys = |e: &Event| e.data().keys().map(|k| k.to_string()).collect::<Vec<_>>();
        let mut e = Event::with_message("GET /x");
        let seen = e.lend_str(&f("message"), |e, text| {
            assert_eq!(e.get(&f("message")), Some(&Value::String("".into())));
            e.set(&f("verb"), text[..3].into()).unwrap();
            text.len()
        });
        assert_eq!(seen, Some(6));
        assert_eq!(e.get_str("message"), Some("GET /x"));
        assert_eq!(keys(&e), ["@timestamp", "@version", "message", "verb"]);

        // A field before it removed: found again by key. Replaced: left as `f` set it.
        e.lend_str(&f("message"), |e, _| e.remove(&f("@version")));
        assert_eq!(e.get_str("message"), Some("GET /x"));
        e.lend_str(&f("message"), |e, _| e.set(&f("message"), Value::Int(1)));
        assert_eq!(e.get(&f("message")), Some(&Value::Int(1)));

        // Nested, and nothing to lend.
        e.set(&f("[log][line]"), "a b".into()).unwrap();
        e.lend_str(&f("[log][line]"), |e, t| {
            e.set(&f("[log][n]"), Value::Int(t.len() as i64))
        });
        assert_eq!(e.get(&f("[log][line]")), Some(&Value::String("a b".into())));
        assert_eq!(e.get(&f("[log][n]")), Some(&Value::Int(3)));
        assert_eq!(e.lend_str(&f("message"), |_, _| ()), None);
        assert_eq!(e.lend_str(&f("absent"), |_, _| ()), None);
    }

    #[test]
    fn from_map_coerces() {
        let mut m = Map::default();
        m.insert("@timestamp".into(), "garbage".into());
        let mut tags = Map::default();
        tags.insert("k".into(), 1.into());
        m.insert("tags".into(), Value::Object(tags));
        let e = Event::from_map(m);
        assert!(e.has_tag("_timestampparsefailure"));
        assert!(e.has_tag("_tagsparsefailure"));
        assert_eq!(e.get_str("_@timestamp"), Some("garbage"));
        assert!(e.data().contains_key("_tags"));
    }

    #[test]
    fn tag_dedups_push_tag_does_not() {
        let mut e = Event::new();
        e.tag("a");
        e.tag("a");
        e.push_tag("a".into());
        assert_eq!(e.data()["tags"], Value::Array(vec!["a".into(), "a".into()]));
    }
}
