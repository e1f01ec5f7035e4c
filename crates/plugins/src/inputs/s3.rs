//! `s3`: events from the objects of a bucket, as Logstash's s3 input reads them. Every
//! `interval` seconds the bucket is listed under `prefix`; objects modified after the sincedb's
//! time (and before the last `cutoff_second`) are downloaded, oldest first, and each line goes
//! through the codec (`plain`), gunzipped when the name matches `gzip_pattern`. Only once all of
//! an object's events are in the queue is it backed up, deleted (`delete`) and its time written
//! to the sincedb, so a crash reads the object again rather than losing it.
//!
//! As in Logstash, lines of uncompressed objects reach the codec with their newline and lines of
//! gzipped ones without; CloudFront `#Version`/`#Fields` lines become fields, not events.

use rstash_pipeline::{opt, Options, Ty};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use md5::Digest;
use rstash_config::ConfigError;
use rstash_event::{Event, FieldRef, Map, Timestamp, Value};
use rstash_pipeline::{Args, Codec, Input, InputContext, PluginError};
use rstash_regex::Regex;
use tracing::{debug, error, info, warn};

use crate::s3_link::{self, Link, Object};

/// Events pushed to the queue at a time while an object is read.
const CHUNK: usize = 500;

pub struct S3Input {
    link: Link,
    prefix: Option<String>,
    sincedb: PathBuf,
    backup_to_bucket: Option<String>,
    backup_add_prefix: Option<String>,
    backup_to_dir: Option<PathBuf>,
    delete: bool,
    interval: Duration,
    watch: bool,
    exclude: Option<Regex>,
    tmp: PathBuf,
    include_properties: bool,
    gzip: Regex,
    cutoff: Duration,
    ecs: bool,
    codec: Box<dyn Codec>,
}

pub const OPTIONS: Options = &[
    &[
        opt("bucket", Ty::Str).required(),
        opt("prefix", Ty::Str),
        opt("exclude_pattern", Ty::Str),
        opt("gzip_pattern", Ty::Str).default("\\.gz(ip)?$"),
        opt("interval", Ty::Number).default("60"),
        opt("watch_for_new_files", Ty::Boolean).default("true"),
        opt("sincedb_path", Ty::Path),
        opt("backup_to_bucket", Ty::Str),
        opt("backup_add_prefix", Ty::Str),
        opt("backup_to_dir", Ty::Path),
        opt("delete", Ty::Boolean).default("false"),
        opt("temporary_directory", Ty::Path),
        opt("include_object_properties", Ty::Boolean).default("false"),
        opt("cutoff_second", Ty::Number).default("3"),
    ],
    crate::s3_link::OPTIONS,
];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(bucket) = args.string("bucket")? else {
        return Err(args.error("s3 input needs `bucket`"));
    };
    let link = s3_link::options(args, &bucket)?;
    let prefix = args.string("prefix")?;
    let sincedb = match args.string("sincedb_path")? {
        Some(p) => PathBuf::from(p),
        None => {
            let digest = md5::Md5::digest(
                format!("{bucket}+{}", prefix.as_deref().unwrap_or("")).as_bytes(),
            );
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            args.settings
                .data_dir
                .join("plugins/inputs/s3")
                .join(format!("sincedb_{hex}"))
        }
    };
    let regex = |args: &mut Args, name: &str, src: &str| {
        Regex::new(src).map_err(|e| args.error_at(name, format!("bad regular expression: {e}")))
    };
    let exclude = match args.string("exclude_pattern")? {
        Some(p) => Some(regex(args, "exclude_pattern", &p)?),
        None => None,
    };
    let gzip_pattern = args.string_or("gzip_pattern", r"\.gz(ip)?$")?;
    let gzip = regex(args, "gzip_pattern", &gzip_pattern)?;
    let watch = args.bool("watch_for_new_files", true)?;
    if !watch && args.has("interval") {
        warn!("s3 input: `watch_for_new_files` has been disabled; `interval` directive will be ignored.");
    }
    let secs = |v: Option<f64>, d: f64| Duration::from_secs_f64(v.unwrap_or(d).max(0.0));
    Ok(Box::new(S3Input {
        link,
        prefix,
        sincedb,
        backup_to_bucket: args.string("backup_to_bucket")?,
        backup_add_prefix: args.string("backup_add_prefix")?,
        backup_to_dir: args.string("backup_to_dir")?.map(PathBuf::from),
        delete: args.bool("delete", false)?,
        interval: secs(args.number("interval")?, 60.0),
        watch,
        exclude,
        tmp: match args.string("temporary_directory")? {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join("logstash"),
        },
        include_properties: args.bool("include_object_properties", false)?,
        gzip,
        cutoff: secs(args.number("cutoff_second")?, 3.0),
        ecs: args.ecs()?.enabled(),
        codec: args.codec("plain")?,
    }))
}

