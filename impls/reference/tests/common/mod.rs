//! A two-agent fixture: two ICE agents joined by a programmable wire that jumps to the next event.

#![allow(dead_code)]

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

/// Left is controlling, right controlled. `drop_until` discards everything sent before that time in
/// the given direction, standing in for a NAT whose filter is not open yet.
pub struct Pair {
    pub left: IceAgent,
    pub right: IceAgent,
    pub now: SimTime,
    pub latency: Duration,
    pub flights: VecDeque<Flight>,
    pub drop_to_right_until: SimTime,
    pub drop_to_left_until: SimTime,
    pub sent_to_right: Vec<(SimTime, Vec<u8>)>,
    pub sent_to_left: Vec<(SimTime, Vec<u8>)>,
    pub events_left: Vec<(SimTime, IceEvent)>,
    pub events_right: Vec<(SimTime, IceEvent)>,
}

pub const L: &str = "192.0.2.1:5000";
pub const R: &str = "198.51.100.1:6000";

fn host(addr: &str) -> Candidate {
    let a: SocketAddr = addr.parse().unwrap();
    Candidate {
        addr: a,
        base: a,
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, 65535, 1),
        foundation: "1".into(),
        component: 1,
    }
}

impl Pair {
    pub fn new(cfg: IceConfig) -> Pair {
        let mut left = IceAgent::new(Role::Controlling, cfg.clone(), SimRng::derive(1, "left"));
        let mut right = IceAgent::new(Role::Controlled, cfg, SimRng::derive(1, "right"));
        left.add_local_candidate(host(L));
        right.add_local_candidate(host(R));
        let (lu, lp) = left.local_credentials();
        let (lu, lp) = (lu.to_string(), lp.to_string());
        let (ru, rp) = right.local_credentials();
        let (ru, rp) = (ru.to_string(), rp.to_string());
        left.set_remote_credentials(&ru, &rp);
        right.set_remote_credentials(&lu, &lp);
        left.add_remote_candidate(host(R));
        right.add_remote_candidate(host(L));
        Pair {
            left,
            right,
            now: SimTime::ZERO,
            latency: Duration::from_millis(20),
            flights: VecDeque::new(),
            drop_to_right_until: SimTime::ZERO,
            drop_to_left_until: SimTime::ZERO,
            sent_to_right: Vec::new(),
            sent_to_left: Vec::new(),
            events_left: Vec::new(),
            events_right: Vec::new(),
        }
    }

    fn collect(&mut self) {
        while let Some(t) = self.left.poll_transmit() {
            self.sent_to_right.push((self.now, t.payload.clone()));
            if self.now >= self.drop_to_right_until {
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
            if self.now >= self.drop_to_left_until {
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
