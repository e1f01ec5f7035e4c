//! The runtime alone: pre-built events through queue → worker → output, so that the input's cost
//! (building events) is not in the figure. Reports events per second.

use std::sync::Mutex;

use rstash_config::{parse, ConfigError, Source};
use rstash_event::Event;
use rstash_pipeline::{
    compile, Args, Input, InputContext, Pipeline, PipelineSettings, PluginError,
};

const N: usize = 200_000;

/// Hands the events built outside the timed region to the `prebuilt` input.
static PREBUILT: Mutex<Vec<Event>> = Mutex::new(Vec::new());

struct Prebuilt;

impl Input for Prebuilt {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let mut events = std::mem::take(&mut *PREBUILT.lock().unwrap()).into_iter();
        loop {
            let chunk: Vec<Event> = events.by_ref().take(125).collect();
            if chunk.is_empty() || ctx.push_all(chunk).is_err() {
                break;
            }
        }
        Ok(())
    }
}

fn prebuilt(_: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    Ok(Box::new(Prebuilt))
}

fn main() {
    divan::main();
}

fn run(config: &str, b: divan::Bencher) {
    let mut registry = rstash_plugins::registry();
    registry.input("prebuilt", &[], prebuilt);
    let settings = PipelineSettings {
        workers: 1,
        ..PipelineSettings::default()
    };
    let src = Source::from_string("bench", config);
    let ast = parse(&src).unwrap();
    b.counter(divan::counter::ItemsCount::new(N))
        .with_inputs(|| {
            let events: Vec<Event> = (0..N)
                .map(|i| Event::with_message(format!("event {i}")))
                .collect();
            *PREBUILT.lock().unwrap() = events;
            compile(&ast, &src, &registry, &settings).unwrap()
        })
        .bench_local_values(|compiled| Pipeline::start(compiled, settings.clone()).wait());
}

#[divan::bench(sample_count = 10)]
fn no_filters_null_output(b: divan::Bencher) {
    run("input { prebuilt {} } output { null {} }", b);
}

#[divan::bench(sample_count = 10)]
fn conditional_mutate_null_output(b: divan::Bencher) {
    run(
        "input { prebuilt {} } filter { if [message] =~ /event 1/ { mutate { add_tag => ['one'] } } else { mutate { uppercase => ['message'] } } } output { null {} }",
        b,
    );
}
