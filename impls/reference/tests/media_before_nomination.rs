//! Knob `wait-for-nomination-before-media` (RFC 8445 §12.1; docs/field-failures.md §Conversations
//! 2.9.7 unnegotiated renomination). Data may flow on any valid pair before nomination; the
//! reference waits for the selected pair. A controlled side that does not wait (libwebrtc sends
//! once a pair is writable) has media going even when the controlling side's nomination never
//! registers, as when it marks it with an un-negotiated 0xC001.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Pair, L, R};
use harness::SimTime;
use reference::ice::{IceConfig, IceState, Nomination};

fn c001_caller(right: IceConfig) -> Pair {
    let left = IceConfig {
        nomination: Nomination::C001Always,
        ..IceConfig::default()
    };
    let mut p = Pair::with_configs(left, right);
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::ZERO + Duration::from_secs(5));
    p
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn rfc8445_8_1_1_media_waits_for_a_nomination_by_default() {
    let p = c001_caller(IceConfig::default());
    assert_eq!(p.left.state(), IceState::Completed, "left believes it nominated");
    assert_eq!(p.right.state(), IceState::Checking, "right never saw USE-CANDIDATE");
    assert_eq!(p.right.media_pair(), None);
}

#[test]
fn wait_for_nomination_before_media_false_sends_on_the_best_valid_pair() {
    let p = c001_caller(IceConfig {
        media_before_nomination: true,
        ..IceConfig::default()
    });
    assert_eq!(p.right.state(), IceState::Checking);
    assert_eq!(p.right.selected(), None);
    assert_eq!(p.right.media_pair(), Some((addr(R), addr(L))));
}
