//! `file`: appends encoded events (default `json_lines`) to `path`, which may use sprintf
//! (`/var/log/app-%{+YYYY-MM-dd}.log`). A path that event data would lead outside its fixed
//! directory goes to `filename_failure` there instead, as Logstash does.

use rstash_pipeline::{opt, Options, Ty};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Codec, Output, PluginError};

pub struct FileOutput {
    path: Template,
    root: PathBuf,
    failure_name: String,
    create_if_deleted: bool,
    codec: Box<dyn Codec>,
    /// `gzip`: each batch is appended as one gzip member (a gzip file may hold several).
    gzip: bool,
    open: HashMap<PathBuf, File>,
    pending: HashMap<PathBuf, Vec<u8>>,
}

pub const OPTIONS: Options = &[&[
    opt("path", Ty::Str).required(),
    opt("codec", Ty::Codec).default("json_lines"),
    opt("gzip", Ty::Boolean).default("false"),
    opt("create_if_deleted", Ty::Boolean).default("true"),
    opt("filename_failure", Ty::Str).default("_filepath_failures"),
    opt("flush_interval", Ty::Number)
        .default("2")
        .ignored("each batch is flushed"),
    opt("dir_mode", Ty::Number).default("-1").ignored(MODES),
    opt("file_mode", Ty::Number).default("-1").ignored(MODES),
    opt("stale_cleanup_interval", Ty::Number)
        .default("10")
        .ignored("files stay open"),
    opt("write_behavior", Ty::Choice(&["append", "overwrite"]))
        .default("append")
        .ignored("files are always appended to"),
]];

const MODES: &str = "files and directories get the process's umask";

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(path) = args.template("path")? else {
        return Err(args.error("file output needs `path`"));
    };
    let src = path.source().to_string();
    // The fixed part of the path: everything before the first `%{`.
    let fixed = &src[..src.find("%{").unwrap_or(src.len())];
    let root = Path::new(fixed)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    Ok(Box::new(FileOutput {
        path,
        root,
        failure_name: args.string_or("filename_failure", "_filepath_failures")?,
        create_if_deleted: args.bool("create_if_deleted", true)?,
        codec: args.codec("json_lines")?,
        gzip: args.bool("gzip", false)?,
        open: HashMap::new(),
        pending: HashMap::new(),
    }))
}

impl FileOutput {
    fn target(&self, e: &Event) -> PathBuf {
        let p = PathBuf::from(self.path.render(e).as_ref());
        if self.path.is_static() || !p.components().any(|c| c == Component::ParentDir) {
            p
        } else {
            self.root.join(&self.failure_name)
        }
    }

    fn file(&mut self, p: &Path) -> Result<&mut File, PluginError> {
        if self
            .open
            .get(p)
            .is_some_and(|_| !p.exists() && self.create_if_deleted)
        {
            self.open.remove(p);
        }
        if !self.open.contains_key(p) {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let f = OpenOptions::new().create(true).append(true).open(p)?;
            self.open.insert(p.to_path_buf(), f);
        }
        self.open
            .get_mut(p)
            .ok_or_else(|| PluginError(format!("cannot open {}", p.display())))
    }
}

impl Output for FileOutput {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        for e in events {
            let p = self.target(e);
            let buf = self.pending.entry(p).or_default();
            self.codec.encode(e, buf);
        }
        for (p, buf) in std::mem::take(&mut self.pending) {
            let buf = if self.gzip {
                super::gzip_member(&buf)?
            } else {
                buf
            };
            self.file(&p)?.write_all(&buf)?;
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), PluginError> {
        for f in self.open.values_mut() {
            f.flush()?;
        }
        self.open.clear();
        Ok(())
    }
}
