//! Filebeat's multiline: joining a stack trace (or any run of lines) into one message.
//! Modes `pattern` (with `negate` and `match: after|before`), `count`, `while_pattern`;
//! `max_lines` (500) caps the joined lines, `timeout` (5 s) flushes a message left waiting,
//! `flush_pattern` ends one.

use std::time::{Duration, Instant};

use regex::Regex;

use crate::lines::Line;

/// One event's worth of text: a line, or several joined with `\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub offset: u64,
    pub end: u64,
    pub bytes: Vec<u8>,
    pub lines: usize,
    pub truncated: bool,
    /// The first line's container fields (stream, time), for container inputs.
    pub container: Option<Box<crate::container::Container>>,
}

impl From<Line> for Message {
    fn from(l: Line) -> Message {
        Message {
            offset: l.offset,
            end: l.end,
            bytes: l.bytes,
            lines: 1,
            truncated: l.truncated,
            container: l.container,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Mode {
    Pattern { after: bool },
    Count(usize),
    WhilePattern,
}

#[derive(Debug, Clone)]
pub struct MultilineConfig {
    pub mode: Mode,
    pub pattern: Option<Regex>,
    pub negate: bool,
    pub flush_pattern: Option<Regex>,
    pub max_lines: usize,
    pub max_bytes: usize,
    pub timeout: Duration,
}

pub struct Multiline {
    cfg: MultilineConfig,
    pending: Option<Message>,
    since: Instant,
}

impl Multiline {
    pub fn new(cfg: MultilineConfig) -> Multiline {
        Multiline {
            cfg,
            pending: None,
            since: Instant::now(),
        }
    }

    fn matches(&self, line: &Line) -> bool {
        let text = String::from_utf8_lossy(&line.bytes);
        self.cfg.pattern.as_ref().is_some_and(|p| p.is_match(&text)) != self.cfg.negate
    }

    fn append(&mut self, line: Line) {
        match &mut self.pending {
            None => {
                self.pending = Some(line.into());
                self.since = Instant::now();
            }
            Some(m) => {
                m.end = line.end;
                m.lines += 1;
                m.truncated |= line.truncated;
                if m.lines <= self.cfg.max_lines {
                    m.bytes.push(b'\n');
                    m.bytes.extend_from_slice(&line.bytes);
                    if m.bytes.len() > self.cfg.max_bytes {
                        m.bytes.truncate(self.cfg.max_bytes);
                        m.truncated = true;
                    }
                }
            }
        }
    }

    /// Feeds one line; returns a message when one is complete.
    pub fn push(&mut self, line: Line) -> Option<Message> {
        let flush_here = self
            .cfg
            .flush_pattern
            .as_ref()
            .is_some_and(|p| p.is_match(&String::from_utf8_lossy(&line.bytes)));
        let out = match self.cfg.mode {
            Mode::Pattern { after: true } => {
                let out = if self.matches(&line) {
                    None
                } else {
                    self.pending.take()
                };
                self.append(line);
                out
            }
            Mode::Pattern { after: false } => {
                let ends = !self.matches(&line);
                self.append(line);
                if ends {
                    self.pending.take()
                } else {
                    None
                }
            }
            Mode::Count(n) => {
                self.append(line);
                if self.pending.as_ref().is_some_and(|m| m.lines >= n.max(1)) {
                    self.pending.take()
                } else {
                    None
                }
            }
            Mode::WhilePattern => {
                let m = self.matches(&line);
                let continues = m && self.pending.is_some();
                let out = if continues { None } else { self.pending.take() };
                if m {
                    self.append(line);
                    out
                } else {
                    // A line outside the run is a message of its own.
                    match out {
                        Some(prev) => {
                            self.append(line);
                            Some(prev)
                        }
                        None => Some(line.into()),
                    }
                }
            }
        };
        if flush_here && out.is_none() {
            return self.pending.take();
        }
        out
    }

    /// The waiting message, if it has waited `timeout` (no new line came).
    pub fn flush_stale(&mut self) -> Option<Message> {
        if self.pending.is_some() && self.since.elapsed() >= self.cfg.timeout {
            self.pending.take()
        } else {
            None
        }
    }

    /// The waiting message, whatever its age (end of input).
    pub fn flush(&mut self) -> Option<Message> {
        self.pending.take()
    }

    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    /// Where a restart would have to resume so the waiting message is not lost.
    pub fn pending_offset(&self) -> Option<u64> {
        self.pending.as_ref().map(|m| m.offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(cfg: MultilineConfig, input: &[&str]) -> Vec<String> {
        let mut m = Multiline::new(cfg);
        let mut out = Vec::new();
        let mut off = 0;
        for l in input {
            let line = Line {
                offset: off,
                end: off + l.len() as u64 + 1,
                bytes: l.as_bytes().to_vec(),
                truncated: false,
                container: None,
            };
            off = line.end;
            out.extend_msgs(m.push(line));
        }
        out.extend_msgs(m.flush());
        out
    }

    trait Ext {
        fn extend_msgs(&mut self, m: Option<Message>);
    }
    impl Ext for Vec<String> {
        fn extend_msgs(&mut self, m: Option<Message>) {
            if let Some(m) = m {
                self.push(String::from_utf8(m.bytes).unwrap());
            }
        }
    }

    fn cfg(mode: Mode, pattern: &str, negate: bool) -> MultilineConfig {
        MultilineConfig {
            mode,
            pattern: Some(Regex::new(pattern).unwrap()),
            negate,
            flush_pattern: None,
            max_lines: 500,
            max_bytes: 1 << 20,
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn java_stack_traces_join_after_the_first_line() {
        let got = feed(
            cfg(Mode::Pattern { after: true }, r"^\[", true),
            &["[1] boom", "  at a.b(c:1)", "  at d.e(f:2)", "[2] ok"],
        );
        assert_eq!(
            got,
            vec!["[1] boom\n  at a.b(c:1)\n  at d.e(f:2)", "[2] ok"]
        );
    }

    #[test]
    fn continuation_backslash_joins_before() {
        let got = feed(
            cfg(Mode::Pattern { after: false }, r"\\$", false),
            &["a \\", "b \\", "c", "d"],
        );
        assert_eq!(got, vec!["a \\\nb \\\nc", "d"]);
    }

    #[test]
    fn max_lines_and_count() {
        let mut c = cfg(Mode::Pattern { after: true }, r"^ ", false);
        c.max_lines = 2;
        assert_eq!(feed(c, &["a", " 1", " 2", " 3", "b"]), vec!["a\n 1", "b"]);
        assert_eq!(
            feed(cfg(Mode::Count(2), "x", false), &["1", "2", "3"]),
            vec!["1\n2", "3"]
        );
    }
}
