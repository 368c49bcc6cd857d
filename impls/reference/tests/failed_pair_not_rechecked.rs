//! Knob `retrigger-failed-pairs` (pjnath ice_session.c `handle_incoming_check`;
//! docs/field-failures.md §Asterisk 2021 Failed pairs and early checks). RFC 8445 §7.3.1.4 sets a
//! Failed pair Waiting and checks it again when the peer's check arrives on it; pjnath answers that
//! check but sends none of its own, so a pair whose checks timed out before the peer's NAT opened
//! stays Failed and the peer's nomination on it is lost.

mod common;

use std::time::Duration;

use common::Pair;
use harness::stun::attr_type;
use harness::SimTime;
use reference::ice::{IceConfig, IceEvent, IceState};

/// Right (controlled) starts at once with Asterisk's 7 × 1 s checks; everything is lost before
/// 10 s, so its only pair fails at 7 s. Left starts at 10 s.
fn early_start(retrigger_failed_pairs: bool) -> Pair {
    let right = IceConfig {
        check_interval: Some(Duration::from_millis(1_000)),
        retrigger_failed_pairs,
        ..IceConfig::default()
    };
    let mut p = Pair::with_configs(IceConfig::default(), right);
    p.drop_to_right_until = SimTime::from_millis(10_000);
    p.drop_to_left_until = SimTime::from_millis(10_000);
    p.right.start(SimTime::ZERO);
    p.run_until(SimTime::from_millis(10_000));
    p.left.start(p.now);
    p.run_until_settled(Duration::from_secs(60));
    p
}

fn right_checks_after(p: &Pair, t: SimTime) -> usize {
    p.requests(false).iter().filter(|(at, ..)| *at >= t).count()
}

#[test]
fn rfc8445_7_3_1_4_failed_pair_is_rechecked_and_the_nomination_lands() {
    let p = early_start(true);
    assert!(right_checks_after(&p, SimTime::from_millis(10_000)) >= 1);
    assert_eq!(p.right.state(), IceState::Completed);
    assert_eq!(p.left.state(), IceState::Completed);
}

#[test]
fn retrigger_failed_pairs_false_answers_but_never_checks_or_nominates() {
    let p = early_start(false);
    // 7 requests 1 s apart before the pair failed, none after left's checks began arriving.
    let early: Vec<u64> = p
        .requests(false)
        .iter()
        .map(|(at, ..)| at.as_millis())
        .filter(|&t| t < 10_000)
        .collect();
    assert_eq!(early, vec![0, 1_000, 2_000, 3_000, 4_000, 5_000, 6_000]);
    assert_eq!(right_checks_after(&p, SimTime::from_millis(7_000)), 0);
    // Left's checks were answered, so left nominated; right answered the nomination but, its pair
    // being Failed, never selected it.
    let nominated = p
        .requests(true)
        .iter()
        .any(|(_, _, _, m)| m.has(attr_type::USE_CANDIDATE));
    assert!(nominated, "left never nominated");
    assert_eq!(p.left.state(), IceState::Completed);
    assert_ne!(p.right.state(), IceState::Completed);
    assert!(!p
        .events_right
        .iter()
        .any(|(_, e)| matches!(e, IceEvent::Selected { .. })));
    assert_eq!(p.right.media_pair(), None);
}
