//! The packets of a live party's TUN device: IPv4/UDP in and out (parsed and built with
//! `etherparse`, checksums included, RFC 791 and RFC 768), and the reader thread that turns them
//! into events of the run.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

/// What the TUN path hands the run loop.
#[derive(Debug)]
pub enum FromTun {
    /// A UDP datagram the program sent, read at `read_at`.
    Datagram {
        /// Source (the program's socket).
        src: SocketAddr,
        /// Destination.
        dst: SocketAddr,
        /// UDP payload.
        payload: Bytes,
        /// When it was read from the device.
        read_at: Instant,
    },
    /// A packet the world cannot carry (IPv6, ICMP, TCP, a fragment): dropped, with why.
    Unsupported {
        /// Source address, port 0 when it has none.
        src: SocketAddr,
        /// Destination address, port 0 when it has none.
        dst: SocketAddr,
        /// Why it was dropped, for the trace (`not UDP: ICMP`).
        reason: String,
    },
}

/// DNS over UDP (RFC 1035 §4.2.1).
const DNS_PORT: u16 = 53;

/// Reads one packet as the world sees it.
pub fn parse(packet: &[u8], read_at: Instant) -> FromTun {
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};
    let none = SocketAddr::from(([0, 0, 0, 0], 0));
    let sliced = match SlicedPacket::from_ip(packet) {
        Ok(s) => s,
        Err(e) => {
            return FromTun::Unsupported {
                src: none,
                dst: none,
                reason: format!("not an IP packet the harness can read ({e})"),
            }
        }
    };
    let (src, dst, fragmented) = match &sliced.net {
        Some(NetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
            v4.is_payload_fragmented(),
        ),
        Some(NetSlice::Ipv6(v6)) => {
            return FromTun::Unsupported {
                src: SocketAddr::new(IpAddr::V6(v6.header().source_addr()), 0),
                dst: SocketAddr::new(IpAddr::V6(v6.header().destination_addr()), 0),
                reason: "IPv6: the simulated network carries IPv4 only".into(),
            }
        }
        _ => {
            return FromTun::Unsupported {
                src: none,
                dst: none,
                reason: "not IPv4".into(),
            }
        }
    };
    if fragmented {
        return FromTun::Unsupported {
            src: SocketAddr::new(src, 0),
            dst: SocketAddr::new(dst, 0),
            reason: "IPv4 fragment: the simulated network carries whole datagrams only".into(),
        };
    }
    match &sliced.transport {
        // A program's name lookups (a browser's, for one) are not part of the call, and the
        // simulated network runs no resolver (RFC 1035 §4.2.1: DNS over UDP is port 53).
        Some(TransportSlice::Udp(udp)) if udp.destination_port() == DNS_PORT => FromTun::Unsupported {
            src: SocketAddr::new(src, udp.source_port()),
            dst: SocketAddr::new(dst, udp.destination_port()),
            reason: "DNS (UDP port 53): not part of the call; the simulated network runs no resolver".into(),
        },
        Some(TransportSlice::Udp(udp)) => FromTun::Datagram {
            src: SocketAddr::new(src, udp.source_port()),
            dst: SocketAddr::new(dst, udp.destination_port()),
            payload: Bytes::copy_from_slice(udp.payload()),
            read_at,
        },
        other => FromTun::Unsupported {
            src: SocketAddr::new(src, 0),
            dst: SocketAddr::new(dst, 0),
            reason: match other {
                Some(TransportSlice::Tcp(_)) => "TCP: live parties have UDP only (TURN over TCP/TLS is not carried)",
                Some(TransportSlice::Icmpv4(_)) => "ICMP: not carried by the simulated network",
                _ => "neither UDP nor TCP",
            }
            .into(),
        },
    }
}

/// The IPv4/UDP packet carrying `payload` from `src` to `dst` (TTL 64, both checksums set).
/// `None` when either address is IPv6 or the payload does not fit a UDP datagram.
pub fn build(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let (IpAddr::V4(s), IpAddr::V4(d)) = (src.ip(), dst.ip()) else {
        return None;
    };
    let builder = etherparse::PacketBuilder::ipv4(s.octets(), d.octets(), 64).udp(src.port(), dst.port());
    let mut out = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut out, payload).ok()?;
    Some(out)
}

