//! What the s3 input and output share (Logstash's `aws_config` mixin): credentials, region,
//! endpoint and `additional_settings`, and the few S3 calls they make. Requests are signed
//! (SigV4, query-string form) by rusty-s3 and sent with ureq.

use rstash_pipeline::{opt, Opt, Ty};
use std::io::Read;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_pipeline::Args;
use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use tracing::warn;

/// How long a signed request stays valid: it is sent right away.
const SIGNED_FOR: Duration = Duration::from_secs(900);
/// Multipart part size (the AWS SDK's default for `upload_file`).
const PART: usize = 5 * 1024 * 1024;

#[derive(Clone)]
pub struct Link {
    bucket: Bucket,
    creds: Option<Credentials>,
    agent: ureq::Agent,
    endpoint: url::Url,
    style: UrlStyle,
    region: String,
}

/// One listed object.
pub struct Object {
    pub key: String,
    pub last_modified: jiff::Timestamp,
    pub size: u64,
    pub storage_class: String,
}

/// The `aws_config` options of the s3 input and output.
pub const OPTIONS: &[Opt] = &[
    opt("region", Ty::Str).default("us-east-1"),
    opt("endpoint", Ty::Str),
    opt("access_key_id", Ty::Str),
    opt("secret_access_key", Ty::Password),
    opt("session_token", Ty::Password),
    opt("aws_credentials_file", Ty::Path),
    opt("force_path_style", Ty::Boolean).default("false"),
    opt("proxy_uri", Ty::Str),
    opt("additional_settings", Ty::Hash).default("{}"),
    opt("role_arn", Ty::Str),
    opt("role_session_name", Ty::Str).ignored("roles are not assumed"),
    opt("use_aws_bundled_ca", Ty::Boolean).ignored("the system's CA store is used"),
    opt("signature_version", Ty::Str).ignored("requests are signed with SigV4"),
];

/// Reads the `aws_config` options and `bucket`. Nothing is contacted here (`-t` builds too).
pub fn options(args: &mut Args, bucket: &str) -> Result<Link, ConfigError> {
    let region = args.string_or("region", "us-east-1")?;
    let mut path_style = args.bool("force_path_style", false)?;
    let mut verify = true;
    for (k, v) in args.hash("additional_settings")? {
        let on = v.text().is_some_and(|t| t == "true");
        match k.as_str() {
            "force_path_style" => path_style = on,
            "ssl_verify_peer" => verify = on,
            // ureq follows no redirects for these calls and the uploader retries on its own.
            "follow_redirects" | "retry_limit" | "retry_mode" | "max_attempts" => {}
            other => {
                warn!("s3: additional_settings `{other}` has no counterpart in rstash; ignored")
            }
        }
    }
    if args.string("role_arn")?.is_some() {
        return Err(args.error_at(
            "role_arn",
            "role_arn needs AWS STS (AssumeRole), which rstash does not call; give keys instead",
        ));
    }
    let creds = credentials(args)?;
    let endpoint = match args.string("endpoint")? {
        Some(e) => e,
        None if region.starts_with("cn-") => format!("https://s3.{region}.amazonaws.com.cn"),
        None => format!("https://s3.{region}.amazonaws.com"),
    };
    let endpoint: url::Url = endpoint
        .parse()
        .map_err(|e| args.error_at("endpoint", format!("not a URL: {e}")))?;
    // Virtual-host addressing cannot reach a bucket behind an IP address or localhost.
    let host = endpoint.host_str().unwrap_or_default();
    if host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        path_style = true;
    }
    let style = if path_style {
        UrlStyle::Path
    } else {
        UrlStyle::VirtualHost
    };
    let mut cfg = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(!verify)
                .build(),
        );
    if let Some(p) = args.string("proxy_uri")? {
        let proxy = ureq::Proxy::new(&p)
            .map_err(|e| args.error_at("proxy_uri", format!("bad proxy: {e}")))?;
        cfg = cfg.proxy(Some(proxy));
    }
    let link = Link {
        bucket: Bucket::new(endpoint.clone(), style, bucket.to_string(), region.clone())
            .map_err(|e| args.error_at("endpoint", e.to_string()))?,
        creds,
        agent: cfg.build().into(),
        endpoint,
        style,
        region,
    };
    Ok(link)
}

