use std::fmt;

use crate::source::Location;

/// A config problem, with where it is when that is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Option<Location>,
    pub message: String,
}

impl ConfigError {
    pub fn at(location: Location, message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: Some(location),
            message: message.into(),
        }
    }

    pub fn plain(message: impl Into<String>) -> ConfigError {
        ConfigError {
            location: None,
            message: message.into(),
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
