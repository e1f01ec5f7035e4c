//! `filebeat.inputs` entries of `type: log`, `type: filestream` and `type: container` (a log
//! input whose lines are container runtime logs), read into one settings struct (they spell the
//! same things differently); `tcp` and `udp` share its common part (fields, tags, processors).

use std::time::Duration;

use regex::Regex;
use rstash_tail::container::ContainerConfig;
use rstash_tail::multiline::{Mode, MultilineConfig};
use rstash_tail::registry::Kind;
use serde_json::Value;

use crate::config::{ConfigError, Section};
use crate::fields::Fields;
use crate::processors::{self, Processor};

pub struct JsonParser {
    pub keys_under_root: bool,
    pub add_error_key: bool,
    pub message_key: Option<String>,
    pub overwrite_keys: bool,
    /// filestream's `ndjson.target` (None: the legacy `json` key for the log input).
    pub target: Option<String>,
}

pub struct InputConfig {
    pub kind: Kind,
    pub type_name: &'static str,
    pub paths: Vec<String>,
    pub exclude_files: Vec<Regex>,
    pub include_lines: Vec<Regex>,
    pub exclude_lines: Vec<Regex>,
    pub fields: Fields,
    pub fields_under_root: bool,
    pub tags: Vec<String>,
    pub ignore_older: Option<Duration>,
    pub close_inactive: Option<Duration>,
    pub close_removed: bool,
    pub close_renamed: bool,
    pub close_eof: bool,
    pub clean_removed: bool,
    pub clean_inactive: Option<Duration>,
    pub scan_frequency: Duration,
    pub tail_files: bool,
    pub harvester_limit: usize,
    pub max_bytes: usize,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub multiline: Option<MultilineConfig>,
    pub container: Option<ContainerConfig>,
    pub symlinks: bool,
    pub json: Option<JsonParser>,
    /// `tcp` and `udp` inputs: where to listen (no files then).
    pub net: Option<crate::netinput::NetConfig>,
    pub processors: Vec<Processor>,
}

fn dur(s: &Section, key: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    Ok(s.duration(key, default)?.unwrap_or(default))
}

