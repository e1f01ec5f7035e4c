//! `null`: discards events (benchmarks, tests).

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::Options;
use rstash_pipeline::{Args, Output, PluginError};

pub struct Null;

pub const OPTIONS: Options = &[];

pub fn build(_args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    Ok(Box::new(Null))
}

impl Output for Null {
    fn receive(&mut self, _events: &[&Event]) -> Result<(), PluginError> {
        Ok(())
    }
}
