//! Live mode: real programs behind the simulated network, in real time.
//!
//! A live party's device gets its own Linux network namespace with a TUN device holding the
//! device's host address and a default route through it ([`netns::LiveHost`]). IPv4/UDP packets
//! read from the TUN file descriptor enter the world at the host's observation point; datagrams the
//! world delivers to the host are written back with correct checksums ([`tun`]). The run's event
//! loop then follows the monotonic clock (`run::run`). The program itself speaks
//! `jingle-interop/live/1` (impls/live/PROTOCOL.md) for its signalling.
//!
//! Hygiene: every namespace this process creates is listed in a process-wide table while it exists;
//! [`cleanup_all`] (called on SIGINT/SIGTERM, see [`install_signal_cleanup`]) and `Drop` remove
//! them with the processes inside. A harness killed with SIGKILL leaves its namespaces behind;
//! [`sweep_leftovers`] finds them by name at the next start (`PREFIX` + the dead harness's pid) and
//! removes them.

pub mod netns;
pub mod tun;

use std::sync::Mutex;

/// Every namespace of live mode is named `jingle-interop-PID-N`: the harness's process id, then a
/// counter, so two runs (or two harnesses) never collide and leftovers name their dead owner.
pub const PREFIX: &str = "jingle-interop-";

/// What a run needing live mode says without CAP_NET_ADMIN and CAP_SYS_ADMIN.
pub const NEEDS_ROOT: &str = "live mode needs root (network namespaces and TUN devices)";

/// Where `ip netns` keeps its named namespaces.
const NETNS_DIR: &str = "/run/netns";

/// Namespaces this process created and has not yet removed.
static ACTIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether this process may create network namespaces and TUN devices: its effective capabilities
/// (`CapEff` in /proc/self/status) hold CAP_NET_ADMIN (12) and CAP_SYS_ADMIN (21), as root's do.
pub fn privileged() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << 12) != 0 && caps & (1 << 21) != 0)
}

/// A fresh namespace name for this process: `jingle-interop-PID-N`.
pub fn fresh_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{PREFIX}{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The namespaces of live mode that exist now (`/run/netns/jingle-interop-*`), sorted.
pub fn existing() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(NETNS_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with(PREFIX))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Removes the namespaces left by harnesses that no longer run (killed with SIGKILL, say): those
/// whose name carries the pid of a process that does not exist. Returns the names removed.
pub fn sweep_leftovers() -> Vec<String> {
    let mut removed = Vec::new();
    for name in existing() {
        let owner = name[PREFIX.len()..]
            .split('-')
            .next()
            .and_then(|p| p.parse::<u32>().ok());
        let alive = owner.is_some_and(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            remove_namespace(&name);
            removed.push(name);
        }
    }
    removed
}

/// Removes every namespace this process still has, with the processes inside (SIGINT/SIGTERM path).
pub fn cleanup_all() {
    let names = std::mem::take(&mut *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()));
    for n in names {
        remove_namespace(&n);
    }
}

/// Blocks SIGINT and SIGTERM in this thread (and so in every thread it starts afterwards) and
/// starts a thread that waits for them: on either, it removes every live namespace
/// ([`cleanup_all`]) and exits with 128 + the signal's number. Call once, from `main`, before any
/// worker starts. Child processes start with an empty signal mask (the standard library resets it).
pub fn install_signal_cleanup() {
    // SAFETY: plain libc calls on a local, zero-initialised sigset_t.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let set = set;
        std::thread::Builder::new()
            .name("live-signals".into())
            .spawn(move || {
                let mut sig: libc::c_int = 0;
                if libc::sigwait(&set, &mut sig) == 0 {
                    cleanup_all();
                    std::process::exit(128 + sig);
                }
            })
            .expect("spawn the signal thread");
    }
}

fn register(name: &str) {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).push(name.to_string());
}

fn unregister(name: &str) {
    ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).retain(|n| n != name);
}

/// Kills every process inside namespace `name` (SIGKILL) and deletes it. Errors are ignored: a
/// namespace someone else removed meanwhile is gone either way.
pub fn remove_namespace(name: &str) {
    if let Ok(out) = std::process::Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            if let Ok(pid) = pid.parse::<i32>() {
                // SAFETY: kill(2) with a pid read from `ip netns pids`.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
    let _ = std::process::Command::new("ip")
        .args(["netns", "delete", name])
        .stderr(std::process::Stdio::null())
        .status();
    unregister(name);
}
