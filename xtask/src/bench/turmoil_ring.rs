//! The turmoil half of the side-by-side comparison: the same ring workload as
//! [`super::workload::Topology::Ring`], written as turmoil clients on turmoil's simulated UDP, stepped at
//! a fixed tick.

use std::cell::Cell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::workload::{PAYLOAD, PORT};

/// What one turmoil simulation did and how long it took.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Datagrams sent by all hosts.
    pub sent: u64,
    /// Datagrams received by all hosts.
    pub received: u64,
    /// Simulation steps (ticks) taken.
    pub ticks: u64,
    /// Wall time, simulation construction included.
    pub wall: Duration,
}

/// Runs `hosts` turmoil clients in a ring, each sending a datagram every `interval` for `duration` to the
/// next one, with a fixed one-way latency `one_way` and a `tick` per step.
///
/// Errors: turmoil's, e.g. when the clients did not finish within the simulation duration.
pub fn run(
    hosts: usize,
    interval: Duration,
    duration: Duration,
    one_way: Duration,
    tick: Duration,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let per_host = (duration.as_micros() / interval.as_micros()) as u64;
    let mut sim = turmoil::Builder::new()
        // Room for the last datagram's flight; a client that is not done by then is an error.
        .simulation_duration(duration + one_way * 4 + Duration::from_secs(1))
        .tick_duration(tick)
        .min_message_latency(one_way)
        .max_message_latency(one_way)
        .rng_seed(1)
        .build();
    let sent = Rc::new(Cell::new(0u64));
    let received = Rc::new(Cell::new(0u64));
    for i in 0..hosts {
        let next = format!("h{}", (i + 1) % hosts);
        let (sent, received) = (sent.clone(), received.clone());
        sim.client(format!("h{i}"), async move {
            let sock = turmoil::net::UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), PORT)).await?;
            let dst = SocketAddr::new(turmoil::lookup(next), PORT);
            let payload = [0x5au8; PAYLOAD];
            let mut buf = [0u8; 2 * PAYLOAD];
            let start = tokio::time::Instant::now();
            let (mut tx, mut rx) = (0u64, 0u64);
            while tx < per_host || rx < per_host {
                if tx < per_host {
                    // Receive until the next send is due, then send: one task, no spawn, no select!.
                    let due = start + interval * tx as u32;
                    match tokio::time::timeout_at(due, sock.recv_from(&mut buf)).await {
                        Ok(r) => {
                            r?;
                            rx += 1;
                        }
                        Err(_) => {
                            sock.send_to(&payload, dst).await?;
                            tx += 1;
                        }
                    }
                } else {
                    sock.recv_from(&mut buf).await?;
                    rx += 1;
                }
            }
            sent.set(sent.get() + tx);
            received.set(received.get() + rx);
            Ok(())
        });
    }
    let mut ticks = 0u64;
    loop {
        ticks += 1;
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err(format!("turmoil: {e}")),
        }
    }
    Ok(Outcome {
        sent: sent.get(),
        received: received.get(),
        ticks,
        wall: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn ring_of_three_delivers_every_datagram() {
        let o = super::run(
            3,
            std::time::Duration::from_millis(20),
            std::time::Duration::from_secs(1),
            std::time::Duration::from_millis(20),
            std::time::Duration::from_millis(1),
        )
        .unwrap();
        assert_eq!((o.sent, o.received), (150, 150));
    }
}