/// Writes one packet to the device. A full device queue loses the packet, as a real interface
/// would; the caller records it.
pub fn write(fd: &OwnedFd, packet: &[u8]) -> std::io::Result<()> {
    // SAFETY: write(2) of a valid buffer to a descriptor we own.
    let n = unsafe { libc::write(fd.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
    if n < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads packets from `fd` until `stop` is set, handing each to `tx` wrapped by `wrap`; polls every
/// 50 ms for `stop`. Runs on its own thread ([`spawn_reader`]).
fn read_loop<T>(fd: Arc<OwnedFd>, stop: Arc<AtomicBool>, tx: Sender<T>, wrap: impl Fn(FromTun) -> T) {
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let mut pfd = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll(2) on one pollfd we own.
        let ready = unsafe { libc::poll(&mut pfd, 1, 50) };
        if ready <= 0 {
            continue;
        }
        // SAFETY: read(2) into our buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            continue;
        }
        if tx.send(wrap(parse(&buf[..n as usize], Instant::now()))).is_err() {
            return;
        }
    }
}

/// Starts the reader thread of one TUN device; it ends once `stop` is set or the receiver is gone.
pub fn spawn_reader<T: Send + 'static>(
    fd: Arc<OwnedFd>,
    stop: Arc<AtomicBool>,
    tx: Sender<T>,
    wrap: impl Fn(FromTun) -> T + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("live-tun".into())
        .spawn(move || read_loop(fd, stop, tx, wrap))
        .expect("spawn a TUN reader")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_packet_reads_back_with_valid_checksums() {
        let src: SocketAddr = "10.0.1.2:50000".parse().unwrap();
        let dst: SocketAddr = "192.0.2.10:3478".parse().unwrap();
        let pkt = build(src, dst, b"hello").unwrap();
        assert_eq!(pkt.len(), 20 + 8 + 5);
        let h = etherparse::Ipv4HeaderSlice::from_slice(&pkt).unwrap();
        assert_eq!(h.header_checksum(), h.to_header().calc_header_checksum());
        let udp = etherparse::UdpHeaderSlice::from_slice(&pkt[20..]).unwrap().to_header();
        assert_eq!(
            udp.checksum,
            udp.calc_checksum_ipv4_raw([10, 0, 1, 2], [192, 0, 2, 10], b"hello")
                .unwrap()
        );
        match parse(&pkt, Instant::now()) {
            FromTun::Datagram {
                src: s,
                dst: d,
                payload,
                ..
            } => {
                assert_eq!((s, d), (src, dst));
                assert_eq!(&payload[..], b"hello");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_is_not_udp_over_ipv4_is_dropped_with_a_reason() {
        let icmp = etherparse::PacketBuilder::ipv4([10, 0, 1, 2], [192, 0, 2, 10], 64).icmpv4_echo_request(1, 1);
        let mut pkt = Vec::new();
        icmp.write(&mut pkt, b"ping").unwrap();
        match parse(&pkt, Instant::now()) {
            FromTun::Unsupported { reason, .. } => assert!(reason.starts_with("ICMP"), "{reason}"),
            other => panic!("{other:?}"),
        }
        let dns = etherparse::PacketBuilder::ipv4([10, 0, 1, 2], [10, 255, 255, 53], 64).udp(40000, 53);
        let mut pkt = Vec::new();
        dns.write(&mut pkt, b"query").unwrap();
        match parse(&pkt, Instant::now()) {
            FromTun::Unsupported { reason, .. } => assert!(reason.starts_with("DNS"), "{reason}"),
            other => panic!("{other:?}"),
        }
        match parse(b"\x00garbage", Instant::now()) {
            FromTun::Unsupported { reason, .. } => assert!(reason.contains("not an IP packet"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }
}
