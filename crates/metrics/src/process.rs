//! The process's own readings from `/proc/self` (Linux): CPU time, memory, file descriptors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub cpu_total_ms: u64,
    /// CPU used since the previous snapshot, as a percentage of one core.
    pub cpu_percent: u64,
    pub rss_bytes: u64,
    pub virtual_bytes: u64,
    pub threads: u64,
    pub open_fds: u64,
    pub peak_open_fds: u64,
    pub max_fds: u64,
    pub load_average: [f64; 3],
    pub uptime_ms: u64,
}

/// Remembers what percentages and peaks need: the previous reading and the start time.
pub struct Process {
    started: Instant,
    last: Mutex<(Instant, u64)>,
    peak_fds: AtomicU64,
}

impl Default for Process {
    fn default() -> Self {
        Process::new()
    }
}

impl Process {
    pub fn new() -> Process {
        let now = Instant::now();
        Process {
            started: now,
            last: Mutex::new((now, cpu_ms())),
            peak_fds: AtomicU64::new(0),
        }
    }

    pub fn uptime_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub fn snapshot(&self) -> Snapshot {
        let cpu = cpu_ms();
        let now = Instant::now();
        let percent = {
            let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
            let wall = now.duration_since(last.0).as_millis() as u64;
            let p = (cpu.saturating_sub(last.1) * 100)
                .checked_div(wall)
                .unwrap_or(0);
            *last = (now, cpu);
            p
        };
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = |key: &str| status_field(&status, key) * 1024;
        let open = std::fs::read_dir("/proc/self/fd")
            .map(|d| d.count() as u64)
            .unwrap_or(0);
        let peak = self.peak_fds.fetch_max(open, Ordering::Relaxed).max(open);
        Snapshot {
            cpu_total_ms: cpu,
            cpu_percent: percent,
            rss_bytes: kb("VmRSS:"),
            virtual_bytes: kb("VmSize:"),
            threads: status_field(&status, "Threads:"),
            open_fds: open,
            peak_open_fds: peak,
            max_fds: max_fds(),
            load_average: load_average(),
            uptime_ms: self.uptime_ms(),
        }
    }
}

fn status_field(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User + system CPU time of the whole process, from getrusage.
pub fn cpu_ms() -> u64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0;
    }
    let ms = |t: libc::timeval| t.tv_sec as u64 * 1000 + t.tv_usec as u64 / 1000;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

fn max_fds() -> u64 {
    // SAFETY: getrlimit only writes into the struct we pass.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        return 0;
    }
    rl.rlim_cur
}

fn load_average() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_those_of_this_process() {
        let p = Process::new();
        let keep: Vec<_> = (0..5)
            .filter_map(|_| std::fs::File::open("/proc/self/status").ok())
            .collect();
        let s = p.snapshot();
        assert!(s.rss_bytes > 1 << 20, "{s:?}");
        assert!(s.virtual_bytes >= s.rss_bytes);
        assert!(s.open_fds >= keep.len() as u64 + 3, "{s:?}");
        assert!(s.peak_open_fds >= s.open_fds);
        assert!(s.max_fds >= s.open_fds);
        assert!(s.threads >= 1);
        drop(keep);
        // Burn some CPU: the total must move.
        let before = cpu_ms();
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(cpu_ms() >= before + 20);
    }
}
