//! Keeps the process's signal handlers across Ruby's start, which installs its own.

const SIGNALS: [libc::c_int; 9] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGALRM,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGPIPE,
    libc::SIGCHLD,
];

pub struct Saved(Vec<(libc::c_int, libc::sigaction)>);

pub fn save() -> Saved {
    let mut out = Vec::new();
    for sig in SIGNALS {
        // SAFETY: reads the current action into a zeroed struct.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0 {
                out.push((sig, old));
            }
        }
    }
    Saved(out)
}

pub fn restore(saved: &Saved) {
    for (sig, act) in &saved.0 {
        // SAFETY: puts back an action read by `save`.
        unsafe {
            libc::sigaction(*sig, act, std::ptr::null_mut());
        }
    }
}
