//! Two-agent fixture: a str0m `is` driver and the reference agent, back to back through
//! [`Loopback::against_reference`], host candidates only, 10 ms one way.

#![allow(dead_code)]

use std::net::SocketAddr;

use harness::sim::SimRng;
use harness::SimTime;
use impl_str0m::Str0mDriver;
use reference::ice::{host_candidate, Candidate, IceDriver, Loopback, Role, FOREIGN_ADDR, REFERENCE_ADDR};

/// The str0m party's host address.
pub const STR0M: &str = FOREIGN_ADDR;
/// The reference party's host address.
pub const REF: &str = REFERENCE_ADDR;

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A host candidate as the reference endpoint gathers it (RFC 8445 §5.1.2.1, local preference 65535).
pub fn host(a: &str) -> Candidate {
    host_candidate(addr(a))
}

fn make(role: Role, rng: SimRng) -> Box<dyn IceDriver> {
    Box::new(Str0mDriver::new(role, rng, SimTime::ZERO))
}

pub fn str0m(role: Role, seed: u64) -> Box<dyn IceDriver> {
    let mut d = make(role, SimRng::derive(seed, "str0m"));
    d.add_local_candidate(host(STR0M));
    d
}

/// str0m (driver 0 when `str0m_controls`, else driver 1) against the reference, run for `ms`.
pub fn run(str0m_controls: bool, seed: u64, ms: u64) -> Loopback {
    Loopback::against_reference(&make, "str0m", str0m_controls, seed, ms)
}
