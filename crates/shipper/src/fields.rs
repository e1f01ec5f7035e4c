//! Dotted field paths (`log.file.path`) into an event's nested JSON, as Beats processors use them.

use serde_json::{Map, Value};

pub type Fields = Map<String, Value>;

pub fn get<'a>(m: &'a Fields, path: &str) -> Option<&'a Value> {
    if let Some(v) = m.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut cur = m.get(parts.next()?)?;
    for p in parts {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// Sets `path`, creating objects on the way (a non-object in the way is replaced).
pub fn put(m: &mut Fields, path: &str, v: Value) {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else { return };
    let mut cur = m;
    for p in parts {
        let slot = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(next) = slot else { return };
        cur = next;
    }
    cur.insert(last.to_string(), v);
}

pub fn delete(m: &mut Fields, path: &str) -> Option<Value> {
    if let Some(v) = m.remove(path) {
        return Some(v);
    }
    let (parent, last) = path.rsplit_once('.')?;
    let mut parts = parent.split('.');
    let mut cur = m.get_mut(parts.next()?)?.as_object_mut()?;
    for p in parts {
        cur = cur.get_mut(p)?.as_object_mut()?;
    }
    cur.remove(last)
}

/// Deep merge of `add` into `m` (objects merge, anything else replaces).
pub fn merge(m: &mut Fields, add: &Fields) {
    for (k, v) in add {
        match (m.get_mut(k), v) {
            (Some(Value::Object(dst)), Value::Object(src)) => merge(dst, src),
            _ => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Appends tags to the event's `tags` array (created when missing), skipping duplicates.
pub fn add_tags(m: &mut Fields, target: &str, tags: &[String]) {
    append_tags(m, target, tags, true)
}

/// Appends to the array at `target` (created when missing); with `dedup`, values already
/// there are not added again (Beats' `log.flags` keeps repeats).
pub fn append_tags(m: &mut Fields, target: &str, tags: &[String], dedup: bool) {
    let slot = match get(m, target) {
        Some(Value::Array(_)) => None,
        Some(Value::String(s)) => Some(vec![Value::String(s.clone())]),
        _ => Some(Vec::new()),
    };
    if let Some(init) = slot {
        put(m, target, Value::Array(init));
    }
    let Some(Value::Array(a)) = get_mut(m, target) else {
        return;
    };
    for t in tags {
        if !dedup || !a.iter().any(|x| x.as_str() == Some(t)) {
            a.push(Value::String(t.clone()));
        }
    }
}

pub fn get_mut<'a>(m: &'a mut Fields, path: &str) -> Option<&'a mut Value> {
    if m.contains_key(path) {
        return m.get_mut(path);
    }
    let mut parts = path.split('.');
    let mut cur = m.get_mut(parts.next()?)?;
    for p in parts {
        cur = cur.as_object_mut()?.get_mut(p)?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_paths() {
        let mut m = Fields::new();
        put(&mut m, "log.file.path", json!("/a"));
        put(&mut m, "log.offset", json!(3));
        assert_eq!(
            Value::Object(m.clone()),
            json!({"log": {"file": {"path": "/a"}, "offset": 3}})
        );
        assert_eq!(get(&m, "log.file.path"), Some(&json!("/a")));
        assert_eq!(delete(&mut m, "log.offset"), Some(json!(3)));
        add_tags(&mut m, "tags", &["a".into(), "a".into(), "b".into()]);
        assert_eq!(m["tags"], json!(["a", "b"]));
    }
}
