//! Running a compiled pipeline: one thread per input, `pipeline.workers` worker threads taking
//! batches from the queue through filters then outputs. When every input has finished (or a stop
//! is requested) the queue is closed, workers drain it, and outputs are closed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rstash_event::Event;
use tracing::{debug, error, warn};

use crate::compile::{CompiledPipeline, Node};
use crate::metrics::{PipelineMetrics, PipelineStats, PluginStats};
use crate::plugin::{InputContext, Output, PipelineSettings};
use crate::queue::{MemoryQueue, Queue};
use crate::registry::FilterNode;

/// An output's instances, each behind its lock (one for a `:single` output, one per worker for
/// a `:shared` one), and its counters.
type OutputSlot = (Vec<Mutex<Box<dyn Output>>>, Arc<PluginStats>);

/// One instance per worker when the output sends from several at once, else just `o`.
fn instances(o: Box<dyn Output>, workers: usize) -> Vec<Mutex<Box<dyn Output>>> {
    let extra: Vec<_> = (1..workers).map_while(|_| o.worker()).collect();
    std::iter::once(o).chain(extra).map(Mutex::new).collect()
}

/// A free instance of the output, else the first one once free.
fn instance(all: &[Mutex<Box<dyn Output>>]) -> std::sync::MutexGuard<'_, Box<dyn Output>> {
    for o in all {
        match o.try_lock() {
            Ok(g) => return g,
            Err(std::sync::TryLockError::Poisoned(p)) => return p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => {}
        }
    }
    all[0].lock().unwrap_or_else(|p| p.into_inner())
}

struct Shared {
    filters: Vec<FilterNode>,
    filter_tree: Vec<Node>,
    outputs: Vec<OutputSlot>,
    output_tree: Vec<Node>,
    queue: Arc<dyn Queue>,
    stats: Arc<PipelineStats>,
    settings: PipelineSettings,
}

/// Inputs still running, whether a stop was asked for, and whether the workers are done.
#[derive(Default)]
struct Lifecycle {
    state: Mutex<(usize, bool, bool)>,
    changed: Condvar,
    /// Called once every input has finished (see `Pipeline::when_inputs_done`).
    on_inputs_done: Mutex<Option<Box<dyn Fn() + Send>>>,
}

impl Lifecycle {
    fn update(&self, f: impl FnOnce(&mut (usize, bool, bool))) {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut st);
        self.changed.notify_all();
        if st.0 == 0 || st.1 {
            self.wake_once();
        }
    }

    /// Runs and drops the inputs-done callback. Callers hold `state`: registering it takes that
    /// lock first too, so the callback runs exactly once, whichever comes first.
    fn wake_once(&self) {
        let hook = self
            .on_inputs_done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(hook) = hook {
            hook();
        }
    }
}

pub struct Pipeline {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    lifecycle: Arc<Lifecycle>,
    /// An input returned an error (it could not listen, say): the pipeline stops and `wait`
    /// reports a failure, as a Logstash pipeline that cannot start fails the process.
    input_failed: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    /// Calls filters' periodic flush; ends when `lifecycle` says the workers are done.
    flusher: Option<JoinHandle<()>>,
    metrics: PipelineMetrics,
}

/// How often filters with `periodic_flush` are flushed (Logstash's flusher interval).
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

impl Pipeline {
    pub fn start(c: CompiledPipeline, settings: PipelineSettings) -> Pipeline {
        let queue = Pipeline::memory_queue(&settings);
        Pipeline::start_counting(c, settings, Arc::default(), queue)
    }

    /// Logstash's in-memory queue: batch size × workers events.
    pub fn memory_queue(settings: &PipelineSettings) -> Arc<dyn Queue> {
        Arc::new(MemoryQueue::new(
            settings.batch_size * settings.workers.max(1),
        ))
    }

