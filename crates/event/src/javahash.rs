//! `java.util.HashMap` iteration order, which sprintf of a hash (`%{[somehash]}`) shows.

use crate::value::{Key, Map, Value};

fn java_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
}

/// Keys in the order a `new HashMap<>(n)` filled with them iterates.
pub fn hash_order(m: &Map) -> Vec<(&Key, &Value)> {
    let n = m.len();
    let mut cap = 2usize;
    while cap * 3 / 4 < n {
        cap *= 2;
    }
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by_key(|(k, _)| {
        let h = java_hash(k);
        ((h ^ ((h as u32) >> 16) as i32) as u32 as usize) & (cap - 1)
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(keys: &[&str]) -> Vec<String> {
        let m: Map = keys.iter().map(|k| (Key::from(*k), Value::Null)).collect();
        hash_order(&m)
            .into_iter()
            .map(|(k, _)| k.to_string())
            .collect()
    }

    #[test]
    fn matches_jdk() {
        assert_eq!(order(&["b", "a"]), ["a", "b"]);
        assert_eq!(order(&["original", "sequence"]), ["sequence", "original"]);
        assert_eq!(
            order(&["name", "hostname", "ip", "mac"]),
            ["name", "hostname", "mac", "ip"]
        );
        assert_eq!(
            order(&["message", "@version", "@timestamp", "host", "event"]),
            ["@version", "host", "@timestamp", "message", "event"]
        );
    }
}
