//! Knob `relay-only-accepts-prflx` (docs/field-failures.md §Relay-only policy and peer-reflexive
//! candidates; RFC 8445 §7.3.1.3). A check from an address the agent has no candidate for teaches
//! it a peer-reflexive remote candidate, paired and checked at once (Chromium, also under a
//! relay-only policy). Firefox under a relay-only policy reportedly answers such a check but never
//! pairs the new candidate.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{host, Pair, L, R};
use harness::SimTime;
use reference::ice::{IceConfig, IceState};

/// Right knows no remote candidate: left's checks are its only way to learn left's address.
fn run(right: IceConfig) -> Pair {
    let mut p = Pair::bare(IceConfig::default(), right);
    p.left.add_local_candidate(host(L));
    p.right.add_local_candidate(host(R));
    p.left.add_remote_candidate(host(R));
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::ZERO + Duration::from_secs(5));
    p
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn rfc8445_7_3_1_3_a_peer_reflexive_source_is_paired_and_checked() {
    let p = run(IceConfig::default());
    assert_eq!(p.right.remote_candidates().len(), 1);
    assert!(
        !p.requests(false).is_empty(),
        "no triggered check towards the prflx source"
    );
    assert_eq!(p.right.selected(), Some((addr(R), addr(L))));
}

#[test]
fn relay_only_accepts_prflx_false_answers_but_never_pairs_the_source() {
    let p = run(IceConfig {
        pair_remote_prflx: false,
        ..IceConfig::default()
    });
    // Left's checks were answered, so left completed; right learned nothing and checked nothing.
    assert_eq!(p.left.state(), IceState::Completed);
    assert!(p.right.remote_candidates().is_empty());
    assert!(p.requests(false).is_empty());
    assert_eq!(p.right.selected(), None);
}
