//! `s3`: writes encoded events (codec `line`) to local temporary files, one per `prefix`
//! (sprintf), and uploads each file when it is rotated: at `size_file` bytes or `time_file`
//! minutes, as Logstash's s3 output does, with its object names
//! (`ls.s3.<uuid>.<%Y-%m-%dT%H.%M>[.tag_<tags>].part<N>.txt[.gz]`) and its temporary layout
//! (`<temporary_directory>/<uuid>/<key>`), so `restore` uploads what a crash left behind.
//!
//! A batch counts as delivered once it is fsynced to its temporary file: with `restore` (the
//! default) nothing acknowledged is lost. Uploads are retried (`retry_count`, `retry_delay`);
//! a file is deleted only after its upload succeeded. With `encoding => gzip` each batch is
//! appended as its own gzip member, so a file cut by a crash still decompresses up to its last
//! whole batch.

use rstash_pipeline::{opt, Options, Ty};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::{debug, error, info, warn};

use crate::s3_link::{self, Link};

const INVALID_PREFIX: &[char] = &['^', '`', '>', '<'];
/// How often time rotation is checked (Logstash's PERIODIC_CHECK_INTERVAL_IN_SECONDS).
const PERIODIC_CHECK: Duration = Duration::from_secs(15);
const CLASSES: [&str; 4] = [
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
];

const ACLS: [&str; 8] = [
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
    "log-delivery-write",
];

pub struct S3Output {
    prefix: Template,
    codec: Box<dyn Codec>,
    restore: bool,
    validate: bool,
    workers: usize,
    queue_size: usize,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    stop_periodic: Option<Sender<()>>,
}

/// What the output, its periodic check and its upload threads share.
struct Shared {
    link: Link,
    tmp: PathBuf,
    gzip: bool,
    tags: Vec<String>,
    rotation: Rotation,
    headers: Vec<(String, String)>,
    multipart_threshold: u64,
    retry_count: Option<u64>,
    retry_delay: Duration,
    files: Mutex<HashMap<String, Factory>>,
    queue: Mutex<Option<SyncSender<Upload>>>,
}

#[derive(Clone, Copy)]
struct Rotation {
    size: Option<u64>,
    time: Option<Duration>,
}

/// The current file of one prefix, and its part counter.
struct Factory {
    counter: u64,
    current: TempFile,
}

struct TempFile {
    key: String,
    /// `<temporary_directory>/<uuid>`: removed whole once uploaded.
    dir: PathBuf,
    path: PathBuf,
    file: File,
    size: u64,
    created: Instant,
}

struct Upload {
    key: String,
    path: PathBuf,
    dir: PathBuf,
}

