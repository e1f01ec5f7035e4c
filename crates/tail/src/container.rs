//! Container logs as Docker's json-file driver and CRI runtimes (containerd, CRI-O) write them,
//! decoded line by line before multiline, as Filebeat's container parser does: the text, its
//! stream and the runtime's timestamp; partial lines (Docker: no trailing `\n`; CRI: the `P`
//! flag) are joined into one message.
//!
//! Docker: `{"log":"text\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}`
//! (`attrs` when the daemon adds labels or env to each line).
//! CRI: `2024-05-01T10:00:00.123456789Z stdout F text`.

use serde_json::{Map, Value};

use crate::lines::Line;

/// What a container log line says besides its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub stream: String,
    pub time: jiff::Timestamp,
    /// Docker's per-line `attrs` (labels, env), reported as `docker.attrs`.
    pub attrs: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker's JSON when a line starts with `{`, CRI otherwise.
    Auto,
    Docker,
    Cri,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    pub format: Format,
    /// `all`, `stdout` or `stderr`: lines of other streams are skipped.
    pub stream: String,
}

impl Default for ContainerConfig {
    fn default() -> Self {
        ContainerConfig {
            format: Format::Auto,
            stream: "all".into(),
        }
    }
}

impl ContainerConfig {
    /// Filebeat's `format` and `stream` settings, checked as Filebeat checks them.
    pub fn new(format: &str, stream: &str) -> Result<ContainerConfig, String> {
        let format = match format.to_ascii_lowercase().as_str() {
            "auto" => Format::Auto,
            "docker" | "json-file" => Format::Docker,
            "cri" => Format::Cri,
            _ => {
                return Err(format!(
                    "invalid value for format: {format}, supported values are: auto, docker, cri"
                ))
            }
        };
        if !matches!(stream, "all" | "stdout" | "stderr") {
            return Err(format!(
                "invalid value for stream: {stream}, supported values are: all, stdout, stderr"
            ));
        }
        Ok(ContainerConfig {
            format,
            stream: stream.to_string(),
        })
    }
}

/// One line decoded: its text, whether more of it follows, what the runtime said about it.
struct Decoded {
    text: Vec<u8>,
    partial: bool,
    meta: Container,
}

fn decode(format: Format, raw: &[u8]) -> Result<Decoded, String> {
    match format {
        Format::Docker => docker(raw),
        Format::Cri => cri(raw),
        Format::Auto if raw.first() == Some(&b'{') => docker(raw),
        Format::Auto => cri(raw),
    }
}

fn timestamp(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>()
        .map_err(|e| format!("parsing timestamp `{s}`: {e}"))
}

fn docker(raw: &[u8]) -> Result<Decoded, String> {
    #[derive(serde::Deserialize)]
    struct Docker {
        #[serde(default)]
        log: String,
        #[serde(default)]
        stream: String,
        #[serde(default)]
        time: String,
        #[serde(default)]
        attrs: Option<Map<String, Value>>,
    }
    let d: Docker =
        serde_json::from_slice(raw).map_err(|e| format!("decoding docker JSON: {e}"))?;
    let time = timestamp(&d.time)?;
    let mut text = d.log.into_bytes();
    // The driver splits lines over 16 KiB; only the last piece ends with the newline.
    let partial = text.last() != Some(&b'\n');
    if !partial {
        text.pop();
        if text.last() == Some(&b'\r') {
            text.pop();
        }
    }
    Ok(Decoded {
        text,
        partial,
        meta: Container {
            stream: d.stream,
            time,
            attrs: d.attrs.filter(|a| !a.is_empty()),
        },
    })
}

fn cri(raw: &[u8]) -> Result<Decoded, String> {
    let mut parts = raw.splitn(4, |&b| b == b' ');
    let (Some(time), Some(stream), Some(flags), Some(text)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("invalid CRI log format".into());
    };
    let time = timestamp(&String::from_utf8_lossy(time))?;
    // Flags are `:`-separated; only P(artial) and F(ull) exist today.
    let partial = flags.split(|&b| b == b':').any(|f| f == b"P");
    Ok(Decoded {
        text: text.to_vec(),
        partial,
        meta: Container {
            stream: String::from_utf8_lossy(stream).into_owned(),
            time,
            attrs: None,
        },
    })
}

/// Turns a file's raw lines into container messages, one per complete log line.
pub struct Decoder {
    cfg: ContainerConfig,
    max_bytes: usize,
    /// A message whose last piece has not come yet.
    pending: Option<Line>,
    /// Where the run of skipped other-stream messages before the next one began: Filebeat
    /// reports that as the next message's offset (its reader counts their bytes into it).
    skipped_from: Option<u64>,
}

impl Decoder {
    /// `max_bytes`: a joined message keeps at most this much (the rest is dropped, the message
    /// marked truncated).
    pub fn new(cfg: ContainerConfig, max_bytes: usize) -> Decoder {
        Decoder {
            cfg,
            max_bytes: max_bytes.max(1),
            pending: None,
            skipped_from: None,
        }
    }

