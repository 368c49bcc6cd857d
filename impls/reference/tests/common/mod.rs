//! A two-agent fixture: two ICE agents joined by a programmable wire that jumps to the next event.

#![allow(dead_code)]

pub mod endpoint;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use harness::sim::SimRng;
use harness::SimTime;
use reference::ice::{priority, Candidate, CandidateType, IceAgent, IceConfig, IceEvent, IceState, Role};

/// A datagram in flight.
pub struct Flight {
    pub at: SimTime,
    pub to_left: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub payload: Vec<u8>,
}

/// One datagram as sent, lost or not.
pub struct Sent {
    pub at: SimTime,
    pub by_left: bool,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub payload: Vec<u8>,
}

/// Left is controlling, right controlled. `drop_until` discards everything sent before that time in
/// the given direction, standing in for a NAT whose filter is not open yet; `blocked` does the same
/// for every datagram from or to one address.
pub struct Pair {
    pub left: IceAgent,
    pub right: IceAgent,
    pub now: SimTime,
    pub latency: Duration,
    pub flights: VecDeque<Flight>,
    pub drop_to_right_until: SimTime,
    pub drop_to_left_until: SimTime,
    /// (address, until): datagrams from or to the address are lost before that time.
    pub blocked: Vec<(SocketAddr, SimTime)>,
    pub sent_to_right: Vec<(SimTime, Vec<u8>)>,
    pub sent_to_left: Vec<(SimTime, Vec<u8>)>,
    /// Every datagram either agent sent, with its addresses, in order.
    pub sent: Vec<Sent>,
    pub events_left: Vec<(SimTime, IceEvent)>,
    pub events_right: Vec<(SimTime, IceEvent)>,
}

pub const L: &str = "192.0.2.1:5000";
pub const R: &str = "198.51.100.1:6000";

/// A second host address of the right agent (another interface), with a lower local preference.
pub const R2: &str = "198.51.100.2:6000";

/// A host candidate on `addr` with local preference 65535.
pub fn host(addr: &str) -> Candidate {
    host_with_pref(addr, 65535, "1")
}

/// A host candidate on `addr` with local preference `local_pref` and `foundation`.
pub fn host_with_pref(addr: &str, local_pref: u16, foundation: &str) -> Candidate {
    let a: SocketAddr = addr.parse().unwrap();
    Candidate {
        addr: a,
        base: a,
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, local_pref, 1),
        foundation: foundation.into(),
        component: 1,
    }
}

impl Pair {
    /// Both agents with `cfg`, one host candidate each, each knowing the other's.
    pub fn new(cfg: IceConfig) -> Pair {
        Pair::with_configs(cfg.clone(), cfg)
    }

    /// Left with `left_cfg`, right with `right_cfg`, one host candidate each, each knowing the other's.
    pub fn with_configs(left_cfg: IceConfig, right_cfg: IceConfig) -> Pair {
        let mut p = Pair::bare(left_cfg, right_cfg);
        p.left.add_local_candidate(host(L));
        p.right.add_local_candidate(host(R));
        p.left.add_remote_candidate(host(R));
        p.right.add_remote_candidate(host(L));
        p
    }

    /// Two agents that know each other's credentials and no candidates yet.
    pub fn bare(left_cfg: IceConfig, right_cfg: IceConfig) -> Pair {
        let mut left = IceAgent::new(Role::Controlling, left_cfg, SimRng::derive(1, "left"));
        let mut right = IceAgent::new(Role::Controlled, right_cfg, SimRng::derive(1, "right"));
        let (lu, lp) = left.local_credentials();
        let (lu, lp) = (lu.to_string(), lp.to_string());
        let (ru, rp) = right.local_credentials();
        let (ru, rp) = (ru.to_string(), rp.to_string());
        left.set_remote_credentials(&ru, &rp);
        right.set_remote_credentials(&lu, &lp);
        Pair {
            left,
            right,
            now: SimTime::ZERO,
            latency: Duration::from_millis(20),
            flights: VecDeque::new(),
            drop_to_right_until: SimTime::ZERO,
            drop_to_left_until: SimTime::ZERO,
            blocked: Vec::new(),
            sent_to_right: Vec::new(),
            sent_to_left: Vec::new(),
            sent: Vec::new(),
            events_left: Vec::new(),
            events_right: Vec::new(),
        }
    }

