//! The pipeline: plugins built from config (one small trait per kind), conditionals, a bounded
//! queue between inputs and workers, and workers that run filters then outputs on batches.
//! Data flows one way: input → queue → filters → outputs.

mod args;
mod compile;
mod condition;
mod metrics;
pub mod options;
mod plugin;
mod queue;
mod registry;
mod runtime;

pub use args::{Args, ConfValue};
pub use compile::{compile, CompiledPipeline};
pub use metrics::{digest, PipelineMetrics, PipelineStats, PluginStats, Problem};
pub use options::{opt, Opt, Options, Ty, ECS};
pub use plugin::{
    filter_as_batch, Codec, DeadLetterQueue, DeadLetters, Ecs, Filter, FilterOutcome, Input,
    InputContext, Output, PipelineSettings, PluginError, Stopped,
};
pub use queue::{Batch, BatchId, MemoryQueue, Queue};
pub use registry::{CodecCtor, FilterCtor, FilterNode, InputCtor, OutputCtor, Registry};
pub use runtime::Pipeline;

/// The machine's host name, as inputs put it in `host`.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}
