//! Two-agent fixture: an rtc-ice driver and the reference agent, back to back through
//! [`Loopback::against_reference`], host candidates only, 10 ms one way.

#![allow(dead_code)]

use std::net::SocketAddr;

use harness::sim::SimRng;
use harness::SimTime;
use impl_rtc_ice::RtcIceDriver;
use reference::ice::{host_candidate, Candidate, IceDriver, Loopback, Role, FOREIGN_ADDR, REFERENCE_ADDR};

/// The rtc-ice party's host address.
pub const RTC: &str = FOREIGN_ADDR;
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
    Box::new(RtcIceDriver::new(role, rng, SimTime::ZERO))
}

pub fn rtc_ice(role: Role, seed: u64) -> Box<dyn IceDriver> {
    let mut d = make(role, SimRng::derive(seed, "rtc-ice"));
    d.add_local_candidate(host(RTC));
    d
}

/// rtc-ice (driver 0 when `rtc_controls`, else driver 1) against the reference, run for `ms`.
pub fn run(rtc_controls: bool, seed: u64, ms: u64) -> Loopback {
    Loopback::against_reference(&make, "rtc-ice", rtc_controls, seed, ms)
}