    /// Feeds one raw line. Returns the decoded message once it is complete and of the wanted
    /// stream; `Err` for a line that is not a container log line (skipped, as Filebeat does).
    pub fn push(&mut self, line: Line) -> Result<Option<Line>, String> {
        let d = match decode(self.cfg.format, &line.bytes) {
            Ok(d) => d,
            Err(e) => {
                // What was joined so far stays pending: the next piece may still come.
                return Err(e);
            }
        };
        let line = match self.pending.take() {
            // A continuation keeps the first piece's offset, stream and time.
            Some(mut first) => {
                first.end = line.end;
                first.truncated |= line.truncated;
                first.bytes.extend_from_slice(&d.text);
                first
            }
            None => Line {
                offset: line.offset,
                end: line.end,
                bytes: d.text,
                truncated: line.truncated,
                container: Some(Box::new(d.meta)),
            },
        };
        let mut line = line;
        if line.bytes.len() > self.max_bytes {
            line.bytes.truncate(self.max_bytes);
            line.truncated = true;
        }
        if d.partial {
            self.pending = Some(line);
            return Ok(None);
        }
        let wanted = self.cfg.stream == "all"
            || line
                .container
                .as_ref()
                .is_some_and(|c| c.stream == self.cfg.stream);
        if !wanted {
            self.skipped_from.get_or_insert(line.offset);
            return Ok(None);
        }
        if let Some(from) = self.skipped_from.take() {
            line.offset = from;
        }
        Ok(Some(line))
    }

    /// Where a restart must resume so a message still waiting for its last piece is not lost.
    pub fn pending_offset(&self) -> Option<u64> {
        self.pending.as_ref().map(|l| l.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `raw` lines (offsets as a file would give them); returns (text, stream, offset).
    fn run(cfg: ContainerConfig, raw: &[&str]) -> (Vec<(String, String, u64)>, usize) {
        let mut d = Decoder::new(cfg, 1 << 20);
        let (mut out, mut errors, mut off) = (Vec::new(), 0, 0u64);
        for r in raw {
            let line = Line {
                offset: off,
                end: off + r.len() as u64 + 1,
                bytes: r.as_bytes().to_vec(),
                truncated: false,
                container: None,
            };
            off = line.end;
            match d.push(line) {
                Ok(Some(l)) => {
                    let c = l.container.unwrap();
                    out.push((String::from_utf8(l.bytes).unwrap(), c.stream, l.offset));
                }
                Ok(None) => {}
                Err(_) => errors += 1,
            }
        }
        (out, errors)
    }

    #[test]
    fn docker_lines_lose_their_newline_and_partials_are_joined() {
        let (out, errors) = run(
            ContainerConfig::default(),
            &[
                r#"{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}"#,
                r#"{"log":"part one, ","stream":"stderr","time":"2024-05-01T10:00:01Z"}"#,
                r#"{"log":"part two\r\n","stream":"stderr","time":"2024-05-01T10:00:02Z"}"#,
                r#"{"log":"no time\n","stream":"stdout"}"#,
                "not json at all",
            ],
        );
        assert_eq!(
            out,
            vec![
                ("hello".into(), "stdout".into(), 0),
                // The joined message starts where its first piece does (after 75 bytes + `\n`).
                ("part one, part two".into(), "stderr".into(), 76),
            ]
        );
        // Refused: the line without a time, and `not json at all` (read as CRI: no timestamp).
        assert_eq!(errors, 2);
    }

    #[test]
    fn cri_flags_join_partials_and_streams_filter() {
        let lines = [
            "2024-05-01T10:00:00.1Z stdout F first",
            "2024-05-01T10:00:01.2Z stderr P an error ",
            "2024-05-01T10:00:01.3Z stderr F that goes on",
            "2024-05-01T10:00:02+02:00 stdout F last",
        ];
        let (out, _) = run(ContainerConfig::default(), &lines);
        assert_eq!(
            out.iter().map(|o| o.0.as_str()).collect::<Vec<_>>(),
            ["first", "an error that goes on", "last"]
        );
        let (out, _) = run(ContainerConfig::new("cri", "stderr").unwrap(), &lines);
        // Its offset is where the skipped stdout line before it began, as Filebeat reports it.
        assert_eq!(
            out,
            vec![("an error that goes on".into(), "stderr".into(), 0)]
        );
    }

    #[test]
    fn timestamps_keep_the_runtimes_instant() {
        let mut d = Decoder::new(ContainerConfig::default(), 100);
        let l = d
            .push(Line {
                offset: 0,
                end: 1,
                bytes: b"2024-05-01T12:00:00.987654321+02:00 stdout F x".to_vec(),
                truncated: false,
                container: None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(
            l.container.unwrap().time.to_string(),
            "2024-05-01T10:00:00.987654321Z"
        );
    }

    proptest::proptest! {
        /// Any bytes, in any format: a message, a piece kept for later, or an error, never a
        /// panic; a message never starts before the line that began it.
        #[test]
        fn any_line_decodes_or_is_refused(
            lines in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..80), 1..8),
            format in 0..3usize,
        ) {
            let format = ["auto", "docker", "cri"][format];
            let mut d = Decoder::new(ContainerConfig::new(format, "all").unwrap(), 64);
            let mut off = 0u64;
            for raw in lines {
                let end = off + raw.len() as u64 + 1;
                let line = Line { offset: off, end, bytes: raw, truncated: false, container: None };
                if let Ok(Some(l)) = d.push(line) {
                    proptest::prop_assert!(l.offset <= off && l.bytes.len() <= 64);
                }
                off = end;
            }
        }
    }

    #[test]
    fn bad_settings_are_named() {
        assert!(ContainerConfig::new("podman", "all")
            .unwrap_err()
            .contains("supported values are: auto, docker, cri"));
        assert!(ContainerConfig::new("auto", "both")
            .unwrap_err()
            .contains("supported values are: all, stdout, stderr"));
    }
}
