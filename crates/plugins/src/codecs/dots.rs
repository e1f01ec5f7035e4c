//! `dots`: one `.` per event, for watching throughput.

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::Options;
use rstash_pipeline::{Args, Codec};

#[derive(Clone)]
pub struct Dots;

pub const OPTIONS: Options = &[];

pub fn build(_args: &mut Args) -> Result<Box<dyn Codec>, ConfigError> {
    Ok(Box::new(Dots))
}

impl Codec for Dots {
    fn decode(&mut self, _data: &[u8], _emit: &mut dyn FnMut(Event)) {}

    fn encode(&mut self, _e: &Event, out: &mut Vec<u8>) {
        out.push(b'.');
    }

    fn fresh(&self) -> Box<dyn Codec> {
        Box::new(Dots)
    }

    fn name(&self) -> &'static str {
        "dots"
    }
}