/// The AWS SDK's order: options, `aws_credentials_file`, then the environment.
fn credentials(args: &mut Args) -> Result<Option<Credentials>, ConfigError> {
    let token = args.string("session_token")?;
    let with = |k: String, s: String, t: Option<String>| match t {
        Some(t) => Credentials::new_with_token(k, s, t),
        None => Credentials::new(k, s),
    };
    if let (Some(k), Some(s)) = (
        args.string("access_key_id")?,
        args.string("secret_access_key")?,
    ) {
        return Ok(Some(with(k, s, token)));
    }
    if let Some(path) = args.string("aws_credentials_file")? {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| args.unavailable("aws_credentials_file", format!("{path}: {e}")))?;
        // A YAML hash whose keys are Ruby symbols (`:access_key_id: "..."`).
        let map: std::collections::HashMap<String, String> = serde_saphyr::from_str(&text)
            .map_err(|e| args.error_at("aws_credentials_file", format!("{path}: {e}")))?;
        let get = |k: &str| map.get(&format!(":{k}")).or(map.get(k)).cloned();
        if let (Some(k), Some(s)) = (get("access_key_id"), get("secret_access_key")) {
            return Ok(Some(with(k, s, get("session_token"))));
        }
        return Err(args.error_at(
            "aws_credentials_file",
            format!("{path} has no :access_key_id and :secret_access_key"),
        ));
    }
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    for (k, s) in [
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ("AMAZON_ACCESS_KEY_ID", "AMAZON_SECRET_ACCESS_KEY"),
    ] {
        if let (Some(k), Some(s)) = (env(k), env(s)) {
            return Ok(Some(with(k, s, token.or(env("AWS_SESSION_TOKEN")))));
        }
    }
    warn!("s3: no AWS credentials given (options, aws_credentials_file or environment); requests go unsigned");
    Ok(None)
}

/// The `Last-Modified` header of a HEAD answer.
pub fn last_modified(headers: &ureq::http::HeaderMap) -> Option<jiff::Timestamp> {
    let v = headers.get("last-modified")?.to_str().ok()?;
    Some(jiff::fmt::rfc2822::parse(v).ok()?.timestamp())
}

/// An S3 error: status and the `Code`/`Message` of its XML body.
fn failure(what: &str, mut resp: ureq::http::Response<ureq::Body>) -> String {
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    let tag = |t: &str| {
        let open = format!("<{t}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{t}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{what}: HTTP {status} {c}: {m}"),
        (Some(c), None) => format!("{what}: HTTP {status} {c}"),
        _ => format!("{what}: HTTP {status}"),
    }
}

