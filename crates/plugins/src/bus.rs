//! Pipeline-to-pipeline: the process-wide table of `pipeline { address => ... }` inputs that
//! `pipeline { send_to => [...] }` outputs deliver to, and who sends where (the agent stops
//! senders before their receivers, so nothing is left in between).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Condvar, LazyLock, Mutex, MutexGuard};
use std::time::Duration;

use rstash_pipeline::InputContext;

#[derive(Default)]
struct Inner {
    /// address → (registration token, the listening input's context)
    listeners: HashMap<String, (u64, InputContext)>,
    next_token: u64,
    /// pipeline id → addresses its outputs send to / its inputs listen on.
    sends: HashMap<String, BTreeSet<String>>,
    listens: HashMap<String, BTreeSet<String>>,
}

struct Bus {
    inner: Mutex<Inner>,
    changed: Condvar,
}

static BUS: LazyLock<Bus> = LazyLock::new(|| Bus {
    inner: Mutex::new(Inner::default()),
    changed: Condvar::new(),
});

fn lock() -> MutexGuard<'static, Inner> {
    BUS.inner.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn declare_sender(pipeline: &str, addresses: &[String]) {
    lock()
        .sends
        .entry(pipeline.to_string())
        .or_default()
        .extend(addresses.iter().cloned());
}

pub fn declare_listener(pipeline: &str, address: &str) {
    lock()
        .listens
        .entry(pipeline.to_string())
        .or_default()
        .insert(address.to_string());
}

/// Pipelines that send to an address `pipeline` listens on.
pub fn upstreams(pipeline: &str) -> Vec<String> {
    let g = lock();
    let Some(mine) = g.listens.get(pipeline) else {
        return Vec::new();
    };
    g.sends
        .iter()
        .filter(|(p, to)| p.as_str() != pipeline && to.iter().any(|a| mine.contains(a)))
        .map(|(p, _)| p.clone())
        .collect()
}

/// Registers a listening input; Err when another input already listens on the address.
pub fn listen(address: &str, ctx: InputContext) -> Result<u64, String> {
    let mut g = lock();
    if g.listeners.contains_key(address) {
        return Err(format!(
            "address `{address}` is already used by another pipeline input"
        ));
    }
    g.next_token += 1;
    let token = g.next_token;
    g.listeners.insert(address.to_string(), (token, ctx));
    drop(g);
    BUS.changed.notify_all();
    Ok(token)
}

pub fn unlisten(address: &str, token: u64) {
    let mut g = lock();
    if g.listeners.get(address).is_some_and(|(t, _)| *t == token) {
        g.listeners.remove(address);
    }
}

/// The context of the input listening on `address`, waiting up to `wait` for one to appear.
pub fn target(address: &str, wait: Duration) -> Option<InputContext> {
    let mut g = lock();
    let deadline = std::time::Instant::now() + wait;
    loop {
        if let Some((_, ctx)) = g.listeners.get(address) {
            return Some(ctx.clone());
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        g = BUS
            .changed
            .wait_timeout(g, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}
