//! The set of indices under `path.data`, name resolution (`server1-*`, `a,b`, `_all`), and the
//! once-a-second refresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::index::{EsError, Index};

pub struct Store {
    dir: PathBuf,
    indices: RwLock<BTreeMap<String, Arc<Index>>>,
}

fn valid_name(name: &str) -> Result<(), EsError> {
    let bad = name.is_empty()
        || name.starts_with(['_', '-', '+'])
        || name != name.to_lowercase()
        || name.contains(['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'])
        || name == "."
        || name == ".."
        || name.len() > 255;
    if bad {
        return Err(EsError::bad_request(
            "invalid_index_name_exception",
            format!("Invalid index name [{name}]"),
        ));
    }
    Ok(())
}

pub(crate) fn wildcard(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((pre, rest)) => {
            name.starts_with(pre) && {
                let tail = &name[pre.len()..];
                (0..=tail.len()).any(|i| tail.is_char_boundary(i) && wildcard(rest, &tail[i..]))
            }
        }
    }
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, EsError> {
        let root = dir.join("indices");
        std::fs::create_dir_all(&root).map_err(EsError::internal)?;
        let mut indices = BTreeMap::new();
        for entry in std::fs::read_dir(&root)
            .map_err(EsError::internal)?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if entry.path().join("tantivy").is_dir() {
                indices.insert(name.clone(), Arc::new(Index::open(&name, &entry.path())?));
            }
        }
        Ok(Store {
            dir: dir.to_path_buf(),
            indices: RwLock::new(indices),
        })
    }

    pub fn get(&self, name: &str) -> Option<Arc<Index>> {
        self.indices.read().ok()?.get(name).cloned()
    }

    pub fn get_or_create(&self, name: &str) -> Result<Arc<Index>, EsError> {
        if let Some(i) = self.get(name) {
            return Ok(i);
        }
        self.create(name).or_else(|e| self.get(name).ok_or(e))
    }

    pub fn create(&self, name: &str) -> Result<Arc<Index>, EsError> {
        valid_name(name)?;
        let mut map = self
            .indices
            .write()
            .map_err(|_| EsError::internal("index table poisoned"))?;
        if map.contains_key(name) {
            return Err(EsError::bad_request(
                "resource_already_exists_exception",
                format!("index [{name}] already exists"),
            ));
        }
        let idx = Arc::new(Index::open(name, &self.dir.join("indices").join(name))?);
        map.insert(name.to_string(), idx.clone());
        Ok(idx)
    }

    pub fn delete(&self, name: &str) -> Result<(), EsError> {
        let mut map = self
            .indices
            .write()
            .map_err(|_| EsError::internal("index table poisoned"))?;
        if map.remove(name).is_none() {
            return Err(EsError::not_found(
                "index_not_found_exception",
                format!("no such index [{name}]"),
            ));
        }
        std::fs::remove_dir_all(self.dir.join("indices").join(name)).map_err(EsError::internal)
    }

    /// Indices matching a comma-separated list of names and wildcards; a missing concrete name is
    /// an error, a wildcard that matches nothing is not.
    pub fn resolve(&self, expr: &str) -> Result<Vec<Arc<Index>>, EsError> {
        let map = self
            .indices
            .read()
            .map_err(|_| EsError::internal("index table poisoned"))?;
        let mut out: Vec<Arc<Index>> = Vec::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if part == "_all" || part == "*" {
                out.extend(map.values().cloned());
            } else if part.contains('*') {
                out.extend(
                    map.iter()
                        .filter(|(n, _)| wildcard(part, n))
                        .map(|(_, i)| i.clone()),
                );
            } else {
                match map.get(part) {
                    Some(i) => out.push(i.clone()),
                    None => {
                        return Err(EsError::not_found(
                            "index_not_found_exception",
                            format!("no such index [{part}]"),
                        ))
                    }
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    pub fn all(&self) -> Vec<Arc<Index>> {
        self.indices
            .read()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    pub fn refresh_all(&self) {
        for i in self.all() {
            if let Err(e) = i.refresh() {
                tracing::error!(index = %i.name, "refresh failed: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(wildcard("server1-*", "server1-2024.05.01"));
        assert!(!wildcard("server1-*", "server2-2024.05.01"));
        assert!(wildcard("*-2024.*", "a-2024.05"));
        assert!(valid_name("weblogs-2024.05.01").is_ok());
        assert!(valid_name("Upper").is_err());
        assert!(valid_name("_x").is_err());
    }
}
