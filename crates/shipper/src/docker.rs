//! `add_docker_metadata`: the container a log file belongs to, from Docker's API. Without a
//! Docker socket events pass through unchanged, as Filebeat's do, so the stock filebeat.yml
//! (which lists it) runs anywhere.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::{self, Fields};

/// A container as the processor adds it: `container.{id,name,image.name,labels}`.
#[derive(Clone)]
struct Container {
    id: String,
    name: String,
    image: String,
    labels: Vec<(String, String)>,
}

/// How long a container id Docker did not know is not asked about again.
const MISS_TTL: Duration = Duration::from_secs(10);

pub struct Docker {
    socket: PathBuf,
    /// `match_source`: which part of `log.file.path` (split on `/`, empty parts dropped) is the
    /// container id — Docker's json-file logs live in /var/lib/docker/containers/<id>/.
    source_index: Option<usize>,
    match_fields: Vec<String>,
    dedot: bool,
    known: Mutex<HashMap<String, (Option<Container>, Instant)>>,
    warned: std::sync::Once,
}

impl Docker {
    pub fn parse(path: &str, s: &Section) -> Result<Docker, ConfigError> {
        let host = s.string_or("host", "unix:///var/run/docker.sock")?;
        let Some(socket) = host.strip_prefix("unix://") else {
            return Err(ConfigError(format!(
                "setting `{path}.host`: only a unix:// socket is supported, got `{host}`"
            )));
        };
        for ignored in [
            "tls",
            "match_pids",
            "match_short_id",
            "cleanup_timeout",
            "wait_for_metadata",
            "wait_for_metadata_timeout",
            "wait_for_metadata_retry",
        ] {
            s.raw(ignored);
        }
        Ok(Docker {
            socket: PathBuf::from(socket),
            source_index: s
                .bool("match_source", true)?
                .then(|| s.int("match_source_index", 4))
                .transpose()?
                .map(|i| i.max(0) as usize),
            match_fields: s.strings("match_fields")?,
            dedot: s.section("labels")?.bool("dedot", true)?,
            known: Mutex::new(HashMap::new()),
            warned: std::sync::Once::new(),
        })
    }

    pub fn run(&self, e: &mut Fields) {
        if !self.socket.exists() {
            self.warned.call_once(|| {
                tracing::info!(
                    "add_docker_metadata: docker environment not detected (no socket at {}); events pass unchanged",
                    self.socket.display()
                )
            });
            return;
        }
        let from_path = self.source_index.and_then(|i| {
            let path = fields::get(e, "log.file.path")?.as_str()?;
            path.split('/')
                .filter(|p| !p.is_empty())
                .nth(i)
                .map(str::to_string)
        });
        // As Filebeat: an id found in the path is the event's `container.id` even when Docker
        // does not know it (yet).
        if let Some(id) = &from_path {
            fields::put(e, "container.id", Value::String(id.clone()));
        }
        let id = from_path.or_else(|| {
            self.match_fields
                .iter()
                .find_map(|f| fields::get(e, f)?.as_str().map(str::to_string))
        });
        let Some(id) = id.filter(|i| !i.is_empty()) else {
            return;
        };
        let Some(c) = self.container(&id) else {
            return;
        };
        fields::put(e, "container.id", Value::String(c.id));
        fields::put(e, "container.image.name", Value::String(c.image));
        fields::put(e, "container.name", Value::String(c.name));
        if !c.labels.is_empty() {
            let mut labels = Fields::new();
            for (k, v) in c.labels {
                let key = if self.dedot { k.replace('.', "_") } else { k };
                labels.insert(key, Value::String(v));
            }
            fields::put(e, "container.labels", Value::Object(labels));
        }
    }

    /// The container with this id, asked of Docker once and remembered (an unknown id for
    /// `MISS_TTL`: a container just started may not be known yet).
    fn container(&self, id: &str) -> Option<Container> {
        let mut known = self.known.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((c, at)) = known.get(id) {
            if c.is_some() || at.elapsed() < MISS_TTL {
                return c.clone();
            }
        }
        let c = match self.inspect(id) {
            Ok(c) => c,
            Err(err) => {
                tracing::debug!("add_docker_metadata: asking docker about {id}: {err}");
                None
            }
        };
        known.insert(id.to_string(), (c.clone(), Instant::now()));
        c
    }

    /// `GET /containers/{id}/json` over the socket.
    fn inspect(&self, id: &str) -> Result<Option<Container>, String> {
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Ok(None);
        }
        let mut s = UnixStream::connect(&self.socket).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        write!(
            s,
            "GET /containers/{id}/json HTTP/1.0\r\nHost: docker\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut resp = Vec::new();
        s.take(16 << 20)
            .read_to_end(&mut resp)
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&resp);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP answer")?;
        if head.split(' ').nth(1) == Some("404") {
            return Ok(None);
        }
        if head.split(' ').nth(1) != Some("200") {
            return Err(head.lines().next().unwrap_or_default().to_string());
        }
        let v: Value = serde_json::from_str(body).map_err(|e| e.to_string())?;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        let mut labels: Vec<(String, String)> = v["Config"]["Labels"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), text(Some(v)))).collect())
            .unwrap_or_default();
        labels.sort();
        Ok(Some(Container {
            id: text(v.get("Id")),
            name: text(v.get("Name")).trim_start_matches('/').to_string(),
            image: text(v["Config"].get("Image")),
            labels,
        }))
    }
}
