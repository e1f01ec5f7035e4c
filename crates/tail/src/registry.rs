//! The registry: per file, the offset up to which the output has acknowledged, on disk in
//! Filebeat's memlog layout (`registry/filebeat/`: `meta.json`, an append-only `log.json` of
//! `{"op":"set","id":N}` + `{"k":..,"v":..}` line pairs, a `<txid>.json` checkpoint named by
//! `active.dat`). Every update is fsynced before it returns; the log is folded into a new
//! checkpoint (written aside, fsynced, renamed) once it grows, and entries of files that are gone
//! are removed, so the registry stays as small as the set of live files.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::identity::FileId;

/// Fold the log into a checkpoint after this many operations.
const CHECKPOINT_OPS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The `log` input: key `filebeat::logs::native::<inode>-<device>`.
    Log,
    /// A `filestream` input: key `filestream::<id>::native::<inode>-<device>`.
    Filestream(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub id: FileId,
    pub source: String,
    /// Next byte to read: everything before it has been acknowledged.
    pub offset: u64,
    /// Unix seconds of the last update.
    pub updated: i64,
    /// Go-style nanoseconds after which an idle entry may be dropped; -1: never.
    pub ttl: i64,
}

impl Entry {
    pub fn key(&self) -> String {
        key(&self.kind, self.id)
    }

    fn to_value(&self) -> Value {
        let ts = json!([0, self.updated]);
        match &self.kind {
            Kind::Log => json!({
                "id": format!("native::{}", self.id.native()),
                "prev_id": "",
                "source": self.source,
                "offset": self.offset,
                "timestamp": ts,
                "ttl": self.ttl,
                "type": "log",
                "FileStateOS": {"inode": self.id.ino, "device": self.id.dev},
                "identifier_name": "native",
            }),
            Kind::Filestream(_) => json!({
                "ttl": self.ttl,
                "updated": ts,
                "cursor": {"offset": self.offset},
                "meta": {"source": self.source, "identifier_name": "native"},
            }),
        }
    }