    fn blocked(&self, a: SocketAddr, b: SocketAddr) -> bool {
        self.blocked
            .iter()
            .any(|(x, until)| (*x == a || *x == b) && self.now < *until)
    }

    fn collect(&mut self) {
        while let Some(t) = self.left.poll_transmit() {
            self.sent_to_right.push((self.now, t.payload.clone()));
            self.sent.push(Sent {
                at: self.now,
                by_left: true,
                local: t.local,
                remote: t.remote,
                payload: t.payload.clone(),
            });
            if self.now >= self.drop_to_right_until && !self.blocked(t.local, t.remote) {
                self.flights.push_back(Flight {
                    at: self.now + self.latency,
                    to_left: false,
                    local: t.remote,
                    remote: t.local,
                    payload: t.payload,
                });
            }
        }
        while let Some(t) = self.right.poll_transmit() {
            self.sent_to_left.push((self.now, t.payload.clone()));
            self.sent.push(Sent {
                at: self.now,
                by_left: false,
                local: t.local,
                remote: t.remote,
                payload: t.payload.clone(),
            });
            if self.now >= self.drop_to_left_until && !self.blocked(t.local, t.remote) {
                self.flights.push_back(Flight {
                    at: self.now + self.latency,
                    to_left: true,
                    local: t.remote,
                    remote: t.local,
                    payload: t.payload,
                });
            }
        }
        while let Some(e) = self.left.poll_event() {
            self.events_left.push((self.now, e));
        }
        while let Some(e) = self.right.poll_event() {
            self.events_right.push((self.now, e));
        }
    }

    /// Jumps to the next event (a timeout or an arrival) and handles it. False when nothing is left.
    pub fn step(&mut self) -> bool {
        self.step_before(SimTime::MAX)
    }

    /// Like `step`, but never past `limit`: when the next event is later, time stops at `limit`.
    pub fn step_before(&mut self, limit: SimTime) -> bool {
        self.collect();
        let next_flight = self.flights.iter().map(|f| f.at).min();
        let candidates = [self.left.poll_timeout(), self.right.poll_timeout(), next_flight];
        let Some(t) = candidates.into_iter().flatten().min() else {
            return false;
        };
        if t > limit {
            self.now = limit;
            return false;
        }
        self.now = t.max(self.now);
        if let Some(i) = self.flights.iter().position(|f| f.at <= self.now) {
            let f = self.flights.remove(i).unwrap();
            let agent = if f.to_left { &mut self.left } else { &mut self.right };
            agent.handle_packet(self.now, f.local, f.remote, &f.payload);
        } else {
            if self.left.poll_timeout().is_some_and(|x| x <= self.now) {
                self.left.handle_timeout(self.now);
            }
            if self.right.poll_timeout().is_some_and(|x| x <= self.now) {
                self.right.handle_timeout(self.now);
            }
        }
        self.collect();
        true
    }

    /// Steps until both agents are Completed or Failed, or `limit` of simulated time, or 100 000 steps
    /// (a runaway guard, not a timing assertion).
    pub fn run_until_settled(&mut self, limit: Duration) {
        let end = SimTime::ZERO + limit;
        for _ in 0..100_000 {
            let done = |s: IceState| matches!(s, IceState::Completed | IceState::Failed);
            if (done(self.left.state()) && done(self.right.state())) || self.now > end || !self.step() {
                return;
            }
        }
        panic!("runaway: 100000 steps without settling");
    }
}

impl Pair {
    /// The Binding requests one side sent, as (time, local, remote, message), retransmissions included.
    pub fn requests(&self, by_left: bool) -> Vec<(SimTime, SocketAddr, SocketAddr, harness::stun::Message)> {
        self.sent
            .iter()
            .filter(|s| s.by_left == by_left)
            .filter_map(|s| {
                let m = harness::stun::Message::decode(&s.payload).ok()?;
                (m.class == harness::stun::Class::Request).then_some((s.at, s.local, s.remote, m))
            })
            .collect()
    }

    /// Steps until simulated time reaches `t` (events at `t` are handled).
    pub fn run_until(&mut self, t: SimTime) {
        for _ in 0..100_000 {
            if !self.step_before(t) {
                return;
            }
        }
        panic!("runaway: 100000 steps before {t:?}");
    }
}
