//! Config text from one or more files (concatenated in order, as Logstash does) or from `-e`.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::ConfigError;

#[derive(Debug, Clone)]
struct Part {
    name: String,
    start: usize,
}

#[derive(Debug, Clone)]
pub struct Source {
    text: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl Source {
    pub fn from_string(name: &str, text: &str) -> Source {
        Source {
            text: text.to_string(),
            parts: vec![Part {
                name: name.to_string(),
                start: 0,
            }],
        }
    }

    /// `-f` semantics: a file, a directory (its files in lexical order) or a glob.
    pub fn from_path(spec: &str) -> Result<Source, ConfigError> {
        let files = expand(spec)?;
        let mut src = Source {
            text: String::new(),
            parts: Vec::new(),
        };
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| {
                ConfigError::plain(format!("cannot read config file {}: {e}", f.display()))
            })?;
            src.push(&f.display().to_string(), &text);
        }
        Ok(src)
    }

    pub fn push(&mut self, name: &str, text: &str) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
        }
        self.parts.push(Part {
            name: name.to_string(),
            start: self.text.len(),
        });
        self.text.push_str(text);
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn files(&self) -> Vec<String> {
        self.parts.iter().map(|p| p.name.clone()).collect()
    }

    pub fn locate(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let part = self
            .parts
            .iter()
            .rev()
            .find(|p| p.start <= offset)
            .or(self.parts.first());
        let (name, start) = part.map(|p| (p.name.clone(), p.start)).unwrap_or_default();
        let before = &self.text[start..floor_boundary(&self.text, offset)];
        let line = before.matches('\n').count() + 1;
        let column = before
            .rsplit('\n')
            .next()
            .map(|l| l.chars().count())
            .unwrap_or(0)
            + 1;
        Location {
            file: name,
            line,
            column,
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn expand(spec: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let p = Path::new(spec);
    let mut files: Vec<PathBuf> = if p.is_dir() {
        std::fs::read_dir(p)
            .map_err(|e| ConfigError::plain(format!("cannot read config directory {spec}: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect()
    } else if p.is_file() {
        vec![p.to_path_buf()]
    } else {
        glob::glob(spec)
            .map_err(|e| ConfigError::plain(format!("bad config path pattern {spec}: {e}")))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect()
    };
    if files.is_empty() {
        return Err(ConfigError::plain(format!(
            "No config files found in path {spec}"
        )));
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_across_parts() {
        let mut s = Source::from_string("a.conf", "input {\n  stdin {}\n}");
        s.push("b.conf", "output {\n x }");
        let off = s.text().find(" x").unwrap() + 1;
        assert_eq!(
            s.locate(off),
            Location {
                file: "b.conf".into(),
                line: 2,
                column: 2
            }
        );
        assert_eq!(s.locate(2).to_string(), "a.conf:1:3");
    }
}
