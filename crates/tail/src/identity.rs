//! A file is known by its device and inode, so a rename keeps its identity (and its offset).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &Metadata) -> FileId {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }

    /// Filebeat's native identity string: `<inode>-<device>`.
    pub fn native(&self) -> String {
        format!("{}-{}", self.ino, self.dev)
    }
}

/// The file in `dir` that has identity `id`, if any: how a file renamed while nobody watched is
/// found again (a rotation while the shipper was down).
pub fn find_in_dir(dir: &Path, id: FileId) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_file() && FileId::of(&meta) == id {
            return Some(entry.path());
        }
    }
    None
}
