//! `pipeline { address => "name" }`: receives what `pipeline { send_to => ["name"] }` outputs of
//! other pipelines send. Runs until its pipeline stops.

use rstash_pipeline::{opt, Options, Ty};
use std::time::Duration;

use rstash_config::ConfigError;
use rstash_pipeline::{Args, Input, InputContext, PluginError};

use crate::bus;

pub struct PipelineInput {
    address: String,
}

pub const OPTIONS: Options = &[&[opt("address", Ty::Str).required()]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let Some(address) = args.string("address")? else {
        return Err(args.error("pipeline input needs `address`"));
    };
    if address.is_empty() {
        return Err(args.error_at("address", "address must not be empty"));
    }
    bus::declare_listener(&args.settings.id, &address);
    Ok(Box::new(PipelineInput { address }))
}

impl Input for PipelineInput {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let token = bus::listen(&self.address, ctx.clone()).map_err(PluginError)?;
        while !ctx.is_stopping() {
            std::thread::sleep(Duration::from_millis(50));
        }
        bus::unlisten(&self.address, token);
        Ok(())
    }
}