    /// Starts on `queue` with counters that outlive this instance (the agent's, across reloads).
    pub fn start_counting(
        mut c: CompiledPipeline,
        settings: PipelineSettings,
        stats: Arc<PipelineStats>,
        queue: Arc<dyn Queue>,
    ) -> Pipeline {
        // The agent registers first to refuse a pipeline whose outputs fail; tests and benches
        // start directly.
        if let Err(e) = c.register() {
            error!(pipeline = %settings.id, "{e}");
        }
        let workers_n = settings.workers.max(1);
        let metrics = PipelineMetrics {
            settings: settings.clone(),
            stats: stats.clone(),
            inputs: c.inputs.iter().map(|i| i.2.clone()).collect(),
            filters: c.filters.iter().map(|f| f.stats.clone()).collect(),
            outputs: c.outputs.iter().map(|o| o.1.clone()).collect(),
            queue: queue.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let input_failed = Arc::new(AtomicBool::new(false));
        let lifecycle = Arc::new(Lifecycle::default());
        let shared = Arc::new(Shared {
            filters: c.filters,
            filter_tree: c.filter_tree,
            outputs: c
                .outputs
                .into_iter()
                .map(|(o, s)| (instances(o, workers_n), s))
                .collect(),
            output_tree: c.output_tree,
            queue: queue.clone(),
            stats: stats.clone(),
            settings: settings.clone(),
        });
        lifecycle.update(|s| s.0 = c.inputs.len());
        for (i, (mut input, decoration, plugin)) in c.inputs.into_iter().enumerate() {
            let ctx = InputContext {
                queue: queue.clone(),
                decoration,
                stop: stop.clone(),
                stats: stats.clone(),
                plugin,
            };
            let lc = lifecycle.clone();
            let q = queue.clone();
            let id = settings.id.clone();
            let (stop, failed) = (stop.clone(), input_failed.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("[{id}]<input{i}"))
                .spawn(move || {
                    if let Err(e) = input.run(&ctx) {
                        error!(pipeline = %id, "input #{i} failed: {e}; stopping the pipeline");
                        failed.store(true, Ordering::Relaxed);
                        stop.store(true, Ordering::Relaxed);
                        q.close(false);
                        lc.update(|s| s.1 = true);
                    }
                    lc.update(|s| {
                        s.0 -= 1;
                        // The last input is done: workers need not wait out the batch delay.
                        if s.0 == 0 {
                            q.close(!s.1);
                        }
                    });
                });
            if let Err(e) = spawned {
                error!("cannot start an input thread: {e}");
                lifecycle.update(|s| s.0 -= 1);
            }
        }
        let workers = (0..workers_n)
            .filter_map(|w| {
                let sh = shared.clone();
                std::thread::Builder::new()
                    .name(format!("[{}]>worker{w}", settings.id))
                    .spawn(move || worker_loop(&sh))
                    .map_err(|e| error!("cannot start a worker thread: {e}"))
                    .ok()
            })
            .collect();
        let flusher = shared
            .filters
            .iter()
            .any(|f| f.filter.periodic_flush())
            .then(|| {
                let (sh, lc) = (shared.clone(), lifecycle.clone());
                std::thread::Builder::new()
                    .name(format!("[{}]flusher", settings.id))
                    .spawn(move || flusher_loop(&sh, &lc))
                    .map_err(|e| error!("cannot start the filter flusher: {e}"))
                    .ok()
            })
            .flatten();
        Pipeline {
            shared,
            stop,
            lifecycle,
            input_failed,
            workers,
            flusher,
            metrics,
        }
    }

    pub fn stats(&self) -> Arc<PipelineStats> {
        self.shared.stats.clone()
    }

    /// Handles on this instance's counters (pipeline, plugins, queue) for the monitoring API.
    pub fn metrics(&self) -> PipelineMetrics {
        self.metrics.clone()
    }

    pub fn id(&self) -> &str {
        &self.shared.settings.id
    }

    /// Asks inputs to stop. Events in a memory queue are still processed; a persisted queue
    /// keeps what workers have not taken for the next start.
    pub fn request_stop(&self) {
        self.stop_inputs(false);
    }

    /// Stops the inputs and lets the workers process everything queued (a pipeline fed by
    /// others whose senders have all finished).
    pub fn finish(&self) {
        self.stop_inputs(true);
    }

    fn stop_inputs(&self, drain: bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.queue.close(drain);
        self.lifecycle.update(|s| s.1 = !drain);
    }

    /// Names of the input plugins (`pipeline` inputs are fed by other pipelines).
    pub fn input_names(&self) -> Vec<String> {
        self.metrics.inputs.iter().map(|i| i.name.clone()).collect()
    }

    /// Calls `f` once every input has finished or a stop was requested (at once if that is so
    /// already): whoever waits on `inputs_done` learns it then rather than at its next poll.
    pub fn when_inputs_done(&self, f: impl Fn() + Send + 'static) {
        let st = self
            .lifecycle
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *self
            .lifecycle
            .on_inputs_done
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
        if st.0 == 0 || st.1 {
            self.lifecycle.wake_once();
        }
    }

    /// Whether every input has finished (or a stop was requested).
    pub fn inputs_done(&self) -> bool {
        let st = self
            .lifecycle
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        st.0 == 0 || st.1
    }

    /// After `request_stop`: waits up to `limit` for the input threads to return, so that what
    /// they hold (a listening port) is free for the pipeline that replaces this one. An input
    /// blocked in a read it cannot interrupt (stdin) is not waited for past `limit`.
    pub fn wait_inputs(&self, limit: std::time::Duration) {
        let deadline = Instant::now() + limit;
        let mut st = self
            .lifecycle
            .state
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        while st.0 > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            st = self
                .lifecycle
                .changed
                .wait_timeout(st, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Whether an input failed (and so stopped the pipeline).
    pub fn input_failed(&self) -> bool {
        self.input_failed.load(Ordering::Relaxed)
    }

    /// Waits until the inputs are done, drains the queue through the workers, closes outputs.
    /// False when an input failed or a worker crashed (a bug: the events it held were not
    /// delivered).
    #[must_use]
    pub fn wait(self) -> bool {
        let stopped = {
            let mut st = self
                .lifecycle
                .state
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            while st.0 > 0 && !st.1 {
                st = self
                    .lifecycle
                    .changed
                    .wait(st)
                    .unwrap_or_else(|p| p.into_inner());
            }
            st.1
        };
        debug!(pipeline = %self.shared.settings.id, "inputs finished; draining");
        self.shared.queue.close(!stopped);
        let mut ok = !self.input_failed();
        for w in self.workers {
            if w.join().is_err() {
                error!(pipeline = %self.shared.settings.id, "a pipeline worker crashed; the events it held were not delivered");
                ok = false;
            }
        }
        self.lifecycle.update(|s| s.2 = true);
        if let Some(f) = self.flusher {
            let _ = f.join();
        }
        // The last flush: what stateful filters still hold goes on to the outputs.
        let held = flush_filters(
            &self.shared.filter_tree,
            &self.shared.filters,
            Vec::new(),
            true,
        );
        deliver(&self.shared, held);
        for f in &self.shared.filters {
            f.filter.close();
        }
        for o in self.shared.outputs.iter().flat_map(|(all, _)| all) {
            let mut o = o.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = o.close() {
                error!("closing an output failed: {e}");
            }
        }
        ok
    }
}

fn worker_loop(sh: &Shared) {
    while let Some(batch) = sh
        .queue
        .read_batch(sh.settings.batch_size, sh.settings.batch_delay)
    {
        let started = Instant::now();
        let id = batch.id;
        let evs: Vec<(u32, Event)> = batch
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| (i as u32, e))
            .collect();
        let evs = run_filters(&sh.filter_tree, &sh.filters, evs);
        deliver(sh, evs);
        sh.stats
            .duration_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        // Only now may a persisted queue forget these events.
        sh.queue.ack(id);
    }
}

fn flusher_loop(sh: &Shared, lc: &Lifecycle) {
    let mut last = Instant::now();
    loop {
        {
            let st = lc.state.lock().unwrap_or_else(|p| p.into_inner());
            let (st, _) = lc
                .changed
                .wait_timeout_while(st, FLUSH_EVERY.saturating_sub(last.elapsed()), |s| !s.2)
                .unwrap_or_else(|p| p.into_inner());
            if st.2 {
                return;
            }
        }
        if last.elapsed() >= FLUSH_EVERY {
            last = Instant::now();
            let evs = flush_filters(&sh.filter_tree, &sh.filters, Vec::new(), false);
            deliver(sh, evs);
        }
    }
}

/// Walks the filter tree collecting flushed events: each filter's flush joins the events
/// flowing down from earlier flushes, and all of them go through the filters that follow.
fn flush_filters(
    nodes: &[Node],
    filters: &[FilterNode],
    mut evs: Vec<(u32, Event)>,
    last: bool,
) -> Vec<(u32, Event)> {
    for node in nodes {
        match node {
            Node::Leaf(i) => {
                if !evs.is_empty() {
                    evs = run_filters(std::slice::from_ref(node), filters, evs);
                }
                let f = &filters[*i].filter;
                if last || f.periodic_flush() {
                    evs.extend(f.flush(last).into_iter().map(|e| (0, e)));
                }
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let parts = split(branches, evs);
                evs = Vec::new();
                for (i, p) in parts.into_iter().enumerate() {
                    let body = branches.get(i).map(|b| &b.1).unwrap_or(otherwise);
                    evs.extend(flush_filters(body, filters, p, last));
                }
            }
        }
    }
    evs
}

/// Sends filtered events to the outputs their conditionals pick.
fn deliver(sh: &Shared, evs: Vec<(u32, Event)>) {
    if evs.is_empty() {
        return;
    }
    {
        sh.stats
            .filtered
            .fetch_add(evs.len() as u64, Ordering::Relaxed);
        let mut buckets: Vec<Vec<&Event>> = (0..sh.outputs.len()).map(|_| Vec::new()).collect();
        let refs: Vec<&Event> = evs.iter().map(|(_, e)| e).collect();
        route(&sh.output_tree, refs, &mut buckets);
        for (i, bucket) in buckets.iter().enumerate() {
            if bucket.is_empty() {
                continue;
            }
            let (out, stats) = &sh.outputs[i];
            let _in_flight = stats.in_flight(bucket.len());
            let mut out = instance(out);
            let t = Instant::now();
            match out.receive(bucket) {
                Ok(()) => stats.record(bucket.len(), bucket.len(), t.elapsed()),
                Err(e) => {
                    stats.record(bucket.len(), 0, t.elapsed());
                    error!(pipeline = %sh.settings.id, "output #{i} failed: {e}");
                }
            }
        }
        sh.stats
            .events_out
            .fetch_add(evs.len() as u64, Ordering::Relaxed);
    }
}

/// Which branch an event takes; Err when a comparison cannot be made (the event is dropped).
/// `gave_up` is set when a regex ran out of its budget on the way (it counted as no match).
fn pick(
    branches: &[(crate::condition::Cond, Vec<Node>)],
    e: &Event,
    gave_up: &mut bool,
) -> Result<usize, String> {
    for (i, (c, _)) in branches.iter().enumerate() {
        if c.eval_noting(e, gave_up).map_err(|err| err.0)? {
            return Ok(i);
        }
    }
    Ok(branches.len())
}

/// Splits events by the branch each takes (the last part: no branch, `else`).
fn split(
    branches: &[(crate::condition::Cond, Vec<Node>)],
    evs: Vec<(u32, Event)>,
) -> Vec<Vec<(u32, Event)>> {
    let mut parts: Vec<Vec<(u32, Event)>> = (0..=branches.len()).map(|_| Vec::new()).collect();
    for (o, mut e) in evs {
        let mut gave_up = false;
        let picked = pick(branches, &e, &mut gave_up);
        if gave_up {
            e.tag(crate::condition::REGEX_TIMEOUT_TAG);
        }
        match picked {
            Ok(i) => parts[i].push((o, e)),
            Err(msg) => warn!("{msg}: the event was dropped"),
        }
    }
    parts
}

/// Runs a batch through filters. Each event keeps its batch position so that the batch leaves in
/// input order even when conditionals split it; events a filter creates follow their parent.
fn run_filters(
    nodes: &[Node],
    filters: &[FilterNode],
    mut evs: Vec<(u32, Event)>,
) -> Vec<(u32, Event)> {
    let mut emitted = Vec::new();
    for node in nodes {
        if evs.is_empty() {
            break;
        }
        match node {
            Node::Leaf(i) => {
                let f = &filters[*i];
                let (n_in, t) = (evs.len(), Instant::now());
                let mut out = Vec::with_capacity(evs.len());
                if f.filter.batched() {
                    let (orders, events): (Vec<u32>, Vec<Event>) = evs.into_iter().unzip();
                    let results = f.filter.filter_batch(events);
                    for (o, (mut e, mut new, outcome)) in orders.into_iter().zip(results) {
                        f.apply(outcome, &mut e, &mut new);
                        if !e.is_cancelled() {
                            out.push((o, e));
                        }
                        out.extend(
                            new.into_iter()
                                .filter(|n| !n.is_cancelled())
                                .map(|n| (o, n)),
                        );
                    }
                    f.stats.record(n_in, out.len(), t.elapsed());
                    evs = out;
                    continue;
                }
                for (o, mut e) in evs {
                    f.run(&mut e, &mut emitted);
                    if !e.is_cancelled() {
                        out.push((o, e));
                    }
                    out.extend(
                        emitted
                            .drain(..)
                            .filter(|n| !n.is_cancelled())
                            .map(|n| (o, n)),
                    );
                }
                f.stats.record(n_in, out.len(), t.elapsed());
                evs = out;
            }
            Node::If {
                branches,
                otherwise,
            } => {
                let parts = split(branches, evs);
                let nonempty = parts.iter().filter(|p| !p.is_empty()).count();
                let mut merged = Vec::new();
                for (i, p) in parts.into_iter().enumerate() {
                    if p.is_empty() {
                        continue;
                    }
                    let body = branches.get(i).map(|b| &b.1).unwrap_or(otherwise);
                    merged.extend(run_filters(body, filters, p));
                }
                if nonempty > 1 {
                    merged.sort_by_key(|(o, _)| *o);
                }
                evs = merged;
            }
        }
    }
    evs
}

fn route<'a>(nodes: &[Node], evs: Vec<&'a Event>, buckets: &mut [Vec<&'a Event>]) {
    for node in nodes {
        match node {
            Node::Leaf(i) => buckets[*i].extend(evs.iter().copied()),
            Node::If {
                branches,
                otherwise,
            } => {
                let mut parts: Vec<Vec<&Event>> =
                    (0..=branches.len()).map(|_| Vec::new()).collect();
                for e in &evs {
                    // Events are shared by the outputs here: a regex that gives up is only logged.
                    match pick(branches, e, &mut false) {
                        Ok(i) => parts[i].push(e),
                        Err(msg) => warn!(
                            "{msg}: the event was not sent to the outputs under this condition"
                        ),
                    }
                }
                for (i, p) in parts.into_iter().enumerate() {
                    let body = branches.get(i).map(|b| &b.1).unwrap_or(otherwise);
                    if !p.is_empty() {
                        route(body, p, buckets);
                    }
                }
            }
        }
    }
}
