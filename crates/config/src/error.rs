use std::fmt;

use crate::source::Location;

/// A config problem, with where it is when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Option<Location>,
    pub message: String,
    /// Not a config mistake but something the plugin's `register` needs that is not here (a file,
    /// a database): `-t` reports it as a warning, as Logstash's `-t` does not run `register`.
    pub unavailable: bool,
}

impl ConfigError {
    pub fn at(location: Location, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(location),
            message: message.into(),
            unavailable: false,
        }
    }

    pub fn plain(message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: None,
            message: message.into(),
            unavailable: false,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigError {}