impl Input for S3Input {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        info!(bucket = self.link.bucket_name(), "s3 input: registering");
        if let Some(b) = &self.backup_to_bucket {
            if let Err(e) = self.link.for_bucket(b).and_then(|l| l.ensure_bucket()) {
                error!("s3 input: backup bucket `{b}`: {e}");
            }
        }
        for dir in [Some(&self.tmp), self.backup_to_dir.as_ref()]
            .into_iter()
            .flatten()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| PluginError(format!("s3 input: {}: {e}", dir.display())))?;
        }
        if let Some(parent) = self.sincedb.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        loop {
            for object in self.list_new_files() {
                if ctx.is_stopping() {
                    return Ok(());
                }
                self.process(ctx, &object);
            }
            if !self.watch || ctx.stopping_within(self.interval) {
                return Ok(());
            }
        }
    }
}

impl S3Input {
    fn ignored(&self, key: &str) -> bool {
        if self.prefix.as_deref() == Some(key) || key.ends_with('/') {
            return true;
        }
        if let (Some(p), Some(b)) = (&self.backup_add_prefix, &self.backup_to_bucket) {
            if b == self.link.bucket_name() && key.starts_with(p.as_str()) {
                return true;
            }
        }
        // A pattern that gives up excludes nothing.
        self.exclude
            .as_ref()
            .is_some_and(|r| r.is_match(key).unwrap_or(false))
    }

    /// Objects to read, oldest first: newer than the sincedb, older than the cutoff.
    fn list_new_files(&self) -> Vec<Object> {
        let since = read_sincedb(&self.sincedb);
        let cutoff = jiff::Timestamp::now() - self.cutoff;
        let mut objects = match self.link.list(self.prefix.as_deref()) {
            Ok(o) => o,
            Err(e) => {
                error!("s3 input: unable to list objects in bucket: {e}");
                return Vec::new();
            }
        };
        if objects.is_empty() {
            info!(prefix = ?self.prefix, "s3 input: no files found in bucket");
        }
        objects.retain(|o| {
            let keep = !self.ignored(&o.key)
                && o.size > 0
                && o.last_modified > since
                && o.last_modified <= cutoff
                && (!matches!(o.storage_class.as_str(), "GLACIER" | "DEEP_ARCHIVE")
                    || self.restored(&o.key));
            if !keep {
                debug!(key = o.key, "s3 input: skipped");
            }
            keep
        });
        objects.sort_by_key(|o| o.last_modified);
        objects
    }

    /// A Glacier object whose restored copy is available.
    fn restored(&self, key: &str) -> bool {
        let Ok(h) = self.link.head(key) else {
            return false;
        };
        let Some(r) = h.get("x-amz-restore").and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let expiry = r
            .split_once("expiry-date=\"")
            .and_then(|(_, rest)| rest.split_once('"'))
            .and_then(|(d, _)| jiff::fmt::rfc2822::parse(d).ok());
        r.contains("ongoing-request=\"false\"")
            && expiry.is_some_and(|d| d.timestamp() > jiff::Timestamp::now())
    }