pub const OPTIONS: Options = &[
    &[
        opt("bucket", Ty::Str).required(),
        opt("codec", Ty::Codec).default("line"),
        opt("prefix", Ty::Str).default(""),
        opt("size_file", Ty::Number).default("5242880"),
        opt("time_file", Ty::Number).default("15"),
        opt(
            "rotation_strategy",
            Ty::Choice(&["size_and_time", "size", "time"]),
        )
        .default("size_and_time"),
        opt("encoding", Ty::Choice(&["none", "gzip"])).default("none"),
        opt("canned_acl", Ty::Choice(&ACLS)).default("private"),
        opt("server_side_encryption", Ty::Boolean).default("false"),
        opt(
            "server_side_encryption_algorithm",
            Ty::Choice(&["AES256", "aws:kms"]),
        )
        .default("AES256"),
        opt("ssekms_key_id", Ty::Str),
        opt("storage_class", Ty::Choice(&CLASSES)).default("STANDARD"),
        opt("upload_workers_count", Ty::Number),
        opt("upload_queue_size", Ty::Number),
        opt("upload_multipart_threshold", Ty::Number).default("15728640"),
        opt("restore", Ty::Boolean).default("true"),
        opt("validate_credentials_on_root_bucket", Ty::Boolean).default("true"),
        opt("temporary_directory", Ty::Path),
        opt("tags", Ty::Array).default("[]"),
        opt("retry_count", Ty::Number),
        opt("retry_delay", Ty::Number).default("1"),
    ],
    crate::s3_link::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(bucket) = args.string("bucket")? else {
        return Err(args.error("s3 output needs `bucket`"));
    };
    let link = s3_link::options(args, &bucket)?;
    let prefix = args.string_or("prefix", "")?;
    if prefix.contains(INVALID_PREFIX) {
        return Err(args.error_at("prefix", "Prefix must not contains: ^`><"));
    }
    let size_file = args.int("size_file", 5 * 1024 * 1024)?.max(0) as u64;
    let time_file = args.number("time_file")?.unwrap_or(15.0).max(0.0);
    let strategy = args.choice(
        "rotation_strategy",
        &["size_and_time", "size", "time"],
        "size_and_time",
    )?;
    if size_file == 0 && time_file == 0.0 {
        return Err(args.error("The S3 plugin must have at least one of time_file or size_file set to a value greater than 0"));
    }
    let size = Some(size_file).filter(|_| strategy != "time");
    let time = Some(Duration::from_secs_f64(time_file * 60.0)).filter(|_| strategy != "size");
    if size == Some(0) {
        return Err(args.error_at("size_file", "`size_file` need to be greater than 0"));
    }
    if time == Some(Duration::ZERO) {
        return Err(args.error_at("time_file", "`time_file` need to be greater than 0"));
    }
    let gzip = args.choice("encoding", &["none", "gzip"], "none")? == "gzip";
    let mut headers = vec![(
        "x-amz-acl".to_string(),
        args.choice("canned_acl", &ACLS, "private")?,
    )];
    let sse = args.bool("server_side_encryption", false)?;
    let algorithm = args.choice(
        "server_side_encryption_algorithm",
        &["AES256", "aws:kms"],
        "AES256",
    )?;
    let kms_key = args.string("ssekms_key_id")?;
    if sse {
        headers.push(("x-amz-server-side-encryption".into(), algorithm.clone()));
    }
    if let Some(k) = kms_key.filter(|_| algorithm == "aws:kms") {
        headers.push(("x-amz-server-side-encryption-aws-kms-key-id".into(), k));
    }
    headers.push((
        "x-amz-storage-class".into(),
        args.choice("storage_class", &CLASSES, "STANDARD")?,
    ));
    if gzip {
        headers.push(("content-encoding".into(), "gzip".into()));
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let count = |args: &mut Args, name: &str, default: usize| -> Result<usize, ConfigError> {
        Ok(args.int(name, default as i64)?.max(1) as usize)
    };
    let workers = count(args, "upload_workers_count", cpus.div_ceil(2))?;
    let queue_size = count(args, "upload_queue_size", 2 * cpus.div_ceil(4))?;
    // Logstash's default is to retry forever.
    let retry_count = args
        .number("retry_count")?
        .filter(|n| n.is_finite())
        .map(|n| n.max(0.0) as u64);
    Ok(Box::new(S3Output {
        prefix: args.make_template("prefix", &prefix)?,
        codec: args.codec("line")?,
        restore: args.bool("restore", true)?,
        validate: args.bool("validate_credentials_on_root_bucket", true)?,
        workers,
        queue_size,
        threads: Vec::new(),
        stop_periodic: None,
        shared: Arc::new(Shared {
            link,
            tmp: match args.string("temporary_directory")? {
                Some(d) => PathBuf::from(d),
                None => std::env::temp_dir().join("logstash"),
            },
            gzip,
            tags: args.strings("tags")?,
            rotation: Rotation { size, time },
            headers,
            multipart_threshold: args
                .int("upload_multipart_threshold", 15 * 1024 * 1024)?
                .max(0) as u64,
            retry_count,
            retry_delay: Duration::from_secs_f64(
                args.number("retry_delay")?.unwrap_or(1.0).max(0.0),
            ),
            files: Mutex::new(HashMap::new()),
            queue: Mutex::new(None),
        }),
    }))
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Rotation {
    fn due(&self, f: &TempFile) -> bool {
        self.size.is_some_and(|s| f.size >= s)
            || self
                .time
                .is_some_and(|t| f.size > 0 && f.created.elapsed() >= t)
    }
}

impl Shared {
    fn new_file(&self, prefix: &str, counter: u64) -> std::io::Result<TempFile> {
        let time = jiff::ZonedDateTime::now()
            .strftime("%Y-%m-%dT%H.%M")
            .to_string();
        let tags = if self.tags.is_empty() {
            String::new()
        } else {
            format!(".tag_{}", self.tags.join("."))
        };
        let ext = if self.gzip { "txt.gz" } else { "txt" };
        let name = format!(
            "ls.s3.{}.{time}{tags}.part{counter}.{ext}",
            uuid::Uuid::new_v4()
        );
        let key = match prefix {
            "" => name,
            p if p.ends_with('/') => format!("{p}{name}"),
            p => format!("{p}/{name}"),
        };
        let key = key.trim_start_matches('/').to_string();
        let dir = self.tmp.join(uuid::Uuid::new_v4().to_string());
        let path = dir.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let file = File::options().create(true).append(true).open(&path)?;
        Ok(TempFile {
            key,
            dir,
            path,
            file,
            size: 0,
            created: Instant::now(),
        })
    }

    /// Appends to the prefix's file and syncs it; on failure the file is cut back.
    fn write(
        &self,
        files: &mut HashMap<String, Factory>,
        prefix: &str,
        data: &[u8],
    ) -> std::io::Result<()> {
        if !files.contains_key(prefix) {
            let current = self.new_file(prefix, 0)?;
            files.insert(
                prefix.to_string(),
                Factory {
                    counter: 1,
                    current,
                },
            );
        }
        let Some(f) = files.get_mut(prefix) else {
            return Ok(());
        };
        let bytes;
        let data = if self.gzip {
            bytes = super::gzip_member(data)?;
            &bytes[..]
        } else {
            data
        };
        let t = &mut f.current;
        let written = t.file.write_all(data).and_then(|()| t.file.sync_data());
        if let Err(e) = written {
            let _ = t.file.set_len(t.size);
            return Err(e);
        }
        t.size += data.len() as u64;
        Ok(())
    }

    /// Uploads and replaces the files of `prefixes` that are due.
    fn rotate(&self, prefixes: &[String]) {
        let mut files = lock(&self.files);
        for p in prefixes {
            let Some(f) = files.get_mut(p) else { continue };
            if !self.rotation.due(&f.current) {
                continue;
            }
            debug!(key = f.current.key, "s3 output: rotating");
            match self.new_file(p, f.counter) {
                Ok(next) => {
                    let old = std::mem::replace(&mut f.current, next);
                    f.counter += 1;
                    self.submit(Upload {
                        key: old.key,
                        path: old.path,
                        dir: old.dir,
                    });
                }
                Err(e) => error!("s3 output: cannot create a temporary file: {e}"),
            }
        }
    }

    /// Queues an upload; when the queue is full the caller uploads (Logstash's caller_runs).
    fn submit(&self, job: Upload) {
        let tx = lock(&self.queue).clone();
        let job = match tx.map(|tx| tx.try_send(job)) {
            None => return,
            Some(Ok(())) => return,
            Some(Err(TrySendError::Full(j) | TrySendError::Disconnected(j))) => j,
        };
        self.upload(&job);
    }

    /// Uploads, retrying; the temporary directory goes once the object is in the bucket.
    fn upload(&self, job: &Upload) {
        let mut attempt = 0u64;
        loop {
            match self
                .link
                .upload(&job.key, &job.path, &self.headers, self.multipart_threshold)
            {
                Ok(()) => {
                    info!(key = job.key, "s3 output: uploaded");
                    if let Err(e) = std::fs::remove_dir_all(&job.dir) {
                        warn!("s3 output: cannot remove {}: {e}", job.dir.display());
                    }
                    return;
                }
                Err(e) => {
                    attempt += 1;
                    if self.retry_count.is_some_and(|n| attempt > n) {
                        error!("s3 output: giving up on {} after {attempt} attempts, it stays in {} for restore: {e}", job.key, job.path.display());
                        return;
                    }
                    warn!("s3 output: upload of {} failed, retrying: {e}", job.key);
                    std::thread::sleep(self.retry_delay);
                }
            }
        }
    }

    /// Logstash's bucket check: write (then delete) a test object.
    fn check_write_permission(&self) -> Result<(), String> {
        let now = jiff::ZonedDateTime::now()
            .strftime("%Y-%m-%d %H:%M:%S %z")
            .to_string();
        let key = format!("logstash-programmatic-access-test-object-{now}");
        let host = rstash_pipeline::hostname();
        let body = format!("Logstash permission check on {now}, by {host}");
        self.link.put(&key, body.as_bytes(), &self.headers)?;
        let _ = self.link.delete(&key);
        Ok(())
    }

    /// Files a crash left in the temporary directory, as uploads (empty ones are removed).
    fn leftovers(&self) -> Vec<Upload> {
        let mut found = Vec::new();
        let Ok(dirs) = std::fs::read_dir(&self.tmp) else {
            return found;
        };
        for d in dirs.flatten() {
            let dir = d.path();
            // Only our own `<uuid>` directories: a temporary_directory shared with other files
            // (say /tmp) must not have those uploaded and deleted.
            if uuid::Uuid::parse_str(&d.file_name().to_string_lossy()).is_err() || !dir.is_dir() {
                continue;
            }
            let mut files = Vec::new();
            walk(&dir, &mut files);
            for path in files {
                let Ok(rel) = path.strip_prefix(&dir) else {
                    continue;
                };
                let key = rel.to_string_lossy().replace('\\', "/");
                let empty = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
                if empty {
                    continue;
                }
                if key.ends_with(".txt.gz") {
                    if let Err(e) = recover_gzip(&path) {
                        error!("s3 output: cannot recover {}: {e}", path.display());
                        continue;
                    }
                }
                found.push(Upload {
                    key,
                    path,
                    dir: dir.clone(),
                });
            }
            if found.last().is_none_or(|u| u.dir != dir) {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        found
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.is_file() {
            out.push(p);
        }
    }
}

/// Keeps the whole gzip members of a file a crash cut, dropping a torn last one.
fn recover_gzip(path: &Path) -> std::io::Result<()> {
    let data = std::fs::read(path)?;
    let mut good = Vec::new();
    let mut rest: &[u8] = &data;
    while !rest.is_empty() {
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let mut text = Vec::new();
        if std::io::Read::read_to_end(&mut member, &mut text).is_err() {
            break;
        }
        rest = member.into_inner();
        good.extend(text);
    }
    let tmp = path.with_extension("recovered");
    std::fs::write(&tmp, super::gzip_member(&good)?)?;
    std::fs::rename(tmp, path)
}

/// Replaces the characters a prefix may not hold (Logstash's `normalize_key`); `.` and `..`
/// segments too, which event data could otherwise use to lead the temporary file elsewhere.
fn normalize(prefix: &str) -> String {
    prefix
        .replace(INVALID_PREFIX, "_")
        .split('/')
        .map(|seg| if seg == "." || seg == ".." { "_" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

impl Output for S3Output {
    fn register(&mut self) -> Result<(), PluginError> {
        let sh = self.shared.clone();
        std::fs::create_dir_all(&sh.tmp).map_err(|e| {
            PluginError(format!(
                "rstash must have the permissions to write to the temporary directory: {}: {e}",
                sh.tmp.display()
            ))
        })?;
        if self.validate {
            sh.check_write_permission().map_err(|e| {
                PluginError(format!("rstash must have the privileges to write to root bucket `{}`, check your credentials or your permissions: {e}", sh.link.bucket_name()))
            })?;
        }
        let leftovers = if self.restore {
            sh.leftovers()
        } else {
            Vec::new()
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Upload>(self.queue_size);
        *lock(&sh.queue) = Some(tx);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..self.workers {
            let (sh, rx) = (sh.clone(), rx.clone());
            self.spawn(format!("s3-upload{i}"), move || loop {
                let job = lock(&rx).recv();
                match job {
                    Ok(job) => sh.upload(&job),
                    Err(_) => return,
                }
            })?;
        }
        if !leftovers.is_empty() {
            info!(
                "s3 output: uploading {} file(s) left by an earlier run",
                leftovers.len()
            );
            let sh = sh.clone();
            self.spawn("s3-restore".into(), move || {
                leftovers.iter().for_each(|u| sh.upload(u))
            })?;
        }
        if let Some(t) = sh.rotation.time {
            let (stop, stopped) = std::sync::mpsc::channel::<()>();
            self.stop_periodic = Some(stop);
            let every = PERIODIC_CHECK.min(t);
            self.spawn("s3-rotate".into(), move || periodic(&sh, &stopped, every))?;
        }
        Ok(())
    }

    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        let mut parts: IndexMap<String, Vec<u8>> = IndexMap::new();
        for e in events {
            let prefix = normalize(&self.prefix.render(e));
            self.codec.encode(e, parts.entry(prefix).or_default());
        }
        let sh = &self.shared;
        for (prefix, data) in &parts {
            loop {
                let written = sh.write(&mut lock(&sh.files), prefix, data);
                match written {
                    Ok(()) => break,
                    Err(e) => {
                        error!(
                            "s3 output: cannot write to the temporary directory {}, retrying: {e}",
                            sh.tmp.display()
                        );
                        std::thread::sleep(Duration::from_secs(1));
                    }
                }
            }
        }
        let prefixes: Vec<String> = parts.into_keys().collect();
        sh.rotate(&prefixes);
        Ok(())
    }

    /// Uploads every current file and waits for the uploads, as Logstash's close does.
    fn close(&mut self) -> Result<(), PluginError> {
        self.stop_periodic.take();
        let sh = &self.shared;
        let current: Vec<TempFile> = lock(&sh.files).drain().map(|(_, f)| f.current).collect();
        for t in current {
            if t.size > 0 {
                sh.submit(Upload {
                    key: t.key,
                    path: t.path,
                    dir: t.dir,
                });
            } else {
                let _ = std::fs::remove_dir_all(&t.dir);
            }
        }
        lock(&sh.queue).take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        Ok(())
    }
}

impl S3Output {
    fn spawn(
        &mut self,
        name: String,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), PluginError> {
        let t = std::thread::Builder::new()
            .name(name)
            .spawn(f)
            .map_err(|e| PluginError(format!("s3 output: cannot start a thread: {e}")))?;
        self.threads.push(t);
        Ok(())
    }
}

fn periodic(sh: &Shared, stopped: &Receiver<()>, every: Duration) {
    loop {
        match stopped.recv_timeout(every) {
            Err(RecvTimeoutError::Timeout) => {
                let prefixes: Vec<String> = lock(&sh.files).keys().cloned().collect();
                sh.rotate(&prefixes);
            }
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_gzip_keeps_its_whole_members() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt.gz");
        let member = |s: &str| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            gz.write_all(s.as_bytes()).unwrap();
            gz.finish().unwrap()
        };
        let mut data = member("one\n");
        data.extend(member("two\n"));
        let torn = member("three\n");
        data.extend(&torn[..torn.len() / 2]);
        std::fs::write(&p, data).unwrap();
        recover_gzip(&p).unwrap();
        let mut out = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::MultiGzDecoder::new(File::open(&p).unwrap()),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, "one\ntwo\n");
    }

    #[test]
    fn prefixes_lose_the_characters_s3_keys_refuse() {
        assert_eq!(normalize("a^b`c>d<e/%f"), "a_b_c_d_e/%f");
        assert_eq!(normalize("../../etc/x/./y/"), "_/_/etc/x/_/y/");
    }
}
