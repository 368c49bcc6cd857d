//! One live device's network: a named network namespace (`ip netns`, iproute2) holding a TUN
//! device `tun0` with the device's host address, a default route through it, loopback up and IPv6
//! off (the simulated network is IPv4). The harness keeps the TUN descriptor: it opens the device
//! from a thread that entered the namespace (setns(2)), then uses it from the run's thread.

use std::io::{BufRead as _, Write as _};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// `TUNSETIFF` (linux/if_tun.h): `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `IFF_TUN | IFF_NO_PI`: IP packets without the 4-byte packet-information header.
const TUN_FLAGS: libc::c_short = 0x0001 | 0x1000;
/// The device's name inside its namespace.
pub const TUN_NAME: &str = "tun0";

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// A live device's namespace and TUN device; dropping it kills every process inside and deletes
/// the namespace (and so the device).
pub struct LiveHost {
    /// The namespace's name (`jingle-interop-PID-N`).
    pub netns: String,
    /// The TUN device's descriptor (non-blocking).
    pub tun: Arc<OwnedFd>,
    /// A tcpdump on `tun0`, when [`LiveHost::start_tcpdump`] started one.
    tcpdump: Option<Child>,
}

impl LiveHost {
    /// Creates namespace `netns` with `tun0` holding `host` and the default route through it.
    ///
    /// Errors: without CAP_NET_ADMIN and CAP_SYS_ADMIN, or without iproute2's `ip`, with what failed.
    /// A half-made namespace is removed before the error returns.
    pub fn create(netns: &str, host: Ipv4Addr) -> Result<LiveHost, String> {
        super::register(netns);
        let out = Command::new("ip")
            .args(["netns", "add", netns])
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
        if !out.status.success() {
            super::unregister(netns);
            return Err(format!(
                "ip netns add {netns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let tun = match open_tun_in(netns) {
            Ok(t) => t,
            Err(e) => {
                super::remove_namespace(netns);
                return Err(e);
            }
        };
        // From here on, the value's Drop removes what exists.
        let made = LiveHost {
            netns: netns.to_string(),
            tun: Arc::new(tun),
            tcpdump: None,
        };
        let script = format!(
            "link set lo up\naddr add {host}/32 dev {TUN_NAME}\nlink set {TUN_NAME} up\nroute add default dev {TUN_NAME}\n"
        );
        let mut ip = Command::new("ip")
            .args(["-n", netns, "-batch", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
        ip.stdin
            .take()
            .expect("piped")
            .write_all(script.as_bytes())
            .map_err(|e| e.to_string())?;
        let out = ip.wait_with_output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            let why = format!(
                "configuring {TUN_NAME} in {netns}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return Err(why); // `made` drops: the namespace goes
        }
        Ok(made)
    }

    /// Starts `tcpdump` on `tun0` inside the namespace, writing every packet the device's programs
    /// send and receive to `file` (pcap, link type RAW: IPv4 without a link header), packet by
    /// packet (`-U`), as root (`-Z root`, so it may write where the harness writes). Returns once
    /// tcpdump says it is listening, so the capture holds the run from its first packet. The
    /// capture is independent of the harness's trace: the kernel's view of the device's
    /// interface, taken where the program sits. It ends when the host drops (SIGTERM, then the
    /// namespace's removal).
    ///
    /// Errors: tcpdump missing (Debian package `tcpdump`), or not listening within 5 s, with what
    /// it printed.
    pub fn start_tcpdump(&mut self, file: &Path) -> Result<(), String> {
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.netns,
                "tcpdump",
                "-i",
                TUN_NAME,
                "-n",
                "-U",
                "-s",
                "0",
                "-Z",
                "root",
                "-w",
            ])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `ip netns exec … tcpdump`: {e}"))?;
        let stderr = child.stderr.take().expect("piped");
        let (tx, rx) = std::sync::mpsc::channel();
        // The thread keeps draining stderr after the first line so tcpdump never blocks on it.
        std::thread::spawn(move || {
            let mut said = Vec::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                said.push(line);
                let _ = tx.send(said.join("; "));
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut said = String::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(text) if text.contains("listening on") => {
                    self.tcpdump = Some(child);
                    return Ok(());
                }
                Ok(text) => said = text,
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!(
                        "tcpdump in {} was not listening on {TUN_NAME} within 5 s (is the Debian package `tcpdump` installed?){}",
                        self.netns,
                        if said.is_empty() { String::new() } else { format!(": {said}") }
                    ));
                }
            }
        }
    }
}

impl Drop for LiveHost {
    fn drop(&mut self) {
        if let Some(mut t) = self.tcpdump.take() {
            // SIGTERM lets tcpdump flush and close its file; the namespace's removal kills it
            // anyway if it lingers.
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(t.id() as i32, libc::SIGTERM);
            }
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while matches!(t.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = t.kill();
            let _ = t.wait();
        }
        if !self.netns.is_empty() {
            super::remove_namespace(&self.netns);
        }
    }
}

/// Opens `/dev/net/tun` as `tun0` inside namespace `netns`, from a thread that enters it, and turns
/// IPv6 off there (so the kernel sends no router solicitations into the simulated network).
fn open_tun_in(netns: &str) -> Result<OwnedFd, String> {
    let path = format!("/run/netns/{netns}");
    let ns = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: setns(2) on this short-lived thread only; it ends right after.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(format!("setns into {netns}: {}", std::io::Error::last_os_error()));
            }
            for f in ["all", "default"] {
                // /proc/sys/net is the opening thread's namespace's.
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{f}/disable_ipv6"), "1");
            }
            // SAFETY: open(2) of a constant path.
            let fd = unsafe {
                libc::open(
                    c"/dev/net/tun".as_ptr(),
                    libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK,
                )
            };
            if fd < 0 {
                return Err(format!("/dev/net/tun: {}", std::io::Error::last_os_error()));
            }
            // SAFETY: fd was just opened and is ours alone.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let mut req = IfReq {
                name: [0; 16],
                flags: TUN_FLAGS,
                _pad: [0; 22],
            };
            req.name[..TUN_NAME.len()].copy_from_slice(TUN_NAME.as_bytes());
            // SAFETY: TUNSETIFF reads a struct ifreq, which IfReq lays out.
            if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &req) } != 0 {
                return Err(format!("TUNSETIFF {TUN_NAME}: {}", std::io::Error::last_os_error()));
            }
            Ok(fd)
        })
        .join()
        .unwrap_or_else(|_| Err("the namespace thread panicked".into()))
    })
}
