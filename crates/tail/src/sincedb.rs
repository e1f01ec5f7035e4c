//! Logstash's sincedb: one line per file, `inode major minor offset last_active path`, so that a
//! sincedb written by Logstash's file input is picked up (and ours is readable by Logstash).

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::warn;

use crate::registry::{Entry, Kind};
use crate::FileId;

/// glibc's `major()`/`minor()` of a device number, as Ruby's `File::Stat#dev_major` gives them.
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & 0xffff_f000);
    let minor = (dev & 0xff) | ((dev >> 12) & 0xffff_ff00);
    (major, minor)
}

fn join_dev(major: u64, minor: u64) -> u64 {
    ((major & 0xfff) << 8)
        | ((major & 0xffff_f000) << 32)
        | (minor & 0xff)
        | ((minor & 0xffff_ff00) << 12)
}

/// The offsets, keyed like the registry (`registry::key`), with when each last moved.
#[derive(Debug, Default)]
pub struct Sincedb {
    /// `None` for `/dev/null`: nothing is kept across restarts.
    path: Option<PathBuf>,
    entries: HashMap<String, (Entry, f64)>,
}

impl Sincedb {
    /// Reads the file if it exists; unreadable lines are skipped with a warning.
    pub fn open(path: &Path) -> io::Result<Sincedb> {
        if path == Path::new("/dev/null") {
            return Ok(Sincedb::default());
        }
        let mut db = Sincedb {
            path: Some(path.to_path_buf()),
            entries: HashMap::new(),
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(db),
            Err(e) => return Err(e),
        };
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            match parse_line(line) {
                Some((entry, active)) => {
                    db.entries.insert(entry.key(), (entry, active));
                }
                None => warn!(
                    "{}:{}: not a sincedb line, skipped: {line}",
                    path.display(),
                    n + 1
                ),
            }
        }
        Ok(db)
    }

    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key).map(|(e, _)| e)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values().map(|(e, _)| e)
    }

    pub fn update(&mut self, set: Vec<Entry>, remove: &[String]) {
        let now = jiff::Timestamp::now().as_microsecond() as f64 / 1e6;
        for e in set {
            self.entries.insert(e.key(), (e, now));
        }
        for k in remove {
            self.entries.remove(k);
        }
    }

    /// Writes the file (atomically: a temporary file renamed over it), first dropping entries
    /// idle for longer than `clean_after` seconds.
    pub fn write(&mut self, clean_after: f64) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let now = jiff::Timestamp::now().as_microsecond() as f64 / 1e6;
        self.entries
            .retain(|_, (_, active)| now - *active <= clean_after);
        let mut lines: Vec<String> = self
            .entries
            .values()
            .map(|(e, active)| {
                let (major, minor) = split_dev(e.id.dev);
                format!(
                    "{} {major} {minor} {} {active:.6} {}\n",
                    e.id.ino, e.offset, e.source
                )
            })
            .collect();
        lines.sort();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut f = std::fs::File::create(&tmp)?;
        for l in &lines {
            f.write_all(l.as_bytes())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

/// `inode major minor offset [last_active [path]]` (older sincedbs have only the first four).
fn parse_line(line: &str) -> Option<(Entry, f64)> {
    let mut parts = line.splitn(6, ' ');
    let ino = parts.next()?.parse().ok()?;
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let offset = parts.next()?.parse().ok()?;
    let active = parts.next().and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let source = parts.next().unwrap_or("").to_string();
    let entry = Entry {
        kind: Kind::Log,
        id: FileId {
            dev: join_dev(major, minor),
            ino,
        },
        source,
        offset,
        updated: active as i64,
        ttl: -1,
    };
    Some((entry, active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_split_like_glibc() {
        // /dev/sda1 is 8:1; a large minor (NVMe partitions, overlay mounts) uses the high bits.
        for (major, minor) in [(8, 1), (259, 3), (0, 51), (4095, 1_000_000)] {
            assert_eq!(split_dev(join_dev(major, minor)), (major, minor));
        }
        assert_eq!(split_dev(0x801), (8, 1));
    }

    #[test]
    fn reads_logstash_lines_and_writes_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sincedb");
        std::fs::write(
            &p,
            "5385 0 2049 1024 1700000000.5 /var/log/a b.log\n77 8 1 10\ngarbage line\n",
        )
        .unwrap();
        let mut db = Sincedb::open(&p).unwrap();
        let mut all: Vec<_> = db
            .entries()
            .map(|e| (e.id.ino, e.offset, e.source.clone()))
            .collect();
        all.sort();
        assert_eq!(
            all,
            vec![
                (77, 10, String::new()),
                (5385, 1024, "/var/log/a b.log".into())
            ]
        );
        let e = db.entries().find(|e| e.id.ino == 5385).cloned().unwrap();
        assert_eq!(split_dev(e.id.dev), (0, 2049));
        db.update(vec![Entry { offset: 2048, ..e }], &[]);
        db.write(1e12).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("5385 0 2049 2048 ") && l.ends_with(" /var/log/a b.log")),
            "{text}"
        );
        assert_eq!(Sincedb::open(&p).unwrap().entries().count(), 2);
    }
}
