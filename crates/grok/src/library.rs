//! The pattern libraries. Legacy is logstash-patterns-core's non-ECS set, taken as data from the
//! `grok` crate; ECS v1 is ours (`patterns/ecs-v1/`), on top of the legacy patterns that capture
//! nothing (those are the same in both).

use std::collections::HashMap;
use std::path::Path;

use crate::{expand, CompileOptions, Grok, GrokError};

/// Which field naming the built-in patterns use: Logstash's `ecs_compatibility`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Legacy,
    /// `v1` and `v8` (v8 uses the v1 patterns).
    EcsV1,
}

const LEGACY_UPDATES: &str = include_str!("../patterns/legacy/updates");

/// Our ECS v1 pattern files, in load order.
const ECS_V1: &[(&str, &str)] = &[
    (
        "grok-patterns",
        include_str!("../patterns/ecs-v1/grok-patterns"),
    ),
    ("aws", include_str!("../patterns/ecs-v1/aws")),
    ("bacula", include_str!("../patterns/ecs-v1/bacula")),
    ("bind", include_str!("../patterns/ecs-v1/bind")),
    ("bro", include_str!("../patterns/ecs-v1/bro")),
    ("exim", include_str!("../patterns/ecs-v1/exim")),
    ("firewalls", include_str!("../patterns/ecs-v1/firewalls")),
    ("haproxy", include_str!("../patterns/ecs-v1/haproxy")),
    ("httpd", include_str!("../patterns/ecs-v1/httpd")),
    ("java", include_str!("../patterns/ecs-v1/java")),
    ("junos", include_str!("../patterns/ecs-v1/junos")),
    (
        "linux-syslog",
        include_str!("../patterns/ecs-v1/linux-syslog"),
    ),
    ("maven", include_str!("../patterns/ecs-v1/maven")),
    (
        "mcollective",
        include_str!("../patterns/ecs-v1/mcollective"),
    ),
    ("mongodb", include_str!("../patterns/ecs-v1/mongodb")),
    ("nagios", include_str!("../patterns/ecs-v1/nagios")),
    ("postgresql", include_str!("../patterns/ecs-v1/postgresql")),
    ("rails", include_str!("../patterns/ecs-v1/rails")),
    ("redis", include_str!("../patterns/ecs-v1/redis")),
    ("ruby", include_str!("../patterns/ecs-v1/ruby")),
    ("squid", include_str!("../patterns/ecs-v1/squid")),
    ("zeek", include_str!("../patterns/ecs-v1/zeek")),
];

#[derive(Debug, Clone, Default)]
pub struct Library {
    defs: HashMap<String, String>,
}

fn captures_something(def: &str) -> bool {
    def.contains("(?<") && def.contains('>') && {
        // `(?<=` and `(?<!` are look-behinds, not names.
        def.match_indices("(?<")
            .any(|(i, _)| !matches!(def.as_bytes().get(i + 3), Some(b'=' | b'!')))
    } || def.match_indices("%{").any(|(i, _)| {
        def[i..]
            .find('}')
            .is_some_and(|end| def[i..i + end].contains(':'))
    })
}

impl Library {
    /// The built-in library for a mode.
    pub fn builtin(mode: Mode) -> Library {
        let mut lib = Library::default();
        for (name, def) in grok::patterns() {
            if mode == Mode::Legacy || !captures_something(def) {
                lib.defs.insert(name.to_string(), def.to_string());
            }
        }
        if mode == Mode::Legacy {
            lib.add_text(LEGACY_UPDATES);
        }
        if mode == Mode::EcsV1 {
            for (_, text) in ECS_V1 {
                lib.add_text(text);
            }
        }
        lib
    }

    pub fn add(&mut self, name: &str, definition: &str) {
        self.defs.insert(name.to_string(), definition.to_string());
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.defs.get(name).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.defs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.defs.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.defs.keys().map(String::as_str)
    }

    /// Adds the definitions of a pattern file: `NAME regex` per line, `#` comments, blank lines.
    pub fn add_text(&mut self, text: &str) {
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, def) = match line.find([' ', '\t']) {
                Some(i) => (&line[..i], line[i..].trim_start_matches([' ', '\t'])),
                None => (line, ""),
            };
            let def = def.strip_suffix('\r').unwrap_or(def);
            self.add(name, def);
        }
    }

    pub fn add_file(&mut self, path: &Path) -> std::io::Result<()> {
        let text = std::fs::read_to_string(path)?;
        self.add_text(&text);
        Ok(())
    }

    /// Expands and compiles a grok expression against this library.
    pub fn compile(&self, pattern: &str, opts: &CompileOptions) -> Result<Grok, GrokError> {
        let mut defs = self.defs.clone();
        let expanded = expand::expand(pattern, &mut defs, !opts.capture_all)?;
        Grok::build(expanded, opts)
    }
}
