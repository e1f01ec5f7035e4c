//! `stdin`: lines from standard input (codec `line`; `plain` and `json` become `line`/`json_lines`).
//! At EOF the input finishes, and with it the pipeline once all inputs are done.

use rstash_pipeline::{opt, Options, Ty};
use std::io::{IsTerminal, Read};

use rstash_config::ConfigError;
use rstash_event::Event;
use rstash_pipeline::{hostname, Args, Codec, Input, InputContext, PluginError};

use super::HostField;

/// Bytes asked of stdin per read: a piped file arrives in few reads, each splitting hundreds of
/// lines (16 KiB took four times as many reads).
const READ_CHUNK: usize = 64 << 10;

pub struct Stdin {
    codec: Box<dyn Codec>,
    host: HostField,
}

pub const OPTIONS: Options = &[&[opt("codec", Ty::Codec).default("line")]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let codec = args.codec("line")?;
    let codec = codec.streaming().unwrap_or(codec);
    Ok(Box::new(Stdin {
        codec,
        host: HostField::new(args.ecs()?, "[host][hostname]", &hostname()),
    }))
}

impl Input for Stdin {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprintln!("The stdin plugin is now waiting for input:");
        }
        if let Some(every) = self.codec.auto_flush() {
            return self.run_with_ticks(ctx, every);
        }
        let mut lock = stdin.lock();
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = match lock.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            let mut events = Vec::new();
            self.codec.decode(&buf[..n], &mut |e| events.push(e));
            if self.push(ctx, events).is_err() {
                return Ok(());
            }
        }
        // A last line without newline is kept rather than lost.
        let mut events = Vec::new();
        self.codec.flush(&mut |e| events.push(e));
        let _ = self.push(ctx, events);
        Ok(())
    }
}

impl Stdin {
    /// With a codec that flushes on idleness (multiline's `auto_flush_interval`): reads on a
    /// thread of its own so that the codec is ticked while stdin is quiet.
    fn run_with_ticks(
        &mut self,
        ctx: &InputContext,
        every: std::time::Duration,
    ) -> Result<(), PluginError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<Vec<u8>>>(4);
        std::thread::Builder::new()
            .name("stdin-reader".into())
            .spawn(move || {
                let mut lock = std::io::stdin().lock();
                let mut buf = vec![0u8; READ_CHUNK];
                loop {
                    let r = match lock.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => Ok(buf[..n].to_vec()),
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => Err(e),
                    };
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                }
            })?;
        let wait = (every / 4).max(std::time::Duration::from_millis(10));
        loop {
            let mut events = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(Ok(chunk)) => self.codec.decode(&chunk, &mut |e| events.push(e)),
                Ok(Err(e)) => return Err(e.into()),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    self.codec.tick(&mut |e| events.push(e))
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
            if self.push(ctx, events).is_err() {
                return Ok(());
            }
        }
        let mut events = Vec::new();
        self.codec.flush(&mut |e| events.push(e));
        let _ = self.push(ctx, events);
        Ok(())
    }

    fn push(
        &self,
        ctx: &InputContext,
        mut events: Vec<Event>,
    ) -> Result<(), rstash_pipeline::Stopped> {
        if events.is_empty() {
            return Ok(());
        }
        for e in &mut events {
            self.host.stamp(e);
        }
        ctx.push_all(events)
    }
}