    fn from_value(key: &str, v: &Value) -> Option<Entry> {
        let updated_of = |t: Option<&Value>| {
            t.and_then(|t| t.get(1))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        if key.starts_with("filebeat::logs::") {
            let os = v.get("FileStateOS")?;
            return Some(Entry {
                kind: Kind::Log,
                id: FileId {
                    dev: os.get("device")?.as_u64()?,
                    ino: os.get("inode")?.as_u64()?,
                },
                source: v.get("source")?.as_str()?.to_string(),
                offset: v.get("offset")?.as_u64()?,
                updated: updated_of(v.get("timestamp")),
                ttl: v.get("ttl").and_then(Value::as_i64).unwrap_or(-1),
            });
        }
        let rest = key.strip_prefix("filestream::")?;
        let (input, native) = rest.split_once("::native::")?;
        let (ino, dev) = native.split_once('-')?;
        Some(Entry {
            kind: Kind::Filestream(input.to_string()),
            id: FileId {
                dev: dev.parse().ok()?,
                ino: ino.parse().ok()?,
            },
            source: v.pointer("/meta/source")?.as_str()?.to_string(),
            offset: v
                .pointer("/cursor/offset")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            updated: updated_of(v.get("updated")),
            ttl: v.get("ttl").and_then(Value::as_i64).unwrap_or(-1),
        })
    }
}

pub fn key(kind: &Kind, id: FileId) -> String {
    match kind {
        Kind::Log => format!("filebeat::logs::native::{}", id.native()),
        Kind::Filestream(input) => format!("filestream::{input}::native::{}", id.native()),
    }
}

pub struct Registry {
    dir: PathBuf,
    entries: BTreeMap<String, Entry>,
    txid: u64,
    log: File,
    log_ops: u64,
}

impl Registry {
    /// Opens (or creates) the registry under `<path.data>/registry/filebeat`.
    pub fn open(data_dir: &Path) -> io::Result<Registry> {
        let dir = data_dir.join("registry").join("filebeat");
        fs::create_dir_all(&dir)?;
        let meta = dir.join("meta.json");
        if !meta.exists() {
            write_synced(&meta, br#"{"version":"1"}"#)?;
        }
        for stale in ["checkpoint.new", "active.dat.new"] {
            let _ = fs::remove_file(dir.join(stale));
        }
        let mut entries = BTreeMap::new();
        let mut txid = 0u64;
        if let Ok(active) = fs::read_to_string(dir.join("active.dat")) {
            let path = PathBuf::from(active.trim());
            let path = if path.is_absolute() {
                path
            } else {
                dir.join(path)
            };
            txid = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if let Ok(text) = fs::read_to_string(&path) {
                let items: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                for item in items {
                    let Some(k) = item.get("_key").and_then(Value::as_str) else {
                        continue;
                    };
                    if let Some(e) = Entry::from_value(k, &item) {
                        entries.insert(k.to_string(), e);
                    }
                }
            }
        }
        let log_path = dir.join("log.json");
        let mut log_ops = 0;
        if let Ok(f) = File::open(&log_path) {
            let mut lines = BufReader::new(f).lines();
            // Replay `op` + `k/v` pairs in id order; a torn or out-of-order pair ends the replay.
            while let (Some(Ok(op)), Some(Ok(kv))) = (lines.next(), lines.next()) {
                let (Ok(op), Ok(kv)) = (
                    serde_json::from_str::<Value>(&op),
                    serde_json::from_str::<Value>(&kv),
                ) else {
                    break;
                };
                let id = op.get("id").and_then(Value::as_u64).unwrap_or(0);
                if id <= txid {
                    continue;
                }
                if id != txid + 1 {
                    break;
                }
                txid = id;
                log_ops += 1;
                let Some(k) = kv.get("k").and_then(Value::as_str) else {
                    break;
                };
                match op.get("op").and_then(Value::as_str) {
                    Some("set") => {
                        if let Some(e) = kv.get("v").and_then(|v| Entry::from_value(k, v)) {
                            entries.insert(k.to_string(), e);
                        }
                    }
                    Some("remove") => {
                        entries.remove(k);
                    }
                    _ => break,
                }
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let mut reg = Registry {
            dir,
            entries,
            txid,
            log,
            log_ops,
        };
        // Start from a clean checkpoint: no torn tail is ever appended to.
        reg.checkpoint()?;
        Ok(reg)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Applies updates and removals, durable (fsynced) when this returns.
    pub fn update(&mut self, set: &[Entry], remove: &[String]) -> io::Result<()> {
        if set.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for e in set {
            self.txid += 1;
            let k = e.key();
            writeln!(out, "{}", json!({"op": "set", "id": self.txid}))?;
            writeln!(out, "{}", json!({"k": k, "v": e.to_value()}))?;
            self.entries.insert(k, e.clone());
        }
        for k in remove {
            if self.entries.remove(k).is_none() {
                continue;
            }
            self.txid += 1;
            writeln!(out, "{}", json!({"op": "remove", "id": self.txid}))?;
            writeln!(out, "{}", json!({"k": k}))?;
        }
        self.log.write_all(&out)?;
        self.log.sync_data()?;
        self.log_ops += (set.len() + remove.len()) as u64;
        if self.log_ops >= CHECKPOINT_OPS {
            self.checkpoint()?;
        }
        Ok(())
    }

    /// Writes every entry to `<txid>.json` (aside, fsynced, renamed), points `active.dat` at it,
    /// empties the log and deletes older checkpoints.
    pub fn checkpoint(&mut self) -> io::Result<()> {
        let items: Vec<Value> = self
            .entries
            .iter()
            .map(|(k, e)| {
                let mut v = e.to_value();
                if let Value::Object(m) = &mut v {
                    m.insert("_key".into(), Value::String(k.clone()));
                }
                v
            })
            .collect();
        let name = format!("{}.json", self.txid);
        let tmp = self.dir.join("checkpoint.new");
        write_synced(&tmp, serde_json::to_string(&items)?.as_bytes())?;
        fs::rename(&tmp, self.dir.join(&name))?;
        let active_tmp = self.dir.join("active.dat.new");
        write_synced(
            &active_tmp,
            self.dir.join(&name).to_string_lossy().as_bytes(),
        )?;
        fs::rename(&active_tmp, self.dir.join("active.dat"))?;
        sync_dir(&self.dir)?;
        self.log.set_len(0)?;
        self.log.sync_all()?;
        self.log_ops = 0;
        for entry in fs::read_dir(&self.dir)?.flatten() {
            let p = entry.path();
            let is_old = p.extension().is_some_and(|x| x == "json")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|n| n != self.txid);
            if is_old {
                let _ = fs::remove_file(p);
            }
        }
        Ok(())
    }
}

fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind, ino: u64, offset: u64) -> Entry {
        Entry {
            kind,
            id: FileId { dev: 2049, ino },
            source: format!("/var/log/{ino}.log"),
            offset,
            updated: 1_700_000_000,
            ttl: -1,
        }
    }

    #[test]
    fn survives_reopen_through_log_and_checkpoint() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut r = Registry::open(d.path()).unwrap();
            r.update(
                &[
                    entry(Kind::Log, 1, 10),
                    entry(Kind::Filestream("app".into()), 2, 20),
                ],
                &[],
            )
            .unwrap();
            r.update(&[entry(Kind::Log, 1, 15)], &[]).unwrap();
        }
        let log = fs::read_to_string(d.path().join("registry/filebeat/log.json")).unwrap();
        assert!(log.contains(r#"{"op":"set","id":3}"#), "{log}");
        let mut r = Registry::open(d.path()).unwrap();
        assert_eq!(r.get("filebeat::logs::native::1-2049").unwrap().offset, 15);
        assert_eq!(r.get("filestream::app::native::2-2049").unwrap().offset, 20);
        r.update(&[], &["filebeat::logs::native::1-2049".into()])
            .unwrap();
        drop(r);
        let r = Registry::open(d.path()).unwrap();
        assert_eq!(r.len(), 1);
        let active = fs::read_to_string(d.path().join("registry/filebeat/active.dat")).unwrap();
        assert!(active.ends_with(".json"));
    }

    #[test]
    fn a_torn_log_tail_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        {
            let mut r = Registry::open(d.path()).unwrap();
            r.update(&[entry(Kind::Log, 1, 10)], &[]).unwrap();
        }
        let log = d.path().join("registry/filebeat/log.json");
        let mut f = OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"{\"op\":\"set\",\"id\":99}\n{\"k\":\"filebeat::lo")
            .unwrap();
        let r = Registry::open(d.path()).unwrap();
        assert_eq!(r.get("filebeat::logs::native::1-2049").unwrap().offset, 10);
    }
}
