//! Knob `nomination-delay-ms`: how long the controlling agent keeps checking after its first valid
//! pair before it nominates the best valid pair (RFC 8445 §8.1.1 leaves the stopping point to the
//! agent; the reference waits 1 s unless the best pair succeeds first). libwebrtc nominates the
//! connection it selects as soon as one is writable (p2p/base/basic_ice_controller.cc,
//! SEMI_AGGRESSIVE), i.e. a delay of 0.

mod common;

use std::net::SocketAddr;

use common::{host, host_with_pref, Pair, L, R, R2};
use harness::SimTime;
use reference::ice::IceConfig;

/// Right's preferred address R is reachable only from 300 ms on; R2 at once.
fn run(left: IceConfig) -> Pair {
    let mut p = Pair::bare(left, IceConfig::default());
    p.left.add_local_candidate(host(L));
    p.right.add_local_candidate(host_with_pref(R, 65535, "1"));
    p.right.add_local_candidate(host_with_pref(R2, 1000, "2"));
    p.left.add_remote_candidate(host_with_pref(R, 65535, "1"));
    p.left.add_remote_candidate(host_with_pref(R2, 1000, "2"));
    p.right.add_remote_candidate(host(L));
    p.blocked.push((R.parse().unwrap(), SimTime::from_millis(300)));
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(5_000));
    p
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn rfc8445_8_1_1_the_reference_waits_and_nominates_the_best_pair() {
    let p = run(IceConfig::default());
    assert_eq!(p.left.selected(), Some((addr(L), addr(R))));
}

#[test]
fn nomination_delay_ms_zero_nominates_the_first_valid_pair() {
    let p = run(IceConfig {
        nomination_delay: std::time::Duration::ZERO,
        ..IceConfig::default()
    });
    assert_eq!(p.left.selected(), Some((addr(L), addr(R2))));
    assert_eq!(p.right.selected(), Some((addr(R2), addr(L))));
}
