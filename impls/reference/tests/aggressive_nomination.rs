//! Knob `nomination: aggressive` (RFC 5245 §8.1.1.2; gone from RFC 8445, §4 and §8.1.1): the
//! controlling agent puts USE-CANDIDATE on every check, so the first pair to succeed is selected
//! on both sides. libnice's default mode (Dino, Gajim via Farstream).

mod common;

use std::time::Duration;

use common::Pair;
use harness::stun::attr_type;
use harness::SimTime;
use reference::ice::{IceConfig, IceState, Nomination};

fn run(left: IceConfig) -> Pair {
    let mut p = Pair::with_configs(left, IceConfig::default());
    p.left.start(SimTime::ZERO);
    p.right.start(SimTime::ZERO);
    p.run_until_settled(Duration::from_secs(10));
    p
}

#[test]
fn rfc8445_8_1_1_regular_nomination_marks_only_the_nominating_check() {
    let p = run(IceConfig::default());
    let reqs = p.requests(true);
    assert!(reqs.len() >= 2);
    assert!(
        !reqs[0].3.has(attr_type::USE_CANDIDATE),
        "the first check is not a nomination"
    );
    assert_eq!(reqs.iter().filter(|r| r.3.has(attr_type::USE_CANDIDATE)).count(), 1);
}

#[test]
fn nomination_aggressive_marks_every_check_and_the_first_success_is_selected() {
    let p = run(IceConfig {
        nomination: Nomination::Aggressive,
        ..IceConfig::default()
    });
    let reqs = p.requests(true);
    assert!(!reqs.is_empty());
    assert!(reqs.iter().all(|r| r.3.has(attr_type::USE_CANDIDATE)));
    assert_eq!(p.left.state(), IceState::Completed);
    assert_eq!(p.right.state(), IceState::Completed);
    // The very first check nominated the pair: no second, separate nominating check.
    assert_eq!(reqs.len(), 1);
    assert_eq!(p.left.selected().map(|s| s.1), p.right.selected().map(|s| s.0));
}
