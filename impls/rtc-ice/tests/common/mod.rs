//! Two-agent fixture: an rtc-ice driver and the reference agent, back to back through
//! [`Loopback`], host candidates only, 10 ms one way.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use harness::sim::SimRng;
use harness::stun::{attr_type, Class, Message};
use harness::SimTime;
use impl_rtc_ice::RtcIceDriver;
use reference::ice::{
    priority, reference_driver, Candidate, CandidateType, IceConfig, IceDriver, Loopback, Role, Sent,
};

/// The rtc-ice party's host address.
pub const RTC: &str = "10.0.1.2:50000";
/// The reference party's host address.
pub const REF: &str = "10.0.2.2:50000";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A host candidate as the reference endpoint gathers it (RFC 8445 §5.1.2.1, local preference 65535).
pub fn host(a: &str) -> Candidate {
    Candidate {
        addr: addr(a),
        base: addr(a),
        typ: CandidateType::Host,
        priority: priority(CandidateType::Host, 65535, 1),
        foundation: "1".into(),
        component: 1,
    }
}

pub fn rtc_ice(role: Role, seed: u64) -> Box<dyn IceDriver> {
    let mut d = Box::new(RtcIceDriver::new(role, SimRng::derive(seed, "rtc-ice"), SimTime::ZERO));
    d.add_local_candidate(host(RTC));
    d
}

pub fn reference(role: Role, seed: u64) -> Box<dyn IceDriver> {
    let mut d = reference_driver(
        role,
        &IceConfig::default(),
        SimRng::derive(seed, "reference"),
        SimTime::ZERO,
    );
    d.add_local_candidate(host(REF));
    d
}

/// rtc-ice (driver 0 when `rtc_controls`, else driver 1) against the reference, run for `ms`.
pub fn run(rtc_controls: bool, seed: u64, ms: u64) -> Loopback {
    let (a, b) = if rtc_controls {
        (rtc_ice(Role::Controlling, seed), reference(Role::Controlled, seed))
    } else {
        (reference(Role::Controlling, seed), rtc_ice(Role::Controlled, seed))
    };
    let mut l = Loopback::new(a, b, Duration::from_millis(10), SimTime::ZERO);
    l.run_until(SimTime::from_millis(ms));
    l
}

/// The STUN message a datagram carries.
pub fn stun(s: &Sent) -> Message {
    Message::decode(&s.transmit.payload).expect("every datagram here is STUN")
}

pub fn is_request(s: &Sent) -> bool {
    stun(s).class == Class::Request
}

pub fn is_success(s: &Sent) -> bool {
    stun(s).class == Class::Success
}

pub fn has_use_candidate(s: &Sent) -> bool {
    stun(s).has(attr_type::USE_CANDIDATE)
}
