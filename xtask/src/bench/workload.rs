//! Synthetic UDP workloads on the simulator core (`Net` + `EventQueue`), without endpoints, servers or
//! the judge: the ceiling of what one run can cost per event, and our half of the turmoil comparison.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use harness::net::nat::NatBehaviour;
use harness::net::{Attach, InFlight, LinkParams, Net};
use harness::sim::EventQueue;
use harness::trace::Trace;
use harness::SimTime;

/// The UDP port every synthetic host binds.
pub const PORT: u16 = 9000;
/// Payload size of every synthetic datagram (the same on the turmoil side).
pub const PAYLOAD: usize = 32;

/// Who each host sends to.
#[derive(Clone, Copy, Debug)]
pub enum Topology {
    /// Host `i` sends to host `i + 1` (mod N): what the turmoil comparison runs.
    Ring,
    /// Host `i` sends to host `i ^ 1`, so each NAT has sent to the address it receives from and a
    /// port-restricted cone NAT lets the replies in.
    Pairs,
}

/// One synthetic workload: every host sends a datagram every `interval` for `duration`.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Number of hosts, each on its own site.
    pub hosts: usize,
    /// Who sends to whom.
    pub topology: Topology,
    /// Time between two datagrams of one host.
    pub interval: Duration,
    /// Simulated time during which hosts send.
    pub duration: Duration,
    /// One-way host-to-host latency (each access link carries half).
    pub one_way: Duration,
    /// NAT chain in front of every host; empty for public hosts.
    pub nats: Vec<NatBehaviour>,
}

impl Workload {
    /// Datagrams each host sends (and, in both topologies, receives).
    pub fn per_host(&self) -> u64 {
        (self.duration.as_micros() / self.interval.as_micros()) as u64
    }
}

/// What one execution of a workload did and how long it took.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Events popped from the queue (send timers plus arrivals).
    pub events: u64,
    /// Datagrams handed to `Net::send`.
    pub sent: u64,
    /// Datagrams delivered to the intended host.
    pub delivered: u64,
    /// Trace events recorded (the trace is recorded in full, then discarded in chunks to bound memory).
    pub trace_events: u64,
    /// Wall time, world construction included.
    pub wall: Duration,
}

enum Ev {
    Send(usize),
    /// A datagram in flight and the host it is meant for.
    Arrive(InFlight, usize),
}

// Addresses from a u32 so hundreds of hosts need no octet arithmetic; each site's LAN is private to
// it, so every host can use the same private address.
fn public_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 100, 0, 1)) + i as u32))
}
const PRIVATE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));

/// Runs `w` once on our simulator core and returns what happened.
pub fn run(w: &Workload) -> Outcome {
    let started = Instant::now();
    let n = w.hosts;
    assert!(n >= 2, "a workload needs at least two hosts");
    assert!(
        matches!(w.topology, Topology::Ring) || n.is_multiple_of(2),
        "pairs need an even number of hosts"
    );
    let link = LinkParams {
        latency: w.one_way / 2,
        ..Default::default()
    };
    let mut net = Net::new();
    let mut local = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("h{i}");
        let ext: Vec<IpAddr> = (0..w.nats.len()).map(|_| public_ip(i)).collect();
        // A multi-NAT chain would need distinct inner addresses; the workloads use zero or one NAT.
        assert!(w.nats.len() <= 1, "synthetic workloads use at most one NAT per host");
        let site = net.add_site(&name, &w.nats, None, &ext, link.clone(), 1);
        let ip = if w.nats.is_empty() { public_ip(i) } else { PRIVATE_IP };
        net.attach(site, Attach::Endpoint(i), ip, &name);
        local.push(SocketAddr::new(ip, PORT));
    }
    let dest = |i: usize| match w.topology {
        Topology::Ring => (i + 1) % n,
        Topology::Pairs => i ^ 1,
    };
    // Every NAT preserves the port when free, so a host's public address is its public IP and PORT.
    let remote: Vec<SocketAddr> = (0..n).map(|i| SocketAddr::new(public_ip(dest(i)), PORT)).collect();
    let payload = Bytes::from_static(&[0x5a; PAYLOAD]);
    let end = SimTime::ZERO + w.duration;
    let mut q = EventQueue::new();
    for i in 0..n {
        q.push(SimTime::ZERO, Ev::Send(i));
    }
    let mut trace = Trace::default();
    let mut o = Outcome {
        events: 0,
        sent: 0,
        delivered: 0,
        trace_events: 0,
        wall: Duration::ZERO,
    };
    while let Some((now, ev)) = q.pop() {
        o.events += 1;
        match ev {
            Ev::Send(i) => {
                o.sent += 1;
                if let Some((at, f)) = net.send(
                    now,
                    Attach::Endpoint(i),
                    local[i],
                    remote[i],
                    payload.clone(),
                    &mut trace,
                ) {
                    q.push(at, Ev::Arrive(f, dest(i)));
                }
                let next = now + w.interval;
                if next < end {
                    q.push(next, Ev::Send(i));
                }
            }
            Ev::Arrive(f, to) => {
                // Only the intended receiver counts, so a routing bug cannot pass as speed.
                if net
                    .arrive(now, f, &mut trace)
                    .is_some_and(|d| d.to == Attach::Endpoint(to))
                {
                    o.delivered += 1;
                }
            }
        }
        // Recording stays in the measured path; keeping it would only measure the allocator's growth.
        if trace.events.len() >= 1 << 16 {
            o.trace_events += trace.events.len() as u64;
            trace.events.clear();
        }
    }
    o.trace_events += trace.events.len() as u64;
    o.wall = started.elapsed();
    o
}

/// Pure queue throughput: `timers` periodic timers, `ops` pops each followed by a push. The ceiling of
/// the event loop itself, with no network behind it.
pub fn queue_only(timers: u64, ops: u64) -> (u64, Duration) {
    let started = Instant::now();
    let mut q = EventQueue::new();
    for i in 0..timers {
        q.push(SimTime::from_micros(i), i);
    }
    let mut popped = 0u64;
    let mut check = 0u64;
    while popped < ops {
        let (t, id) = q.pop().expect("the queue never drains: every pop pushes");
        check = check.wrapping_add(id);
        popped += 1;
        q.push(t + Duration::from_micros(timers + id % 7), id);
    }
    std::hint::black_box(check);
    (popped, started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_delivers_every_datagram() {
        let w = Workload {
            hosts: 3,
            topology: Topology::Ring,
            interval: Duration::from_millis(20),
            duration: Duration::from_secs(1),
            one_way: Duration::from_millis(20),
            nats: Vec::new(),
        };
        let o = run(&w);
        assert_eq!(o.sent, 150);
        assert_eq!(o.delivered, 150);
        assert_eq!(o.events, 300);
    }

    #[test]
    fn pairs_behind_port_restricted_nats_deliver_every_datagram() {
        let nats = harness::net::nat_profiles()["port-restricted-cone"].nats.clone();
        let w = Workload {
            hosts: 4,
            topology: Topology::Pairs,
            interval: Duration::from_millis(20),
            duration: Duration::from_secs(1),
            one_way: Duration::from_millis(40),
            nats,
        };
        let o = run(&w);
        assert_eq!(o.delivered, 200);
        // Host and NAT outside on both ends: four observations per datagram.
        assert_eq!(o.trace_events, 800);
    }
}