    fn process(&mut self, ctx: &InputContext, object: &Object) {
        let name = Path::new(&object.key)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "object".into());
        let local = self.tmp.join(&name);
        if let Err(e) = self.link.download(&object.key, &local) {
            warn!("s3 input: unable to download remote file: {e}");
            let _ = std::fs::remove_file(&local);
            return;
        }
        let props = if self.include_properties {
            self.link.head(&object.key).ok().map(|h| properties(&h))
        } else {
            None
        };
        if !self.read(ctx, &local, &name, &object.key, props) {
            return; // stopping: read again next start
        }
        let now = self
            .link
            .head(&object.key)
            .ok()
            .and_then(|h| s3_link::last_modified(&h));
        if now.is_some_and(|t| t.as_second() != object.last_modified.as_second()) {
            info!(
                "{} is updated at {now:?} and will process in the next cycle",
                object.key
            );
            return;
        }
        self.finish(object, &local);
    }

    /// Reads the downloaded file into the queue; false when stopped before its end.
    fn read(
        &mut self,
        ctx: &InputContext,
        local: &Path,
        name: &str,
        key: &str,
        props: Option<Map>,
    ) -> bool {
        let file = match std::fs::File::open(local) {
            Ok(f) => f,
            Err(e) => {
                error!("s3 input: {}: {e}", local.display());
                return true;
            }
        };
        let gz = self.gzip.is_match(name).unwrap_or(false);
        let mut reader: Box<dyn BufRead> = if gz {
            Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
        } else {
            Box::new(BufReader::new(file))
        };
        let mut cloudfront = (None::<String>, None::<String>);
        let mut pending = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    error!(
                        "s3 input: failed to read file, processing skipped: {}: {e}",
                        local.display()
                    );
                    break;
                }
            }
            if ctx.is_stopping() {
                warn!(
                    "s3 input: stopped in the middle of {key}; it is read again on the next start"
                );
                return false;
            }
            if gz {
                // Java's readLine, which Logstash uses on gzipped objects, drops the line end.
                let end = line.len() - line.ends_with(b"\n") as usize;
                line.truncate(end - line[..end].ends_with(b"\r") as usize);
            }
            let mut decoded = Vec::new();
            self.codec.decode_message(&line, &mut |e| decoded.push(e));
            for e in decoded {
                if !cloudfront_line(&e, &mut cloudfront) {
                    pending.push(self.decorate(e, key, &props, &cloudfront));
                }
            }
            if pending.len() >= CHUNK && ctx.push_all(std::mem::take(&mut pending)).is_err() {
                return false;
            }
        }
        let mut rest = Vec::new();
        self.codec.flush(&mut |e| rest.push(e));
        for e in rest {
            pending.push(self.decorate(e, key, &props, &cloudfront));
        }
        ctx.push_all(pending).is_ok()
    }

    fn decorate(
        &self,
        mut e: Event,
        key: &str,
        props: &Option<Map>,
        cloudfront: &(Option<String>, Option<String>),
    ) -> Event {
        let mut s3 = props.clone().unwrap_or_default();
        s3.insert("key".into(), Value::String(key.into()));
        e.metadata_mut().insert("s3".into(), Value::Object(s3));
        let (version, fields) = if self.ecs {
            (
                "[@metadata][s3][cloudfront][version]",
                "[@metadata][s3][cloudfront][fields]",
            )
        } else {
            ("cloudfront_version", "cloudfront_fields")
        };
        for (path, v) in [(version, &cloudfront.0), (fields, &cloudfront.1)] {
            if let (Some(v), Ok(r)) = (v, FieldRef::parse(path)) {
                let _ = e.set(&r, Value::String(v.as_str().into()));
            }
        }
        e
    }

    /// After every event of the object is queued: backups, deletion, sincedb.
    fn finish(&self, object: &Object, local: &Path) {
        if let Some(b) = &self.backup_to_bucket {
            let key = format!(
                "{}{}",
                self.backup_add_prefix.as_deref().unwrap_or(""),
                object.key
            );
            let copied = self
                .link
                .for_bucket(b)
                .and_then(|l| l.copy_from(&key, self.link.bucket_name(), &object.key));
            match copied {
                Ok(()) if self.delete => {
                    if let Err(e) = self.link.delete(&object.key) {
                        error!("s3 input: {e}");
                    }
                }
                Ok(()) => {}
                Err(e) => error!("s3 input: backup of {} to `{b}`: {e}", object.key),
            }
        }
        if let Some(dir) = &self.backup_to_dir {
            if let Some(name) = local.file_name() {
                if let Err(e) = std::fs::copy(local, dir.join(name)) {
                    error!("s3 input: backup to {}: {e}", dir.display());
                }
            }
        }
        if self.delete && self.backup_to_bucket.is_none() {
            if let Err(e) = self.link.delete(&object.key) {
                error!("s3 input: {e}");
            }
        }
        let _ = std::fs::remove_file(local);
        if let Err(e) = write_sincedb(&self.sincedb, object.last_modified) {
            error!("s3 input: sincedb {}: {e}", self.sincedb.display());
        }
    }
}