fn ok(
    what: &str,
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, String> {
    let resp = r.map_err(|e| format!("{what}: {e}"))?;
    if resp.status().is_success() {
        Ok(resp)
    } else {
        Err(failure(what, resp))
    }
}

impl Link {
    pub fn bucket_name(&self) -> &str {
        self.bucket.name()
    }

    /// The same endpoint and credentials for another bucket (`backup_to_bucket`).
    pub fn for_bucket(&self, name: &str) -> Result<Link, String> {
        let bucket = Bucket::new(
            self.endpoint.clone(),
            self.style,
            name.to_string(),
            self.region.clone(),
        )
        .map_err(|e| e.to_string())?;
        Ok(Link {
            bucket,
            ..self.clone()
        })
    }

    /// Every object under `prefix`, following continuation tokens.
    pub fn list(&self, prefix: Option<&str>) -> Result<Vec<Object>, String> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, self.creds.as_ref());
            if let Some(p) = prefix {
                action.with_prefix(p);
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGNED_FOR);
            let mut resp = ok("list objects", self.agent.get(url.as_str()).call())?;
            let text = resp
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .map_err(|e| format!("list objects: {e}"))?;
            let page = ListObjectsV2::parse_response(&text)
                .map_err(|e| format!("list objects: unreadable answer: {e}"))?;
            for c in page.contents {
                let Some(last_modified) = c.last_modified.as_deref().and_then(|t| t.parse().ok())
                else {
                    continue;
                };
                out.push(Object {
                    key: c.key,
                    last_modified,
                    size: c.size.unwrap_or(0),
                    storage_class: c.storage_class.unwrap_or_default(),
                });
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
    }

    /// The object's headers (for Glacier objects: `x-amz-restore`).
    pub fn head(&self, key: &str) -> Result<ureq::http::HeaderMap, String> {
        let url = self
            .bucket
            .head_object(self.creds.as_ref(), key)
            .sign(SIGNED_FOR);
        let resp = ok("head object", self.agent.head(url.as_str()).call())?;
        Ok(resp.headers().clone())
    }

    /// Streams the object into `to`.
    pub fn download(&self, key: &str, to: &Path) -> Result<(), String> {
        let url = self
            .bucket
            .get_object(self.creds.as_ref(), key)
            .sign(SIGNED_FOR);
        let mut resp = ok(&format!("get {key}"), self.agent.get(url.as_str()).call())?;
        let mut file = std::fs::File::create(to).map_err(|e| format!("{}: {e}", to.display()))?;
        std::io::copy(&mut resp.body_mut().as_reader(), &mut file)
            .map_err(|e| format!("get {key}: {e}"))?;
        file.sync_all()
            .map_err(|e| format!("{}: {e}", to.display()))
    }

    /// Uploads a file (multipart above `multipart_threshold`) with the given headers.
    pub fn upload(
        &self,
        key: &str,
        path: &Path,
        headers: &[(String, String)],
        multipart_threshold: u64,
    ) -> Result<(), String> {
        let len = std::fs::metadata(path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if len <= multipart_threshold {
            let body = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            return self.put(key, &body, headers);
        }
        let mut create = self
            .bucket
            .create_multipart_upload(self.creds.as_ref(), key);
        for (k, v) in headers {
            create.headers_mut().insert(k.clone(), v.clone());
        }
        let what = format!("upload {key}");
        let mut req = self.agent.post(create.sign(SIGNED_FOR).as_str());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let mut resp = ok(&what, req.send_empty())?;
        let text = resp
            .body_mut()
            .read_to_string()
            .map_err(|e| e.to_string())?;
        let created = CreateMultipartUpload::parse_response(&text).map_err(|e| e.to_string())?;
        let id = created.upload_id();
        let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut etags = Vec::new();
        let mut buf = vec![0u8; PART];
        for n in 1u16.. {
            let got = read_full(&mut file, &mut buf).map_err(|e| e.to_string())?;
            if got == 0 {
                break;
            }
            let url = self
                .bucket
                .upload_part(self.creds.as_ref(), key, n, id)
                .sign(SIGNED_FOR);
            let resp = ok(&what, self.agent.put(url.as_str()).send(&buf[..got]))?;
            let etag = resp
                .headers()
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .ok_or(format!("{what}: part {n} came back without an ETag"))?;
            etags.push(etag.to_string());
        }
        let complete = self.bucket.complete_multipart_upload(
            self.creds.as_ref(),
            key,
            id,
            etags.iter().map(String::as_str),
        );
        let url = complete.sign(SIGNED_FOR);
        let mut resp = ok(&what, self.agent.post(url.as_str()).send(complete.body()))?;
        // S3 reports a failed completion inside a 200 answer.
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        if text.contains("<Error>") {
            return Err(format!("{what}: completion failed: {text}"));
        }
        Ok(())
    }

    pub fn put(&self, key: &str, body: &[u8], headers: &[(String, String)]) -> Result<(), String> {
        let mut action = self.bucket.put_object(self.creds.as_ref(), key);
        for (k, v) in headers {
            action.headers_mut().insert(k.clone(), v.clone());
        }
        let mut req = self.agent.put(action.sign(SIGNED_FOR).as_str());
        for (k, v) in headers {
            req = req.header(k, v);
        }
        ok(&format!("put {key}"), req.send(body)).map(drop)
    }

    /// Server-side copy of `source_bucket/source_key` to `key` here (`backup_to_bucket`).
    pub fn copy_from(
        &self,
        key: &str,
        source_bucket: &str,
        source_key: &str,
    ) -> Result<(), String> {
        let source = format!("{source_bucket}/{}", encode_key(source_key));
        self.put(key, &[], &[("x-amz-copy-source".into(), source)])
    }

    pub fn delete(&self, key: &str) -> Result<(), String> {
        let url = self
            .bucket
            .delete_object(self.creds.as_ref(), key)
            .sign(SIGNED_FOR);
        ok(
            &format!("delete {key}"),
            self.agent.delete(url.as_str()).call(),
        )
        .map(drop)
    }

    /// Creates the bucket unless it exists (as the s3 input does for `backup_to_bucket`).
    pub fn ensure_bucket(&self) -> Result<(), String> {
        let url = self
            .bucket
            .head_bucket(self.creds.as_ref())
            .sign(SIGNED_FOR);
        let resp = self
            .agent
            .head(url.as_str())
            .call()
            .map_err(|e| format!("head bucket: {e}"))?;
        if resp.status().is_success() {
            return Ok(());
        }
        let Some(creds) = &self.creds else {
            return Err(format!("bucket `{}` is not reachable", self.bucket.name()));
        };
        let create = self.bucket.create_bucket(creds);
        let url = create.sign(SIGNED_FOR);
        ok(
            "create bucket",
            self.agent.put(url.as_str()).send(create.body()),
        )
        .map(drop)
    }
}

/// Percent-encodes a key for `x-amz-copy-source`, keeping `/`.
fn encode_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'/')
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}