pub fn parse(path: &str, v: &Value) -> Result<Option<InputConfig>, ConfigError> {
    let s = Section::new(path, Some(v))?;
    if !s.bool("enabled", true)? {
        return Ok(None);
    }
    let type_name = s.string_or("type", "log")?;
    let filestream = match type_name.as_str() {
        "log" | "container" | "tcp" | "udp" | "syslog" => false,
        "filestream" => true,
        other => {
            return Err(ConfigError(format!(
                "setting `{path}.type`: input type `{other}` is not supported (log, filestream, container, tcp, udp, syslog)"
            )))
        }
    };
    let net = match type_name.as_str() {
        "tcp" | "udp" => Some(crate::netinput::parse(&s, type_name == "udp")?),
        "syslog" => Some(crate::netinput::parse_syslog(&s)?),
        _ => None,
    };
    let paths = s.strings("paths")?;
    if paths.is_empty() && net.is_none() {
        return Err(ConfigError(format!(
            "setting `{path}.paths`: at least one path is required"
        )));
    }
    let encoding = s.string_or("encoding", "utf-8")?.to_ascii_lowercase();
    if !matches!(encoding.as_str(), "utf-8" | "utf8" | "plain") {
        return Err(ConfigError(format!(
            "setting `{path}.encoding`: `{encoding}` is not supported (plain, utf-8)"
        )));
    }
    let fields = s.section("fields")?.map().cloned().unwrap_or_default();
    let mut cfg = InputConfig {
        kind: Kind::Log,
        type_name: match type_name.as_str() {
            "filestream" => "filestream",
            "container" => "container",
            "tcp" => "tcp",
            "udp" => "udp",
            "syslog" => "syslog",
            _ => "log",
        },
        paths,
        exclude_files: s.regexes("exclude_files")?,
        include_lines: s.regexes("include_lines")?,
        exclude_lines: s.regexes("exclude_lines")?,
        fields,
        fields_under_root: s.bool("fields_under_root", false)?,
        tags: s.strings("tags")?,
        ignore_older: s.duration("ignore_older", Duration::ZERO)?,
        close_inactive: Some(Duration::from_secs(300)),
        close_removed: true,
        close_renamed: false,
        close_eof: false,
        clean_removed: s.bool("clean_removed", true)?,
        clean_inactive: s.duration("clean_inactive", Duration::ZERO)?,
        scan_frequency: Duration::from_secs(10),
        tail_files: s.bool("tail_files", false)?,
        harvester_limit: s.int("harvester_limit", 0)?.max(0) as usize,
        max_bytes: 10 * 1024 * 1024,
        backoff: Duration::from_secs(1),
        max_backoff: Duration::from_secs(10),
        multiline: None,
        container: None,
        symlinks: false,
        json: None,
        net,
        processors: processors::parse_list(&format!("{path}.processors"), s.raw("processors"))?,
    };
    let max_bytes_key = if filestream {
        "message_max_bytes"
    } else {
        "max_bytes"
    };
    let max_bytes = s.int(max_bytes_key, cfg.max_bytes as i64)?;
    cfg.max_bytes = max_bytes.max(1) as usize;
    if filestream {
        let id = s.string("id")?.unwrap_or_else(|| ".global".to_string());
        cfg.kind = Kind::Filestream(id);
        let scanner = s.section("prospector")?.section("scanner")?;
        cfg.scan_frequency = dur(&scanner, "check_interval", cfg.scan_frequency)?;
        cfg.exclude_files.extend(scanner.regexes("exclude_files")?);
        cfg.symlinks = scanner.bool("symlinks", false)?;
        let close = s.section("close")?;
        let state = close.section("on_state_change")?;
        cfg.close_inactive = state.duration("inactive", Duration::from_secs(300))?;
        cfg.close_removed = state.bool("removed", true)?;
        cfg.close_renamed = state.bool("renamed", false)?;
        cfg.close_eof = close.section("reader")?.bool("on_eof", false)?;
        let backoff = s.section("backoff")?;
        cfg.backoff = dur(&backoff, "init", Duration::from_secs(2))?;
        cfg.max_backoff = dur(&backoff, "max", Duration::from_secs(10))?;
        if let Some(Value::Array(parsers)) = s.raw("parsers") {
            for (i, p) in parsers.iter().enumerate() {
                let ppath = format!("{path}.parsers.{i}");
                if let Some(m) = p.get("multiline") {
                    cfg.multiline = Some(multiline(
                        &Section::new(&format!("{ppath}.multiline"), Some(m))?,
                        cfg.max_bytes,
                    )?);
                } else if let Some(c) = p.get("container") {
                    let cs = Section::new(&format!("{ppath}.container"), Some(c))?;
                    cfg.container = Some(container(&cs)?);
                    cs.warn_unknown();
                } else if let Some(j) = p.get("ndjson") {
                    let js = Section::new(&format!("{ppath}.ndjson"), Some(j))?;
                    cfg.json = Some(JsonParser {
                        keys_under_root: js.string("target")?.is_some_and(|t| t.is_empty()),
                        add_error_key: js.bool("add_error_key", false)?,
                        message_key: js.string("message_key")?,
                        overwrite_keys: js.bool("overwrite_keys", false)?,
                        target: js.string("target")?,
                    });
                    js.raw("expand_keys");
                    js.raw("ignore_decoding_error");
                    js.warn_unknown();
                } else {
                    return Err(ConfigError(format!(
                        "setting `{ppath}`: supported parsers are multiline, ndjson and container"
                    )));
                }
            }
        }
    } else {
        cfg.scan_frequency = dur(&s, "scan_frequency", cfg.scan_frequency)?;
        cfg.close_inactive = s.duration("close_inactive", Duration::from_secs(300))?;
        cfg.close_removed = s.bool("close_removed", true)?;
        cfg.close_renamed = s.bool("close_renamed", false)?;
        cfg.close_eof = s.bool("close_eof", false)?;
        cfg.backoff = dur(&s, "backoff", cfg.backoff)?;
        cfg.max_backoff = dur(&s, "max_backoff", cfg.max_backoff)?;
        cfg.symlinks = s.bool("symlinks", false)?;
        if type_name == "container" {
            // As Filebeat's container input: a log input with the container parser, following
            // symlinks (/var/log/containers/*.log point into /var/log/pods).
            cfg.container = Some(container(&s)?);
            cfg.symlinks = true;
        }
        let ml = s.section("multiline")?;
        if ml.exists() {
            cfg.multiline = Some(multiline(&ml, cfg.max_bytes)?);
        }
        let js = s.section("json")?;
        if js.exists() {
            cfg.json = Some(JsonParser {
                keys_under_root: js.bool("keys_under_root", false)?,
                add_error_key: js.bool("add_error_key", false)?,
                message_key: js.string("message_key")?,
                overwrite_keys: js.bool("overwrite_keys", false)?,
                target: None,
            });
            js.raw("ignore_decoding_error");
            js.raw("expand_keys");
            js.raw("document_id");
            js.warn_unknown();
        }
    }
    // Accepted and not acted on: harmless as they are.
    s.raw("id");
    s.raw("harvester_buffer_size");
    s.raw("file_identity");
    s.raw("index");
    s.raw("pipeline");
    s.raw("keep_null");
    s.warn_unknown();
    Ok(Some(cfg))
}