/// A CloudFront header line (`#Version: 1.0`, `#Fields: ...`): remembered, not an event.
fn cloudfront_line(e: &Event, seen: &mut (Option<String>, Option<String>)) -> bool {
    let Some(Value::String(m)) = e.data().get("message") else {
        return false;
    };
    let line = m.trim();
    if let Some(v) = line.strip_prefix("#Version: ") {
        seen.0 = Some(v.to_string());
    } else if let Some(f) = line.strip_prefix("#Fields: ") {
        seen.1 = Some(f.to_string());
    } else {
        return false;
    }
    true
}

/// `include_object_properties`: the object's HEAD answer, named as the AWS SDK names it.
fn properties(h: &ureq::http::HeaderMap) -> Map {
    let mut m = Map::default();
    let text = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
    if let Some(t) = s3_link::last_modified(h) {
        m.insert("last_modified".into(), Value::Timestamp(Timestamp(t)));
    }
    if let Some(n) = text("content-length").and_then(|v| v.parse::<i64>().ok()) {
        m.insert("content_length".into(), Value::Int(n));
    }
    for (header, name) in [
        ("accept-ranges", "accept_ranges"),
        ("etag", "etag"),
        ("content-type", "content_type"),
        ("content-encoding", "content_encoding"),
        ("x-amz-server-side-encryption", "server_side_encryption"),
        ("x-amz-storage-class", "storage_class"),
        ("x-amz-version-id", "version_id"),
    ] {
        if let Some(v) = text(header) {
            m.insert(name.into(), Value::String(v.into()));
        }
    }
    let mut meta = Map::default();
    for (k, v) in h {
        if let (Some(name), Ok(v)) = (k.as_str().strip_prefix("x-amz-meta-"), v.to_str()) {
            meta.insert(name.into(), Value::String(v.into()));
        }
    }
    m.insert("metadata".into(), Value::Object(meta));
    m
}

/// The sincedb holds one time, as Ruby's `Time#to_s` writes it ("2026-11-26 10:00:00 UTC").
fn read_sincedb(path: &Path) -> jiff::Timestamp {
    let mut text = String::new();
    if std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .is_err()
    {
        return jiff::Timestamp::UNIX_EPOCH;
    }
    let t = text.trim().replace(" UTC", " +0000");
    jiff::Timestamp::strptime("%Y-%m-%d %H:%M:%S %z", &t)
        .or_else(|_| t.parse())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

fn write_sincedb(path: &Path, t: jiff::Timestamp) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sincedb_round_trips_in_ruby_time_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sincedb");
        assert_eq!(read_sincedb(&p), jiff::Timestamp::UNIX_EPOCH);
        let t: jiff::Timestamp = "2026-11-26T10:00:05Z".parse().unwrap();
        write_sincedb(&p, t).unwrap();
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "2026-11-26 10:00:05 UTC"
        );
        assert_eq!(read_sincedb(&p), t);
        std::fs::write(&p, "2026-11-26 11:00:05 +0100\n").unwrap();
        assert_eq!(read_sincedb(&p), t);
    }
}
