//! `stdout`: each event encoded by the codec (default `rubydebug`), written once per batch.

use rstash_pipeline::{opt, Options, Ty};
use std::io::Write;

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{Args, Codec, Output, PluginError};

pub struct Stdout {
    codec: Box<dyn Codec>,
    buf: Vec<u8>,
}

pub const OPTIONS: Options = &[&[opt("codec", Ty::Codec).default("rubydebug")]];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    Ok(Box::new(Stdout {
        codec: args.codec("rubydebug")?,
        buf: Vec::with_capacity(64 * 1024),
    }))
}

impl Output for Stdout {
    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        self.buf.clear();
        for e in events {
            self.codec.encode(e, &mut self.buf);
        }
        let mut out = std::io::stdout().lock();
        out.write_all(&self.buf)?;
        out.flush()?;
        Ok(())
    }
}