/// The container parser's `stream` (all, stdout, stderr) and `format` (auto, docker, cri).
fn container(s: &Section) -> Result<ContainerConfig, ConfigError> {
    ContainerConfig::new(
        &s.string_or("format", "auto")?,
        &s.string_or("stream", "all")?,
    )
    .map_err(|e| ConfigError(format!("setting `{}`: {e}", s.path)))
}

fn multiline(s: &Section, max_bytes: usize) -> Result<MultilineConfig, ConfigError> {
    let pattern = match s.string("pattern")? {
        Some(p) => Some(
            Regex::new(&p)
                .map_err(|e| ConfigError(format!("setting `{}.pattern`: {e}", s.path)))?,
        ),
        None => None,
    };
    let mode = match s.string_or("type", "pattern")?.as_str() {
        "pattern" => {
            let after = match s.string("match")?.as_deref() {
                Some("after") => true,
                Some("before") => false,
                other => {
                    return Err(ConfigError(format!(
                        "setting `{}.match`: expected after or before, got {other:?}",
                        s.path
                    )))
                }
            };
            if pattern.is_none() {
                return Err(ConfigError(format!(
                    "setting `{}.pattern` is required",
                    s.path
                )));
            }
            Mode::Pattern { after }
        }
        "count" => Mode::Count(s.int("count_lines", 0)?.max(1) as usize),
        "while_pattern" => Mode::WhilePattern,
        other => {
            return Err(ConfigError(format!(
                "setting `{}.type`: unknown multiline type `{other}`",
                s.path
            )))
        }
    };
    let flush_pattern = match s.string("flush_pattern")? {
        Some(p) => Some(
            Regex::new(&p)
                .map_err(|e| ConfigError(format!("setting `{}.flush_pattern`: {e}", s.path)))?,
        ),
        None => None,
    };
    let cfg = MultilineConfig {
        mode,
        pattern,
        negate: s.bool("negate", false)?,
        flush_pattern,
        max_lines: s.int("max_lines", 500)?.max(1) as usize,
        max_bytes,
        timeout: s
            .duration("timeout", Duration::from_secs(5))?
            .unwrap_or(Duration::from_secs(5)),
    };
    s.raw("skip_newline");
    s.warn_unknown();
    Ok(cfg)
}
